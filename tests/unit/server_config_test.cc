#include "app/server_config.h"
#include "app/serve.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "base/file.h"

namespace {

// `riptide serve` runs in shells where RIPTIDE_BROKERS is set for the client verbs.
TEST(ServerConfig, ClientVariablesDoNotStopTheServer) {
  ASSERT_EQ(setenv("RIPTIDE_BROKERS", "127.0.0.1:9092", 1), 0);
  auto cfg = base::load(app::server_config_keys(), app::server_config_inputs_from_environ());
  EXPECT_TRUE(cfg) << cfg.error().message;

  // Other unknown names are still refused, so typos keep being caught.
  ASSERT_EQ(setenv("RIPTIDE_BROKER", "127.0.0.1:9092", 1), 0);
  cfg = base::load(app::server_config_keys(), app::server_config_inputs_from_environ());
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("unknown environment variable RIPTIDE_BROKER"),
            std::string::npos)
      << cfg.error().message;
  EXPECT_EQ(cfg.error().message.find("RIPTIDE_BROKERS"), std::string::npos) << cfg.error().message;
  unsetenv("RIPTIDE_BROKER");
  unsetenv("RIPTIDE_BROKERS");
}

TEST(ServerConfig, TableIsWellFormed) {
  EXPECT_EQ(base::table_problems(app::server_config_keys()), std::vector<std::string>{});
}

TEST(ServerConfig, CommittedExampleFileIsCurrent) {
  auto committed = base::read_whole_file(RIPTIDE_SOURCE_DIR "/config/riptide.example.toml");
  ASSERT_TRUE(committed) << "config/riptide.example.toml is missing";
  EXPECT_EQ(*committed, base::render_example_toml(app::server_config_keys()))
      << "regenerate it: build/release/riptide serve --print-example-config > "
         "config/riptide.example.toml";
}

TEST(ServerConfig, ExampleFileLoadsToTheDefaults) {
  base::config_inputs in;
  in.file = RIPTIDE_SOURCE_DIR "/config/riptide.example.toml";
  auto cfg = base::load(app::server_config_keys(), in);
  ASSERT_TRUE(cfg) << cfg.error().message;
  const auto log = app::log_config_from(*cfg);
  const storage::log_config defaults;
  EXPECT_EQ(log.segment_bytes, defaults.segment_bytes);
  EXPECT_EQ(log.retention_bytes, -1);
  EXPECT_EQ(log.retention_ms, defaults.retention_ms);
  EXPECT_EQ(log.policy, storage::durability::fsync);
  EXPECT_EQ(log.max_batch_bytes, defaults.max_batch_bytes);
}

TEST(ServerConfig, FlagsReachTheLogConfig) {
  base::config_inputs in;
  in.flags = {{"storage.durability", "page_cache"},
              {"storage.segment_bytes", "64MiB"},
              {"storage.retention", "-1"}};
  auto cfg = base::load(app::server_config_keys(), in);
  ASSERT_TRUE(cfg) << cfg.error().message;
  const auto log = app::log_config_from(*cfg);
  EXPECT_EQ(log.policy, storage::durability::page_cache);
  EXPECT_EQ(log.segment_bytes, 64u << 20);
  EXPECT_EQ(log.retention_ms, -1);
}

TEST(ServerConfig, TooSmallSegmentIsRefusedWithTheFix) {
  base::config_inputs in;
  in.flags = {{"storage.segment_bytes", "1KiB"}};
  auto cfg = base::load(app::server_config_keys(), in);
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("storage.segment_bytes"), std::string::npos);
  EXPECT_NE(cfg.error().message.find("between 1MiB and 2GiB"), std::string::npos);
}

}  // namespace

namespace {

TEST(Serve, LoopbackHostsAreTheOnlyOnesNotWarnedAbout) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
    EXPECT_TRUE(app::is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "[::]", "10.0.0.5", "broker.example.com", ""}) {
    EXPECT_FALSE(app::is_loopback_host(host)) << host;
  }
}

}  // namespace
