#pragma once
// The sparse indexes of one segment, kept in memory while the segment is open and
// written to disk (.index, .timeindex) when it is sealed or the log closes cleanly.
// They are derivable from the .log file, so recovery rebuilds them whenever they are
// missing, stale or fail validation.
//
//   offset index: every ~index_interval_bytes, (offset - segment base, file position)
//                 of a batch start; 8 bytes per entry on disk, big-endian.
//   time index:   (largest timestamp so far, offset - segment base of the batch that
//                 reached it), added with offset entries when the max grew; 12 bytes.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace storage {

struct offset_entry {
  uint32_t relative_offset;
  uint32_t position;
};

struct time_entry {
  int64_t timestamp;
  uint32_t relative_offset;
};

class segment_index {
 public:
  // Called for each batch appended (or found by recovery) in file order.
  void on_batch(uint32_t relative_offset, uint32_t position, uint32_t size, int64_t max_timestamp,
                uint32_t interval_bytes);
  // Adds a final time entry for the segment's max timestamp if the last one is older.
  void seal();
  void clear();
  // Removes the last offset entry so the batches from its position on can be fed
  // again through on_batch (recovery resumes a loaded index this way).
  std::optional<offset_entry> pop_last();

  // Position of the last indexed batch whose relative offset is <= `relative_offset`.
  offset_entry floor_by_offset(uint32_t relative_offset) const;
  // Last indexed batch whose position is <= `position`.
  offset_entry floor_by_position(uint32_t position) const;
  // Relative offset to start scanning from when looking for the first timestamp >= ts.
  uint32_t scan_start_for_timestamp(int64_t ts) const;

  int64_t max_timestamp() const { return max_timestamp_; }
  const std::vector<offset_entry>& offsets() const { return offsets_; }
  const std::vector<time_entry>& times() const { return times_; }

  std::vector<uint8_t> encode_offsets() const;
  std::vector<uint8_t> encode_times() const;
  // Loads saved entries, rejecting anything that is not strictly increasing or points
  // past `log_size`. On success the caller still checks the tail against the log.
  bool load(std::span<const uint8_t> offsets, std::span<const uint8_t> times, uint64_t log_size);

 private:
  std::vector<offset_entry> offsets_;
  std::vector<time_entry> times_;
  uint64_t bytes_since_entry_ = 0;
  bool pending_entry_ = true;  // the next batch gets an entry (the first batch always does)
  int64_t max_timestamp_ = -1;
  uint32_t max_timestamp_rel_ = 0;
};

}  // namespace storage
