#pragma once
// io_throttle: keeps a thread's reads and writes under a rate in bytes per second by
// sleeping once it is ahead of the rate (a token bucket holding up to a tenth of a
// second of credit). For the cleaner's thread; not thread-safe.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace storage {

class io_throttle {
 public:
  explicit io_throttle(uint64_t bytes_per_second) : rate_(bytes_per_second) {}

  // Accounts `bytes` and sleeps as long as needed to stay within the rate; wakes early
  // (within ~50 ms) once `cancel` is set.
  void consume(uint64_t bytes, const std::atomic<bool>* cancel = nullptr);
  void set_rate(uint64_t bytes_per_second) { rate_ = bytes_per_second; }
  uint64_t rate() const { return rate_; }
  // Total time spent sleeping.
  std::chrono::nanoseconds slept() const { return slept_; }

 private:
  uint64_t rate_;  // 0: unlimited
  double credit_ = 0;
  std::chrono::steady_clock::time_point last_{};
  std::chrono::nanoseconds slept_{0};
};

}  // namespace storage
