#include "cli/bench.h"

#include <librdkafka/rdkafka.h>
#include <malloc.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_client.h"
#include "cli/bench_stats.h"

namespace cli {
namespace {

using bench::base_conf;
using bench::bench_error;
using bench::handle;
using bench::make_handle;
using bench::now_ns;
using bench::options;
using bench::prepare_topic;
using bench::set;
using bench::topic_durability;

struct shared_state {
  const options* opts = nullptr;
  int partitions = 0;  // per topic; the per-partition vectors below hold every topic's
  std::vector<std::string> topics;
  int64_t start_ns = 0;
  int64_t warm_ns = 0;  // latency is recorded for records sent from here on
  std::atomic<bool> stop_producing{false};
  std::atomic<bool> stop_consuming{false};
  std::atomic<int> producers_running{0};
  std::atomic<int> consumers_running{0};
  std::atomic<uint64_t> sent{0};
  bench::flow produced;
  bench::flow consumed;
  // Per partition, topic after topic (index topic * partitions + partition).
  std::vector<int64_t> start_offset;
  std::vector<int64_t> end_offset;  // consume mode: stop there (-1: never)
  std::string fatal;                // first failure a worker hit
  std::atomic<bool> failed{false};
};

void fail(shared_state& st, const std::string& msg) {
  bool expected = false;
  if (st.failed.compare_exchange_strong(expected, true)) st.fatal = msg;
  st.stop_producing = true;
  st.stop_consuming = true;
}

struct producer_ctx {
  shared_state* st;
  bench::histogram* ack;
  int64_t last_now = 0;  // the clock as of the last timed record
};

// Flat out, only every kTimedEvery-th record carries its send time (the others carry 0):
// reading the clock twice per record costs a measurable share of a core at a million
// records a second. Paced runs time every record.
constexpr uint64_t kTimedEvery = 8;

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* ctx = static_cast<producer_ctx*>(opaque);
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ctx->st->produced.errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const int64_t sent = bench::sent_at(m->payload, m->len);
  if (sent > 0 || ctx->last_now == 0) ctx->last_now = now_ns();
  ctx->st->produced.add(1, m->len, ctx->last_now);
  if (sent > 0 && sent >= ctx->st->warm_ns) ctx->ack->record(ctx->last_now - sent);
}

// Lets a paced producer serve delivery reports while it waits for its next record, as
// they arrive (the time a report is served is its record's ack time), rather than after
// the wait: librdkafka signals an eventfd when one is queued.
class report_waiter {
 public:
  explicit report_waiter(rd_kafka_t* rk) : rk_(rk), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) return;
    q_ = rd_kafka_queue_get_main(rk);
    const uint64_t one = 1;
    rd_kafka_queue_io_event_enable(q_, fd_, &one, sizeof one);
  }
  ~report_waiter() {
    if (q_ != nullptr) {
      rd_kafka_queue_io_event_enable(q_, -1, nullptr, 0);
      rd_kafka_queue_destroy(q_);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  report_waiter(const report_waiter&) = delete;
  report_waiter& operator=(const report_waiter&) = delete;

  // Waits up to `ns`, serving the delivery reports that arrive meanwhile.
  void serve_for(int64_t ns) {
    if (fd_ < 0) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
    } else if (bench::wait_readable(fd_, ns)) {
      uint64_t v;
      [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
    }
    rd_kafka_poll(rk_, 0);
  }

 private:
  rd_kafka_t* rk_;
  int fd_;
  rd_kafka_queue_t* q_ = nullptr;
};

void run_producer(shared_state& st, int index, bench::histogram& ack) {
  const options& o = *st.opts;
  producer_ctx ctx{&st, &ack};
  handle rk;
  try {
    rd_kafka_conf_t* conf = base_conf(o);
    set(conf, "acks", o.acks);
    set(conf, "compression.type", o.compression);
    set(conf, "linger.ms", std::to_string(o.linger_ms));
    set(conf, "batch.size", std::to_string(o.batch_size));
    set(conf, "queue.buffering.max.messages", "1000000");
    set(conf, "queue.buffering.max.kbytes", "1048576");
    set(conf, "enable.idempotence", "false");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &ctx);
    rk = make_handle(RD_KAFKA_PRODUCER, conf);
  } catch (const std::exception& e) {
    fail(st, e.what());
    st.producers_running--;
    return;
  }
  std::vector<rd_kafka_topic_t*> rkts(st.topics.size(), nullptr);
  for (size_t t = 0; t < st.topics.size(); ++t) {
    rkts[t] = rd_kafka_topic_new(rk.get(), st.topics[t].c_str(), nullptr);
  }
  rd_kafka_topic_t* rkt = nullptr;       // the topic of the record being sent
  std::optional<report_waiter> reports;  // paced only: librdkafka then signals each report
  if (o.rate > 0) reports.emplace(rk.get());

  std::vector<uint8_t> value(o.record_size);
  std::mt19937_64 rng(static_cast<uint64_t>(index) * 7919 + 1);
  for (auto& b : value) b = static_cast<uint8_t>(rng());
  const uint64_t quota =
      o.count == 0
          ? 0
          : o.count / static_cast<uint64_t>(o.producers) +
                (static_cast<uint64_t>(index) < o.count % static_cast<uint64_t>(o.producers) ? 1
                                                                                             : 0);
  bench::pacer pace(o.rate / o.producers, static_cast<int64_t>(o.pace_step_us * 1e3));
  const int64_t deadline = st.start_ns + static_cast<int64_t>(o.duration_s * 1e9);
  const bool paced = o.rate > 0;
  // A paced producer hands the records due together to the client in one call, as an
  // application with that many to send at once would.
  const uint64_t burst_cap =
      paced ? std::max<uint64_t>(1, (4u << 20) / std::max<size_t>(value.size(), 1)) : 1;
  std::vector<uint8_t> burst;
  std::vector<rd_kafka_message_t> msgs;
  std::vector<std::array<char, 32>> keys(std::min<uint64_t>(burst_cap, 1024));
  auto produce_one = [&](void* payload, size_t len, void* kp, size_t klen) {
    for (;;) {
      if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload, len, kp, klen,
                           nullptr) == 0) {
        return;
      }
      auto e = rd_kafka_last_error();
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        fail(st, std::string("produce: ") + rd_kafka_err2str(e));
        return;
      }
      rd_kafka_poll(rk.get(), 1);
    }
  };
  auto key_of = [&](uint64_t rec, char* out) -> size_t {
    return static_cast<size_t>(std::snprintf(
        out, 32, "key-%" PRIu64,
        (rec * 2654435761u + static_cast<uint64_t>(index)) % static_cast<uint64_t>(o.keys)));
  };
  uint64_t i = 0;
  while (!(quota != 0 ? i >= quota : now_ns() >= deadline)) {
    if (st.stop_producing.load(std::memory_order_relaxed)) break;
    pace.wait(st.start_ns, i, [&](int64_t ns) { reports->serve_for(ns); });
    uint64_t n = 1;
    if (paced) {
      n = pace.due_now(st.start_ns, i, std::min<uint64_t>(burst_cap, keys.size()));
      if (quota != 0) n = std::min(n, quota - i);
    }
    // Records (or a paced step's records) go to the topics in turn.
    rkt = rkts[static_cast<size_t>(i % rkts.size())];
    const bool timed = paced || i % kTimedEvery == 0;
    const int64_t t = timed ? now_ns() : 0;
    if (n == 1) {
      bench::stamp(value.data(), value.size(), t);
      size_t klen = o.keys > 0 ? key_of(i, keys[0].data()) : 0;
      produce_one(value.data(), value.size(), klen ? keys[0].data() : nullptr, klen);
    } else {
      burst.resize(n * value.size());
      msgs.assign(n, rd_kafka_message_t{});
      for (uint64_t k = 0; k < n; ++k) {
        uint8_t* v = burst.data() + k * value.size();
        std::memcpy(v, value.data(), value.size());
        bench::stamp(v, value.size(), t);
        msgs[k].payload = v;
        msgs[k].len = value.size();
        if (o.keys > 0) {
          msgs[k].key = keys[k].data();
          msgs[k].key_len = key_of(i + k, keys[k].data());
        }
      }
      rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, msgs.data(),
                             static_cast<int>(n));
      for (auto& m : msgs) {
        if (m.err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          produce_one(m.payload, m.len, m.key, m.key_len);
        } else if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          fail(st, std::string("produce: ") + rd_kafka_err2str(m.err));
        }
      }
    }
    i += n;
    st.sent.fetch_add(n, std::memory_order_relaxed);
    // Serve delivery reports (the ack latency is taken there): after every send when
    // paced, so the figure is not delayed by the batching of this call.
    if (paced || (i & 63) == 0) rd_kafka_poll(rk.get(), 0);
  }
  // Wait for every outstanding acknowledgement.
  while (rd_kafka_outq_len(rk.get()) > 0 && !st.failed.load()) rd_kafka_poll(rk.get(), 50);
  reports.reset();
  for (auto* t : rkts) rd_kafka_topic_destroy(t);
  rk.reset();
  st.producers_running--;
}

