#include "storage/batch_builder.h"

#include <algorithm>
#include <new>

#include "base/varint.h"
#include "storage/compression.h"
#include "storage/record_batch.h"

namespace storage {
namespace {

void put_varint(std::vector<uint8_t>& out, int64_t v) {
  uint8_t buf[base::varint::max_size64];
  size_t n = base::varint::encode_signed64(v, buf);
  out.insert(out.end(), buf, buf + n);
}

void put_field(std::vector<uint8_t>& out, std::optional<std::string_view> s) {
  if (!s) {
    put_varint(out, -1);
    return;
  }
  put_varint(out, static_cast<int64_t>(s->size()));
  out.insert(out.end(), s->begin(), s->end());
}

}  // namespace

batch_builder& batch_builder::producer(int64_t id, int16_t epoch, int32_t base_sequence) {
  producer_id_ = id;
  producer_epoch_ = epoch;
  base_sequence_ = base_sequence;
  return *this;
}

batch_builder& batch_builder::add(
    std::optional<std::string_view> key, std::optional<std::string_view> value,
    std::span<const std::pair<std::string_view, std::string_view>> headers,
    std::optional<int64_t> timestamp) {
  const int64_t ts = timestamp.value_or(base_timestamp_);
  max_timestamp_ = std::max(max_timestamp_, ts);
  std::vector<uint8_t> body;
  body.push_back(0);  // attributes
  put_varint(body, ts - base_timestamp_);
  put_varint(body, count_);
  put_field(body, key);
  put_field(body, value);
  put_varint(body, static_cast<int64_t>(headers.size()));
  for (const auto& [hk, hv] : headers) {
    put_field(body, hk);
    put_field(body, hv);
  }
  put_varint(records_, static_cast<int64_t>(body.size()));
  records_.insert(records_.end(), body.begin(), body.end());
  ++count_;
  return *this;
}

std::vector<uint8_t> batch_builder::build() const {
  std::vector<uint8_t> compressed;
  if (codec_ != compression::none) {
    // Compressing a buffer in memory fails only on allocation.
    if (!compress(codec_, records_, compressed)) throw std::bad_alloc();
  }
  const auto& records = codec_ == compression::none ? records_ : compressed;
  std::vector<uint8_t> b(batch_header_size + records.size());
  uint8_t* p = b.data();
  put_i64(p, 0);
  put_i32(p + 8, static_cast<int32_t>(b.size() - batch_length_overhead));
  put_i32(p + 12, -1);
  p[16] = 2;
  p[21] = 0;
  p[22] = static_cast<uint8_t>(codec_);
  put_i32(p + 23, std::max(count_ - 1, 0));
  put_i64(p + 27, base_timestamp_);
  put_i64(p + 35, count_ ? max_timestamp_ : base_timestamp_);
  put_i64(p + 43, producer_id_);
  p[51] = static_cast<uint8_t>(static_cast<uint16_t>(producer_epoch_) >> 8);
  p[52] = static_cast<uint8_t>(producer_epoch_);
  put_i32(p + 53, base_sequence_);
  put_i32(p + 57, count_);
  std::copy(records.begin(), records.end(), b.begin() + batch_header_size);
  put_i32(p + 17, static_cast<int32_t>(compute_batch_crc(b)));
  return b;
}

}  // namespace storage
