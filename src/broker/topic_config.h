#pragma once
// Topic-level configuration as Kafka names it (retention.ms, segment.bytes, ...): one
// table of every topic config Kafka documents, plus Riptide's own, that drives
// validation, DescribeConfigs, the mapping onto each partition log's storage settings
// and the reference in docs/configuration.md. A key either takes effect or is accepted,
// stored and described with `effect` saying why it changes nothing on this broker.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "storage/log_config.h"

namespace broker {

using config_map = std::map<std::string, std::string>;
// Changes a config map in place (an incremental alter); an error leaves it unused.
using config_edit = std::function<std::error_code(config_map&)>;

// Kafka's ConfigEntry types (DescribeConfigs v3+).
enum class config_type : int8_t {
  boolean = 1,
  string = 2,
  integer = 3,
  long_integer = 5,
  double_number = 6,
  list = 7
};

struct topic_config_key {
  std::string_view name;
  config_type type;
  std::string_view kafka_default;  // the value when neither topic nor broker sets one
  std::string_view description;
  // Empty when the key takes effect; otherwise why it does not on this broker.
  std::string_view no_effect;
};
// Every topic config the broker accepts, for validation, DescribeConfigs and the docs.
const std::vector<topic_config_key>& topic_config_keys();
const topic_config_key* find_topic_config_key(std::string_view name);

// nullopt if valid, else a message naming the key and the accepted values.
std::optional<std::string> validate_topic_config(std::string_view key, std::string_view value);

// The broker defaults overridden by a topic's settings (assumed valid).
storage::log_config apply_topic_config(storage::log_config defaults, const config_map& configs);
// The effective value of `key` for a topic, rendered as Kafka does.
std::string effective_value(const storage::log_config& effective, std::string_view key,
                            const config_map& configs);

// The items of a list-type config value ("compact,delete"), spaces around them trimmed,
// empty items dropped.
std::vector<std::string> split_config_list(std::string_view value);

// min.insync.replicas of a topic (1 unless set).
int32_t min_insync_replicas(const config_map& configs);
// The longest a record may be held for delayed delivery (a year and a day).
inline constexpr int64_t max_delivery_delay_ms = 366LL * 24 * 3600 * 1000;
// riptide.delivery.delay.ms of a topic's effective configs (0: records are not held).
int64_t delivery_delay_ms(const config_map& configs);

// Kafka's rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
std::optional<std::string> validate_topic_name(std::string_view name);

}  // namespace broker
