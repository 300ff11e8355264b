#pragma once
// The Asio subset Riptide uses. Included only by net/, kafka/ servers and app/: its
// headers are slow to compile, so they are compiled once (asio_impl.cc, with
// BOOST_ASIO_SEPARATE_COMPILATION) and kept out of base/, storage/ and the codecs.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "net/task.h"

namespace net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
}  // namespace net
