#pragma once
// cleaner_checkpoint: what the cleaner of one partition has done, kept in the partition's
// `cleaner-checkpoint` file (replaced atomically) and in its partition_log.
//
//  - cleaned_to: every offset below it has been through a cleaning round; the dirty part
//    the next round maps starts there.
//  - rewritten_below: the cleaner may have rewritten segments below this offset, so their
//    batches may skip offsets. Raised before a cleaned segment is swapped in; recovery
//    accepts such gaps only below it.
//  - ranges: when each part of the clean log was first cleaned, for tombstones: a
//    tombstone below `end` of a range cleaned at `cleaned_ms` (and of no earlier range)
//    may be removed once delete.retention.ms has passed since then. `tombstones` counts
//    those kept there by the last round, so that their expiry can start a round.
//    Neighbouring ranges are merged (keeping the later time) to bound the list.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"

namespace storage {

inline constexpr const char* cleaner_checkpoint_file = "cleaner-checkpoint";

struct cleaned_range {
  int64_t end = 0;
  int64_t cleaned_ms = 0;
  int64_t tombstones = 0;
};

struct cleaner_checkpoint {
  int64_t cleaned_to = 0;
  int64_t rewritten_below = 0;
  std::vector<cleaned_range> ranges;  // by `end`, increasing

  static constexpr size_t max_ranges = 64;

  // The offset below which tombstones may be removed at `now_ms`.
  int64_t tombstone_horizon(int64_t now_ms, int64_t delete_retention_ms) const;
  // Whether tombstones kept by the last round have reached their horizon.
  bool tombstones_due(int64_t now_ms, int64_t delete_retention_ms) const;
  // Records a round at `now_ms` that cleaned everything below `new_cleaned_to` (the
  // cleaner then sets each range's `tombstones` to what the round kept there).
  void add_round(int64_t new_cleaned_to, int64_t now_ms);
  // Which range an offset below cleaned_to belongs to (ranges.size() if none).
  size_t range_of(int64_t offset) const;

  std::vector<uint8_t> serialize() const;
  static std::optional<cleaner_checkpoint> parse(std::span<const uint8_t> bytes);
};

// The partition's checkpoint: nullopt when there is none; errc::invalid_batch when the
// file is damaged.
base::result<std::optional<cleaner_checkpoint>> read_cleaner_checkpoint(
    const std::filesystem::path& dir);
base::status write_cleaner_checkpoint(const std::filesystem::path& dir,
                                      const cleaner_checkpoint& c);

}  // namespace storage
