// The REST Proxy v2 paths Kafka users already script against: produce to a topic or a
// partition (application/vnd.kafka.json.v2+json and application/vnd.kafka.binary.v2+json),
// topic and broker listings, and consumer instances (create, subscribe, records, commit,
// positions, assignments, delete). Thin translations onto the same core as /v1: a
// consumer instance is an HTTP consumer (consumer.h) of the group in the path.

#include <fmt/format.h>

#include "http/consumer.h"
#include "http/errors.h"
#include "http/json_util.h"
#include "http/produce.h"
#include "http/server.h"

namespace http {
namespace {

namespace bj = boost::json;

constexpr const char* kV2 = "application/vnd.kafka.v2+json";
constexpr const char* kJsonV2 = "application/vnd.kafka.json.v2+json";
constexpr const char* kBinaryV2 = "application/vnd.kafka.binary.v2+json";

response v2(int status, const bj::value& body) {
  response r = json(status, to_json(body));
  r.content_type = kV2;
  return r;
}

response no_content() {
  response r;
  r.status = 204;
  return r;
}

unsigned owner(server_context& ctx, const std::string& group) {
  return ctx.broker.group_shard(group);
}

net::task<response> produce(server_context& ctx, request& req, std::optional<int32_t> partition) {
  const std::string ct = req.content_type();
  const format f = ct == kBinaryV2 ? format::binary : format::json;
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const std::string topic = req.params.at("topic");
  if (!ctx.broker.metadata()->find(topic) && ctx.broker.options().auto_create_topics) {
    // As a Kafka producer would find it: created with the defaults (topics.auto_create).
    const int32_t partitions = ctx.broker.options().default_partitions;
    const broker::config_map no_configs;
    auto created = co_await ctx.broker.create_topic(req.who, topic, partitions, no_configs);
    if (!created.ok() && created.error != broker::errc::topic_exists) {
      co_return from_error(created.error, created.text());
    }
  }
  auto out =
      co_await produce_json_records(ctx, req, topic, body.if_contains("records"), f, partition);
  if (out.bad) co_return *out.bad;
  bj::array offsets;
  for (const auto& r : out.rows) {
    if (r.error) {
      const auto e = classify(r.error);
      offsets.push_back(bj::object{{"partition", r.partition},
                                   {"offset", nullptr},
                                   {"error_code", e.code},
                                   {"error", broker::to_broker_error(r.error).message()}});
    } else {
      // A record held for delayed delivery has no offset yet.
      offsets.push_back(bj::object{{"partition", r.partition},
                                   {"offset", r.held ? bj::value(nullptr) : bj::value(r.offset)},
                                   {"error_code", nullptr},
                                   {"error", nullptr}});
    }
  }
  co_return v2(200, bj::object{{"offsets", std::move(offsets)},
                               {"key_schema_id", nullptr},
                               {"value_schema_id", nullptr}});
}

net::task<response> produce_topic(server_context& ctx, request& req) {
  return produce(ctx, req, std::nullopt);
}

net::task<response> produce_partition(server_context& ctx, request& req) {
  auto p = path_int(req, "partition", 0, INT32_MAX);
  if (p.bad) co_return *p.bad;
  const std::optional<int32_t> partition = static_cast<int32_t>(p.value);
  co_return co_await produce(ctx, req, partition);
}

bj::array partitions_json(server_context& ctx, int32_t count) {
  bj::array out;
  for (int32_t p = 0; p < count; ++p) {
    out.push_back(bj::object{
        {"partition", p},
        {"leader", ctx.broker.node_id()},
        {"replicas", bj::array{bj::object{
                         {"broker", ctx.broker.node_id()}, {"leader", true}, {"in_sync", true}}}}});
  }
  return out;
}

net::task<response> list_topics(server_context& ctx, request&) {
  bj::array out;
  for (const auto& [name, t] : ctx.broker.metadata()->topics) {
    if (!broker::broker::is_internal(name)) out.push_back(bj::string(name));
  }
  co_return v2(200, out);
}

net::task<response> get_topic(server_context& ctx, request& req) {
  const std::string& name = req.params.at("topic");
  auto t = ctx.broker.metadata()->find(name);
  if (!t) co_return error(404, "unknown_topic", "Topic not found.", 40401);
  bj::object configs;
  for (const auto& [k, v] : t->configs) configs[k] = v;
  co_return v2(200, bj::object{{"name", name},
                               {"configs", std::move(configs)},
                               {"partitions", partitions_json(ctx, t->partitions)}});
}

net::task<response> get_partitions(server_context& ctx, request& req) {
  const std::string& name = req.params.at("topic");
  auto t = ctx.broker.metadata()->find(name);
  if (!t) co_return error(404, "unknown_topic", "Topic not found.", 40401);
  co_return v2(200, partitions_json(ctx, t->partitions));
}

net::task<response> list_brokers(server_context& ctx, request&) {
  co_return v2(200, bj::object{{"brokers", bj::array{ctx.broker.node_id()}}});
}

// ---- consumer instances ----

net::task<response> create_instance(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  bj::object body;
  if (!req.body.empty()) {
    if (auto bad = parse_object(req, body)) co_return *bad;
  }
  consumer_settings s;
  s.group = group;
  s.instance_timeout = ctx.options.consumer_timeout;
  s.reset_earliest = false;
  auto text = [&](std::string_view key) -> std::optional<std::string> {
    const auto* v = body.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  if (body.contains("name")) {
    auto n = text("name");
    if (!n || n->empty() || n->size() > 200) {
      co_return bad_field("name", "a non-empty string of at most 200 characters");
    }
    s.name = *n;
  } else {
    s.name = fmt::format("rest-consumer-{:x}",
                         std::chrono::steady_clock::now().time_since_epoch().count());
  }
  if (body.contains("format")) {
    auto f = text("format");
    if (f == "json") {
      s.fmt = format::json;
    } else if (f == "binary") {
      s.fmt = format::binary;
    } else {
      co_return error(422, "invalid_format",
                      "field 'format' must be \"json\" or \"binary\" (avro and protobuf need a "
                      "schema registry, which Riptide does not have)",
                      42204);
    }
  }
  if (body.contains("auto.offset.reset")) {
    auto r = text("auto.offset.reset");
    if (r != "earliest" && r != "latest") {
      co_return bad_field("auto.offset.reset", "\"earliest\" or \"latest\"");
    }
    s.reset_earliest = r == "earliest";
  }
  if (body.contains("auto.commit.enable")) {
    auto a = text("auto.commit.enable");
    if (a != "true" && a != "false")
      co_return bad_field("auto.commit.enable", "\"true\" or \"false\"");
    s.auto_commit = a == "true";
  }
  const std::string name = s.name;
  std::optional<std::vector<std::string>> no_topics;
  auto v = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), create_consumer(ctx.broker, req.who, std::move(s), std::move(no_topics),
                                         ctx.options.max_consumers));
  if (v.bad) co_return *v.bad;
  const std::string* host = req.header("host");
  co_return v2(200, bj::object{{"instance_id", name},
                               {"base_uri", fmt::format("http://{}/consumers/{}/instances/{}",
                                                        host ? *host : std::string("localhost"),
                                                        group, name)}});
}

net::task<response> subscribe(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  std::vector<std::string> topics;
  const auto* t = body.if_contains("topics");
  if (body.contains("topic_pattern")) {
    co_return error(422, "unsupported",
                    "subscribing by topic_pattern is not supported; list "
                    "the topics",
                    42205);
  }
  if (!t || !t->is_array()) co_return bad_field("topics", "an array of topic names");
  for (const auto& x : t->as_array()) {
    if (!x.is_string()) co_return bad_field("topics", "an array of topic names");
    topics.emplace_back(x.as_string());
  }
  auto v = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), subscribe_consumer(group, name, std::move(topics)));
  if (v.bad) co_return *v.bad;
  co_return no_content();
}

