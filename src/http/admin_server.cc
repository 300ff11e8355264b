#include "http/admin_server.h"

#include <fmt/format.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>

#include "base/metrics.h"

namespace http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using net::asio::as_tuple;
using net::asio::use_awaitable;

struct route {
  std::string_view path;
  std::string_view description;
};

// The routes, also listed in the 404 answer.
constexpr route kRoutes[] = {
    {"/metrics", "Prometheus metrics"},
    {"/healthz", "200 while the process serves HTTP"},
    {"/readyz",
     "200 once the data directory is open and the Kafka listener is up; 503 naming any "
     "partition an I/O error made read-only, or while the disk is full"},
    {"/v1/faults/cut-kafka-connections",
     "POST: every Kafka connection closes instead of sending its next response "
     "(only with testing.fault_injection)"},
};

std::string json_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

admin_server::admin_server(broker::broker& b, net::listen_address addr)
    : broker_(b), addr_(std::move(addr)) {}

admin_server::~admin_server() {
  stop();
}

base::result<uint16_t> admin_server::start() {
  // One listener on shard 0 is plenty for scrapes and probes.
  tcp_ = std::make_unique<net::tcp_server>(
      broker_.shards(), addr_, [this](net::tcp::socket s, unsigned) { return serve(std::move(s)); },
      /*shards=*/1);
  return tcp_->start();
}

void admin_server::stop() {
  if (tcp_) tcp_->stop();
  tcp_.reset();
}

net::task<std::string> admin_server::read_only_partitions() {
  std::string out;
  const auto stats = co_await broker_.partition_stats_all();
  for (const auto& p : stats) {
    if (p.failure.empty()) continue;
    out += fmt::format(R"({}{{"partition":"{}","error":"{}"}})", out.empty() ? "" : ",",
                       json_escape(p.name.dir_name()), json_escape(p.failure));
  }
  co_return out;
}

net::task<std::string> admin_server::render_metrics() {
  std::string out = base::metrics::registry::global().render();
  const auto all = co_await broker_.partition_stats_all();
  auto gauge = [&](std::string_view name, std::string_view help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& p : all) {
      out += fmt::format(
          "{}{} {}\n", name,
          base::metrics::render_labels(
              {{"topic", p.name.topic}, {"partition", std::to_string(p.name.partition)}}),
          value(p));
    }
  };
  gauge("riptide_partition_size_bytes", "Bytes of a partition's segments on disk",
        [](const broker::partition_stats& p) { return p.size_bytes; });
  gauge("riptide_partition_log_start_offset", "First offset still stored",
        [](const broker::partition_stats& p) { return p.log_start; });
  gauge("riptide_partition_high_watermark", "Offset up to which records are readable (durable)",
        [](const broker::partition_stats& p) { return p.high_watermark; });
  gauge("riptide_partition_log_end_offset", "Offset the next record will get",
        [](const broker::partition_stats& p) { return p.log_end; });
  out += fmt::format(
      "# HELP riptide_disk_full 1 while writes are refused for lack of space in the data "
      "directory\n# TYPE riptide_disk_full gauge\nriptide_disk_full {}\n"
      "# HELP riptide_disk_full_refusals_total Appends refused for lack of space\n"
      "# TYPE riptide_disk_full_refusals_total counter\nriptide_disk_full_refusals_total {}\n"
      "# HELP riptide_disk_free_bytes Free bytes of the data directory's file system\n"
      "# TYPE riptide_disk_free_bytes gauge\nriptide_disk_free_bytes {}\n",
      broker_.disk().full() ? 1 : 0, broker_.disk().refusals(), broker_.disk().free_bytes());
  gauge("riptide_partition_read_only",
        "1 when an I/O error made the partition refuse writes until the broker restarts",
        [](const broker::partition_stats& p) { return p.failure.empty() ? 0 : 1; });

  // Consumer group lag: committed offset against the partition's readable end.
  std::map<std::pair<std::string, int32_t>, int64_t> end;
  for (const auto& p : all) end[{p.name.topic, p.name.partition}] = p.high_watermark;
  const auto commits = co_await broker_.groups().offset_stats();
  auto group_gauge = [&](std::string_view name, std::string_view help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& c : commits) {
      auto e = end.find({c.topic, c.partition});
      if (e == end.end()) continue;  // the topic is gone
      out += fmt::format(
          "{}{} {}\n", name,
          base::metrics::render_labels(
              {{"group", c.group}, {"topic", c.topic}, {"partition", std::to_string(c.partition)}}),
          value(c.committed, e->second));
    }
  };
  group_gauge("riptide_group_committed_offset", "Offset a consumer group committed",
              [](int64_t committed, int64_t) { return committed; });
  group_gauge("riptide_group_log_end_offset",
              "Readable end (high watermark) of a partition a group committed for",
              [](int64_t, int64_t log_end) { return log_end; });
  group_gauge("riptide_group_lag", "Records between a group's committed offset and the log end",
              [](int64_t committed, int64_t log_end) {
                return std::max<int64_t>(0, log_end - std::max<int64_t>(committed, 0));
              });
  co_return out;
}

