#include "storage/disk_space.h"

#include <sys/statvfs.h>

#include <chrono>

namespace storage {
namespace {
constexpr int64_t kRefreshNanos = 50'000'000;  // 50 ms

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

uint64_t disk_space::free_bytes() {
  struct statvfs st {};
  uint64_t free = UINT64_MAX;  // unknown: do not refuse writes on a failed statvfs
  if (::statvfs(dir_.c_str(), &st) == 0) free = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  cached_free_.store(free);
  checked_at_ns_.store(now_ns());
  return free;
}

bool disk_space::below_minimum() {
  const uint64_t min = min_free_.load();
  if (min == 0) return false;
  uint64_t free = cached_free_.load();
  const int64_t checked = checked_at_ns_.load();
  if (checked == 0 || now_ns() - checked > kRefreshNanos) free = free_bytes();
  return free < min;
}

}  // namespace storage
