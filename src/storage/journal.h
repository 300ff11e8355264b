#pragma once
// journal: a shard's write-ahead journal for the partitions it owns that acknowledge
// only after an fsync (durability::fsync).
//
// An append writes its partition's segment (page cache) and copies the stamped batches
// into the shard's journal. One fdatasync of the journal per round then makes the
// appends of every partition of the shard durable together, where each partition would
// otherwise need its own fdatasync (the disk does a few thousand per second in all, so
// with many partitions the per-partition fsyncs, not the bytes, bound latency).
// Journal files are zero-filled when first made: a round's fdatasync then writes data
// only, never file-size metadata. Segments are fdatasynced in the background, when a
// journal file fills; only then is that file reused.
//
// Files are <data>/journal/<shard>-<n>.wal: a 4 KiB header (magic, sequence number,
// CRC-32C), then entries:
//   size u32 (whole entry), crc u32 (CRC-32C of the rest), seq u64 (the file's),
//   kind u8 (1 batches, 2 partition removed), reserved u8, topic length u16,
//   partition i32, topic bytes, payload (whole stamped batches, for kind 1).
// A reused file still holds older entries; they carry an older seq, so a reader stops
// at the first of them, as it stops at a torn or zero entry.
//
// At start, before serving, read_journals() returns what the files hold; the log_manager
// of each partition's shard re-appends what the segments lost (replay_journal) and syncs
// those partitions, then remove_journals() deletes the files and each shard opens a
// fresh journal.
//
// Every member function runs on the shard (the executor given to open). The journal's
// own thread writes and fdatasyncs what the shard hands it: everything handed over
// while one fdatasync runs goes into the next, which starts as soon as that one
// returns, without a round trip through the shard. Preparing files and the segment
// syncs run on the flusher.

#include <sys/uio.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

#include "base/executor.h"
#include "base/file.h"
#include "base/result.h"
#include "storage/flusher.h"
#include "storage/ntp.h"

namespace storage {

// What the journal needs of a log whose appends it holds (partition_log implements it).
// Every call is made on the shard.
class journal_client {
 public:
  virtual ~journal_client() = default;

  // The journal is durable up to `position`: appends journaled below it are durable.
  virtual void on_journal_durable(uint64_t position) = 0;
  // The journal failed: nothing journaled and not yet durable will be made durable by it;
  // the log fsyncs its segments instead.
  virtual void on_journal_failed() = 0;
  // A journal file holding entries of this log is about to be reused: fsync the segments
  // up to everything appended so far, then call `done` (with the error if they cannot be).
  virtual void sync_for_journal(std::function<void(std::error_code)> done) = 0;

 private:
  friend class journal;
  // The journal's own bookkeeping, kept with each client so that an append finds out in
  // O(1) whether the client is already listed for the current round and file.
  uint64_t journal_round_ = 0;     // the journal round this client last joined
  uint64_t journal_file_seq_ = 0;  // the journal file it last wrote into
};

struct journal_options {
  uint64_t file_bytes = 16ull << 20;  // size of each journal file
};

class journal : public std::enable_shared_from_this<journal> {
 public:
  static constexpr uint64_t header_bytes = 4096;

  // Creates `dir` and the shard's first file (blocking: zero-fills it), and starts
  // preparing a spare on the flusher.
  static base::result<std::shared_ptr<journal>> open(const std::filesystem::path& dir,
                                                     unsigned shard, base::executor* shard_exec,
                                                     flusher* flush, journal_options opts = {});
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  // Queues an entry holding `bytes` bytes of stamped batches (`data`: whole batches whose
  // CRC fields match their bytes, as validated on the way in) of partition `name` for
  // `log` and returns the journal position at its end; the log is told
  // (on_journal_durable) once the journal is durable up to there. nullopt when the
  // journal cannot take it (larger than a file, no file ready yet, failed, stopped): the
  // log then fsyncs its segment instead.
  std::optional<uint64_t> append(const std::shared_ptr<journal_client>& log, const ntp& name,
                                 std::span<const iovec> data, size_t bytes);
  // Records that partition `name` was removed, so that none of its earlier entries is
  // replayed into a partition of the same name created later. `done` runs once that
  // record is durable (or with the journal's error).
  void append_removal(const ntp& name, std::function<void(std::error_code)> done);

