#include "storage/flusher.h"

#include <fmt/format.h>

#include "base/executor.h"

namespace storage {

flusher::flusher(size_t threads) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this, i] {
      base::set_thread_name(fmt::format("flusher-{}", i).c_str());
      loop();
    });
}

flusher::~flusher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    delayed_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void flusher::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    ready_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void flusher::submit_after(std::chrono::milliseconds delay, std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    delayed_.emplace(std::chrono::steady_clock::now() + delay, std::move(job));
  }
  cv_.notify_one();
}

void flusher::record_sync(std::chrono::nanoseconds took) {
  std::lock_guard lock(mutex_);
  ++stats_.syncs;
  stats_.sync_nanos += static_cast<uint64_t>(took.count());
}

flusher::stats flusher::get_stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void flusher::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      ready_.push_back(std::move(delayed_.begin()->second));
      delayed_.erase(delayed_.begin());
    }
    if (!ready_.empty()) {
      auto job = std::move(ready_.front());
      ready_.pop_front();
      lock.unlock();
      job();
      job = nullptr;  // release captures outside the lock
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, delayed_.begin()->first);
    }
  }
}

}  // namespace storage