void run_consumer(shared_state& st, int index, bench::histogram& e2e) {
  const options& o = *st.opts;
  handle rk;
  try {
    rd_kafka_conf_t* conf = base_conf(o);
    set(conf, "enable.partition.eof", "false");
    set(conf, "fetch.wait.max.ms", "100");
    // Moderate fetch sizes keep each response buffer below malloc's mmap threshold (see
    // run_bench), so the client reuses memory instead of faulting in fresh pages.
    set(conf, "fetch.message.max.bytes", std::to_string(2 << 20));
    set(conf, "fetch.max.bytes", std::to_string(16 << 20));
    set(conf, "queued.max.messages.kbytes", std::to_string(256 << 10));
    set(conf, "check.crcs", "false");
    rk = make_handle(RD_KAFKA_CONSUMER, conf);
  } catch (const std::exception& e) {
    fail(st, e.what());
    st.consumers_running--;
    return;
  }
  // Each topic's handle carries its index, so a record's slot is found without a lookup.
  std::vector<rd_kafka_topic_t*> rkts;
  for (size_t t = 0; t < st.topics.size(); ++t) {
    rd_kafka_topic_conf_t* tc = rd_kafka_topic_conf_new();
    rd_kafka_topic_conf_set_opaque(tc, reinterpret_cast<void*>(static_cast<intptr_t>(t)));
    rkts.push_back(rd_kafka_topic_new(rk.get(), st.topics[t].c_str(), tc));
  }
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  const int total = st.partitions * static_cast<int>(st.topics.size());
  std::vector<int> mine;  // slots: topic * partitions + partition
  for (int f = index; f < total; f += o.consumers) {
    const auto i = static_cast<size_t>(f);
    if (st.end_offset[i] >= 0 && st.start_offset[i] >= st.end_offset[i]) {
      continue;  // nothing to read there
    }
    if (rd_kafka_consume_start_queue(rkts[static_cast<size_t>(f / st.partitions)],
                                     f % st.partitions, st.start_offset[i], q) != 0) {
      fail(st, std::string("consume: ") + rd_kafka_err2str(rd_kafka_last_error()));
    }
    mine.push_back(f);
  }
  std::vector<int64_t> next(static_cast<size_t>(total), 0);
  for (int f : mine) next[static_cast<size_t>(f)] = st.start_offset[static_cast<size_t>(f)];
  size_t unfinished = mine.size();
  std::vector<rd_kafka_message_t*> msgs(4096);
  while (unfinished > 0 && !st.stop_consuming.load(std::memory_order_relaxed)) {
    // Wait for the first record only, then take whatever else is queued: a batch call
    // with a timeout would hold records back until the batch fills.
    rd_kafka_message_t* first = rd_kafka_consume_queue(q, 100);
    if (first == nullptr) continue;
    msgs[0] = first;
    ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs.data() + 1, msgs.size() - 1);
    if (n >= 0) ++n;
    if (n < 0) {
      rd_kafka_message_destroy(first);
      fail(st, std::string("consume: ") + rd_kafka_err2str(rd_kafka_last_error()));
      break;
    }
    const int64_t now = now_ns();
    uint64_t count = 0, bytes = 0;
    for (ssize_t k = 0; k < n; ++k) {
      rd_kafka_message_t* m = msgs[static_cast<size_t>(k)];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++count;
        bytes += m->len;
        const int64_t sent = bench::sent_at(m->payload, m->len);
        if (sent > 0 && sent >= st.warm_ns) e2e.record(now - sent);
        const auto t = reinterpret_cast<intptr_t>(rd_kafka_topic_opaque(m->rkt));
        const auto p = static_cast<size_t>(t * st.partitions + m->partition);
        if (m->partition >= 0 && m->partition < st.partitions && p < next.size()) {
          const bool was_open = st.end_offset[p] < 0 || next[p] < st.end_offset[p];
          next[p] = m->offset + 1;
          if (was_open && st.end_offset[p] >= 0 && next[p] >= st.end_offset[p]) --unfinished;
        }
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        fail(st, std::string("consume: ") + rd_kafka_err2str(m->err));
      }
      rd_kafka_message_destroy(m);
    }
    if (count > 0) st.consumed.add(count, bytes, now);
  }
  for (int f : mine)
    rd_kafka_consume_stop(rkts[static_cast<size_t>(f / st.partitions)], f % st.partitions);
  rd_kafka_queue_destroy(q);
  for (auto* t : rkts) rd_kafka_topic_destroy(t);
  rk.reset();
  st.consumers_running--;
}

