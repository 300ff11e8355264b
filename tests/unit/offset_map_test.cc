#include "storage/offset_map.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "storage/cleaner_checkpoint.h"

namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(OffsetMap, KeepsTheLatestOffsetOfEachKey) {
  storage::offset_map m(1 << 16);
  for (int v = 0; v < 3; ++v) {
    for (int k = 0; k < 100; ++k) {
      ASSERT_TRUE(m.put(storage::hash_key(bytes("key-" + std::to_string(k))), v * 100 + k));
    }
  }
  EXPECT_EQ(m.size(), 100u);
  for (int k = 0; k < 100; ++k) {
    EXPECT_EQ(m.get(storage::hash_key(bytes("key-" + std::to_string(k)))), 200 + k);
  }
  EXPECT_FALSE(m.get(storage::hash_key(bytes("other"))));
}

TEST(OffsetMap, RefusesNewKeysWhenFullButUpdatesKnownOnes) {
  storage::offset_map m(20 * 24);  // 20 slots, 18 keys
  EXPECT_EQ(m.capacity(), 18u);
  for (int k = 0; k < 18; ++k) {
    ASSERT_TRUE(m.put(storage::hash_key(bytes(std::to_string(k))), k));
  }
  EXPECT_FALSE(m.put(storage::hash_key(bytes("one more")), 99));
  EXPECT_FALSE(m.get(storage::hash_key(bytes("one more"))));
  EXPECT_TRUE(m.put(storage::hash_key(bytes("3")), 100));
  EXPECT_EQ(m.get(storage::hash_key(bytes("3"))), 100);
  m.clear();
  EXPECT_EQ(m.size(), 0u);
  EXPECT_FALSE(m.get(storage::hash_key(bytes("3"))));
}

TEST(OffsetMap, HashesDifferForSimilarKeys) {
  std::set<storage::key_hash> seen;
  for (int i = 0; i < 100000; ++i) {
    std::string key = "k";
    key += std::to_string(i);
    ASSERT_TRUE(seen.insert(storage::hash_key(bytes(key))).second);
  }
  EXPECT_NE(storage::hash_key(bytes("")), storage::hash_key(bytes(std::string(1, '\0'))));
  EXPECT_NE(storage::hash_key(bytes("abcdefgh")),
            storage::hash_key(bytes(std::string("abcdefgh\0", 9))));
}

TEST(CleanerCheckpoint, RoundTripsAndRefusesDamage) {
  storage::cleaner_checkpoint c;
  c.rewritten_below = 500;
  c.add_round(100, 1000);
  c.add_round(300, 2000);
  c.ranges[0].tombstones = 2;
  auto bytes = c.serialize();
  auto back = storage::cleaner_checkpoint::parse(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->cleaned_to, 300);
  EXPECT_EQ(back->rewritten_below, 500);
  ASSERT_EQ(back->ranges.size(), 2u);
  EXPECT_EQ(back->ranges[0].tombstones, 2);
  bytes.resize(bytes.size() - 5);
  EXPECT_FALSE(storage::cleaner_checkpoint::parse(bytes));
  EXPECT_FALSE(storage::cleaner_checkpoint::parse(std::span<const uint8_t>()));
}

TEST(CleanerCheckpoint, TombstoneHorizonFollowsWhenEachRangeWasCleaned) {
  storage::cleaner_checkpoint c;
  c.add_round(100, 1000);
  c.add_round(300, 2000);
  EXPECT_EQ(c.tombstone_horizon(1500, 1000), 0);
  EXPECT_EQ(c.tombstone_horizon(2000, 1000), 100);
  EXPECT_EQ(c.tombstone_horizon(3000, 1000), 300);
  EXPECT_EQ(c.range_of(50), 0u);
  EXPECT_EQ(c.range_of(100), 1u);
  EXPECT_EQ(c.range_of(300), 2u);
  EXPECT_FALSE(c.tombstones_due(5000, 1000));
  c.ranges[1].tombstones = 1;
  EXPECT_FALSE(c.tombstones_due(2500, 1000));
  EXPECT_TRUE(c.tombstones_due(3000, 1000));
}

TEST(CleanerCheckpoint, RangesStayBoundedAndNeverExpireEarly) {
  storage::cleaner_checkpoint c;
  for (int i = 1; i <= 1000; ++i) c.add_round(i * 10, i * 100);
  EXPECT_LE(c.ranges.size(), storage::cleaner_checkpoint::max_ranges);
  // A tombstone at offset o was first cleaned at (o / 10 + 1) * 100; merging may only
  // keep it longer.
  for (int64_t o = 0; o < 10000; o += 7) {
    const int64_t first_cleaned = (o / 10 + 1) * 100;
    EXPECT_LE(c.tombstone_horizon(first_cleaned + 999, 1000), o) << o;
  }
  EXPECT_EQ(c.tombstone_horizon(200'000, 1000), 10000);
}

}  // namespace
