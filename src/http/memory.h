#pragma once
// One shard's memory account for the HTTP front door: request bodies being handled
// (decompressed included) and stream events read, encoded and not yet written to their
// clients. A request that would pass the budget is answered 503; a stream waits until
// others give memory back (the first taker on an empty account always gets its share,
// so a stream larger than the budget still makes progress, one at a time).

#include <chrono>
#include <cstdint>
#include <memory>

#include "net/asio.h"

namespace http {

class shard_memory {
 public:
  // The calling shard's account.
  static shard_memory& local();

  void set_budget(uint64_t bytes) { budget_ = bytes; }
  uint64_t budget() const { return budget_; }
  uint64_t used() const { return used_; }

  // Takes `n` bytes if they fit (or the account is empty).
  bool try_take(uint64_t n);
  // Takes `n` bytes whatever the budget says (bytes already held, counted so others wait).
  void take(uint64_t n) { used_ += n; }
  void give(uint64_t n);
  // Waits until some memory is given back, or `max`.
  net::task<void> wait(std::chrono::milliseconds max);

 private:
  uint64_t budget_ = 64ull << 20;
  uint64_t used_ = 0;
  std::unique_ptr<net::asio::steady_timer> given_;  // cancelled whenever memory comes back
};

// Bytes held until destroyed (an event on its way to a client).
class memory_hold {
 public:
  memory_hold() = default;
  explicit memory_hold(uint64_t n) : n_(n) {}
  memory_hold(memory_hold&& o) noexcept : n_(o.n_) { o.n_ = 0; }
  memory_hold& operator=(memory_hold&& o) noexcept {
    release();
    n_ = o.n_;
    o.n_ = 0;
    return *this;
  }
  memory_hold(const memory_hold&) = delete;
  memory_hold& operator=(const memory_hold&) = delete;
  ~memory_hold() { release(); }
  uint64_t bytes() const { return n_; }
  void release() {
    if (n_ > 0) shard_memory::local().give(n_);
    n_ = 0;
  }

 private:
  uint64_t n_ = 0;
};

}  // namespace http
