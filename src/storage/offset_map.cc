#include "storage/offset_map.h"

#include <algorithm>
#include <cstring>

namespace storage {
namespace {

constexpr uint64_t kMul1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMul2 = 0xC2B2AE3D27D4EB4Full;

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

uint64_t load64(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  std::memcpy(&v, p, n);
  return v;
}

}  // namespace

key_hash hash_key(std::span<const uint8_t> key) {
  // Two independent 64-bit lanes over 8-byte words, each word mixed before it is folded
  // in, finished with the length.
  uint64_t a = 0x243F6A8885A308D3ull ^ key.size();
  uint64_t b = 0x13198A2E03707344ull ^ (key.size() * kMul2);
  size_t i = 0;
  for (; i + 8 <= key.size(); i += 8) {
    const uint64_t w = load64(key.data() + i, 8);
    a = (a ^ mix(w)) * kMul1 + 0x452821E638D01377ull;
    b = (b ^ mix(w ^ kMul2)) * kMul2 + 0xBE5466CF34E90C6Cull;
    a = (a << 31) | (a >> 33);
    b = (b << 27) | (b >> 37);
  }
  if (i < key.size()) {
    const uint64_t w = load64(key.data() + i, key.size() - i);
    a = (a ^ mix(w)) * kMul1;
    b = (b ^ mix(w ^ kMul2)) * kMul2;
  }
  return {mix(a ^ (b >> 7)), mix(b + a)};
}

offset_map::offset_map(size_t memory_bytes) {
  const size_t slots = std::max<size_t>(memory_bytes / sizeof(slot), 16);
  slots_.resize(slots);
  max_entries_ = slots * 9 / 10;
  clear();
}

void offset_map::clear() {
  for (auto& s : slots_) s.offset = -1;
  size_ = 0;
}

size_t offset_map::find(const key_hash& key) const {
  size_t i = static_cast<size_t>(key[0] % slots_.size());
  while (slots_[i].offset >= 0 && slots_[i].hash != key) {
    if (++i == slots_.size()) i = 0;
  }
  return i;
}

bool offset_map::put(const key_hash& key, int64_t offset) {
  auto& s = slots_[find(key)];
  if (s.offset < 0) {
    if (size_ >= max_entries_) return false;
    s.hash = key;
    ++size_;
  }
  s.offset = offset;
  return true;
}

std::optional<int64_t> offset_map::get(const key_hash& key) const {
  const auto& s = slots_[find(key)];
  if (s.offset < 0) return std::nullopt;
  return s.offset;
}

}  // namespace storage
