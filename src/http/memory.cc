#include "http/memory.h"

namespace http {

shard_memory& shard_memory::local() {
  static thread_local shard_memory m;
  return m;
}

bool shard_memory::try_take(uint64_t n) {
  if (used_ > 0 && used_ + n > budget_) return false;
  used_ += n;
  return true;
}

void shard_memory::give(uint64_t n) {
  used_ -= std::min(used_, n);
  if (given_) given_->cancel();
}

net::task<void> shard_memory::wait(std::chrono::milliseconds max) {
  if (!given_) {
    given_ = std::make_unique<net::asio::steady_timer>(co_await net::asio::this_coro::executor);
    given_->expires_at(std::chrono::steady_clock::time_point::max());
  }
  // A timer per waiter for the bound, the shared one for the news.
  net::asio::steady_timer bound(co_await net::asio::this_coro::executor);
  bound.expires_after(max);
  bound.async_wait([t = given_.get()](boost::system::error_code ec) {
    if (!ec) t->cancel();
  });
  co_await given_->async_wait(net::asio::as_tuple(net::asio::use_awaitable));
  bound.cancel();
}

}  // namespace http
