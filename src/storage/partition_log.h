#pragma once
// partition_log: the durable, segmented log of one partition.
//
// Lives on the shard that owns the partition: every member function must be called
// on that shard's executor (environment::shard), and completions (durability waits,
// close) are delivered there too. Blocking work — fdatasync, index and checkpoint
// writes, unlinking — runs on the flusher and posts its outcome back to the shard.
//
// Offsets: log_start <= high_watermark <= log_end. Under durability::fsync the high
// watermark is the durable end (what consumers may read and producers are acked
// for); under the other policies it is the log end.
//
// Errors: only a failed write or fsync of data (that may have been acknowledged) makes
// the log read-only (failure()). Failing to create a file — the next segment at a roll,
// index files, checkpoints — or to open the directory to fsync it (out of descriptors,
// permissions, space) refuses that append with errc::temporarily_unavailable (disk_full
// for ENOSPC), or delays the durability it waits for, and is retried: once the cause goes
// away the log works again, without a restart.

#include <algorithm>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/executor.h"
#include "base/iobuf.h"
#include "base/result.h"
#include "storage/cleaner_checkpoint.h"
#include "storage/disk_space.h"
#include "storage/durability_tracker.h"
#include "storage/flusher.h"
#include "storage/journal.h"
#include "storage/log_config.h"
#include "storage/ntp.h"
#include "storage/producer_state.h"
#include "storage/recovery.h"
#include "storage/segment.h"
#include "storage/segment_file_cache.h"

namespace storage {

struct log_environment {
  base::executor* shard = nullptr;
  flusher* flush = nullptr;
  disk_space* disk = nullptr;  // optional
  std::function<int64_t()> now_ms;
  // The shard's journal (optional): under durability::fsync, appends are durable once
  // the journal is, and segments are fsynced when a journal file fills.
  std::shared_ptr<journal> shard_journal;
  // The shard's cache of sealed segments' files (optional: without it every segment
  // keeps its file open).
  segment_file_cache* files = nullptr;
};

class partition_log : public std::enable_shared_from_this<partition_log>, public journal_client {
 public:
  // Opens the partition's directory (creating it if needed) and runs recovery.
  static base::result<std::shared_ptr<partition_log>> open(const std::filesystem::path& dir,
                                                           ntp name, log_config cfg,
                                                           log_environment env,
                                                           recovery_report& report);
  ~partition_log() override;

  struct append_result {
    int64_t base_offset;
    int64_t last_offset;
    int32_t record_count;
    bool duplicate = false;        // a retried idempotent batch: the offsets it got the first time
    int64_t log_append_time = -1;  // the broker's time stamped on LogAppendTime logs
    // Nothing was stored: a record carries a header append_options::hold_prefix names.
    bool held = false;
  };
  struct append_options {
    // A single batch one of whose records has a header whose key starts with this is not
    // stored: the result says `held`, for the caller to decide (empty: none held).
    std::string_view hold_prefix;
    bool hold_all = false;  // every valid single batch is held
    // Batches whose records skip offsets (fewer than lastOffsetDelta + 1 records, even
    // none) are accepted, and not held to max_batch_bytes: the broker's own batches that
    // keep a producer's sequences (from a batch that passed, compressed).
    bool allow_offset_gaps = false;
  };
  // Validates one or more RecordBatch v2 batches, assigns their offsets and writes them
  // (page cache). Every record is parsed (compressed ones decompressed) and checked
  // against its batch header and the log's timestamp rules; the stored header carries
  // the records' max timestamp (the broker's time under LogAppendTime), whatever the
  // producer wrote there. Nothing is stored if any batch is invalid. Acknowledge only after
  // wait_durable(last_offset + 1, ...) completes. A single batch of an idempotent
  // producer (producerId >= 0) is checked against the producer's sequence: a duplicate
  // is not stored again (its first offsets come back with `duplicate` set), a gap is
  // errc::out_of_order_sequence, an old epoch errc::invalid_producer_epoch.
  base::result<append_result> append(std::span<const uint8_t> batches, append_options opts);
  base::result<append_result> append(std::span<const uint8_t> batches) {
    return append(batches, append_options{});
  }
  // What append would say of an idempotent producer's batch `h` (producerId >= 0) without
  // storing anything: the batch stored before with the same sequences (a retry), nothing
  // (new), or errc::out_of_order_sequence / invalid_producer_epoch.
  base::result<std::optional<producer_batch>> check_producer(const batch_header& h) const;

