#include "broker/records.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "broker/errc.h"
#include "storage/batch_builder.h"
#include "storage/record_batch.h"

namespace {

using broker::record;
using broker::record_header;

record make(std::optional<std::string> key, std::optional<std::string> value,
            std::vector<record_header> headers = {}, int64_t timestamp = -1) {
  record r;
  r.key = std::move(key);
  r.value = std::move(value);
  r.headers = std::move(headers);
  r.timestamp = timestamp;
  return r;
}

// A batch of `n` records "k<i>"/"v<i>" whose base offset is `base`.
std::vector<uint8_t> numbered(int64_t base, int n, int64_t now_ms = 1000) {
  std::vector<record> rs;
  for (int i = 0; i < n; ++i) {
    // (Appended rather than "k" + to_string(): GCC 12 -O3 warns falsely on the latter.)
    std::string key = "k", value = "v";
    key += std::to_string(base + i);
    value += std::to_string(base + i);
    rs.push_back(make(std::move(key), std::move(value)));
  }
  auto b = broker::build_batch(rs, now_ms);
  storage::put_i64(b.data(), base);  // outside the CRC, as the broker stamps it
  return b;
}

void append(std::vector<uint8_t>& to, const std::vector<uint8_t>& b) {
  to.insert(to.end(), b.begin(), b.end());
}

void fix_crc(std::vector<uint8_t>& b) {
  storage::put_i32(b.data() + storage::batch_crc_offset,
                   static_cast<int32_t>(storage::compute_batch_crc(b)));
}

std::vector<int64_t> offsets(const broker::decoded_records& d) {
  std::vector<int64_t> out;
  for (const auto& r : d.records) out.push_back(r.offset);
  return out;
}

TEST(Records, RoundTripKeepsNullsHeadersAndBinaryBytes) {
  const std::string binary("\0\xff\x80\x01zero\0", 9);
  std::vector<record> in = {
      make("k0", "value-0", {{"h1", "v1"}, {"h-null", std::nullopt}, {"h-empty", ""}}, 5000),
      make(std::nullopt, "no key"),
      make("no value", std::nullopt),
      make(std::nullopt, std::nullopt, {{binary, binary}}),
      make("", ""),
      make(binary, std::string(100000, 'x'), {}, 4000),  // before the base timestamp
  };
  const auto batch = broker::build_batch(in, 7000);

  auto h = storage::validate_batch(batch);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->base_offset, 0);
  EXPECT_EQ(h->record_count, 6);
  EXPECT_EQ(h->last_offset_delta, 5);
  EXPECT_EQ(h->codec(), storage::compression::none);
  EXPECT_FALSE(h->log_append_time());
  EXPECT_EQ(h->base_timestamp, 5000);
  EXPECT_EQ(h->max_timestamp, 7000);
  EXPECT_EQ(h->producer_id, -1);
  EXPECT_EQ(h->producer_epoch, -1);
  EXPECT_EQ(h->base_sequence, -1);
  // What produce checks: the records parse and match the header.
  std::vector<uint8_t> scratch;
  ASSERT_TRUE(storage::scan_records(batch, *h, scratch));

  auto out = broker::decode_records(batch, 0, 100);
  ASSERT_TRUE(out) << out.error().message();
  ASSERT_EQ(out->records.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    auto want = in[i];
    want.offset = static_cast<int64_t>(i);
    if (want.timestamp == -1) want.timestamp = 7000;  // now
    EXPECT_EQ(out->records[i], want) << "record " << i;
  }
  EXPECT_FALSE(out->records[0].headers[1].value.has_value());
  EXPECT_EQ(out->records[0].headers[2].value, "");
  EXPECT_EQ(out->next_offset, 6);
  EXPECT_EQ(out->bytes, batch.size());
}

TEST(Records, ProducerFieldsForIdempotence) {
  std::vector<record> in = {make("k", "v"), make("k", "w")};
  auto h = storage::validate_batch(broker::build_batch(in, 1, 4242, 3, 17));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->producer_id, 4242);
  EXPECT_EQ(h->producer_epoch, 3);
  EXPECT_EQ(h->base_sequence, 17);
}

TEST(Records, SkipsRecordsBelowFromOffset) {
  std::vector<uint8_t> batches;
  append(batches, numbered(10, 3));  // 10..12
  append(batches, numbered(13, 3));  // 13..15

  auto inside = broker::decode_records(batches, 11, 100);
  ASSERT_TRUE(inside);
  EXPECT_EQ(offsets(*inside), (std::vector<int64_t>{11, 12, 13, 14, 15}));
  EXPECT_EQ(inside->records[0].key, "k11");
  EXPECT_EQ(inside->records[0].value, "v11");
  EXPECT_EQ(inside->next_offset, 16);
  EXPECT_EQ(inside->bytes, batches.size());

  auto second = broker::decode_records(batches, 14, 100);
  ASSERT_TRUE(second);
  EXPECT_EQ(offsets(*second), (std::vector<int64_t>{14, 15}));
  EXPECT_EQ(second->next_offset, 16);

  // Nothing at or past from_offset: the read resumes where it asked.
  auto past = broker::decode_records(batches, 40, 100);
  ASSERT_TRUE(past);
  EXPECT_TRUE(past->records.empty());
  EXPECT_EQ(past->next_offset, 40);
}