net::task<void> admin_server::serve(net::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(std::chrono::seconds(30));
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(16 * 1024);
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
    if (ec) co_return;
    const auto& req = parser.get();
    bhttp::response<bhttp::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(bhttp::field::server, "riptide");
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    auto json = [&](bhttp::status status, const std::string& body) {
      res.result(status);
      res.set(bhttp::field::content_type, "application/json");
      res.body() = body;
    };
    if (path == "/v1/faults/cut-kafka-connections") {
      if (req.method() != bhttp::verb::post) {
        json(bhttp::status::method_not_allowed, R"({"error":"method not allowed: use POST"})");
      } else if (!broker_.faults().enabled) {
        json(bhttp::status::forbidden,
             R"({"error":"fault injection is disabled: start the broker with )"
             R"(--testing-fault-injection true to use it"})");
      } else {
        const auto cuts = broker_.faults().cut_connections.fetch_add(1) + 1;
        json(bhttp::status::ok, fmt::format(R"({{"cut":{}}})", cuts));
      }
    } else if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      json(bhttp::status::method_not_allowed, R"({"error":"method not allowed: use GET"})");
    } else if (path == "/metrics") {
      res.result(bhttp::status::ok);
      res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
      res.body() = co_await render_metrics();
    } else if (path == "/healthz") {
      json(bhttp::status::ok, R"({"status":"ok"})");
    } else if (path == "/readyz") {
      std::string failed;
      if (ready_.load()) failed = co_await read_only_partitions();
      const bool disk_full = ready_.load() && broker_.disk().full();
      if (!ready_.load()) {
        json(bhttp::status::service_unavailable, R"({"status":"starting"})");
      } else if (!failed.empty() || disk_full) {
        std::string why;
        if (disk_full) {
          why += fmt::format(R"(,"disk_full":{{"free_bytes":{},"min_free_bytes":{}}})",
                             broker_.disk().free_bytes(), broker_.disk().min_free_bytes());
        }
        if (!failed.empty()) why += fmt::format(R"(,"read_only_partitions":[{}])", failed);
        json(bhttp::status::service_unavailable, fmt::format(R"({{"status":"degraded"{}}})", why));
      } else {
        json(bhttp::status::ok, R"({"status":"ready"})");
      }
    } else {
      std::string known;
      for (const auto& r : kRoutes) known += (known.empty() ? "" : ", ") + std::string(r.path);
      json(bhttp::status::not_found,
           fmt::format(R"({{"error":"no such path: {}","paths":"{}"}})", json_escape(path), known));
    }
    res.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(stream, res, as_tuple(use_awaitable));
    if (wec || !res.keep_alive()) co_return;
  }
}

}  // namespace http
