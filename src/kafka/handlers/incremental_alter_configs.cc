#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/incremental_alter_configs_request.h"
#include "kafka/protocol/generated/incremental_alter_configs_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;

// Kafka's AlterConfigOp.OpType.
enum class op : int8_t { set = 0, remove = 1, append = 2, subtract = 3 };

using resource = protocol::incremental_alter_configs_request::alter_configs_resource;
// Why a resource is not changed: the Kafka error and its message.
using refusal = std::optional<std::pair<error_code, std::string>>;

// The items of a list-type config value ("compact,delete").
std::vector<std::string> split(std::string_view v) {
  std::vector<std::string> out;
  while (!v.empty()) {
    const auto comma = v.find(',');
    if (comma != 0) out.emplace_back(v.substr(0, comma));
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

// Applies the resource's operations to `overrides` (the topic's current ones).
refusal apply_ops(const resource& r, broker::config_map& overrides) {
  std::set<std::string> seen;
  for (const auto& c : r.configs) {
    if (!seen.insert(c.name).second) {
      return std::pair{error_code::invalid_request, "Duplicate config key " + c.name};
    }
    switch (static_cast<op>(c.config_operation)) {
      case op::set:
        if (!c.value) {
          return std::pair{error_code::invalid_request, "Null value not supported for " + c.name};
        }
        if (auto problem = broker::validate_topic_config(c.name, *c.value)) {
          return std::pair{error_code::invalid_config, std::move(*problem)};
        }
        overrides[c.name] = *c.value;
        break;
      case op::remove:
        overrides.erase(c.name);  // as in Kafka, removing an absent key is no error
        break;
      case op::append:
      case op::subtract: {
        const auto* key = broker::find_topic_config_key(c.name);
        if (!key || key->type != broker::config_type::list) {
          return std::pair{error_code::invalid_config,
                           std::string(c.config_operation == 2 ? "APPEND" : "SUBTRACT") +
                               " is only allowed for list-type configs, and " + c.name +
                               " is not one"};
        }
        if (!c.value) {
          return std::pair{error_code::invalid_request, "Null value not supported for " + c.name};
        }
        auto it = overrides.find(c.name);
        auto items =
            split(it != overrides.end() ? it->second : broker::effective_value({}, c.name, {}));
        for (const auto& v : split(*c.value)) {
          auto found = std::find(items.begin(), items.end(), v);
          if (static_cast<op>(c.config_operation) == op::append && found == items.end()) {
            items.push_back(v);
          } else if (static_cast<op>(c.config_operation) == op::subtract && found != items.end()) {
            items.erase(found);
          }
        }
        std::string joined;
        for (const auto& v : items) joined += (joined.empty() ? "" : ",") + v;
        if (auto problem = broker::validate_topic_config(c.name, joined)) {
          return std::pair{error_code::invalid_config, std::move(*problem)};
        }
        overrides[c.name] = joined;
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

// Everything that can be refused before asking the broker; fills `overrides` with the
// topic's overrides after the operations.
refusal check_resource(const resource& r,
                       const std::multiset<std::pair<int8_t, std::string>>& resources,
                       const broker::metadata_snapshot& snap, broker::config_map& overrides) {
  if (resources.count({r.resource_type, r.resource_name}) > 1) {
    return std::pair{error_code::invalid_request,
                     "Duplicate resource in request: " + r.resource_name};
  }
  if (r.resource_type == kBrokerResource) {
    return std::pair{error_code::invalid_request,
                     std::string("broker configs cannot be changed at runtime; set them when "
                                 "starting the broker")};
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
  overrides = t->configs;
  return apply_ops(r, overrides);
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

// The operations are applied to the topic's current overrides and the result replaces
// them. Two concurrent requests for the same topic may each miss the other's change.
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
    broker::config_map overrides;
    auto refused = check_resource(r, resources, *ctx.broker.metadata(), overrides);
    if (!refused) {
      auto ec = co_await ctx.broker.alter_topic_config(r.resource_name, std::move(overrides),
                                                       req.validate_only);
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
