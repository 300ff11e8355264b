#pragma once
// RecordBatch v2, the only format on disk. The layout (61-byte header, big-endian):
//   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 |
//  17 crc u32 | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 |
//  35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 |
//  57 recordCount i32 | 61 records...
// The CRC-32C covers bytes 21..end, so the broker may stamp baseOffset and the leader
// epoch without recomputing it.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/errc.h"

namespace storage {

inline constexpr size_t batch_header_size = 61;
inline constexpr size_t batch_length_offset = 8;
inline constexpr size_t batch_magic_offset = 16;
inline constexpr size_t batch_crc_offset = 17;
inline constexpr size_t batch_crc_start = 21;
// batchLength counts the bytes after the length field.
inline constexpr size_t batch_length_overhead = 12;

enum class compression : uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

struct batch_header {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t leader_epoch = 0;
  int8_t magic = 0;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t record_count = 0;

  size_t size_bytes() const { return static_cast<size_t>(batch_length) + batch_length_overhead; }
  int64_t last_offset() const { return base_offset + last_offset_delta; }
  int64_t next_offset() const { return last_offset() + 1; }
  compression codec() const { return static_cast<compression>(attributes & 0x7); }
  bool log_append_time() const { return (attributes & 0x8) != 0; }
  bool transactional() const { return (attributes & 0x10) != 0; }
  bool control() const { return (attributes & 0x20) != 0; }
};

// Decodes the fixed header; `bytes` must hold at least batch_header_size bytes.
batch_header decode_header(std::span<const uint8_t> bytes);

// Checks the header fields that need no payload: magic, length bounds, counts.
// `available` is how many bytes of the batch are at hand (file tail, request size).
base::status check_header(const batch_header& h, size_t available);

// Validates one whole batch at the start of `bytes` (header, length, magic, CRC).
base::result<batch_header> validate_batch(std::span<const uint8_t> bytes);

// Computes the CRC a batch should carry (over bytes 21..end).
uint32_t compute_batch_crc(std::span<const uint8_t> batch);

// Writes big-endian integers into a header (used to stamp baseOffset and leader epoch).
void put_i64(uint8_t* p, int64_t v);
void put_i32(uint8_t* p, int32_t v);
int64_t get_i64(const uint8_t* p);
int32_t get_i32(const uint8_t* p);
int16_t get_i16(const uint8_t* p);

// The most a compressed batch's records may take once decompressed when it is appended
// (log_config::max_decompressed_batch_bytes; this is its default): a batch that would take
// more is refused as invalid (a compression bomb). Stored batches passed that check, so
// reading them back is bounded by the largest value it may be configured to.
inline constexpr size_t max_decompressed_batch_bytes = 64u << 20;
inline constexpr size_t decompressed_batch_bytes_ceiling = 1u << 30;

// One record of a batch, viewing the batch's bytes (or its decompressed records).
struct record_view {
  int64_t offset;
  int64_t timestamp;
  std::optional<std::span<const uint8_t>> key;
  std::optional<std::span<const uint8_t>> value;
  int32_t header_count;
  // The record's header_count headers as encoded (each a key, then a nullable value, both
  // length-prefixed varints); checked like the rest of the record.
  std::span<const uint8_t> headers;
  // The whole record as stored, its length prefix included: offset and timestamp are
  // deltas from the batch's base, so a batch with the same base can carry it unchanged.
  std::span<const uint8_t> bytes;
};

// Walks the records of a batch, decompressing a compressed one into `scratch`; stops
// early when `fn` returns false. Errors on malformed records: lengths or varints that do
// not fit, offset deltas that do not increase or pass lastOffsetDelta, bytes after the
// last record. (Compaction leaves gaps between the offsets of a batch's records.)
base::status for_each_record(std::span<const uint8_t> batch,
                             const std::function<bool(const record_view&)>& fn,
                             std::vector<uint8_t>& scratch);
base::status for_each_record(std::span<const uint8_t> batch,
                             const std::function<bool(const record_view&)>& fn);

// What a batch's records say about their timestamps.
struct records_info {
  int64_t max_timestamp = -1;         // the largest record timestamp (-1: none)
  int64_t max_timestamp_offset = -1;  // the first record holding it
  int64_t min_timestamp = INT64_MAX;  // the smallest, ignoring -1 (none)
  bool negative_timestamp = false;    // a record's timestamp is below -1
  bool null_key = false;              // a record has no key
  int32_t count = 0;                  // records walked
  // A record has a header whose key starts with the prefix scan_records was given.
  bool prefixed_header = false;
};
struct scan_options {
  // Bounds a compressed batch's records once decompressed.
  size_t max_decompressed = max_decompressed_batch_bytes;
  // Accept records that skip offsets (fewer than lastOffsetDelta + 1, even none), as
  // compaction leaves them; otherwise their offset deltas must be exactly 0, 1, 2, ...
  bool allow_offset_gaps = false;
  // Look for headers whose key starts with this (empty: none): records_info says.
  std::string_view header_prefix;
};
// Parses every record of a whole batch whose header `h` was checked, as for_each_record
// does, and also that the records number record_count = lastOffsetDelta + 1 unless
// `opts` allows gaps.
base::result<records_info> scan_records(std::span<const uint8_t> batch, const batch_header& h,
                                        std::vector<uint8_t>& scratch, scan_options opts);
base::result<records_info> scan_records(std::span<const uint8_t> batch, const batch_header& h,
                                        std::vector<uint8_t>& scratch,
                                        size_t max_decompressed = max_decompressed_batch_bytes);

// Whether the encoded headers of a record (record_view::headers, `count` of them) hold a
// key starting with `prefix`. The headers must have been checked (walked) before.
bool has_header_prefix(std::span<const uint8_t> headers, int32_t count, std::string_view prefix);

// Rewrites the header bytes of the batch `h` (header: its first batch_header_size bytes)
// so that maxTimestamp is `max_timestamp` and the timestamp type is LogAppendTime or
// CreateTime, and fixes the CRC to match without reading the records.
void set_max_timestamp(std::span<uint8_t> header, const batch_header& h, int64_t max_timestamp,
                       bool log_append_time);

}  // namespace storage