  // Re-appends at start, before serving, batches a crash took from the segments
  // (from the journal): each whole stamped batch continuing the log is appended, those
  // already in it are skipped. Returns how many batches were appended;
  // errc::invalid_batch for a batch that does not continue the log.
  base::result<size_t> replay(std::span<const uint8_t> batches);
  // Blocking fdatasync of everything appended so far (at start only).
  base::status sync_now();
  // Attaches (or detaches, with nullptr) the shard's journal.
  void set_journal(std::shared_ptr<journal> j);

  // Calls `done` on the shard once every offset below `end_offset` is durable under
  // the log's policy, or with an error if that can no longer happen.
  void wait_durable(int64_t end_offset, std::function<void(std::error_code)> done);

  struct read_options {
    std::optional<int64_t> max_offset;  // exclusive bound; default the high watermark
    bool copy_bytes = false;            // bytes (each batch's CRC checked) instead of file ranges
    // Return the first batch even when it is larger than max_bytes (so a consumer always
    // makes progress); when false such a read returns nothing.
    bool min_one_batch = true;
  };
  struct read_result {
    base::iobuf data;
    int64_t next_offset;  // offset following the last batch returned
  };
  // Whole batches from the one holding `offset`, up to `max_bytes` (but see
  // read_options::min_one_batch).
  base::result<read_result> read(int64_t offset, size_t max_bytes, read_options opts);
  base::result<read_result> read(int64_t offset, size_t max_bytes) {
    return read(offset, max_bytes, read_options{});
  }
  // Calls `fn` with each whole batch (CRC-checked bytes) from the one holding `from` up
  // to `end`; returns the first read error (the batches before it were passed on).
  base::status for_each_batch(int64_t from, int64_t end,
                              const std::function<void(std::span<const uint8_t>)>& fn);
  // The first record below the high watermark whose timestamp is >= ts (its own
  // timestamp: the batch's for LogAppendTime), looking inside compressed batches.
  base::result<std::optional<timestamp_offset>> offset_for_timestamp(int64_t ts) const;
  // The first record holding the largest timestamp below the high watermark.
  base::result<std::optional<timestamp_offset>> max_timestamp_record() const;

  const ntp& name() const { return name_; }
  const std::filesystem::path& dir() const { return dir_; }
  // The first offset readers may read: the first segment's base, or higher after
  // DeleteRecords (delete_records_before).
  int64_t log_start_offset() const {
    return std::max(segments_.front()->base_offset(), start_offset_);
  }
  int64_t log_end_offset() const { return segments_.back()->next_offset(); }
  int64_t high_watermark() const;
  uint64_t size_bytes() const { return size_bytes_; }
  size_t segment_count() const { return segments_.size(); }
  std::error_code failure() const { return failure_; }
  const log_config& config() const { return cfg_; }
  void set_config(const log_config& cfg);
  void set_high_watermark_listener(std::function<void(int64_t)> fn) {
    hw_listener_ = std::move(fn);
  }

  struct retention_result {
    size_t segments_deleted = 0;
    uint64_t bytes_deleted = 0;
  };
  // Deletes whole segments past retention.bytes / retention.ms when the cleanup policy
  // includes delete; never the active one, and none while a cleaner rewrites segments.
  // Also forgets idempotent producers idle for longer than producer_expiry_ms and
  // snapshots the producer state when it changed.
  retention_result apply_retention();

