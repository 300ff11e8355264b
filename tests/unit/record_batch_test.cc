#include "storage/record_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "storage/batch_builder.h"

namespace {

using storage::errc;

std::vector<uint8_t> sample() {
  storage::batch_builder b(1000);
  std::pair<std::string_view, std::string_view> headers[] = {{"h1", "v1"}, {"h2", ""}};
  b.add("k0", "value-0", headers, 1000);
  b.add(std::nullopt, "value-1", {}, 1005);
  b.add("k2", std::nullopt, {}, 1003);
  return b.build();
}

TEST(RecordBatch, BuilderOutputValidates) {
  auto b = sample();
  auto h = storage::validate_batch(b);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->magic, 2);
  EXPECT_EQ(h->record_count, 3);
  EXPECT_EQ(h->last_offset_delta, 2);
  EXPECT_EQ(h->base_timestamp, 1000);
  EXPECT_EQ(h->max_timestamp, 1005);
  EXPECT_EQ(h->size_bytes(), b.size());
  EXPECT_EQ(h->codec(), storage::compression::none);
}

TEST(RecordBatch, RecordsDecode) {
  auto b = sample();
  std::vector<storage::record_view> seen;
  ASSERT_TRUE(storage::for_each_record(b, [&](const storage::record_view& r) {
    seen.push_back(r);
    return true;
  }));
  ASSERT_EQ(seen.size(), 3u);
  auto str = [](std::span<const uint8_t> s) { return std::string(s.begin(), s.end()); };
  EXPECT_EQ(str(*seen[0].key), "k0");
  EXPECT_EQ(str(*seen[0].value), "value-0");
  EXPECT_EQ(seen[0].header_count, 2);
  // Two headers, each a varint length and bytes for key and value: "h1" "v1", "h2" "".
  EXPECT_EQ(str(seen[0].headers), std::string("\x04h1\x04v1\x04h2\x00", 10));
  EXPECT_TRUE(seen[1].headers.empty());
  EXPECT_FALSE(seen[1].key.has_value());
  EXPECT_EQ(seen[1].timestamp, 1005);
  EXPECT_FALSE(seen[2].value.has_value());
  EXPECT_EQ(seen[2].offset, 2);
}

TEST(RecordBatch, EveryFlippedCoveredByteFailsTheCrc) {
  const auto good = sample();
  for (size_t i = storage::batch_crc_start; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= 0x5a;
    auto r = storage::validate_batch(bad);
    ASSERT_FALSE(r) << "byte " << i;
  }
}

TEST(RecordBatch, RejectsWrongMagic) {
  auto b = sample();
  b[storage::batch_magic_offset] = 1;
  EXPECT_EQ(storage::validate_batch(b).error(), make_error_code(errc::unsupported_magic));
}

TEST(RecordBatch, RejectsImpossibleLengths) {
  auto b = sample();
  auto with_length = [&](int32_t len) {
    auto c = b;
    storage::put_i32(c.data() + storage::batch_length_offset, len);
    return storage::validate_batch(c).error();
  };
  EXPECT_EQ(with_length(-1), make_error_code(errc::invalid_batch));
  EXPECT_EQ(with_length(10), make_error_code(errc::invalid_batch));
  EXPECT_EQ(with_length(INT32_MAX), make_error_code(errc::invalid_batch));
  EXPECT_EQ(with_length(static_cast<int32_t>(b.size())), make_error_code(errc::invalid_batch));
  // Shorter than the header.
  EXPECT_EQ(storage::validate_batch(std::span(b).first(40)).error(),
            make_error_code(errc::invalid_batch));
}

TEST(RecordBatch, MalformedRecordsAreAnErrorNotACrash) {
  auto b = sample();
  // Claim more records than the payload holds, fixing the CRC so only records are wrong.
  storage::put_i32(b.data() + 57, 50);
  storage::put_i32(b.data() + 17, static_cast<int32_t>(storage::compute_batch_crc(b)));
  EXPECT_FALSE(storage::for_each_record(b, [](const auto&) { return true; }));
}

// lastOffsetDelta at INT32_MAX: the count check must not overflow (UBSan catches it).
TEST(RecordBatch, LargestLastOffsetDeltaIsRefusedWithoutOverflow) {
  auto b = sample();
  storage::put_i32(b.data() + 23, INT32_MAX);
  storage::put_i32(b.data() + 17, static_cast<int32_t>(storage::compute_batch_crc(b)));
  auto h = storage::validate_batch(b);
  ASSERT_TRUE(h);
  std::vector<uint8_t> scratch;
  EXPECT_FALSE(storage::scan_records(b, *h, scratch));
}

}  // namespace
