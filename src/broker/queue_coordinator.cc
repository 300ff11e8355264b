#include "broker/queue_coordinator.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>

#include "base/clock.h"
#include "base/logging.h"
#include "base/metrics.h"
#include "broker/broker.h"
#include "net/await.h"
#include "net/shard.h"
#include "storage/batch_builder.h"
#include "storage/partition_log.h"
#include "storage/record_batch.h"

namespace broker {
namespace {

constexpr auto kTick = std::chrono::milliseconds(100);
// A dead-letter write that failed (the topic missing, a read or produce error) is tried
// again after this.
constexpr int64_t kDeadLetterRetryMs = 5000;
// A receive that found nothing looks again at least this often (leases ending, nacked
// records becoming due, partitions added).
constexpr int64_t kRecheckMs = 250;

std::string_view as_chars(const std::vector<uint8_t>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

// A refused creation: the error and what to tell the client.
queue_create_result refused(std::error_code ec, std::string message) {
  queue_create_result out;
  out.error = ec;
  out.message = std::move(message);
  return out;
}

}  // namespace

// A queue's figures for /metrics: written on the queue's shard, read at scrape time.
struct queue_figures {
  std::atomic<int64_t> leased{0};
  std::atomic<int64_t> available{0};  // handed out before and available again (or delayed)
  std::atomic<int64_t> delayed{0};
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> redeliveries{0};
  std::atomic<uint64_t> lease_expiries{0};
  std::atomic<int64_t> oldest_unfinished_ms{-1};  // see queue_partition::counts
};

namespace {
// Queues on every shard, for the broker-wide limit.
std::atomic<size_t> g_queues{0};
}  // namespace

// Partitions that receives and settles changed and did not write yet, and those waiting
// for the write: one write of each changed partition's snapshot serves them all, and one
// write is in flight at a time (a group commit). Workers that ack record by record then
// cost one snapshot per partition per durable write, not one per ack.
struct queue_coordinator::pending_writes {
  std::set<int32_t> partitions;
  std::vector<std::function<void(std::error_code)>> waiters;
  bool running = false;
};

struct queue_coordinator::entry {
  explicit entry(const std::string& name) : figures(std::make_shared<queue_figures>()) {
    g_queues.fetch_add(1);
    auto& reg = base::metrics::registry::global();
    const auto gauge = [&](const char* metric, const char* help, auto read) {
      gauge_ids.push_back(reg.add_gauge(
          metric, help,
          [name, f = figures, read](std::vector<std::pair<base::metrics::labels, double>>& out) {
            out.push_back({{{"queue", name}}, static_cast<double>(read(*f))});
          }));
    };
    gauge("riptide_queue_leased", "Records of the queue leased to a worker now",
          [](const queue_figures& f) { return f.leased.load(); });
    gauge("riptide_queue_available_again",
          "Records handed out before and available again (delayed ones included)",
          [](const queue_figures& f) { return f.available.load(); });
    gauge("riptide_queue_delayed", "Records nacked with a delay that is not over",
          [](const queue_figures& f) { return f.delayed.load(); });
    gauge("riptide_queue_delivered", "Records handed out by the queue since the broker started",
          [](const queue_figures& f) { return f.delivered.load(); });
    gauge("riptide_queue_acked", "Records acked since the broker started",
          [](const queue_figures& f) { return f.acked.load(); });
    gauge("riptide_queue_dead_lettered", "Records dead-lettered since the broker started",
          [](const queue_figures& f) { return f.dead_lettered.load(); });
    gauge("riptide_queue_redeliveries",
          "Records handed out again (after a lease ended or a nack) since the broker started",
          [](const queue_figures& f) { return f.redeliveries.load(); });
    gauge("riptide_queue_oldest_unacked_age_seconds",
          "Age, by its timestamp, of the oldest record handed out and not yet acked or "
          "dead-lettered (0: none)",
          [](const queue_figures& f) {
            const int64_t ts = f.oldest_unfinished_ms.load();
            return ts < 0
                       ? 0.0
                       : static_cast<double>(std::max<int64_t>(0, base::wall_ms() - ts)) / 1000.0;
          });
    gauge("riptide_queue_lease_expiries",
          "Leases that ended without a decision since the "
          "broker started",
          [](const queue_figures& f) { return f.lease_expiries.load(); });
  }
  ~entry() {
    g_queues.fetch_sub(1);
    for (auto id : gauge_ids) base::metrics::registry::global().remove_gauge(id);
  }
  entry(const entry&) = delete;
  entry& operator=(const entry&) = delete;