  // DeleteRecords: moves the log start offset up to `offset` (at most the high
  // watermark; a lower one than the current start changes nothing), removes the sealed
  // segments entirely below it, and calls `done` on the shard with the new log start once
  // it is on disk, or with an error (errc::offset_out_of_range past the high watermark).
  void delete_records_before(int64_t offset, std::function<void(base::result<int64_t>)> done);

  // Compaction (log_cleaner). The segments a cleaner may rewrite: sealed ones (never the
  // active one) whose flush, index and recovery point have been written. `seg` is for
  // use on the shard only; `path` (the .log file) may be opened anywhere.
  struct sealed_segment {
    const segment* seg;
    int64_t base_offset;
    int64_t next_offset;
    uint64_t size;
    int64_t max_timestamp;
    size_t index_entries;
    std::filesystem::path path;
  };
  std::vector<sealed_segment> sealed_segments() const;
  // While set, retention deletes no segment: a cleaner is rewriting them.
  void set_cleaning(bool on) { cleaning_ = on; }
  bool cleaning() const { return cleaning_; }
  // Puts `cleaned`, whose files have already replaced theirs on disk, in place of the
  // sealed segments from its base offset up to `end`; errc::invalid_batch (changing
  // nothing) unless those are exactly the segments it replaces.
  base::status replace_segments(std::unique_ptr<segment> cleaned, int64_t end);
  // What the cleaner has done (loaded at open from the cleaner-checkpoint file).
  const cleaner_checkpoint& cleaner_state() const { return cleaner_; }
  void set_cleaner_state(cleaner_checkpoint c) { cleaner_ = std::move(c); }

  const producer_state& producers() const { return producers_; }

  // Makes everything durable, writes indexes and the recovery point, then calls `done`.
  void close(std::function<void(std::error_code)> done);

 private:
  struct flush_job {
    std::vector<std::shared_ptr<base::file>> files;
    bool sync_dir = false;
    std::vector<index_files> seals;
    size_t queued_seals = 0;       // seals[0, queued_seals) came from pending_seals_
    std::vector<uint64_t> sealed;  // segments whose pinned file this job syncs
    std::optional<int64_t> checkpoint;
    durable_point target;
    bool closing = false;
    std::optional<std::vector<uint8_t>> producer_snapshot;
    std::vector<std::function<void(std::error_code)>> journal_syncs;
  };
  partition_log(std::filesystem::path dir, ntp name, log_config cfg, log_environment env,
                std::deque<std::unique_ptr<segment>> segments);