// One line per second: rates and end-to-end latency over that second (`before` holds
// the latency counts at the previous line and is moved on).
void progress(const shared_state& st, double t, uint64_t dp, uint64_t dpb, uint64_t dc,
              uint64_t dcb, double dt, const std::vector<bench::histogram>& e2e,
              bench::histogram::counts& before) {
  std::fprintf(stderr, "[%6.1fs] produced %9.0f msg/s %8.1f MB/s", t, bench::rate(dp, dt),
               bench::rate(dpb, dt) / 1e6);
  if (st.produced.errors.load() > 0) {
    std::fprintf(stderr, " (%" PRIu64 " failed)", st.produced.errors.load());
  }
  std::fprintf(stderr, " | consumed %9.0f msg/s %8.1f MB/s", bench::rate(dc, dt),
               bench::rate(dcb, dt) / 1e6);
  bench::histogram::counts now;
  for (const auto& h : e2e) h.add_to(now);
  const int64_t p50 = bench::histogram::quantile_between(now, before, 0.5);
  const int64_t p99 = bench::histogram::quantile_between(now, before, 0.99);
  const int64_t top = bench::histogram::quantile_between(now, before, 1.0);
  before = std::move(now);
  if (top > 0) {
    std::fprintf(stderr, " | e2e p50 %.2f ms p99 %.2f ms max %.2f ms",
                 static_cast<double>(p50) / 1e6, static_cast<double>(p99) / 1e6,
                 static_cast<double>(top) / 1e6);
  }
  std::fprintf(stderr, "\n");
}

