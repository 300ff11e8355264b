// The REST Proxy v3 paths that fit a single-cluster broker: the cluster, topics (list,
// create, describe, delete) and producing records, one per request or a stream of
// records in one body (each JSON object answered by one JSON object, as v3 does).

#include <fmt/format.h>

#include "base/clock.h"
#include "http/encoding.h"
#include "http/errors.h"
#include "http/json_util.h"
#include "http/produce.h"
#include "http/server.h"

namespace http {
namespace {

namespace bj = boost::json;

std::optional<response> check_cluster(server_context& ctx, const request& req) {
  const std::string& id = req.params.at("cluster");
  if (id != ctx.broker.identity().cluster_id) {
    return error(404, "unknown_cluster",
                 fmt::format("this broker serves cluster '{}', not '{}'",
                             ctx.broker.identity().cluster_id, id),
                 40404);
  }
  return std::nullopt;
}

std::string self_url(const request& req, std::string_view path) {
  const std::string* host = req.header("host");
  return fmt::format("http://{}{}", host ? *host : std::string("localhost"), path);
}

bj::object topic_json(server_context& ctx, const request& req, const broker::topic_metadata& t) {
  const std::string cid = ctx.broker.identity().cluster_id;
  return bj::object{
      {"kind", "KafkaTopic"},
      {"metadata",
       bj::object{{"self", self_url(req, fmt::format("/v3/clusters/{}/topics/{}", cid, t.name))}}},
      {"cluster_id", cid},
      {"topic_name", t.name},
      {"is_internal", broker::broker::is_internal(t.name)},
      {"replication_factor", 1},
      {"partitions_count", t.partitions}};
}

net::task<response> list_clusters(server_context& ctx, request& req) {
  const std::string cid = ctx.broker.identity().cluster_id;
  co_return json(
      200,
      to_json(bj::object{
          {"kind", "KafkaClusterList"},
          {"data", bj::array{bj::object{
                       {"kind", "KafkaCluster"},
                       {"metadata", bj::object{{"self", self_url(req, "/v3/clusters/" + cid)}}},
                       {"cluster_id", cid}}}}}));
}

net::task<response> get_cluster(server_context& ctx, request& req) {
  if (auto bad = check_cluster(ctx, req)) co_return *bad;
  const std::string cid = ctx.broker.identity().cluster_id;
  co_return json(200, to_json(bj::object{{"kind", "KafkaCluster"},
                                         {"cluster_id", cid},
                                         {"controller_id", ctx.broker.node_id()}}));
}

net::task<response> list_topics(server_context& ctx, request& req) {
  if (auto bad = check_cluster(ctx, req)) co_return *bad;
  bj::array data;
  for (const auto& [name, t] : ctx.broker.metadata()->topics)
    data.push_back(topic_json(ctx, req, *t));
  co_return json(200, to_json(bj::object{{"kind", "KafkaTopicList"}, {"data", std::move(data)}}));
}

net::task<response> get_topic(server_context& ctx, request& req) {
  if (auto bad = check_cluster(ctx, req)) co_return *bad;
  auto t = ctx.broker.metadata()->find(req.params.at("topic"));
  if (!t)
    co_return error(404, "unknown_topic", "This server does not host this topic-partition.", 40403);
  co_return json(200, to_json(topic_json(ctx, req, *t)));
}

net::task<response> create_topic(server_context& ctx, request& req) {
  if (auto bad = check_cluster(ctx, req)) co_return *bad;
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const auto* name = body.if_contains("topic_name");
  if (!name || !name->is_string()) co_return bad_field("topic_name", "the topic's name");
  int64_t partitions = ctx.broker.options().default_partitions;
  if (const auto* p = body.if_contains("partitions_count")) {
    if (!p->is_int64() || p->as_int64() < 1 || p->as_int64() > 1000000) {
      co_return bad_field("partitions_count", "an integer from 1 to 1000000");
    }
    partitions = p->as_int64();
  }
  broker::config_map configs;
  if (const auto* c = body.if_contains("configs")) {
    if (!c->is_array()) co_return bad_field("configs", "an array of {\"name\", \"value\"}");
    for (const auto& e : c->as_array()) {
      const auto* n = e.is_object() ? e.as_object().if_contains("name") : nullptr;
      const auto* v = e.is_object() ? e.as_object().if_contains("value") : nullptr;
      if (!n || !n->is_string() || !v || !v->is_string()) {
        co_return bad_field("configs", "an array of {\"name\", \"value\"} strings");
      }
      configs[std::string(n->as_string())] = std::string(v->as_string());
    }
  }
  const std::string topic(name->as_string());
  auto r = co_await ctx.broker.create_topic(req.who, topic, static_cast<int32_t>(partitions),
                                            std::move(configs));
  if (!r.ok()) co_return from_error(r.error, r.text());
  auto t = ctx.broker.metadata()->find(topic);
  if (!t) co_return error(500, "internal_error", "the topic was created but is not visible yet");
  co_return json(201, to_json(topic_json(ctx, req, *t)));
}

net::task<response> delete_topic(server_context& ctx, request& req) {
  if (auto bad = check_cluster(ctx, req)) co_return *bad;
  const std::string topic = req.params.at("topic");
  if (!ctx.broker.metadata()->find(topic)) {
    co_return error(404, "unknown_topic", "This server does not host this topic-partition.", 40403);
  }
  const auto ec = co_await ctx.broker.delete_topic(req.who, topic);
  if (ec) co_return from_error(ec);
  response r;
  r.status = 204;
  co_return r;
}

// One v3 record: {"partition_id"?, "headers"?: [{"name", "value" (base64)}], "key"?: {"type":
// "JSON"|"BINARY"|"STRING", "data"}, "value"?: {...}, "timestamp"?: RFC 3339 is not
// accepted, ms only}. Becomes the /v1 form in binary format so one path produces it.
std::optional<response> to_v1_record(const bj::object& in, bj::object& out) {
  for (const char* field : {"key", "value"}) {
    const auto* v = in.if_contains(field);
    if (!v || v->is_null()) continue;
    const auto* type = v->is_object() ? v->as_object().if_contains("type") : nullptr;
    const auto* data = v->is_object() ? v->as_object().if_contains("data") : nullptr;
    if (!type || !type->is_string() || !data) {
      return bad_field(field, "{\"type\": \"JSON\", \"BINARY\" or \"STRING\", \"data\": ...}");
    }
    const std::string_view t = type->as_string();
    if (data->is_null()) {
      out[field] = nullptr;
    } else if (t == "BINARY") {
      if (!data->is_string() || !base64_decode(data->as_string())) {
        return bad_field(fmt::format("{}.data", field), "base64 (type BINARY)");
      }
      out[field] = data->as_string();
    } else if (t == "STRING") {
      if (!data->is_string()) return bad_field(fmt::format("{}.data", field), "a string");
      out[field] = base64_encode(data->as_string());
    } else if (t == "JSON") {
      out[field] = base64_encode(bj::serialize(*data));
    } else {
      return error(400, "unsupported_type",
                   fmt::format("{}.type {} is not supported: JSON, BINARY or STRING (schema "
                               "types need a schema registry)",
                               field, std::string_view(t)),
                   40015);
    }
  }
  if (const auto* h = in.if_contains("headers")) {
    if (!h->is_array()) return bad_field("headers", "an array of {\"name\", \"value\" (base64)}");
    bj::array headers;
    for (const auto& e : h->as_array()) {
      const auto* n = e.is_object() ? e.as_object().if_contains("name") : nullptr;
      const auto* v = e.is_object() ? e.as_object().if_contains("value") : nullptr;
      if (!n || !n->is_string()) return bad_field("headers", "an array of {\"name\", \"value\"}");
      headers.push_back(bj::object{{"key", n->as_string()}, {"value", v ? *v : bj::value()}});
    }
    out["headers"] = std::move(headers);
  }
  if (const auto* ts = in.if_contains("timestamp"); ts && !ts->is_null()) {
    if (!ts->is_int64()) return bad_field("timestamp", "milliseconds since the epoch");
    out["timestamp"] = *ts;
  }
  return std::nullopt;
}

net::task<response> produce(server_context& ctx, request& req) {
  if (auto bad = check_cluster(ctx, req)) co_return *bad;
  const std::string topic = req.params.at("topic");
  const std::string cid = ctx.broker.identity().cluster_id;
  // The body is one record, or several JSON objects one after another (v3's streaming
  // mode); each is answered in order by one JSON object.
  bj::stream_parser parser;
  std::vector<bj::value> records;
  size_t pos = 0;
  while (pos < req.body.size()) {
    while (pos < req.body.size() && std::isspace(static_cast<unsigned char>(req.body[pos]))) ++pos;
    if (pos >= req.body.size()) break;
    parser.reset();
    boost::system::error_code ec;
    const size_t used = parser.write_some(req.body.data() + pos, req.body.size() - pos, ec);
    if (!ec && !parser.done()) parser.finish(ec);
    if (ec || !parser.done()) {
      co_return error(400, "invalid_json",
                      fmt::format("record {} of the body is not valid JSON", records.size()));
    }
    records.push_back(parser.release());
    pos += used;
    if (records.size() > 10000) {
      co_return error(413, "too_many_records", "at most 10000 records per request");
    }
  }
  if (records.empty()) co_return bad_field("body", "a record object");
  std::string out;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].is_object()) co_return bad_field(fmt::format("record {}", i), "an object");
    const auto& r = records[i].as_object();
    bj::object v1;
    if (auto bad = to_v1_record(r, v1)) co_return *bad;
    std::optional<int32_t> partition;
    if (const auto* p = r.if_contains("partition_id"); p && !p->is_null()) {
      if (!p->is_int64() || p->as_int64() < 0 || p->as_int64() > INT32_MAX) {
        co_return bad_field("partition_id", "a partition number");
      }
      partition = static_cast<int32_t>(p->as_int64());
    }
    const bj::value list = bj::array{std::move(v1)};
    auto res = co_await produce_json_records(ctx, req, topic, &list, format::binary, partition);
    if (res.bad) co_return *res.bad;
    const auto& row = res.rows.at(0);
    bj::object answer;
    if (row.error) {
      const auto e = classify(row.error);
      answer = bj::object{{"error_code", e.status},
                          {"message", broker::to_broker_error(row.error).message()}};
    } else {
      answer = bj::object{{"error_code", 200},    {"cluster_id", cid},
                          {"topic_name", topic},  {"partition_id", row.partition},
                          {"offset", row.offset}, {"timestamp", base::wall_ms()}};
    }
    out += bj::serialize(answer);
    if (i + 1 < records.size()) out += '\n';
  }
  co_return json(200, std::move(out));
}

}  // namespace

