#pragma once
// cleaner_thread: the one thread that runs compaction rounds for every shard, one round
// at a time, so that the cleaner's memory (one offset map) and disk bandwidth (one I/O
// throttle) are bounded for the whole broker whatever the number of shards. Shards hand it
// jobs (log_cleaner); a job posts its results back to its shard itself.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "storage/io_throttle.h"
#include "storage/offset_map.h"

namespace storage {

struct cleaner_options {
  // Memory of the offset map (24 bytes a key); a dirty part with more keys is cleaned
  // over several rounds.
  uint64_t buffer_bytes = 32ull << 20;
  // Reads plus writes of the cleaner, in bytes per second (0: unlimited).
  uint64_t io_bytes_per_second = 0;
};

class cleaner_thread {
 public:
  explicit cleaner_thread(cleaner_options opts);
  // Drops jobs not yet started, lets the running one finish (cancel it first), joins.
  ~cleaner_thread();
  cleaner_thread(const cleaner_thread&) = delete;
  cleaner_thread& operator=(const cleaner_thread&) = delete;

  using job = std::function<void(offset_map&, io_throttle&)>;
  void submit(job j);
  const cleaner_options& options() const { return opts_; }

 private:
  void loop();

  cleaner_options opts_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::unique_ptr<offset_map> map_;  // made by the first job
  io_throttle throttle_;
  std::thread thread_;
};

}  // namespace storage
