// /v1/topics: list, create, describe, delete, configs and partitions with their offsets.

#include <fmt/format.h>

#include "broker/topic_config.h"
#include "http/errors.h"
#include "http/json_util.h"
#include "http/server.h"

namespace http {
namespace {

namespace bj = boost::json;

constexpr int32_t kMaxPartitions = 1000000;

std::shared_ptr<const broker::topic_metadata> find_topic(server_context& ctx, const request& req,
                                                         std::optional<response>& missing) {
  const std::string& name = req.params.at("topic");
  auto t = ctx.broker.metadata()->find(name);
  if (!t) {
    missing = error(404, "unknown_topic", fmt::format("topic '{}' does not exist", name), 40401);
  }
  return t;
}

bj::object configs_of(const broker::topic_metadata& t) {
  bj::object out;
  for (const auto& key : broker::topic_config_keys()) {
    out[key.name] = broker::effective_value(t.log, key.name, t.effective);
  }
  return out;
}

net::task<bj::array> partitions_of(server_context& ctx, const request& req,
                                   const broker::topic_metadata& t) {
  bj::array out;
  for (int32_t p = 0; p < t.partitions; ++p) {
    broker::topic_partition tp{t.name, p};
    const auto first =
        co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::earliest);
    const auto last =
        co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::latest);
    bj::object o{{"partition", p}};
    if (first.error || last.error) {
      o["error"] = classify(first.error ? first.error : last.error).name;
    } else {
      o["earliest_offset"] = first.offset;
      o["high_watermark"] = last.offset;
    }
    out.push_back(std::move(o));
  }
  co_return out;
}

net::task<response> list_topics(server_context& ctx, request& req) {
  const bool internal = req.query_param("internal") && *req.query_param("internal") == "true";
  bj::array topics;
  for (const auto& [name, t] : ctx.broker.metadata()->topics) {
    if (broker::broker::is_internal(name) && !internal) continue;
    topics.push_back(bj::object{{"name", name},
                                {"partitions", t->partitions},
                                {"internal", broker::broker::is_internal(name)}});
  }
  co_return json(200, to_json(bj::object{{"topics", std::move(topics)}}));
}

net::task<response> create_topic(server_context& ctx, request& req) {
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const auto* name = body.if_contains("name");
  if (!name || !name->is_string()) co_return bad_field("name", "the topic's name (a string)");
  int64_t partitions = ctx.broker.options().default_partitions;
  if (const auto* p = body.if_contains("partitions")) {
    if (!p->is_int64() || p->as_int64() < 1 || p->as_int64() > kMaxPartitions) {
      co_return bad_field("partitions", "an integer from 1 to 1000000");
    }
    partitions = p->as_int64();
  }
  broker::config_map configs;
  if (const auto* c = body.if_contains("configs")) {
    if (!c->is_object()) co_return bad_field("configs", "an object of config names to strings");
    for (const auto& [k, v] : c->as_object()) {
      if (v.is_string()) {
        configs[std::string(k)] = std::string(v.as_string());
      } else if (v.is_int64() || v.is_bool() || v.is_double()) {
        configs[std::string(k)] = bj::serialize(v);
      } else {
        co_return bad_field(fmt::format("configs.{}", std::string_view(k)),
                            "a string, number or boolean");
      }
    }
  }
  const bool validate_only =
      req.query_param("validate_only") && *req.query_param("validate_only") == "true";
  const std::string topic(name->as_string());
  auto r = co_await ctx.broker.create_topic(req.who, topic, static_cast<int32_t>(partitions),
                                            std::move(configs), validate_only);
  if (!r.ok()) co_return from_error(r.error, r.text());
  co_return json(validate_only ? 200 : 201,
                 to_json(bj::object{{"name", topic}, {"partitions", partitions}}));
}

