#include "broker/broker_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_dir.h"

namespace {

TEST(BrokerConfig, DynamicKeysAreValidatedAsTheTopicConfigsTheyStandFor) {
  EXPECT_FALSE(broker::validate_broker_config("log.retention.ms", "3600000"));
  EXPECT_FALSE(broker::validate_broker_config("log.cleanup.policy", "delete"));
  auto bad = broker::validate_broker_config("log.retention.ms", "soon");
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("log.retention.ms"), std::string::npos);
  auto static_key = broker::validate_broker_config("num.partitions", "3");
  ASSERT_TRUE(static_key);
  EXPECT_NE(static_key->find("cannot be changed while the broker runs"), std::string::npos);
  // Every dynamic key maps onto a topic config the table knows.
  for (const auto& k : broker::dynamic_broker_keys()) {
    EXPECT_NE(broker::find_topic_config_key(k.topic_key), nullptr) << k.name;
  }
}

TEST(BrokerConfig, LoggerLevels) {
  EXPECT_FALSE(broker::validate_logger_level("storage", "DEBUG"));
  EXPECT_FALSE(broker::validate_logger_level("root", "warn"));
  EXPECT_TRUE(broker::validate_logger_level("nosuch", "DEBUG"));
  EXPECT_TRUE(broker::validate_logger_level("storage", "LOUD"));
  EXPECT_FALSE(broker::validate_broker_config("logger.kafka", "ERROR"));
}

TEST(BrokerConfig, InheritedTopicConfigsUseTopicKeys) {
  auto inherited = broker::inherited_topic_configs(
      {{"log.retention.ms", "5"}, {"min.insync.replicas", "2"}, {"logger.storage", "DEBUG"}});
  EXPECT_EQ(inherited, (broker::config_map{{"min.insync.replicas", "2"}, {"retention.ms", "5"}}));
}

TEST(BrokerConfig, SavedConfigsLoadBackAndADamagedLineIsRefused) {
  riptide::testing::temp_dir dir;
  EXPECT_EQ(*broker::load_broker_configs(dir.path()), broker::config_map{});
  const broker::config_map configs{{"log.retention.ms", "5"}, {"logger.root", "WARN"}};
  ASSERT_TRUE(broker::save_broker_configs(dir.path(), configs));
  EXPECT_EQ(*broker::load_broker_configs(dir.path()), configs);
  std::ofstream(dir.path() / broker::broker_configs_file, std::ios::app) << "log.roll.ms=never\n";
  EXPECT_FALSE(broker::load_broker_configs(dir.path()));
}

}  // namespace
