#pragma once
// What the peer drivers share: their command line (a subset of `riptide bench`'s, same
// names, plus each system's own way of sending more at once) and the run skeleton. The
// figures and the JSON come from cli/bench_stats.h, so a peer's line and Riptide's are
// computed and printed the same way.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_stats.h"

namespace peers {

using cli::bench::now_ns;

struct options {
  std::string url;  // system-specific address
  // produce, both (produce + one consumer), or queue (produce + --workers workers that
  // acknowledge each record on its own)
  std::string mode = "both";
  size_t record_size = 1024;
  double rate = 0;             // records per second; 0 = flat out
  double pace_step_us = 1000;  // as riptide bench --pace-step-us
  double duration_s = 10;
  uint64_t count = 0;
  double warmup_s = 0;
  int window = 1024;  // records in flight (unacknowledged) per producer
  // How many producers send at once; each driver offers the options that fit its system
  // (parse's `own`): Redis connections, NATS publishers, RabbitMQ connections x channels.
  int connections = 1;
  int publishers = 1;
  int channels = 1;              // per connection
  int workers = 8;               // queue: workers, each on its own connection
  int prefetch = 100;            // queue: records each worker holds unacknowledged at most
  uint64_t max_backlog = 20000;  // queue: records sent and not yet acknowledged by a worker
  std::string durability;
  std::string extra;  // system-specific option (e.g. a queue type)
  bool json = false;
};

[[noreturn]] inline void die(const std::string& msg) {
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::exit(1);
}

// Options every driver takes, and those of `own` (e.g. {"--connections", "--pipeline"}):
// --connections, --publishers, --channels set the producer count of their name, and
// --pipeline is Redis's name for --window.
inline options parse(int argc, char** argv, const char* usage,
                     const std::vector<std::string>& own = {}) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value\n" + usage);
      return argv[++i];
    };
    const bool is_own = std::find(own.begin(), own.end(), a) != own.end();
    try {
      if (is_own && a == "--connections")
        o.connections = std::stoi(value());
      else if (is_own && a == "--publishers")
        o.publishers = std::stoi(value());
      else if (is_own && a == "--channels")
        o.channels = std::stoi(value());
      else if (is_own && a == "--pipeline")
        o.window = std::stoi(value());
      else if (a == "--url")
        o.url = value();
      else if (a == "--mode")
        o.mode = value();
      else if (a == "--record-size" || a == "-s")
        o.record_size = std::stoul(value());
      else if (a == "--rate" || a == "-r")
        o.rate = std::stod(value());
      else if (a == "--pace-step-us")
        o.pace_step_us = std::stod(value());
      else if (a == "--duration" || a == "-d")
        o.duration_s = std::stod(value());
      else if (a == "--count" || a == "-n")
        o.count = std::stoull(value());
      else if (a == "--warmup")
        o.warmup_s = std::stod(value());
      else if (a == "--window")
        o.window = std::stoi(value());
      else if (a == "--workers")
        o.workers = std::stoi(value());
      else if (a == "--prefetch")
        o.prefetch = std::stoi(value());
      else if (a == "--max-backlog")
        o.max_backlog = std::stoull(value());
      else if (a == "--durability")
        o.durability = value();
      else if (a == "--extra")
        o.extra = value();
      else if (a == "--json")
        o.json = true;
      else
        die("unknown option " + a + "\n" + usage);
    } catch (const std::logic_error&) {
      die("bad value for " + a + "\n" + usage);
    }
  }
  if (o.mode != "produce" && o.mode != "both" && o.mode != "queue") {
    die("--mode must be produce, both or queue");
  }
  if (o.workers < 1 || o.prefetch < 1) die("--workers and --prefetch must be at least 1");
  if (o.record_size < cli::bench::kPrefixSize) die("--record-size must be at least 16");
  if (o.window < 1) die("--window must be at least 1");
  if (o.connections < 1 || o.publishers < 1 || o.channels < 1) {
    die("--connections, --publishers and --channels must be at least 1");
  }
  return o;
}

// A share of `total` records for producer `index` of `n`: the first total % n get one more.
inline uint64_t share(uint64_t total, int n, int index) {
  const auto un = static_cast<uint64_t>(n);
  return total / un + (static_cast<uint64_t>(index) < total % un ? 1 : 0);
}

// State shared by a driver's producer and consumer threads. Producer `i` of `producers`
// sends its share of --count and --rate and records its acknowledgements in ack(i), which
// only its own thread (or its connection's delivery thread) touches.
struct run_state {
  options opts;
  int producers = 1;
  int64_t start_ns = 0;
  int64_t warm_ns = 0;
  std::atomic<bool> producing_done{false};
  std::atomic<int> producers_running{0};
  std::atomic<bool> stop{false};
  cli::bench::flow produced;
  cli::bench::flow consumed;  // queue: acknowledged by a worker
  std::atomic<uint64_t> sent_total{0};
  std::vector<std::unique_ptr<cli::bench::histogram>> acks;
  cli::bench::histogram e2e;
  std::mutex e2e_mu;

