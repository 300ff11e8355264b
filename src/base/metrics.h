#pragma once
// A small metrics registry rendered in Prometheus text format. Counters and histogram
// buckets are relaxed atomics (no lock on the hot path); families with labels create
// their children under a mutex, so callers keep the returned reference. Gauges are
// computed at scrape time by callbacks that the owner registers and removes.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace base::metrics {

class counter {
 public:
  void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Latency histogram with fixed, exponential bucket bounds in seconds.
class histogram {
 public:
  static constexpr std::array<double, 16> bounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                    0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                    1.0,    2.5,     5.0,    10.0};
  void observe(double seconds);
  void render(std::string& out, std::string_view name, std::string_view label_text) const;

 private:
  std::array<std::atomic<uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

using labels = std::vector<std::pair<std::string, std::string>>;

class registry {
 public:
  static registry& global();

  counter& get_counter(std::string_view name, std::string_view help, const labels& l = {});
  histogram& get_histogram(std::string_view name, std::string_view help, const labels& l = {});

  // Gauge values produced at scrape time: the callback appends (labels, value) pairs.
  using gauge_fn = std::function<void(std::vector<std::pair<labels, double>>&)>;
  uint64_t add_gauge(std::string_view name, std::string_view help, gauge_fn fn);
  void remove_gauge(uint64_t id);

  std::string render() const;

 private:
  struct family {
    std::string help;
    std::string type;
    std::map<std::string, std::unique_ptr<counter>> counters;      // by rendered labels
    std::map<std::string, std::unique_ptr<histogram>> histograms;  // by rendered labels
    std::map<uint64_t, gauge_fn> gauges;
  };
  family& fam(std::string_view name, std::string_view help, std::string_view type);

  mutable std::mutex mutex_;
  std::map<std::string, family, std::less<>> families_;
  uint64_t next_gauge_id_ = 1;
};

// `{a="x",b="y"}` with Prometheus escaping; empty for no labels.
std::string render_labels(const labels& l);

}  // namespace base::metrics
