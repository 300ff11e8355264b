#include "broker/delayed_records.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "base/varint.h"
#include "broker/byte_codec.h"
#include "broker/errc.h"
#include "broker/topic_config.h"
#include "storage/record_batch.h"

namespace broker {
namespace {

constexpr uint8_t kVersion = 1;

std::optional<int64_t> parse_ms(const std::optional<std::string>& v) {
  if (!v || v->empty()) return std::nullopt;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
  return n;
}

// One length-prefixed field of a record's headers (checked by the log already).
bool header_field(std::span<const uint8_t> b, size_t& pos, std::optional<std::string>& out) {
  auto len = base::varint::decode_signed32(b.subspan(pos));
  if (!len) return false;
  pos += len->size;
  if (len->value == -1) {
    out.reset();
    return true;
  }
  if (len->value < 0 || static_cast<size_t>(len->value) > b.size() - pos) return false;
  out.emplace(reinterpret_cast<const char*>(b.data() + pos), static_cast<size_t>(len->value));
  pos += static_cast<size_t>(len->value);
  return true;
}

std::string as_string(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

void put_bytes(std::vector<uint8_t>& out, const std::optional<std::string>& s) {
  if (!s) {
    byte_codec::put(out, 0xffffffffu, 4);
    return;
  }
  byte_codec::put(out, s->size(), 4);
  out.insert(out.end(), s->begin(), s->end());
}

bool get_bytes(byte_codec::cursor& c, std::optional<std::string>& out) {
  const auto len = static_cast<int32_t>(c.be(4));
  if (!c.ok()) return false;
  if (len == -1) {
    out.reset();
    return true;
  }
  if (len < 0) return false;
  out = c.str(static_cast<size_t>(len));
  return c.ok();
}

void put_i16(uint8_t* p, int16_t v) {
  p[0] = static_cast<uint8_t>(static_cast<uint16_t>(v) >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

base::result<split_result> split_delayed(std::span<const uint8_t> batch, int64_t now_ms,
                                         int64_t default_delay_ms,
                                         const std::array<uint8_t, 16>& topic_id,
                                         int32_t partition) {
  if (batch.size() < storage::batch_header_size) return errc::corrupt_batch;
  const auto h = storage::decode_header(batch);
  split_result out;
  std::vector<uint8_t> kept;
  int64_t max_ts = -1;
  int32_t index = -1;
  bool invalid = false;
  std::vector<uint8_t> scratch;
  auto st = storage::for_each_record(
      batch,
      [&](const storage::record_view& r) {
        ++index;
        std::optional<int64_t> due;
        bool asked = false;
        std::vector<record_header> headers;
        size_t pos = 0;
        for (int32_t k = 0; k < r.header_count; ++k) {
          std::optional<std::string> key, value;
          if (!header_field(r.headers, pos, key) || !key || !header_field(r.headers, pos, value)) {
            invalid = true;
            return false;
          }
          if (*key == deliver_at_header || *key == delay_ms_header) {
            const auto ms = parse_ms(value);
            if (!ms || *ms < 0) {
              invalid = true;
              return false;
            }
            // riptide-deliver-at wins over riptide-delay-ms when a record has both.
            if (*key == deliver_at_header) {
              due = *ms;
            } else if (!asked || !due) {
              due = now_ms + std::min(*ms, max_delivery_delay_ms + 1);
            }
            asked = true;
            continue;
          }
          headers.push_back({std::move(*key), std::move(value)});
        }
        if (!asked && default_delay_ms > 0) due = now_ms + default_delay_ms;
        if (due && *due > now_ms) {
          if (*due - now_ms > max_delivery_delay_ms) {
            invalid = true;
            return false;
          }
          held_record hr;
          hr.due_ms = *due;
          hr.topic_id = topic_id;
          hr.partition = partition;
          hr.rec.timestamp = r.timestamp;
          if (r.key) hr.rec.key = as_string(*r.key);
          if (r.value) hr.rec.value = as_string(*r.value);
          hr.rec.headers = std::move(headers);
          out.held.push_back(std::move(hr));
          out.held_index.push_back(index);
        } else {
          kept.insert(kept.end(), r.bytes.begin(), r.bytes.end());
          ++out.kept;
          max_ts = std::max(max_ts, r.timestamp);
        }
        return true;
      },
      scratch);
  if (!st)
    return st.error() == storage::errc::corrupt_batch ? errc::corrupt_batch : errc::invalid_batch;
  if (invalid) return errc::invalid_record;
  if (out.held.empty()) return out;
  if (h.transactional()) return errc::invalid_record;
  if (out.kept == 0 && h.producer_id < 0) return out;
  // The producer's header over the records kept, uncompressed: offsets and timestamps
  // stay deltas from the same bases, so the records need no rewriting.
  std::vector<uint8_t> b(storage::batch_header_size);
  b.insert(b.end(), kept.begin(), kept.end());
  uint8_t* p = b.data();
  storage::put_i64(p, 0);
  storage::put_i32(p + 8, static_cast<int32_t>(b.size() - storage::batch_length_overhead));
  storage::put_i32(p + 12, h.leader_epoch);
  p[16] = 2;
  put_i16(p + 21, static_cast<int16_t>(h.attributes & ~0x7));
  storage::put_i32(p + 23, h.last_offset_delta);
  storage::put_i64(p + 27, h.base_timestamp);
  storage::put_i64(p + 35, out.kept > 0 ? max_ts : h.base_timestamp);
  storage::put_i64(p + 43, h.producer_id);
  put_i16(p + 51, h.producer_epoch);
  storage::put_i32(p + 53, h.base_sequence);
  storage::put_i32(p + 57, out.kept);
  storage::put_i32(p + storage::batch_crc_offset,
                   static_cast<int32_t>(storage::compute_batch_crc(b)));
  out.remainder = std::move(b);
  return out;
}

std::vector<uint8_t> encode_delayed_key(delayed_key k) {
  std::vector<uint8_t> out;
  out.push_back(static_cast<uint8_t>(k.kind));
  byte_codec::put(out, static_cast<uint64_t>(k.offset), 8);
  return out;
}

std::optional<delayed_key> decode_delayed_key(std::span<const uint8_t> bytes) {
  if (bytes.size() != 9) return std::nullopt;
  const auto kind = static_cast<delayed_kind>(bytes[0]);
  if (kind != delayed_kind::held && kind != delayed_kind::intent) return std::nullopt;
  byte_codec::cursor c(bytes.subspan(1));
  return delayed_key{kind, static_cast<int64_t>(c.be(8))};
}

std::vector<uint8_t> encode_held_record(const held_record& h) {
  std::vector<uint8_t> out;
  out.push_back(kVersion);
  byte_codec::put(out, static_cast<uint64_t>(h.due_ms), 8);
  for (uint8_t b : h.topic_id) out.push_back(b);
  byte_codec::put(out, static_cast<uint32_t>(h.partition), 4);
  byte_codec::put(out, static_cast<uint64_t>(h.rec.timestamp), 8);
  put_bytes(out, h.rec.key);
  put_bytes(out, h.rec.value);
  byte_codec::put(out, h.rec.headers.size(), 4);
  for (const auto& hd : h.rec.headers) {
    put_bytes(out, hd.key);
    put_bytes(out, hd.value);
  }
  return out;
}

std::optional<int64_t> decode_held_due(std::span<const uint8_t> bytes) {
  byte_codec::cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  const auto due = static_cast<int64_t>(c.be(8));
  if (!c.ok()) return std::nullopt;
  return due;
}

std::optional<held_record> decode_held_record(std::span<const uint8_t> bytes) {
  byte_codec::cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  held_record h;
  h.due_ms = static_cast<int64_t>(c.be(8));
  for (auto& b : h.topic_id) b = static_cast<uint8_t>(c.be(1));
  h.partition = static_cast<int32_t>(c.be(4));
  h.rec.timestamp = static_cast<int64_t>(c.be(8));
  if (!get_bytes(c, h.rec.key) || !get_bytes(c, h.rec.value)) return std::nullopt;
  const auto count = static_cast<int32_t>(c.be(4));
  if (!c.ok() || count < 0) return std::nullopt;
  for (int32_t i = 0; i < count; ++i) {
    std::optional<std::string> k, v;
    if (!get_bytes(c, k) || !get_bytes(c, v) || !k) return std::nullopt;
    h.rec.headers.push_back({std::move(*k), std::move(v)});
  }
  if (!c.done()) return std::nullopt;
  return h;
}

std::vector<uint8_t> encode_move_intent(const move_intent& m) {
  std::vector<uint8_t> out;
  out.reserve(33 + m.held.size() * 8);
  out.push_back(kVersion);
  for (uint8_t b : m.topic_id) out.push_back(b);
  byte_codec::put(out, static_cast<uint32_t>(m.partition), 4);
  byte_codec::put(out, static_cast<uint64_t>(m.log_end_before), 8);
  byte_codec::put(out, m.token, 8);
  byte_codec::put(out, m.held.size(), 4);
  for (int64_t o : m.held) byte_codec::put(out, static_cast<uint64_t>(o), 8);
  return out;
}

std::optional<move_intent> decode_move_intent(std::span<const uint8_t> bytes) {
  byte_codec::cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  move_intent m;
  for (auto& b : m.topic_id) b = static_cast<uint8_t>(c.be(1));
  m.partition = static_cast<int32_t>(c.be(4));
  m.log_end_before = static_cast<int64_t>(c.be(8));
  m.token = c.be(8);
  const auto count = static_cast<uint32_t>(c.be(4));
  if (!c.ok() || count > bytes.size() / 8) return std::nullopt;
  for (uint32_t i = 0; i < count; ++i) m.held.push_back(static_cast<int64_t>(c.be(8)));
  if (!c.done()) return std::nullopt;
  return m;
}

std::string delayed_id(int32_t partition, int64_t offset, uint64_t token) {
  return fmt::format("{}-{}-{:016x}", partition, offset, token);
}

}  // namespace broker
