#pragma once
// Delayed delivery, the pure part: which records of a produced batch are to be held until
// a due time, the batch that is stored at once in their place, and the records of the
// internal topic (`__riptide_delayed`) that hold them meanwhile (delay_store.h moves them
// to their topic when they are due).
//
// A record is held when it carries `riptide-deliver-at` (epoch ms) or `riptide-delay-ms`
// (from now) in the future, or its topic sets riptide.delivery.delay.ms and it carries
// neither. What is stored at once keeps the producer's batch header (producer id, epoch,
// sequences, lastOffsetDelta) and the records not held, each as it was sent: the held
// ones leave a gap in the offsets, as compaction would, so that an idempotent producer's
// sequences stay whole and its retries are recognised.
//
// Internal topic records (all integers big-endian; strings/bytes i32 length, -1: null):
//   held record  key: 'E' | i64 own offset
//                value: u8 version (1) | i64 due ms | 16 topic id | i32 partition |
//                       i64 timestamp | key | value | i32 header count | (key | value)*
//   move intent  key: 'I' | i64 own offset
//                value: u8 version (1) | 16 topic id | i32 partition | i64 log end before
//                       | u64 token | i32 count | i64 held record offset*
// A tombstone (null value) of either key ends it: the record was moved (or dropped), the
// intent was carried out.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "broker/records.h"

namespace broker {

inline constexpr const char* delayed_topic = "__riptide_delayed";
inline constexpr std::string_view deliver_at_header = "riptide-deliver-at";
inline constexpr std::string_view delay_ms_header = "riptide-delay-ms";
// On a record moved to its topic: where it was held ("<partition>-<offset>-<token>").
inline constexpr std::string_view delayed_id_header = "riptide-delayed-id";
// What the two request headers (and the id) start with: batches carrying none of these
// are stored without a second look.
inline constexpr std::string_view delay_header_prefix = "riptide-del";

struct held_record {
  int64_t due_ms = 0;
  std::array<uint8_t, 16> topic_id{};
  int32_t partition = 0;
  record rec;  // its headers without the two request headers
};

struct split_result {
  std::vector<held_record> held;    // empty: nothing to hold, store the batch as sent
  std::vector<int32_t> held_index;  // each held record's place in the batch (from 0)
  // The records not held, in a batch with the producer's header (uncompressed); none
  // when no record is kept and the batch has no idempotent producer to account for.
  std::optional<std::vector<uint8_t>> remainder;
  int32_t kept = 0;  // records in the remainder
};

// Splits one whole, checked batch (the log has parsed it) at `now_ms`; `default_delay_ms`
// is the topic's riptide.delivery.delay.ms. Errors (errc::invalid_record): a delay header
// that is not a decimal integer, a due time more than max_delivery_delay_ms away, held
// records in a transactional batch; errc::invalid_batch / corrupt_batch as decoding says.
base::result<split_result> split_delayed(std::span<const uint8_t> batch, int64_t now_ms,
                                         int64_t default_delay_ms,
                                         const std::array<uint8_t, 16>& topic_id,
                                         int32_t partition);

// Keys and values of the internal topic's records.
enum class delayed_kind : uint8_t { held = 'E', intent = 'I' };
struct delayed_key {
  delayed_kind kind = delayed_kind::held;
  int64_t offset = -1;
};
std::vector<uint8_t> encode_delayed_key(delayed_key k);
std::optional<delayed_key> decode_delayed_key(std::span<const uint8_t> bytes);
std::vector<uint8_t> encode_held_record(const held_record& h);
std::optional<held_record> decode_held_record(std::span<const uint8_t> bytes);
// Only the due time (the index needs no more).
std::optional<int64_t> decode_held_due(std::span<const uint8_t> bytes);

struct move_intent {
  std::array<uint8_t, 16> topic_id{};
  int32_t partition = 0;
  int64_t log_end_before = -1;
  // Random, in the moved records' ids: a producer cannot forge the id of a record that
  // a resolve would then take as moved.
  uint64_t token = 0;
  std::vector<int64_t> held;  // offsets of held records in the internal topic
};
std::vector<uint8_t> encode_move_intent(const move_intent& m);
std::optional<move_intent> decode_move_intent(std::span<const uint8_t> bytes);

// The value of delayed_id_header for a record held at `offset` of partition `partition`,
// moved under an intent with `token`.
std::string delayed_id(int32_t partition, int64_t offset, uint64_t token);

}  // namespace broker
