#pragma once
// log_manager: the partitions of one data directory. Opens every partition found at
// start (running recovery and reporting, per partition, what it found), creates and
// removes partitions, runs retention and compaction (its shard's log_cleaner, when given
// a cleaner thread), and closes everything at shutdown.
//
// One instance per shard: it holds the logs that shard owns (open_all's filter picks
// them) and every call is made on that shard. The data directory is locked against a
// second process.
//
// Descriptors: each log holds its active segment's file open; sealed segments' files
// share this shard's segment_file_cache (max_open_segment_files), so opening a data
// directory of any size costs one descriptor per partition plus the cache.
//
// A partition that cannot be opened (or created) does not stop the others: it is logged
// with the reason, listed by failed(), and tried again by retry_failed().

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.h"
#include "storage/log_cleaner.h"
#include "storage/partition_log.h"

namespace storage {

class log_manager {
 public:
  log_manager(std::filesystem::path data_dir, log_config defaults, log_environment env,
              cleaner_thread* cleaner = nullptr, unsigned shard_id = 0,
              size_t max_open_segment_files = 1024);
  ~log_manager();
  log_manager(const log_manager&) = delete;
  log_manager& operator=(const log_manager&) = delete;

  // Locks the directory (creating it if needed; with several managers on one
  // directory, one of them locks) and opens every partition in it for which `mine`
  // returns true (all when empty). A partition that fails to open is logged and listed
  // in failed(); only an error with the directory itself fails the call.
  base::result<std::vector<recovery_report>> open_all(
      const std::function<bool(const ntp&)>& mine = {}, bool lock = true);

  // Opens (creating its directory if needed) a partition; on failure it is also listed
  // in failed().
  base::result<std::shared_ptr<partition_log>> create(const ntp& name,
                                                      std::optional<log_config> cfg = {});
  // Partitions that could not be opened, with why: not served until retry_failed()
  // opens them.
  const std::map<ntp, std::error_code>& failed() const { return failed_; }
  // Tries the failed partitions again; `cfg_for` gives a partition's config, or nullopt
  // for one no longer wanted (it is dropped from the list). Returns how many opened.
  size_t retry_failed(const std::function<std::optional<log_config>(const ntp&)>& cfg_for);
  std::shared_ptr<partition_log> get(const ntp& name) const;
  std::vector<std::shared_ptr<partition_log>> logs() const;
  // Closes the partition and deletes its directory (also of a partition that failed to
  // open); `done` runs on the shard.
  void remove(const ntp& name, std::function<void(std::error_code)> done);

  // At start, before serving: re-appends to partition `name` the batches the journal
  // held for it (`payloads`, in journal order; see read_journals) that its log lost, then
  // fsyncs the log. Returns how many batches were re-appended: 0 for a partition this
  // manager neither holds nor failed to open. For a partition that failed to open, its
  // error: the journal holds its acknowledged writes and is removed once replayed, so
  // starting without it would lose them. A payload that does not continue the log is
  // logged and ends the partition's replay there.
  base::result<size_t> replay_journal(const ntp& name,
                                      std::span<const std::vector<uint8_t>> payloads);

  // Gives every log (and those created later) the shard's journal.
  void attach_journal(std::shared_ptr<journal> j);

  // Periodic work: retention on every log, then compaction of the one most in need.
  void housekeeping();
  // Stops compaction, then closes every log (each makes its data durable and writes its
  // recovery point).
  void close_all(std::function<void(std::error_code)> done);
  // The shard's compaction (nullptr without a cleaner thread).
  log_cleaner* cleaner() { return cleaner_.get(); }

  // Takes the data directory's lock (errc::data_dir_locked if another process has it).
  base::status lock_directory();

  const std::filesystem::path& data_dir() const { return dir_; }
  const log_config& defaults() const { return defaults_; }
  const segment_file_cache& segment_files() const { return *env_.files; }

 private:
  void close_and_delete(const std::shared_ptr<partition_log>& log,
                        std::function<void(std::error_code)> done);
  void delete_directory(const std::shared_ptr<partition_log>& log,
                        std::function<void(std::error_code)> done);
  void close_logs(std::function<void(std::error_code)> done);
  base::result<std::shared_ptr<partition_log>> open_log(const ntp& name, const log_config& cfg,
                                                        recovery_report& report);
  // Renames a partition directory to *.deleted and removes it on the flusher.
  std::error_code rename_and_remove(const std::filesystem::path& dir);

  std::filesystem::path dir_;
  log_config defaults_;
  log_environment env_;
  int lock_fd_ = -1;
  std::unique_ptr<segment_file_cache> files_;  // unless the environment brought one
  std::map<ntp, std::shared_ptr<partition_log>> logs_;
  std::map<ntp, std::error_code> failed_;
  std::unique_ptr<log_cleaner> cleaner_;
};

}  // namespace storage
