// /v1/groups: consumer groups shared with Kafka consumers — HTTP consumers that join
// them (create, subscribe, poll records, commit, seek, delete) and the groups' admin
// (list, describe with lag, reset offsets, delete).

#include <fmt/format.h>

#include <random>

#include "base/clock.h"
#include "broker/consumer_protocol.h"
#include "http/consumer.h"
#include "http/errors.h"
#include "http/json_util.h"
#include "http/server.h"

namespace http {
namespace {

namespace bj = boost::json;

std::string random_name() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("http-{:016x}", rng());
}

std::optional<std::vector<std::string>> string_list(const bj::value* v) {
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& t : v->as_array()) {
    if (!t.is_string() || t.as_string().empty()) return std::nullopt;
    out.emplace_back(t.as_string());
  }
  return out;
}

bj::object view_json(const consumer_view& v, const std::string& group, const std::string& name) {
  bj::array topics;
  for (const auto& t : v.topics) topics.push_back(bj::string(t));
  bj::array assignment;
  for (const auto& [tp, o] : v.positions) {
    assignment.push_back(
        bj::object{{"topic", tp.topic}, {"partition", tp.partition}, {"position", o}});
  }
  return bj::object{{"group", group},
                    {"name", name},
                    {"member_id", v.member_id},
                    {"generation", v.generation},
                    {"topics", std::move(topics)},
                    {"assignment", std::move(assignment)}};
}

unsigned owner(server_context& ctx, const std::string& group) {
  return ctx.broker.group_shard(group);
}

net::task<response> create(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  bj::object body;
  if (!req.body.empty()) {
    if (auto bad = parse_object(req, body)) co_return *bad;
  }
  consumer_settings s;
  s.group = group;
  s.instance_timeout = ctx.options.consumer_timeout;
  if (const auto* n = body.if_contains("name")) {
    if (!n->is_string() || n->as_string().empty() || n->as_string().size() > 200) {
      co_return bad_field("name", "a non-empty string of at most 200 characters");
    }
    s.name = std::string(n->as_string());
  } else {
    s.name = random_name();
  }
  if (const auto* f = body.if_contains("format")) {
    std::optional<format> parsed;
    if (f->is_string()) parsed = parse_format(f->as_string());
    if (!parsed) co_return bad_field("format", "\"json\", \"text\" or \"binary\"");
    s.fmt = *parsed;
  }
  if (const auto* r = body.if_contains("auto_offset_reset")) {
    if (!r->is_string() || (r->as_string() != "earliest" && r->as_string() != "latest")) {
      co_return bad_field("auto_offset_reset", "\"earliest\" or \"latest\"");
    }
    s.reset_earliest = r->as_string() == "earliest";
  }
  if (const auto* a = body.if_contains("auto_commit")) {
    if (!a->is_bool()) co_return bad_field("auto_commit", "true or false");
    s.auto_commit = a->as_bool();
  }
  if (const auto* t = body.if_contains("session_timeout_ms")) {
    if (!t->is_int64() || t->as_int64() < 1000 || t->as_int64() > 3600000) {
      co_return bad_field("session_timeout_ms", "an integer from 1000 to 3600000");
    }
    s.session_timeout_ms = static_cast<int32_t>(t->as_int64());
  }
  std::optional<std::vector<std::string>> topics;
  if (const auto* t = body.if_contains("topics")) {
    topics = string_list(t);
    if (!topics) co_return bad_field("topics", "an array of topic names");
  }
  const std::string name = s.name;
  auto v = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), create_consumer(ctx.broker, req.who, std::move(s), std::move(topics),
                                         ctx.options.max_consumers));
  if (v.bad) co_return *v.bad;
  auto r = json(201, to_json(view_json(v, group, name)));
  r.headers.emplace_back("Location", fmt::format("/v1/groups/{}/consumers/{}", group, name));
  co_return r;
}

net::task<response> describe(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("name");
  auto v =
      co_await ctx.broker.shards().invoke_on(owner(ctx, group), describe_consumer(group, name));
  if (v.bad) co_return *v.bad;
  co_return json(200, to_json(view_json(v, group, name)));
}

net::task<response> subscribe(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("name");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  auto topics = string_list(body.if_contains("topics"));
  if (!topics) co_return bad_field("topics", "an array of topic names");
  auto v = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), subscribe_consumer(group, name, std::move(*topics)));
  if (v.bad) co_return *v.bad;
  co_return json(200, to_json(view_json(v, group, name)));
}