TEST(Records, MaxRecordsCutsAndNextOffsetFollowsTheLastRecord) {
  std::vector<uint8_t> batches;
  append(batches, numbered(0, 3));
  append(batches, numbered(3, 3));

  auto two = broker::decode_records(batches, 0, 2);
  ASSERT_TRUE(two);
  EXPECT_EQ(offsets(*two), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(two->next_offset, 2);
  EXPECT_EQ(two->bytes, numbered(0, 3).size());  // the second batch was not walked

  auto four = broker::decode_records(batches, 1, 4);
  ASSERT_TRUE(four);
  EXPECT_EQ(offsets(*four), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(four->next_offset, 5);

  // Resuming from next_offset continues without a gap or a repeat.
  auto rest = broker::decode_records(batches, four->next_offset, 4);
  ASSERT_TRUE(rest);
  EXPECT_EQ(offsets(*rest), (std::vector<int64_t>{5}));
  EXPECT_EQ(rest->next_offset, 6);

  auto none = broker::decode_records(batches, 1, 0);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->records.empty());
  EXPECT_EQ(none->next_offset, 1);
  EXPECT_EQ(none->bytes, 0u);

  auto empty = broker::decode_records({}, 7, 10);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->records.empty());
  EXPECT_EQ(empty->next_offset, 7);
}

TEST(Records, CompressedBatchesDecode) {
  using storage::compression;
  for (auto codec : {compression::gzip, compression::snappy, compression::lz4, compression::zstd}) {
    storage::batch_builder b(2000);
    const std::pair<std::string_view, std::string_view> trace[] = {{"trace", "abc"}};
    const std::span<const std::pair<std::string_view, std::string_view>> headers(trace);
    for (int i = 0; i < 50; ++i) {
      b.add("key-" + std::to_string(i), std::string(200, static_cast<char>('a' + i % 26)),
            i == 0 ? headers : headers.first(0), 2000 + i);
    }
    auto batch = b.codec(codec).build();
    storage::put_i64(batch.data(), 100);
    ASSERT_EQ(storage::validate_batch(batch)->codec(), codec);

    auto out = broker::decode_records(batch, 120, 10);
    ASSERT_TRUE(out) << static_cast<int>(codec) << ": " << out.error().message();
    ASSERT_EQ(out->records.size(), 10u);
    EXPECT_EQ(out->records[0].offset, 120);
    EXPECT_EQ(out->records[0].key, "key-20");
    EXPECT_EQ(out->records[0].value, std::string(200, 'u'));
    EXPECT_EQ(out->records[0].timestamp, 2020);
    EXPECT_EQ(out->next_offset, 130);

    auto first = broker::decode_records(batch, 0, 1);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->records.size(), 1u);
    EXPECT_EQ(first->records[0].headers, (std::vector<record_header>{{"trace", "abc"}}));
  }
}

