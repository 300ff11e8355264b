#pragma once
// Per-log settings. The broker maps topic configs (segment.bytes, retention.ms,
// max.message.bytes, the durability policy, ...) onto this struct.

#include <cstdint>
#include <optional>
#include <string_view>

namespace storage {

// When an append counts as durable (and may be acknowledged):
//  - fsync: after an fdatasync covering it; one fsync covers every append made while
//    the previous one ran (group commit). Nothing acknowledged is lost on power failure.
//  - interval: at once; dirty data is fsynced every flush_interval_ms. A power failure
//    loses up to that interval.
//  - page_cache: at once; the kernel writes back when it likes (segments are fsynced
//    when they roll and at shutdown). A power failure loses what was not written back.
enum class durability { fsync, interval, page_cache };

std::optional<durability> parse_durability(std::string_view s);
std::string_view to_string(durability d);

struct cleanup_policy {
  bool remove = true;    // "delete": whole segments past retention are removed
  bool compact = false;  // "compact": older records of a key are cleaned away
};

struct log_config {
  uint64_t segment_bytes = 1ull << 30;            // roll when the active segment would pass this
  int64_t segment_ms = 7LL * 24 * 3600 * 1000;    // roll when the active segment is this old
  int64_t retention_bytes = -1;                   // -1: unlimited
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // -1: unlimited
  uint32_t index_interval_bytes = 4096;           // bytes between sparse index entries
  uint32_t max_batch_bytes = 1048588;             // Kafka's default max.message.bytes
  // A compressed batch whose records would decompress into more is refused (a bomb).
  uint64_t max_decompressed_batch_bytes = 64ull << 20;
  durability policy = durability::fsync;
  int64_t flush_interval_ms = 1000;  // for durability::interval
  // Idempotent producers silent for this long are forgotten (Kafka's
  // producer.id.expiration.ms).
  int64_t producer_expiry_ms = 24LL * 3600 * 1000;
  // Stamped on appended batches. The epoch is outside the CRC, so recovery treats a
  // batch claiming a negative or later epoch as corrupt.
  int32_t leader_epoch = 0;
  // Timestamps (message.timestamp.*): LogAppendTime stamps the broker's clock on every
  // batch; under CreateTime a record's timestamp may be at most this far before or after
  // the broker's clock.
  bool log_append_time = false;
  int64_t timestamp_before_max_ms = INT64_MAX;
  int64_t timestamp_after_max_ms = INT64_MAX;
  // Up to this much is taken off segment_ms for each segment (segment.jitter.ms).
  int64_t segment_jitter_ms = 0;
  // The active segment rolls when its offset index (8 bytes an entry) would pass this.
  uint32_t segment_index_bytes = 10u << 20;
  // cleanup.policy: remove by retention (delete), keep the latest record per key (compact).
  cleanup_policy cleanup;
  int64_t delete_retention_ms = 24LL * 3600 * 1000;  // tombstones kept this long
  int64_t min_compaction_lag_ms = 0;
  int64_t max_compaction_lag_ms = INT64_MAX;
  double min_cleanable_dirty_ratio = 0.5;
  // compression.type: -1 stores batches as produced; otherwise a storage::compression
  // value that batches arriving with another codec are recompressed to, at these levels.
  int8_t compression_codec = -1;
  int32_t gzip_level = -1;
  int32_t lz4_level = 9;
  int32_t zstd_level = 3;
};

}  // namespace storage
