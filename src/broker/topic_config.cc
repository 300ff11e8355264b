#include "broker/topic_config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace broker {
namespace {

using enum config_type;

constexpr std::string_view kNoReplication =
    "a single node has no followers, so there is nothing to throttle or elect";

// Kafka 3.8's topic configs (TopicConfig / LogConfig) and Riptide's own, in name order.
const std::vector<topic_config_key> kKeys = {
    {"cleanup.policy", list, "delete",
     "delete (remove old segments by retention.ms / retention.bytes), compact (keep the latest "
     "record per key), or both as \"compact,delete\"",
     ""},
    {"compression.gzip.level", integer, "-1",
     "gzip level used when compression.type is gzip (1-9, -1: the codec's default)", ""},
    {"compression.lz4.level", integer, "9", "lz4 level used when compression.type is lz4 (1-17)",
     ""},
    {"compression.type", string, "producer",
     "codec batches are stored with: producer (as sent), uncompressed, gzip, snappy, lz4 or zstd "
     "(batches sent with another codec are recompressed)",
     ""},
    {"compression.zstd.level", integer, "3",
     "zstd level used when compression.type is zstd (-131072 to 22)", ""},
    {"delete.retention.ms", long_integer, "86400000",
     "how long a compacted topic keeps tombstones (records with a null value)", ""},
    {"file.delete.delay.ms", long_integer, "60000",
     "delay before deleting a removed segment's files",
     "removed segments are unlinked by the flusher as soon as no read uses them"},
    {"flush.messages", long_integer, "9223372036854775807",
     "force an fsync after this many records",
     "riptide.durability decides when data is fsynced (fsync: before every acknowledgement)"},
    {"flush.ms", long_integer, "1000", "fsync interval of the interval durability policy, in ms",
     ""},
    {"follower.replication.throttled.replicas", list, "",
     "replicas whose follower replication is throttled", kNoReplication},
    {"index.interval.bytes", integer, "4096", "bytes of batches between sparse index entries", ""},
    {"leader.replication.throttled.replicas", list, "",
     "replicas whose leader replication is throttled", kNoReplication},
    {"local.retention.bytes", long_integer, "-2",
     "local part of a tiered topic's retention.bytes (-2: retention.bytes)",
     "there is no tiered storage; retention.bytes applies to the whole log"},
    {"local.retention.ms", long_integer, "-2",
     "local part of a tiered topic's retention.ms (-2: retention.ms)",
     "there is no tiered storage; retention.ms applies to the whole log"},
    {"max.compaction.lag.ms", long_integer, "9223372036854775807",
     "longest a record may stay uncompacted in a compacted topic", ""},
    {"max.message.bytes", integer, "1048588", "largest record batch accepted", ""},
    {"message.downconversion.enable", boolean, "true",
     "convert batches for consumers of old message formats",
     "every Fetch version served carries RecordBatch v2; nothing is converted"},
    {"message.format.version", string, "3.0-IV1", "on-disk message format (deprecated in Kafka)",
     "batches are always stored as RecordBatch v2"},
    {"message.timestamp.after.max.ms", long_integer, "9223372036854775807",
     "how far after the broker's clock a CreateTime timestamp may be", ""},
    {"message.timestamp.before.max.ms", long_integer, "9223372036854775807",
     "how far before the broker's clock a CreateTime timestamp may be", ""},
    {"message.timestamp.difference.max.ms", long_integer, "9223372036854775807",
     "largest distance between a CreateTime timestamp and the broker's clock, either way (the "
     "before/after keys take precedence)",
     ""},
    {"message.timestamp.type", string, "CreateTime",
     "CreateTime (the producer's timestamps) or LogAppendTime (the broker's clock)", ""},
    {"min.cleanable.dirty.ratio", double_number, "0.5",
     "compact a partition once this share of its sealed log is not yet compacted", ""},
    {"min.compaction.lag.ms", long_integer, "0",
     "shortest time a record stays uncompacted in a compacted topic", ""},
    {"min.insync.replicas", integer, "1",
     "replicas that must hold a batch before acks=all is answered; above 1 a single node "
     "answers acks=all with NOT_ENOUGH_REPLICAS",
     ""},
    {"preallocate", boolean, "false", "preallocate a new segment's file",
     "segments grow as they are written; the journal keeps fsync latency low instead"},
    {"remote.storage.enable", boolean, "false", "move old segments to tiered storage (only false)",
     "there is no tiered storage; true is refused"},
    {"retention.bytes", long_integer, "-1",
     "per partition, delete the oldest segments beyond this size; -1: no limit", ""},
    {"retention.ms", long_integer, "604800000",
     "delete segments whose newest record is older than this; -1: forever", ""},
    {"riptide.delivery.delay.ms", long_integer, "0",
     "hold every record produced to the topic for this many ms before readers see it, unless "
     "its riptide-deliver-at or riptide-delay-ms header says otherwise (0: no delay)",
     ""},
    {"riptide.durability", string, "fsync",
     "fsync, interval or page_cache: when a write is acknowledged", ""},
    {"segment.bytes", integer, "1073741824", "roll the active segment before it passes this size",
     ""},
    {"segment.index.bytes", integer, "10485760",
     "size of a segment's offset index (8 bytes an entry); the segment rolls when it is full", ""},
    {"segment.jitter.ms", long_integer, "0",
     "up to this much is taken off segment.ms for each segment, so partitions do not all roll "
     "at once",
     ""},
    {"segment.ms", long_integer, "604800000", "roll the active segment once it is this old", ""},
    {"unclean.leader.election.enable", boolean, "false", "let an out-of-sync replica become leader",
     kNoReplication},
};

std::optional<int64_t> parse_long(std::string_view v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
  return n;
}

std::optional<double> parse_double(std::string_view v) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
  return d;
}

