#include "storage/partition_log.h"

#include <spdlog/spdlog.h>

#include "base/file.h"
#include "base/logging.h"
#include "base/metrics.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "storage/checkpoint.h"
#include "storage/compression.h"
#include "storage/errc.h"

namespace storage {
namespace {

bool is_out_of_space(std::error_code ec) {
  return ec == std::errc::no_space_on_device || ec.value() == EDQUOT;
}

// How long a failed index write or directory open waits before it is tried again.
constexpr std::chrono::milliseconds kRetryDelay{500};

}  // namespace

base::result<std::shared_ptr<partition_log>> partition_log::open(const std::filesystem::path& dir,
                                                                 ntp name, log_config cfg,
                                                                 log_environment env,
                                                                 recovery_report& report) {
  // The partition's directory entry must survive a power failure with the records
  // acknowledged into it.
  RIPTIDE_TRY(base::create_directories_durably(dir));
  report.partition = name;
  auto segments = recover_segments(dir, cfg, env.now_ms(), report, env.files);
  if (!segments) return segments.error();
  if (report.validated_from || report.segments_dropped) {
    // Recovery synced what it validated; vouch for it so the next start skips it.
    RIPTIDE_TRY(write_recovery_point(dir, segments->back()->next_offset()));
  }
  std::shared_ptr<partition_log> log(
      new partition_log(dir, std::move(name), cfg, std::move(env), std::move(*segments)));
  if (auto start = read_log_start(dir)) {
    log->start_offset_ = std::min(*start, log->log_end_offset());
  }
  // Recovery has already warned about a damaged checkpoint; the cleaner starts afresh.
  if (auto c = read_cleaner_checkpoint(dir); c && *c) log->cleaner_ = std::move(**c);
  RIPTIDE_TRY(log->rebuild_producer_state());
  return log;
}

base::status partition_log::rebuild_producer_state() {
  int64_t from = segments_.front()->base_offset();
  if (auto bytes = base::read_whole_file(dir_ / producer_snapshot_file)) {
    auto loaded = producer_state::parse(
        std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
    if (loaded && loaded->offset >= segments_.front()->base_offset() &&
        loaded->offset <= log_end_offset()) {
      producers_ = std::move(loaded->state);
      from = loaded->offset;
    } else {
      base::logger("storage")->warn("{}: ignoring producer state snapshot ({}); replaying the log",
                                    name_.dir_name(),
                                    loaded ? "offset outside the log" : loaded.error().message());
    }
  }
  // Replay only the batch headers of what follows the snapshot. A damaged batch
  // (recovery keeps what passed it at the time) stops the replay; reads report the
  // damage, and producers past it start afresh.
  auto st = for_each_batch(from, log_end_offset(), [&](std::span<const uint8_t> batch) {
    const auto h = decode_header(batch);
    if (h.producer_id >= 0 && !h.control()) producers_.record(h, h.max_timestamp);
  });
  if (!st) {
    base::logger("storage")->warn("{}: producer state replay stopped early: {}", name_.dir_name(),
                                  st.error().message());
  }
  // Idle-producer expiry counts from when the broker last saw a producer, not from its
  // batches' timestamps.
  producers_.touch_all(env_.now_ms());
  return {};
}

base::status partition_log::for_each_batch(
    int64_t from, int64_t end, const std::function<void(std::span<const uint8_t>)>& fn) {
  read_options opts;
  opts.max_offset = end;
  opts.copy_bytes = true;
  while (from < end) {
    auto r = read(from, 1 << 20, opts);
    if (!r) return r.error();
    if (r->next_offset <= from) break;
    for (const auto& frag : r->data.fragments()) {
      const auto* mem = std::get_if<base::memory_fragment>(&frag);
      if (!mem) continue;
      auto bytes = mem->bytes();
      for (size_t pos = 0; pos + batch_header_size <= bytes.size();) {
        const size_t size = decode_header(bytes.subspan(pos)).size_bytes();
        fn(bytes.subspan(pos, size));
        pos += size;
      }
    }
    from = r->next_offset;
  }
  return {};
}

partition_log::partition_log(std::filesystem::path dir, ntp name, log_config cfg,
                             log_environment env, std::deque<std::unique_ptr<segment>> segments)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      cfg_(cfg),
      env_(std::move(env)),
      segments_(std::move(segments)) {
  for (const auto& s : segments_) size_bytes_ += s->size();
  durability_ = durability_tracker({log_end_offset(), active().base_offset(), active().size()});
  // Recovery wrote (or found) the indexes of every segment but the active one.
  sealed_through_ = active().base_offset();
}

partition_log::~partition_log() = default;

int64_t partition_log::high_watermark() const {
  return cfg_.policy == durability::fsync ? durability_.durable().offset : log_end_offset();
}

void partition_log::set_config(const log_config& cfg) {
  const bool was_fsync = cfg_.policy == durability::fsync;
  cfg_ = cfg;
  if (journaled() && !was_fsync && durability_.durable().offset < log_end_offset()) {
    // What was appended under the old policy is in no journal entry: the segment's
    // fsync must cover it before anything after it counts as durable.
    durability_.note_append({log_end_offset(), active().base_offset(), active().size()}, 0);
  }
  maybe_flush();
}

void partition_log::set_journal(std::shared_ptr<journal> j) {
  env_.shard_journal = std::move(j);
}

base::result<size_t> partition_log::replay(std::span<const uint8_t> batches) {
  if (failure_) return errc::log_read_only;
  size_t appended = 0;
  const int64_t now = env_.now_ms();
  for (size_t pos = 0; pos < batches.size();) {
    auto h = validate_batch(batches.subspan(pos));
    if (!h) return h.error();
    const size_t size = h->size_bytes();
    if (h->next_offset() <= log_end_offset()) {
      pos += size;
      continue;
    }
    if (h->base_offset != log_end_offset()) return errc::invalid_batch;
    // Only what recovery accepts at the next start (segment::scan): an epoch it would call
    // corrupt would lose this batch and everything appended after it.
    if (h->leader_epoch < 0 || h->leader_epoch > cfg_.leader_epoch ||
        h->next_offset() - active().base_offset() > UINT32_MAX) {
      return errc::invalid_batch;
    }
    // No roll here: the segment may pass its size limit; the next append rolls it.
    std::array<iovec, 1> iov{iovec{const_cast<uint8_t*>(batches.data() + pos), size}};
    RIPTIDE_TRY(active().append(iov, size, std::span(&*h, 1), cfg_.index_interval_bytes));
    size_bytes_ += size;
    if (h->producer_id >= 0 && !h->control()) {
      producers_.record(*h, now);
      producers_dirty_ = true;
    }
    mark_dirty(active().held_file());
    ++appended;
    pos += size;
  }
  return appended;
}

base::status partition_log::sync_now() {
  for (const auto& f : dirty_files_) RIPTIDE_TRY(f->datasync());
  dirty_files_.clear();
  if (std::exchange(dir_dirty_, false)) RIPTIDE_TRY(base::fsync_directory(dir_));
  set_durable({log_end_offset(), active().base_offset(), active().size()});
  return {};
}

base::result<std::optional<producer_batch>> partition_log::check_producer(
    const batch_header& h) const {
  return producers_.check(h);
}

base::result<partition_log::append_result> partition_log::append(std::span<const uint8_t> batches,
                                                                 append_options opts) {
  if (closing_ || closed_) return errc::log_closed;
  if (failure_) return errc::log_read_only;
  if (batches.empty()) return errc::invalid_batch;
  if (env_.disk && env_.disk->below_minimum()) {
    env_.disk->note_refusal(false);
    return errc::disk_full;
  }

  batch_scratch_.clear();
  max_timestamps_.clear();
  sources_.clear();
  recompressed_.clear();
  int64_t records = 0;
  size_t bytes = 0;
  const int64_t now = env_.now_ms();
  for (size_t pos = 0; pos < batches.size();) {
    auto h = validate_batch(batches.subspan(pos));
    if (!h) return h.error();
    // The broker's own batches (allow_offset_gaps) come from batches that passed this
    // check compressed, and may be larger uncompressed.
    if (!opts.allow_offset_gaps && h->size_bytes() > cfg_.max_batch_bytes) {
      return errc::batch_too_large;
    }
    if (!opts.allow_offset_gaps && h->record_count != int64_t{h->last_offset_delta} + 1) {
      return errc::invalid_batch;
    }
    auto source = batches.subspan(pos, h->size_bytes());
    bool held = false;
    auto ts = check_records(source, *h, opts, held, now);
    if (!ts) return ts.error();
    if (held) {
      if (pos != 0 || h->size_bytes() != batches.size()) return errc::invalid_batch;
      append_result r{-1, -1, 0};
      r.held = true;
      return r;
    }
    pos += h->size_bytes();
    if (cfg_.compression_codec >= 0 && static_cast<int8_t>(h->codec()) != cfg_.compression_codec) {
      // compression.type names a codec: store the records compressed with it.
      auto codec = static_cast<compression>(cfg_.compression_codec);
      auto packed = recompress_batch(source, *h, codec, compression_level(codec));
      if (!packed) return errc::invalid_record;
      source = recompressed_.emplace_back(std::move(*packed));
      h = decode_header(source);
    }
    records += h->record_count;
    bytes += source.size();
    batch_scratch_.push_back(*h);
    max_timestamps_.push_back(*ts);
    sources_.push_back(source);
  }

  if (batch_scratch_.size() == 1 && batch_scratch_[0].producer_id >= 0) {
    auto seen = producers_.check(batch_scratch_[0]);
    if (!seen) return seen.error();
    if (*seen) {
      const auto& b = **seen;
      return append_result{b.first_offset, b.last_offset, batch_scratch_[0].record_count, true};
    }
  }
  const bool too_big = active().size() + bytes > cfg_.segment_bytes;
  // A compacted log also rolls by max.compaction.lag.ms, so that no record waits in the
  // active segment, where the cleaner never goes, for longer than that (as in Kafka).
  const int64_t max_age = cfg_.cleanup.compact && cfg_.max_compaction_lag_ms > 0
                              ? std::min(cfg_.segment_ms, cfg_.max_compaction_lag_ms)
                              : cfg_.segment_ms;
  const bool too_old = now - active().created_ms() >= max_age - segment_jitter();
  const bool index_full =
      (active().index().offsets().size() + batch_scratch_.size()) * 8 > cfg_.segment_index_bytes;
  const bool offsets_overflow = log_end_offset() + records - active().base_offset() > INT32_MAX;
  if (!active().empty() && (too_big || too_old || index_full || offsets_overflow)) {
    // Nothing is written when the next segment cannot be made: this append is refused
    // and the next one tries again. So too while the shard's sealed segments waiting
    // for their fsync fill the file cache: each keeps a descriptor open till then.
    if (env_.files && env_.files->full_of_pinned()) {
      static base::log_rate_limiter limiter(1, std::chrono::seconds(10));
      if (auto note = limiter.allow()) {
        base::logger("storage")->warn(
            "{}: segments roll faster than they are fsynced: appends that need a new segment "
            "wait (refused as retriable) until storage.max_open_segment_files has room for "
            "one more; raise it, or segment.bytes{}",
            name_.dir_name(), *note);
      }
      kick_flush();
      return errc::temporarily_unavailable;
    }
    if (auto st = roll(); !st) return refuse_roll(st.error());
  }

  // Stamp offsets, the leader epoch and (where the producer's differs from the records')
  // the max timestamp by writing a fresh header per batch in front of the producer's
  // records: no copy of the records themselves.
  iov_scratch_.clear();
  prefix_scratch_.resize(batch_scratch_.size());
  int64_t next = log_end_offset();
  for (size_t i = 0; i < batch_scratch_.size(); ++i) {
    const uint8_t* src = sources_[i].data();
    auto& h = batch_scratch_[i];
    h.base_offset = next;
    h.leader_epoch = cfg_.leader_epoch;
    next = h.next_offset();
    auto& prefix = prefix_scratch_[i];
    std::memcpy(prefix.data(), src, prefix.size());
    put_i64(prefix.data(), h.base_offset);
    put_i32(prefix.data() + 12, h.leader_epoch);
    if (h.max_timestamp != max_timestamps_[i] || h.log_append_time() != cfg_.log_append_time) {
      set_max_timestamp(prefix, h, max_timestamps_[i], cfg_.log_append_time);
      h = decode_header(prefix);
    }
    iov_scratch_.push_back({prefix.data(), prefix.size()});
    iov_scratch_.push_back(
        {const_cast<uint8_t*>(src) + prefix.size(), h.size_bytes() - prefix.size()});
  }
  const bool journal_it = journaled();
  if (journal_it) journal_iov_scratch_.assign(iov_scratch_.begin(), iov_scratch_.end());
  if (auto st = active().append(iov_scratch_, bytes, batch_scratch_, cfg_.index_interval_bytes);
      !st) {
    if (is_out_of_space(st.error())) return refuse_out_of_space();
    fail(st.error());
    return errc::log_read_only;
  }
  size_bytes_ += bytes;
  for (const auto& h : batch_scratch_) {
    if (h.producer_id >= 0) {
      producers_.record(h, now);
      producers_dirty_ = true;
    }
  }
  mark_dirty(active().held_file());
  if (journal_it) {
    const durable_point end{log_end_offset(), active().base_offset(), active().size()};
    auto pos = env_.shard_journal->append(shared_from_this(), name_, journal_iov_scratch_, bytes);
    durability_.note_append(end, pos.value_or(0));
    if (!pos) kick_flush();
    write_back_segment();
  }
  if (cfg_.policy == durability::interval) schedule_interval_flush();
  if (cfg_.policy != durability::fsync && hw_listener_) hw_listener_(log_end_offset());
  return append_result{batch_scratch_.front().base_offset, batch_scratch_.back().last_offset(),
                       static_cast<int32_t>(records), false,
                       cfg_.log_append_time ? now : int64_t{-1}};
}

base::result<int64_t> partition_log::check_records(std::span<const uint8_t> batch,
                                                   const batch_header& h,
                                                   const append_options& opts, bool& held,
                                                   int64_t now) {
  // One scratch buffer per shard thread for decompressed records; a large one is not
  // kept after use.
  thread_local std::vector<uint8_t> scratch;
  scan_options scan;
  scan.max_decompressed = cfg_.max_decompressed_batch_bytes;
  scan.allow_offset_gaps = opts.allow_offset_gaps;
  scan.header_prefix = opts.hold_prefix;
  auto info = scan_records(batch, h, scratch, scan);
  if (scratch.capacity() > (8u << 20)) std::vector<uint8_t>().swap(scratch);
  if (!info) return errc::invalid_record;
  // Compaction keeps the latest record per key: a record without one has no place there
  // (Kafka: "Compacted topic cannot accept message without key").
  if (cfg_.cleanup.compact && info->null_key) return errc::invalid_record;
  if (info->prefixed_header || opts.hold_all) {
    held = true;
    return int64_t{-1};
  }
  if (cfg_.log_append_time) return now;
  if (info->negative_timestamp) return errc::invalid_timestamp;
  if (info->min_timestamp != INT64_MAX && cfg_.timestamp_before_max_ms != INT64_MAX &&
      info->min_timestamp < now - cfg_.timestamp_before_max_ms) {
    return errc::invalid_timestamp;
  }
  if (info->max_timestamp >= 0 && cfg_.timestamp_after_max_ms != INT64_MAX &&
      info->max_timestamp > now + cfg_.timestamp_after_max_ms) {
    return errc::invalid_timestamp;
  }
  return info->max_timestamp;
}

void partition_log::wait_durable(int64_t end_offset, std::function<void(std::error_code)> done) {
  if (failure_) return done(errc::log_read_only);
  if (cfg_.policy != durability::fsync || end_offset <= durability_.durable().offset) {
    return done({});
  }
  if (closed_) return done(errc::log_closed);
  durability_.wait(end_offset, std::move(done));
  kick_flush();
}

void partition_log::kick_flush() {
  // Start the fsync from a task posted behind the ones already queued on the shard, so
  // that appends arriving together (the producers acked by the last fsync all send
  // their next batch at once) share one fsync instead of the first going alone.
  if (flush_in_flight_ || flush_kick_posted_) return;
  flush_kick_posted_ = true;
  env_.shard->post([self = shared_from_this()] {
    self->flush_kick_posted_ = false;
    self->maybe_flush();
  });
}

void partition_log::write_back_segment() {
  // A journaled segment is fdatasynced when the journal file that holds its appends is
  // reused. Left to then, that fdatasync would write everything appended since (up to a
  // journal file's worth) in one burst, and the journal commits queued behind it at the
  // disk would wait for all of it. Starting writeback as the segment grows keeps every
  // burst small and leaves the checkpoint little to do.
  constexpr uint64_t step = 256 << 10;
  if (active().base_offset() != writeback_segment_) {
    writeback_segment_ = active().base_offset();
    writeback_started_ = 0;
  }
  const uint64_t end = active().size();
  if (end - writeback_started_ < step) return;
  // Advisory: an I/O error surfaces from the fdatasync that follows.
  env_.flush->submit([f = active().held_file(), from = writeback_started_,
                      len = end - writeback_started_] { (void)f->start_writeback(from, len); });
  writeback_started_ = end;
}

void partition_log::on_journal_durable(uint64_t position) {
  if (failure_ || closed_) return;
  // Takes every leading append the journal now covers.
  set_durable(durability_.durable(), position);
}

void partition_log::on_journal_failed() {
  durability_.journal_failed();
  kick_flush();
}

void partition_log::sync_for_journal(std::function<void(std::error_code)> done) {
  if (closed_) return done(failure_ ? std::error_code(errc::log_read_only) : std::error_code{});
  if (failure_) return done(errc::log_read_only);
  journal_sync_waiters_.push_back(std::move(done));
  maybe_flush();
}

base::status partition_log::roll() {
  auto seg = segment::create(dir_, log_end_offset(), env_.now_ms(), env_.files);
  if (!seg) return seg.error();
  pending_seals_.push_back(active().capture_index());
  active().release_to(env_.files);  // sealed: its descriptor goes to the bounded cache
  if (env_.files) {
    env_.files->pin(active().id());  // open until the flush that follows has synced it
    unsynced_sealed_.push_back(active().id());
  }
  segments_.push_back(std::move(*seg));
  dir_dirty_ = true;
  if (producers_dirty_) producer_snapshot_due_ = true;
  maybe_flush();
  return {};
}

errc partition_log::refuse_roll(std::error_code ec) {
  if (is_out_of_space(ec)) return refuse_out_of_space();
  static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
  if (auto note = limiter.allow()) {
    base::logger("storage")->warn(
        "{}: cannot create the next segment {}: {}; appends are refused (retriable) until it "
        "can be: {}{}",
        name_.dir_name(), (dir_ / (segment::file_stem(log_end_offset()) + ".log")).string(),
        ec.message(), open_error_fix(ec, dir_), *note);
  }
  return errc::temporarily_unavailable;
}

void partition_log::mark_dirty(const std::shared_ptr<base::file>& f) {
  if (std::find(dirty_files_.begin(), dirty_files_.end(), f) == dirty_files_.end()) {
    dirty_files_.push_back(f);
  }
}

void partition_log::maybe_flush() {
  if (flush_in_flight_ || failure_ || closed_ || (retry_wait_ && !closing_)) return;
  const bool waiting = journaled() ? durability_.unjournaled() > 0 : durability_.waiting();
  const bool interval = interval_due_ && !dirty_files_.empty();
  if (!waiting && !interval && pending_seals_.empty() && !closing_ && !producer_snapshot_due_ &&
      journal_sync_waiters_.empty()) {
    return;
  }

  flush_job job;
  job.files = std::move(dirty_files_);
  dirty_files_.clear();
  job.sync_dir = std::exchange(dir_dirty_, false);
  job.seals = std::move(pending_seals_);
  pending_seals_.clear();
  if (closing_) {
    // The last chance to write them (the next start rebuilds what is still missing).
    job.seals.insert(job.seals.end(), std::make_move_iterator(retry_seals_.begin()),
                     std::make_move_iterator(retry_seals_.end()));
    retry_seals_.clear();
  }
  job.queued_seals = job.seals.size();
  job.sealed = std::move(unsynced_sealed_);
  unsynced_sealed_.clear();
  // The recovery point vouches for every sealed segment's index: not while one waits.
  if (!job.seals.empty() && retry_seals_.empty()) job.checkpoint = active().base_offset();
  interval_due_ = false;
  job.journal_syncs = std::move(journal_sync_waiters_);
  journal_sync_waiters_.clear();
  job.target = {log_end_offset(), active().base_offset(), active().size()};
  if (closing_) {
    job.closing = true;
    job.seals.push_back(active().capture_index());
    job.checkpoint = log_end_offset();
  }
  if (producer_snapshot_due_ || (closing_ && producers_dirty_)) {
    // Every batch below the job's target is durable before the snapshot is written.
    job.producer_snapshot = producers_.serialize(job.target.offset);
    producer_snapshot_due_ = false;
    producers_dirty_ = false;
  }
  flush_in_flight_ = true;
  env_.flush->submit([self = shared_from_this(), job = std::move(job)]() mutable {
    auto outcome = self->run_job(job);
    auto* shard = self->env_.shard;
    shard->post(
        [self = std::move(self), job = std::move(job), outcome = std::move(outcome)]() mutable {
          self->on_flushed(job, std::move(outcome));
        });
  });
}

partition_log::flush_outcome partition_log::run_job(const flush_job& job) const {
  flush_outcome out;
  for (const auto& f : job.files) {
    static auto& latency = base::metrics::registry::global().get_histogram(
        "riptide_fsync_seconds", "fdatasync latency of log segments");
    const auto t0 = std::chrono::steady_clock::now();
    if (auto st = f->datasync(); !st) {
      out.failed = st.error();
      return out;
    }
    const auto took = std::chrono::steady_clock::now() - t0;
    env_.flush->record_sync(took);
    latency.observe(std::chrono::duration<double>(took).count());
  }
  if (job.sync_dir) {
    if (auto st = base::fsync_directory(dir_); !st) {
      // Not opened (out of descriptors...): nothing is lost, the sync is retried. A
      // failed fsync of it is as bad as a data file's.
      if (is_transient_open_error(st.error())) {
        out.retry = st.error();
      } else {
        out.failed = st.error();
      }
      return out;
    }
  }
  // Indexes, the producer snapshot and the recovery point only save recovery work:
  // failing to write them is reported and retried but does not make the log read-only.
  static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
  for (const auto& s : job.seals) {
    if (auto st = s.write(); !st) {
      if (auto note = limiter.allow()) {
        base::logger("storage")->warn(
            "{}: could not write index {}: {}; retrying (reads do not need it; a restart "
            "before it is written rebuilds it): {}{}",
            name_.dir_name(), s.offsets_path.string(), st.error().message(),
            open_error_fix(st.error(), dir_), *note);
      }
      out.unwritten.push_back(s);
    }
  }
  if (job.producer_snapshot) {
    if (auto st =
            base::write_file_atomically(dir_ / producer_snapshot_file, *job.producer_snapshot);
        !st) {
      if (auto note = limiter.allow()) {
        base::logger("storage")->warn("{}: could not write the producer state snapshot: {}{}",
                                      name_.dir_name(), st.error().message(), *note);
      }
    }
  }
  if (job.checkpoint && out.unwritten.empty()) {
    if (auto st = write_recovery_point(dir_, *job.checkpoint); !st) {
      if (auto note = limiter.allow()) {
        base::logger("storage")->warn("{}: could not write recovery point: {}{}", name_.dir_name(),
                                      st.error().message(), *note);
      }
    } else {
      out.checkpoint_written = true;
    }
  }
  return out;
}

void partition_log::on_flushed(flush_job& job, flush_outcome outcome) {
  flush_in_flight_ = false;
  if (outcome.retry && closing_) outcome.failed = outcome.retry;  // no waiting at close
  if (outcome.failed) {
    unpin_sealed(job.sealed);
    fail(outcome.failed);
  } else if (outcome.retry) {
    static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
    if (auto note = limiter.allow()) {
      base::logger("storage")->warn(
          "{}: cannot open directory {} to fsync it: {}; acknowledgements wait and the "
          "fsync is retried: {}{}",
          name_.dir_name(), dir_.string(), outcome.retry.message(),
          open_error_fix(outcome.retry, dir_), *note);
    }
    requeue(job);
    return;
  } else {
    unpin_sealed(job.sealed);
    set_durable(job.target);
    if (job.checkpoint && !job.closing && outcome.unwritten.empty() && retry_seals_.empty()) {
      sealed_through_ = std::max(sealed_through_, *job.checkpoint);
    }
  }
  if (!outcome.unwritten.empty() && !job.closing) {
    retry_seals_.insert(retry_seals_.end(), std::make_move_iterator(outcome.unwritten.begin()),
                        std::make_move_iterator(outcome.unwritten.end()));
    schedule_retry();
  }
  const std::error_code ec = outcome.failed;
  for (const auto& done : job.journal_syncs) done(ec);
  if (job.closing || (closing_ && failure_)) {
    closed_ = true;
    // A removed partition's files must not stay open in the cache (their space).
    for (const auto& seg : segments_) seg->forget_file();
    auto syncs = std::move(journal_sync_waiters_);
    journal_sync_waiters_.clear();
    for (auto& done : syncs) done(failure_ ? std::error_code(errc::log_read_only) : ec);
    auto waiters = std::move(close_waiters_);
    close_waiters_.clear();
    for (auto& w : waiters) w(failure_ ? std::error_code(errc::log_read_only) : std::error_code{});
    return;
  }
  maybe_flush();
}

void partition_log::requeue(flush_job& job) {
  // Nothing of the job is known durable: the files stay dirty, the directory unsynced,
  // the waiters waiting; the seals, snapshot and journal syncs go back in the queue.
  for (const auto& f : job.files) mark_dirty(f);
  dir_dirty_ = true;
  pending_seals_.insert(
      pending_seals_.begin(), std::make_move_iterator(job.seals.begin()),
      std::make_move_iterator(job.seals.begin() + static_cast<std::ptrdiff_t>(job.queued_seals)));
  if (job.producer_snapshot) producer_snapshot_due_ = true;
  unsynced_sealed_.insert(unsynced_sealed_.begin(), job.sealed.begin(), job.sealed.end());
  journal_sync_waiters_.insert(journal_sync_waiters_.begin(),
                               std::make_move_iterator(job.journal_syncs.begin()),
                               std::make_move_iterator(job.journal_syncs.end()));
  retry_wait_ = true;
  schedule_retry();
}

void partition_log::schedule_retry() {
  if (retry_scheduled_ || closed_) return;
  retry_scheduled_ = true;
  env_.flush->submit_after(kRetryDelay, [self = shared_from_this()] {
    auto* shard = self->env_.shard;
    shard->post([self] {
      self->retry_scheduled_ = false;
      self->retry_wait_ = false;
      self->pending_seals_.insert(self->pending_seals_.begin(),
                                  std::make_move_iterator(self->retry_seals_.begin()),
                                  std::make_move_iterator(self->retry_seals_.end()));
      self->retry_seals_.clear();
      self->maybe_flush();
    });
  });
}

void partition_log::set_durable(const durable_point& p, uint64_t journal_durable) {
  durability_.advance(p, journal_durable);
  if (cfg_.policy == durability::fsync && hw_listener_) hw_listener_(durability_.durable().offset);
}

void partition_log::unpin_sealed(const std::vector<uint64_t>& ids) {
  if (!env_.files) return;
  for (auto id : ids) env_.files->unpin(id);
}

void partition_log::fail(std::error_code ec) {
  if (failure_) return;
  failure_ = ec;
  unpin_sealed(unsynced_sealed_);  // no flush runs any more
  unsynced_sealed_.clear();
  base::logger("storage")->error(
      "{}: I/O error ({}); the log is read-only from now on and nothing after offset "
      "{} is acknowledged",
      name_.dir_name(), ec.message(), durability_.durable().offset);
  durability_.fail(errc::log_read_only);
  auto syncs = std::move(journal_sync_waiters_);
  journal_sync_waiters_.clear();
  for (auto& done : syncs) done(errc::log_read_only);
}

void partition_log::schedule_interval_flush() {
  if (interval_scheduled_ || closed_) return;
  interval_scheduled_ = true;
  env_.flush->submit_after(std::chrono::milliseconds(cfg_.flush_interval_ms),
                           [self = shared_from_this()] {
                             auto* shard = self->env_.shard;
                             shard->post([self] {
                               self->interval_scheduled_ = false;
                               self->interval_due_ = true;
                               self->maybe_flush();
                             });
                           });
}

void partition_log::close(std::function<void(std::error_code)> done) {
  if (closed_) return done(failure_ ? std::error_code(errc::log_read_only) : std::error_code{});
  close_waiters_.push_back(std::move(done));
  if (closing_) return;
  closing_ = true;
  if (failure_) {
    if (!flush_in_flight_) {
      closed_ = true;
      for (const auto& seg : segments_) seg->forget_file();
      auto waiters = std::move(close_waiters_);
      close_waiters_.clear();
      for (auto& w : waiters) w(errc::log_read_only);
    }
    return;
  }
  maybe_flush();
}

const segment* partition_log::segment_for(int64_t offset) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), offset,
                             [](int64_t o, const auto& s) { return o < s->base_offset(); });
  if (it == segments_.begin()) return nullptr;
  return std::prev(it)->get();
}

