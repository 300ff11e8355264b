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
  EXPECT_TRUE(broker::validate_topic_config("cleanup.policy", "compact"));
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

}  // namespace
