#include "storage/disk_space.h"

#include <sys/statvfs.h>

#include <chrono>

#include "base/logging.h"

namespace storage {
namespace {
constexpr int64_t kRefreshNanos = 50'000'000;     // 50 ms
constexpr int64_t kFullForNanos = 5'000'000'000;  // an ENOSPC counts as full this long
constexpr int64_t kLogEveryNanos = 10'000'000'000;

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

void disk_space::note_refusal(bool out_of_space) {
  refusals_.fetch_add(1);
  const int64_t now = now_ns();
  if (out_of_space) out_of_space_at_ns_.store(now);
  int64_t last = logged_at_ns_.load();
  if (last != 0 && now - last < kLogEveryNanos) return;
  if (!logged_at_ns_.compare_exchange_strong(last, now)) return;  // another thread logs
  const uint64_t free = free_bytes();
  base::logger("storage")->warn(
      "disk full: refusing writes to {} ({} bytes free{}; {} refused so far). Free space on "
      "that file system{}; writes resume by themselves once there is room",
      dir_.string(), free == UINT64_MAX ? std::string("?") : std::to_string(free),
      out_of_space ? ", the file system reported no space left"
                   : ", below storage.min_free_bytes = " + std::to_string(min_free_.load()),
      refusals_.load(),
      out_of_space ? "" : " or lower storage.min_free_bytes (it keeps room for recovery)");
}

bool disk_space::full() {
  const int64_t enospc = out_of_space_at_ns_.load();
  if (enospc != 0 && now_ns() - enospc < kFullForNanos) return true;
  return below_minimum();
}

}  // namespace storage