base::result<partition_log::read_result> partition_log::read(int64_t offset, size_t max_bytes,
                                                             read_options opts) {
  // Readers see nothing below the log start; the broker's own replays (copy_bytes) may
  // read what DeleteRecords left in the first segment.
  const int64_t first = opts.copy_bytes ? segments_.front()->base_offset() : log_start_offset();
  if (offset < first || offset > log_end_offset()) return errc::offset_out_of_range;
  const int64_t limit = std::min(opts.max_offset.value_or(high_watermark()), log_end_offset());
  read_result out{{}, offset};
  if (offset >= limit) return out;
  const segment* seg = segment_for(offset);
  while (seg && offset >= seg->next_offset()) seg = segment_for(seg->next_offset());
  if (!seg) return errc::offset_out_of_range;

  auto loc = seg->locate(offset);
  if (!loc) return loc.error();
  // Where this read must stop inside the segment.
  boundary stop{seg->size(), seg->next_offset()};
  if (limit < seg->next_offset()) {
    if (const auto& d = durability_.durable();
        d.segment_base == seg->base_offset() && d.offset == limit) {
      stop = {d.position, limit};
    } else {
      auto l = seg->locate(limit);
      if (!l) return l.error();
      stop = {l->position, l->header.base_offset};
    }
  }
  const uint64_t start = loc->position;
  if (stop.position <= start) return out;
  boundary end = stop;
  if (start + max_bytes < stop.position) {
    auto b = seg->boundary_at_or_before(start + max_bytes, {start, loc->header.base_offset});
    if (!b) return b.error();
    if (b->position <= start && !opts.min_one_batch) return out;
    end = b->position > start
              ? *b
              : boundary{start + loc->header.size_bytes(), loc->header.next_offset()};
  }

  // The response holds the file itself: evicted from the cache meanwhile, it stays open
  // until the response is sent.
  auto file = seg->file();
  if (!file) return file.error();
  if (!opts.copy_bytes) {
    out.data.append_file_range(std::move(*file), start, end.position - start);
    out.next_offset = end.offset;
    return out;
  }
  std::vector<uint8_t> bytes(end.position - start);
  auto n = (*file)->pread(bytes.data(), bytes.size(), start);
  if (!n) return n.error();
  if (*n != bytes.size()) return errc::invalid_batch;
  size_t good = 0;
  int64_t next = offset;
  while (good < bytes.size()) {
    auto h = validate_batch(std::span(bytes).subspan(good));
    if (!h) {
      if (good == 0) return h.error();
      break;  // return the valid prefix; the next read reports the bad batch
    }
    good += h->size_bytes();
    next = h->next_offset();
  }
  bytes.resize(good);
  out.data.append(std::move(bytes));
  out.next_offset = next;
  return out;
}

