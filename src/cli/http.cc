// `riptide http stats`: what a broker's HTTP listener has served — requests, errors and
// latency per route, open WebSocket and SSE streams, bytes pushed, slow clients cut off and
// requests refused by limits — read from the listener's /metrics page over plain HTTP.

#include <algorithm>
#include <cmath>
#include <map>

#include "cli/client.h"
#include "cli/env.h"
#include "cli/http_client.h"

namespace cli {
namespace {

struct http_options {
  common_options common;
  std::string url;
};

// ---- the metrics page (Prometheus text format) -----------------------------------------

using label_map = std::map<std::string, std::string>;

struct sample {
  std::string name;
  label_map labels;
  double value = 0;
};

// One sample line: name{k="v",...} value. False for comments and lines it cannot read.
bool parse_sample(std::string_view line, sample& out) {
  if (line.empty() || line.front() == '#') return false;
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  out.name = std::string(line.substr(0, i));
  out.labels.clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return false;
      }
      std::string key(line.substr(i, eq - i));
      std::string value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) {
          ++j;
          value += line[j] == 'n' ? '\n' : line[j];
        } else {
          value += line[j];
        }
      }
      if (j >= line.size()) return false;
      out.labels[std::move(key)] = std::move(value);
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    ++i;
  }
  while (i < line.size() && line[i] == ' ') ++i;
  const std::string number(line.substr(i, line.find(' ', i) - i));
  char* end = nullptr;
  out.value = std::strtod(number.c_str(), &end);
  return !number.empty() && end == number.c_str() + number.size();
}

struct route_stats {
  double requests = 0;
  double errors = 0;
  double seconds_sum = 0;
  double count = 0;
  std::vector<std::pair<double, double>> buckets;  // (upper bound, cumulative count)

  // The q-quantile in seconds, interpolated within its bucket; -1 without observations.
  double quantile(double q) const {
    if (count <= 0 || buckets.empty()) return -1;
    auto sorted = buckets;
    std::sort(sorted.begin(), sorted.end());
    const double rank = q * count;
    double lower = 0, below = 0;
    for (const auto& [le, cumulative] : sorted) {
      if (cumulative >= rank) {
        if (std::isinf(le)) return lower;  // above the last bound: say the bound
        const double in = cumulative - below;
        return in <= 0 ? le : lower + (le - lower) * (rank - below) / in;
      }
      lower = le;
      below = cumulative;
    }
    return lower;
  }
};

struct listener_stats {
  std::map<std::pair<std::string, std::string>, route_stats> routes;           // (method, route)
  std::map<std::string, double> streams_open, bytes_pushed, slow_disconnects;  // by kind
  std::map<std::string, double> refused;                                       // by limit
};

listener_stats read_stats(const std::string& page) {
  listener_stats s;
  for (const auto* kind : {"websocket", "sse"}) {
    s.streams_open[kind] = s.bytes_pushed[kind] = s.slow_disconnects[kind] = 0;
  }
  sample smp;
  size_t start = 0;
  while (start < page.size()) {
    size_t end = page.find('\n', start);
    if (end == std::string::npos) end = page.size();
    const std::string_view line(page.data() + start, end - start);
    start = end + 1;
    if (!line.starts_with("riptide_http_") || !parse_sample(line, smp)) continue;
    const auto label = [&](const char* k) {
      auto it = smp.labels.find(k);
      return it == smp.labels.end() ? std::string() : it->second;
    };
    const auto route = [&]() -> route_stats& {
      return s.routes[{label("method"), label("route")}];
    };
    if (smp.name == "riptide_http_requests_total") {
      route().requests = smp.value;
    } else if (smp.name == "riptide_http_request_errors_total") {
      route().errors = smp.value;
    } else if (smp.name == "riptide_http_request_seconds_bucket") {
      const std::string le = label("le");
      route().buckets.emplace_back(le == "+Inf" ? INFINITY : std::strtod(le.c_str(), nullptr),
                                   smp.value);
    } else if (smp.name == "riptide_http_request_seconds_sum") {
      route().seconds_sum = smp.value;
    } else if (smp.name == "riptide_http_request_seconds_count") {
      route().count = smp.value;
    } else if (smp.name == "riptide_http_streams_open") {
      s.streams_open[label("kind")] = smp.value;
    } else if (smp.name == "riptide_http_stream_bytes_total") {
      s.bytes_pushed[label("kind")] = smp.value;
    } else if (smp.name == "riptide_http_stream_slow_disconnects_total") {
      s.slow_disconnects[label("kind")] = smp.value;
    } else if (smp.name == "riptide_http_refused_total") {
      s.refused[label("limit")] = smp.value;
    }
  }
  return s;
}

