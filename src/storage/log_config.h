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

struct log_config {
  uint64_t segment_bytes = 1ull << 30;            // roll when the active segment would pass this
  int64_t segment_ms = 7LL * 24 * 3600 * 1000;    // roll when the active segment is this old
  int64_t retention_bytes = -1;                   // -1: unlimited
  int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // -1: unlimited
  uint32_t index_interval_bytes = 4096;           // bytes between sparse index entries
  uint32_t max_batch_bytes = 1048588;             // Kafka's default max.message.bytes
  durability policy = durability::fsync;
  int64_t flush_interval_ms = 1000;  // for durability::interval
  // Idempotent producers silent for this long are forgotten (Kafka's
  // producer.id.expiration.ms).
  int64_t producer_expiry_ms = 24LL * 3600 * 1000;
  // Stamped on appended batches. The epoch is outside the CRC, so recovery treats a
  // batch claiming a negative or later epoch as corrupt.
  int32_t leader_epoch = 0;
};

}  // namespace storage