net::task<response> describe_topic(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  auto parts = co_await partitions_of(ctx, req, *t);
  bj::object overrides;
  for (const auto& [k, v] : t->configs) overrides[k] = v;
  co_return json(200, to_json(bj::object{{"name", t->name},
                                         {"internal", broker::broker::is_internal(t->name)},
                                         {"partition_count", t->partitions},
                                         {"partitions", std::move(parts)},
                                         {"configs", configs_of(*t)},
                                         {"overrides", std::move(overrides)}}));
}

net::task<response> delete_topic(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  if (broker::broker::is_internal(t->name)) {
    co_return error(403, "internal_topic", fmt::format("topic '{}' is internal", t->name), 40301);
  }
  const auto ec = co_await ctx.broker.delete_topic(req.who, t->name);
  if (ec) co_return from_error(ec);
  response r;
  r.status = 204;
  co_return r;
}

net::task<response> get_configs(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  bj::array out;
  for (const auto& key : broker::topic_config_keys()) {
    const std::string k(key.name);
    const char* source = t->configs.count(k)     ? "topic"
                         : t->inherited.count(k) ? "dynamic_broker"
                                                 : "default";
    out.push_back(bj::object{{"name", k},
                             {"value", broker::effective_value(t->log, key.name, t->effective)},
                             {"source", source}});
  }
  co_return json(200, to_json(bj::object{{"configs", std::move(out)}}));
}

net::task<response> patch_configs(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const auto* c = body.if_contains("configs");
  if (!c || !c->is_object()) {
    co_return bad_field("configs", "an object of config names to strings (null removes one)");
  }
  auto changes =
      std::make_shared<std::vector<std::pair<std::string, std::optional<std::string>>>>();
  for (const auto& [k, v] : c->as_object()) {
    if (v.is_null()) {
      changes->emplace_back(std::string(k), std::nullopt);
    } else if (v.is_string()) {
      changes->emplace_back(std::string(k), std::string(v.as_string()));
    } else if (v.is_int64() || v.is_bool() || v.is_double()) {
      changes->emplace_back(std::string(k), bj::serialize(v));
    } else {
      co_return bad_field(fmt::format("configs.{}", std::string_view(k)),
                          "a string, number, boolean or null");
    }
  }
  // Each key and value checked here, so that the answer names the one refused.
  for (const auto& [k, v] : *changes) {
    if (!broker::find_topic_config_key(k)) {
      co_return error(400, "invalid_config", fmt::format("unknown topic config '{}'", k), 40003);
    }
    if (v) {
      if (auto why = broker::validate_topic_config(k, *v)) {
        co_return error(400, "invalid_config", *why, 40003);
      }
    }
  }
  broker::config_edit edit = [changes](broker::config_map& m) -> std::error_code {
    for (const auto& [k, v] : *changes) {
      if (v) {
        m[k] = *v;
      } else {
        m.erase(k);
      }
    }
    return {};
  };
  const auto ec = co_await ctx.broker.edit_topic_config(req.who, t->name, std::move(edit));
  if (ec) co_return from_error(ec);
  co_return co_await get_configs(ctx, req);
}

net::task<response> list_partitions(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  auto parts = co_await partitions_of(ctx, req, *t);
  co_return json(200, to_json(bj::object{{"partitions", std::move(parts)}}));
}

net::task<response> add_partitions(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  bj::object body;
  if (auto bad = parse_object(req, body)) co_return *bad;
  const auto* n = body.if_contains("count");
  if (!n || !n->is_int64() || n->as_int64() <= t->partitions || n->as_int64() > kMaxPartitions) {
    co_return bad_field(
        "count", fmt::format("the new total number of partitions, more than {}", t->partitions));
  }
  auto r =
      co_await ctx.broker.create_partitions(req.who, t->name, static_cast<int32_t>(n->as_int64()));
  if (!r.ok()) co_return from_error(r.error, r.text());
  co_return json(200, to_json(bj::object{{"name", t->name}, {"partitions", n->as_int64()}}));
}

