#include "broker/topic_config.h"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(TopicConfig, NamesFollowKafkaRules) {
  EXPECT_FALSE(broker::validate_topic_name("orders"));
  EXPECT_FALSE(broker::validate_topic_name("a.b_c-D9"));
  EXPECT_FALSE(broker::validate_topic_name(std::string(249, 'x')));
  EXPECT_TRUE(broker::validate_topic_name(""));
  EXPECT_TRUE(broker::validate_topic_name("."));
  EXPECT_TRUE(broker::validate_topic_name(".."));
  EXPECT_TRUE(broker::validate_topic_name(std::string(250, 'x')));
  EXPECT_TRUE(broker::validate_topic_name("with space"));
  EXPECT_TRUE(broker::validate_topic_name("slash/topic"));
  EXPECT_TRUE(broker::validate_topic_name("ünicode"));
}

TEST(TopicConfig, ValuesAreValidatedWithAMessageNamingTheKey) {
  EXPECT_FALSE(broker::validate_topic_config("retention.ms", "-1"));
  EXPECT_FALSE(broker::validate_topic_config("riptide.durability", "page_cache"));
  auto bad = broker::validate_topic_config("retention.ms", "abc");
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("retention.ms"), std::string::npos);
  EXPECT_FALSE(broker::validate_topic_config("cleanup.policy", "compact"));
  EXPECT_FALSE(broker::validate_topic_config("cleanup.policy", "compact,delete"));
  EXPECT_TRUE(broker::validate_topic_config("cleanup.policy", "compact,compact"));
  EXPECT_TRUE(broker::validate_topic_config("cleanup.policy", "shred"));
  EXPECT_TRUE(broker::validate_topic_config("segment.bytes", "100"));  // below 16 KiB
  EXPECT_TRUE(broker::validate_topic_config("no.such.key", "1"));
  EXPECT_TRUE(broker::validate_topic_config("message.timestamp.type", "Sometime"));
}

TEST(TopicConfig, OverridesMapOntoTheLogConfig) {
  storage::log_config defaults;
  auto c = broker::apply_topic_config(defaults, {{"retention.ms", "1000"},
                                                 {"segment.bytes", "1048576"},
                                                 {"max.message.bytes", "2000"},
                                                 {"riptide.durability", "interval"},
                                                 {"flush.ms", "50"}});
  EXPECT_EQ(c.retention_ms, 1000);
  EXPECT_EQ(c.segment_bytes, 1048576u);
  EXPECT_EQ(c.max_batch_bytes, 2000u);
  EXPECT_EQ(c.policy, storage::durability::interval);
  EXPECT_EQ(c.flush_interval_ms, 50);
  EXPECT_EQ(c.retention_bytes, defaults.retention_bytes);
  EXPECT_EQ(broker::effective_value(c, "retention.ms", {}), "1000");
  EXPECT_EQ(broker::effective_value(defaults, "cleanup.policy", {}), "delete");
}

// Every topic config Kafka documents is accepted with its default value, so a tool that
// copies a topic's configs from a Kafka cluster can create it here.
TEST(TopicConfig, EveryKafkaTopicConfigIsAcceptedWithItsDefault) {
  for (std::string_view key : {"cleanup.policy",
                               "compression.type",
                               "compression.gzip.level",
                               "compression.lz4.level",
                               "compression.zstd.level",
                               "delete.retention.ms",
                               "file.delete.delay.ms",
                               "flush.messages",
                               "flush.ms",
                               "follower.replication.throttled.replicas",
                               "index.interval.bytes",
                               "leader.replication.throttled.replicas",
                               "local.retention.bytes",
                               "local.retention.ms",
                               "max.compaction.lag.ms",
                               "max.message.bytes",
                               "message.downconversion.enable",
                               "message.format.version",
                               "message.timestamp.after.max.ms",
                               "message.timestamp.before.max.ms",
                               "message.timestamp.difference.max.ms",
                               "message.timestamp.type",
                               "min.cleanable.dirty.ratio",
                               "min.compaction.lag.ms",
                               "min.insync.replicas",
                               "preallocate",
                               "remote.storage.enable",
                               "retention.bytes",
                               "retention.ms",
                               "segment.bytes",
                               "segment.index.bytes",
                               "segment.jitter.ms",
                               "segment.ms",
                               "unclean.leader.election.enable"}) {
    SCOPED_TRACE(key);
    const auto* k = broker::find_topic_config_key(key);
    ASSERT_NE(k, nullptr);
    EXPECT_FALSE(broker::validate_topic_config(key, broker::effective_value({}, key, {})));
    EXPECT_FALSE(broker::validate_topic_config(key, k->kafka_default));
  }
}

TEST(TopicConfig, KafkaValueRulesAreChecked) {
  EXPECT_FALSE(broker::validate_topic_config("compression.type", "zstd"));
  EXPECT_TRUE(broker::validate_topic_config("compression.type", "brotli"));
  EXPECT_FALSE(broker::validate_topic_config("min.cleanable.dirty.ratio", "0.25"));
  EXPECT_TRUE(broker::validate_topic_config("min.cleanable.dirty.ratio", "1.5"));
  EXPECT_TRUE(broker::validate_topic_config("min.insync.replicas", "0"));
  EXPECT_TRUE(broker::validate_topic_config("preallocate", "yes"));
  EXPECT_TRUE(broker::validate_topic_config("remote.storage.enable", "true"));
  EXPECT_TRUE(broker::validate_topic_config("compression.gzip.level", "10"));
  EXPECT_TRUE(broker::validate_topic_config("cleanup.policy", "delete,delete"));
  EXPECT_TRUE(broker::validate_topic_config("cleanup.policy", ""));
}

TEST(TopicConfig, TimestampAndSegmentKeysReachTheLog) {
  auto c = broker::apply_topic_config({}, {{"message.timestamp.type", "LogAppendTime"},
                                           {"message.timestamp.difference.max.ms", "1000"},
                                           {"message.timestamp.after.max.ms", "50"},
                                           {"segment.jitter.ms", "7"},
                                           {"segment.index.bytes", "8192"},
                                           {"index.interval.bytes", "100"},
                                           {"compression.type", "lz4"},
                                           {"compression.lz4.level", "3"}});
  EXPECT_TRUE(c.log_append_time);
  EXPECT_EQ(c.timestamp_before_max_ms, 1000);  // from the symmetric key
  EXPECT_EQ(c.timestamp_after_max_ms, 50);     // the specific key wins
  EXPECT_EQ(c.segment_jitter_ms, 7);
  EXPECT_EQ(c.segment_index_bytes, 8192u);
  EXPECT_EQ(c.index_interval_bytes, 100u);
  EXPECT_EQ(c.compression_codec, 3);
  EXPECT_EQ(c.lz4_level, 3);
  auto d = broker::apply_topic_config({}, {{"compression.type", "producer"}});
  EXPECT_EQ(d.compression_codec, -1);
  EXPECT_EQ(broker::min_insync_replicas({{"min.insync.replicas", "2"}}), 2);
  EXPECT_EQ(broker::min_insync_replicas({}), 1);
}

}  // namespace
