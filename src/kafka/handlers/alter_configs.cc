#include <set>

#include "broker/broker_config.h"
#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/alter_configs_request.h"
#include "kafka/protocol/generated/alter_configs_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;

using resource = protocol::alter_configs_request::alter_configs_resource;
// Why a resource is not changed: the Kafka error and its message.
using refusal = std::optional<std::pair<error_code, std::string>>;

// The new override map of a topic, or the error that refuses it. A null value drops
// the key, as in Kafka.
refusal build_overrides(const resource& r, broker::config_map& out) {
  std::set<std::string> seen;
  for (const auto& c : r.configs) {
    if (!seen.insert(c.name).second) {
      return std::pair{error_code::invalid_request, "Duplicate config key " + c.name};
    }
    if (!c.value) continue;
    if (auto problem = broker::validate_topic_config(c.name, *c.value)) {
      return std::pair{error_code::invalid_config, std::move(*problem)};
    }
    out[c.name] = *c.value;
  }
  return std::nullopt;
}

// Everything that can be refused before asking the broker; fills `overrides`.
refusal check_resource(const resource& r,
                       const std::multiset<std::pair<int8_t, std::string>>& resources,
                       const broker::metadata_snapshot& snap, int32_t node_id,
                       broker::config_map& overrides) {
  if (resources.count({r.resource_type, r.resource_name}) > 1) {
    return std::pair{error_code::invalid_request,
                     "Duplicate resource in request: " + r.resource_name};
  }
  if (r.resource_type == kBrokerResource) {
    // The configs given become the whole set of dynamic broker configs; logger levels
    // (the BROKER_LOGGER resource) are kept.
    if (!r.resource_name.empty() && r.resource_name != std::to_string(node_id)) {
      return std::pair{error_code::invalid_request,
                       "Unexpected broker id, expected " + std::to_string(node_id) +
                           " or empty string, but received " + r.resource_name};
    }
    for (const auto& [k, v] : snap.broker_configs) {
      if (k.starts_with(broker::logger_prefix)) overrides[k] = v;
    }
    std::set<std::string> seen;
    for (const auto& c : r.configs) {
      if (!seen.insert(c.name).second) {
        return std::pair{error_code::invalid_request, "Duplicate config key " + c.name};
      }
      if (!c.value) continue;
      auto problem = c.name.starts_with(broker::logger_prefix)
                         ? std::optional<std::string>(c.name + ": not a broker config")
                         : broker::validate_broker_config(c.name, *c.value);
      if (problem) return std::pair{error_code::invalid_config, std::move(*problem)};
      overrides[c.name] = *c.value;
    }
    return std::nullopt;
  }
  if (r.resource_type != kTopicResource) {
    return std::pair{error_code::invalid_request,
                     "Unsupported resource type " + std::to_string(r.resource_type)};
  }
  // As Kafka: a missing topic is reported before anything about its configs.
  if (!snap.find(r.resource_name)) {
    return std::pair{error_code::unknown_topic_or_partition,
                     "Topic '" + r.resource_name + "' does not exist."};
  }
  return build_overrides(r, overrides);
}

refusal refusal_of(std::error_code ec, const std::string& topic) {
  if (!ec) return std::nullopt;
  if (ec == broker::errc::unknown_topic) {
    return std::pair{error_code::unknown_topic_or_partition,
                     "Topic '" + topic + "' does not exist."};
  }
  return std::pair{to_kafka_error(ec), ec.message()};
}

}  // namespace

// Kafka's legacy AlterConfigs: the configs given become the topic's whole set of
// overrides; every key left out returns to the broker default.
net::task<handler_result> alter_configs(request_context& ctx) {
  protocol::alter_configs_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  std::multiset<std::pair<int8_t, std::string>> resources;
  for (const auto& r : req.resources) resources.emplace(r.resource_type, r.resource_name);

  protocol::alter_configs_response resp;
  for (const auto& r : req.resources) {
    auto& out = resp.responses.emplace_back();
    out.resource_type = r.resource_type;
    out.resource_name = r.resource_name;
    out.error_message = std::nullopt;
    broker::config_map overrides;
    auto refused =
        check_resource(r, resources, *ctx.broker.metadata(), ctx.server.node_id, overrides);
    if (!refused) {
      std::error_code ec;
      if (r.resource_type == kBrokerResource) {
        ec = co_await ctx.broker.alter_broker_config(ctx.who, std::move(overrides),
                                                     req.validate_only);
      } else {
        ec = co_await ctx.broker.alter_topic_config(ctx.who, r.resource_name, std::move(overrides),
                                                    req.validate_only);
      }
      refused = refusal_of(ec, r.resource_name);
    }
    if (refused) {
      out.error_code = code(refused->first);
      out.error_message = std::move(refused->second);
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
