// /metrics, /healthz, /readyz, /v1/cluster and the fault-injection switch.

#include <fmt/format.h>

#include <boost/json.hpp>
#include <map>

#include "base/metrics.h"
#include "http/server.h"

namespace http {
namespace {

net::task<std::vector<broker::queue_position_stat>> queue_positions(broker::broker& b) {
  co_return b.local_queues().position_stats();
}

net::task<std::string> render_metrics(broker::broker& b) {
  std::string out = base::metrics::registry::global().render();
  const auto all = co_await b.partition_stats_all();
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
      b.disk().full() ? 1 : 0, b.disk().refusals(), b.disk().free_bytes());
  gauge("riptide_partition_read_only",
        "1 when an I/O error made the partition refuse writes until the broker restarts",
        [](const broker::partition_stats& p) { return p.failure.empty() ? 0 : 1; });

  // Consumer group lag: committed offset against the partition's readable end.
  std::map<std::pair<std::string, int32_t>, int64_t> end;
  for (const auto& p : all) end[{p.name.topic, p.name.partition}] = p.high_watermark;
  const auto commits = co_await b.groups().offset_stats();
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

  // A queue's depth: records never handed out (the high watermark past the queue's next
  // offset) and records available again, as GET /v1/queues/{queue} counts them.
  std::map<std::string, std::pair<int64_t, int64_t>> queues;  // ready, never handed out
  for (unsigned s = 0; s < b.shards().size(); ++s) {
    const auto part = co_await b.shards().invoke_on(s, queue_positions(b));
    for (const auto& q : part) {
      auto& [ready, unread] = queues[q.queue];
      auto e = end.find({q.topic, q.partition});
      const int64_t fresh = e == end.end() ? 0 : std::max<int64_t>(0, e->second - q.next);
      unread += fresh;
      ready += fresh + static_cast<int64_t>(q.available) - static_cast<int64_t>(q.delayed);
    }
  }
  auto queue_gauge = [&](std::string_view name, std::string_view help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    for (const auto& [queue, figures] : queues) {
      out += fmt::format("{}{} {}\n", name, base::metrics::render_labels({{"queue", queue}}),
                         value(figures));
    }
  };
  queue_gauge("riptide_queue_ready",
              "Records a worker can receive now: never handed out, or available again and not "
              "delayed",
              [](const std::pair<int64_t, int64_t>& f) { return f.first; });
  queue_gauge("riptide_queue_not_yet_delivered",
              "Records of the queue's topic never handed out yet",
              [](const std::pair<int64_t, int64_t>& f) { return f.second; });
  co_return out;
}

net::task<response> get_metrics(server_context& ctx, request&) {
  response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = co_await render_metrics(ctx.broker);
  co_return r;
}

net::task<response> get_healthz(server_context&, request&) {
  co_return json(200, R"({"status":"ok"})");
}

net::task<response> get_readyz(server_context& ctx, request&) {
  if (!ctx.ready.load()) co_return json(503, R"({"status":"starting"})");
  boost::json::array failed;
  const auto stats = co_await ctx.broker.partition_stats_all();
  for (const auto& p : stats) {
    if (p.failure.empty()) continue;
    failed.push_back(boost::json::object{{"partition", p.name.dir_name()}, {"error", p.failure}});
  }
  const bool disk_full = ctx.broker.disk().full();
  if (failed.empty() && !disk_full) co_return json(200, R"({"status":"ready"})");
  boost::json::object o{{"status", "degraded"}};
  if (disk_full) {
    o["disk_full"] = boost::json::object{{"free_bytes", ctx.broker.disk().free_bytes()},
                                         {"min_free_bytes", ctx.broker.disk().min_free_bytes()}};
  }
  if (!failed.empty()) o["read_only_partitions"] = std::move(failed);
  co_return json(503, boost::json::serialize(o));
}

net::task<response> get_cluster(server_context& ctx, request&) {
  boost::json::object o{{"cluster_id", ctx.broker.identity().cluster_id},
                        {"node_id", ctx.broker.node_id()},
                        {"shards", ctx.broker.shards().size()}};
  co_return json(200, boost::json::serialize(o));
}

net::task<response> post_cut_connections(server_context& ctx, request&) {
  if (!ctx.broker.faults().enabled) {
    co_return error(403, "fault_injection_disabled",
                    "fault injection is disabled: start the broker with "
                    "--testing-fault-injection true to use it");
  }
  const auto cuts = ctx.broker.faults().cut_connections.fetch_add(1) + 1;
  co_return json(200, fmt::format(R"({{"cut":{}}})", cuts));
}

}  // namespace

void add_system_routes(router& r) {
  r.add({.method = "GET",
         .pattern = "/healthz",
         .fn = get_healthz,
         .summary = "200 while the process serves HTTP",
         .tag = "system"});
  r.add({.method = "GET",
         .pattern = "/readyz",
         .fn = get_readyz,
         .summary = "200 once the data directory is open and the Kafka listener is up; 503 "
                    "naming any partition an I/O error made read-only, or while the disk is full",
         .tag = "system",
         .statuses = {503}});
  r.add({.method = "GET",
         .pattern = "/metrics",
         .fn = get_metrics,
         .summary = "Prometheus metrics (text format 0.0.4)",
         .tag = "system"});
  r.add({.method = "GET",
         .pattern = "/v1/cluster",
         .fn = get_cluster,
         .summary = "The cluster id, this node's id and its shards",
         .tag = "cluster"});
  r.add({.method = "POST",
         .pattern = "/v1/faults/cut-kafka-connections",
         .fn = post_cut_connections,
         .summary = "Every Kafka connection closes instead of sending its next response (only "
                    "with testing.fault_injection)",
         .tag = "testing",
         .statuses = {403}});
}

}  // namespace http
