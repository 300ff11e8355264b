#include <algorithm>
#include <functional>
#include <set>
#include <string_view>
#include <vector>

#include "broker/broker_config.h"
#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/incremental_alter_configs_request.h"
#include "kafka/protocol/generated/incremental_alter_configs_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;
constexpr int8_t kBrokerLoggerResource = 8;

// Kafka's AlterConfigOp.OpType.
enum class op : int8_t { set = 0, remove = 1, append = 2, subtract = 3 };

using resource = protocol::incremental_alter_configs_request::alter_configs_resource;
// Why a resource is not changed: the Kafka error and its message.
using refusal = std::optional<std::pair<error_code, std::string>>;

// How the keys of one resource type are checked: a message when a value is refused,
// and the current value of a list-type key (nullopt: the key is not a list).
struct key_rules {
  std::function<std::optional<std::string>(std::string_view, std::string_view)> validate;
  std::function<std::optional<std::string>(std::string_view)> list_default;
  std::string stored_prefix;  // added to the key in the stored map (logger levels)
};

// Applies the resource's operations to `overrides` (the current ones).
refusal apply_ops(const resource& r, const key_rules& rules, broker::config_map& overrides) {
  std::set<std::string> seen;
  for (const auto& c : r.configs) {
    if (!seen.insert(c.name).second) {
      return std::pair{error_code::invalid_request, "Duplicate config key " + c.name};
    }
    const std::string key = rules.stored_prefix + c.name;
    switch (static_cast<op>(c.config_operation)) {
      case op::set:
        if (!c.value) {
          return std::pair{error_code::invalid_request, "Null value not supported for " + c.name};
        }
        if (auto problem = rules.validate(c.name, *c.value)) {
          return std::pair{error_code::invalid_config, std::move(*problem)};
        }
        overrides[key] = *c.value;
        break;
      case op::remove:
        overrides.erase(key);  // as in Kafka, removing an absent key is no error
        break;
      case op::append:
      case op::subtract: {
        auto current_default = rules.list_default(c.name);
        if (!current_default) {
          return std::pair{error_code::invalid_config,
                           std::string(c.config_operation == 2 ? "APPEND" : "SUBTRACT") +
                               " is only allowed for list-type configs, and " + c.name +
                               " is not one"};
        }
        if (!c.value) {
          return std::pair{error_code::invalid_request, "Null value not supported for " + c.name};
        }
        auto it = overrides.find(key);
        auto items =
            broker::split_config_list(it != overrides.end() ? it->second : *current_default);
        for (const auto& v : broker::split_config_list(*c.value)) {
          auto found = std::find(items.begin(), items.end(), v);
          if (static_cast<op>(c.config_operation) == op::append && found == items.end()) {
            items.push_back(v);
          } else if (static_cast<op>(c.config_operation) == op::subtract && found != items.end()) {
            items.erase(found);
          }
        }
        std::string joined;
        for (const auto& v : items) joined += (joined.empty() ? "" : ",") + v;
        if (auto problem = rules.validate(c.name, joined)) {
          return std::pair{error_code::invalid_config, std::move(*problem)};
        }
        overrides[key] = joined;
        break;
      }
      default:
        return std::pair{
            error_code::invalid_request,
            "Unknown config operation " + std::to_string(c.config_operation) + " for " + c.name};
    }
  }
  return std::nullopt;
}

std::optional<std::string> topic_list_default(std::string_view key) {
  const auto* k = broker::find_topic_config_key(key);
  if (!k || k->type != broker::config_type::list) return std::nullopt;
  return std::string(k->kafka_default);
}

const key_rules& topic_rules() {
  static const key_rules rules{broker::validate_topic_config, topic_list_default, ""};
  return rules;
}

const key_rules& broker_rules() {
  static const key_rules rules{
      [](std::string_view key, std::string_view value) -> std::optional<std::string> {
        if (key.starts_with(broker::logger_prefix)) {
          return std::string(key) + ": set logger levels on the BROKER_LOGGER resource";
        }
        return broker::validate_broker_config(key, value);
      },
      [](std::string_view key) -> std::optional<std::string> {
        for (const auto& k : broker::dynamic_broker_keys()) {
          if (k.name == key) return topic_list_default(k.topic_key);
        }
        return std::nullopt;
      },
      ""};
  return rules;
}

