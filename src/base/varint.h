#pragma once
// Kafka's variable-length integers: unsigned (LEB128-style, 7 bits per byte, least
// significant group first) and signed zigzag varint/varlong as used in RecordBatch v2
// records and flexible protocol versions. Decoding is bounds-checked: a truncated or
// over-long encoding yields std::nullopt, never a read past the input.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace base::varint {

inline constexpr size_t max_size32 = 5;
inline constexpr size_t max_size64 = 10;

template <typename T>
struct decoded {
  T value;
  size_t size;  // bytes consumed
};

constexpr uint32_t zigzag_encode(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}
constexpr uint64_t zigzag_encode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int32_t zigzag_decode(uint32_t v) {
  return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
}
constexpr int64_t zigzag_decode(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

constexpr size_t encoded_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` to `out` (which must hold encoded_size(v) bytes); returns bytes written.
inline size_t encode_unsigned(uint64_t v, uint8_t* out) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<uint8_t>(v);
  return n;
}
inline size_t encode_signed32(int32_t v, uint8_t* out) {
  return encode_unsigned(zigzag_encode(v), out);
}
inline size_t encode_signed64(int64_t v, uint8_t* out) {
  return encode_unsigned(zigzag_encode(v), out);
}

namespace detail {
template <typename T, size_t MaxSize>
std::optional<decoded<T>> decode_unsigned(std::span<const uint8_t> in) {
  constexpr unsigned bits = sizeof(T) * 8;
  T value = 0;
  for (size_t i = 0; i < in.size() && i < MaxSize; ++i) {
    const uint8_t b = in[i];
    const unsigned shift = static_cast<unsigned>(7 * i);
    // The last permitted byte may only carry the bits that still fit in T.
    if (i == MaxSize - 1 && (b >> (bits - shift)) != 0) return std::nullopt;
    value |= static_cast<T>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return decoded<T>{value, i + 1};
  }
  return std::nullopt;
}
}  // namespace detail

inline std::optional<decoded<uint32_t>> decode_unsigned32(std::span<const uint8_t> in) {
  return detail::decode_unsigned<uint32_t, max_size32>(in);
}
inline std::optional<decoded<uint64_t>> decode_unsigned64(std::span<const uint8_t> in) {
  return detail::decode_unsigned<uint64_t, max_size64>(in);
}
inline std::optional<decoded<int32_t>> decode_signed32(std::span<const uint8_t> in) {
  auto d = decode_unsigned32(in);
  if (!d) return std::nullopt;
  return decoded<int32_t>{zigzag_decode(d->value), d->size};
}
inline std::optional<decoded<int64_t>> decode_signed64(std::span<const uint8_t> in) {
  auto d = decode_unsigned64(in);
  if (!d) return std::nullopt;
  return decoded<int64_t>{zigzag_decode(d->value), d->size};
}

}  // namespace base::varint
