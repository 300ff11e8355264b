#pragma once
// net::task: the coroutine type of every asynchronous call in the broker. The only Asio
// type the broker core's interface shows (its headers include this, never net/asio.h);
// sockets, timers and io_contexts stay behind net/ and the front doors.

#include <boost/asio/awaitable.hpp>

namespace net {
template <typename T = void>
using task = boost::asio::awaitable<T>;
}  // namespace net
