// `riptide http stats`: what a broker's HTTP listener has served — requests, errors and
// latency per route, open WebSocket and SSE streams, bytes pushed, slow clients cut off and
// requests refused by limits — read from the listener's /metrics page over plain HTTP.

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>

#include "cli/client.h"
#include "cli/env.h"

namespace cli {
namespace {

struct http_options {
  common_options common;
  std::string url;
};

struct endpoint {
  std::string host;
  std::string port;
  std::string text() const {
    return "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  }
};

// "http://HOST:PORT", "HOST:PORT" or "[::1]:PORT"; a usage error naming the flag otherwise.
endpoint parse_url(std::string url) {
  const std::string original = url;
  if (url.starts_with("http://")) url.erase(0, 7);
  while (!url.empty() && url.back() == '/') url.pop_back();
  endpoint e;
  size_t colon = std::string::npos;
  if (url.starts_with("[")) {
    const size_t close = url.find(']');
    if (close != std::string::npos) {
      e.host = url.substr(1, close - 1);
      colon = close + 1 < url.size() && url[close + 1] == ':' ? close + 1 : std::string::npos;
    }
  } else {
    colon = url.rfind(':');
    if (colon != std::string::npos) e.host = url.substr(0, colon);
  }
  if (colon != std::string::npos) e.port = url.substr(colon + 1);
  int port = 0;
  const auto [end, ec] = std::from_chars(e.port.data(), e.port.data() + e.port.size(), port);
  if (e.host.empty() || ec != std::errc() || end != e.port.data() + e.port.size() || port <= 0 ||
      port > 65535 || url.find('/') != std::string::npos) {
    usage_error("invalid --url \"" + original +
                "\": expected the HTTP listener as http://HOST:PORT, e.g. http://127.0.0.1:9644 "
                "(riptide serve's http_listen)");
  }
  return e;
}

[[noreturn]] void unreachable(const endpoint& e, const std::string& detail) {
  throw failure(exit_unreachable,
                "cannot reach the HTTP listener at " + e.text() + ": " + detail +
                    "; is `riptide serve` running, and is --url its http_listen (default "
                    "127.0.0.1:9644)?");
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Removes HTTP/1.1 chunked framing.
std::string dechunk(std::string_view body) {
  std::string out;
  while (!body.empty()) {
    const size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos) break;
    size_t n = 0;
    const auto [end, ec] = std::from_chars(body.data(), body.data() + eol, n, 16);
    if (ec != std::errc() || n == 0 || eol + 2 + n > body.size()) break;
    out.append(body.substr(eol + 2, n));
    body.remove_prefix(std::min(body.size(), eol + 2 + n + 2));
    (void)end;
  }
  return out;
}

// GET `path` with Connection: close; the body of a 200 answer.
std::string http_get(const endpoint& e, const std::string& path, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &found); rc != 0) {
    unreachable(e, std::string("cannot resolve the host: ") + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs(found, ::freeaddrinfo);
  fd_guard sock;
  std::string why = "no address";
  for (const addrinfo* a = addrs.get(); a != nullptr; a = a->ai_next) {
    fd_guard s{::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (s.fd < 0) continue;
    if (::connect(s.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      why = std::strerror(errno);
      continue;
    }
    if (!wait_fd(s.fd, POLLOUT, deadline)) {
      why = "no answer within --timeout";
      continue;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      why = std::strerror(err);
      continue;
    }
    std::swap(sock.fd, s.fd);
    break;
  }
  if (sock.fd < 0) unreachable(e, why);
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + e.host + ":" + e.port +
                              "\r\nUser-Agent: riptide-cli\r\nConnection: close\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    if (!wait_fd(sock.fd, POLLOUT, deadline)) unreachable(e, "no answer within --timeout");
    const ssize_t n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) unreachable(e, std::strerror(errno));
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[16384];
  for (;;) {
    if (!wait_fd(sock.fd, POLLIN, deadline)) unreachable(e, "no answer within --timeout");
    const ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      unreachable(e, std::strerror(errno));
    }
    answer.append(buf, static_cast<size_t>(n));
    if (answer.size() > (64u << 20)) fail("the answer of " + e.text() + path + " is over 64 MiB");
  }
  const size_t head_end = answer.find("\r\n\r\n");
  if (!answer.starts_with("HTTP/1.") || head_end == std::string::npos) {
    fail(e.text() +
         " did not answer like an HTTP server; is --url the HTTP listener, not the "
         "Kafka one?");
  }
  const std::string status_line = answer.substr(0, answer.find("\r\n"));
  if (status_line.size() < 12 || status_line.compare(9, 3, "200") != 0) {
    fail("GET " + e.text() + path + " answered \"" + status_line + "\"");
  }
  std::string head = answer.substr(0, head_end);
  std::transform(head.begin(), head.end(), head.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string body = answer.substr(head_end + 4);
  if (head.find("transfer-encoding: chunked") != std::string::npos) body = dechunk(body);
  return body;
}

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
    if (o->url.empty()) {
      const char* env = std::getenv(std::string(http_url_env).c_str());
      o->url = env != nullptr && *env != '\0' ? env : "http://127.0.0.1:9644";
    }
    stats(*o);
  });
}

}  // namespace cli