void validate(const options& o) {
  if (o.mode != "produce" && o.mode != "consume" && o.mode != "both") {
    throw bench_error("--mode must be produce, consume or both (got '" + o.mode + "')");
  }
  if (o.acks != "all" && o.acks != "-1" && o.acks != "0" && o.acks != "1") {
    throw bench_error("--acks must be all, -1, 0 or 1 (got '" + o.acks + "')");
  }
  if (o.producers < 1 || o.consumers < 1) {
    throw bench_error("--producers and --consumers must be at least 1");
  }
  if (o.partitions < 1) throw bench_error("--partitions must be at least 1");
  if (o.topics < 1 || o.topics > 10000) throw bench_error("--topics must be between 1 and 10000");
  if (o.mode != "consume" && o.count == 0 && o.duration_s <= 0) {
    throw bench_error("give --duration (seconds, > 0) or --count (records, > 0)");
  }
  if (o.rate < 0) throw bench_error("--rate must be >= 0 (0 = as fast as possible)");
  if (o.pace_step_us < 0) {
    throw bench_error("--pace-step-us must be >= 0 (0 = wait until each record is due)");
  }
  if (o.from != "beginning" && o.from != "end") {
    throw bench_error("--from must be beginning or end (got '" + o.from + "')");
  }
  if (o.record_size > (64u << 20)) throw bench_error("--record-size must be at most 64 MiB");
}

