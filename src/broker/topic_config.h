#pragma once
// Topic-level configuration as Kafka names it (retention.ms, segment.bytes, ...),
// validated, and mapped onto the storage settings of each partition log.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/log_config.h"

namespace broker {

using config_map = std::map<std::string, std::string>;

struct topic_config_key {
  std::string_view name;
  std::string_view description;
};
// Every topic config the broker understands, for DescribeConfigs and validation.
const std::vector<topic_config_key>& topic_config_keys();

// nullopt if valid, else a message naming the key and the accepted values.
std::optional<std::string> validate_topic_config(std::string_view key, std::string_view value);

// The broker defaults overridden by a topic's settings (assumed valid).
storage::log_config apply_topic_config(storage::log_config defaults, const config_map& configs);
// The effective value of `key` for a topic, rendered as Kafka does.
std::string effective_value(const storage::log_config& effective, std::string_view key,
                            const config_map& configs);

bool log_append_time(const config_map& configs);
// How far a CreateTime timestamp may be from the broker's clock (INT64_MAX: any).
int64_t timestamp_difference_max_ms(const config_map& configs);

// Kafka's rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
std::optional<std::string> validate_topic_name(std::string_view name);

}  // namespace broker
