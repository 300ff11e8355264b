#pragma once
// flusher: the threads that run blocking file work off the shards — fdatasync for group
// commit, index and checkpoint writes, unlinking deleted segments. Jobs are plain
// functions; a job that must report back posts to its log's shard executor itself.
// Each log keeps at most one job in flight, so jobs of one log never overlap while
// different logs' fsyncs proceed in parallel on different threads.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace storage {

class flusher {
 public:
  explicit flusher(size_t threads = 2);
  ~flusher();  // runs the jobs already due, drops delayed ones not yet due, joins
  flusher(const flusher&) = delete;
  flusher& operator=(const flusher&) = delete;

  void submit(std::function<void()> job);
  void submit_after(std::chrono::milliseconds delay, std::function<void()> job);

  // fsync accounting, recorded by jobs.
  void record_sync(std::chrono::nanoseconds took);
  struct stats {
    uint64_t syncs = 0;
    uint64_t sync_nanos = 0;
  };
  stats get_stats() const;

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> ready_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> delayed_;
  bool stopping_ = false;
  stats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace storage
