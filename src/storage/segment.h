#pragma once
// One segment of a partition log: a .log file of RecordBatch v2 batches starting at
// `base_offset`, plus its sparse indexes. Owned by the partition's shard; only the
// file handle is shared (with readers' file ranges and the flusher thread).

#include <sys/uio.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/result.h"
#include "storage/record_batch.h"
#include "storage/segment_index.h"

namespace storage {

// Index files of a sealed segment, captured on the shard and written by the flusher.
struct index_files {
  std::filesystem::path offsets_path;
  std::vector<uint8_t> offsets;
  std::filesystem::path times_path;
  std::vector<uint8_t> times;

  base::status write() const;  // blocking: atomically replaces both files
};

struct batch_location {
  uint64_t position;
  batch_header header;
};

// A record found by timestamp: its offset and its own timestamp.
struct timestamp_offset {
  int64_t offset;
  int64_t timestamp;
};

struct boundary {
  uint64_t position;
  int64_t offset;  // base offset of the batch starting at `position`
};

class segment {
 public:
  // "00000000000000001234" for base offset 1234.
  static std::string file_stem(int64_t base_offset);
  static base::result<std::unique_ptr<segment>> create(const std::filesystem::path& dir,
                                                       int64_t base_offset, int64_t now_ms);
  static base::result<std::unique_ptr<segment>> open(const std::filesystem::path& dir,
                                                     int64_t base_offset, int64_t now_ms);
  // A segment the cleaner rewrote (its file already in place): the index built while
  // writing it, its size and the offset after its last batch. Blocking; any thread.
  static base::result<std::unique_ptr<segment>> open_cleaned(const std::filesystem::path& dir,
                                                             int64_t base_offset,
                                                             segment_index index, uint64_t size,
                                                             int64_t next_offset, int64_t now_ms);

  int64_t base_offset() const { return base_offset_; }
  int64_t next_offset() const { return next_offset_; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t max_timestamp() const { return index_.max_timestamp(); }
  int64_t created_ms() const { return created_ms_; }
  const std::shared_ptr<base::file>& log_file() const { return log_; }
  std::filesystem::path log_path() const { return log_->path(); }
  std::filesystem::path offsets_path() const;
  std::filesystem::path times_path() const;
  segment_index& index() { return index_; }
  const segment_index& index() const { return index_; }

  // Writes `iov` (whole batches, already stamped) at the end of the file and indexes
  // them. On failure the file is cut back to its previous size; the error is returned.
  base::status append(std::span<iovec> iov, size_t bytes, std::span<const batch_header> batches,
                      uint32_t index_interval);

  // Header of the batch at `position`, checked against the segment's size.
  base::result<batch_header> header_at(uint64_t position) const;
  // The batch holding `offset` (or the first after it), for offset in [base, next).
  base::result<batch_location> locate(int64_t offset) const;
  // Last batch boundary at or before `limit`, starting the walk from `from` (a boundary).
  base::result<boundary> boundary_at_or_before(uint64_t limit, boundary from) const;
  // The first record at or after `min_offset` whose timestamp is >= ts, if this segment
  // has one.
  base::result<std::optional<timestamp_offset>> offset_for_timestamp(int64_t ts,
                                                                     int64_t min_offset) const;

  // Recovery: walks batches from `from` to the end of the file feeding the index,
  // checking structure (lengths, magic, contiguous offsets — with `allow_gaps`, only
  // increasing ones, as the cleaner leaves them) and, with `verify_crc`, each batch's
  // CRC. Stops at the first bad batch; `reason` says why.
  struct scan_result {
    uint64_t valid_bytes = 0;  // end of the last good batch
    int64_t next_offset = 0;
    uint64_t file_size = 0;
    std::error_code reason;  // empty when the walk reached the end of the file cleanly
  };
  base::result<scan_result> scan(boundary from, bool verify_crc, uint32_t index_interval,
                                 int32_t max_leader_epoch, bool allow_gaps = false);
  // Sets the segment's extent after recovery, truncating the file if it is longer.
  base::status set_extent(uint64_t size, int64_t next_offset);

  // Seals the in-memory index and captures it for writing.
  index_files capture_index();
  // Renames the files to *.deleted (the flusher unlinks them); returns the new paths.
  base::result<std::vector<std::filesystem::path>> mark_deleted();

 private:
  segment(std::filesystem::path dir, int64_t base_offset, std::shared_ptr<base::file> log,
          int64_t now_ms)
      : dir_(std::move(dir)),
        base_offset_(base_offset),
        next_offset_(base_offset),
        log_(std::move(log)),
        created_ms_(now_ms) {}

  std::filesystem::path dir_;
  int64_t base_offset_;
  int64_t next_offset_;
  uint64_t size_ = 0;
  std::shared_ptr<base::file> log_;
  segment_index index_;
  int64_t created_ms_;
};

}  // namespace storage
