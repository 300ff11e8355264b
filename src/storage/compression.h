#pragma once
// The record codecs of Kafka's RecordBatch v2 (attributes bits 0-2): gzip, snappy (raw
// blocks, or the xerial framing the Java client writes), lz4 (the LZ4 frame format) and
// zstd. The broker decompresses a batch's records to read their keys and timestamps
// (time lookups, compaction) and compresses the records of batches it rewrites.
//
// Decompression writes into a caller-owned buffer and never grows it past `max_bytes`:
// a compression bomb is refused with errc::invalid_batch once it would exceed the bound,
// without allocating for it. Pure functions: any thread.

#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "storage/record_batch.h"

namespace storage {

// Replaces `out` with the decompressed form of `in`. errc::invalid_batch when `in` is
// not valid for the codec or decompresses to more than `max_bytes`.
base::status decompress(compression codec, std::span<const uint8_t> in, std::vector<uint8_t>& out,
                        size_t max_bytes);

// The level that means "the codec's default" to compress().
inline constexpr int default_compression_level = INT32_MIN;

// Replaces `out` with `in` compressed by `codec` in the form Kafka clients read, at
// `level` (gzip 1-9, lz4 1-17, zstd up to 22; snappy has none).
base::status compress(compression codec, std::span<const uint8_t> in, std::vector<uint8_t>& out,
                      int level = default_compression_level);

// A copy of the whole, checked batch `batch` (header `h`) whose records are compressed
// with `to` instead (for a batch scan_records accepted), CRC and length updated.
base::result<std::vector<uint8_t>> recompress_batch(std::span<const uint8_t> batch,
                                                    const batch_header& h, compression to,
                                                    int level = default_compression_level);

}  // namespace storage