base::result<std::optional<timestamp_offset>> partition_log::offset_for_timestamp(
    int64_t ts) const {
  for (const auto& seg : segments_) {
    if (seg->max_timestamp() < ts) continue;
    auto r = seg->offset_for_timestamp(ts, log_start_offset());
    if (!r) return r.error();
    if (*r) {
      if ((*r)->offset >= high_watermark()) return std::optional<timestamp_offset>{};
      return *r;
    }
  }
  return std::optional<timestamp_offset>{};
}

base::result<std::optional<timestamp_offset>> partition_log::max_timestamp_record() const {
  // The segment holding the largest timestamp (the first such), then the first record
  // there that reaches it.
  const segment* best = nullptr;
  for (const auto& seg : segments_) {
    if (seg->max_timestamp() >= 0 && seg->next_offset() > log_start_offset() &&
        (!best || seg->max_timestamp() > best->max_timestamp())) {
      best = seg.get();
    }
  }
  if (!best) return std::optional<timestamp_offset>{};
  // (A segment's max may lie below the log start; then this finds the first record at or
  // after the start that reaches it, or nothing.)
  auto r = best->offset_for_timestamp(best->max_timestamp(), log_start_offset());
  if (!r) return r.error();
  if (*r && (*r)->offset >= high_watermark()) return std::optional<timestamp_offset>{};
  return *r;
}

