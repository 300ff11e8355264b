#include "storage/io_throttle.h"

#include <algorithm>
#include <thread>

namespace storage {

void io_throttle::consume(uint64_t bytes, const std::atomic<bool>* cancel) {
  if (rate_ == 0) return;
  using namespace std::chrono;
  const auto now = steady_clock::now();
  const double rate = static_cast<double>(rate_);
  if (last_ == steady_clock::time_point{}) {
    last_ = now;
    credit_ = rate / 10;
  }
  credit_ = std::min(rate / 10, credit_ + duration<double>(now - last_).count() * rate);
  last_ = now;
  credit_ -= static_cast<double>(bytes);
  while (credit_ < 0) {
    if (cancel && cancel->load(std::memory_order_relaxed)) return;
    const auto wait = std::min(duration<double>(-credit_ / rate), duration<double>(0.05));
    std::this_thread::sleep_for(wait);
    const auto t = steady_clock::now();
    slept_ += duration_cast<nanoseconds>(t - last_);
    credit_ += duration<double>(t - last_).count() * rate;
    last_ = t;
  }
}

}  // namespace storage