net::task<response> records(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("name");
  auto max_records = query_int(req, "max_records", 500, 1, 10000);
  if (max_records.bad) co_return *max_records.bad;
  auto max_bytes = query_int(req, "max_bytes", 1 << 20, 1, 64 << 20);
  if (max_bytes.bad) co_return *max_bytes.bad;
  auto timeout = query_int(req, "timeout_ms", 0, 0, ctx.options.max_wait.count());
  if (timeout.bad) co_return *timeout.bad;
  auto p = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), poll_consumer(group, name, static_cast<size_t>(max_records.value),
                                       static_cast<size_t>(max_bytes.value),
                                       std::chrono::milliseconds(timeout.value)));
  if (p.bad) co_return *p.bad;
  if (p.result.error) co_return from_error(p.result.error);
  bj::array out;
  for (const auto& part : p.result.parts) {
    for (const auto& rec : part.records) {
      auto o = record_to_json(rec, part.tp.partition, p.fmt);
      o["topic"] = part.tp.topic;
      out.push_back(std::move(o));
    }
  }
  co_return json(
      200, to_json(bj::object{{"records", std::move(out)}, {"rebalancing", p.result.rebalancing}}));
}

net::task<response> commit(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("name");
  std::optional<std::vector<commit_offset>> offsets;
  if (!req.body.empty()) {
    bj::object body;
    if (auto bad = parse_object(req, body)) co_return *bad;
    if (body.contains("offsets")) {
      offsets.emplace();
      if (auto bad =
              parse_commit_offsets(body.if_contains("offsets"), "offsets", true, 0, *offsets)) {
        co_return *bad;
      }
    }
  }
  auto v = co_await ctx.broker.shards().invoke_on(owner(ctx, group),
                                                  commit_consumer(group, name, std::move(offsets)));
  if (v.bad) co_return *v.bad;
  co_return json(200, to_json(view_json(v, group, name)));
}

net::task<response> seek(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("name");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  std::vector<commit_offset> to;
  if (const auto* where = body.if_contains("to")) {
    // {"to": "earliest" | "latest"}: every assigned partition.
    if (!where->is_string() ||
        (where->as_string() != "earliest" && where->as_string() != "latest")) {
      co_return bad_field("to", "\"earliest\" or \"latest\" (or give \"offsets\")");
    }
    auto v =
        co_await ctx.broker.shards().invoke_on(owner(ctx, group), describe_consumer(group, name));
    if (v.bad) co_return *v.bad;
    for (const auto& [tp, o] : v.positions) {
      to.push_back({tp, where->as_string() == "earliest" ? -1 : -2});
    }
  } else if (auto bad = parse_commit_offsets(body.if_contains("offsets"), "offsets", true, 0, to)) {
    co_return *bad;
  }
  auto v = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), seek_consumer(ctx.broker, req.who, group, name, std::move(to)));
  if (v.bad) co_return *v.bad;
  co_return json(200, to_json(view_json(v, group, name)));
}

net::task<response> remove(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("name");
  auto v = co_await ctx.broker.shards().invoke_on(owner(ctx, group), delete_consumer(group, name));
  if (v.bad) co_return *v.bad;
  response r;
  r.status = 204;
  co_return r;
}

// ---- group admin ----

net::task<response> list_groups(server_context& ctx, request& req) {
  auto groups = co_await ctx.broker.groups().list(req.who);
  bj::array out;
  for (const auto& g : groups) {
    out.push_back(bj::object{{"group", g.group_id},
                             {"protocol_type", g.protocol_type},
                             {"state", std::string(broker::to_string(g.state))}});
  }
  co_return json(200, to_json(bj::object{{"groups", std::move(out)}}));
}