std::optional<storage::cleanup_policy> parse_cleanup_policy(std::string_view v) {
  storage::cleanup_policy p{false, false};
  auto items = split_config_list(v);
  if (items.empty() ||
      items.size() != static_cast<size_t>(std::count(v.begin(), v.end(), ',') + 1)) {
    return std::nullopt;  // an empty item ("delete,")
  }
  for (auto item : items) {
    if (item == "delete" && !p.remove) {
      p.remove = true;
    } else if (item == "compact" && !p.compact) {
      p.compact = true;
    } else {
      return std::nullopt;
    }
  }
  return p;
}

std::optional<int8_t> parse_compression_type(std::string_view v) {
  if (v == "producer") return int8_t{-1};
  if (v == "uncompressed") return int8_t{0};
  if (v == "gzip") return int8_t{1};
  if (v == "snappy") return int8_t{2};
  if (v == "lz4") return int8_t{3};
  if (v == "zstd") return int8_t{4};
  return std::nullopt;
}

std::string one_of(std::string_view key, std::string_view accepted, std::string_view value) {
  return std::string(key) + " must be " + std::string(accepted) + ", got \"" + std::string(value) +
         "\"";
}

}  // namespace

const std::vector<topic_config_key>& topic_config_keys() {
  return kKeys;
}

const topic_config_key* find_topic_config_key(std::string_view name) {
  auto it = std::find_if(kKeys.begin(), kKeys.end(),
                         [&](const topic_config_key& k) { return k.name == name; });
  return it == kKeys.end() ? nullptr : &*it;
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
  const auto* k = find_topic_config_key(key);
  if (!k) return "unknown topic config " + std::string(key);
  if (key == "cleanup.policy") {
    if (parse_cleanup_policy(value)) return std::nullopt;
    return one_of(key, "delete, compact or \"compact,delete\"", value);
  }
  if (key == "compression.type") {
    if (parse_compression_type(value)) return std::nullopt;
    return one_of(key, "producer, uncompressed, gzip, snappy, lz4 or zstd", value);
  }
  if (key == "compression.gzip.level") {
    auto n = parse_long(value);
    if (n && (*n == -1 || (*n >= 1 && *n <= 9))) return std::nullopt;
    return one_of(key, "-1 or an integer between 1 and 9", value);
  }
  if (key == "compression.lz4.level") return range(1, 17);
  if (key == "compression.zstd.level") return range(-131072, 22);
  if (key == "message.timestamp.type") {
    if (value == "CreateTime" || value == "LogAppendTime") return std::nullopt;
    return one_of(key, "CreateTime or LogAppendTime", value);
  }
  if (key == "riptide.durability") {
    if (storage::parse_durability(value)) return std::nullopt;
    return one_of(key, "fsync, interval or page_cache", value);
  }
  if (key == "remote.storage.enable") {
    if (value == "false") return std::nullopt;
    return "remote.storage.enable must be false: this broker has no tiered storage, got \"" +
           std::string(value) + "\"";
  }
  if (key == "min.cleanable.dirty.ratio") {
    auto d = parse_double(value);
    if (d && *d >= 0 && *d <= 1) return std::nullopt;
    return one_of(key, "a number between 0 and 1", value);
  }
  if (key == "segment.bytes") return range(1 << 14, INT32_MAX);
  if (key == "segment.index.bytes") return range(4096, INT32_MAX);
  if (key == "segment.ms" || key == "max.compaction.lag.ms" || key == "flush.ms" ||
      key == "flush.messages") {
    return range(1, INT64_MAX);
  }
  if (key == "retention.ms" || key == "retention.bytes") return range(-1, INT64_MAX);
  if (key == "local.retention.ms" || key == "local.retention.bytes") return range(-2, INT64_MAX);
  if (key == "min.insync.replicas") return range(1, INT32_MAX);
  if (key == "riptide.delivery.delay.ms") return range(0, max_delivery_delay_ms);
  if (key == "max.message.bytes" || key == "index.interval.bytes") return range(0, INT32_MAX);
  switch (k->type) {
    case config_type::long_integer:
      return range(0, INT64_MAX);
    case config_type::integer:
      return range(0, INT32_MAX);
    case config_type::boolean:
      if (value == "true" || value == "false") return std::nullopt;
      return one_of(key, "true or false", value);
    default:
      return std::nullopt;  // the throttled-replica lists, message.format.version
  }
}

