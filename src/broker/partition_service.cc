#include "broker/partition_service.h"

#include <algorithm>
#include <map>

#include "base/clock.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "broker/broker.h"
#include "broker/delayed_records.h"
#include "broker/errc.h"
#include "net/await.h"
#include "net/shard.h"
#include "storage/partition_log.h"
#include "storage/record_batch.h"

namespace broker {
namespace {

// What the log does not check itself, before the hop to the owner: one whole v2 batch,
// and a codec the caller's protocol allows. Records and timestamps are checked by the log.
std::error_code check_batch(std::span<const uint8_t> batch, bool allow_zstd) {
  if (batch.size() < storage::batch_header_size) return errc::corrupt_batch;
  const auto h = storage::decode_header(batch);
  if (h.magic != 2) return errc::invalid_record;  // Kafka: v2 batches only (Produce v3+)
  if (h.batch_length < 0 || h.size_bytes() != batch.size()) return errc::invalid_record;
  if (static_cast<uint8_t>(h.codec()) > static_cast<uint8_t>(storage::compression::zstd)) {
    return errc::corrupt_batch;
  }
  if (h.codec() == storage::compression::zstd && !allow_zstd) {
    return errc::unsupported_compression;
  }
  return {};
}

base::metrics::counter& duplicate_batches() {
  static auto& c = base::metrics::registry::global().get_counter(
      "riptide_produce_duplicate_batches_total",
      "Retried batches of idempotent producers answered with their original offsets");
  return c;
}

}  // namespace

void data_waiter::fire() {
  if (finished() || fired_.exchange(true, std::memory_order_relaxed)) return;
  wake_();
}

// The waiters of one shard's partitions, touched only on that shard.
struct partition_service::shard_waiters {
  struct entry {
    int64_t offset;                     // wake once the high watermark passes it
    std::weak_ptr<data_waiter> waiter;  // its owner holds it; gone once it is done
  };
  struct partition {
    std::weak_ptr<storage::partition_log> log;  // the log whose listener feeds this list
    std::vector<entry> entries;
    // Finished waiters are swept out when the list reaches this size (then twice what
    // remains), not at every park: with thousands of subscribers parking after each
    // record, a sweep per park made each round quadratic.
    size_t sweep_at = 64;

