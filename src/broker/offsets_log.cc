#include "broker/offsets_log.h"

#include "broker/byte_codec.h"

namespace broker {
namespace {

using namespace byte_codec;  // NOLINT(build/namespaces)

constexpr uint8_t kVersion = 1;

}  // namespace

std::vector<uint8_t> encode_offset_key(const offset_key& k) {
  std::vector<uint8_t> out;
  out.push_back(kVersion);
  put_string(out, k.group);
  put_string(out, k.topic);
  put(out, static_cast<uint32_t>(k.partition), 4);
  return out;
}

std::vector<uint8_t> encode_offset_value(const committed_offset& v) {
  std::vector<uint8_t> out;
  out.push_back(kVersion);
  put(out, static_cast<uint64_t>(v.offset), 8);
  put(out, static_cast<uint32_t>(v.leader_epoch), 4);
  put(out, static_cast<uint64_t>(v.commit_time_ms), 8);
  if (v.metadata) {
    put_string(out, *v.metadata);
  } else {
    put(out, 0xffff, 2);
  }
  return out;
}

std::optional<offset_key> decode_offset_key(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  offset_key k;
  k.group = c.str(c.be(2));
  k.topic = c.str(c.be(2));
  k.partition = static_cast<int32_t>(c.be(4));
  if (!c.done()) return std::nullopt;
  return k;
}

std::optional<committed_offset> decode_offset_value(std::span<const uint8_t> bytes) {
  cursor c(bytes);
  if (c.be(1) != kVersion) return std::nullopt;
  committed_offset v;
  v.offset = static_cast<int64_t>(c.be(8));
  v.leader_epoch = static_cast<int32_t>(c.be(4));
  v.commit_time_ms = static_cast<int64_t>(c.be(8));
  const auto len = c.be(2);
  if (len != 0xffff) v.metadata = c.str(len);
  if (!c.done()) return std::nullopt;
  return v;
}

}  // namespace broker
