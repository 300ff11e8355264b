#include "storage/log_cleaner.h"

#include <spdlog/spdlog.h>

#include "base/logging.h"
#include "base/metrics.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <string>

#include "storage/errc.h"

namespace storage {
namespace {

struct counters {
  base::metrics::counter& runs;
  base::metrics::counter& failures;
  base::metrics::counter& bytes_read;
  base::metrics::counter& bytes_written;
  base::metrics::counter& records_removed;
  base::metrics::counter& tombstones_removed;
};

counters& metrics() {
  auto& r = base::metrics::registry::global();
  static counters c{
      r.get_counter("riptide_cleaner_runs_total", "Compaction rounds completed"),
      r.get_counter("riptide_cleaner_failures_total",
                    "Compaction rounds that stopped on an error (the log stays readable)"),
      r.get_counter("riptide_cleaner_bytes_read_total", "Bytes of segments read by the cleaner"),
      r.get_counter("riptide_cleaner_bytes_written_total",
                    "Bytes of cleaned segments written by the cleaner"),
      r.get_counter("riptide_cleaner_records_removed_total",
                    "Records removed by compaction (older values of a key, expired tombstones)"),
      r.get_counter("riptide_cleaner_tombstones_removed_total",
                    "Tombstones removed after delete.retention.ms"),
  };
  return c;
}

// The part of a log a round may work on: the sealed segments up to the first one holding a
// record younger than min.compaction.lag.ms, and where their dirty part starts.
struct cleanable {
  std::vector<partition_log::sealed_segment> segments;
  int64_t dirty_from = 0;
  uint64_t dirty_position = 0;  // in the segment holding dirty_from
};

cleanable cleanable_part(const partition_log& log, int64_t now) {
  const auto& cfg = log.config();
  cleanable c;
  c.segments = log.sealed_segments();
  auto young = std::find_if(c.segments.begin(), c.segments.end(), [&](const auto& s) {
    return cfg.min_compaction_lag_ms > 0 && s.max_timestamp > now - cfg.min_compaction_lag_ms;
  });
  c.segments.erase(young, c.segments.end());
  if (c.segments.empty()) return c;
  c.dirty_from = std::clamp(log.cleaner_state().cleaned_to, c.segments.front().base_offset,
                            c.segments.back().next_offset);
  for (const auto& s : c.segments) {
    if (s.base_offset < c.dirty_from && c.dirty_from < s.next_offset) {
      c.dirty_position = s.seg->index()
                             .floor_by_offset(static_cast<uint32_t>(c.dirty_from - s.base_offset))
                             .position;
    }
  }
  return c;
}

}  // namespace

struct log_cleaner::state {
  struct request {
    std::shared_ptr<partition_log> log;
    std::function<void(base::result<cleaning_stats>)> done;
  };
  unsigned shard_id = 0;
  std::shared_ptr<partition_log> running;
  std::shared_ptr<std::atomic<bool>> cancel;
  std::deque<request> queued;
  std::vector<std::function<void()>> idle_waiters;
  bool stopped = false;
  // Read by /metrics scrapes on other threads.
  std::atomic<double> max_dirty_ratio{0};
  std::atomic<uint64_t> dirty_bytes{0};
  std::atomic<double> last_run_seconds{0};
};

log_cleaner::log_cleaner(cleaner_thread& thread, base::executor* shard,
                         std::function<int64_t()> now_ms, unsigned shard_id)
    : thread_(thread),
      shard_(shard),
      now_ms_(std::move(now_ms)),
      state_(std::make_shared<state>()) {
  state_->shard_id = shard_id;
  metrics();  // the counters appear from the start, at 0
  auto& reg = base::metrics::registry::global();
  const base::metrics::labels l = {{"shard", std::to_string(shard_id)}};
  std::weak_ptr<state> weak = state_;
  gauge_ids_.push_back(
      reg.add_gauge("riptide_cleaner_max_dirty_ratio",
                    "Largest dirty ratio of the shard's compacted partitions at the last check",
                    [weak, l](auto& out) {
                      if (auto s = weak.lock()) out.push_back({l, s->max_dirty_ratio.load()});
                    }));
  gauge_ids_.push_back(
      reg.add_gauge("riptide_cleaner_dirty_bytes",
                    "Bytes of the shard's compacted partitions not yet cleaned (sealed segments)",
                    [weak, l](auto& out) {
                      if (auto s = weak.lock())
                        out.push_back({l, static_cast<double>(s->dirty_bytes.load())});
                    }));
  gauge_ids_.push_back(reg.add_gauge("riptide_cleaner_last_run_seconds",
                                     "Duration of the shard's last compaction round",
                                     [weak, l](auto& out) {
                                       if (auto s = weak.lock())
                                         out.push_back({l, s->last_run_seconds.load()});
                                     }));
}

log_cleaner::~log_cleaner() {
  if (state_->cancel) state_->cancel->store(true);
  state_->stopped = true;
  for (auto id : gauge_ids_) base::metrics::registry::global().remove_gauge(id);
}

bool log_cleaner::busy() const {
  return state_->running != nullptr;
}

dirty_state log_cleaner::assess(const partition_log& log) const {
  dirty_state d;
  const auto& cfg = log.config();
  if (!cfg.cleanup.compact || log.failure()) return d;
  const int64_t now = now_ms_();
  const auto part = cleanable_part(log, now);
  for (const auto& s : part.segments) {
    if (s.next_offset <= part.dirty_from) {
      d.clean_bytes += s.size;
    } else if (s.base_offset >= part.dirty_from) {
      d.dirty_bytes += s.size;
    } else {
      d.clean_bytes += part.dirty_position;
      d.dirty_bytes += s.size - part.dirty_position;
    }
  }
  if (d.clean_bytes + d.dirty_bytes > 0) {
    d.ratio =
        static_cast<double>(d.dirty_bytes) / static_cast<double>(d.clean_bytes + d.dirty_bytes);
  }
  if (d.dirty_bytes > 0 && cfg.max_compaction_lag_ms != INT64_MAX) {
    // The first dirty batch's timestamp stands for the oldest dirty record.
    for (const auto& s : part.segments) {
      if (s.next_offset <= part.dirty_from) continue;
      auto loc = s.seg->locate(std::max(part.dirty_from, s.base_offset));
      if (loc) {
        const auto& h = loc->header;
        const int64_t ts = h.log_append_time() ? h.max_timestamp : h.base_timestamp;
        d.lag_exceeded = ts >= 0 && now - ts > cfg.max_compaction_lag_ms;
      }
      break;
    }
  }
  d.tombstones_due =
      !part.segments.empty() && log.cleaner_state().tombstones_due(now, cfg.delete_retention_ms);
  d.needs_cleaning =
      (d.dirty_bytes > 0 && (d.ratio >= cfg.min_cleanable_dirty_ratio || d.lag_exceeded)) ||
      d.tombstones_due;
  return d;
}

std::optional<cleaning_plan> log_cleaner::make_plan(const partition_log& log) const {
  const auto& cfg = log.config();
  if (!cfg.cleanup.compact || log.failure()) return std::nullopt;
  const int64_t now = now_ms_();
  auto part = cleanable_part(log, now);
  if (part.segments.empty()) return std::nullopt;
  cleaning_plan p;
  p.dir = log.dir();
  p.name = log.name().dir_name();
  for (const auto& s : part.segments) {
    p.segments.push_back({s.base_offset, s.next_offset, s.size, s.index_entries, s.path});
  }
  p.dirty_from = part.dirty_from;
  p.dirty_position = part.dirty_position;
  p.checkpoint = log.cleaner_state();
  p.tombstone_horizon =
      std::min(p.checkpoint.tombstone_horizon(now, cfg.delete_retention_ms), p.dirty_from);
  p.producer_last_batch = log.producers().last_batch_offsets();
  p.segment_bytes = cfg.segment_bytes;
  p.segment_index_bytes = cfg.segment_index_bytes;
  p.index_interval_bytes = cfg.index_interval_bytes;
  p.gzip_level = cfg.gzip_level;
  p.lz4_level = cfg.lz4_level;
  p.zstd_level = cfg.zstd_level;
  p.now_ms = now;
  return p;
}

void log_cleaner::maybe_clean(const std::vector<std::shared_ptr<partition_log>>& logs) {
  double max_ratio = 0;
  uint64_t dirty = 0;
  std::shared_ptr<partition_log> best;
  double best_score = -1;
  for (const auto& log : logs) {
    const auto d = assess(*log);
    max_ratio = std::max(max_ratio, d.ratio);
    dirty += d.dirty_bytes;
    if (!d.needs_cleaning || log->cleaning()) continue;
    // Logs that must be cleaned whatever their ratio go first.
    const double score = d.ratio + (d.lag_exceeded || d.tombstones_due ? 1 : 0);
    if (score > best_score) {
      best_score = score;
      best = log;
    }
  }
  state_->max_dirty_ratio.store(max_ratio);
  state_->dirty_bytes.store(dirty);
  if (best && !busy() && !state_->stopped) start(best, nullptr);
}

void log_cleaner::clean(std::shared_ptr<partition_log> log,
                        std::function<void(base::result<cleaning_stats>)> done) {
  if (state_->stopped) {
    if (done) done(errc::log_closed);
    return;
  }
  if (busy()) {
    state_->queued.push_back({std::move(log), std::move(done)});
    return;
  }
  start(std::move(log), std::move(done));
}

void log_cleaner::release(const partition_log* log, std::function<void()> done) {
  auto st = state_;
  for (auto it = st->queued.begin(); it != st->queued.end();) {
    if (it->log.get() == log) {
      if (it->done) it->done(errc::log_closed);
      it = st->queued.erase(it);
    } else {
      ++it;
    }
  }
  if (st->running.get() != log) return done();
  st->cancel->store(true);
  st->idle_waiters.push_back(std::move(done));
}

void log_cleaner::stop(std::function<void()> done) {
  auto st = state_;
  st->stopped = true;
  auto queued = std::move(st->queued);
  st->queued.clear();
  for (auto& q : queued) {
    if (q.done) q.done(errc::log_closed);
  }
  if (!st->running) return done();
  st->cancel->store(true);
  st->idle_waiters.push_back(std::move(done));
}

void log_cleaner::start(std::shared_ptr<partition_log> log,
                        std::function<void(base::result<cleaning_stats>)> done) {
  auto plan = make_plan(*log);
  if (!plan) {
    if (done) done(cleaning_stats{});
    return;
  }
  auto st = state_;
  st->running = log;
  st->cancel = std::make_shared<std::atomic<bool>>(false);
  log->set_cleaning(true);
  auto* shard = shard_;
  auto finish = [st, log, done = std::move(done), this_cleaner = this](
                    base::result<cleaning_result> r, double seconds) {
    log->set_cleaning(false);
    st->running = nullptr;
    st->last_run_seconds.store(seconds);
    auto& m = metrics();
    if (r) {
      log->set_cleaner_state(r->checkpoint);
      const auto& s = r->stats;
      m.runs.add();
      m.bytes_read.add(s.bytes_read);
      m.bytes_written.add(s.bytes_written);
      m.records_removed.add(s.records_removed);
      m.tombstones_removed.add(s.tombstones_removed);
      if (!s.cancelled) {
        base::logger("storage")->info(
            "{}: cleaned below offset {} in {:.3f} s: {} segment(s) rewritten into {}, {} "
            "record(s) removed ({} tombstone(s)), {} bytes read, {} written{}",
            log->name().dir_name(), r->checkpoint.cleaned_to, seconds, s.segments_replaced,
            s.segments_written, s.records_removed, s.tombstones_removed, s.bytes_read,
            s.bytes_written, s.map_full ? "; the offset map filled, the rest waits" : "");
      }
    } else {
      m.failures.add();
      base::logger("storage")->warn(
          "{}: cleaning stopped: {}; the log stays as it was apart from the segments already "
          "swapped in",
          log->name().dir_name(), r.error().message());
    }
    if (done) done(r ? base::result<cleaning_stats>(r->stats) : r.error());
    auto waiters = std::move(st->idle_waiters);
    st->idle_waiters.clear();
    for (auto& w : waiters) w();
    if (!st->stopped && !st->queued.empty()) {
      auto next = std::move(st->queued.front());
      st->queued.pop_front();
      this_cleaner->start(std::move(next.log), std::move(next.done));
    }
  };
  thread_.submit([plan = std::move(*plan), cancel = st->cancel, log, shard,
                  finish = std::move(finish)](offset_map& map, io_throttle& throttle) {
    const auto t0 = std::chrono::steady_clock::now();
    segment_cleaner cleaner(map, throttle, *cancel);
    auto r = cleaner.clean(plan, [&](std::unique_ptr<segment> seg, int64_t end) {
      auto holder = std::make_shared<std::unique_ptr<segment>>(std::move(seg));
      shard->post([log, holder, end] {
        if (auto s = log->replace_segments(std::move(*holder), end); !s) {
          base::logger("storage")->error(
              "{}: a cleaned segment could not replace its sources in memory ({}); reads "
              "use the old files until the next start",
              log->name().dir_name(), s.error().message());
        }
      });
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    shard->post([finish, r = std::move(r), seconds]() mutable { finish(std::move(r), seconds); });
  });
}

}  // namespace storage