net::task<response> get_subscription(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  auto v =
      co_await ctx.broker.shards().invoke_on(owner(ctx, group), describe_consumer(group, name));
  if (v.bad) co_return *v.bad;
  bj::array topics;
  for (const auto& t : v.topics) topics.push_back(bj::string(t));
  co_return v2(200, bj::object{{"topics", std::move(topics)}});
}

net::task<response> unsubscribe(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  std::vector<std::string> none;
  auto v = co_await ctx.broker.shards().invoke_on(owner(ctx, group),
                                                  subscribe_consumer(group, name, std::move(none)));
  if (v.bad) co_return *v.bad;
  co_return no_content();
}

net::task<response> assignments(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  auto v =
      co_await ctx.broker.shards().invoke_on(owner(ctx, group), describe_consumer(group, name));
  if (v.bad) co_return *v.bad;
  bj::array parts;
  for (const auto& [tp, o] : v.positions) {
    parts.push_back(bj::object{{"topic", tp.topic}, {"partition", tp.partition}});
  }
  co_return v2(200, bj::object{{"partitions", std::move(parts)}});
}

net::task<response> records(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  auto timeout = query_int(req, "timeout", 1000, 0, ctx.options.max_wait.count());
  if (timeout.bad) co_return *timeout.bad;
  auto max_bytes = query_int(req, "max_bytes", 1 << 20, 1, 64 << 20);
  if (max_bytes.bad) co_return *max_bytes.bad;
  auto p = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), poll_consumer(group, name, 10000, static_cast<size_t>(max_bytes.value),
                                       std::chrono::milliseconds(timeout.value)));
  if (p.bad) co_return *p.bad;
  if (const std::string* accept = req.header("accept")) {
    const bool wants_binary = accept->find("vnd.kafka.binary") != std::string::npos;
    const bool wants_json = accept->find("vnd.kafka.json") != std::string::npos;
    if ((wants_binary && p.fmt != format::binary) || (wants_json && p.fmt == format::binary)) {
      co_return error(406, "not_acceptable",
                      "the Accept header asks for a format other than the consumer's: create "
                      "the consumer with that format",
                      40601);
    }
  }
  if (p.result.error) co_return from_error(p.result.error);
  bj::array out;
  for (const auto& part : p.result.parts) {
    for (const auto& rec : part.records) {
      auto full = record_to_json(rec, part.tp.partition, p.fmt);
      out.push_back(bj::object{{"topic", part.tp.topic},
                               {"key", full["key"]},
                               {"value", full["value"]},
                               {"partition", part.tp.partition},
                               {"offset", rec.offset}});
    }
  }
  response r = json(200, to_json(out));
  r.content_type = p.fmt == format::binary ? kBinaryV2 : kJsonV2;
  co_return r;
}

