#include "storage/log_manager.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/logging.h"

#include <atomic>
#include <string>

#include "storage/errc.h"

namespace storage {

namespace fs = std::filesystem;

log_manager::log_manager(fs::path data_dir, log_config defaults, log_environment env,
                         cleaner_thread* cleaner, unsigned shard_id, size_t max_open_segment_files)
    : dir_(std::move(data_dir)), defaults_(defaults), env_(std::move(env)) {
  if (!env_.files) {
    files_ = std::make_unique<segment_file_cache>(max_open_segment_files);
    env_.files = files_.get();
  }
  if (cleaner)
    cleaner_ = std::make_unique<log_cleaner>(*cleaner, env_.shard, env_.now_ms, shard_id);
}

log_manager::~log_manager() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

base::status log_manager::lock_directory() {
  if (lock_fd_ >= 0) return {};
  RIPTIDE_TRY(base::create_directories_durably(dir_));
  const auto path = dir_ / ".lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return base::last_system_error();
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    auto err = base::last_system_error();
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (err == std::errc::resource_unavailable_try_again) {
      auto holder = base::read_whole_file(path);
      base::logger("storage")->error("data directory {} is in use by riptide process {}",
                                     dir_.string(), holder ? *holder : std::string("?"));
      return errc::data_dir_locked;
    }
    return err;
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
    return base::last_system_error();
  }
  return {};
}

base::result<std::vector<recovery_report>> log_manager::open_all(
    const std::function<bool(const ntp&)>& mine, bool lock) {
  if (lock) RIPTIDE_TRY(lock_directory());
  std::vector<ntp> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!entry.is_directory()) continue;
    const auto name = entry.path().filename().string();
    if (name.ends_with(".deleted")) {
      fs::remove_all(entry.path(), ec);  // an interrupted partition delete
      continue;
    }
    if (auto n = ntp::from_dir_name(name); n && (!mine || mine(*n))) found.push_back(*n);
  }
  if (ec) return ec;
  std::sort(found.begin(), found.end());
  std::vector<recovery_report> reports;
  for (const auto& n : found) {
    recovery_report report;
    auto log = open_log(n, defaults_, report);
    if (!log) continue;  // logged and listed in failed_; the others are served
    reports.push_back(std::move(report));
  }
  return reports;
}

base::result<std::shared_ptr<partition_log>> log_manager::open_log(const ntp& name,
                                                                   const log_config& cfg,
                                                                   recovery_report& report) {
  auto log = partition_log::open(dir_ / name.dir_name(), name, cfg, env_, report);
  if (!log) {
    const bool again = failed_.contains(name);
    failed_[name] = log.error();
    // Thousands of partitions may fail for one reason (out of descriptors): a few lines.
    static base::log_rate_limiter limiter(10, std::chrono::seconds(60));
    if (!again) {
      if (auto note = limiter.allow()) {
        base::logger("storage")->error(
            "cannot open partition {} in {}: {}; it is not served (the other partitions are) "
            "and is tried again every storage.housekeeping_interval: {}{}",
            name.dir_name(), dir_.string(), log.error().message(),
            open_error_fix(log.error(), dir_ / name.dir_name()), *note);
      }
    }
    return log.error();
  }
  if (auto it = failed_.find(name); it != failed_.end()) {
    base::logger("storage")->info("opened partition {} (it could not be opened before: {})",
                                  name.dir_name(), it->second.message());
    failed_.erase(it);
  }
  logs_[name] = *log;
  return *log;
}

base::result<std::shared_ptr<partition_log>> log_manager::create(const ntp& name,
                                                                 std::optional<log_config> cfg) {
  if (logs_.contains(name)) return errc::partition_exists;
  recovery_report report;
  auto log = open_log(name, cfg.value_or(defaults_), report);
  if (!log) return log.error();
  // The partition's directory entry must survive a power failure; a failure to sync it
  // now is retried with the log's first roll or close (which sync it again).
  if (auto st = base::fsync_directory(dir_); !st) {
    base::logger("storage")->warn("{}: could not fsync {}: {}", name.dir_name(), dir_.string(),
                                  st.error().message());
  }
  return *log;
}

size_t log_manager::retry_failed(
    const std::function<std::optional<log_config>(const ntp&)>& cfg_for) {
  size_t opened = 0;
  const auto names = failed_;
  for (const auto& [name, _] : names) {
    if (logs_.contains(name)) {
      failed_.erase(name);
      continue;
    }
    auto cfg = cfg_for(name);
    if (!cfg) {
      failed_.erase(name);
      continue;
    }
    recovery_report report;
    if (open_log(name, *cfg, report)) {
      ++opened;
      base::logger("storage")->info("recovered {}", report.summary());
    }
  }
  return opened;
}

