#pragma once
// One segment of a partition log: a .log file of RecordBatch v2 batches starting at
// `base_offset`, plus its sparse indexes (in memory). Owned by the partition's shard; only
// the file handle is shared (with readers' file ranges and the flusher thread).
//
// Descriptors: the active segment holds its file open (hold()); a sealed one gives it to
// the shard's segment_file_cache (release_to()) and takes it back from there, reopening
// it when it was evicted, whenever a read needs it (file()). A reopened file must be the
// one the segment had (same inode): a path that now names another file (a cleaner's swap
// not yet applied on the shard) is errc::temporarily_unavailable, never other bytes.

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
#include "storage/segment_file_cache.h"
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
  // A new, empty segment; its file is created and held open.
  static base::result<std::unique_ptr<segment>> create(const std::filesystem::path& dir,
                                                       int64_t base_offset, int64_t now_ms,
                                                       segment_file_cache* files = nullptr);
  // An existing segment. With `files`, its file is opened when first needed and kept in
  // that cache; without, it is opened now and held.
  static base::result<std::unique_ptr<segment>> open(const std::filesystem::path& dir,
                                                     int64_t base_offset, int64_t now_ms,
                                                     segment_file_cache* files = nullptr);
  // A segment the cleaner rewrote (its file already in place): the index built while
  // writing it, its size and the offset after its last batch. Blocking; any thread. Its
  // file is held until release_to() hands it to the shard's cache.
  static base::result<std::unique_ptr<segment>> open_cleaned(const std::filesystem::path& dir,
                                                             int64_t base_offset,
                                                             segment_index index, uint64_t size,
                                                             int64_t next_offset, int64_t now_ms);
  ~segment();
  segment(const segment&) = delete;
  segment& operator=(const segment&) = delete;

  int64_t base_offset() const { return base_offset_; }
  int64_t next_offset() const { return next_offset_; }
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t max_timestamp() const { return index_.max_timestamp(); }
  int64_t created_ms() const { return created_ms_; }
  // Unique in the process, never reused: the segment's key in a segment_file_cache.
  uint64_t id() const { return id_; }
  // The .log file: the one held, the cached one, or opened now (and cached). Fails with
  // the open's error (EMFILE, ...) or errc::temporarily_unavailable (see above).
  base::result<std::shared_ptr<base::file>> file() const;
  // The file held open (the active segment's), or nullptr.
  const std::shared_ptr<base::file>& held_file() const { return held_; }
  // Holds the file open outside the cache (the segment becomes the active one).
  base::status hold();
  // Gives the held file to `files` (nullptr: the segment's cache, if any) and uses that
  // cache from now on; without any cache the file stays held.
  void release_to(segment_file_cache* files = nullptr);
  // Drops the cache's reference (the segment is deleted or replaced).
  void forget_file();
  std::filesystem::path log_path() const;
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
  base::result<batch_header> header_at(const base::file& f, uint64_t position) const;
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
  segment(std::filesystem::path dir, int64_t base_offset, int64_t now_ms,
          segment_file_cache* files);
  // Takes `f` as the held file, remembering its identity.
  base::status set_held(std::shared_ptr<base::file> f);

  std::filesystem::path dir_;
  int64_t base_offset_;
  int64_t next_offset_;
  uint64_t size_ = 0;
  const uint64_t id_;
  segment_file_cache* cache_;  // the owning shard's; nullptr: the file is always held
  std::shared_ptr<base::file> held_;
  // The file's identity once it has been open: a reopen must find the same file.
  mutable std::optional<base::file::identity> identity_;
  segment_index index_;
  int64_t created_ms_;
};

}  // namespace storage
