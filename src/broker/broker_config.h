#pragma once
// The broker configs that can change while the broker runs (Kafka's dynamic broker
// configs, set with IncrementalAlterConfigs or AlterConfigs on the BROKER resource, and
// logger levels on the BROKER_LOGGER resource). Each dynamic broker key is the default
// of a topic config (log.retention.ms for retention.ms, ...): changing it changes every
// topic that does not override that config. They are kept in the data directory's
// `broker-configs` file, so they survive a restart, and are validated like the topic
// configs they stand for.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "broker/topic_config.h"

namespace broker {

inline constexpr const char* broker_configs_file = "broker-configs";
// Logger levels are stored with this prefix before the logger's name.
inline constexpr std::string_view logger_prefix = "logger.";
// The loggers of the broker's modules, for the BROKER_LOGGER resource.
const std::vector<std::string_view>& logger_names();

struct dynamic_broker_key {
  std::string_view name;       // as Kafka names it
  std::string_view topic_key;  // the topic config it is the default of
};
const std::vector<dynamic_broker_key>& dynamic_broker_keys();

// nullopt if `key` may be set to `value` at run time, else a message naming the key and
// what is accepted (or that it is not a dynamic config).
std::optional<std::string> validate_broker_config(std::string_view key, std::string_view value);
// nullopt if `level` is a level name for logger `name`, else what is wrong.
std::optional<std::string> validate_logger_level(std::string_view name, std::string_view level);

// The topic configs (by topic key) that the dynamic broker configs set as defaults.
config_map inherited_topic_configs(const config_map& dynamic);

// Sets the level of every logger named in `dynamic` (logger.<name>=<level>); loggers not
// named go back to `base_level`.
void apply_logger_levels(const config_map& dynamic, std::string_view base_level);

// The file's key=value lines; an absent file is an empty map. errc::damaged_metadata,
// with a log line naming the file, the line and the fix, when a line is invalid.
base::result<config_map> load_broker_configs(const std::filesystem::path& data_dir);
base::status save_broker_configs(const std::filesystem::path& data_dir, const config_map& dynamic);

}  // namespace broker
