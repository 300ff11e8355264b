#pragma once
// What the peer drivers share: their command line (a subset of `riptide bench`'s, same
// names) and the run skeleton. The figures and the JSON come from cli/bench_stats.h, so a
// peer's line and Riptide's are computed and printed the same way.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_stats.h"

namespace peers {

using cli::bench::now_ns;

struct options {
  std::string url;            // system-specific address
  std::string mode = "both";  // produce or both (produce + one consumer)
  size_t record_size = 1024;
  double rate = 0;             // records per second; 0 = flat out
  double pace_step_us = 1000;  // as riptide bench --pace-step-us
  double duration_s = 10;
  uint64_t count = 0;
  double warmup_s = 0;
  int window = 1024;  // records in flight (unacknowledged) per producer
  std::string durability;
  std::string extra;  // system-specific option (e.g. a queue type)
  bool json = false;
};

[[noreturn]] inline void die(const std::string& msg) {
  std::fprintf(stderr, "%s\n", msg.c_str());
  std::exit(1);
}

inline options parse(int argc, char** argv, const char* usage) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value\n" + usage);
      return argv[++i];
    };
    try {
      if (a == "--url")
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
  if (o.mode != "produce" && o.mode != "both") die("--mode must be produce or both");
  if (o.record_size < cli::bench::kPrefixSize) die("--record-size must be at least 16");
  if (o.window < 1) die("--window must be at least 1");
  return o;
}

// State shared by a driver's producer and consumer threads.
struct run_state {
  options opts;
  int64_t start_ns = 0;
  int64_t warm_ns = 0;
  std::atomic<bool> producing_done{false};
  std::atomic<bool> stop{false};
  cli::bench::flow produced;
  cli::bench::flow consumed;
  cli::bench::histogram ack;
  cli::bench::histogram e2e;

  explicit run_state(options o) : opts(std::move(o)) {
    start_ns = now_ns();
    warm_ns = start_ns + static_cast<int64_t>(opts.warmup_s * 1e9);
  }
  // True once the producer should stop sending (after `sent` records).
  bool done_sending(uint64_t sent) const {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (opts.count > 0) return sent >= opts.count;
    return now_ns() >= start_ns + static_cast<int64_t>(opts.duration_s * 1e9);
  }
  void acked(const void* value, size_t len) {
    const int64_t now = now_ns();
    produced.add(1, len, now);
    const int64_t sent = cli::bench::sent_at(value, len);
    if (sent >= warm_ns) ack.record(now - sent);
  }
  void received(const void* value, size_t len, int64_t now) {
    consumed.add(1, len, now);
    const int64_t sent = cli::bench::sent_at(value, len);
    if (sent >= warm_ns) e2e.record(now - sent);
  }
  // The consumer stops once it read every acknowledged record after the producer finished,
  // or 10 s after that.
  bool consumer_should_stop() const {
    if (stop.load(std::memory_order_relaxed)) return true;
    if (!producing_done.load()) return false;
    return consumed.msgs.load() >= produced.msgs.load() ||
           now_ns() > produced.last_ns.load() + 10'000'000'000;
  }
};

// Prints the progress line once a second until the producer is done and (with a consumer)
// the consumer has read everything, then the result; returns the exit code. `consumer` is
// the consumer's thread, or null when the client library delivers on its own thread.
inline int finish(run_state& st, const char* system, std::thread& producer, std::thread* consumer,
                  bool has_consumer) {
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
  producer.join();
  if (consumer) consumer->join();
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
  r.ack = &st.ack;
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
