#pragma once
// What `riptide bench` and the peer drivers under bench/peers/ share, so their figures are
// computed and printed the same way: the record's timestamp prefix, a latency histogram,
// throughput counters and the JSON / table report. Header-only and free of any client
// library, so a peer driver can include it without linking Riptide.

#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace cli::bench {

// Wall-clock nanoseconds: comparable between processes on one machine, so a consumer in
// another process can measure end-to-end latency.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Each record's value starts with these 16 bytes: a marker and the send time, so the
// consumer can tell a benchmark record from anything else in the topic.
inline constexpr std::array<uint8_t, 8> kMarker{'R', 'P', 'T', 'B', 'E', 'N', 'C', 'H'};
inline constexpr size_t kPrefixSize = 16;

inline void stamp(uint8_t* value, size_t size, int64_t sent_ns) {
  if (size < kPrefixSize) return;
  std::memcpy(value, kMarker.data(), kMarker.size());
  std::memcpy(value + kMarker.size(), &sent_ns, sizeof sent_ns);
}

// The send time carried by a value, or -1 if it carries none.
inline int64_t sent_at(const void* value, size_t size) {
  if (value == nullptr || size < kPrefixSize) return -1;
  if (std::memcmp(value, kMarker.data(), kMarker.size()) != 0) return -1;
  int64_t ns;
  std::memcpy(&ns, static_cast<const uint8_t*>(value) + kMarker.size(), sizeof ns);
  return ns;
}

// A log-bucketed histogram of nanosecond values: 32 sub-buckets per power of two (about
// 3% resolution). One thread records; any thread may read (counts are relaxed atomics,
// so a reader sees a slightly stale but consistent-enough view for progress lines).
class histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits) * kSub;

  void record(int64_t ns) {
    if (ns < 0) ns = 0;
    auto& c = counts_[index(static_cast<uint64_t>(ns))];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
  }
  void merge(const histogram& o) {
    for (int i = 0; i < kBuckets; ++i) {
      counts_[i].fetch_add(o.counts_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    max_.store(std::max(max_.load(), o.max_.load()));
  }
  uint64_t count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }
  int64_t max() const { return max_.load(std::memory_order_relaxed); }
  // The counts per bucket, to take quantiles of what was recorded between two snapshots.
  using counts = std::vector<uint64_t>;
  void add_to(counts& out) const {
    out.resize(kBuckets);
    for (int i = 0; i < kBuckets; ++i) out[i] += counts_[i].load(std::memory_order_relaxed);
  }
  // The quantile q of `now - before` (upper bucket edge); 0 when nothing was recorded.
  static int64_t quantile_between(const counts& now, const counts& before, double q) {
    uint64_t total = 0;
    for (size_t i = 0; i < now.size(); ++i) total += now[i] - (i < before.size() ? before[i] : 0);
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < now.size(); ++i) {
      seen += now[i] - (i < before.size() ? before[i] : 0);
      if (seen >= rank) return upper(static_cast<int>(i));
    }
    return 0;
  }
  // The value below which a fraction q of the recorded values lie (upper bucket edge,
  // capped at the maximum seen); 0 when empty.
  int64_t quantile(double q) const {
    const uint64_t total = count();
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i].load(std::memory_order_relaxed);
      if (seen >= rank) return std::min(upper(i), max());
    }
    return max();
  }

 private:
  static int index(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(v);
    const int shift = msb - kSubBits;
    return (shift + 1) * kSub + static_cast<int>((v >> shift) & (kSub - 1));
  }
  static int64_t upper(int i) {
    if (i < kSub) return i;
    const int shift = i / kSub - 1;
    const uint64_t base = (static_cast<uint64_t>(kSub) | static_cast<uint64_t>(i % kSub)) << shift;
    return static_cast<int64_t>(base + (1ull << shift) - 1);
  }

  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<int64_t> max_{0};
};

