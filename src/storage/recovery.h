#pragma once
// Opening a partition directory: finish or roll back a cleaner's interrupted segment swap
// (cleaned_files.h), find its segments, trust what the recovery point vouches for (after
// checking its indexes against the log), and re-validate everything after it — length,
// magic, contiguous offsets (increasing ones where the cleaner rewrote segments) and
// CRC-32C of every batch — truncating the first torn or corrupt tail and dropping any
// segment after it.

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "storage/log_config.h"
#include "storage/ntp.h"
#include "storage/segment.h"

namespace storage {

struct recovery_report {
  ntp partition;
  size_t segments = 0;
  int64_t log_start = 0;
  int64_t log_end = 0;
  std::optional<int64_t> recovery_point;  // as found on disk
  std::optional<int64_t> validated_from;  // first offset re-validated, if any
  uint64_t bytes_validated = 0;
  uint64_t bytes_truncated = 0;
  std::optional<int64_t> truncated_at;  // offset where the log now ends, if it was cut
  std::string truncation_reason;
  size_t segments_dropped = 0;  // whole segments removed after a truncation
  size_t indexes_rebuilt = 0;
  size_t journal_batches = 0;        // batches re-appended from the journal
  size_t swaps_completed = 0;        // cleaned segments a crash left half swapped in, finished
  size_t cleanings_rolled_back = 0;  // unfinished cleaned files removed
  int64_t took_ms = 0;

  bool clean() const { return bytes_truncated == 0 && segments_dropped == 0; }
  std::string summary() const;
};

// Opens (or, for an empty directory, starts) the segments of one partition. Sealed
// segments keep their files in `files` (opened as recovery reads them, closed as the
// cache evicts them), so a partition of any number of segments costs one descriptor: the
// last segment's, held open. Without `files`, every segment holds its file.
base::result<std::deque<std::unique_ptr<segment>>> recover_segments(
    const std::filesystem::path& dir, const log_config& cfg, int64_t now_ms,
    recovery_report& report, segment_file_cache* files = nullptr);

}  // namespace storage