int run_bench(const options& o) {
  validate(o);
  // The client allocates a buffer per fetch response and per produce batch; served from
  // mmap, each would be faulted in and zeroed afresh, which costs the consumer's receive
  // thread about a quarter of its time when catching up. Keep them on the heap.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const bool produce = o.mode != "consume";
  const bool consume = o.mode != "produce";
  shared_state st;
  st.opts = &o;

  handle admin = make_handle(RD_KAFKA_PRODUCER, base_conf(o));
  for (int t = 0; t < o.topics; ++t) {
    st.topics.push_back(o.topics == 1 ? o.topic : o.topic + "-" + std::to_string(t));
  }
  for (const auto& name : st.topics) {
    options one = o;
    one.topic = name;
    const int parts = prepare_topic(admin.get(), one, produce);
    if (st.partitions != 0 && parts != st.partitions) {
      throw bench_error("topic " + name + " has " + std::to_string(parts) +
                        " partitions, the others " + std::to_string(st.partitions) +
                        ": give topics of one size");
    }
    st.partitions = parts;
  }
  std::string durability = o.durability;
  if (durability.empty()) durability = topic_durability(admin.get(), st.topics[0]);
  if (durability.empty()) durability = "broker default";

  const size_t slots = static_cast<size_t>(st.partitions) * st.topics.size();
  st.start_offset.assign(slots, 0);
  st.end_offset.assign(slots, -1);
  uint64_t backlog = 0;
  if (consume) {
    for (size_t t = 0; t < st.topics.size(); ++t) {
      const auto& name = st.topics[t];
      for (int p = 0; p < st.partitions; ++p) {
        int64_t lo = 0, hi = 0;
        auto e = rd_kafka_query_watermark_offsets(admin.get(), name.c_str(), p, &lo, &hi, 10000);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
          throw bench_error("offsets of " + name + "/" + std::to_string(p) + ": " +
                            rd_kafka_err2str(e));
        }
        const auto i = t * static_cast<size_t>(st.partitions) + static_cast<size_t>(p);
        if (produce || o.from == "end") {
          st.start_offset[i] = hi;
        } else {
          st.start_offset[i] = lo;
          st.end_offset[i] = hi;  // catch up on what is there now
          backlog += static_cast<uint64_t>(hi - lo);
        }
      }
    }
    if (!produce && o.from == "beginning" && backlog == 0) {
      throw bench_error("topic " + o.topic +
                        " holds no records to consume; produce some first (--mode produce)");
    }
  }
  admin.reset();

  std::vector<bench::histogram> ack(static_cast<size_t>(o.producers));
  std::vector<bench::histogram> e2e(static_cast<size_t>(o.consumers));
  std::vector<std::thread> threads;
  st.start_ns = now_ns();
  st.warm_ns = st.start_ns + static_cast<int64_t>(o.warmup_s * 1e9);
  if (consume) {
    st.consumers_running = o.consumers;
    for (int j = 0; j < o.consumers; ++j) {
      threads.emplace_back(run_consumer, std::ref(st), j, std::ref(e2e[static_cast<size_t>(j)]));
    }
  }
  if (produce) {
    st.producers_running = o.producers;
    for (int i = 0; i < o.producers; ++i) {
      threads.emplace_back(run_producer, std::ref(st), i, std::ref(ack[static_cast<size_t>(i)]));
    }
  }

  // Progress once a second; decide when consumers are done.
  uint64_t lp = 0, lpb = 0, lc = 0, lcb = 0;
  bench::histogram::counts latency_before;
  int64_t last = st.start_ns, producers_done_ns = 0;
  const int64_t consume_deadline = (!produce && o.count == 0 && o.duration_s > 0 && o.from == "end")
                                       ? st.start_ns + static_cast<int64_t>(o.duration_s * 1e9)
                                       : 0;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t now = now_ns();
    if (now - last >= 1'000'000'000) {
      const uint64_t p = st.produced.msgs.load(), pb = st.produced.bytes.load();
      const uint64_t c = st.consumed.msgs.load(), cb = st.consumed.bytes.load();
      if (!o.quiet) {
        progress(st, static_cast<double>(now - st.start_ns) / 1e9, p - lp, pb - lpb, c - lc,
                 cb - lcb, static_cast<double>(now - last) / 1e9, e2e, latency_before);
      }
      lp = p, lpb = pb, lc = c, lcb = cb, last = now;
    }
    if (produce && st.producers_running.load() == 0 && producers_done_ns == 0) {
      producers_done_ns = now;
    }
    if (!consume) {
      if (st.producers_running.load() == 0) break;
      continue;
    }
    if (st.consumers_running.load() == 0) break;
    if (produce && producers_done_ns != 0) {
      // Stop once everything acknowledged has been read, or 10 s after the last send.
      if (st.consumed.msgs.load() >= st.produced.msgs.load() ||
          now - producers_done_ns > 10'000'000'000) {
        st.stop_consuming = true;
      }
    }
    if (!produce && o.count > 0 && st.consumed.msgs.load() >= o.count) st.stop_consuming = true;
    if (consume_deadline != 0 && now >= consume_deadline) st.stop_consuming = true;
  }
  st.stop_producing = true;
  st.stop_consuming = true;
  for (auto& t : threads) t.join();
  if (st.failed.load()) throw bench_error(st.fatal);

  bench::histogram e2e_all, ack_all;
  for (const auto& h : e2e) e2e_all.merge(h);
  for (const auto& h : ack) ack_all.merge(h);
  bench::report r;
  r.system = "riptide";
  r.durability = durability;
  r.workload = o.mode;
  r.record_size = o.record_size;
  if (!produce && st.consumed.msgs.load() > 0) {
    // Reading what is there: the records' size is what was read, not the option.
    r.record_size = static_cast<size_t>(st.consumed.bytes.load() / st.consumed.msgs.load());
  }
  r.produced = st.produced.msgs.load();
  r.produced_bytes = st.produced.bytes.load();
  r.produce_errors = st.produced.errors.load();
  r.produce_s =
      r.produced ? static_cast<double>(st.produced.last_ns.load() - st.start_ns) / 1e9 : 0;
  r.consumed = st.consumed.msgs.load();
  r.consumed_bytes = st.consumed.bytes.load();
  r.consume_s =
      r.consumed ? static_cast<double>(st.consumed.last_ns.load() - st.start_ns) / 1e9 : 0;
  r.e2e = consume ? &e2e_all : nullptr;
  r.ack = produce ? &ack_all : nullptr;
  if (o.json) {
    bench::print_json(stdout, r);
  } else {
    bench::print_table(stdout, r);
  }
  if (produce && r.produce_errors > 0) {
    std::fprintf(stderr, "bench: %" PRIu64 " records were not acknowledged\n", r.produce_errors);
    return 1;
  }
  if (produce && consume && r.consumed < r.produced) {
    std::fprintf(stderr,
                 "bench: only %" PRIu64 " of %" PRIu64 " acknowledged records were read back\n",
                 r.consumed, r.produced);
    return 1;
  }
  return 0;
}

}  // namespace