partition_log::retention_result partition_log::apply_retention() {
  retention_result r;
  const int64_t now = env_.now_ms();
  if (producers_.expire(now, cfg_.producer_expiry_ms) > 0) producers_dirty_ = true;
  if (producers_dirty_ && !closed_ && !closing_) {
    producer_snapshot_due_ = true;
    maybe_flush();
  }
  drop_segments_below_start(r);
  while (cfg_.cleanup.remove && !cleaning_ && segments_.size() > 1 && !closed_) {
    const segment& oldest = *segments_.front();
    const bool by_size = cfg_.retention_bytes >= 0 &&
                         size_bytes_ - oldest.size() >= static_cast<uint64_t>(cfg_.retention_bytes);
    const bool by_time = cfg_.retention_ms >= 0 && oldest.max_timestamp() >= 0 &&
                         now - oldest.max_timestamp() > cfg_.retention_ms;
    if (!by_size && !by_time) break;
    if (!drop_oldest_segment(r)) break;
  }
  return r;
}

errc partition_log::refuse_out_of_space() {
  if (env_.disk) env_.disk->note_refusal(true);
  return errc::disk_full;
}

int partition_log::compression_level(compression codec) const {
  switch (codec) {
    case compression::gzip:
      return cfg_.gzip_level;
    case compression::lz4:
      return cfg_.lz4_level;
    case compression::zstd:
      return cfg_.zstd_level;
    default:
      return default_compression_level;
  }
}

