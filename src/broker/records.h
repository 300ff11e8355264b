#pragma once
// Records as the front doors other than Kafka (the HTTP gateway, WebSocket) see them: one
// batch built from logical records for produce, the batches a read returns decoded back
// into records, and the key partitioner of the Java client. Those front doors may not
// include storage/ (tools/check_layering.py); this is their codec, built on storage's.
// Pure functions: any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace broker {

struct record_header {
  std::string key;
  std::optional<std::string> value;  // nullopt: a null value (not the same as "")

  bool operator==(const record_header&) const = default;
};

// A record as a non-Kafka front door sees it.
struct record {
  int64_t offset = -1;     // set when read
  int64_t timestamp = -1;  // producer's CreateTime, or LogAppendTime; -1 on produce: now
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<record_header> headers;

  bool operator==(const record&) const = default;
};

// One uncompressed RecordBatch v2 (base offset 0, CRC set, CreateTime) holding `records`
// in order; records with timestamp -1 get `now_ms`. The producer id, epoch and base
// sequence are those of an idempotent producer (-1: none). An empty `records` gives a
// batch of no records, which produce refuses as invalid. Throws std::length_error if the
// records would not fit one batch (2 GiB): front doors bound request sizes far below.
std::vector<uint8_t> build_batch(std::span<const record> records, int64_t now_ms,
                                 int64_t producer_id = -1, int16_t producer_epoch = -1,
                                 int32_t base_sequence = -1);

struct decoded_records {
  std::vector<record> records;
  // Where the next read should start: the offset after the last record returned when
  // `max_records` cut the read short; otherwise the offset after the last batch walked
  // (past trailing control batches and compacted-away offsets), never below `from_offset`.
  int64_t next_offset = -1;
  size_t bytes = 0;  // the bytes of the batches walked (skipped or read, whole)
};

// Decodes the whole batches a read returns (records compressed with gzip, snappy, lz4 or
// zstd too), skipping control batches (transaction markers) and records below
// `from_offset`, and stopping after `max_records` records. Records of LogAppendTime
// batches get the batch's max timestamp. A batch that is cut short, fails its CRC or
// does not parse is an error (errc::invalid_batch, corrupt_batch, unsupported_magic):
// reads return whole, checked batches, so it means the bytes were damaged on the way.
base::result<decoded_records> decode_records(std::span<const uint8_t> batches, int64_t from_offset,
                                             size_t max_records);

// murmur2 as the Kafka Java client computes it (Utils.murmur2, seed 0x9747b28c) over
// `key`'s bytes; Java's signed int result is this value cast to int32_t.
uint32_t murmur2(std::string_view key);

// The partition the Java client's default partitioner sends a record with `key` to among
// `partitions`: murmur2 made positive (& 0x7fffffff) modulo `partitions`. -1 when
// `partitions` is not positive.
int32_t murmur2_partition(std::string_view key, int32_t partitions);

}  // namespace broker