void declare_bench(CLI::App& cmd, action& run) {
  auto o = std::make_shared<options>();
  cmd.add_option("-b,--brokers", o->brokers, "Bootstrap brokers, host:port[,host:port]")
      ->capture_default_str();
  cmd.add_option("-t,--topic", o->topic, "Topic to use (created if missing)")
      ->capture_default_str();
  cmd.add_option("--mode", o->mode, "produce, consume (read what is there) or both")
      ->capture_default_str();
  cmd.add_option("-s,--record-size", o->record_size,
                 "Value size in bytes (values of 16 bytes or more carry the send time)")
      ->capture_default_str();
  cmd.add_option("--keys", o->keys, "Number of distinct keys (0: records without a key)")
      ->capture_default_str();
  cmd.add_option("-p,--partitions", o->partitions, "Partitions when the topic is created")
      ->capture_default_str();
  cmd.add_option("--topics", o->topics,
                 "Topics: above 1, <topic>-0 ... <topic>-N-1, each with --partitions, records "
                 "spread over them in turn")
      ->capture_default_str();
  cmd.add_option("--producers", o->producers, "Producer clients (one thread each)")
      ->capture_default_str();
  cmd.add_option("--consumers", o->consumers, "Consumer clients; partitions are split among them")
      ->capture_default_str();
  cmd.add_option("--acks", o->acks, "all, 1 or 0")->capture_default_str();
  cmd.add_option("--compression", o->compression, "none, gzip, snappy, lz4 or zstd")
      ->capture_default_str();
  cmd.add_option("--linger-ms", o->linger_ms, "Producer linger (ms)")->capture_default_str();
  cmd.add_option("--batch-size", o->batch_size, "Producer batch size (bytes)")
      ->capture_default_str();
  cmd.add_option("-r,--rate", o->rate, "Records per second over all producers (0: flat out)")
      ->capture_default_str();
  cmd.add_option("--pace-step-us", o->pace_step_us,
                 "At a --rate: records due within this many microseconds are sent together, "
                 "then the producer sleeps (0: sleep until each record is due)")
      ->capture_default_str();
  cmd.add_option("-d,--duration", o->duration_s, "Seconds to produce (unless --count is given)")
      ->capture_default_str();
  cmd.add_option("-n,--count", o->count,
                 "Records to produce, or (consume mode) to read; 0: use --duration")
      ->capture_default_str();
  cmd.add_option("--warmup", o->warmup_s, "Seconds at the start left out of the latency figures")
      ->capture_default_str();
  cmd.add_option("--from", o->from,
                 "Consume mode: beginning (read the backlog up to its current end) or end")
      ->capture_default_str();
  cmd.add_option("--topic-config", o->topic_configs,
                 "key=value config of the topic when created, e.g. riptide.durability=page_cache");
  cmd.add_option("-X,--property", o->properties, "librdkafka client property key=value");
  cmd.add_option("--durability", o->durability,
                 "Label for the report (default: the topic's riptide.durability)");
  cmd.add_flag("--json", o->json, "Print the result as one JSON object");
  cmd.add_flag("-q,--quiet", o->quiet, "No progress lines");
  cmd.callback([o, &run] {
    run = [o]() -> int {
      try {
        return run_bench(*o);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench: %s\n", e.what());
        return 1;
      }
    };
  });
}

}  // namespace cli
