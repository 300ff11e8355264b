#include "app/reference.h"

#include <fmt/format.h>

#include <string_view>

#include "broker/broker_config.h"
#include "broker/topic_config.h"

namespace app {
namespace {

// A table cell: pipes escaped so they do not end the cell.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

std::string code(std::string_view text) {
  return text.empty() ? std::string("`\"\"`") : fmt::format("`{}`", text);
}

}  // namespace

std::string render_config_reference(std::span<const base::config_key> table) {
  std::string out =
      "| Key | Default | Accepts | Environment variable | Flag | Description |\n"
      "|---|---|---|---|---|---|\n";
  for (const auto& key : table) {
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", code(key.name), code(key.default_value),
                       cell(base::describe_expected(key)), code(base::env_name(key.name)),
                       code(base::flag_name(key.name)), cell(key.description));
  }
  return out;
}

std::string render_kafka_apis(std::span<const kafka::api_entry> apis) {
  std::string out =
      "| API | Key | Oldest version | Newest version | ApiVersions lists from |\n"
      "|---|---:|---:|---:|---:|\n";
  for (const auto& api : apis) {
    out += fmt::format("| {} | {} | {} | {} | {} |\n", api.name, api.key, api.min_version,
                       api.max_version, api.advertised_min());
  }
  return out;
}

std::string render_topic_configs() {
  auto type_name = [](broker::config_type t) {
    switch (t) {
      case broker::config_type::boolean:
        return "boolean";
      case broker::config_type::integer:
        return "int";
      case broker::config_type::long_integer:
        return "long";
      case broker::config_type::double_number:
        return "double";
      case broker::config_type::list:
        return "list";
      default:
        return "string";
    }
  };
  std::string out =
      "| Topic config | Type | Kafka's default | Meaning | On this broker |\n"
      "|---|---|---|---|---|\n";
  for (const auto& k : broker::topic_config_keys()) {
    out += fmt::format(
        "| {} | {} | {} | {} | {} |\n", code(k.name), type_name(k.type), code(k.kafka_default),
        cell(k.description),
        k.no_effect.empty() ? std::string("honoured") : "no effect: " + cell(k.no_effect));
  }
  out +=
      "\n| Dynamic broker config | Default of topic config |\n"
      "|---|---|\n";
  for (const auto& k : broker::dynamic_broker_keys()) {
    out += fmt::format("| {} | {} |\n", code(k.name), code(k.topic_key));
  }
  return out;
}

}  // namespace app
