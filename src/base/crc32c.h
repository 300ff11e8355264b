#pragma once
// CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2. Uses the SSE4.2 crc32
// instruction when the CPU has it (three independent streams at once over inputs of 768
// bytes and more) and a table-driven implementation otherwise.

#include <cstddef>
#include <cstdint>
#include <span>

namespace base {

// Extends `crc` (0 for a fresh checksum) over `data`.
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);

inline uint32_t crc32c(std::span<const uint8_t> data) {
  return crc32c_extend(0, data.data(), data.size());
}

// The CRC-32C of A followed by B, from crc_a = crc32c(A), crc_b = crc32c(B) and B's
// length: lets a checksum over data whose parts' CRCs are already known (record batches
// carry theirs) skip a pass over the bytes. Costs one 32-bit GF(2) multiplication per
// set bit of len_b, so it pays off for parts of a few KiB and more.
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

// Both implementations, exposed so tests can check them against each other.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size);
uint32_t crc32c_extend_hardware(uint32_t crc, const void* data, size_t size);
bool crc32c_hardware_available();

}  // namespace base