net::task<response> describe_group(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  auto d = co_await ctx.broker.groups().describe(req.who, group);
  auto committed = co_await ctx.broker.groups().fetch_offsets(req.who, group, std::nullopt);
  if (committed.error) co_return from_error(committed.error);
  if (d.state == broker::group_state::dead && committed.partitions.empty()) {
    co_return error(404, "unknown_group", fmt::format("group '{}' does not exist", group), 40404);
  }
  bj::array members;
  for (const auto& m : d.members) {
    bj::array assigned;
    if (d.protocol_type == "consumer") {
      if (auto a = broker::decode_assignment(m.assignment)) {
        for (const auto& [topic, parts] : *a) {
          for (int32_t p : parts)
            assigned.push_back(bj::object{{"topic", topic}, {"partition", p}});
        }
      }
    }
    members.push_back(bj::object{{"member_id", m.member_id},
                                 {"client_id", m.client_id},
                                 {"host", m.client_host},
                                 {"assignment", std::move(assigned)}});
  }
  bj::array offsets;
  int64_t total_lag = 0;
  for (const auto& p : committed.partitions) {
    if (p.value.offset < 0) continue;
    broker::topic_partition tp{p.topic, p.partition};
    auto end = co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::latest);
    bj::object o{{"topic", p.topic}, {"partition", p.partition}, {"committed", p.value.offset}};
    if (!end.error) {
      const int64_t lag = std::max<int64_t>(0, end.offset - p.value.offset);
      o["high_watermark"] = end.offset;
      o["lag"] = lag;
      total_lag += lag;
    }
    offsets.push_back(std::move(o));
  }
  co_return json(200, to_json(bj::object{{"group", group},
                                         {"state", std::string(broker::to_string(d.state))},
                                         {"protocol_type", d.protocol_type},
                                         {"protocol", d.protocol_name},
                                         {"members", std::move(members)},
                                         {"offsets", std::move(offsets)},
                                         {"lag", total_lag}}));
}

net::task<response> delete_group(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const auto ec = co_await ctx.broker.groups().delete_group(req.who, group);
  if (ec) co_return from_error(ec);
  response r;
  r.status = 204;
  co_return r;
}

// Resets a group's committed offsets for a topic (the group must have no members, as
// with kafka-consumer-groups --reset-offsets).
net::task<response> reset_offsets(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const auto* topic = body.if_contains("topic");
  if (!topic || !topic->is_string()) co_return bad_field("topic", "a topic name");
  auto t = ctx.broker.metadata()->find(topic->as_string());
  if (!t) {
    co_return error(404, "unknown_topic",
                    fmt::format("topic '{}' does not exist", std::string_view(topic->as_string())),
                    40401);
  }
  const auto* to = body.if_contains("to");
  broker::offset_spec spec = broker::offset_spec::earliest;
  int64_t exact = -1;
  int64_t ts = -1;
  if (to && to->is_string() && to->as_string() == "earliest") {
    spec = broker::offset_spec::earliest;
  } else if (to && to->is_string() && to->as_string() == "latest") {
    spec = broker::offset_spec::latest;
  } else if (to && to->is_int64() && to->as_int64() >= 0) {
    exact = to->as_int64();
  } else if (to && to->is_object() && to->as_object().if_contains("timestamp") &&
             to->as_object().at("timestamp").is_int64()) {
    spec = broker::offset_spec::by_timestamp;
    ts = to->as_object().at("timestamp").as_int64();
  } else {
    co_return bad_field("to", "\"earliest\", \"latest\", an offset, or {\"timestamp\": ms}");
  }
  auto d = co_await ctx.broker.groups().describe(req.who, group);
  if (!d.members.empty()) {
    co_return error(409, "non_empty_group",
                    fmt::format("group '{}' has {} members: stop them before resetting its "
                                "offsets",
                                group, d.members.size()),
                    40907);
  }
  broker::commit_request c;
  c.group_id = group;
  bj::array out;
  for (int32_t p = 0; p < t->partitions; ++p) {
    broker::topic_partition tp{t->name, p};
    int64_t offset = exact;
    if (offset < 0) {
      auto r = co_await ctx.broker.data().list_offset(req.who, tp, spec, ts);
      if (r.error) co_return from_error(r.error);
      if (r.offset < 0) {
        r = co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::latest);
        if (r.error) co_return from_error(r.error);
      }
      offset = r.offset;
    }
    broker::commit_request::partition cp;
    cp.topic = t->name;
    cp.partition = p;
    cp.value.offset = offset;
    cp.value.commit_time_ms = base::wall_ms();
    c.partitions.push_back(std::move(cp));
    out.push_back(bj::object{{"topic", t->name}, {"partition", p}, {"committed", offset}});
  }
  auto errors = co_await ctx.broker.groups().commit(req.who, std::move(c));
  for (const auto& ec : errors) {
    if (ec) co_return from_error(ec);
  }
  co_return json(200, to_json(bj::object{{"group", group}, {"offsets", std::move(out)}}));
}

}  // namespace