  segment& active() { return *segments_.back(); }
  const segment& active() const { return *segments_.back(); }
  // What segment.jitter.ms takes off segment.ms for the active segment.
  int64_t segment_jitter() const;
  // An append refused on ENOSPC/EDQUOT: noted on the disk guard, errc::disk_full.
  errc refuse_out_of_space();
  // The level compression.type's codec is used at.
  int compression_level(compression codec) const;
  base::status roll();
  // An append refused because roll() failed: warns (rate-limited) and says which error.
  errc refuse_roll(std::error_code ec);
  // Unpins the files of sealed segments synced (or never to be synced, on failure).
  void unpin_sealed(const std::vector<uint64_t>& ids);
  void mark_dirty(const std::shared_ptr<base::file>& f);
  void maybe_flush();
  void kick_flush();
  void write_back_segment();
  struct flush_outcome {
    std::error_code failed;  // a data (or directory) fsync failed: the log turns read-only
    std::error_code retry;   // the directory could not be opened to fsync it: nothing done
    std::vector<index_files> unwritten;  // index files that could not be written
    bool checkpoint_written = false;
  };
  flush_outcome run_job(const flush_job& job) const;  // on the flusher
  void on_flushed(flush_job& job, flush_outcome outcome);
  // Puts back what a job that could not sync the directory was to do.
  void requeue(flush_job& job);
  // Retries, after a delay, what failed for a reason that may go away (retry_seals_, and
  // the flush held back by retry_wait_).
  void schedule_retry();
  void fail(std::error_code ec);
  bool journaled() const { return env_.shard_journal && cfg_.policy == durability::fsync; }
  // journal_client: from the journal, on the shard.
  void on_journal_durable(uint64_t position) override;
  void on_journal_failed() override;
  void sync_for_journal(std::function<void(std::error_code)> done) override;
  void schedule_interval_flush();
  // The segments are synced up to `p`: advances the durable point (also past what the
  // journal, durable up to `journal_durable`, covers), completes the waiters it passes
  // and tells the high watermark listener.
  void set_durable(const durable_point& p, uint64_t journal_durable);
  void set_durable(const durable_point& p) {
    set_durable(p, env_.shard_journal ? env_.shard_journal->durable_position() : 0);
  }
  const segment* segment_for(int64_t offset) const;
  // Removes the sealed segments that lie entirely below the DeleteRecords log start.
  void drop_segments_below_start(retention_result& r);
  // Removes the oldest segment (never the active one).
  bool drop_oldest_segment(retention_result& r);
  // Parses the records of one batch of an append; returns the max timestamp to store.
  base::result<int64_t> check_records(std::span<const uint8_t> batch, const batch_header& h,
                                      const append_options& opts, bool& held, int64_t now);
  // Loads the producer snapshot and replays the batches after it (at open).
  base::status rebuild_producer_state();

  std::filesystem::path dir_;
  ntp name_;
  int64_t start_offset_ = 0;  // set by DeleteRecords; see log_start_offset()
  log_config cfg_;
  log_environment env_;
  std::deque<std::unique_ptr<segment>> segments_;
  uint64_t size_bytes_ = 0;
  std::error_code failure_;

  // The durable point, the appends not yet durable and the wait_durable callers.
  durability_tracker durability_;
  std::vector<std::shared_ptr<base::file>> dirty_files_;
  bool dir_dirty_ = false;
  std::vector<index_files> pending_seals_;
  std::vector<index_files> retry_seals_;  // could not be written; retried after a delay
  // Sealed segments whose file is pinned in the cache until a flush has synced it.
  std::vector<uint64_t> unsynced_sealed_;
  bool retry_wait_ = false;  // no flush until the retry timer (see requeue())
  bool retry_scheduled_ = false;
  bool flush_in_flight_ = false;
  bool flush_kick_posted_ = false;
  bool interval_scheduled_ = false;
  bool interval_due_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::vector<std::function<void(std::error_code)>> close_waiters_;
  std::function<void(int64_t)> hw_listener_;
  producer_state producers_;
  bool producers_dirty_ = false;  // changed since the last snapshot
  bool producer_snapshot_due_ = false;
  std::vector<std::function<void(std::error_code)>> journal_sync_waiters_;
  // Journaled appends: the segment whose pages are being written back as it grows, and
  // how far writeback of it has been started (see start_writeback()).
  int64_t writeback_segment_ = -1;  // its base offset
  uint64_t writeback_started_ = 0;
  std::vector<iovec> iov_scratch_;
  std::vector<iovec> journal_iov_scratch_;
  std::vector<batch_header> batch_scratch_;
  std::vector<int64_t> max_timestamps_;
  std::vector<std::span<const uint8_t>> sources_;   // each batch of an append
  std::vector<std::vector<uint8_t>> recompressed_;  // batches recompressed for compression.type
  std::vector<std::array<uint8_t, batch_header_size>> prefix_scratch_;
  // Every segment below this offset is sealed and its flush job done (cleanable).
  int64_t sealed_through_ = 0;
  bool cleaning_ = false;
  cleaner_checkpoint cleaner_;
};

}  // namespace storage
