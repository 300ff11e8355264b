#include "storage/record_batch.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "base/crc32c.h"
#include "base/varint.h"
#include "storage/compression.h"

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

// Walks the records of `body` (a batch's records, decompressed), checking each against
// the header: `count` records, offset deltas increasing from 0 up to at most
// lastOffsetDelta, lengths consistent, nothing after the last one. Stops early,
// successfully, when `fn` returns false.
template <typename Fn>
base::status walk_records(const batch_header& h, std::span<const uint8_t> body, Fn&& fn) {
  cursor c(body);
  int32_t previous_delta = -1;
  for (int32_t i = 0; i < h.record_count; ++i) {
    const size_t start = c.pos();
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
    const size_t headers_start = c.pos();
    for (int32_t k = 0; k < r.header_count; ++k) {
      std::optional<std::span<const uint8_t>> hk, hv;
      if (!c.field(hk, false) || !c.field(hv, true)) return errc::invalid_batch;
    }
    r.headers = body.subspan(headers_start, c.pos() - headers_start);
    if (c.pos() != end) return errc::invalid_batch;
    if (offset_delta <= previous_delta || offset_delta > h.last_offset_delta) {
      return errc::invalid_batch;
    }
    previous_delta = offset_delta;
    r.bytes = body.subspan(start, end - start);
    r.offset = h.base_offset + offset_delta;  // check_header bounds base + last delta
    // Timestamps wrap like Java's long arithmetic instead of overflowing.
    r.timestamp = static_cast<int64_t>(static_cast<uint64_t>(h.base_timestamp) +
                                       static_cast<uint64_t>(ts_delta));
    if (!fn(r)) return {};
  }
  if (c.remaining() != 0) return errc::invalid_batch;
  return {};
}

// The records of a whole, header-checked batch: its own bytes, or decompressed into
// `scratch`.
base::result<std::span<const uint8_t>> records_body(std::span<const uint8_t> batch,
                                                    const batch_header& h,
                                                    std::vector<uint8_t>& scratch,
                                                    size_t max_decompressed) {
  auto body = batch.subspan(batch_header_size, h.size_bytes() - batch_header_size);
  if (h.codec() == compression::none) return body;
  if (static_cast<uint8_t>(h.codec()) > 4) return errc::invalid_batch;
  RIPTIDE_TRY(decompress(h.codec(), body, scratch, max_decompressed));
  return std::span<const uint8_t>(scratch);
}

}  // namespace

base::status for_each_record(std::span<const uint8_t> batch,
                             const std::function<bool(const record_view&)>& fn,
                             std::vector<uint8_t>& scratch) {
  if (batch.size() < batch_header_size) return errc::invalid_batch;
  auto h = decode_header(batch);
  RIPTIDE_TRY(check_header(h, batch.size()));
  auto body = records_body(batch, h, scratch, decompressed_batch_bytes_ceiling);
  if (!body) return body.error();
  return walk_records(h, *body, fn);
}

base::status for_each_record(std::span<const uint8_t> batch,
                             const std::function<bool(const record_view&)>& fn) {
  std::vector<uint8_t> scratch;
  return for_each_record(batch, fn, scratch);
}

base::result<records_info> scan_records(std::span<const uint8_t> batch, const batch_header& h,
                                        std::vector<uint8_t>& scratch, scan_options opts) {
  auto body = records_body(batch, h, scratch, opts.max_decompressed);
  if (!body) return body.error();
  records_info info;
  RIPTIDE_TRY(walk_records(h, *body, [&](const record_view& r) {
    if (r.timestamp > info.max_timestamp) {
      info.max_timestamp = r.timestamp;
      info.max_timestamp_offset = r.offset;
    }
    if (r.timestamp != -1) info.min_timestamp = std::min(info.min_timestamp, r.timestamp);
    if (r.timestamp < -1) info.negative_timestamp = true;
    if (!r.key) info.null_key = true;
    if (!opts.header_prefix.empty() && r.header_count > 0 && !info.prefixed_header &&
        has_header_prefix(r.headers, r.header_count, opts.header_prefix)) {
      info.prefixed_header = true;
    }
    ++info.count;
    return true;
  }));
  if (info.count != h.record_count) return errc::invalid_batch;
  if (!opts.allow_offset_gaps && info.count != int64_t{h.last_offset_delta} + 1) {
    return errc::invalid_batch;
  }
  return info;
}

base::result<records_info> scan_records(std::span<const uint8_t> batch, const batch_header& h,
                                        std::vector<uint8_t>& scratch, size_t max_decompressed) {
  scan_options opts;
  opts.max_decompressed = max_decompressed;
  return scan_records(batch, h, scratch, opts);
}

bool has_header_prefix(std::span<const uint8_t> headers, int32_t count, std::string_view prefix) {
  cursor c(headers);
  for (int32_t k = 0; k < count; ++k) {
    std::optional<std::span<const uint8_t>> hk, hv;
    if (!c.field(hk, false) || !c.field(hv, true)) return false;
    if (hk->size() >= prefix.size() && std::memcmp(hk->data(), prefix.data(), prefix.size()) == 0) {
      return true;
    }
  }
  return false;
}

void set_max_timestamp(std::span<uint8_t> header, const batch_header& h, int64_t max_timestamp,
                       bool log_append_time) {
  std::array<uint8_t, batch_header_size - batch_crc_start> before;
  std::memcpy(before.data(), header.data() + batch_crc_start, before.size());
  const auto attrs =
      static_cast<uint16_t>(log_append_time ? (h.attributes | 0x8) : (h.attributes & ~0x8));
  header[21] = static_cast<uint8_t>(attrs >> 8);
  header[22] = static_cast<uint8_t>(attrs);
  put_i64(header.data() + 35, max_timestamp);
  // The CRC covers bytes 21..end. It is linear: the new value differs from the old by the
  // CRC of the changed header bytes shifted over the rest of the batch, so the records
  // need no second pass.
  const uint32_t delta = base::crc32c_extend(0, before.data(), before.size()) ^
                         base::crc32c_extend(0, header.data() + batch_crc_start, before.size());
  const uint32_t crc = h.crc ^ base::crc32c_combine(delta, 0, h.size_bytes() - batch_header_size);
  put_i32(header.data() + batch_crc_offset, static_cast<int32_t>(crc));
}

}  // namespace storage