// REST Proxy v2 commits name the last record consumed; the group stores the next offset.
net::task<response> commit(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  std::optional<std::vector<commit_offset>> offsets;
  if (!req.body.empty()) {
    bj::object body;
    if (auto bad = parse_object(req, body)) co_return *bad;
    if (const auto* list = body.if_contains("offsets")) {
      offsets.emplace();
      if (auto bad = parse_commit_offsets(list, "offsets", true, 0, *offsets)) co_return *bad;
      for (auto& o : *offsets) ++o.offset;  // the last consumed → the next to read
    }
  }
  auto v = co_await ctx.broker.shards().invoke_on(owner(ctx, group),
                                                  commit_consumer(group, name, std::move(offsets)));
  if (v.bad) co_return *v.bad;
  co_return no_content();
}

net::task<response> seek(server_context& ctx, request& req, int64_t where) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const char* field = where == 0 ? "offsets" : "partitions";
  std::vector<commit_offset> to;
  if (auto bad = parse_commit_offsets(body.if_contains(field), field, where == 0, where, to)) {
    co_return *bad;
  }
  auto v = co_await ctx.broker.shards().invoke_on(
      owner(ctx, group), seek_consumer(ctx.broker, req.who, group, name, std::move(to)));
  if (v.bad) co_return *v.bad;
  co_return no_content();
}

net::task<response> seek_offsets(server_context& ctx, request& req) {
  return seek(ctx, req, 0);
}
net::task<response> seek_beginning(server_context& ctx, request& req) {
  return seek(ctx, req, -1);
}
net::task<response> seek_end(server_context& ctx, request& req) {
  return seek(ctx, req, -2);
}

net::task<response> delete_instance(server_context& ctx, request& req) {
  const std::string group = req.params.at("group");
  const std::string name = req.params.at("instance");
  auto v = co_await ctx.broker.shards().invoke_on(owner(ctx, group), delete_consumer(group, name));
  if (v.bad) co_return *v.bad;
  co_return no_content();
}

}  // namespace