void add_group_routes(router& r) {
  const std::vector<std::string> kJson = {"application/json"};
  r.add({.method = "GET",
         .pattern = "/v1/groups",
         .fn = list_groups,
         .summary = "Every consumer group (Kafka and HTTP members alike)",
         .tag = "groups"});
  r.add({.method = "GET",
         .pattern = "/v1/groups/{group}",
         .fn = describe_group,
         .summary = "A group: state, members with their partitions, committed offsets and lag",
         .tag = "groups",
         .statuses = {404}});
  r.add({.method = "DELETE",
         .pattern = "/v1/groups/{group}",
         .fn = delete_group,
         .summary = "Deletes a group without members and its offsets",
         .tag = "groups",
         .statuses = {204, 404, 409}});
  r.add({.method = "POST",
         .pattern = "/v1/groups/{group}/offsets",
         .fn = reset_offsets,
         .summary = "Resets the group's committed offsets of a topic (group without members)",
         .tag = "groups",
         .request_body = R"({"type":"object","required":["topic","to"],"properties":{)"
                         R"("topic":{"type":"string"},"to":{}}})",
         .content_types = kJson,
         .statuses = {400, 404, 409}});
  r.add({.method = "POST",
         .pattern = "/v1/groups/{group}/consumers",
         .fn = create,
         .summary = "Creates an HTTP consumer: a member of the group the broker keeps for "
                    "this client, sharing partitions and offsets with Kafka consumers",
         .tag = "consumers",
         .request_body = R"({"type":"object","properties":{"name":{"type":"string"},)"
                         R"("topics":{"type":"array","items":{"type":"string"}},)"
                         R"("format":{"type":"string","enum":["json","text","binary"]},)"
                         R"("auto_offset_reset":{"type":"string","enum":["earliest","latest"]},)"
                         R"("auto_commit":{"type":"boolean"},)"
                         R"("session_timeout_ms":{"type":"integer"}}})",
         .content_types = kJson,
         .statuses = {201, 400, 409, 429}});
  r.add({.method = "GET",
         .pattern = "/v1/groups/{group}/consumers/{name}",
         .fn = describe,
         .summary = "The consumer's subscription, partitions and positions",
         .tag = "consumers",
         .statuses = {404}});
  r.add({.method = "DELETE",
         .pattern = "/v1/groups/{group}/consumers/{name}",
         .fn = remove,
         .summary = "The consumer leaves the group (committing first under auto_commit)",
         .tag = "consumers",
         .statuses = {204, 404}});
  r.add({.method = "PUT",
         .pattern = "/v1/groups/{group}/consumers/{name}/subscription",
         .fn = subscribe,
         .summary = "Replaces the consumer's topics (the group rebalances)",
         .tag = "consumers",
         .request_body = R"({"type":"object","required":["topics"],"properties":{)"
                         R"("topics":{"type":"array","items":{"type":"string"}}}})",
         .content_types = kJson,
         .statuses = {400, 404}});
  r.add({.method = "GET",
         .pattern = "/v1/groups/{group}/consumers/{name}/records",
         .fn = records,
         .summary = "Records of the consumer's partitions from its positions, waiting up to "
                    "timeout_ms; empty with rebalancing true while the group rebalances",
         .tag = "consumers",
         .query = {{"max_records", "query", "integer", "at most this many (500)", false},
                   {"max_bytes", "query", "integer", "about this many bytes (1 MiB)", false},
                   {"timeout_ms", "query", "integer", "wait this long for records (0)", false}},
         .statuses = {404, 409}});
  r.add({.method = "POST",
         .pattern = "/v1/groups/{group}/consumers/{name}/commit",
         .fn = commit,
         .summary = "Commits the consumer's positions, or the offsets given (the next to read)",
         .tag = "consumers",
         .request_body = R"({"type":"object","properties":{"offsets":{"type":"array"}}})",
         .content_types = kJson,
         .statuses = {400, 404, 409}});
  r.add({.method = "POST",
         .pattern = "/v1/groups/{group}/consumers/{name}/seek",
         .fn = seek,
         .summary = "Moves positions: {\"to\": \"earliest\"|\"latest\"} or {\"offsets\": [...]}",
         .tag = "consumers",
         .request_body = R"({"type":"object","properties":{"to":{"type":"string"},)"
                         R"("offsets":{"type":"array"}}})",
         .content_types = kJson,
         .statuses = {400, 404, 409}});
}

}  // namespace http
