#include "broker/delayed_records.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker/errc.h"
#include "storage/batch_builder.h"
#include "storage/record_batch.h"

namespace {

using broker::record;
using broker::record_header;

constexpr int64_t kNow = 1'000'000;
const std::array<uint8_t, 16> kTopic{1, 2, 3};

record make(const char* value, std::vector<record_header> headers) {
  record r;
  r.value = value;
  r.headers = std::move(headers);
  r.timestamp = kNow - 5;
  return r;
}

record_header header(const char* key, const char* value) {
  return record_header{key, std::string(value)};
}

// Records a, b (delayed 500 ms), c, d (due at kNow + 2000): two held, two kept.
std::vector<record> mixed() {
  return {make("a", {}), make("b", {header("riptide-delay-ms", "500"), header("x", "1")}),
          make("c", {header("riptide-deliver-at", "1")}),
          make("d", {header("riptide-deliver-at", "1002000")})};
}

TEST(DelayedRecords, HeldRecordsLeaveTheirPlacesInTheProducersBatch) {
  const auto recs = mixed();
  auto batch = broker::build_batch(recs, kNow, /*producer_id=*/7, /*epoch=*/2, /*seq=*/40);
  auto split = broker::split_delayed(batch, kNow, 0, kTopic, 3);
  ASSERT_TRUE(split) << split.error().message();
  ASSERT_EQ(split->held.size(), 2u);
  EXPECT_EQ(split->held_index, (std::vector<int32_t>{1, 3}));
  EXPECT_EQ(split->held[0].due_ms, kNow + 500);
  EXPECT_EQ(split->held[1].due_ms, 1002000);
  EXPECT_EQ(split->held[0].partition, 3);
  EXPECT_EQ(split->held[0].topic_id, kTopic);
  // The request headers are gone, the others stay, as does the producer's timestamp.
  EXPECT_EQ(split->held[0].rec.headers, (std::vector<record_header>{header("x", "1")}));
  EXPECT_EQ(split->held[0].rec.timestamp, kNow - 5);
  EXPECT_EQ(split->held[0].rec.value, "b");

  // The remainder keeps the producer's header (sequences span all four records) and the
  // kept records at their own offset deltas.
  ASSERT_TRUE(split->remainder);
  EXPECT_EQ(split->kept, 2);
  auto h = storage::validate_batch(*split->remainder);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->record_count, 2);
  EXPECT_EQ(h->last_offset_delta, 3);
  EXPECT_EQ(h->producer_id, 7);
  EXPECT_EQ(h->producer_epoch, 2);
  EXPECT_EQ(h->base_sequence, 40);
  std::vector<std::pair<int64_t, std::string>> seen;
  ASSERT_TRUE(storage::for_each_record(*split->remainder, [&](const storage::record_view& r) {
    seen.emplace_back(r.offset, std::string(r.value->begin(), r.value->end()));
    return true;
  }));
  EXPECT_EQ(seen, (std::vector<std::pair<int64_t, std::string>>{{0, "a"}, {2, "c"}}));
  std::vector<uint8_t> scratch;
  storage::scan_options strict;
  EXPECT_FALSE(storage::scan_records(*split->remainder, *h, scratch, strict));
  storage::scan_options gaps;
  gaps.allow_offset_gaps = true;
  EXPECT_TRUE(storage::scan_records(*split->remainder, *h, scratch, gaps));
}

TEST(DelayedRecords, CompressedBatchesAreSplitToo) {
  storage::batch_builder b(kNow);
  const std::pair<std::string_view, std::string_view> later[] = {{"riptide-delay-ms", "10"}};
  b.add(std::nullopt, "held", later).add(std::nullopt, "kept").codec(storage::compression::lz4);
  auto batch = b.build();
  auto split = broker::split_delayed(batch, kNow, 0, kTopic, 0);
  ASSERT_TRUE(split);
  ASSERT_EQ(split->held.size(), 1u);
  ASSERT_TRUE(split->remainder);
  auto h = storage::decode_header(*split->remainder);
  EXPECT_EQ(h.codec(), storage::compression::none);
  EXPECT_EQ(h.record_count, 1);
}

