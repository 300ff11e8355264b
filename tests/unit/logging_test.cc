#include "base/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <map>
#include <sstream>
#include <thread>
#include <vector>

namespace base {
namespace {

using namespace std::chrono;

// 2026-11-22T03:10:00.123456Z
spdlog::log_clock::time_point fixed_time() {
  return sys_days(year(2026) / 11 / 22) + hours(3) + minutes(10) + microseconds(123456);
}

std::string format(log_format f, spdlog::level::level_enum level, std::string_view logger_name,
                   std::string_view text) {
  const spdlog::details::log_msg msg(fixed_time(), spdlog::source_loc{},
                                     spdlog::string_view_t(logger_name.data(), logger_name.size()),
                                     level, spdlog::string_view_t(text.data(), text.size()));
  spdlog::memory_buf_t buf;
  make_log_formatter(f)->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A strict reader for the one shape the JSON formatter emits: a single-line object whose values
// are all strings. Returns nullopt for anything a JSON parser would reject.
std::optional<std::map<std::string, std::string>> parse_json_line(std::string_view line) {
  size_t i = 0;
  auto read_string = [&]() -> std::optional<std::string> {
    if (i >= line.size() || line[i] != '"') return std::nullopt;
    std::string out;
    for (++i; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '"') {
        ++i;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (++i >= line.size()) return std::nullopt;
      switch (line[i]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (i + 4 >= line.size()) return std::nullopt;
          append_utf8(out, static_cast<uint32_t>(
                               std::stoul(std::string(line.substr(i + 1, 4)), nullptr, 16)));
          i += 4;
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  };
  std::map<std::string, std::string> fields;
  if (line.empty() || line[i++] != '{') return std::nullopt;
  while (true) {
    auto key = read_string();
    if (!key || i >= line.size() || line[i++] != ':') return std::nullopt;
    auto value = read_string();
    if (!value || i >= line.size()) return std::nullopt;
    fields[*key] = *value;
    const char next = line[i++];
    if (next == '}') break;
    if (next != ',') return std::nullopt;
  }
  if (i != line.size()) return std::nullopt;
  return fields;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(log_formatter, text_line) {
  EXPECT_EQ(format(log_format::text, spdlog::level::info, "storage", "segment rolled"),
            "2026-11-22T03:10:00.123Z INFO  [storage] segment rolled\n");
  EXPECT_EQ(format(log_format::text, spdlog::level::err, "kafka", "x"),
            "2026-11-22T03:10:00.123Z ERROR [kafka] x\n");
}

TEST(log_formatter, json_line_escapes_quotes_backslashes_and_control_characters) {
  EXPECT_EQ(format(log_format::json, spdlog::level::warn, "storage",
                   "he said \"hi\"\n\tback\\slash \x01\x1f caf\xc3\xa9"),
            "{\"ts\":\"2026-11-22T03:10:00.123456Z\",\"level\":\"warn\",\"logger\":\"storage\","
            "\"msg\":\"he said \\\"hi\\\"\\n\\tback\\\\slash \\u0001\\u001f caf\xc3\xa9\"}\n");
}

TEST(log_formatter, json_lines_parse_back_to_the_original_message) {
  std::string every_ascii;
  for (int c = 1; c < 0x80; ++c) every_ascii += static_cast<char>(c);
  for (const std::string& original :
       {std::string(), every_ascii, std::string("utf-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
        std::string("nul \0 inside", 12)}) {
    const std::string line = format(log_format::json, spdlog::level::debug, "app", original);
    ASSERT_EQ(line.back(), '\n');
    auto fields = parse_json_line(std::string_view(line).substr(0, line.size() - 1));
    ASSERT_TRUE(fields) << line;
    EXPECT_EQ((*fields)["msg"], original);
    EXPECT_EQ((*fields)["level"], "debug");
    EXPECT_EQ((*fields)["logger"], "app");
    EXPECT_EQ((*fields)["ts"], "2026-11-22T03:10:00.123456Z");
  }
}

TEST(log_formatter, json_replaces_invalid_utf8) {
  // A stray continuation byte, a truncated sequence, an overlong '/', and a surrogate.
  const std::string line = format(log_format::json, spdlog::level::info, "kafka",
                                  "a\x80 b\xe2\x82 c\xc0\xaf d\xed\xa0\x80");
  auto fields = parse_json_line(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(fields) << line;
  const std::string r = "\xef\xbf\xbd";  // U+FFFD
  EXPECT_EQ((*fields)["msg"], "a" + r + " b" + r + r + " c" + r + r + " d" + r + r + r);
}

TEST(parse_log_settings, names) {
  EXPECT_EQ(parse_log_format("json"), log_format::json);
  EXPECT_EQ(parse_log_format("text"), log_format::text);
  EXPECT_EQ(parse_log_format("xml"), std::nullopt);
  EXPECT_EQ(parse_log_level("trace"), spdlog::level::trace);
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("warning"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("error"), spdlog::level::err);
  EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
  EXPECT_EQ(parse_log_level("loud"), std::nullopt);
}

// Restores the process default (text on stderr) whatever a test did.
class logging_test : public ::testing::Test {
 protected:
  void TearDown() override { init_logging(log_format::text, spdlog::level::info); }
};

TEST_F(logging_test, loggers_follow_init_and_reinit) {
  auto kafka = logger("kafka");  // obtained before the configuration below
  EXPECT_EQ(logger("kafka"), kafka);

  std::ostringstream json_out;
  init_logging(log_format::json, spdlog::level::info,
               std::make_shared<spdlog::sinks::ostream_sink_mt>(json_out));
  kafka->info("client {} connected", "c1");
  kafka->debug("below the level");
  logger("storage")->warn("slow fsync");
  spdlog::info("through the default logger");
  const auto lines = lines_of(json_out.str());
  ASSERT_EQ(lines.size(), 3u) << json_out.str();
  auto first = parse_json_line(lines[0]);
  ASSERT_TRUE(first) << lines[0];
  EXPECT_EQ((*first)["logger"], "kafka");
  EXPECT_EQ((*first)["msg"], "client c1 connected");
  EXPECT_EQ((*first)["level"], "info");
  EXPECT_EQ((*parse_json_line(lines[1]))["logger"], "storage");
  EXPECT_EQ((*parse_json_line(lines[2]))["msg"], "through the default logger");

  std::ostringstream text_out;
  init_logging(log_format::text, spdlog::level::debug,
               std::make_shared<spdlog::sinks::ostream_sink_mt>(text_out));
  kafka->debug("now visible");
  const std::string text = text_out.str();
  EXPECT_NE(text.find(" DEBUG [kafka] now visible\n"), std::string::npos) << text;
  EXPECT_EQ(json_out.str().find("now visible"), std::string::npos);
}

TEST_F(logging_test, concurrent_logging_keeps_lines_whole) {
  std::ostringstream out;
  init_logging(log_format::json, spdlog::level::info,
               std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  constexpr int threads = 4, per_thread = 500;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([t] {
      auto log = logger("worker" + std::to_string(t));
      for (int i = 0; i < per_thread; ++i) log->info("message {} from \"{}\"", i, t);
    });
  }
  for (auto& w : workers) w.join();
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), static_cast<size_t>(threads * per_thread));
  for (const std::string& line : lines) ASSERT_TRUE(parse_json_line(line)) << line;
}

TEST(log_rate_limiter, lets_a_burst_through_per_interval_and_counts_the_rest) {
  log_rate_limiter limiter(2, seconds(10));
  const auto t0 = log_rate_limiter::clock::time_point() + hours(1);
  EXPECT_EQ(limiter.allow(t0), "");
  EXPECT_EQ(limiter.allow(t0 + seconds(1)), "");
  EXPECT_EQ(limiter.allow(t0 + seconds(2)), std::nullopt);
  EXPECT_EQ(limiter.allow(t0 + seconds(5)), std::nullopt);
  EXPECT_EQ(limiter.allow(t0 + seconds(9)), std::nullopt);
  EXPECT_EQ(limiter.allow(t0 + seconds(10)), " (3 similar messages suppressed)");
  EXPECT_EQ(limiter.allow(t0 + seconds(11)), "");
  EXPECT_EQ(limiter.allow(t0 + seconds(12)), std::nullopt);
  EXPECT_EQ(limiter.allow(t0 + seconds(30)), " (1 similar message suppressed)");
}

TEST(log_rate_limiter, zero_burst_suppresses_everything) {
  log_rate_limiter limiter(0, seconds(1));
  const auto t0 = log_rate_limiter::clock::time_point();
  EXPECT_EQ(limiter.allow(t0), std::nullopt);
  EXPECT_EQ(limiter.allow(t0 + seconds(5)), std::nullopt);
}

}  // namespace
}  // namespace base