    void on_high_watermark(int64_t hw) {
      std::erase_if(entries, [hw](const entry& e) {
        auto w = e.waiter.lock();
        if (!w || w->finished()) return true;
        if (hw <= e.offset) return false;
        w->fire();
        return true;
      });
    }
  };
  // An entry is erased only once its log is gone (a deleted topic's partition), so the
  // listener installed on a live log can hold a pointer to its list.
  std::map<topic_partition, partition> partitions;
  size_t parks_since_sweep = 0;
};

partition_service::partition_service(broker& b) : broker_(b) {
  for (unsigned i = 0; i < b.shards().size(); ++i) {
    waiters_.push_back(std::make_unique<shard_waiters>());
  }
}

partition_service::~partition_service() = default;

std::error_code partition_service::check_partition(
    const topic_partition& tp, std::shared_ptr<const topic_metadata>* out) const {
  auto t = broker_.metadata()->find(tp.topic);
  if (!t || tp.partition < 0 || tp.partition >= t->partitions) return errc::unknown_topic;
  if (out) *out = std::move(t);
  return {};
}

// ---- produce ----

net::task<produce_result> partition_service::produce(const request_identity& who,
                                                     topic_partition tp,
                                                     std::span<const uint8_t> batch,
                                                     produce_options opts) {
  produce_result out;
  std::shared_ptr<const topic_metadata> topic;
  if (auto ec = check_partition(tp, &topic)) {
    out.error = ec;
    co_return out;
  }
  if (broker::is_internal(tp.topic)) {
    out.error = errc::internal_topic;  // written only by the group coordinator
    co_return out;
  }
  if (opts.all_replicas && min_insync_replicas(topic->effective) > 1) {
    out.error = errc::not_enough_replicas;  // one node is the whole in-sync replica set
    co_return out;
  }
  if (auto ec = check_batch(batch, opts.allow_zstd)) {
    out.error = ec;
    co_return out;
  }
  const unsigned owner = broker_.owner(tp.topic, tp.partition);
  append_request req;
  req.wait = opts.wait_durable;
  req.deliver_now = opts.deliver_now;
  req.delay_ms = opts.deliver_now ? 0 : topic->delivery_delay_ms;
  req.topic_id = topic->id;
  try {
    out = co_await broker_.shards().invoke_on(owner, append_on_owner(tp, batch, req));
  } catch (const std::exception& e) {
    // Never answered as a success: the client retries (or reports) this partition.
    base::logger("broker")->error("produce to {} for {} failed: {}", tp.dir_name(), audit_name(who),
                                  e.what());
    out = produce_result{};
    out.error = errc::internal_error;
    co_return out;
  }
  if (!out.error && out.records > 0) {
    topic->bytes_in->add(batch.size());
    topic->records_in->add(static_cast<uint64_t>(out.records));
  }
  co_return out;
}

// On the owner: append, then wait until durable (unless the caller does not wait).
net::task<produce_result> partition_service::append_on_owner(topic_partition tp,
                                                             std::span<const uint8_t> batch,
                                                             append_request req) {
  produce_result out;
  auto log = broker_.local_log(tp);
  if (!log) {
    out.error = errc::unknown_topic;
    co_return out;
  }
  storage::partition_log::append_options ao;
  if (!req.deliver_now) {
    ao.hold_prefix = delay_header_prefix;
    ao.hold_all = req.delay_ms > 0;
  }
  auto r = log->append(batch, ao);
  if (!r) {
    out.error = to_broker_error(r.error());
    co_return out;
  }
  if (r->held) co_return co_await hold_on_owner(std::move(log), tp, batch, req);
  if (r->duplicate) duplicate_batches().add();
  out.base_offset = r->base_offset;
  out.duplicate = r->duplicate;
  // A retried batch already in the log is answered with its first offsets and not
  // counted again.
  out.records = r->duplicate ? 0 : r->record_count;
  out.log_start_offset = log->log_start_offset();
  out.log_append_time = r->log_append_time;
  if (req.wait) {
    auto ec = co_await net::await_callback<std::error_code>(
        [&](auto done) { log->wait_durable(r->last_offset + 1, std::move(done)); });
    if (ec) out.error = to_broker_error(ec);
  } else {
    // Nobody waits, but the records become durable (and so readable under the fsync
    // policy) with the next group commit rather than whenever someone else asks.
    log->wait_durable(r->last_offset + 1, [](std::error_code) {});
  }
  co_return out;
}

// A checked batch with records to hold: they go to this shard's delay store and the rest
// (keeping the producer's sequences) to the log, with no wait between the two, so that
// the sequence check still holds when the remainder is appended. The held records are
// written first: under the shard's journal, a durable remainder implies durable held
// records, and an idempotent producer's retry of a batch found in the log skips both.
net::task<produce_result> partition_service::hold_on_owner(
    std::shared_ptr<storage::partition_log> log, topic_partition tp, std::span<const uint8_t> batch,
    append_request req) {
  produce_result out;
  if (!broker_.local_delays().ready()) {
    // The first record ever held: make the internal topic, then start again (nothing
    // was stored).
    if (req.made_store) {
      out.error = errc::temporarily_unavailable;
      co_return out;
    }
    if (auto ec = co_await broker_.create_delayed_topic()) {
      out.error = ec;
      co_return out;
    }
    req.made_store = true;
    co_return co_await append_on_owner(tp, batch, req);
  }
  auto split = split_delayed(batch, base::wall_ms(), req.delay_ms, req.topic_id, tp.partition);
  if (!split) {
    out.error = split.error();
    co_return out;
  }
  std::optional<storage::partition_log::append_result> stored;
  if (split->held.empty()) {
    // Every due time has passed: stored as sent.
    auto r = log->append(batch);
    if (!r) {
      out.error = to_broker_error(r.error());
      co_return out;
    }
    stored = *r;
  } else {
    const auto h = storage::decode_header(batch);
    if (h.producer_id >= 0) {
      auto seen = log->check_producer(h);
      if (!seen) {
        out.error = to_broker_error(seen.error());
        co_return out;
      }
      if (*seen) {
        // A retry of a batch whose records were held before: nothing is held again.
        duplicate_batches().add();
        out.base_offset = (*seen)->first_offset;
        out.duplicate = true;
        out.held = std::move(split->held_index);
        out.log_start_offset = log->log_start_offset();
        co_return out;
      }
    }
    auto held = broker_.local_delays().hold(split->held);
    if (held.error) {
      broker_.local_delays().release(held);
      out.error = held.error;
      co_return out;
    }
    if (split->remainder) {
      storage::partition_log::append_options ao;
      ao.allow_offset_gaps = true;
      auto r = log->append(*split->remainder, ao);
      if (!r) {
        broker_.local_delays().release(held);
        out.error = to_broker_error(r.error());
        co_return out;
      }
      stored = *r;
    }
    out.held = std::move(split->held_index);
    auto held_log = held.log;
    const int64_t held_end = held.end;
    if (req.wait) {
      auto ec = co_await net::await_callback<std::error_code>(
          [&](auto done) { held_log->wait_durable(held_end, std::move(done)); });
      if (ec) {
        out.error = to_broker_error(ec);
        co_return out;
      }
    } else {
      held_log->wait_durable(held_end, [](std::error_code) {});
    }
  }
  out.log_start_offset = log->log_start_offset();
  if (!stored) co_return out;
  out.base_offset = stored->base_offset;
  out.records = stored->record_count;
  out.log_append_time = stored->log_append_time;
  const int64_t end = stored->last_offset + 1;
  if (req.wait) {
    auto ec = co_await net::await_callback<std::error_code>(
        [&](auto done) { log->wait_durable(end, std::move(done)); });
    if (ec) out.error = to_broker_error(ec);
  } else {
    log->wait_durable(end, [](std::error_code) {});
  }
  co_return out;
}

// ---- read ----

read_plan partition_service::plan_read(const request_identity& /*who*/,
                                       std::vector<read_plan::part> parts) const {
  read_plan plan;
  plan.parts_ = std::move(parts);
  plan.errors_.resize(plan.parts_.size());
  const unsigned here = net::shard_set::current();
  for (size_t i = 0; i < plan.parts_.size(); ++i) {
    const auto& p = plan.parts_[i];
    std::shared_ptr<const topic_metadata> topic;
    if (auto ec = check_partition(p.name, &topic)) {
      plan.errors_[i] = ec;
      continue;
    }
    const unsigned owner = broker_.owner(p.name.topic, p.name.partition);
    auto g = std::find_if(plan.groups_.begin(), plan.groups_.end(),
                          [owner](const read_plan::shard_group& x) { return x.owner == owner; });
    if (g == plan.groups_.end()) {
      plan.groups_.push_back({owner, {}});
      g = plan.groups_.end() - 1;
    }
    g->entries.push_back({i, std::move(topic)});
  }
  // The caller's own shard first: it needs no hop.
  std::stable_partition(plan.groups_.begin(), plan.groups_.end(),
                        [here](const read_plan::shard_group& g) { return g.owner == here; });
  return plan;
}

net::task<std::vector<read_result>> partition_service::read(const request_identity& /*who*/,
                                                            const read_plan& plan,
                                                            size_t total_max_bytes) {
  std::vector<read_result> out(plan.parts_.size());
  for (size_t i = 0; i < plan.parts_.size(); ++i) out[i].error = plan.errors_[i];
  const unsigned here = net::shard_set::current();
  size_t used = 0;
  for (size_t g = 0; g < plan.groups_.size(); ++g) {
    const auto& group = plan.groups_[g];
    std::vector<read_result> reads;
    if (group.owner == here) {
      reads = co_await read_on_owner(plan, g, used, total_max_bytes);
    } else {
      reads = co_await broker_.shards().invoke_on(group.owner,
                                                  read_on_owner(plan, g, used, total_max_bytes));
    }
    for (size_t k = 0; k < reads.size(); ++k) {
      const auto& e = group.entries[k];
      auto& res = reads[k];
      used += res.records.size();
      if (!res.records.empty()) {
        e.topic->bytes_out->add(res.records.size());
        e.topic->records_out->add(static_cast<uint64_t>(
            std::max<int64_t>(res.next_offset - plan.parts_[e.index].offset, 0)));
      }
      out[e.index] = std::move(res);
    }
  }
  co_return out;
}

// On the owner: the group's partitions in order, each within its max_bytes and the
// read's total counted from `used`; only the read's first batch may exceed them.
net::task<std::vector<read_result>> partition_service::read_on_owner(const read_plan& plan,
                                                                     size_t group, size_t used,
                                                                     size_t total_max_bytes) {
  const auto& entries = plan.groups_[group].entries;
  std::vector<read_result> out(entries.size());
  for (size_t k = 0; k < entries.size(); ++k) {
    const auto& p = plan.parts_[entries[k].index];
    auto& res = out[k];
    const size_t budget =
        std::min(p.max_bytes, total_max_bytes > used ? total_max_bytes - used : 0);
    const bool min_one_batch = used == 0;
    auto log = broker_.local_log(p.name);
    if (!log) {
      res.error = errc::unknown_topic;
      continue;
    }
    res.high_watermark = log->high_watermark();
    res.log_start_offset = log->log_start_offset();
    if ((budget == 0 && !min_one_batch) || p.offset == res.high_watermark) continue;
    storage::partition_log::read_options opts;
    opts.min_one_batch = min_one_batch;
    auto r = log->read(p.offset, budget, opts);
    if (!r) {
      res.error = to_broker_error(r.error());
      continue;
    }
    res.records = std::move(r->data);
    res.next_offset = r->next_offset;
    used += res.records.size();
  }
  co_return out;
}

// ---- waiting for data ----

net::task<void> partition_service::watch(const read_plan& plan, std::vector<bool> wanted,
                                         std::shared_ptr<data_waiter> w) {
  const unsigned here = net::shard_set::current();
  for (const auto& group : plan.groups_) {
    std::vector<std::pair<topic_partition, int64_t>> parts;
    for (const auto& e : group.entries) {
      if (e.index < wanted.size() && wanted[e.index]) {
        parts.emplace_back(plan.parts_[e.index].name, plan.parts_[e.index].offset);
      }
    }
    if (parts.empty()) continue;
    if (group.owner == here) {
      for (const auto& [tp, offset] : parts) park(tp, offset, w);
    } else {
      co_await broker_.shards().invoke_on(group.owner, park_on_owner(std::move(parts), w));
    }
  }
}

net::task<void> partition_service::park_on_owner(
    std::vector<std::pair<topic_partition, int64_t>> parts, std::shared_ptr<data_waiter> w) {
  for (const auto& [tp, offset] : parts) park(tp, offset, w);
  co_return;
}

// On the partition's owner: parks `w` until the high watermark passes `offset` (or
// wakes it at once if it already has).
void partition_service::park(const topic_partition& tp, int64_t offset,
                             const std::shared_ptr<data_waiter>& w) {
  auto log = broker_.local_log(tp);
  if (!log) return;  // the waiter's own deadline answers
  if (log->high_watermark() > offset || log->failure()) {
    w->fire();
    return;
  }
  auto& shard = *waiters_[net::shard_set::current()];
  auto& list = shard.partitions[tp];
  if (list.log.lock() != log) {
    list.log = log;
    auto* target = &list;
    log->set_high_watermark_listener([target](int64_t hw) { target->on_high_watermark(hw); });
  }
  if (list.entries.size() >= list.sweep_at) {
    std::erase_if(list.entries, [](const shard_waiters::entry& e) {
      auto live = e.waiter.lock();
      return !live || live->finished();
    });
    list.sweep_at = std::max<size_t>(64, list.entries.size() * 2);
  }
  list.entries.push_back({offset, w});
  // Now and then, forget the partitions whose logs are gone.
  if (++shard.parks_since_sweep >= 4096) {
    shard.parks_since_sweep = 0;
    std::erase_if(shard.partitions, [](const auto& kv) { return kv.second.log.expired(); });
  }
}

// ---- offsets ----

net::task<offset_result> partition_service::list_offset(const request_identity& /*who*/,
                                                        topic_partition tp, offset_spec spec,
                                                        int64_t timestamp) {
  offset_result out;
  if (auto ec = check_partition(tp, nullptr)) {
    out.error = ec;
    co_return out;
  }
  if (spec == offset_spec::by_timestamp && timestamp < 0) {
    out.error = errc::invalid_request;
    co_return out;
  }
  const unsigned owner = broker_.owner(tp.topic, tp.partition);
  co_return co_await broker_.shards().invoke_on(owner, offset_on_owner(tp, spec, timestamp));
}

namespace {

// On the owner; a plain function, so the coroutine below holds no lambda in its frame.
offset_result lookup_offset(const storage::partition_log& log, offset_spec spec, int64_t ts) {
  offset_result out;
  base::result<std::optional<storage::timestamp_offset>> found{
      std::optional<storage::timestamp_offset>{}};
  switch (spec) {
    case offset_spec::latest:
      out.offset = log.high_watermark();
      return out;
    case offset_spec::earliest:
      out.offset = log.log_start_offset();
      return out;
    case offset_spec::max_timestamp:
      found = log.max_timestamp_record();
      break;
    case offset_spec::by_timestamp:
      found = log.offset_for_timestamp(ts);
      break;
  }
  if (!found) {
    out.error = to_broker_error(found.error());
  } else if (*found) {
    out.offset = (*found)->offset;
    out.timestamp = (*found)->timestamp;
  }
  return out;
}

}  // namespace

net::task<offset_result> partition_service::offset_on_owner(topic_partition tp, offset_spec spec,
                                                            int64_t ts) {
  auto log = broker_.local_log(tp);
  if (!log) {
    offset_result out;
    out.error = errc::unknown_topic;
    co_return out;
  }
  co_return lookup_offset(*log, spec, ts);
}

net::task<offset_result> partition_service::log_end(const request_identity& /*who*/,
                                                    topic_partition tp) {
  offset_result out;
  if (auto ec = check_partition(tp, nullptr)) {
    out.error = ec;
    co_return out;
  }
  co_return co_await broker_.shards().invoke_on(broker_.owner(tp.topic, tp.partition),
                                                log_end_on_owner(tp));
}

net::task<offset_result> partition_service::log_end_on_owner(topic_partition tp) {
  offset_result out;
  if (auto log = broker_.local_log(tp)) {
    out.offset = log->log_end_offset();
  } else {
    out.error = errc::unknown_topic;
  }
  co_return out;
}

net::task<trim_result> partition_service::delete_records(const request_identity& who,
                                                         topic_partition tp, int64_t offset) {
  trim_result out;
  if (auto ec = check_partition(tp, nullptr)) {
    out.error = ec;
    co_return out;
  }
  if (broker::is_internal(tp.topic)) {
    out.error = errc::internal_topic;
    co_return out;
  }
  if (offset < -1) {
    out.error = errc::offset_out_of_range;
    co_return out;
  }
  out = co_await broker_.shards().invoke_on(broker_.owner(tp.topic, tp.partition),
                                            trim_on_owner(tp, offset));
  if (!out.error) {
    base::logger("broker")->info("partition {}: records below offset {} deleted, for {}",
                                 tp.dir_name(), out.log_start_offset, audit_name(who));
  }
  co_return out;
}

net::task<trim_result> partition_service::trim_on_owner(topic_partition tp, int64_t offset) {
  trim_result out;
  auto log = broker_.local_log(tp);
  if (!log) {
    out.error = errc::unknown_topic;
    co_return out;
  }
  if (offset == -1) offset = log->high_watermark();
  auto r = co_await net::await_callback<base::result<int64_t>>(
      [&](auto done) { log->delete_records_before(offset, std::move(done)); });
  if (!r) {
    out.error = to_broker_error(r.error());
  } else {
    out.log_start_offset = *r;
  }
  co_return out;
}

net::task<producers_result> partition_service::producers(const request_identity& /*who*/,
                                                         topic_partition tp) {
  producers_result out;
  if (auto ec = check_partition(tp, nullptr)) {
    out.error = ec;
    co_return out;
  }
  co_return co_await broker_.shards().invoke_on(broker_.owner(tp.topic, tp.partition),
                                                producers_on_owner(tp));
}

net::task<producers_result> partition_service::producers_on_owner(topic_partition tp) {
  producers_result out;
  auto log = broker_.local_log(tp);
  if (!log) {
    out.error = errc::unknown_topic;
    co_return out;
  }
  for (const auto& [id, e] : log->producers().entries()) {
    producer_info p;
    p.producer_id = id;
    p.epoch = e.epoch;
    p.last_sequence = e.batches.empty() ? -1 : e.batches.back().last_seq;
    p.last_write_ms = e.last_write_ms;
    out.producers.push_back(p);
  }
  co_return out;
}

}  // namespace broker