int64_t partition_log::segment_jitter() const {
  if (cfg_.segment_jitter_ms <= 0) return 0;
  // Fixed per segment (from its base offset and the partition's name), so the roll time
  // of a segment does not move between appends.
  const uint64_t h = std::hash<std::string>{}(name_.dir_name()) ^
                     (static_cast<uint64_t>(active().base_offset()) * 0x9E3779B97F4A7C15ull);
  const auto jitter = static_cast<int64_t>(h % static_cast<uint64_t>(cfg_.segment_jitter_ms));
  return std::min(jitter, cfg_.segment_ms - 1);
}

void partition_log::drop_segments_below_start(retention_result& r) {
  // Never the active segment, nor while the cleaner rewrites segments (the next
  // housekeeping does it then).
  while (!cleaning_ && !closed_ && segments_.size() > 1 &&
         segments_.front()->next_offset() <= start_offset_) {
    if (!drop_oldest_segment(r)) break;
  }
}

void partition_log::delete_records_before(int64_t offset,
                                          std::function<void(base::result<int64_t>)> done) {
  if (failure_) return done(errc::log_read_only);
  if (closing_ || closed_) return done(errc::log_closed);
  if (offset > high_watermark() || offset < 0) return done(errc::offset_out_of_range);
  if (offset <= log_start_offset()) return done(log_start_offset());
  start_offset_ = offset;
  retention_result r;
  drop_segments_below_start(r);
  env_.flush->submit([self = shared_from_this(), offset, done = std::move(done)]() mutable {
    auto st = write_log_start(self->dir_, offset);
    self->env_.shard->post([offset, st, done = std::move(done)] {
      if (!st) return done(st.error());
      done(offset);
    });
  });
}

