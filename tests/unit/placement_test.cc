#include "broker/placement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

TEST(SingleNodePlacement, EveryPartitionIsLedHereByOneShard) {
  const broker::single_node_placement where(3, 4);
  for (int32_t p = 0; p < 100; ++p) {
    const auto at = where.locate("orders", p);
    EXPECT_EQ(at.node, 3);
    EXPECT_LT(at.shard, 4u);
    EXPECT_EQ(at.role, broker::replica_role::leader);
    EXPECT_EQ(where.replicas("orders", p), std::vector<int32_t>{3});
    EXPECT_EQ(where.in_sync("orders", p), std::vector<int32_t>{3});
    // The same question always gets the same answer.
    EXPECT_EQ(where.locate("orders", p).shard, at.shard);
  }
}

TEST(SingleNodePlacement, ShardsGetAFairShare) {
  const broker::single_node_placement where(0, 4);
  std::vector<int> per_shard(4);
  for (int t = 0; t < 50; ++t) {
    for (int32_t p = 0; p < 40; ++p)
      ++per_shard[where.locate("topic-" + std::to_string(t), p).shard];
  }
  for (int n : per_shard) {
    EXPECT_GT(n, 2000 / 4 * 3 / 4) << "a shard got far less than a quarter";
    EXPECT_LT(n, 2000 / 4 * 5 / 4) << "a shard got far more than a quarter";
  }
}

TEST(SingleNodePlacement, OneShardOwnsEverything) {
  const broker::single_node_placement where(0, 1);
  for (int32_t p = 0; p < 20; ++p) EXPECT_EQ(where.locate("t", p).shard, 0u);
}

}  // namespace
