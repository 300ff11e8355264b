#include "broker/broker_config.h"

#include <algorithm>

#include "base/file.h"
#include "base/logging.h"
#include "broker/errc.h"

namespace broker {

const std::vector<std::string_view>& logger_names() {
  static const std::vector<std::string_view> names = {"app",   "broker", "groups",
                                                      "kafka", "net",    "storage"};
  return names;
}

const std::vector<dynamic_broker_key>& dynamic_broker_keys() {
  static const std::vector<dynamic_broker_key> keys = {
      {"compression.type", "compression.type"},
      {"log.cleaner.delete.retention.ms", "delete.retention.ms"},
      {"log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"},
      {"log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio"},
      {"log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"},
      {"log.cleanup.policy", "cleanup.policy"},
      {"log.index.interval.bytes", "index.interval.bytes"},
      {"log.index.size.max.bytes", "segment.index.bytes"},
      {"log.message.timestamp.after.max.ms", "message.timestamp.after.max.ms"},
      {"log.message.timestamp.before.max.ms", "message.timestamp.before.max.ms"},
      {"log.message.timestamp.difference.max.ms", "message.timestamp.difference.max.ms"},
      {"log.message.timestamp.type", "message.timestamp.type"},
      {"log.retention.bytes", "retention.bytes"},
      {"log.retention.ms", "retention.ms"},
      {"log.roll.jitter.ms", "segment.jitter.ms"},
      {"log.roll.ms", "segment.ms"},
      {"log.segment.bytes", "segment.bytes"},
      {"message.max.bytes", "max.message.bytes"},
      {"min.insync.replicas", "min.insync.replicas"},
      {"riptide.durability", "riptide.durability"},
  };
  return keys;
}

namespace {

const dynamic_broker_key* find_key(std::string_view name) {
  const auto& keys = dynamic_broker_keys();
  auto it = std::find_if(keys.begin(), keys.end(),
                         [&](const dynamic_broker_key& k) { return k.name == name; });
  return it == keys.end() ? nullptr : &*it;
}

}  // namespace

std::optional<std::string> validate_broker_config(std::string_view key, std::string_view value) {
  if (key.starts_with(logger_prefix)) {
    return validate_logger_level(key.substr(logger_prefix.size()), value);
  }
  const auto* k = find_key(key);
  if (!k) {
    return std::string(key) +
           " cannot be changed while the broker runs (see docs/configuration.md for the "
           "dynamic broker configs; static settings go in the configuration file)";
  }
  auto problem = validate_topic_config(k->topic_key, value);
  if (!problem) return std::nullopt;
  // Name the broker key in the message, not the topic key it stands for.
  return std::string(key) + ": " + *problem;
}

std::optional<std::string> validate_logger_level(std::string_view name, std::string_view level) {
  const auto& names = logger_names();
  if (name != "root" && std::find(names.begin(), names.end(), name) == names.end()) {
    std::string known = "root";
    for (auto n : names) known += ", " + std::string(n);
    return "unknown logger " + std::string(name) + " (loggers: " + known + ")";
  }
  std::string lower(level);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!base::parse_log_level(lower)) {
    return "level for logger " + std::string(name) +
           " must be TRACE, DEBUG, INFO, WARN or ERROR, got \"" + std::string(level) + "\"";
  }
  return std::nullopt;
}

config_map inherited_topic_configs(const config_map& dynamic) {
  config_map out;
  for (const auto& [k, v] : dynamic) {
    if (const auto* key = find_key(k)) out[std::string(key->topic_key)] = v;
  }
  return out;
}

void apply_logger_levels(const config_map& dynamic, std::string_view base_level) {
  auto level_of = [](std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return base::parse_log_level(lower);
  };
  auto root = base_level;
  if (auto it = dynamic.find(std::string(logger_prefix) + "root"); it != dynamic.end()) {
    root = it->second;
  }
  for (auto name : logger_names()) {
    auto it = dynamic.find(std::string(logger_prefix) + std::string(name));
    auto level = level_of(it != dynamic.end() ? std::string_view(it->second) : root);
    if (level) base::logger(name)->set_level(*level);
  }
}

base::result<config_map> load_broker_configs(const std::filesystem::path& data_dir) {
  const auto path = data_dir / broker_configs_file;
  config_map out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  auto text = base::read_whole_file(path);
  if (!text) return text.error();
  std::string_view rest = *text;
  for (int line_no = 1; !rest.empty(); ++line_no) {
    const auto nl = rest.find('\n');
    const auto line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    std::optional<std::string> problem;
    if (eq == std::string_view::npos) {
      problem = "not a key=value line";
    } else {
      problem = validate_broker_config(line.substr(0, eq), line.substr(eq + 1));
    }
    if (problem) {
      base::logger("broker")->error(
          "{} line {} is damaged: {}. Fix or remove that line (it is a dynamic broker config; "
          "removing it returns the setting to its default)",
          path.string(), line_no, *problem);
      return errc::damaged_metadata;
    }
    out[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return out;
}

base::status save_broker_configs(const std::filesystem::path& data_dir, const config_map& dynamic) {
  std::string text;
  for (const auto& [k, v] : dynamic) text += k + "=" + v + "\n";
  return base::write_file_atomically(
      data_dir / broker_configs_file,
      std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace broker