TEST(Records, ControlBatchesAreSkipped) {
  // A transaction marker: control attribute set (its records are the marker's key/value).
  auto control = numbered(3, 1);
  control[22] |= 0x20;
  fix_crc(control);
  ASSERT_TRUE(storage::validate_batch(control)->control());

  std::vector<uint8_t> batches;
  append(batches, numbered(0, 3));
  append(batches, control);
  append(batches, numbered(4, 2));

  auto all = broker::decode_records(batches, 0, 100);
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(offsets(*all), (std::vector<int64_t>{0, 1, 2, 4, 5}));
  EXPECT_EQ(all->next_offset, 6);

  // A read that ends on a marker moves past it, so the next read does not return it again.
  auto ending = numbered(0, 3);
  append(ending, control);
  auto before = broker::decode_records(ending, 0, 100);
  ASSERT_TRUE(before);
  EXPECT_EQ(offsets(*before), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(before->next_offset, 4);

  auto only = broker::decode_records(control, 3, 100);
  ASSERT_TRUE(only);
  EXPECT_TRUE(only->records.empty());
  EXPECT_EQ(only->next_offset, 4);
}

TEST(Records, LogAppendTimeGivesTheBatchMaxTimestamp) {
  std::vector<record> in = {make("a", "1", {}, 10), make("b", "2", {}, 20)};
  auto batch = broker::build_batch(in, 0);
  auto h = storage::validate_batch(batch);
  ASSERT_TRUE(h);
  storage::set_max_timestamp(std::span(batch).first(storage::batch_header_size), *h, 99999, true);

  auto out = broker::decode_records(batch, 0, 10);
  ASSERT_TRUE(out) << out.error().message();
  ASSERT_EQ(out->records.size(), 2u);
  EXPECT_EQ(out->records[0].timestamp, 99999);
  EXPECT_EQ(out->records[1].timestamp, 99999);
}

TEST(Records, CorruptInputIsAnErrorNeverACrash) {
  std::vector<uint8_t> good;
  append(good, numbered(0, 3));
  append(good, numbered(3, 2));
  auto error_of = [](std::span<const uint8_t> b) {
    auto r = broker::decode_records(b, 0, 100);
    return r ? std::error_code{} : r.error();
  };
  const auto corrupt = make_error_code(broker::errc::corrupt_batch);
  const auto invalid = make_error_code(broker::errc::invalid_batch);

  // Errors are the broker's, whichever layer found them.
  auto flipped = good;
  flipped[storage::batch_header_size + 3] ^= 0x40;
  EXPECT_EQ(error_of(flipped), corrupt);
  auto magic = good;
  magic[storage::batch_magic_offset] = 1;
  EXPECT_EQ(error_of(magic), make_error_code(broker::errc::unsupported_magic));

  // Every cut short of a whole batch: a header, a batch or a second batch incomplete.
  for (size_t n = 1; n < good.size(); ++n) {
    if (n == numbered(0, 3).size()) continue;
    EXPECT_EQ(error_of(std::span(good).first(n)), invalid) << "cut at " << n;
  }

  // Records that do not parse although the CRC matches (a record length past the end).
  auto lying = numbered(0, 1);
  lying[storage::batch_header_size] = 0x7e;
  fix_crc(lying);
  EXPECT_EQ(error_of(lying), invalid);
  // A header count larger than the headers there.
  std::vector<record> one = {make("k", "v", {{"h", "x"}})};
  auto headers = broker::build_batch(one, 0);
  // The record ends: count 1, key "h", value "x" (varint lengths, zigzag-encoded).
  const size_t count_at = headers.size() - 5;
  ASSERT_EQ(headers[count_at], 2);
  headers[count_at] = 6;
  fix_crc(headers);
  EXPECT_EQ(error_of(headers), invalid);

  // Every byte flipped, CRC recomputed or not, and random garbage: a value, never a crash.
  for (size_t i = 0; i < good.size(); ++i) {
    for (bool recrc : {false, true}) {
      auto b = good;
      b[i] ^= 0xa5;
      if (recrc && b.size() >= storage::batch_header_size) {
        auto first = std::span(b).first(std::min(b.size(), numbered(0, 3).size()));
        storage::put_i32(first.data() + storage::batch_crc_offset,
                         static_cast<int32_t>(storage::compute_batch_crc(first)));
      }
      auto r = broker::decode_records(b, 0, 100);
      if (r) {
        EXPECT_LE(r->records.size(), 5u);
      }
    }
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> b(rng() % 200);
    for (auto& byte : b) byte = static_cast<uint8_t>(rng());
    if (round % 2 && b.size() >= storage::batch_header_size) {
      // A plausible header over random records, so the record walk is reached.
      std::copy(good.begin(), good.begin() + storage::batch_header_size, b.begin());
      storage::put_i32(b.data() + storage::batch_length_offset,
                       static_cast<int32_t>(b.size() - storage::batch_length_overhead));
      fix_crc(b);
    }
    auto r = broker::decode_records(b, 0, 100);
    if (!r) {
      EXPECT_EQ(r.error().category(), broker::broker_category());
    }
  }
}

TEST(Records, Murmur2MatchesTheJavaClient) {
  // Kafka's UtilsTest.testMurmur2: Utils.murmur2 as Java's signed int.
  const std::pair<std::string_view, int32_t> vectors[] = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
      {"", 275646681},
  };
  for (const auto& [key, want] : vectors) {
    EXPECT_EQ(static_cast<int32_t>(broker::murmur2(key)), want) << key;
  }
}

TEST(Records, Murmur2PartitionIsPositiveHashModuloPartitions) {
  EXPECT_EQ(broker::murmur2_partition("foobar", 50), 16);
  EXPECT_EQ(broker::murmur2_partition("user-1", 6), 2);
  EXPECT_EQ(broker::murmur2_partition("order-42", 12), 0);
  EXPECT_EQ(broker::murmur2_partition("a", 10), 4);
  EXPECT_EQ(broker::murmur2_partition("21", 1), 0);
  // A negative hash is made positive by masking, not by abs(): (-973932308 & 0x7fffffff)
  // = 1173551340, % 7 = 1173551340 - 7 * 167650191 = 3.
  EXPECT_EQ(broker::murmur2_partition("21", 7), 3);
  EXPECT_EQ(broker::murmur2_partition("foobar", 0), -1);
  EXPECT_EQ(broker::murmur2_partition("foobar", -3), -1);
}

}  // namespace
