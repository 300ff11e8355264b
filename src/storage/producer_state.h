#pragma once
// producer_state: what one partition knows of its idempotent producers, so that a retried
// batch is answered with its original offsets instead of being appended twice.
//
// Per producer id it keeps the current epoch and the sequence ranges and offsets of the
// last five batches (librdkafka and the Java client keep at most five in flight per
// partition). Owned by a partition_log and touched only on its shard. It is rebuilt at
// start from a snapshot file plus the batches after the snapshot's offset.

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "storage/record_batch.h"

namespace storage {

inline constexpr const char* producer_snapshot_file = "producer-state";
inline constexpr size_t producer_batches_kept = 5;

struct producer_batch {
  int32_t first_seq = 0;
  int32_t last_seq = 0;
  int64_t first_offset = 0;
  int64_t last_offset = 0;
};

struct producer_entry {
  int16_t epoch = -1;
  int64_t last_write_ms = 0;
  std::deque<producer_batch> batches;  // oldest first
};

// The last sequence of a batch, wrapping past INT32_MAX to 0 as Kafka's sequences do.
int32_t last_sequence(int32_t base_sequence, int64_t record_count);

class producer_state {
 public:
  // Checks a batch of an idempotent producer (producer_id >= 0). Returns the earlier
  // batch it duplicates, nullopt when it is the next one to append, or
  // errc::invalid_producer_epoch / errc::out_of_order_sequence.
  base::result<std::optional<producer_batch>> check(const batch_header& h) const;
  // Records an appended batch (its header carries the assigned base offset).
  void record(const batch_header& h, int64_t now_ms);
  // Sets every producer's last write to `now_ms` (after a replay at start).
  void touch_all(int64_t now_ms);
  // Forgets producers that have not written for `max_age_ms`.
  size_t expire(int64_t now_ms, int64_t max_age_ms);

  // Snapshot bytes describing the state after every offset below `offset`.
  std::vector<uint8_t> serialize(int64_t offset) const;
  struct loaded;
  static base::result<loaded> parse(std::span<const uint8_t> bytes);

  size_t size() const { return producers_.size(); }
  const producer_entry* find(int64_t producer_id) const;
  const std::unordered_map<int64_t, producer_entry>& entries() const { return producers_; }
  // Producer id -> base offset of its last batch (the cleaner keeps that batch).
  std::unordered_map<int64_t, int64_t> last_batch_offsets() const;

 private:
  std::unordered_map<int64_t, producer_entry> producers_;
};

struct producer_state::loaded {
  int64_t offset;
  producer_state state;
};

}  // namespace storage