  explicit run_state(options o, int producer_count = 1)
      : opts(std::move(o)), producers(producer_count), producers_running(producer_count) {
    for (int i = 0; i < producers; ++i) acks.push_back(std::make_unique<cli::bench::histogram>());
    begin();
  }
  // Starts the clock: call once the connections are up, just before the producers start.
  void begin() {
    start_ns = now_ns();
    warm_ns = start_ns + static_cast<int64_t>(opts.warmup_s * 1e9);
  }
  cli::bench::histogram& ack(int producer = 0) { return *acks[static_cast<size_t>(producer)]; }
  // Records producer `index` sends (its share of --count, or all when there is no count).
  uint64_t quota(int index) const {
    return opts.count > 0 ? share(opts.count, producers, index) : 0;
  }
  // Records per second each producer sends (its share of --rate; 0: flat out).
  double producer_rate() const { return opts.rate / producers; }
  // True once a producer should stop sending, after `sent` of its `quota` (0: no count).
  bool done_sending(uint64_t sent, uint64_t quota) const {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (quota > 0) return sent >= quota;
    if (opts.count > 0) return true;  // this producer's share is empty
    return now_ns() >= start_ns + static_cast<int64_t>(opts.duration_s * 1e9);
  }
  // Queue mode: whether one more record may be sent now (--max-backlog records sent and
  // not yet acknowledged by a worker at most); counts it as sent when it may.
  bool room() {
    if (opts.mode != "queue" || opts.max_backlog == 0) return true;
    if (sent_total.load(std::memory_order_relaxed) -
            consumed.msgs.load(std::memory_order_relaxed) >=
        opts.max_backlog) {
      return false;
    }
    sent_total.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  bool queue() const { return opts.mode == "queue"; }
  // A producer has every acknowledgement it waits for; the last one ends the producing.
  void producer_finished() {
    if (producers_running.fetch_sub(1) == 1) producing_done = true;
  }
  void acked(const void* value, size_t len, int producer = 0) {
    const int64_t now = now_ns();
    produced.add(1, len, now);
    const int64_t sent = cli::bench::sent_at(value, len);
    if (sent >= warm_ns) ack(producer).record(now - sent);
  }
  // Called by the consumer, or in queue mode by every worker's thread: the histogram
  // takes one writer at a time.
  void received(const void* value, size_t len, int64_t now) {
    consumed.add(1, len, now);
    const int64_t sent = cli::bench::sent_at(value, len);
    if (sent >= warm_ns) {
      std::lock_guard lock(e2e_mu);
      e2e.record(now - sent);
    }
  }
  // The consumer stops once it read every acknowledged record after the producers
  // finished, or 10 s after that.
  bool consumer_should_stop() const {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (!producing_done.load()) return false;
    return consumed.msgs.load() >= produced.msgs.load() ||
           now_ns() > std::max(produced.last_ns.load(), consumed.last_ns.load()) + 10'000'000'000;
  }
};

// Prints the progress line once a second until the producers are done and (with a
// consumer) the consumer has read everything, then the result; returns the exit code.
// `consumer` is the consumer's thread, or null when the client library delivers on its own
// thread.
inline int finish(run_state& st, const char* system, std::vector<std::thread>& producers,
                  std::thread* consumer, bool has_consumer) {
  uint64_t lp = 0, lc = 0;
  int64_t last = st.start_ns;
  while (!st.producing_done.load() || (has_consumer && !st.consumer_should_stop())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int64_t now = now_ns();
    if (now - last >= 1'000'000'000) {
      const uint64_t p = st.produced.msgs.load(), c = st.consumed.msgs.load();
      const double dt = static_cast<double>(now - last) / 1e9;
      std::fprintf(stderr, "[%6.1fs] %s produced %9.0f msg/s | consumed %9.0f msg/s\n",
                   static_cast<double>(now - st.start_ns) / 1e9, system,
                   cli::bench::rate(p - lp, dt), cli::bench::rate(c - lc, dt));
      lp = p, lc = c, last = now;
    }
  }
  st.stop = true;
  for (auto& t : producers) t.join();
  if (consumer) consumer->join();
  cli::bench::histogram ack;
  for (const auto& h : st.acks) ack.merge(*h);
  cli::bench::report r;
  r.system = system;
  r.durability = st.opts.durability;
  r.workload = st.opts.mode;
  r.record_size = st.opts.record_size;
  r.produced = st.produced.msgs.load();
  r.produced_bytes = st.produced.bytes.load();
  r.produce_errors = st.produced.errors.load();
  r.produce_s =
      r.produced ? static_cast<double>(st.produced.last_ns.load() - st.start_ns) / 1e9 : 0;
  r.consumed = st.consumed.msgs.load();
  r.consumed_bytes = st.consumed.bytes.load();
  r.consume_s =
      r.consumed ? static_cast<double>(st.consumed.last_ns.load() - st.start_ns) / 1e9 : 0;
  r.ack = &ack;
  r.e2e = has_consumer ? &st.e2e : nullptr;
  if (st.opts.json) {
    cli::bench::print_json(stdout, r);
  } else {
    cli::bench::print_table(stdout, r);
  }
  if (r.produce_errors > 0) return 1;
  if (has_consumer && r.consumed < r.produced) {
    std::fprintf(stderr, "%s: only %llu of %llu acknowledged records were read back\n", system,
                 static_cast<unsigned long long>(r.consumed),
                 static_cast<unsigned long long>(r.produced));
    return 1;
  }
  return 0;
}

// A value buffer of `size` random-ish bytes, stamped before each send.
inline std::vector<uint8_t> make_value(size_t size) {
  std::vector<uint8_t> v(size);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& b : v) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

}  // namespace peers