const key_rules& logger_rules() {
  static const key_rules rules{broker::validate_logger_level,
                               [](std::string_view) { return std::optional<std::string>(); },
                               std::string(broker::logger_prefix)};
  return rules;
}

// Everything that can be refused before asking the broker; sets `rules` to the checks of
// the resource's keys.
refusal check_resource(const resource& r,
                       const std::multiset<std::pair<int8_t, std::string>>& resources,
                       const broker::metadata_snapshot& snap, int32_t node_id,
                       const key_rules*& rules) {
  if (resources.count({r.resource_type, r.resource_name}) > 1) {
    return std::pair{error_code::invalid_request,
                     "Duplicate resource in request: " + r.resource_name};
  }
  if (r.resource_type == kBrokerResource || r.resource_type == kBrokerLoggerResource) {
    // The cluster default ("") and this node's own configs are the same on one node.
    const bool logger = r.resource_type == kBrokerLoggerResource;
    if ((logger || !r.resource_name.empty()) && r.resource_name != std::to_string(node_id)) {
      return std::pair{error_code::invalid_request, "Unexpected broker id, expected " +
                                                        std::to_string(node_id) +
                                                        (logger ? "" : " or empty string") +
                                                        ", but received " + r.resource_name};
    }
    rules = logger ? &logger_rules() : &broker_rules();
    return std::nullopt;
  }
  if (r.resource_type != kTopicResource) {
    return std::pair{error_code::invalid_request,
                     "Unsupported resource type " + std::to_string(r.resource_type)};
  }
  auto t = snap.find(r.resource_name);
  if (!t) {
    return std::pair{error_code::unknown_topic_or_partition,
                     "Topic '" + r.resource_name + "' does not exist."};
  }
  rules = &topic_rules();
  return std::nullopt;
}

// The operations of `r` as an edit the broker applies to the resource's current configs;
// a refusal lands in `out`.
broker::config_edit edit_for(const resource& r, const key_rules* rules, refusal& out) {
  return [&r, rules, &out](broker::config_map& current) -> std::error_code {
    out = apply_ops(r, *rules, current);
    return out ? std::error_code(broker::errc::invalid_config) : std::error_code{};
  };
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

// The operations are applied by the broker to the resource's current configs, one
// admin operation at a time, and the result replaces them: a topic's overrides, the
// dynamic broker configs (BROKER) or the logger levels (BROKER_LOGGER), the last two kept
// in the data directory. Concurrent requests for one resource all apply.
net::task<handler_result> incremental_alter_configs(request_context& ctx) {
  protocol::incremental_alter_configs_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  std::multiset<std::pair<int8_t, std::string>> resources;
  for (const auto& r : req.resources) resources.emplace(r.resource_type, r.resource_name);

  protocol::incremental_alter_configs_response resp;
  for (const auto& r : req.resources) {
    auto& out = resp.responses.emplace_back();
    out.resource_type = r.resource_type;
    out.resource_name = r.resource_name;
    out.error_message = std::nullopt;
    const key_rules* rules = nullptr;
    auto refused = check_resource(r, resources, *ctx.broker.metadata(), ctx.server.node_id, rules);
    if (!refused) {
      refusal edit_refused;
      broker::config_edit edit = edit_for(r, rules, edit_refused);
      std::error_code ec;
      if (r.resource_type == kTopicResource) {
        const std::string name = r.resource_name;
        ec = co_await ctx.broker.edit_topic_config(ctx.who, name, std::move(edit),
                                                   req.validate_only);
      } else {
        ec = co_await ctx.broker.edit_broker_config(ctx.who, std::move(edit), req.validate_only);
      }
      refused = edit_refused ? std::move(edit_refused) : refusal_of(ec, r.resource_name);
    }
    if (refused) {
      out.error_code = code(refused->first);
      out.error_message = std::move(refused->second);
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
