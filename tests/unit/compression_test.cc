#include "storage/compression.h"

#include <gtest/gtest.h>

#include <string>

#include "storage/errc.h"

namespace {

using storage::compression;

std::vector<uint8_t> sample(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 7) % 61);
  return v;
}

constexpr compression kCodecs[] = {compression::gzip, compression::snappy, compression::lz4,
                                   compression::zstd};

TEST(Compression, EveryCodecRoundTrips) {
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{300'000}}) {
      auto in = sample(n);
      std::vector<uint8_t> packed, out;
      ASSERT_TRUE(storage::compress(codec, in, packed));
      ASSERT_TRUE(storage::decompress(codec, packed, out, 1 << 20));
      EXPECT_EQ(out, in);
    }
  }
}

TEST(Compression, OutputBeyondTheBoundIsRefused) {
  // 8 MiB of zeros compress to a few KiB: a bomb for a 1 MiB bound.
  std::vector<uint8_t> zeros(8 << 20);
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    std::vector<uint8_t> packed, out;
    ASSERT_TRUE(storage::compress(codec, zeros, packed));
    EXPECT_LT(packed.size(), 1u << 20);
    auto st = storage::decompress(codec, packed, out, 1 << 20);
    EXPECT_EQ(st.error(), make_error_code(storage::errc::invalid_batch));
    EXPECT_LE(out.capacity(), (1u << 20) + (64u << 10));
  }
}

TEST(Compression, TruncatedOrGarbageInputIsAnError) {
  auto in = sample(5000);
  for (auto codec : kCodecs) {
    SCOPED_TRACE(static_cast<int>(codec));
    std::vector<uint8_t> packed, out;
    ASSERT_TRUE(storage::compress(codec, in, packed));
    packed.resize(packed.size() / 2);
    EXPECT_FALSE(storage::decompress(codec, packed, out, 1 << 20));
    std::vector<uint8_t> garbage(100, 0xAB);
    EXPECT_FALSE(storage::decompress(codec, garbage, out, 1 << 20));
  }
}

// The Java client frames snappy blocks (xerial): magic, versions, length-prefixed blocks.
TEST(Compression, XerialFramedSnappyDecodes) {
  auto a = sample(3000);
  auto b = sample(1234);
  std::vector<uint8_t> framed = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
  for (const auto* part : {&a, &b}) {
    std::vector<uint8_t> block;
    ASSERT_TRUE(storage::compress(compression::snappy, *part, block));
    const auto n = static_cast<uint32_t>(block.size());
    framed.insert(framed.end(), {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                                 static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    framed.insert(framed.end(), block.begin(), block.end());
  }
  std::vector<uint8_t> out;
  ASSERT_TRUE(storage::decompress(compression::snappy, framed, out, 1 << 20));
  auto expected = a;
  expected.insert(expected.end(), b.begin(), b.end());
  EXPECT_EQ(out, expected);
  framed.pop_back();
  EXPECT_FALSE(storage::decompress(compression::snappy, framed, out, 1 << 20));
}

}  // namespace