  uint64_t durable_position() const { return durable_pos_; }
  std::error_code failure() const { return failure_; }
  // Takes no more entries (appends return nullopt), lets the journal thread finish
  // what it was handed and joins it.
  void stop();

 private:
  struct jfile {
    std::shared_ptr<base::file> f;
    uint64_t seq = 0;
    uint64_t write_offset = 0;  // next byte of the file to fill
    uint64_t end_pos = 0;       // journal position after its last entry
    std::vector<std::weak_ptr<journal_client>> writers;
    bool checkpointing = false;
  };
  struct chunk {
    std::shared_ptr<base::file> f;
    uint64_t offset = 0;
    std::vector<uint8_t> bytes;
  };
  // What the shard handed over, waiting for the journal thread to report it durable.
  struct round {
    uint64_t end_pos = 0;
    std::chrono::steady_clock::time_point handed_at;
    std::vector<std::weak_ptr<journal_client>> logs;
    std::vector<std::function<void(std::error_code)>> callbacks;
  };

  journal(std::filesystem::path dir, unsigned shard, base::executor* shard_exec, flusher* flush,
          journal_options opts);

  // Writes the entry header (and reserves its space) in the active file; nullptr if it
  // cannot take `payload` more bytes.
  std::vector<uint8_t>* reserve(uint8_t kind, const ntp& name, size_t payload);
  bool switch_file();
  void prepare_spare();
  void kick();
  void hand_off();
  void run();  // the journal thread
  void on_durable(uint64_t end_pos, std::error_code ec);
  void complete(round& r);
  void maybe_checkpoint();
  void finish_checkpoint(const std::shared_ptr<jfile>& f, bool ok);

  std::filesystem::path dir_;
  unsigned shard_;
  base::executor* shard_exec_;
  flusher* flush_;
  journal_options opts_;

  std::shared_ptr<jfile> active_;
  std::deque<std::shared_ptr<jfile>> free_;
  std::vector<std::shared_ptr<jfile>> full_;
  unsigned next_file_no_ = 0;
  uint64_t next_seq_ = 1;
  bool preparing_ = false;

  uint64_t pos_ = 0;  // position after the last queued entry
  uint64_t durable_pos_ = 0;
  uint64_t round_id_ = 1;
  std::vector<chunk> pending_;
  std::vector<std::weak_ptr<journal_client>> pending_logs_;
  std::vector<std::function<void(std::error_code)>> pending_callbacks_;
  std::deque<round> inflight_;
  // The active file's last partial page as handed over (see reserve()).
  std::shared_ptr<base::file> tail_file_;
  uint64_t tail_offset_ = 0;
  std::vector<uint8_t> tail_bytes_;
  size_t chunk_hint_ = 0;  // bytes to reserve for a new chunk (see reserve())
  bool kick_posted_ = false;
  bool stopped_ = false;
  std::error_code failure_;
  bool failure_logged_ = false;

  // Shared with the journal thread.
  std::mutex q_mutex_;
  std::condition_variable q_cv_;
  std::vector<chunk> q_chunks_;
  uint64_t q_end_pos_ = 0;
  bool q_stop_ = false;
  std::thread thread_;
};

// What the journal files of a data directory hold, for replay at start.
struct journal_contents {
  // Per partition, the payloads (whole stamped batches) in the order they were
  // journaled, after the partition's last removal record.
  std::map<ntp, std::vector<std::vector<uint8_t>>> batches;
  size_t files = 0;
  uint64_t entries = 0;
};
base::result<journal_contents> read_journals(const std::filesystem::path& dir);
// Deletes every journal file in `dir` and syncs the directory.
base::status remove_journals(const std::filesystem::path& dir);

}  // namespace storage
