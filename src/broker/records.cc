#include "broker/records.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "base/varint.h"
#include "broker/errc.h"
#include "storage/record_batch.h"

namespace broker {
namespace {

void put_varint(std::vector<uint8_t>& out, int64_t v) {
  uint8_t buf[base::varint::max_size64];
  const size_t n = base::varint::encode_signed64(v, buf);
  out.insert(out.end(), buf, buf + n);
}

// A length-prefixed field; -1 for null.
void put_field(std::vector<uint8_t>& out, const std::optional<std::string>& s) {
  if (!s) {
    put_varint(out, -1);
    return;
  }
  put_varint(out, static_cast<int64_t>(s->size()));
  out.insert(out.end(), s->begin(), s->end());
}

// Wraps like Java's long arithmetic (as storage does when decoding deltas).
int64_t wrapping_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

// Reads the length-prefixed fields of the encoded headers, bounds-checked.
class field_reader {
 public:
  explicit field_reader(std::span<const uint8_t> b) : b_(b) {}
  // False when the bytes do not hold a field; `out` is nullopt for a null one.
  bool field(std::optional<std::string>& out) {
    auto len = base::varint::decode_signed32(b_);
    if (!len) return false;
    b_ = b_.subspan(len->size);
    if (len->value == -1) {
      out.reset();
      return true;
    }
    if (len->value < 0 || static_cast<size_t>(len->value) > b_.size()) return false;
    const auto n = static_cast<size_t>(len->value);
    out.emplace(reinterpret_cast<const char*>(b_.data()), n);
    b_ = b_.subspan(n);
    return true;
  }
  bool done() const { return b_.empty(); }

 private:
  std::span<const uint8_t> b_;
};

std::optional<std::string> to_string(const std::optional<std::span<const uint8_t>>& s) {
  if (!s) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(s->data()), s->size());
}

}  // namespace

std::vector<uint8_t> build_batch(std::span<const record> records, int64_t now_ms,
                                 int64_t producer_id, int16_t producer_epoch,
                                 int32_t base_sequence) {
  // Offset deltas and the record count are int32.
  if (records.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw std::length_error("records do not fit one batch");
  }
  auto timestamp_of = [&](const record& r) { return r.timestamp == -1 ? now_ms : r.timestamp; };
  const int64_t base_timestamp = records.empty() ? now_ms : timestamp_of(records.front());
  int64_t max_timestamp = base_timestamp;

  std::vector<uint8_t> b(storage::batch_header_size);
  std::vector<uint8_t> body;
  for (size_t i = 0; i < records.size(); ++i) {
    const record& r = records[i];
    const int64_t ts = timestamp_of(r);
    max_timestamp = std::max(max_timestamp, ts);
    body.clear();
    body.push_back(0);  // attributes
    put_varint(body, wrapping_sub(ts, base_timestamp));
    put_varint(body, static_cast<int64_t>(i));
    put_field(body, r.key);
    put_field(body, r.value);
    put_varint(body, static_cast<int64_t>(r.headers.size()));
    for (const auto& h : r.headers) {
      put_field(body, h.key);
      put_field(body, h.value);
    }
    put_varint(b, static_cast<int64_t>(body.size()));
    b.insert(b.end(), body.begin(), body.end());
    if (b.size() - storage::batch_length_overhead > std::numeric_limits<int32_t>::max()) {
      throw std::length_error("records do not fit one batch");
    }
  }

  const auto count = static_cast<int32_t>(records.size());
  uint8_t* p = b.data();
  storage::put_i64(p, 0);
  storage::put_i32(p + storage::batch_length_offset,
                   static_cast<int32_t>(b.size() - storage::batch_length_overhead));
  storage::put_i32(p + 12, -1);  // partitionLeaderEpoch: the broker stamps it
  p[storage::batch_magic_offset] = 2;
  p[21] = 0;  // attributes: no codec, CreateTime, not transactional, not control
  p[22] = 0;
  storage::put_i32(p + 23, std::max(count - 1, 0));
  storage::put_i64(p + 27, base_timestamp);
  storage::put_i64(p + 35, max_timestamp);
  storage::put_i64(p + 43, producer_id);
  p[51] = static_cast<uint8_t>(static_cast<uint16_t>(producer_epoch) >> 8);
  p[52] = static_cast<uint8_t>(producer_epoch);
  storage::put_i32(p + 53, base_sequence);
  storage::put_i32(p + 57, count);
  storage::put_i32(p + storage::batch_crc_offset,
                   static_cast<int32_t>(storage::compute_batch_crc(b)));
  return b;
}

base::result<decoded_records> decode_records(std::span<const uint8_t> batches, int64_t from_offset,
                                             size_t max_records) {
  decoded_records out;
  int64_t walked_to = from_offset;  // the offset after the last batch walked
  bool cut = false;
  std::vector<uint8_t> scratch;
  std::error_code record_error;
  while (!batches.empty() && out.records.size() < max_records) {
    auto h = storage::validate_batch(batches);
    if (!h) return to_broker_error(h.error());
    const size_t size = h->size_bytes();
    const auto batch = batches.first(size);
    batches = batches.subspan(size);
    out.bytes += size;
    walked_to = std::max(walked_to, h->next_offset());
    if (h->control() || h->next_offset() <= from_offset) continue;

    auto status = storage::for_each_record(
        batch,
        [&](const storage::record_view& v) {
          if (v.offset < from_offset) return true;
          record r;
          r.offset = v.offset;
          r.timestamp = h->log_append_time() ? h->max_timestamp : v.timestamp;
          r.key = to_string(v.key);
          r.value = to_string(v.value);
          r.headers.resize(static_cast<size_t>(v.header_count));
          field_reader fields(v.headers);
          for (auto& hdr : r.headers) {
            std::optional<std::string> key;
            if (!fields.field(key) || !key || !fields.field(hdr.value)) {
              record_error = errc::invalid_record;
              return false;
            }
            hdr.key = std::move(*key);
          }
          if (!fields.done()) {
            record_error = errc::invalid_record;
            return false;
          }
          out.records.push_back(std::move(r));
          if (out.records.size() < max_records) return true;
          cut = true;
          return false;
        },
        scratch);
    if (!status) return to_broker_error(status.error());
    if (record_error) return record_error;
  }
  out.next_offset = cut ? out.records.back().offset + 1 : walked_to;
  return out;
}

uint32_t murmur2(std::string_view key) {
  // Utils.murmur2 of the Kafka Java client, in unsigned arithmetic (Java's int wraps and
  // its >>> is an unsigned shift).
  constexpr uint32_t seed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr unsigned r = 24;
  const auto* data = reinterpret_cast<const uint8_t*>(key.data());
  const size_t length = key.size();
  uint32_t h = seed ^ static_cast<uint32_t>(length);
  const size_t length4 = length / 4;
  for (size_t i = 0; i < length4; ++i) {
    const uint8_t* q = data + i * 4;
    uint32_t k =
        uint32_t{q[0]} | (uint32_t{q[1]} << 8) | (uint32_t{q[2]} << 16) | (uint32_t{q[3]} << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint8_t* tail = data + (length & ~size_t{3});
  switch (length % 4) {
    case 3:
      h ^= uint32_t{tail[2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{tail[1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{tail[0]};
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

int32_t murmur2_partition(std::string_view key, int32_t partitions) {
  if (partitions <= 0) return -1;
  return static_cast<int32_t>((murmur2(key) & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

}  // namespace broker