std::vector<partition_log::sealed_segment> partition_log::sealed_segments() const {
  std::vector<sealed_segment> out;
  for (size_t i = 0; i + 1 < segments_.size(); ++i) {
    const segment& s = *segments_[i];
    if (s.next_offset() > sealed_through_) break;
    out.push_back({&s, s.base_offset(), s.next_offset(), s.size(), s.max_timestamp(),
                   s.index().offsets().size(), s.log_path()});
  }
  return out;
}

base::status partition_log::replace_segments(std::unique_ptr<segment> cleaned, int64_t end) {
  auto first = std::find_if(segments_.begin(), segments_.end(), [&](const auto& s) {
    return s->base_offset() == cleaned->base_offset();
  });
  auto last = first;
  uint64_t replaced_bytes = 0;
  while (last != segments_.end() && (*last)->base_offset() < end) {
    replaced_bytes += (*last)->size();
    ++last;
  }
  if (first == segments_.end() || last == segments_.end() || first == last ||
      (*std::prev(last))->next_offset() != end || cleaned->next_offset() != end ||
      (*std::prev(last))->next_offset() > sealed_through_) {
    return errc::invalid_batch;
  }
  size_bytes_ = size_bytes_ - replaced_bytes + cleaned->size();
  for (auto it = first; it != last; ++it) (*it)->forget_file();
  cleaned->release_to(env_.files);
  *first = std::move(cleaned);
  segments_.erase(std::next(first), last);
  return {};
}

bool partition_log::drop_oldest_segment(retention_result& r) {
  const segment& oldest = *segments_.front();
  auto moved = segments_.front()->mark_deleted();
  if (!moved) {
    base::logger("storage")->warn("{}: could not delete segment {}: {}", name_.dir_name(),
                                  oldest.log_path().string(), moved.error().message());
    return false;
  }
  r.bytes_deleted += oldest.size();
  ++r.segments_deleted;
  size_bytes_ -= oldest.size();
  segments_.front()->forget_file();  // frees the space once no read holds it
  segments_.pop_front();
  env_.flush->submit([paths = std::move(*moved)] {
    std::error_code ec;
    for (const auto& p : paths) std::filesystem::remove(p, ec);
  });
  return true;
}

}  // namespace storage
