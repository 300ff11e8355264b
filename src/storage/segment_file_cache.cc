#include "storage/segment_file_cache.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <vector>

#include "base/metrics.h"

namespace storage {
namespace {

std::atomic<int64_t> g_cached{0};
std::atomic<int64_t> g_held{0};

base::metrics::counter& evictions_counter() {
  static auto& c = base::metrics::registry::global().get_counter(
      "riptide_segment_file_evictions_total",
      "Sealed segment files closed to keep storage.max_open_segment_files");
  return c;
}

void register_gauge() {
  static const bool registered = [] {
    base::metrics::registry::global().add_gauge(
        "riptide_open_segment_files",
        "Segment .log files open: active segments hold theirs, sealed ones are in the bounded "
        "cache (storage.max_open_segment_files)",
        [](std::vector<std::pair<base::metrics::labels, double>>& out) {
          out.push_back({{{"kind", "active"}}, static_cast<double>(g_held.load())});
          out.push_back({{{"kind", "sealed"}}, static_cast<double>(g_cached.load())});
        });
    return true;
  }();
  (void)registered;
}

}  // namespace

void count_held_segment_files(int delta) {
  g_held.fetch_add(delta, std::memory_order_relaxed);
}

segment_file_cache::segment_file_cache(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {
  register_gauge();
}

segment_file_cache::~segment_file_cache() {
  g_cached.fetch_sub(static_cast<int64_t>(index_.size()), std::memory_order_relaxed);
}

std::shared_ptr<base::file> segment_file_cache::find(uint64_t key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->file;
}

void segment_file_cache::insert(uint64_t key, std::shared_ptr<base::file> f) {
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->file = std::move(f);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front({key, std::move(f)});
  index_[key] = lru_.begin();
  g_cached.fetch_add(1, std::memory_order_relaxed);
  evict_beyond_capacity();
}

void segment_file_cache::evict_beyond_capacity() {
  // From the least recently used, skipping pinned files (at most `capacity_` of them).
  auto it = lru_.end();  // the victims are before it
  while (index_.size() > capacity_ && it != lru_.begin()) {
    auto victim = std::prev(it);
    if (victim->pinned) {
      it = victim;
      continue;
    }
    drop(victim);
    ++evictions_;
    evictions_counter().add();
  }
}

void segment_file_cache::pin(uint64_t key) {
  if (auto it = index_.find(key); it != index_.end() && !it->second->pinned) {
    it->second->pinned = true;
    ++pinned_;
  }
}

void segment_file_cache::unpin(uint64_t key) {
  if (auto it = index_.find(key); it != index_.end() && it->second->pinned) {
    it->second->pinned = false;
    --pinned_;
    evict_beyond_capacity();
  }
}

std::shared_ptr<base::file> segment_file_cache::take(uint64_t key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  auto f = std::move(it->second->file);
  drop(it->second);
  return f;
}

void segment_file_cache::erase(uint64_t key) {
  if (auto it = index_.find(key); it != index_.end()) drop(it->second);
}

void segment_file_cache::drop(std::list<entry>::iterator it) {
  if (it->pinned) --pinned_;
  index_.erase(it->key);
  lru_.erase(it);
  g_cached.fetch_sub(1, std::memory_order_relaxed);
}

size_t segment_file_cache::open_total() {
  return static_cast<size_t>(std::max<int64_t>(0, g_cached.load()));
}

uint64_t segment_file_cache::evictions_total() {
  return evictions_counter().value();
}

}  // namespace storage
