#include "base/logging.h"

#include <fmt/format.h>
#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <iterator>

namespace base {
namespace {

void put(spdlog::memory_buf_t& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}

std::string_view view(spdlog::string_view_t s) {
  return {s.data(), s.size()};
}

// Length of the well-formed UTF-8 sequence that starts `s`, or 0 if there is none (a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate, or beyond U+10FFFF).
size_t utf8_sequence_length(std::string_view s) {
  const auto lead = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  uint32_t cp = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    len = 2;
    cp = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3;
    cp = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4;
    cp = lead & 0x07u;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  constexpr uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < smallest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

void put_json_string(spdlog::memory_buf_t& out, std::string_view s) {
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = utf8_sequence_length(s.substr(i));
      put(out, n == 0 ? "\\ufffd" : s.substr(i, n));
      i += n == 0 ? 1 : n;
      continue;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      put(out, "\\n");
    } else if (c == '\r') {
      put(out, "\\r");
    } else if (c == '\t') {
      put(out, "\\t");
    } else if (c < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

std::string_view level_name(spdlog::level::level_enum level, bool upper) {
  constexpr std::string_view lower_names[] = {"trace", "debug",    "info", "warn",
                                              "error", "critical", "off"};
  constexpr std::string_view upper_names[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                              "ERROR", "CRIT",  "OFF"};
  const auto i = static_cast<size_t>(level);
  if (i >= std::size(lower_names)) return "?";
  return upper ? upper_names[i] : lower_names[i];
}

class line_formatter final : public spdlog::formatter {
 public:
  explicit line_formatter(log_format format) : format_(format) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& out) override {
    if (format_ == log_format::json) {
      put(out, "{\"ts\":\"");
      put_timestamp(out, msg.time, true);
      fmt::format_to(std::back_inserter(out),
                     "\",\"level\":\"{}\",\"logger\":", level_name(msg.level, false));
      put_json_string(out, view(msg.logger_name));
      put(out, ",\"msg\":");
      put_json_string(out, view(msg.payload));
      put(out, "}\n");
      return;
    }
    put_timestamp(out, msg.time, false);
    fmt::format_to(std::back_inserter(out), " {:<5} ", level_name(msg.level, true));
    if (msg.logger_name.size() > 0) {
      fmt::format_to(std::back_inserter(out), "[{}] ", view(msg.logger_name));
    }
    put(out, view(msg.payload));
    out.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(format_);
  }

 private:
  void put_timestamp(spdlog::memory_buf_t& out, spdlog::log_clock::time_point t, bool micros) {
    using namespace std::chrono;
    const auto second = floor<seconds>(t);
    // Most lines fall in the same second as the previous one; the calendar maths is not free.
    if (second != cached_second_ || cached_.empty()) {
      const auto day = floor<days>(second);
      const year_month_day ymd(day);
      const hh_mm_ss hms(second - day);
      cached_ = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                            static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                            hms.hours().count(), hms.minutes().count(), hms.seconds().count());
      cached_second_ = second;
    }
    put(out, cached_);
    const auto us = duration_cast<microseconds>(t - second).count();
    if (micros) {
      fmt::format_to(std::back_inserter(out), ".{:06}Z", us);
    } else {
      fmt::format_to(std::back_inserter(out), ".{:03}Z", us / 1000);
    }
  }

  log_format format_;
  std::chrono::sys_seconds cached_second_{};
  std::string cached_;
};

// Every logger writes to this one sink, and init_logging changes where it forwards to; so a
// logger obtained before init, or held across a re-init, needs no updating.
class forwarding_sink final : public spdlog::sinks::sink {
 public:
  explicit forwarding_sink(spdlog::sink_ptr target) : target_(std::move(target)) {}

  void log(const spdlog::details::log_msg& msg) override {
    std::lock_guard lock(mutex_);
    target_->log(msg);
  }
  void flush() override {
    std::lock_guard lock(mutex_);
    target_->flush();
  }
  // The format is init_logging's choice; a logger's set_pattern must not override it.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

  void retarget(spdlog::sink_ptr target) {
    std::lock_guard lock(mutex_);
    target_ = std::move(target);
  }

 private:
  std::mutex mutex_;
  spdlog::sink_ptr target_;
};

spdlog::sink_ptr stderr_destination(log_format format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(make_log_formatter(format));
  return sink;
}

struct logging_state {
  logging_state() : sink(std::make_shared<forwarding_sink>(stderr_destination(log_format::text))) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("", sink));
  }
  std::mutex mutex;  // serialises logger creation against re-initialisation
  std::shared_ptr<forwarding_sink> sink;
  spdlog::level::level_enum level = spdlog::level::info;
};

logging_state& state() {
  static logging_state s;
  return s;
}

// Installed at start-up so that nothing, not even spdlog's default logger, writes to stdout,
// which belongs to command output such as --print-config.
[[maybe_unused]] const bool installed_at_startup = (state(), true);

}  // namespace

std::optional<log_format> parse_log_format(std::string_view name) {
  if (name == "text") return log_format::text;
  if (name == "json") return log_format::json;
  return std::nullopt;
}

std::string_view to_string(log_format format) {
  return format == log_format::json ? "json" : "text";
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  if (name == "warning") return spdlog::level::warn;
  for (int i = spdlog::level::trace; i <= spdlog::level::off; ++i) {
    const auto level = static_cast<spdlog::level::level_enum>(i);
    if (name == level_name(level, false)) return level;
  }
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format) {
  return std::make_unique<line_formatter>(format);
}

void init_logging(log_format format, spdlog::level::level_enum level) {
  init_logging(format, level, stderr_destination(format));
}

void init_logging(log_format format, spdlog::level::level_enum level,
                  spdlog::sink_ptr destination) {
  destination->set_formatter(make_log_formatter(format));
  logging_state& s = state();
  std::lock_guard lock(s.mutex);
  s.level = level;
  s.sink->retarget(std::move(destination));
  spdlog::set_level(level);  // every registered logger, including the default one
}

std::shared_ptr<spdlog::logger> logger(std::string_view module) {
  logging_state& s = state();
  std::lock_guard lock(s.mutex);
  const std::string name(module);
  if (auto existing = spdlog::get(name)) return existing;
  auto created = std::make_shared<spdlog::logger>(name, s.sink);
  created->set_level(s.level);
  created->flush_on(spdlog::level::warn);
  spdlog::register_logger(created);
  return created;
}

log_rate_limiter::log_rate_limiter(uint32_t burst, clock::duration interval)
    : burst_(burst), interval_(interval) {}

std::optional<std::string> log_rate_limiter::allow(clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!started_ || now - window_start_ >= interval_) {
    started_ = true;
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++suppressed_;
    return std::nullopt;
  }
  ++used_;
  if (suppressed_ == 0) return std::string();
  std::string note =
      fmt::format(" ({} similar message{} suppressed)", suppressed_, suppressed_ == 1 ? "" : "s");
  suppressed_ = 0;
  return note;
}

}  // namespace base