net::task<response> describe_partition(server_context& ctx, request& req) {
  std::optional<response> missing;
  auto t = find_topic(ctx, req, missing);
  if (!t) co_return *missing;
  auto p = path_int(req, "partition", 0, INT32_MAX);
  if (p.bad) co_return *p.bad;
  if (p.value >= t->partitions) {
    co_return error(404, "unknown_partition",
                    fmt::format("topic '{}' has {} partitions", t->name, t->partitions), 40402);
  }
  broker::topic_partition tp{t->name, static_cast<int32_t>(p.value)};
  const auto first =
      co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::earliest);
  if (first.error) co_return from_error(first.error);
  const auto last =
      co_await ctx.broker.data().list_offset(req.who, tp, broker::offset_spec::latest);
  if (last.error) co_return from_error(last.error);
  const auto end = co_await ctx.broker.data().log_end(req.who, tp);
  if (end.error) co_return from_error(end.error);
  co_return json(200, to_json(bj::object{{"topic", t->name},
                                         {"partition", p.value},
                                         {"earliest_offset", first.offset},
                                         {"high_watermark", last.offset},
                                         {"log_end_offset", end.offset}}));
}

}  // namespace

void add_topic_routes(router& r) {
  const std::vector<std::string> kJson = {"application/json"};
  r.add({.method = "GET",
         .pattern = "/v1/topics",
         .fn = list_topics,
         .summary = "The topics, with their partition counts",
         .tag = "topics",
         .query = {{"internal", "query", "boolean", "include internal topics", false}}});
  r.add({.method = "POST",
         .pattern = "/v1/topics",
         .fn = create_topic,
         .summary = "Creates a topic",
         .tag = "topics",
         .query = {{"validate_only", "query", "boolean", "check without creating", false}},
         .request_body =
             R"({"type":"object","required":["name"],"properties":{)"
             R"("name":{"type":"string"},"partitions":{"type":"integer"},)"
             R"("configs":{"type":"object","additionalProperties":{"type":"string"}}}})",
         .content_types = kJson,
         .statuses = {201, 400, 409}});
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}",
         .fn = describe_topic,
         .summary = "A topic: partitions with their offsets, and configs",
         .tag = "topics",
         .statuses = {404}});
  r.add({.method = "DELETE",
         .pattern = "/v1/topics/{topic}",
         .fn = delete_topic,
         .summary = "Deletes a topic and its records",
         .tag = "topics",
         .statuses = {204, 403, 404}});
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}/configs",
         .fn = get_configs,
         .summary = "Every config that applies to the topic and where its value comes from",
         .tag = "topics",
         .statuses = {404}});
  r.add({.method = "PATCH",
         .pattern = "/v1/topics/{topic}/configs",
         .fn = patch_configs,
         .summary = "Sets (string) or removes (null) the topic's own configs",
         .tag = "topics",
         .request_body = R"({"type":"object","required":["configs"],"properties":{)"
                         R"("configs":{"type":"object","additionalProperties":)"
                         R"({"type":["string","null"]}}}})",
         .content_types = kJson,
         .statuses = {400, 404}});
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}/partitions",
         .fn = list_partitions,
         .summary = "The topic's partitions with earliest offset and high watermark",
         .tag = "topics",
         .statuses = {404}});
  r.add({.method = "POST",
         .pattern = "/v1/topics/{topic}/partitions",
         .fn = add_partitions,
         .summary = "Raises the topic's partition count to `count`",
         .tag = "topics",
         .request_body = R"({"type":"object","required":["count"],"properties":{)"
                         R"("count":{"type":"integer"}}})",
         .content_types = kJson,
         .statuses = {400, 404}});
  r.add({.method = "GET",
         .pattern = "/v1/topics/{topic}/partitions/{partition}",
         .fn = describe_partition,
         .summary = "One partition's earliest offset, high watermark and log end",
         .tag = "topics",
         .statuses = {404}});
}

}  // namespace http
