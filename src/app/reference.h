#pragma once
// Markdown tables printed by `riptide serve --print-config-reference`,
// `--print-kafka-apis` and `--print-topic-configs`. The documentation embeds them verbatim
// (`make docs` refreshes them), so they come from the same tables the server runs on.

#include <span>
#include <string>

#include "base/config.h"
#include "kafka/server/api_table.h"

namespace app {

// One row per configuration key: name, default, accepted values, environment variable,
// flag and description.
std::string render_config_reference(std::span<const base::config_key> table);

// One row per Kafka API the broker answers, with its key and version range.
std::string render_kafka_apis(std::span<const kafka::api_entry> apis);

// One row per topic config (type, Kafka's default, meaning, effect on this broker), then
// one per dynamic broker config with the topic config it is the default of.
std::string render_topic_configs();

}  // namespace app
