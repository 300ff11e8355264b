#include "base/varint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace {

using namespace base::varint;

TEST(Varint, ZigzagMatchesKafka) {
  // Values from Kafka's ByteUtils tests: 0→0, -1→1, 1→2, -2→3, MIN/MAX at the ends.
  EXPECT_EQ(zigzag_encode(int32_t{0}), 0u);
  EXPECT_EQ(zigzag_encode(int32_t{-1}), 1u);
  EXPECT_EQ(zigzag_encode(int32_t{1}), 2u);
  EXPECT_EQ(zigzag_encode(int32_t{-2}), 3u);
  EXPECT_EQ(zigzag_encode(std::numeric_limits<int32_t>::max()), 0xfffffffeu);
  EXPECT_EQ(zigzag_encode(std::numeric_limits<int32_t>::min()), 0xffffffffu);
  EXPECT_EQ(zigzag_encode(std::numeric_limits<int64_t>::min()), ~uint64_t{0});
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{123456789012},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(zigzag_decode(zigzag_encode(v)), v);
  }
}

TEST(Varint, KnownEncodings) {
  uint8_t buf[max_size64];
  EXPECT_EQ(encode_unsigned(0, buf), 1u);
  EXPECT_EQ(buf[0], 0x00);
  EXPECT_EQ(encode_unsigned(300, buf), 2u);
  EXPECT_EQ(buf[0], 0xac);
  EXPECT_EQ(buf[1], 0x02);
  EXPECT_EQ(encode_signed32(-1, buf), 1u);
  EXPECT_EQ(buf[0], 0x01);
  EXPECT_EQ(encode_unsigned(UINT32_MAX, buf), 5u);
  EXPECT_EQ(encode_unsigned(UINT64_MAX, buf), 10u);
  EXPECT_EQ(buf[9], 0x01);
}

TEST(Varint, RoundTripsAcrossTheRange) {
  std::vector<int64_t> values;
  for (int shift = 0; shift < 63; ++shift) {
    int64_t v = int64_t{1} << shift;
    values.insert(values.end(), {v, v - 1, v + 1, -v, -v - 1, -v + 1});
  }
  values.push_back(std::numeric_limits<int64_t>::min());
  values.push_back(std::numeric_limits<int64_t>::max());
  uint8_t buf[max_size64];
  for (int64_t v : values) {
    size_t n = encode_signed64(v, buf);
    EXPECT_EQ(n, encoded_size(zigzag_encode(v)));
    auto d = decode_signed64({buf, n});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->value, v);
    EXPECT_EQ(d->size, n);
    if (v >= INT32_MIN && v <= INT32_MAX) {
      n = encode_signed32(static_cast<int32_t>(v), buf);
      auto d32 = decode_signed32({buf, n});
      ASSERT_TRUE(d32);
      EXPECT_EQ(d32->value, v);
    }
  }
}

TEST(Varint, RejectsTruncatedInput) {
  uint8_t buf[max_size64];
  size_t n = encode_unsigned(1u << 30, buf);
  for (size_t cut = 0; cut < n; ++cut) EXPECT_FALSE(decode_unsigned32({buf, cut})) << cut;
}

TEST(Varint, RejectsOverlongAndOverflowingInput) {
  const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  EXPECT_FALSE(decode_unsigned32(six));
  const uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x10};  // bit 32 set
  EXPECT_FALSE(decode_unsigned32(over32));
  const uint8_t max32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
  ASSERT_TRUE(decode_unsigned32(max32));
  EXPECT_EQ(decode_unsigned32(max32)->value, UINT32_MAX);
  const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  EXPECT_FALSE(decode_unsigned64(over64));
  const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  EXPECT_FALSE(decode_unsigned64(eleven));
}

}  // namespace
