#include "base/metrics.h"

#include <fmt/format.h>

namespace base::metrics {

void histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void histogram::render(std::string& out, std::string_view name, std::string_view label_text) const {
  // Labels arrive as `{...}` or empty; `le` is added inside the braces.
  const std::string inner = label_text.empty()
                                ? std::string()
                                : std::string(label_text.substr(1, label_text.size() - 2)) + ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{{}le=\"{}\"}} {}\n", name, inner, bounds[i], cumulative);
  }
  cumulative += buckets_[bounds.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{{}le=\"+Inf\"}} {}\n", name, inner, cumulative);
  out += fmt::format("{}_sum{} {}\n", name, label_text,
                     static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9);
  out += fmt::format("{}_count{} {}\n", name, label_text, count_.load(std::memory_order_relaxed));
}

std::string render_labels(const labels& l) {
  if (l.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < l.size(); ++i) {
    if (i) out += ',';
    out += l[i].first + "=\"";
    for (char c : l[i].second) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

registry& registry::global() {
  static registry r;
  return r;
}

registry::family& registry::fam(std::string_view name, std::string_view help,
                                std::string_view type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), family{}).first;
    it->second.help = help;
    it->second.type = type;
  }
  return it->second;
}

counter& registry::get_counter(std::string_view name, std::string_view help, const labels& l) {
  std::lock_guard lock(mutex_);
  auto& slot = fam(name, help, "counter").counters[render_labels(l)];
  if (!slot) slot = std::make_unique<counter>();
  return *slot;
}

histogram& registry::get_histogram(std::string_view name, std::string_view help, const labels& l) {
  std::lock_guard lock(mutex_);
  auto& slot = fam(name, help, "histogram").histograms[render_labels(l)];
  if (!slot) slot = std::make_unique<histogram>();
  return *slot;
}

uint64_t registry::add_gauge(std::string_view name, std::string_view help, gauge_fn fn) {
  std::lock_guard lock(mutex_);
  const uint64_t id = next_gauge_id_++;
  fam(name, help, "gauge").gauges[id] = std::move(fn);
  return id;
}

void registry::remove_gauge(uint64_t id) {
  std::lock_guard lock(mutex_);
  for (auto& [_, f] : families_) f.gauges.erase(id);
}

std::string registry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [l, c] : f.counters) out += fmt::format("{}{} {}\n", name, l, c->value());
    for (const auto& [l, h] : f.histograms) h->render(out, name, l);
    std::vector<std::pair<labels, double>> values;
    for (const auto& [_, fn] : f.gauges) fn(values);
    for (const auto& [l, v] : values) out += fmt::format("{}{} {}\n", name, render_labels(l), v);
  }
  return out;
}

}  // namespace base::metrics
