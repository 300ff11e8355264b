#include "storage/record_batch.h"

#include <cstring>

#include "base/crc32c.h"
#include "base/varint.h"

namespace storage {

void put_i64(uint8_t* p, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(u);
    u >>= 8;
  }
}

void put_i32(uint8_t* p, int32_t v) {
  auto u = static_cast<uint32_t>(v);
  for (int i = 3; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(u);
    u >>= 8;
  }
}

int64_t get_i64(const uint8_t* p) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | p[i];
  return static_cast<int64_t>(u);
}

int32_t get_i32(const uint8_t* p) {
  uint32_t u = 0;
  for (int i = 0; i < 4; ++i) u = (u << 8) | p[i];
  return static_cast<int32_t>(u);
}

int16_t get_i16(const uint8_t* p) {
  return static_cast<int16_t>((p[0] << 8) | p[1]);
}

batch_header decode_header(std::span<const uint8_t> b) {
  const uint8_t* p = b.data();
  batch_header h;
  h.base_offset = get_i64(p);
  h.batch_length = get_i32(p + 8);
  h.leader_epoch = get_i32(p + 12);
  h.magic = static_cast<int8_t>(p[16]);
  h.crc = static_cast<uint32_t>(get_i32(p + 17));
  h.attributes = get_i16(p + 21);
  h.last_offset_delta = get_i32(p + 23);
  h.base_timestamp = get_i64(p + 27);
  h.max_timestamp = get_i64(p + 35);
  h.producer_id = get_i64(p + 43);
  h.producer_epoch = get_i16(p + 51);
  h.base_sequence = get_i32(p + 53);
  h.record_count = get_i32(p + 57);
  return h;
}

base::status check_header(const batch_header& h, size_t available) {
  if (h.magic != 2) return errc::unsupported_magic;
  if (h.batch_length < static_cast<int32_t>(batch_header_size - batch_length_overhead)) {
    return errc::invalid_batch;
  }
  if (h.size_bytes() > available) return errc::invalid_batch;
  if (h.last_offset_delta < 0 || h.record_count < 0) return errc::invalid_batch;
  if (h.base_offset < 0) return errc::invalid_batch;
  // A batch's offsets must fit after its base offset.
  if (h.base_offset > INT64_MAX - h.last_offset_delta - 1) return errc::invalid_batch;
  return {};
}

uint32_t compute_batch_crc(std::span<const uint8_t> batch) {
  return base::crc32c(batch.subspan(batch_crc_start));
}

base::result<batch_header> validate_batch(std::span<const uint8_t> bytes) {
  if (bytes.size() < batch_header_size) return errc::invalid_batch;
  auto h = decode_header(bytes);
  RIPTIDE_TRY(check_header(h, bytes.size()));
  if (compute_batch_crc(bytes.first(h.size_bytes())) != h.crc) return errc::corrupt_batch;
  return h;
}

namespace {

// A bounds-checked cursor over a record's bytes.
class cursor {
 public:
  explicit cursor(std::span<const uint8_t> b) : b_(b) {}
  bool varint(int32_t& out) {
    auto d = base::varint::decode_signed32(b_.subspan(pos_));
    if (!d) return false;
    out = d->value;
    pos_ += d->size;
    return true;
  }
  bool varlong(int64_t& out) {
    auto d = base::varint::decode_signed64(b_.subspan(pos_));
    if (!d) return false;
    out = d->value;
    pos_ += d->size;
    return true;
  }
  bool skip(size_t n) {
    if (n > b_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  // A length-prefixed field; length -1 means null when `nullable`.
  bool field(std::optional<std::span<const uint8_t>>& out, bool nullable) {
    int32_t len;
    if (!varint(len)) return false;
    if (len == -1 && nullable) {
      out.reset();
      return true;
    }
    if (len < 0 || static_cast<size_t>(len) > b_.size() - pos_) return false;
    out = b_.subspan(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }
  size_t pos() const { return pos_; }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

}  // namespace

base::status for_each_record(std::span<const uint8_t> batch,
                             const std::function<bool(const record_view&)>& fn) {
  if (batch.size() < batch_header_size) return errc::invalid_batch;
  auto h = decode_header(batch);
  RIPTIDE_TRY(check_header(h, batch.size()));
  if (h.codec() != compression::none) return errc::invalid_batch;
  cursor c(batch.subspan(batch_header_size, h.size_bytes() - batch_header_size));
  for (int32_t i = 0; i < h.record_count; ++i) {
    int32_t length;
    if (!c.varint(length) || length < 0 || static_cast<size_t>(length) > c.remaining()) {
      return errc::invalid_batch;
    }
    const size_t end = c.pos() + static_cast<size_t>(length);
    int64_t ts_delta;
    int32_t offset_delta;
    record_view r{};
    if (!c.skip(1) || !c.varlong(ts_delta) || !c.varint(offset_delta) || !c.field(r.key, true) ||
        !c.field(r.value, true) || !c.varint(r.header_count) || r.header_count < 0) {
      return errc::invalid_batch;
    }
    for (int32_t k = 0; k < r.header_count; ++k) {
      std::optional<std::span<const uint8_t>> hk, hv;
      if (!c.field(hk, false) || !c.field(hv, true)) return errc::invalid_batch;
    }
    if (c.pos() != end) return errc::invalid_batch;
    if (offset_delta < 0 || offset_delta > h.last_offset_delta) return errc::invalid_batch;
    r.offset = h.base_offset + offset_delta;  // check_header bounds base + last delta
    // Timestamps wrap like Java's long arithmetic instead of overflowing.
    r.timestamp = static_cast<int64_t>(static_cast<uint64_t>(h.base_timestamp) +
                                       static_cast<uint64_t>(ts_delta));
    if (!fn(r)) return {};
  }
  return {};
}

}  // namespace storage