  // The leased, available and delayed figures, after a change.
  void publish() {
    const int64_t now = base::wall_ms();
    int64_t leased = 0, available = 0, delayed = 0, oldest = -1;
    for (const auto& [p, part] : parts) {
      const auto c = part.count(now);
      leased += static_cast<int64_t>(c.leased);
      available += static_cast<int64_t>(c.available);
      delayed += static_cast<int64_t>(c.delayed);
      if (c.oldest_unfinished_ms >= 0 && (oldest < 0 || c.oldest_unfinished_ms < oldest)) {
        oldest = c.oldest_unfinished_ms;
      }
    }
    figures->oldest_unfinished_ms = oldest;
    figures->leased = leased;
    figures->available = available;
    figures->delayed = delayed;
  }

  queue_definition def;
  std::map<int32_t, queue_partition> parts;
  // Receives waiting for records; the ended ones are swept when the list doubles.
  std::vector<std::weak_ptr<net::asio::steady_timer>> receivers;
  size_t receivers_sweep_at = 64;
  std::shared_ptr<queue_figures> figures;
  std::vector<uint64_t> gauge_ids;
  int32_t next_partition = 0;  // where the next receive starts looking: fairness
  // Records being produced to the dead-letter topic now: not sent a second time meanwhile.
  std::set<std::pair<int32_t, int64_t>> dead_lettering;
  std::shared_ptr<pending_writes> writes = std::make_shared<pending_writes>();
};

struct queue_coordinator::ticker {
  explicit ticker(const net::asio::any_io_executor& ex) : timer(ex) {}
  net::asio::steady_timer timer;
};

queue_coordinator::queue_coordinator(broker& b, unsigned shard, queue_options opts)
    : broker_(b), shard_(shard), opts_(opts) {}

queue_coordinator::~queue_coordinator() = default;

queue_coordinator::entry* queue_coordinator::find(const std::string& name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

base::status queue_coordinator::load() {
  size_t records = 0;
  for (const auto& log : broker_.local_offsets_logs()) {
    auto st = log->for_each_batch(
        log->log_start_offset(), log->high_watermark(), [&](std::span<const uint8_t> batch) {
          (void)storage::for_each_record(batch, [&](const storage::record_view& rec) {
            auto key = rec.key ? decode_queue_key(*rec.key) : std::nullopt;
            if (!key) return true;
            ++records;
            if (!key->partition) {
              auto def = rec.value ? decode_queue_definition(*rec.value) : std::nullopt;
              if (def) {
                auto& e = queues_[key->queue];
                if (!e || e->def.topic != def->topic) e = std::make_unique<entry>(key->queue);
                e->def = std::move(*def);
              } else {
                queues_.erase(key->queue);
              }
              return true;
            }
            auto* e = find(key->queue);
            auto part = rec.value ? decode_queue_partition(*rec.value) : std::nullopt;
            if (rec.value && !part) {
              base::logger("queues")->warn(
                  "queue '{}': the state of partition {} is in a form this version cannot "
                  "read (written by a newer one?); the partition is read again from its start",
                  key->queue, key->partition->second);
            }
            if (e && part && key->partition->first == e->def.topic) {
              e->parts[key->partition->second] = std::move(*part);
            }
            return true;
          });
        });
    if (!st) return st.error();
  }
  for (auto& [name, e] : queues_) e->publish();
  if (!queues_.empty()) {
    base::logger("queues")->info("shard {}: loaded {} queue(s) ({} records)", shard_,
                                 queues_.size(), records);
  }
  return {};
}

net::task<void> queue_coordinator::run_timers() {
  timer_ = std::make_unique<ticker>(co_await net::asio::this_coro::executor);
  while (!stopping_) {
    timer_->timer.expires_after(kTick);
    co_await timer_->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    if (stopping_) break;
    co_await expire_all();
  }
}

void queue_coordinator::stop() {
  stopping_ = true;
  if (timer_) timer_->timer.cancel();
  for (auto& [name, e] : queues_) wake_receivers(*e);
}

void queue_coordinator::wake_receivers(entry& e) {
  for (auto& w : e.receivers) {
    if (auto t = w.lock()) t->cancel();
  }
  e.receivers.clear();
}

// Leases that ended: their records are available again (receivers waiting are woken), or
// dead_pending after max_deliveries; and the dead_pending records due are dead-lettered.
net::task<void> queue_coordinator::expire_all() {
  const int64_t now = base::wall_ms();
  std::vector<std::string> names;
  for (const auto& [name, e] : queues_) names.push_back(name);
  for (const auto& name : names) {
    auto* e = find(name);
    if (!e) continue;
    std::vector<int32_t> changed;
    std::vector<std::pair<int32_t, std::vector<int64_t>>> dead;
    for (auto& [p, part] : e->parts) {
      const uint64_t expired = part.expire(now, e->def);
      e->figures->lease_expiries += expired;
      if (expired > 0) changed.push_back(p);
      auto due = part.dead_letters_due(now);
      if (!due.empty()) dead.emplace_back(p, std::move(due));
    }
    if (!changed.empty()) {
      e->publish();
      wake_receivers(*e);
      // The records now dead_pending are durable as such before they are written to the
      // dead-letter topic: after a crash they are dead-lettered again, never handed out.
      if (auto ec = co_await persist(name, changed, false)) continue;
    }
    for (auto& [p, offsets] : dead) co_await dead_letter(name, p, std::move(offsets));
  }
}

net::task<std::error_code> queue_coordinator::persist(const std::string& name,
                                                      std::vector<int32_t> partitions,
                                                      bool definition) {
  auto* e = find(name);
  state_records records;
  if (definition) {
    records.emplace_back(encode_queue_key({name, std::nullopt}),
                         e ? std::optional(encode_queue_definition(e->def)) : std::nullopt);
  }
  for (int32_t p : partitions) {
    if (!e || !e->parts.count(p)) continue;
    records.emplace_back(encode_queue_key({name, std::pair(e->def.topic, p)}),
                         encode_queue_partition(e->parts.at(p)));
  }
  co_return co_await write(name, std::move(records));
}

net::task<std::error_code> queue_coordinator::persist_grouped(const std::string& name,
                                                              std::vector<int32_t> partitions) {
  auto* e = find(name);
  if (!e) co_return errc::group_id_not_found;
  auto w = e->writes;
  w->partitions.insert(partitions.begin(), partitions.end());
  auto ex = co_await net::asio::this_coro::executor;
  co_return co_await net::await_callback<std::error_code>([&](auto done) {
    w->waiters.push_back(std::move(done));
    if (!w->running) {
      w->running = true;
      net::asio::co_spawn(ex, write_loop(name, w), net::asio::detached);
    }
  });
}

net::task<void> queue_coordinator::write_loop(std::string name, std::shared_ptr<pending_writes> w) {
  while (!w->waiters.empty()) {
    auto waiters = std::move(w->waiters);
    w->waiters.clear();
    std::vector<int32_t> partitions(w->partitions.begin(), w->partitions.end());
    w->partitions.clear();
    std::error_code ec = errc::group_id_not_found;  // deleted (or made again) meanwhile
    if (auto* e = find(name); e && e->writes == w) {
      ec = co_await persist(name, std::move(partitions), false);
    }
    for (auto& done : waiters) done(ec);
  }
  w->running = false;
}

// Appends `records` to the queue's partition of the offsets topic and waits until they
// are durable.
net::task<std::error_code> queue_coordinator::write(std::string name, state_records records) {
  if (records.empty()) co_return std::error_code{};
  auto log = broker_.local_log({offsets_topic, broker_.offsets_partition(name)});
  if (!log) co_return errc::coordinator_not_available;
  // One batch per record: a snapshot may be large (max_in_flight records), and each must
  // fit the offsets topic's batch limit on its own.
  int64_t end = -1;
  for (const auto& [k, v] : records) {
    storage::batch_builder b(base::wall_ms());
    if (v) {
      b.add(as_chars(k), as_chars(*v));
    } else {
      b.add(as_chars(k), std::nullopt);
    }
    auto batch = b.build();
    auto a = log->append(batch);
    if (!a) co_return to_broker_error(a.error());
    end = a->last_offset + 1;
  }
  co_return co_await net::await_callback<std::error_code>(
      [&](auto done) { log->wait_durable(end, std::move(done)); });
}

net::task<queue_create_result> queue_coordinator::create(request_identity who, queue_definition q) {
  queue_create_result out;
  if (stopping_) co_return refused(errc::coordinator_not_available, "the broker is stopping");
  if (q.visibility_timeout_ms < 1 || q.visibility_timeout_ms > opts_.max_visibility_ms) {
    co_return refused(errc::invalid_request, "visibility_timeout_ms must be from 1 to " +
                                                 std::to_string(opts_.max_visibility_ms));
  }
  if (q.max_deliveries < 1 || q.max_deliveries > 1000) {
    co_return refused(errc::invalid_request, "max_deliveries must be from 1 to 1000");
  }
  if (q.max_in_flight < 1 || q.max_in_flight > opts_.max_in_flight) {
    co_return refused(errc::invalid_request,
                      "max_in_flight must be from 1 to " + std::to_string(opts_.max_in_flight));
  }
  if (q.backoff_ms < 0 || q.backoff_ms > opts_.max_visibility_ms ||
      q.backoff_max_ms < q.backoff_ms) {
    co_return refused(errc::invalid_request,
                      "retry_backoff_ms must be from 0 to " +
                          std::to_string(opts_.max_visibility_ms) +
                          ", and retry_backoff_max_ms at least retry_backoff_ms");
  }
  if (q.dead_letter_topic.empty()) q.dead_letter_topic = q.name + ".dlq";
  if (q.dead_letter_topic == q.topic) {
    co_return refused(errc::invalid_request, "the dead-letter topic must not be the queue's topic");
  }
  auto meta = broker_.metadata();
  auto topic = meta->find(q.topic);
  if (!topic) {
    co_return refused(errc::unknown_topic, "topic '" + q.topic + "' does not exist");
  }
  if (auto* e = find(q.name)) {
    q.created_ms = e->def.created_ms;
    q.topic_id = e->def.topic_id;
    if (e->def == q) {
      out.def = e->def;
      co_return out;
    }
    co_return refused(errc::topic_exists,
                      "queue '" + q.name + "' exists with another definition; delete it first");
  }
  if (g_queues.load() >= opts_.max_queues) {
    co_return refused(errc::limit_exceeded, "the broker holds " + std::to_string(opts_.max_queues) +
                                                " queues already (queues.max_queues); delete "
                                                "unused ones");
  }
  if (!meta->find(q.dead_letter_topic)) {
    config_map no_configs;
    auto made = co_await broker_.create_topic(who, q.dead_letter_topic, 1, no_configs);
    if (made.error && made.error != make_error_code(errc::topic_exists)) {
      co_return refused(made.error, "cannot create the dead-letter topic '" + q.dead_letter_topic +
                                        "': " + made.message);
    }
  }
  // Where each partition starts: its log start, or its end now.
  std::map<int32_t, queue_partition> parts;
  for (int32_t p = 0; p < topic->partitions; ++p) {
    const topic_partition tp{q.topic, p};
    const auto spec = q.from_earliest ? offset_spec::earliest : offset_spec::latest;
    auto r = co_await broker_.data().list_offset(who, tp, spec);
    if (r.error)
      co_return refused(r.error, "cannot read where partition " + std::to_string(p) + " of '" +
                                     q.topic + "' starts");
    parts[p].start = parts[p].next = std::max<int64_t>(0, r.offset);
  }
  if (find(q.name)) co_return refused(errc::topic_exists, "queue '" + q.name + "' exists");
  q.created_ms = base::wall_ms();
  q.topic_id = topic->id;
  auto e = std::make_unique<entry>(q.name);
  e->def = q;
  e->parts = std::move(parts);
  std::vector<int32_t> all;
  for (const auto& [p, part] : e->parts) all.push_back(p);
  queues_[q.name] = std::move(e);
  if (auto ec = co_await persist(q.name, all, true)) {
    queues_.erase(q.name);
    co_return refused(ec, "cannot store the queue");
  }
  out.def = q;
  out.created = true;
  co_return out;
}

net::task<std::error_code> queue_coordinator::remove(request_identity /*who*/, std::string name) {
  auto* e = find(name);
  if (!e) co_return errc::group_id_not_found;
  // Tombstones for the definition and every partition's snapshot.
  state_records tombstones;
  tombstones.emplace_back(encode_queue_key({name, std::nullopt}), std::nullopt);
  for (const auto& [p, part] : e->parts) {
    tombstones.emplace_back(encode_queue_key({name, std::pair(e->def.topic, p)}), std::nullopt);
  }
  wake_receivers(*e);
  queues_.erase(name);
  co_return co_await write(name, std::move(tombstones));
}

std::vector<queue_definition> queue_coordinator::list() const {
  std::vector<queue_definition> out;
  for (const auto& [name, e] : queues_) out.push_back(e->def);
  return out;
}

std::vector<queue_position_stat> queue_coordinator::position_stats() const {
  std::vector<queue_position_stat> out;
  const int64_t now = base::wall_ms();
  for (const auto& [name, e] : queues_) {
    for (const auto& [p, part] : e->parts) {
      const auto c = part.count(now);
      out.push_back({name, e->def.topic, p, part.next, c.available, c.delayed});
    }
  }
  return out;
}

net::task<queue_info> queue_coordinator::describe(request_identity who, std::string name) {
  queue_info out;
  auto* e = find(name);
  if (!e) {
    out.error = errc::group_id_not_found;
    co_return out;
  }
  out.def = e->def;
  out.dead_lettered = e->figures->dead_lettered;
  out.redeliveries = e->figures->redeliveries;
  out.lease_expiries = e->figures->lease_expiries;
  const int64_t now = base::wall_ms();
  std::vector<std::pair<int32_t, queue_partition>> parts(e->parts.begin(), e->parts.end());
  const std::string topic = e->def.topic;
  for (auto& [p, part] : parts) {
    queue_partition_info info{p, part.start, part.next, -1, part.count(now)};
    const topic_partition tp{topic, p};
    auto r = co_await broker_.data().list_offset(who, tp, offset_spec::latest);
    if (!r.error) info.log_end = r.offset;
    out.partitions.push_back(info);
  }
  co_return out;
}

net::task<queue_receive_result> queue_coordinator::receive(
    request_identity who, std::string name, std::string consumer, size_t max_records,
    size_t max_bytes, std::chrono::milliseconds wait,
    std::shared_ptr<receive_interrupt> interrupt) {
  queue_receive_result out;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  max_records = std::max<size_t>(1, max_records);
  auto& data = broker_.data();
  for (;;) {
    auto* e = find(name);
    if (!e || stopping_) {
      out.error = e ? errc::coordinator_not_available : errc::group_id_not_found;
      co_return out;
    }
    auto meta = broker_.metadata()->find(e->def.topic);
    if (!meta) {
      out.error = errc::unknown_topic;
      co_return out;
    }
    if (meta->id != e->def.topic_id) {
      // The topic was deleted and made again: the queue starts over on the new one.
      base::logger("queues")->warn(
          "queue '{}': topic '{}' was made again; the queue starts "
          "over on the new topic",
          name, e->def.topic);
      e->def.topic_id = meta->id;
      for (auto& [p, part] : e->parts) part = queue_partition{};
      std::vector<int32_t> all;
      for (const auto& [p, part] : e->parts) all.push_back(p);
      if (auto ec = co_await persist(name, std::move(all), true)) {
        out.error = ec;
        co_return out;
      }
      continue;
    }
    const queue_definition def = e->def;
    std::vector<int32_t> changed;
    std::vector<std::pair<int32_t, int64_t>> watch;  // partitions read to their end
    size_t bytes = 0;
    const int32_t first = e->next_partition % std::max(1, meta->partitions);
    // Where to read each partition from: its first record due again, else its first
    // never handed out (unless its in-flight window is full).
    struct wanted {
      int32_t partition;
      int64_t from;
    };
    std::vector<wanted> wants;
    for (int32_t i = 0; i < meta->partitions; ++i) {
      const int32_t p = (first + i) % meta->partitions;
      e = find(name);
      if (!e) break;
      if (e->parts[p].start < 0) {
        // A partition added after the queue was made: from its start.
        const topic_partition tp{def.topic, p};
        auto r = co_await data.list_offset(who, tp, offset_spec::earliest);
        e = find(name);
        if (!e || r.error) continue;
        auto& fresh = e->parts[p];
        if (fresh.start < 0) fresh.start = fresh.next = std::max<int64_t>(0, r.offset);
      }
      const int64_t now = base::wall_ms();
      auto& sp = e->parts[p];
      int64_t from = -1;
      for (const auto& [offset, d] : sp.tracked) {
        if (sp.due(offset, now)) {
          from = offset;
          break;
        }
      }
      if (from < 0) {
        if (sp.full(def)) continue;
        from = sp.next;
      }
      wants.push_back({p, from});
    }
    // One read of them all: a hop per owning shard, within max_bytes over all (the first
    // partitions of the rotation first).
    const size_t read_bytes = std::min<size_t>(max_bytes, 1u << 20);
    std::vector<read_result> reads;
    if (!wants.empty()) {
      std::vector<read_plan::part> rp;
      for (const auto& w : wants) rp.push_back({{def.topic, w.partition}, w.from, read_bytes});
      const auto plan = data.plan_read(who, std::move(rp));
      reads = co_await data.read(who, plan, read_bytes);
    }
    e = find(name);
    for (size_t j = 0; e && j < wants.size() && out.messages.size() < max_records; ++j) {
      const int32_t p = wants[j].partition;
      const int64_t from = wants[j].from;
      auto& r = reads.at(j);
      auto& now_part = e->parts[p];
      if (r.error) {
        if (r.error == make_error_code(errc::offset_out_of_range) && r.high_watermark >= 0 &&
            r.high_watermark < now_part.next) {
          // The partition ends before what the queue has read (its tail was lost in a
          // crash, under a durability policy that allows it): what it no longer has is
          // forgotten, and the queue reads on from its end.
          base::logger("queues")->warn(
              "queue '{}': partition {} of '{}' ends at {} but the queue had read to {}; "
              "reading on from {}",
              name, p, def.topic, r.high_watermark, now_part.next, r.high_watermark);
          now_part.tracked.erase(now_part.tracked.lower_bound(r.high_watermark),
                                 now_part.tracked.end());
          now_part.next = r.high_watermark;
          now_part.start = std::min(now_part.start, now_part.next);
          now_part.advance();
          changed.push_back(p);
        } else if (r.error == make_error_code(errc::offset_out_of_range) &&
                   r.log_start_offset > now_part.start) {
          now_part.advance(r.log_start_offset);  // retention removed them
          changed.push_back(p);
        }
        continue;
      }
      if (r.records.size() == 0) {
        if (from >= now_part.next) watch.emplace_back(p, now_part.next);
        continue;
      }
      auto flat = r.records.linearize();
      if (!flat) continue;
      auto decoded = decode_records(*flat, from, max_records * 4 + 64);
      if (!decoded) continue;
      // Keys whose earlier records are leased or waiting: ordering by key holds them.
      std::set<uint32_t> blocked;
      const bool by_key = def.ordering == queue_ordering::key;
      const int64_t at = base::wall_ms();
      if (by_key) {
        for (const auto& [offset, d] : now_part.tracked) {
          if (d.has_key && !d.finished() && !now_part.due(offset, at)) blocked.insert(d.key_hash);
        }
      }
      bool took = false;
      for (auto& rec : decoded->records) {
        if (out.messages.size() >= max_records || (bytes >= max_bytes && !out.messages.empty())) {
          break;
        }
        if (rec.offset < now_part.start) continue;
        const bool has_key = rec.key.has_value();
        const uint32_t hash = has_key ? murmur2(*rec.key) : 0;
        const bool known = now_part.tracked.count(rec.offset) > 0;
        if (known) {
          if (!now_part.due(rec.offset, at)) continue;
        } else if (rec.offset < now_part.next) {
          continue;  // finished and forgotten
        } else if (now_part.full(def)) {
          break;
        }
        if (by_key && has_key && blocked.count(hash)) {
          if (!known) {
            now_part.track(rec.offset, true, hash);
            took = true;
          }
          continue;
        }
        if (known && now_part.tracked.at(rec.offset).deliveries > 0) ++e->figures->redeliveries;
        now_part.lease(rec.offset, has_key, hash, consumer, at, def);
        if (auto& d = now_part.tracked.at(rec.offset); d.timestamp_ms < 0) {
          d.timestamp_ms = rec.timestamp;
        }
        if (by_key && has_key) blocked.insert(hash);
        bytes += rec.value.value_or("").size() + rec.key.value_or("").size();
        const int32_t deliveries = now_part.tracked.at(rec.offset).deliveries;
        out.messages.push_back({p, std::move(rec), deliveries, at + def.visibility_timeout_ms});
        took = true;
      }
      // Past control batches and compacted-away offsets at the end of what was read.
      if (decoded->records.empty() && decoded->next_offset > now_part.next &&
          from >= now_part.next) {
        now_part.next = decoded->next_offset;
        now_part.advance();
        took = true;
      }
      if (took) changed.push_back(p);
    }
    if (auto* again = find(name)) {
      again->next_partition = first + 1;
      again->figures->delivered += out.messages.size();
      if (!changed.empty()) again->publish();
    }
    if (!changed.empty()) {
      if (auto ec = co_await persist_grouped(name, changed)) {
        // Not durable: nothing is handed out (the leases stay; they end and the records
        // come back).
        out.messages.clear();
        out.error = ec;
        co_return out;
      }
    }
    if (!out.messages.empty() || std::chrono::steady_clock::now() >= deadline || stopping_ ||
        (interrupt && interrupt->fired())) {
      co_return out;
    }
    // Nothing yet: wait for a record at the end of a partition, a lease ending or a nack
    // (the tick wakes receivers), or the deadline.
    auto* w = find(name);
    if (!w) continue;
    auto timer = std::make_shared<net::asio::steady_timer>(co_await net::asio::this_coro::executor);
    timer->expires_at(std::min(
        deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(kRecheckMs)));
    if (w->receivers.size() >= w->receivers_sweep_at) {
      std::erase_if(w->receivers, [](const auto& r) { return r.expired(); });
      w->receivers_sweep_at = std::max<size_t>(64, 2 * w->receivers.size());
    }
    w->receivers.push_back(timer);
    std::shared_ptr<data_waiter> waiter;
    if (!watch.empty()) {
      waiter =
          std::make_shared<data_waiter>([weak = std::weak_ptr(timer), ex = timer->get_executor()] {
            net::asio::post(ex, [weak] {
              if (auto t = weak.lock()) t->cancel();
            });
          });
      std::vector<read_plan::part> wp;
      for (const auto& [p, offset] : watch) wp.push_back({{def.topic, p}, offset, 1});
      const auto plan = data.plan_read(who, std::move(wp));
      std::vector<bool> wanted(watch.size(), true);
      co_await data.watch(plan, std::move(wanted), waiter);
    }
    if (interrupt) {
      interrupt->arm([weak = std::weak_ptr(timer), ex = timer->get_executor()] {
        net::asio::post(ex, [weak] {
          if (auto t = weak.lock()) t->cancel();
        });
      });
    }
    co_await timer->async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    if (interrupt) {
      interrupt->disarm();
      if (interrupt->fired()) {
        if (waiter) waiter->finish();
        co_return out;  // a decision waits: answer it before reading again
      }
    }
    if (waiter) waiter->finish();
  }
}

net::task<queue_settle_result> queue_coordinator::settle(request_identity /*who*/, std::string name,
                                                         std::string consumer, settle_action action,
                                                         std::vector<queue_settle_item> items,
                                                         int64_t ms, std::string error) {
  queue_settle_result out;
  auto* e = find(name);
  if (!e) {
    out.error = errc::group_id_not_found;
    co_return out;
  }
  const int64_t now = base::wall_ms();
  if (action == settle_action::extend) ms = std::min(ms, opts_.max_visibility_ms);
  std::set<int32_t> changed;
  std::map<int32_t, std::vector<int64_t>> dead;
  for (const auto& it : items) {
    auto p = e->parts.find(it.partition);
    if (p == e->parts.end()) {
      out.outcomes.push_back(settle_error::not_delivered);
      continue;
    }
    bool to_dead = false;
    const auto r = p->second.settle(it.offset, consumer, action, now, ms, error, e->def, &to_dead);
    out.outcomes.push_back(r);
    if (r != settle_error::none) continue;
    changed.insert(it.partition);
    if (to_dead) dead[it.partition].push_back(it.offset);
  }
  for (int32_t p : changed) e->parts[p].advance();
  if (action == settle_action::ack) {
    for (auto r : out.outcomes) e->figures->acked += r == settle_error::none ? 1 : 0;
  }
  e->publish();
  if (action == settle_action::nack || action == settle_action::ack) {
    wake_receivers(*e);  // records available again, or room in the in-flight window
  }
  if (changed.empty()) co_return out;
  std::vector<int32_t> partitions(changed.begin(), changed.end());
  out.error = co_await persist_grouped(name, std::move(partitions));
  // Rejected records (and nacked ones out of deliveries) are durable as dead_pending: now
  // written to the dead-letter topic, or tried again by the tick.
  if (!out.error) {
    for (auto& [p, offsets] : dead) co_await dead_letter(name, p, std::move(offsets));
  }
  co_return out;
}

// Produces the dead_pending records at `offsets` of `partition` to the queue's dead-letter
// topic, with headers naming their origin, then marks them finished. One that cannot be
// written now (no dead-letter topic, a read or produce error) is tried again later.
net::task<void> queue_coordinator::dead_letter(std::string name, int32_t partition,
                                               std::vector<int64_t> offsets) {
  auto* e = find(name);
  if (!e || offsets.empty()) co_return;
  std::erase_if(offsets, [&](int64_t o) { return e->dead_lettering.count({partition, o}) > 0; });
  for (int64_t o : offsets) e->dead_lettering.insert({partition, o});
  // However this ends, the offsets are no longer being dead-lettered by this call.
  struct release {
    queue_coordinator* self;
    const std::string& name;
    int32_t partition;
    const std::vector<int64_t>& offsets;
    ~release() {
      if (auto* q = self->find(name)) {
        for (int64_t o : offsets) q->dead_lettering.erase({partition, o});
      }
    }
  } released{this, name, partition, offsets};
  const queue_definition def = e->def;
  auto& data = broker_.data();
  const auto& who = request_identity::internal();
  std::sort(offsets.begin(), offsets.end());
  auto dlq = broker_.metadata()->find(def.dead_letter_topic);
  bool changed = false;
  for (int64_t offset : offsets) {
    const int64_t retry_at = base::wall_ms() + kDeadLetterRetryMs;
    if (!dlq) {
      base::logger("queues")->warn(
          "queue '{}': dead-letter topic '{}' does not exist; offset {} "
          "of {}-{} is tried again in {} ms",
          name, def.dead_letter_topic, offset, def.topic, partition, kDeadLetterRetryMs);
      if (auto* q = find(name)) q->parts[partition].dead_letter_failed(offset, retry_at);
      continue;
    }
    std::vector<read_plan::part> rp;
    rp.push_back({{def.topic, partition}, offset, 1});
    const auto plan = data.plan_read(who, std::move(rp));
    auto reads = co_await data.read(who, plan, 1);
    const auto& r = reads.at(0);
    record rec;
    bool found = false;
    bool gone = r.error == make_error_code(errc::offset_out_of_range);  // retention took it
    if (!r.error && r.records.size() > 0) {
      if (auto flat = r.records.linearize()) {
        auto d = decode_records(*flat, offset, 1);
        if (d && !d->records.empty() && d->records.front().offset == offset) {
          rec = std::move(d->records.front());
          found = true;
        } else if (d) {
          gone = true;  // compacted away, or not a record
        }
      }
    }
    e = find(name);
    if (!e) co_return;
    auto it = e->parts[partition].tracked.find(offset);
    if (it == e->parts[partition].tracked.end() ||
        it->second.state != delivery_state::dead_pending) {
      continue;  // decided otherwise meanwhile
    }
    if (!found && !gone) {
      e->parts[partition].dead_letter_failed(offset, retry_at);  // a read error: later
      continue;
    }
    if (found) {
      rec.timestamp = -1;
      rec.headers.push_back({dlq_header_queue, name});
      rec.headers.push_back({dlq_header_topic, def.topic});
      rec.headers.push_back({dlq_header_partition, std::to_string(partition)});
      rec.headers.push_back({dlq_header_offset, std::to_string(offset)});
      rec.headers.push_back({dlq_header_deliveries, std::to_string(it->second.deliveries)});
      rec.headers.push_back({dlq_header_error, it->second.last_error});
      std::vector<record> one{std::move(rec)};
      const auto batch = build_batch(one, base::wall_ms());
      const int32_t target = partition % std::max(1, dlq->partitions);
      const topic_partition to{def.dead_letter_topic, target};
      const produce_options opts;
      auto produced = co_await data.produce(who, to, batch, opts);
      e = find(name);
      if (!e) co_return;
      if (produced.error) {
        base::logger("queues")->warn(
            "queue '{}': cannot dead-letter offset {} of {}-{} to '{}': {}; tried again in {} ms",
            name, offset, def.topic, partition, def.dead_letter_topic, produced.error.message(),
            kDeadLetterRetryMs);
        e->parts[partition].dead_letter_failed(offset, retry_at);
        continue;
      }
    }
    e->parts[partition].dead(offset);
    ++e->figures->dead_lettered;
    changed = true;
  }
  auto* again = find(name);
  if (!again || !changed) co_return;
  again->parts[partition].advance();
  again->publish();
  // Finished: a crash before this is durable dead-letters the records again (the
  // dead-letter topic may hold a record twice, never zero times).
  std::vector<int32_t> which{partition};
  co_await persist(name, std::move(which), false);
}

}  // namespace broker