// Messages and bytes moved by one side (produce or consume), updated by many threads.
struct flow {
  std::atomic<uint64_t> msgs{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<int64_t> first_ns{0};
  std::atomic<int64_t> last_ns{0};

  void add(uint64_t n, uint64_t b, int64_t at_ns) {
    if (first_ns.load(std::memory_order_relaxed) == 0) {
      int64_t zero = 0;
      first_ns.compare_exchange_strong(zero, at_ns, std::memory_order_relaxed);
    }
    msgs.fetch_add(n, std::memory_order_relaxed);
    bytes.fetch_add(b, std::memory_order_relaxed);
    int64_t prev = last_ns.load(std::memory_order_relaxed);
    while (prev < at_ns && !last_ns.compare_exchange_weak(prev, at_ns, std::memory_order_relaxed)) {
    }
  }
};

// The figures of one run, printed identically by every driver.
struct report {
  std::string system = "riptide";
  std::string durability;  // what an acknowledgement means on this system
  std::string workload;
  size_t record_size = 0;
  // Seconds over which each side's rate is computed.
  double start_s = 0;
  uint64_t produced = 0, produced_bytes = 0, produce_errors = 0;
  double produce_s = 0;
  uint64_t consumed = 0, consumed_bytes = 0;
  double consume_s = 0;
  const histogram* e2e = nullptr;  // send -> consumer, may be null
  const histogram* ack = nullptr;  // send -> acknowledgement, may be null
};

inline double rate(uint64_t n, double s) {
  return s > 0 ? static_cast<double>(n) / s : 0;
}
inline double us(int64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

inline void print_latency_json(std::FILE* out, const char* name, const histogram* h) {
  if (h == nullptr || h->count() == 0) {
    std::fprintf(out, ",\"%s\":null", name);
    return;
  }
  std::fprintf(out,
               ",\"%s\":{\"count\":%" PRIu64
               ",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}",
               name, h->count(), us(h->quantile(0.5)), us(h->quantile(0.99)),
               us(h->quantile(0.999)), us(h->max()));
}

inline void print_json(std::FILE* out, const report& r) {
  std::fprintf(out,
               "{\"system\":\"%s\",\"durability\":\"%s\",\"workload\":\"%s\",\"record_size\":%zu,"
               "\"produce\":{\"msgs\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.2f},"
               "\"consume\":{\"msgs\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.2f}",
               r.system.c_str(), r.durability.c_str(), r.workload.c_str(), r.record_size,
               r.produced, r.produced_bytes, r.produce_errors, r.produce_s,
               rate(r.produced, r.produce_s), rate(r.produced_bytes, r.produce_s) / 1e6, r.consumed,
               r.consumed_bytes, r.consume_s, rate(r.consumed, r.consume_s),
               rate(r.consumed_bytes, r.consume_s) / 1e6);
  print_latency_json(out, "e2e_latency", r.e2e);
  print_latency_json(out, "ack_latency", r.ack);
  std::fprintf(out, "}\n");
}

inline void print_latency_row(std::FILE* out, const char* name, const histogram* h) {
  if (h == nullptr || h->count() == 0) return;
  std::fprintf(out, "%-12s %12.0f %12.0f %12.0f %12.0f   (us, %" PRIu64 " samples)\n", name,
               us(h->quantile(0.5)), us(h->quantile(0.99)), us(h->quantile(0.999)), us(h->max()),
               h->count());
}

inline void print_table(std::FILE* out, const report& r) {
  std::fprintf(out, "\n%s (%s), %zu-byte records\n", r.system.c_str(), r.durability.c_str(),
               r.record_size);
  std::fprintf(out, "%-12s %12s %12s %12s %12s\n", "", "msgs", "msgs/s", "MB/s", "seconds");
  if (r.produced > 0 || r.produce_errors > 0) {
    std::fprintf(out, "%-12s %12" PRIu64 " %12.0f %12.2f %12.2f", "produced", r.produced,
                 rate(r.produced, r.produce_s), rate(r.produced_bytes, r.produce_s) / 1e6,
                 r.produce_s);
    if (r.produce_errors > 0) std::fprintf(out, "   (%" PRIu64 " failed)", r.produce_errors);
    std::fprintf(out, "\n");
  }
  if (r.consumed > 0) {
    std::fprintf(out, "%-12s %12" PRIu64 " %12.0f %12.2f %12.2f\n", "consumed", r.consumed,
                 rate(r.consumed, r.consume_s), rate(r.consumed_bytes, r.consume_s) / 1e6,
                 r.consume_s);
  }
  if ((r.e2e && r.e2e->count()) || (r.ack && r.ack->count())) {
    std::fprintf(out, "%-12s %12s %12s %12s %12s\n", "latency", "p50", "p99", "p99.9", "max");
    print_latency_row(out, "end-to-end", r.e2e);
    print_latency_row(out, "ack", r.ack);
  }
}

// Waits up to `ns` for `fd` to become readable; true if it did.
inline bool wait_readable(int fd, int64_t ns) {
  pollfd p{fd, POLLIN, 0};
  const timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  return ::ppoll(&p, 1, &ts, nullptr) > 0;
}

// Paces one sender at `per_sec` (0 = flat out): call before each send.
//
// A sender may run up to `step_ns` ahead of its schedule: the records due within the
// next step go out back to back, then it sleeps until the next one is due. Waking once
// per step rather than once per record keeps the sender's own wake-ups (10,000 a second
// at 10,000 records/s) from competing with the system under test for the cores, as
// kafka-producer-perf-test's throttle does by sleeping in steps of at least 2 ms. The
// rate over any step is the target; each record's latency is timed from when it was
// actually sent. step_ns = 0 sleeps until each record is due.
class pacer {
 public:
  static constexpr int64_t default_step_ns = 1'000'000;

  explicit pacer(double per_sec, int64_t step_ns = default_step_ns)
      : period_ns_(per_sec > 0 ? 1e9 / per_sec : 0), step_ns_(std::max<int64_t>(step_ns, 0)) {}
  // When record i (counted from 0 at start_ns) may go: 0 if now, else the time (now_ns)
  // it is due. A sender waits until then, not until the record is within a step: going
  // earlier would split the next burst.
  int64_t wait_until(int64_t start_ns, uint64_t i) const {
    if (period_ns_ <= 0) return 0;
    const auto due = start_ns + static_cast<int64_t>(period_ns_ * static_cast<double>(i));
    return due - now_ns() > step_ns_ ? due : 0;
  }
  // How many records from i on (at most `max`, at least 1) are due now, within one step.
  uint64_t due_now(int64_t start_ns, uint64_t i, uint64_t max) const {
    if (period_ns_ <= 0) return 1;
    const int64_t horizon = now_ns() + step_ns_ - start_ns;
    uint64_t n = 1;
    while (n < max && static_cast<int64_t>(period_ns_ * static_cast<double>(i + n)) <= horizon) ++n;
    return n;
  }
  // Waits until record i may go. `wait_for(ns)` waits at most ns and may return early
  // (a sender with replies to read waits for those, so acknowledgements are timed as
  // they arrive); it is called again until the record is due. Sleeping (not spinning)
  // leaves the cores to the system under test; the schedule is absolute, so
  // oversleeping one step is made up by the next ones.
  template <typename WaitFor>
  void wait(int64_t start_ns, uint64_t i, WaitFor&& wait_for) const {
    const int64_t until = wait_until(start_ns, i);
    if (until == 0) return;
    for (int64_t left; (left = until - now_ns()) > 0;) wait_for(left);
  }
  void wait(int64_t start_ns, uint64_t i) const {
    wait(start_ns, i,
         [](int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); });
  }

 private:
  double period_ns_;
  int64_t step_ns_;
};

}  // namespace cli::bench
