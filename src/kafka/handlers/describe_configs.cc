#include <algorithm>
#include <string_view>

#include "broker/broker_config.h"

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/describe_configs_request.h"
#include "kafka/protocol/generated/describe_configs_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

using request_resource = protocol::describe_configs_request::describe_configs_resource;
using result = protocol::describe_configs_response::describe_configs_result;
using entry = result::describe_configs_resource_result;

// Kafka's ConfigResource.Type and DescribeConfigsResponse.ConfigSource / ConfigType codes.
constexpr int8_t kTopicResource = 2;
constexpr int8_t kBrokerResource = 4;
constexpr int8_t kBrokerLoggerResource = 8;
constexpr int8_t kDynamicTopicConfig = 1;
constexpr int8_t kDynamicBrokerConfig = 2;
constexpr int8_t kStaticBrokerConfig = 4;
constexpr int8_t kDefaultConfig = 5;
constexpr int8_t kDynamicBrokerLoggerConfig = 6;
using broker::config_type;

// Null or empty means every key, as Kafka's brokers read it.
bool wanted(const request_resource& r, std::string_view key) {
  if (!r.configuration_keys || r.configuration_keys->empty()) return true;
  for (const auto& k : *r.configuration_keys) {
    if (k == key) return true;
  }
  return false;
}

void describe_topic(const protocol::describe_configs_request& req, const request_resource& r,
                    const broker::topic_metadata& t, const storage::log_config& defaults,
                    result& out) {
  for (const auto& key : broker::topic_config_keys()) {
    if (!wanted(r, key.name)) continue;
    auto& e = out.configs.emplace_back();
    e.name = std::string(key.name);
    e.value = broker::effective_value(t.log, key.name, t.effective);
    const auto override_it = t.configs.find(e.name);
    const bool overridden = override_it != t.configs.end();
    const auto inherited_it = t.inherited.find(e.name);
    const bool inherited = inherited_it != t.inherited.end();
    e.read_only = false;
    e.is_default = !overridden && !inherited;
    e.config_source =
        overridden ? kDynamicTopicConfig : (inherited ? kDynamicBrokerConfig : kDefaultConfig);
    e.is_sensitive = false;
    if (req.include_synonyms) {
      // Most specific first: the topic's own setting, the dynamic broker default, then the
      // broker's static default under them.
      if (overridden) {
        auto& s = e.synonyms.emplace_back();
        s.name = e.name;
        s.value = override_it->second;
        s.source = kDynamicTopicConfig;
      }
      if (inherited) {
        auto& s = e.synonyms.emplace_back();
        s.name = e.name;
        s.value = inherited_it->second;
        s.source = kDynamicBrokerConfig;
      }
      auto& s = e.synonyms.emplace_back();
      s.name = e.name;
      s.value = broker::effective_value(defaults, key.name, {});
      s.source = kDefaultConfig;
    }
    e.config_type = static_cast<int8_t>(key.type);
    if (req.include_documentation) {
      e.documentation = key.no_effect.empty()
                            ? std::string(key.description)
                            : std::string(key.description) +
                                  " (no effect on this broker: " + std::string(key.no_effect) + ")";
    } else {
      e.documentation = std::nullopt;
    }
  }
}

void describe_static(const protocol::describe_configs_request& req, const request_resource& r,
                     const broker::broker_options& o, int32_t node_id, result& out);