void add_rest_v2_routes(router& r) {
  const std::vector<std::string> kProduce = {kJsonV2, kBinaryV2};
  const std::vector<std::string> kAny = {kV2, kJsonV2, kBinaryV2, "application/json"};
  const std::string records_schema =
      R"({"type":"object","required":["records"],"properties":{"records":{"type":"array",)"
      R"("items":{"type":"object","properties":{"key":{},"value":{},)"
      R"("partition":{"type":"integer"}}}}}})";
  r.add({.method = "GET",
         .pattern = "/topics",
         .fn = list_topics,
         .summary = "REST Proxy v2: topic names",
         .tag = "rest-proxy-v2"});
  r.add({.method = "GET",
         .pattern = "/topics/{topic}",
         .fn = get_topic,
         .summary = "REST Proxy v2: a topic's configs and partitions",
         .tag = "rest-proxy-v2",
         .statuses = {404}});
  r.add({.method = "POST",
         .pattern = "/topics/{topic}",
         .fn = produce_topic,
         .summary = "REST Proxy v2: produce (json or binary embedded format)",
         .tag = "rest-proxy-v2",
         .request_body = records_schema,
         .content_types = kProduce,
         .statuses = {400, 404, 415}});
  r.add({.method = "GET",
         .pattern = "/topics/{topic}/partitions",
         .fn = get_partitions,
         .summary = "REST Proxy v2: a topic's partitions",
         .tag = "rest-proxy-v2",
         .statuses = {404}});
  r.add({.method = "POST",
         .pattern = "/topics/{topic}/partitions/{partition}",
         .fn = produce_partition,
         .summary = "REST Proxy v2: produce to one partition",
         .tag = "rest-proxy-v2",
         .request_body = records_schema,
         .content_types = kProduce,
         .statuses = {400, 404, 415}});
  r.add({.method = "GET",
         .pattern = "/brokers",
         .fn = list_brokers,
         .summary = "REST Proxy v2: broker ids",
         .tag = "rest-proxy-v2"});
  r.add({.method = "POST",
         .pattern = "/consumers/{group}",
         .fn = create_instance,
         .summary = "REST Proxy v2: create a consumer instance (name, format json|binary, "
                    "auto.offset.reset, auto.commit.enable)",
         .tag = "rest-proxy-v2",
         .request_body = R"({"type":"object","properties":{"name":{"type":"string"},)"
                         R"("format":{"type":"string"},"auto.offset.reset":{"type":"string"},)"
                         R"("auto.commit.enable":{"type":"string"}}})",
         .content_types = kAny,
         .statuses = {409, 422, 429}});
  r.add({.method = "DELETE",
         .pattern = "/consumers/{group}/instances/{instance}",
         .fn = delete_instance,
         .summary = "REST Proxy v2: delete a consumer instance",
         .tag = "rest-proxy-v2",
         .statuses = {204, 404}});
  r.add({.method = "POST",
         .pattern = "/consumers/{group}/instances/{instance}/subscription",
         .fn = subscribe,
         .summary = "REST Proxy v2: subscribe to topics",
         .tag = "rest-proxy-v2",
         .request_body = R"({"type":"object","properties":{"topics":{"type":"array"}}})",
         .content_types = kAny,
         .statuses = {204, 404}});
  r.add({.method = "GET",
         .pattern = "/consumers/{group}/instances/{instance}/subscription",
         .fn = get_subscription,
         .summary = "REST Proxy v2: the subscribed topics",
         .tag = "rest-proxy-v2",
         .statuses = {404}});
  r.add({.method = "DELETE",
         .pattern = "/consumers/{group}/instances/{instance}/subscription",
         .fn = unsubscribe,
         .summary = "REST Proxy v2: unsubscribe",
         .tag = "rest-proxy-v2",
         .statuses = {204, 404}});
  r.add({.method = "GET",
         .pattern = "/consumers/{group}/instances/{instance}/assignments",
         .fn = assignments,
         .summary = "REST Proxy v2: the partitions assigned",
         .tag = "rest-proxy-v2",
         .statuses = {404}});
  r.add({.method = "GET",
         .pattern = "/consumers/{group}/instances/{instance}/records",
         .fn = records,
         .summary = "REST Proxy v2: fetch records (timeout ms, max_bytes)",
         .tag = "rest-proxy-v2",
         .query = {{"timeout", "query", "integer", "wait up to this many ms (1000)", false},
                   {"max_bytes", "query", "integer", "about this many bytes", false}},
         .statuses = {404, 406}});
  r.add({.method = "POST",
         .pattern = "/consumers/{group}/instances/{instance}/offsets",
         .fn = commit,
         .summary = "REST Proxy v2: commit the offsets given (the last record consumed), or "
                    "everything fetched when the body is empty",
         .tag = "rest-proxy-v2",
         .request_body = R"({"type":"object","properties":{"offsets":{"type":"array"}}})",
         .content_types = kAny,
         .statuses = {204, 404}});
  r.add({.method = "POST",
         .pattern = "/consumers/{group}/instances/{instance}/positions",
         .fn = seek_offsets,
         .summary = "REST Proxy v2: seek to offsets",
         .tag = "rest-proxy-v2",
         .request_body = R"({"type":"object","properties":{"offsets":{"type":"array"}}})",
         .content_types = kAny,
         .statuses = {204, 404}});
  r.add({.method = "POST",
         .pattern = "/consumers/{group}/instances/{instance}/positions/beginning",
         .fn = seek_beginning,
         .summary = "REST Proxy v2: seek to the first offsets",
         .tag = "rest-proxy-v2",
         .request_body = R"({"type":"object","properties":{"partitions":{"type":"array"}}})",
         .content_types = kAny,
         .statuses = {204, 404}});
  r.add({.method = "POST",
         .pattern = "/consumers/{group}/instances/{instance}/positions/end",
         .fn = seek_end,
         .summary = "REST Proxy v2: seek to the ends",
         .tag = "rest-proxy-v2",
         .request_body = R"({"type":"object","properties":{"partitions":{"type":"array"}}})",
         .content_types = kAny,
         .statuses = {204, 404}});
}

}  // namespace http
