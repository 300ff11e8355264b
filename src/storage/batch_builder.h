#pragma once
// Builds RecordBatch v2 bytes (records uncompressed, or compressed with a codec). Used by the HTTP
// gateway's producer path, tools, tests and benchmarks; Kafka producers send batches they built
// themselves.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/record_batch.h"

namespace storage {

class batch_builder {
 public:
  explicit batch_builder(int64_t base_timestamp) : base_timestamp_(base_timestamp) {}

  batch_builder& producer(int64_t id, int16_t epoch, int32_t base_sequence);
  batch_builder& add(std::optional<std::string_view> key, std::optional<std::string_view> value,
                     std::span<const std::pair<std::string_view, std::string_view>> headers = {},
                     std::optional<int64_t> timestamp = std::nullopt);
  // Compresses the records with `c` in build().
  batch_builder& codec(compression c) {
    codec_ = c;
    return *this;
  }
  size_t record_count() const { return count_; }
  // Returns the finished batch (base offset 0, CRC filled in).
  std::vector<uint8_t> build() const;

 private:
  int64_t base_timestamp_;
  int64_t max_timestamp_ = -1;
  int64_t producer_id_ = -1;
  int16_t producer_epoch_ = -1;
  int32_t base_sequence_ = -1;
  int32_t count_ = 0;
  compression codec_ = compression::none;
  std::vector<uint8_t> records_;
};

}  // namespace storage