std::shared_ptr<partition_log> log_manager::get(const ntp& name) const {
  auto it = logs_.find(name);
  return it == logs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<partition_log>> log_manager::logs() const {
  std::vector<std::shared_ptr<partition_log>> out;
  for (const auto& [_, log] : logs_) out.push_back(log);
  return out;
}

void log_manager::remove(const ntp& name, std::function<void(std::error_code)> done) {
  auto it = logs_.find(name);
  if (it == logs_.end()) {
    if (failed_.erase(name) == 0) return done(errc::partition_not_found);
    // Never opened: nothing to close, but its directory goes like any other's.
    std::error_code ec;
    if (!fs::exists(dir_ / name.dir_name(), ec)) return done({});
    return done(rename_and_remove(dir_ / name.dir_name()));
  }
  auto log = std::move(it->second);
  logs_.erase(it);
  if (cleaner_) {
    // The cleaner must be done with the directory before it goes.
    auto* raw = log.get();
    cleaner_->release(raw, [this, log, done = std::move(done)]() mutable {
      close_and_delete(log, std::move(done));
    });
    return;
  }
  close_and_delete(log, std::move(done));
}

void log_manager::close_and_delete(const std::shared_ptr<partition_log>& log,
                                   std::function<void(std::error_code)> done) {
  log->close([this, log, done = std::move(done)](std::error_code) mutable {
    if (!env_.shard_journal) return delete_directory(log, std::move(done));
    // Journal entries of the partition must never be replayed into a partition of the
    // same name created later: record the removal before the directory goes.
    env_.shard_journal->append_removal(log->name(), [this, log, done = std::move(done)](
                                                        std::error_code ec) mutable {
      if (ec) {
        base::logger("storage")->warn("{}: could not journal its removal ({}); removing it anyway",
                                      log->name().dir_name(), ec.message());
      }
      delete_directory(log, std::move(done));
    });
  });
}

base::result<size_t> log_manager::replay_journal(const ntp& name,
                                                 std::span<const std::vector<uint8_t>> payloads) {
  // The errors go to the "broker" log, with the other messages of the broker's start.
  auto log = get(name);
  if (!log) {
    auto failed = failed_.find(name);
    if (failed == failed_.end()) return size_t{0};
    base::logger("broker")->error(
        "the journal holds acknowledged writes to partition {}, which could not be "
        "opened ({}): fix that (see above) and start again",
        name.dir_name(), failed->second.message());
    return failed->second;
  }
  size_t count = 0;
  for (const auto& p : payloads) {
    auto r = log->replay(p);
    if (!r) {
      base::logger("broker")->error(
          "{}: journal entry does not continue the log at offset {} ({}); the rest of "
          "its journal entries are not replayed",
          name.dir_name(), log->log_end_offset(), r.error().message());
      break;
    }
    count += *r;
  }
  if (count) RIPTIDE_TRY(log->sync_now());
  return count;
}

void log_manager::attach_journal(std::shared_ptr<journal> j) {
  env_.shard_journal = j;
  for (const auto& [_, log] : logs_) log->set_journal(j);
}

void log_manager::delete_directory(const std::shared_ptr<partition_log>& log,
                                   std::function<void(std::error_code)> done) {
  done(rename_and_remove(log->dir()));
}

std::error_code log_manager::rename_and_remove(const fs::path& dir) {
  static std::atomic<uint64_t> counter{0};
  auto doomed = dir;
  doomed += fmt::format(".{}-{}.deleted", ::getpid(), counter++);
  std::error_code ec;
  fs::rename(dir, doomed, ec);
  if (ec) return ec;
  env_.flush->submit([doomed] {
    std::error_code ignored;
    fs::remove_all(doomed, ignored);
  });
  return {};
}

void log_manager::housekeeping() {
  for (const auto& [name, log] : logs_) {
    auto r = log->apply_retention();
    if (r.segments_deleted) {
      base::logger("storage")->info(
          "{}: retention deleted {} segment(s), {} bytes; log starts at offset {}", name.dir_name(),
          r.segments_deleted, r.bytes_deleted, log->log_start_offset());
    }
  }
  if (cleaner_) cleaner_->maybe_clean(logs());
}

void log_manager::close_all(std::function<void(std::error_code)> done) {
  if (cleaner_) {
    cleaner_->stop([this, done = std::move(done)]() mutable { close_logs(std::move(done)); });
    return;
  }
  close_logs(std::move(done));
}

void log_manager::close_logs(std::function<void(std::error_code)> done) {
  if (logs_.empty()) return done({});
  struct state {
    size_t left;
    std::error_code first_error;
    std::function<void(std::error_code)> done;
  };
  auto st = std::make_shared<state>(state{logs_.size(), {}, std::move(done)});
  for (const auto& [name, log] : logs_) {
    log->close([st, name = name](std::error_code ec) {
      if (ec) {
        base::logger("storage")->error("{}: closed with error: {}", name.dir_name(), ec.message());
        if (!st->first_error) st->first_error = ec;
      }
      if (--st->left == 0) st->done(st->first_error);
    });
  }
}

}  // namespace storage
