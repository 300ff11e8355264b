#pragma once
// Logging on spdlog. Each module logs through its own named logger ("storage", "kafka", ...);
// all of them write through one process-wide sink whose format and destination init_logging()
// sets, so loggers obtained before init (or kept across a re-init) follow the configuration.
// Output is either human text or JSON lines, on stderr by default. Every function here is
// thread-safe; loggers may be used from any shard.

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace base {

enum class log_format {
  text,  // 2026-11-22T03:10:00.123Z INFO  [storage] message
  json,  // {"ts":"2026-11-22T03:10:00.123456Z","level":"info","logger":"storage","msg":"message"}
};

std::optional<log_format> parse_log_format(std::string_view name);  // "text" or "json"
std::string_view to_string(log_format format);
// "trace", "debug", "info", "warn" (or "warning"), "error", "critical", "off".
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

// Sets the format and minimum level of every logger, present and future, and sends output to
// stderr. May be called again to change them. Until first called: text at info on stderr.
void init_logging(log_format format, spdlog::level::level_enum level);
// The same, sending output to `destination` (a file sink, or a test's ostream sink) instead.
// Its formatter is replaced by the one for `format`.
void init_logging(log_format format, spdlog::level::level_enum level, spdlog::sink_ptr destination);

// The logger for `module`, created on first use. Cache it rather than looking it up per message.
// spdlog's default logger (spdlog::info(...)) is routed the same way.
std::shared_ptr<spdlog::logger> logger(std::string_view module);

// The formatter init_logging installs: one line per message, timestamps in UTC. In JSON the
// message is escaped (quotes, backslashes, control characters as \u00XX) and invalid UTF-8
// becomes U+FFFD, so every line parses as a JSON object whatever a client sent us.
std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format);

// Keeps a repeated warning from flooding the log under load: lets `burst` messages through per
// `interval` and counts the rest, so the next message let through says how many were dropped.
// Thread-safe; typically one per call site:
//
//   static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
//   if (auto note = limiter.allow()) log->warn("fsync took {} ms{}", ms, *note);
class log_rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  log_rate_limiter(uint32_t burst, clock::duration interval);

  // nullopt: drop this message. Otherwise the text to append to it: empty, or
  // " (N similar messages suppressed)" for the drops since the last message let through.
  std::optional<std::string> allow(clock::time_point now = clock::now());

 private:
  std::mutex mutex_;
  const uint32_t burst_;
  const clock::duration interval_;
  clock::time_point window_start_{};
  uint32_t used_ = 0;  // messages let through in the current window
  uint64_t suppressed_ = 0;
  bool started_ = false;
};

}  // namespace base
