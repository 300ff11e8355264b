#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>
#include <vector>

namespace {

std::span<const uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Published CRC-32C check values: the "123456789" check and RFC 3720 appendix B.4.
TEST(Crc32c, PublishedVectors) {
  EXPECT_EQ(base::crc32c(bytes("123456789")), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), inc(32), dec(32);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<uint8_t>(i);
    dec[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(base::crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(base::crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(base::crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(base::crc32c(dec), 0x113FDB5Cu);
  const uint8_t iscsi_read[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
                                  0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(base::crc32c(iscsi_read), 0xD9963A56u);
}

TEST(Crc32c, EmptyInputIsZero) {
  EXPECT_EQ(base::crc32c({}), 0u);
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(4096 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t len = 0; len < 300; ++len) {
      ASSERT_EQ(base::crc32c_extend_portable(0, buf.data() + align, len),
                base::crc32c_extend_hardware(0, buf.data() + align, len))
          << "align " << align << " len " << len;
    }
  }
  EXPECT_EQ(base::crc32c_extend_portable(0, buf.data(), 4096),
            base::crc32c_extend_hardware(0, buf.data(), 4096));
}

// Inputs of 768 bytes and more are checksummed in stripes combined at the end; every
// length around the stripe sizes, from any starting CRC, must match the byte-wise table.
TEST(Crc32c, StripedHardwarePathMatchesPortableAroundEveryBlockSize) {
  std::mt19937 rng(11);
  std::vector<uint8_t> buf(3 * 3 * 4096 + 3 * 256 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  std::vector<size_t> lengths;
  for (size_t block : {size_t{3 * 256}, size_t{3 * 4096}}) {
    for (size_t k = 1; k <= 3; ++k) {
      for (size_t d = 0; d < 24; ++d) {
        if (k * block + d >= 12 && k * block + d - 12 < buf.size())
          lengths.push_back(k * block + d - 12);
      }
    }
  }
  for (int i = 0; i < 200; ++i) lengths.push_back(rng() % (buf.size() - 8));
  for (size_t len : lengths) {
    for (uint32_t start : {0u, 0xE3069283u, 0xFFFFFFFFu}) {
      const size_t align = len % 8;
      ASSERT_EQ(base::crc32c_extend_portable(start, buf.data() + align, len),
                base::crc32c_extend_hardware(start, buf.data() + align, len))
          << "len " << len << " start " << start;
    }
  }
}

TEST(Crc32c, CombineEqualsTheChecksumOfTheConcatenation) {
  std::mt19937 rng(5);
  std::vector<uint8_t> buf(70000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  const uint32_t whole = base::crc32c(buf);
  for (size_t cut : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}, size_t{65535}, buf.size()}) {
    const auto a = std::span<const uint8_t>(buf).first(cut);
    const auto b = std::span<const uint8_t>(buf).subspan(cut);
    ASSERT_EQ(base::crc32c_combine(base::crc32c(a), base::crc32c(b), b.size()), whole)
        << "cut " << cut;
  }
  // Three parts: combining is associative from the left.
  const auto p1 = std::span<const uint8_t>(buf).first(100);
  const auto p2 = std::span<const uint8_t>(buf).subspan(100, 30000);
  const auto p3 = std::span<const uint8_t>(buf).subspan(30100);
  uint32_t c = base::crc32c_combine(base::crc32c(p1), base::crc32c(p2), p2.size());
  EXPECT_EQ(base::crc32c_combine(c, base::crc32c(p3), p3.size()), whole);
}

TEST(Crc32c, ExtendEqualsOneShot) {
  std::string_view s = "The quick brown fox jumps over the lazy dog";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    uint32_t c = base::crc32c_extend(0, s.data(), cut);
    c = base::crc32c_extend(c, s.data() + cut, s.size() - cut);
    ASSERT_EQ(c, base::crc32c(bytes(s)));
  }
}

}  // namespace
