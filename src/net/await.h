#pragma once
// Bridges callback-style completions (storage's durability waits, closes) into
// coroutines: the callback may run on any thread; the coroutine resumes on its own
// executor.

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/this_coro.hpp>

#include "net/asio.h"

namespace net {

// `start` is called with a completion callback taking a T; the returned task yields it.
template <typename T, typename Start>
task<T> await_callback(Start start) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [start = std::move(start)](auto handler) mutable {
        auto ex = asio::get_associated_executor(handler);
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        start([ex, h](T value) {
          asio::post(ex,
                     [h, value = std::move(value)]() mutable { std::move (*h)(std::move(value)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace net

namespace net {

// Runs every task concurrently on the caller's executor and waits for all of them; then
// rethrows the first exception any of them ended with.
inline task<void> when_all(std::vector<task<void>> tasks) {
  if (tasks.empty()) co_return;
  auto ex = co_await asio::this_coro::executor;
  struct state {
    size_t left;
    std::exception_ptr first_error;
  };
  auto st = std::make_shared<state>(state{tasks.size(), nullptr});
  auto all_done = std::make_shared<asio::steady_timer>(ex);
  all_done->expires_at(std::chrono::steady_clock::time_point::max());
  for (auto& t : tasks) {
    asio::co_spawn(ex, std::move(t), [st, all_done](std::exception_ptr e) {
      if (e && !st->first_error) st->first_error = e;
      if (--st->left == 0) all_done->cancel();
    });
  }
  if (st->left > 0) co_await all_done->async_wait(asio::as_tuple(asio::use_awaitable));
  if (st->first_error) std::rethrow_exception(st->first_error);
}

}  // namespace net
