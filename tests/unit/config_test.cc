#include "base/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "test_dir.h"

namespace base {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view log_formats[] = {"text", "json"};

constexpr config_key test_table[] = {
    {.name = "data_dir",
     .type = config_type::string,
     .default_value = "./data",
     .description = "Where partitions are stored."},
    {.name = "node_id",
     .type = config_type::integer,
     .default_value = "0",
     .description = "This broker's id.",
     .min = 0,
     .max = 1000},
    {.name = "storage.segment_bytes",
     .type = config_type::size,
     .default_value = "1GiB",
     .description = "Roll a segment once it reaches this size.",
     .min = int64_t{1} << 20,
     .max = int64_t{2} << 30},
    {.name = "storage.retention",
     .type = config_type::duration,
     .default_value = "7d",
     .description = "Delete segments older than this.",
     .min = 1000,
     .max = 30LL * 86'400'000},
    {.name = "storage.fsync",
     .type = config_type::boolean,
     .default_value = "true",
     .description = "Fsync before acknowledging."},
    {.name = "log.format",
     .type = config_type::choice,
     .default_value = "text",
     .description = "Log line format.",
     .choices = log_formats},
};

fs::path write_file(const riptide::testing::temp_dir& dir, const std::string& name,
                    std::string_view content) {
  const fs::path p = dir.path() / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string load_error(const config_inputs& in) {
  auto r = load(test_table, in);
  EXPECT_FALSE(r.has_value());
  return r ? "" : r.error().message;
}

TEST(parse_size, accepts_plain_bytes_and_suffixes) {
  EXPECT_EQ(parse_size("0"), 0);
  EXPECT_EQ(parse_size("1048576"), 1048576);
  EXPECT_EQ(parse_size("17B"), 17);
  EXPECT_EQ(parse_size("4KiB"), 4096);
  EXPECT_EQ(parse_size("1 MiB"), 1 << 20);
  EXPECT_EQ(parse_size(" 2gib "), int64_t{2} << 30);
  EXPECT_EQ(parse_size("3TiB"), int64_t{3} << 40);
  EXPECT_EQ(parse_size("5KB"), 5000);
  EXPECT_EQ(parse_size("5MB"), 5'000'000);
  EXPECT_EQ(parse_size("5GB"), 5'000'000'000);
  EXPECT_EQ(parse_size("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(parse_size("8388607TiB"), ((int64_t{1} << 23) - 1) << 40);
}

TEST(parse_size, rejects_garbage_negatives_and_overflow) {
  for (std::string_view bad :
       {"", "   ", "-1", "+1", "1.5GiB", "12XB", "1GiBx", "GiB", "1 2", "0x10", "1K",
        "9223372036854775808", "99999999999999999999", "8388608TiB", "10000000000GB"}) {
    EXPECT_EQ(parse_size(bad), std::nullopt) << bad;
  }
}

TEST(parse_duration_ms, accepts_plain_milliseconds_and_suffixes) {
  EXPECT_EQ(parse_duration_ms("250"), 250);
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_EQ(parse_duration_ms("30s"), 30'000);
  EXPECT_EQ(parse_duration_ms("5m"), 300'000);
  EXPECT_EQ(parse_duration_ms("2h"), 7'200'000);
  EXPECT_EQ(parse_duration_ms("7 d"), 604'800'000);
  EXPECT_EQ(parse_duration_ms("106751991167d"), 106751991167 * 86'400'000);
}

TEST(parse_duration_ms, rejects_garbage_negatives_and_overflow) {
  for (std::string_view bad :
       {"", "-5s", "5x", "s", "1.5s", "5 minutes", "5sec", "106751991168d", "1e3"}) {
    EXPECT_EQ(parse_duration_ms(bad), std::nullopt) << bad;
  }
}

TEST(parse_integer_and_bool, parse_whole_text_only) {
  EXPECT_EQ(parse_integer("-42"), -42);
  EXPECT_EQ(parse_integer("7"), 7);
  EXPECT_EQ(parse_integer("7x"), std::nullopt);
  EXPECT_EQ(parse_integer(""), std::nullopt);
  EXPECT_EQ(parse_integer("9223372036854775808"), std::nullopt);
  EXPECT_EQ(parse_bool("TRUE"), true);
  EXPECT_EQ(parse_bool("on"), true);
  EXPECT_EQ(parse_bool("0"), false);
  EXPECT_EQ(parse_bool("No"), false);
  EXPECT_EQ(parse_bool("2"), std::nullopt);
  EXPECT_EQ(parse_bool("truex"), std::nullopt);
}

TEST(format_size_and_duration, pick_largest_exact_unit_and_round_trip) {
  EXPECT_EQ(format_size(int64_t{1} << 30), "1GiB");
  EXPECT_EQ(format_size(int64_t{1536} << 20), "1536MiB");
  EXPECT_EQ(format_size(1'000'000), "1MB");
  EXPECT_EQ(format_size(1023), "1023B");
  EXPECT_EQ(format_size(0), "0B");
  EXPECT_EQ(format_duration_ms(604'800'000), "7d");
  EXPECT_EQ(format_duration_ms(90'000), "90s");
  EXPECT_EQ(format_duration_ms(1500), "1500ms");
  EXPECT_EQ(format_duration_ms(0), "0ms");
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{999}, int64_t{1024}, int64_t{123456789},
                    int64_t{5} << 40, INT64_MAX}) {
    EXPECT_EQ(parse_size(format_size(n)), n) << n;
    EXPECT_EQ(parse_duration_ms(format_duration_ms(n)), n) << n;
  }
}

TEST(key_spellings, env_and_flag_names) {
  EXPECT_EQ(env_name("storage.segment_bytes"), "RIPTIDE_STORAGE_SEGMENT_BYTES");
  EXPECT_EQ(env_name("data_dir"), "RIPTIDE_DATA_DIR");
  EXPECT_EQ(flag_name("storage.segment_bytes"), "--storage-segment-bytes");
  EXPECT_EQ(flag_name("data_dir"), "--data-dir");
}

TEST(load, defaults_when_nothing_is_given) {
  auto cfg = load(test_table, {});
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->get_string("data_dir"), "./data");
  EXPECT_EQ(cfg->get_int("node_id"), 0);
  EXPECT_EQ(cfg->get_int("storage.segment_bytes"), int64_t{1} << 30);
  EXPECT_EQ(cfg->get_duration("storage.retention"), std::chrono::hours(24 * 7));
  EXPECT_TRUE(cfg->get_bool("storage.fsync"));
  EXPECT_EQ(cfg->get_string("log.format"), "text");
  EXPECT_EQ(cfg->source("data_dir"), config_source::default_value);
  EXPECT_EQ(cfg->raw("storage.segment_bytes"), "1GiB");
  ASSERT_EQ(cfg->values().size(), std::size(test_table));
  EXPECT_EQ(cfg->values()[2].key->name, "storage.segment_bytes");
}

TEST(load, precedence_is_default_then_file_then_env_then_flag) {
  riptide::testing::temp_dir dir;
  config_inputs in;
  in.file = write_file(dir, "riptide.toml",
                       "data_dir = \"/from/file\"\n"
                       "node_id = 1\n"
                       "\n"
                       "[storage]\n"
                       "segment_bytes = \"64MiB\"\n"
                       "retention = 3600000\n");
  in.env = {{"RIPTIDE_NODE_ID", "2"},
            {"RIPTIDE_STORAGE_SEGMENT_BYTES", "128MiB"},
            {"PATH", "/usr/bin"},
            {"RIPTIDE_STORAGE_FSYNC", "off"}};
  in.flags = {{"storage.segment_bytes", "256MiB"}, {"log.format", "JSON"}};
  auto cfg = load(test_table, in);
  ASSERT_TRUE(cfg) << cfg.error().message;

  EXPECT_EQ(cfg->get_string("data_dir"), "/from/file");
  EXPECT_EQ(cfg->source("data_dir"), config_source::file);
  EXPECT_EQ(cfg->origin("data_dir"), in.file->string() + ":1");
  EXPECT_EQ(cfg->get_int("node_id"), 2);
  EXPECT_EQ(cfg->source("node_id"), config_source::env);
  EXPECT_EQ(cfg->origin("node_id"), "environment variable RIPTIDE_NODE_ID");
  EXPECT_EQ(cfg->get_int("storage.segment_bytes"), int64_t{256} << 20);
  EXPECT_EQ(cfg->source("storage.segment_bytes"), config_source::flag);
  EXPECT_EQ(cfg->raw("storage.segment_bytes"), "256MiB");
  EXPECT_EQ(cfg->origin("storage.segment_bytes"), "flag --storage-segment-bytes");
  EXPECT_EQ(cfg->get_int("storage.retention"), 3'600'000);
  EXPECT_EQ(cfg->raw("storage.retention"), "3600000");
  EXPECT_EQ(cfg->origin("storage.retention"), in.file->string() + ":6");
  EXPECT_FALSE(cfg->get_bool("storage.fsync"));
  EXPECT_EQ(cfg->get_string("log.format"), "json");  // canonical spelling of the choice
  EXPECT_EQ(cfg->source("log.format"), config_source::flag);
}

TEST(load, bad_flag_value_names_key_source_value_and_fix) {
  config_inputs in;
  in.flags = {{"storage.segment_bytes", "12XB"}};
  EXPECT_EQ(load_error(in),
            "invalid value \"12XB\" for storage.segment_bytes (from flag --storage-segment-bytes): "
            "expected a size such as 1073741824 or 1GiB, between 1MiB and 2GiB");
}

TEST(load, out_of_range_env_value_prints_range_in_the_key_unit) {
  config_inputs in;
  in.env = {{"RIPTIDE_STORAGE_RETENTION", "31d"}, {"RIPTIDE_NODE_ID", "-1"}};
  EXPECT_EQ(load_error(in),
            "invalid value \"31d\" for storage.retention (from environment variable "
            "RIPTIDE_STORAGE_RETENTION): expected a duration such as 604800000 (milliseconds) or "
            "7d, between 1s and 30d\n"
            "invalid value \"-1\" for node_id (from environment variable RIPTIDE_NODE_ID): "
            "expected an integer, between 0 and 1000");
}

TEST(load, choice_and_boolean_errors_list_what_is_allowed) {
  config_inputs in;
  in.flags = {{"log.format", "xml"}, {"storage.fsync", "maybe"}};
  const std::string msg = load_error(in);
  EXPECT_NE(msg.find("invalid value \"xml\" for log.format (from flag --log-format): expected "
                     "one of text, json"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("invalid value \"maybe\" for storage.fsync (from flag --storage-fsync): "
                     "expected true or false"),
            std::string::npos)
      << msg;
}

TEST(load, file_values_are_validated_even_when_overridden) {
  riptide::testing::temp_dir dir;
  config_inputs in;
  in.file = write_file(dir, "r.toml", "[storage]\n\nsegment_bytes = 1.5\nretention = \"soon\"\n");
  in.flags = {{"storage.segment_bytes", "1GiB"}};
  const std::string msg = load_error(in);
  EXPECT_NE(msg.find("invalid value (a TOML float) for storage.segment_bytes (from " +
                     in.file->string() + ":3): expected a size"),
            std::string::npos)
      << msg;
  EXPECT_NE(
      msg.find("invalid value \"soon\" for storage.retention (from " + in.file->string() + ":4)"),
      std::string::npos)
      << msg;
}

TEST(load, unknown_file_key_is_an_error_with_a_suggestion) {
  riptide::testing::temp_dir dir;
  config_inputs in;
  in.file =
      write_file(dir, "r.toml", "data_dir = \"x\"\n[storage]\nsegment_byte = 5\ncolour = 1\n");
  EXPECT_EQ(load_error(in), "unknown key storage.segment_byte in " + in.file->string() +
                                ":3 (did you mean storage.segment_bytes?)\n"
                                "unknown key storage.colour in " +
                                in.file->string() + ":4");
}

TEST(load, unknown_table_reports_full_key_paths) {
  riptide::testing::temp_dir dir;
  config_inputs in;
  in.file = write_file(dir, "r.toml", "[storag]\nretention = \"1d\"\n");
  EXPECT_EQ(load_error(in), "unknown key storag.retention in " + in.file->string() +
                                ":2 (did you mean storage.retention?)");
}

TEST(load, unknown_env_variable_is_an_error_unless_ignored) {
  config_inputs in;
  in.env = {{"RIPTIDE_DATA_DRI", "/x"}, {"RIPTIDE_BROKERS", "localhost:9092"}};
  EXPECT_EQ(load_error(in),
            "unknown environment variable RIPTIDE_DATA_DRI (did you mean RIPTIDE_DATA_DIR?)\n"
            "unknown environment variable RIPTIDE_BROKERS");
  in.ignored_env = {"RIPTIDE_BROKERS"};
  EXPECT_EQ(load_error(in),
            "unknown environment variable RIPTIDE_DATA_DRI (did you mean RIPTIDE_DATA_DIR?)");
  in.env.erase(in.env.begin());
  EXPECT_TRUE(load(test_table, in));
}

TEST(load, unknown_flag_is_an_error) {
  config_inputs in;
  in.flags = {{"node_idd", "1"}};
  EXPECT_EQ(load_error(in), "unknown flag --node-idd (did you mean --node-id?)");
}

TEST(load, toml_syntax_error_reports_file_line_and_column) {
  riptide::testing::temp_dir dir;
  config_inputs in;
  in.file = write_file(dir, "r.toml", "data_dir = \"x\"\nnode_id = = 3\n");
  const std::string msg = load_error(in);
  EXPECT_EQ(msg.rfind(in.file->string() + ":2:", 0), 0u) << msg;
  EXPECT_NE(msg.find("invalid TOML: "), std::string::npos) << msg;
}

TEST(load, missing_file_is_an_error_naming_it) {
  config_inputs in;
  riptide::testing::temp_dir dir;
  in.file = dir.path() / "missing.toml";
  EXPECT_EQ(load_error(in),
            "cannot read config file " + in.file->string() + ": No such file or directory");
}

TEST(render_example_toml, lists_every_key_and_loads_back_to_the_defaults) {
  const std::string example = render_example_toml(test_table);
  // Top-level keys must come before the first table header or TOML would nest them.
  EXPECT_LT(example.find("data_dir = \"./data\""), example.find("[storage]"));
  EXPECT_LT(example.find("node_id = 0"), example.find("[storage]"));
  EXPECT_LT(example.find("[storage]"), example.find("[log]"));
  EXPECT_NE(example.find("# Roll a segment once it reaches this size.\n"), std::string::npos);
  EXPECT_NE(example.find("\n[storage]\n# Roll a segment once it reaches this size.\n"
                         "# Accepts a size such as 1073741824 or 1GiB, between 1MiB and 2GiB. "
                         "Environment:\n"
                         "# RIPTIDE_STORAGE_SEGMENT_BYTES, flag: --storage-segment-bytes.\n"
                         "segment_bytes = \"1GiB\"\n"),
            std::string::npos)
      << example;

  riptide::testing::temp_dir dir;
  config_inputs in;
  in.file = write_file(dir, "example.toml", example);
  auto from_file = load(test_table, in);
  ASSERT_TRUE(from_file) << from_file.error().message << "\n" << example;
  auto defaults = load(test_table, {});
  ASSERT_TRUE(defaults);
  for (size_t i = 0; i < std::size(test_table); ++i) {
    const config_value& got = from_file->values()[i];
    const config_value& want = defaults->values()[i];
    EXPECT_EQ(got.source, config_source::file) << got.key->name;
    EXPECT_EQ(got.text, want.text) << got.key->name;
    EXPECT_EQ(got.number, want.number) << got.key->name;
    EXPECT_EQ(got.flag, want.flag) << got.key->name;
  }
}

TEST(render_effective, shows_value_and_origin_and_loads_back) {
  config_inputs in;
  in.env = {{"RIPTIDE_DATA_DIR", "/var/lib/\"riptide\"\\x"}};
  in.flags = {{"storage.segment_bytes", "268435456"}};
  auto cfg = load(test_table, in);
  ASSERT_TRUE(cfg) << cfg.error().message;
  const std::string out = render_effective(*cfg);
  EXPECT_EQ(
      out,
      "data_dir = \"/var/lib/\\\"riptide\\\"\\\\x\"  # environment variable RIPTIDE_DATA_DIR\n"
      "node_id = 0                           # default\n"
      "storage.segment_bytes = \"256MiB\"      # flag --storage-segment-bytes\n"
      "storage.retention = \"7d\"              # default\n"
      "storage.fsync = true                  # default\n"
      "log.format = \"text\"                   # default\n");

  riptide::testing::temp_dir dir;
  config_inputs again;
  again.file = write_file(dir, "effective.toml", out);
  auto reloaded = load(test_table, again);
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  EXPECT_EQ(reloaded->get_string("data_dir"), "/var/lib/\"riptide\"\\x");
  EXPECT_EQ(reloaded->get_int("storage.segment_bytes"), int64_t{256} << 20);
  EXPECT_EQ(reloaded->origin("storage.retention"), again.file->string() + ":4");
}

TEST(config_inputs, from_environ_keeps_only_riptide_variables) {
  ::setenv("RIPTIDE_CONFIG_TEST_VAR", "a=b", 1);
  const config_inputs in = config_inputs::from_environ();
  ::unsetenv("RIPTIDE_CONFIG_TEST_VAR");
  bool found = false;
  for (const auto& [name, value] : in.env) {
    EXPECT_EQ(name.rfind("RIPTIDE_", 0), 0u) << name;
    if (name == "RIPTIDE_CONFIG_TEST_VAR") found = value == "a=b";
  }
  EXPECT_TRUE(found);
}

TEST(table_problems, sound_table_has_none) {
  EXPECT_TRUE(table_problems(test_table).empty());
}

TEST(table_problems, reports_table_mistakes) {
  constexpr config_key bad[] = {
      {.name = "a", .type = config_type::size, .default_value = "1XB", .description = ""},
      {.name = "a.b", .type = config_type::string, .default_value = "", .description = ""},
      {.name = "Bad-Name", .type = config_type::string, .default_value = "", .description = ""},
      {.name = "c", .type = config_type::choice, .default_value = "x", .description = ""},
      {.name = "d_e", .type = config_type::integer, .default_value = "1", .description = ""},
      {.name = "d.e", .type = config_type::integer, .default_value = "1", .description = ""},
      {.name = "f",
       .type = config_type::integer,
       .default_value = "1",
       .description = "",
       .min = 5,
       .max = 1},
  };
  const std::vector<std::string> problems = table_problems(bad);
  auto mentions = [&](std::string_view text) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(mentions("key a: default \"1XB\" is invalid")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(mentions("keys a and a.b conflict"));
  EXPECT_TRUE(mentions("invalid key name \"Bad-Name\""));
  EXPECT_TRUE(mentions("key c: choices must be given"));
  EXPECT_TRUE(mentions("keys d_e and d.e have the same environment variable"));
  EXPECT_TRUE(mentions("key f: min is greater than max"));
}

using config_death_test = ::testing::Test;

TEST_F(config_death_test, asking_for_an_unknown_key_or_wrong_type_aborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto cfg = load(test_table, {});
  ASSERT_TRUE(cfg);
  EXPECT_DEATH((void)cfg->get_string("no_such_key"), "no_such_key");
  EXPECT_DEATH((void)cfg->get_bool("data_dir"), "get_bool.*data_dir.*string");
}

}  // namespace
}  // namespace base
