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

// Both implementations, exposed so tests can check them against each other.
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, size_t size);
uint32_t crc32c_extend_hardware(uint32_t crc, const void* data, size_t size);
bool crc32c_hardware_available();

}  // namespace base
