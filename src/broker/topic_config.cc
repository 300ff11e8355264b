#include "broker/topic_config.h"

#include <charconv>

namespace broker {
namespace {

std::optional<int64_t> parse_long(std::string_view v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
  return n;
}

}  // namespace

const std::vector<topic_config_key>& topic_config_keys() {
  static const std::vector<topic_config_key> keys = {
      {"cleanup.policy", "delete (compaction is not supported)"},
      {"retention.ms", "delete segments whose newest record is older than this; -1: forever"},
      {"retention.bytes",
       "per partition, delete the oldest segments beyond this size; -1: no limit"},
      {"segment.bytes", "roll the active segment before it passes this size"},
      {"segment.ms", "roll the active segment once it is this old"},
      {"max.message.bytes", "largest record batch accepted"},
      {"message.timestamp.type", "CreateTime (producer's) or LogAppendTime (broker's)"},
      {"message.timestamp.difference.max.ms",
       "largest distance between a CreateTime timestamp and the broker's clock"},
      {"riptide.durability", "fsync, interval or page_cache: when a write is acknowledged"},
      {"flush.ms", "fsync interval for the interval durability policy"},
  };
  return keys;
}

std::optional<std::string> validate_topic_config(std::string_view key, std::string_view value) {
  auto range = [&](int64_t lo, int64_t hi) -> std::optional<std::string> {
    auto n = parse_long(value);
    if (!n || *n < lo || *n > hi) {
      return std::string(key) + " must be an integer between " + std::to_string(lo) + " and " +
             std::to_string(hi) + ", got \"" + std::string(value) + "\"";
    }
    return std::nullopt;
  };
  if (key == "cleanup.policy") {
    if (value == "delete") return std::nullopt;
    return "cleanup.policy must be \"delete\" (compaction is not supported), got \"" +
           std::string(value) + "\"";
  }
  if (key == "retention.ms" || key == "retention.bytes") return range(-1, INT64_MAX);
  if (key == "segment.bytes") return range(1 << 14, INT32_MAX);
  if (key == "segment.ms") return range(1, INT64_MAX);
  if (key == "max.message.bytes") return range(0, INT32_MAX);
  if (key == "flush.ms") return range(1, INT64_MAX);
  if (key == "message.timestamp.difference.max.ms") return range(0, INT64_MAX);
  if (key == "message.timestamp.type") {
    if (value == "CreateTime" || value == "LogAppendTime") return std::nullopt;
    return "message.timestamp.type must be CreateTime or LogAppendTime, got \"" +
           std::string(value) + "\"";
  }
  if (key == "riptide.durability") {
    if (storage::parse_durability(value)) return std::nullopt;
    return "riptide.durability must be fsync, interval or page_cache, got \"" + std::string(value) +
           "\"";
  }
  return "unknown topic config " + std::string(key);
}

storage::log_config apply_topic_config(storage::log_config c, const config_map& configs) {
  for (const auto& [k, v] : configs) {
    auto n = parse_long(v).value_or(0);
    if (k == "retention.ms") c.retention_ms = n;
    if (k == "retention.bytes") c.retention_bytes = n;
    if (k == "segment.bytes") c.segment_bytes = static_cast<uint64_t>(n);
    if (k == "segment.ms") c.segment_ms = n;
    if (k == "max.message.bytes") c.max_batch_bytes = static_cast<uint32_t>(n);
    if (k == "flush.ms") c.flush_interval_ms = n;
    if (k == "riptide.durability") c.policy = *storage::parse_durability(v);
  }
  return c;
}

std::string effective_value(const storage::log_config& c, std::string_view key,
                            const config_map& configs) {
  if (auto it = configs.find(std::string(key)); it != configs.end()) return it->second;
  if (key == "cleanup.policy") return "delete";
  if (key == "retention.ms") return std::to_string(c.retention_ms);
  if (key == "retention.bytes") return std::to_string(c.retention_bytes);
  if (key == "segment.bytes") return std::to_string(c.segment_bytes);
  if (key == "segment.ms") return std::to_string(c.segment_ms);
  if (key == "max.message.bytes") return std::to_string(c.max_batch_bytes);
  if (key == "message.timestamp.type") return "CreateTime";
  if (key == "message.timestamp.difference.max.ms") return std::to_string(INT64_MAX);
  if (key == "riptide.durability") return std::string(storage::to_string(c.policy));
  if (key == "flush.ms") return std::to_string(c.flush_interval_ms);
  return {};
}

int64_t timestamp_difference_max_ms(const config_map& configs) {
  auto it = configs.find("message.timestamp.difference.max.ms");
  return it == configs.end() ? INT64_MAX : parse_long(it->second).value_or(INT64_MAX);
}

bool log_append_time(const config_map& configs) {
  auto it = configs.find("message.timestamp.type");
  return it != configs.end() && it->second == "LogAppendTime";
}

std::optional<std::string> validate_topic_name(std::string_view name) {
  if (name.empty()) return "topic name is empty";
  if (name.size() > 249) return "topic name is longer than 249 characters";
  if (name == "." || name == "..") return "topic name cannot be \".\" or \"..\"";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return "topic name may only contain ASCII letters, digits, '.', '_' and '-'";
  }
  return std::nullopt;
}

}  // namespace broker
