#pragma once
// log_cleaner: compaction of the logs of one shard (cleanup.policy=compact, Kafka's log
// cleaner). Owned by the shard's log_manager and called only on that shard; the rounds
// themselves (segment_cleaner: reading, writing, fsync, renames) run on the cleaner_thread
// shared by all shards, one at a time, and post their outcome back here.
//
// Which log, when (checked at every housekeeping, at most one round per shard at a time):
//  - only sealed segments are cleaned, and none holding a record younger than
//    min.compaction.lag.ms, nor anything after such a segment;
//  - the dirty part is what follows the last round's end (cleaner_checkpoint::cleaned_to);
//    a log is cleaned once dirty bytes / (clean + dirty bytes) reaches
//    min.cleanable.dirty.ratio, or whatever the ratio once its first dirty record is older
//    than max.compaction.lag.ms, or once tombstones kept by earlier rounds have been clean
//    for delete.retention.ms (they are then removed). The dirtiest log goes first.
// While a round runs, retention removes no segment of that log; reads go on, from the old
// segments' files until the cleaned segment replaces them (a read that would have to
// reopen a file already swapped on disk fails as retriable, see segment::file()).

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/executor.h"
#include "base/result.h"
#include "storage/cleaner_thread.h"
#include "storage/partition_log.h"
#include "storage/segment_cleaner.h"

namespace storage {

// How much of a log is waiting for the cleaner.
struct dirty_state {
  uint64_t clean_bytes = 0;
  uint64_t dirty_bytes = 0;
  double ratio = 0;             // dirty / (clean + dirty), over the cleanable segments
  bool lag_exceeded = false;    // max.compaction.lag.ms passed for a dirty record
  bool tombstones_due = false;  // tombstones to remove
  bool needs_cleaning = false;
};

class log_cleaner {
 public:
  log_cleaner(cleaner_thread& thread, base::executor* shard, std::function<int64_t()> now_ms,
              unsigned shard_id = 0);
  ~log_cleaner();  // cancels a round in progress
  log_cleaner(const log_cleaner&) = delete;
  log_cleaner& operator=(const log_cleaner&) = delete;

  // Housekeeping: starts a round on the log that needs it most, unless one is running.
  void maybe_clean(const std::vector<std::shared_ptr<partition_log>>& logs);
  // Starts a round on `log` now, whatever its dirty ratio (after the one running, if any,
  // is done). `done` runs on the shard with the round's figures.
  void clean(std::shared_ptr<partition_log> log,
             std::function<void(base::result<cleaning_stats>)> done);
  // Cancels the round on `log`, if any, and calls `done` once the cleaner no longer uses it.
  void release(const partition_log* log, std::function<void()> done);
  // Cancels any round and calls `done` once none runs; no round starts afterwards.
  void stop(std::function<void()> done);
  bool busy() const;

  dirty_state assess(const partition_log& log) const;

 private:
  struct state;
  void start(std::shared_ptr<partition_log> log,
             std::function<void(base::result<cleaning_stats>)> done);
  std::optional<cleaning_plan> make_plan(const partition_log& log) const;

  cleaner_thread& thread_;
  base::executor* shard_;
  std::function<int64_t()> now_ms_;
  std::shared_ptr<state> state_;
  std::vector<uint64_t> gauge_ids_;
};

}  // namespace storage
