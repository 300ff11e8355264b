#pragma once
// segment_cleaner: one cleaning round of one partition, the blocking part of compaction.
// Runs on the cleaner's thread, never on a shard; it reads only the sealed segments named
// by its plan (opening each file while it reads it, so a round holds two descriptors
// whatever the number of segments) and writes only new files.
//
// A round:
//  1. maps key -> latest offset over the dirty part [dirty_from, end of the plan's
//     segments) into the offset_map, stopping where the map is full (map_end);
//  2. rewrites every segment below map_end, grouped so that each group's sources fit in
//     segment.bytes and the offset index, into one segment per group: a record is kept
//     when it has a key, no later offset of its key is in the map, and it is not a
//     tombstone below the tombstone horizon. Batches keep their base offset and
//     lastOffsetDelta; one losing some records is rebuilt from the records kept (same
//     codec, CRC recomputed); one losing all of them is dropped, unless it is the last
//     batch of its group (which must still end where the group ends) or the last batch
//     of an idempotent producer: those stay as an empty batch (their header alone);
//  3. swaps each group in (cleaned_files.h) and hands the new segment to `swapped`;
//  4. writes the new cleaner checkpoint (cleaned_to = map_end).

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/file.h"
#include "base/result.h"
#include "storage/cleaner_checkpoint.h"
#include "storage/io_throttle.h"
#include "storage/offset_map.h"
#include "storage/segment.h"

namespace storage {

struct cleaning_plan {
  std::filesystem::path dir;
  std::string name;  // the partition, for log lines
  struct source {
    int64_t base_offset;
    int64_t next_offset;
    uint64_t size;
    size_t index_entries;
    std::filesystem::path path;  // the .log file; retention leaves it alone while cleaning
  };
  // Sealed segments from the log start, contiguous; the last ends where the part that may
  // be cleaned ends (the active segment, or records younger than min.compaction.lag.ms).
  std::vector<source> segments;
  int64_t dirty_from = 0;         // where the last round stopped
  uint64_t dirty_position = 0;    // a batch boundary at or before it in its segment
  int64_t tombstone_horizon = 0;  // tombstones below it are removed (<= dirty_from)
  // Idempotent producer -> base offset of its last batch, which is kept.
  std::unordered_map<int64_t, int64_t> producer_last_batch;
  uint64_t segment_bytes = 1 << 30;
  uint32_t segment_index_bytes = 10 << 20;
  uint32_t index_interval_bytes = 4096;
  int gzip_level = -1;
  int lz4_level = 9;
  int zstd_level = 3;
  cleaner_checkpoint checkpoint;  // as before the round
  int64_t now_ms = 0;
};

struct cleaning_stats {
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t records_removed = 0;
  uint64_t tombstones_removed = 0;
  size_t segments_replaced = 0;
  size_t segments_written = 0;
  size_t map_entries = 0;
  bool map_full = false;
  bool cancelled = false;
};

struct cleaning_result {
  cleaning_stats stats;
  // The checkpoint after the round (as it was, but for rewritten_below, when cancelled).
  cleaner_checkpoint checkpoint;
};

class segment_cleaner {
 public:
  // A segment now in place on disk, replacing the plan's segments up to `end`.
  using swapped_fn = std::function<void(std::unique_ptr<segment> cleaned, int64_t end)>;

  segment_cleaner(offset_map& map, io_throttle& throttle, const std::atomic<bool>& cancel)
      : map_(map), throttle_(throttle), cancel_(cancel) {}

  // Runs a round. On an error (I/O, a batch failing its CRC) the segments swapped in so
  // far stay, the rest of the log is untouched, and the checkpoint is left as it was.
  base::result<cleaning_result> clean(const cleaning_plan& plan, const swapped_fn& swapped);

 private:
  struct group {
    size_t first;  // index into plan.segments
    size_t last;   // inclusive
  };
  base::status build_map(const cleaning_plan& plan, int64_t& map_end, cleaning_stats& stats);
  // Writes the group's *.cleaned files; `changed` tells whether anything differs.
  base::status write_group(const cleaning_plan& plan, const group& g, int64_t map_end,
                           const cleaner_checkpoint& next, std::vector<int64_t>& tombstones,
                           segment_index& index, uint64_t& size, int64_t& end, bool& changed,
                           cleaning_stats& stats);
  bool cancelled() const { return cancel_.load(std::memory_order_relaxed); }

  offset_map& map_;
  io_throttle& throttle_;
  const std::atomic<bool>& cancel_;
  std::vector<uint8_t> scratch_;
  std::vector<uint8_t> kept_;
  std::vector<uint8_t> packed_;
};

}  // namespace storage
