#pragma once
// Free-space guard for a data directory: appends are refused with errc::disk_full
// while free space is below `min_free_bytes`, and accepted again once it returns.
// Thread-safe; statvfs runs at most every refresh interval.

#include <atomic>
#include <cstdint>
#include <filesystem>

namespace storage {

class disk_space {
 public:
  disk_space(std::filesystem::path dir, uint64_t min_free_bytes)
      : dir_(std::move(dir)), min_free_(min_free_bytes) {}

  bool below_minimum();
  uint64_t free_bytes();  // forces a fresh statvfs
  void set_min_free_bytes(uint64_t v) { min_free_.store(v); }
  uint64_t min_free_bytes() const { return min_free_.load(); }

  // An append refused for lack of space: counted, logged (rate-limited) naming the free
  // space, the key and the fix. `out_of_space`: the file system said ENOSPC/EDQUOT
  // rather than the min_free_bytes guard refusing.
  void note_refusal(bool out_of_space);
  // Whether writes are being refused for lack of space: below the minimum now, or an
  // ENOSPC within the last few seconds.
  bool full();
  uint64_t refusals() const { return refusals_.load(); }

 private:
  std::filesystem::path dir_;
  std::atomic<uint64_t> min_free_;
  std::atomic<uint64_t> cached_free_{UINT64_MAX};
  std::atomic<int64_t> checked_at_ns_{0};  // 0: never checked
  std::atomic<uint64_t> refusals_{0};
  std::atomic<int64_t> out_of_space_at_ns_{0};
  std::atomic<int64_t> logged_at_ns_{0};
};

}  // namespace storage