TEST(DelayedRecords, NothingHeldWithoutHeadersOrWhenDueTimesHavePassed) {
  std::vector<record> recs{make("a", {}), make("b", {header("riptide-deliver-at", "5")}),
                           make("c", {header("riptide-delay-ms", "0")})};
  auto batch = broker::build_batch(recs, kNow);
  auto split = broker::split_delayed(batch, kNow, 0, kTopic, 0);
  ASSERT_TRUE(split);
  EXPECT_TRUE(split->held.empty());
  EXPECT_FALSE(split->remainder);
}

TEST(DelayedRecords, TopicDefaultDelayAppliesToRecordsWithoutHeaders) {
  std::vector<record> recs{make("a", {}), make("b", {header("riptide-delay-ms", "0")})};
  auto batch = broker::build_batch(recs, kNow);
  auto split = broker::split_delayed(batch, kNow, 3000, kTopic, 0);
  ASSERT_TRUE(split);
  ASSERT_EQ(split->held.size(), 1u);
  EXPECT_EQ(split->held[0].due_ms, kNow + 3000);
  EXPECT_EQ(split->kept, 1);
}

TEST(DelayedRecords, AllHeldWithoutAProducerStoresNothing) {
  std::vector<record> recs{make("a", {header("riptide-delay-ms", "5")})};
  auto batch = broker::build_batch(recs, kNow);
  auto split = broker::split_delayed(batch, kNow, 0, kTopic, 0);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->held.size(), 1u);
  EXPECT_FALSE(split->remainder);
  // With one, an empty batch keeps its sequences.
  auto idem = broker::build_batch(recs, kNow, 9, 0, 0);
  split = broker::split_delayed(idem, kNow, 0, kTopic, 0);
  ASSERT_TRUE(split && split->remainder);
  EXPECT_EQ(storage::decode_header(*split->remainder).record_count, 0);
}

TEST(DelayedRecords, BadHeadersAreInvalidRecords) {
  for (const char* bad : {"soon", "-1", "", "12x"}) {
    std::vector<record> recs{make("a", {header("riptide-delay-ms", bad)})};
    auto batch = broker::build_batch(recs, kNow);
    auto split = broker::split_delayed(batch, kNow, 0, kTopic, 0);
    ASSERT_FALSE(split) << bad;
    EXPECT_EQ(split.error(), broker::errc::invalid_record) << bad;
  }
  // Beyond the longest delay.
  std::vector<record> far{make("a", {header("riptide-delay-ms", "99999999999999")})};
  auto batch = broker::build_batch(far, kNow);
  EXPECT_FALSE(broker::split_delayed(batch, kNow, 0, kTopic, 0));
}

TEST(DelayedRecords, InternalRecordsRoundTrip) {
  broker::held_record h;
  h.due_ms = 123456789;
  h.topic_id = kTopic;
  h.partition = 4;
  h.rec = make("v", {header("k", "x"), record_header{"n", std::nullopt}});
  h.rec.key = "key";
  auto bytes = broker::encode_held_record(h);
  auto back = broker::decode_held_record(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->due_ms, h.due_ms);
  EXPECT_EQ(back->topic_id, h.topic_id);
  EXPECT_EQ(back->partition, 4);
  EXPECT_EQ(back->rec, h.rec);
  EXPECT_EQ(broker::decode_held_due(bytes), h.due_ms);
  bytes.pop_back();
  EXPECT_FALSE(broker::decode_held_record(bytes));

  broker::move_intent m;
  m.topic_id = kTopic;
  m.partition = 2;
  m.log_end_before = 77;
  m.held = {5, 6, 9};
  auto mb = broker::encode_move_intent(m);
  auto mback = broker::decode_move_intent(mb);
  ASSERT_TRUE(mback);
  EXPECT_EQ(mback->held, m.held);
  EXPECT_EQ(mback->log_end_before, 77);
  mb.push_back(0);
  EXPECT_FALSE(broker::decode_move_intent(mb));

  auto key = broker::encode_delayed_key({broker::delayed_kind::intent, 42});
  auto kback = broker::decode_delayed_key(key);
  ASSERT_TRUE(kback);
  EXPECT_EQ(kback->kind, broker::delayed_kind::intent);
  EXPECT_EQ(kback->offset, 42);
  key[0] = 'Z';
  EXPECT_FALSE(broker::decode_delayed_key(key));
}

}  // namespace