// Logger levels: each module's, dynamic when set, else the server's log.level.
void describe_loggers(const protocol::describe_configs_request& req, const request_resource& r,
                      const broker::config_map& dynamic, const std::string& base_level,
                      result& out) {
  std::string root = base_level;
  auto root_it = dynamic.find(std::string(broker::logger_prefix) + "root");
  if (root_it != dynamic.end()) root = root_it->second;
  std::vector<std::string_view> names{"root"};
  names.insert(names.end(), broker::logger_names().begin(), broker::logger_names().end());
  for (auto name : names) {
    if (!wanted(r, name)) continue;
    auto it = dynamic.find(std::string(broker::logger_prefix) + std::string(name));
    auto& e = out.configs.emplace_back();
    e.name = std::string(name);
    std::string level = it != dynamic.end() ? it->second : root;
    std::transform(level.begin(), level.end(), level.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    e.value = level;
    e.read_only = false;
    e.is_default = it == dynamic.end();
    e.config_source = it != dynamic.end() ? kDynamicBrokerLoggerConfig : kStaticBrokerConfig;
    e.is_sensitive = false;
    e.config_type = static_cast<int8_t>(config_type::string);
    if (req.include_documentation) {
      e.documentation = "least severe level the " + std::string(name) + " logger writes";
    } else {
      e.documentation = std::nullopt;
    }
  }
}

// The dynamic broker configs (changeable with IncrementalAlterConfigs), then the
// broker's startup settings that a Kafka tool is likely to ask for.
void describe_broker(const protocol::describe_configs_request& req, const request_resource& r,
                     const broker::broker_options& o, const broker::config_map& dynamic,
                     int32_t node_id, result& out) {
  for (const auto& key : broker::dynamic_broker_keys()) {
    if (!wanted(r, key.name)) continue;
    const auto it = dynamic.find(std::string(key.name));
    const auto* topic_key = broker::find_topic_config_key(key.topic_key);
    auto& e = out.configs.emplace_back();
    e.name = std::string(key.name);
    e.value =
        it != dynamic.end() ? it->second : broker::effective_value(o.defaults, key.topic_key, {});
    e.read_only = false;
    e.is_default = it == dynamic.end();
    e.config_source = it != dynamic.end() ? kDynamicBrokerConfig : kDefaultConfig;
    e.is_sensitive = false;
    if (req.include_synonyms && it != dynamic.end()) {
      auto& s = e.synonyms.emplace_back();
      s.name = e.name;
      s.value = it->second;
      s.source = kDynamicBrokerConfig;
    }
    e.config_type = static_cast<int8_t>(topic_key ? topic_key->type : config_type::string);
    if (req.include_documentation) {
      e.documentation = "default " + std::string(key.topic_key) + " of topics";
    } else {
      e.documentation = std::nullopt;
    }
  }
  describe_static(req, r, o, node_id, out);
}

// The broker's startup settings; none can be changed at runtime.
void describe_static(const protocol::describe_configs_request& req, const request_resource& r,
                     const broker::broker_options& o, int32_t node_id, result& out) {
  const struct {
    std::string_view name;
    std::string value;
    config_type type;
    std::string_view doc;
  } rows[] = {
      {"broker.id", std::to_string(node_id), config_type::integer, "this broker's node id"},
      {"auto.create.topics.enable", o.auto_create_topics ? "true" : "false", config_type::boolean,
       "create a topic when a client asks for an unknown one"},
      {"num.partitions", std::to_string(o.default_partitions), config_type::integer,
       "partitions of an automatically created topic"},
  };
  for (const auto& row : rows) {
    if (!wanted(r, row.name)) continue;
    auto& e = out.configs.emplace_back();
    e.name = std::string(row.name);
    e.value = row.value;
    e.read_only = true;
    e.is_default = false;
    e.config_source = kStaticBrokerConfig;
    e.is_sensitive = false;
    if (req.include_synonyms) {
      auto& s = e.synonyms.emplace_back();
      s.name = e.name;
      s.value = row.value;
      s.source = kStaticBrokerConfig;
    }
    e.config_type = static_cast<int8_t>(row.type);
    if (req.include_documentation) {
      e.documentation = std::string(row.doc);
    } else {
      e.documentation = std::nullopt;
    }
  }
}

}  // namespace

net::task<handler_result> describe_configs(request_context& ctx) {
  protocol::describe_configs_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  protocol::describe_configs_response resp;
  auto snap = ctx.broker.metadata();
  for (const auto& r : req.resources) {
    auto& out = resp.results.emplace_back();
    out.resource_type = r.resource_type;
    out.resource_name = r.resource_name;
    out.error_message = std::nullopt;
    if (r.resource_type == kTopicResource) {
      auto t = snap->find(r.resource_name);
      if (!t) {
        out.error_code = code(error_code::unknown_topic_or_partition);
        out.error_message = "Topic '" + r.resource_name + "' does not exist.";
        continue;
      }
      describe_topic(req, r, *t, ctx.broker.options().defaults, out);
    } else if (r.resource_type == kBrokerLoggerResource) {
      const auto self = std::to_string(ctx.server.node_id);
      if (r.resource_name != self) {
        out.error_code = code(error_code::invalid_request);
        out.error_message =
            "Unexpected broker id, expected " + self + ", but received " + r.resource_name;
        continue;
      }
      describe_loggers(req, r, snap->broker_configs, ctx.broker.options().log_level, out);
    } else if (r.resource_type == kBrokerResource) {
      const auto self = std::to_string(ctx.server.node_id);
      if (!r.resource_name.empty() && r.resource_name != self) {
        out.error_code = code(error_code::invalid_request);
        out.error_message = "Unexpected broker id, expected " + self +
                            " or empty string, but received " + r.resource_name;
        continue;
      }
      describe_broker(req, r, ctx.broker.options(), snap->broker_configs, ctx.server.node_id, out);
    } else {
      out.error_code = code(error_code::invalid_request);
      out.error_message = "Unsupported resource type " + std::to_string(r.resource_type) +
                          " (topics (2) and brokers (4) are supported)";
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