std::string count_text(double v) {
  return std::to_string(static_cast<int64_t>(std::llround(v)));
}

std::string ms_text(double seconds) {
  if (seconds < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", seconds * 1000);
  return buf;
}

std::string bytes_text(double v) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string json_number(double v) {
  if (v < 0) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

void stats(const http_options& o) {
  const endpoint e = parse_url(o.url);
  const std::string page = http_get(e, "/metrics", o.common.timeout_ms);
  const listener_stats s = read_stats(page);
  if (page.find("riptide_") == std::string::npos) {
    fail(e.text() + "/metrics has no riptide_* series; is --url a Riptide HTTP listener?");
  }
  std::vector<std::pair<std::pair<std::string, std::string>, route_stats>> routes;
  for (const auto& [k, r] : s.routes) {
    if (r.requests > 0) routes.emplace_back(k, r);
  }
  std::stable_sort(routes.begin(), routes.end(), [](const auto& a, const auto& b) {
    return a.second.requests > b.second.requests;
  });

  if (o.common.json) {
    auto rs = json::array();
    for (const auto& [k, r] : routes) {
      rs.item(json::object()
                  .str("method", k.first)
                  .str("route", k.second)
                  .num("requests", std::llround(r.requests))
                  .num("errors", std::llround(r.errors))
                  .raw("mean_ms", json_number(r.count > 0 ? r.seconds_sum / r.count * 1000 : -1))
                  .raw("p50_ms", json_number(r.quantile(0.5) * 1000))
                  .raw("p99_ms", json_number(r.quantile(0.99) * 1000))
                  .done());
    }
    auto streams = json::object();
    for (const auto& [kind, open] : s.streams_open) {
      streams.raw(kind, json::object()
                            .num("open", std::llround(open))
                            .num("bytes_pushed", std::llround(s.bytes_pushed.at(kind)))
                            .num("slow_disconnects", std::llround(s.slow_disconnects.at(kind)))
                            .done());
    }
    auto refused = json::object();
    for (const auto& [limit, n] : s.refused) refused.num(limit, std::llround(n));
    std::puts(json::object()
                  .str("url", e.text())
                  .raw("streams", streams.done())
                  .raw("refused", refused.done())
                  .raw("routes", rs.done())
                  .done()
                  .c_str());
    return;
  }
  std::printf("HTTP listener %s\n\n", e.text().c_str());
  table st({"STREAMS", "OPEN", "PUSHED", "SLOW DISCONNECTS"});
  for (const auto& [kind, open] : s.streams_open) {
    st.add({kind, count_text(open), bytes_text(s.bytes_pushed.at(kind)),
            count_text(s.slow_disconnects.at(kind))});
  }
  st.print();
  if (!s.refused.empty()) {
    std::printf("\n");
    table rt({"REFUSED BY LIMIT", "REQUESTS"});
    for (const auto& [limit, n] : s.refused) rt.add({limit, count_text(n)});
    rt.print();
  }
  std::printf("\n");
  if (routes.empty()) {
    std::printf("No requests served yet.\n");
    return;
  }
  table t({"METHOD", "ROUTE", "REQUESTS", "ERRORS", "MEAN MS", "P50 MS", "P99 MS"});
  for (const auto& [k, r] : routes) {
    t.add({k.first, k.second, count_text(r.requests), count_text(r.errors),
           ms_text(r.count > 0 ? r.seconds_sum / r.count : -1), ms_text(r.quantile(0.5)),
           ms_text(r.quantile(0.99))});
  }
  t.print();
}

}  // namespace

void declare_http(CLI::App& cmd, action& run) {
  cmd.require_subcommand(1);
  auto o = std::make_shared<http_options>();
  auto* s = cmd.add_subcommand(
      "stats",
      "Show what the HTTP listener has served: requests, errors and latency (mean, p50, p99 "
      "from its histograms) per route, open WebSocket and SSE streams, bytes pushed to them, "
      "slow clients disconnected, and requests refused by limits.");
  s->add_option("--url", o->url,
                "The broker's HTTP listener [default: $" + std::string(http_url_env) +
                    " or http://127.0.0.1:9644]")
      ->type_name("URL");
  s->add_flag("--json", o->common.json, "Machine-readable JSON output.");
  s->add_option("--timeout", o->common.timeout, "How long to wait for the listener, e.g. 2s.")
      ->capture_default_str()
      ->type_name("DURATION");
  s->footer(exit_codes_help);
  on_run(*s, run, o->common, [o] {
    o->url = default_http_url(o->url);
    stats(*o);
  });
}

}  // namespace cli
