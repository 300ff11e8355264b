#include "storage/cleaner_thread.h"

#include "base/executor.h"

namespace storage {

cleaner_thread::cleaner_thread(cleaner_options opts)
    : opts_(opts), throttle_(opts.io_bytes_per_second) {
  thread_ = std::thread([this] {
    base::set_thread_name("log-cleaner");
    loop();
  });
}

cleaner_thread::~cleaner_thread() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  thread_.join();
}

void cleaner_thread::submit(job j) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    jobs_.push_back(std::move(j));
  }
  cv_.notify_one();
}

void cleaner_thread::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    auto j = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    if (!map_) map_ = std::make_unique<offset_map>(opts_.buffer_bytes);
    j(*map_, throttle_);
    j = nullptr;  // release captures outside the lock
    lock.lock();
  }
}

}  // namespace storage