void add_rest_v3_routes(router& r) {
  const std::vector<std::string> kJson = {"application/json"};
  r.add({.method = "GET",
         .pattern = "/v3/clusters",
         .fn = list_clusters,
         .summary = "REST Proxy v3: the cluster",
         .tag = "rest-proxy-v3"});
  r.add({.method = "GET",
         .pattern = "/v3/clusters/{cluster}",
         .fn = get_cluster,
         .summary = "REST Proxy v3: the cluster",
         .tag = "rest-proxy-v3",
         .statuses = {404}});
  r.add({.method = "GET",
         .pattern = "/v3/clusters/{cluster}/topics",
         .fn = list_topics,
         .summary = "REST Proxy v3: topics",
         .tag = "rest-proxy-v3",
         .statuses = {404}});
  r.add({.method = "POST",
         .pattern = "/v3/clusters/{cluster}/topics",
         .fn = create_topic,
         .summary = "REST Proxy v3: create a topic (topic_name, partitions_count, configs)",
         .tag = "rest-proxy-v3",
         .request_body = R"({"type":"object","required":["topic_name"],"properties":{)"
                         R"("topic_name":{"type":"string"},"partitions_count":{"type":"integer"},)"
                         R"("configs":{"type":"array"}}})",
         .content_types = kJson,
         .statuses = {201, 400, 404, 409}});
  r.add({.method = "GET",
         .pattern = "/v3/clusters/{cluster}/topics/{topic}",
         .fn = get_topic,
         .summary = "REST Proxy v3: a topic",
         .tag = "rest-proxy-v3",
         .statuses = {404}});
  r.add({.method = "DELETE",
         .pattern = "/v3/clusters/{cluster}/topics/{topic}",
         .fn = delete_topic,
         .summary = "REST Proxy v3: delete a topic",
         .tag = "rest-proxy-v3",
         .statuses = {204, 404}});
  r.add({.method = "POST",
         .pattern = "/v3/clusters/{cluster}/topics/{topic}/records",
         .fn = produce,
         .summary = "REST Proxy v3: produce one record, or a stream of record objects in one "
                    "body (one answer object per record, in order)",
         .tag = "rest-proxy-v3",
         .request_body = R"({"type":"object","properties":{"partition_id":{"type":"integer"},)"
                         R"("key":{"type":"object"},"value":{"type":"object"},)"
                         R"("headers":{"type":"array"}}})",
         .content_types = kJson,
         .statuses = {400, 404, 413}});
}

}  // namespace http
