#include "net/await.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

net::task<void> finish_later(bool& done) {
  net::asio::steady_timer t(co_await net::asio::this_coro::executor, std::chrono::milliseconds(20));
  co_await t.async_wait(net::asio::use_awaitable);
  done = true;
}

net::task<void> fail_now() {
  throw std::runtime_error("partition failed");
  co_return;
}

// Runs `body` to completion on a fresh io_context; returns what it threw (if anything).
std::exception_ptr run(net::task<void> body) {
  net::asio::io_context io;
  std::exception_ptr out;
  net::asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) { out = e; });
  io.run();
  return out;
}

net::task<void> both(bool& done) {
  std::vector<net::task<void>> tasks;
  tasks.push_back(fail_now());
  tasks.push_back(finish_later(done));
  co_await net::when_all(std::move(tasks));
}

TEST(WhenAll, WaitsForEveryTaskThenRethrowsTheFirstFailure) {
  bool done = false;
  auto e = run(both(done));
  EXPECT_TRUE(done) << "when_all returned before every task finished";
  ASSERT_TRUE(e) << "a failed task was reported as success";
  try {
    std::rethrow_exception(e);
  } catch (const std::runtime_error& err) {
    EXPECT_STREQ(err.what(), "partition failed");
  }
}

net::task<void> only_successes(bool& a, bool& b) {
  std::vector<net::task<void>> tasks;
  tasks.push_back(finish_later(a));
  tasks.push_back(finish_later(b));
  co_await net::when_all(std::move(tasks));
}

TEST(WhenAll, SucceedsWhenEveryTaskDoes) {
  bool a = false, b = false;
  EXPECT_FALSE(run(only_successes(a, b)));
  EXPECT_TRUE(a && b);
}

}  // namespace