storage::log_config apply_topic_config(storage::log_config c, const config_map& configs) {
  std::optional<int64_t> difference, before, after;
  for (const auto& [k, v] : configs) {
    auto n = parse_long(v).value_or(0);
    if (k == "retention.ms") c.retention_ms = n;
    if (k == "retention.bytes") c.retention_bytes = n;
    if (k == "segment.bytes") c.segment_bytes = static_cast<uint64_t>(n);
    if (k == "segment.ms") c.segment_ms = n;
    if (k == "segment.jitter.ms") c.segment_jitter_ms = n;
    if (k == "segment.index.bytes") c.segment_index_bytes = static_cast<uint32_t>(n);
    if (k == "index.interval.bytes") c.index_interval_bytes = static_cast<uint32_t>(n);
    if (k == "max.message.bytes") c.max_batch_bytes = static_cast<uint32_t>(n);
    if (k == "flush.ms") c.flush_interval_ms = n;
    if (k == "riptide.durability") c.policy = *storage::parse_durability(v);
    if (k == "message.timestamp.type") c.log_append_time = v == "LogAppendTime";
    if (k == "message.timestamp.difference.max.ms") difference = n;
    if (k == "message.timestamp.before.max.ms") before = n;
    if (k == "message.timestamp.after.max.ms") after = n;
    if (k == "cleanup.policy") c.cleanup = parse_cleanup_policy(v).value_or(c.cleanup);
    if (k == "delete.retention.ms") c.delete_retention_ms = n;
    if (k == "min.compaction.lag.ms") c.min_compaction_lag_ms = n;
    if (k == "max.compaction.lag.ms") c.max_compaction_lag_ms = n;
    if (k == "min.cleanable.dirty.ratio") {
      c.min_cleanable_dirty_ratio = parse_double(v).value_or(c.min_cleanable_dirty_ratio);
    }
    if (k == "compression.type") c.compression_codec = parse_compression_type(v).value_or(-1);
    if (k == "compression.gzip.level") c.gzip_level = static_cast<int32_t>(n);
    if (k == "compression.lz4.level") c.lz4_level = static_cast<int32_t>(n);
    if (k == "compression.zstd.level") c.zstd_level = static_cast<int32_t>(n);
  }
  // The before/after keys (KIP-937) win over the older symmetric one.
  if (difference) c.timestamp_before_max_ms = c.timestamp_after_max_ms = *difference;
  if (before) c.timestamp_before_max_ms = *before;
  if (after) c.timestamp_after_max_ms = *after;
  return c;
}

std::string effective_value(const storage::log_config& c, std::string_view key,
                            const config_map& configs) {
  if (auto it = configs.find(std::string(key)); it != configs.end()) return it->second;
  // Keys whose server default comes from the broker's configuration.
  if (key == "retention.ms") return std::to_string(c.retention_ms);
  if (key == "retention.bytes") return std::to_string(c.retention_bytes);
  if (key == "segment.bytes") return std::to_string(c.segment_bytes);
  if (key == "segment.ms") return std::to_string(c.segment_ms);
  if (key == "max.message.bytes") return std::to_string(c.max_batch_bytes);
  if (key == "riptide.durability") return std::string(storage::to_string(c.policy));
  if (key == "flush.ms") return std::to_string(c.flush_interval_ms);
  if (const auto* k = find_topic_config_key(key)) return std::string(k->kafka_default);
  return {};
}

std::vector<std::string> split_config_list(std::string_view v) {
  std::vector<std::string> out;
  while (!v.empty()) {
    const auto comma = v.find(',');
    auto item = v.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

int64_t delivery_delay_ms(const config_map& configs) {
  auto it = configs.find("riptide.delivery.delay.ms");
  if (it == configs.end()) return 0;
  return std::clamp<int64_t>(parse_long(it->second).value_or(0), 0, max_delivery_delay_ms);
}

int32_t min_insync_replicas(const config_map& configs) {
  auto it = configs.find("min.insync.replicas");
  if (it == configs.end()) return 1;
  return static_cast<int32_t>(parse_long(it->second).value_or(1));
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
