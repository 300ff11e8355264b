#pragma once
// segment_file_cache: the open .log files of sealed segments, least recently used first
// out, bounded (storage.max_open_segment_files, split over the shards). A sealed segment
// looks its file up here when a read needs it and, on a miss, opens it and puts it here,
// which may close the least recently used one. Eviction drops only the cache's reference:
// a response still holding the file (an iobuf file range on its way to a socket) keeps
// its descriptor open until it is sent. Active segments hold their file themselves,
// outside the cache.
//
// A segment just sealed by a roll has data not yet fsynced: its file must stay open until
// the flusher has synced it (a write error is reported only to an open file). It is
// pinned here meanwhile: never evicted, and counted against the capacity. When pinned files
// fill the cache, rolls wait (partition_log refuses the append as retriable) until the
// flusher catches up, so open sealed files never pass the capacity (but for files a
// response still holds).
//
// One instance per shard (owned by its log_manager), used only on that shard: no lock.
// Keys are segment ids (segment::id()), never reused, so a stale entry can only age out.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>

#include "base/file.h"

namespace storage {

class segment_file_cache {
 public:
  explicit segment_file_cache(size_t capacity);
  ~segment_file_cache();
  segment_file_cache(const segment_file_cache&) = delete;
  segment_file_cache& operator=(const segment_file_cache&) = delete;

  // The cached file of segment `key` (now the most recently used), or nullptr.
  std::shared_ptr<base::file> find(uint64_t key);
  // Caches `f` for `key` as the most recently used, closing the least recently used
  // files beyond the capacity.
  void insert(uint64_t key, std::shared_ptr<base::file> f);
  // Removes and returns the file of `key` (nullptr if not cached).
  std::shared_ptr<base::file> take(uint64_t key);
  // Forgets `key` (its segment is deleted or replaced).
  void erase(uint64_t key);
  // Keeps a cached file from being evicted until unpin() (no-op for a key not cached).
  void pin(uint64_t key);
  void unpin(uint64_t key);
  // Whether pinned files take every place: no file can be added without passing it.
  bool full_of_pinned() const { return pinned_ >= capacity_; }

  size_t size() const { return index_.size(); }
  size_t pinned() const { return pinned_; }
  size_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_; }

  // Process-wide figures over every shard's cache (for /metrics and tests).
  static size_t open_total();
  static uint64_t evictions_total();

 private:
  struct entry {
    uint64_t key;
    std::shared_ptr<base::file> file;
    bool pinned = false;
  };
  void drop(std::list<entry>::iterator it);
  void evict_beyond_capacity();

  size_t capacity_;
  std::list<entry> lru_;  // most recently used first
  std::unordered_map<uint64_t, std::list<entry>::iterator> index_;
  uint64_t evictions_ = 0;
  size_t pinned_ = 0;
};

// Counts the .log files segments hold open outside a cache (active segments), for
// /metrics; any thread.
void count_held_segment_files(int delta);

}  // namespace storage
