#pragma once
// What every client verb shares: the common flags (--brokers, --json, -X, --timeout), the
// exit codes, errors that name what failed and how to fix it, a librdkafka handle that fails
// fast when the broker is unreachable, aligned tables and JSON output.

#include <librdkafka/rdkafka.h>
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/commands.h"

namespace cli {

// Documented in docs/cli.md and in the help footer of every verb.
enum exit_code : int {
  exit_ok = 0,
  exit_failed = 1,       // the broker refused or could not complete the operation
  exit_usage = 2,        // bad flags or flag values
  exit_unreachable = 3,  // no broker answered within the timeout
};

extern const char* const exit_codes_help;

// Thrown by a verb; caught by run_verb(), which prints "riptide: <message>" and exits `code`.
struct failure : std::runtime_error {
  failure(exit_code c, const std::string& message) : std::runtime_error(message), code(c) {}
  exit_code code;
};
[[noreturn]] void fail(const std::string& message);         // exit_failed
[[noreturn]] void usage_error(const std::string& message);  // exit_usage

struct common_options {
  std::string brokers;
  bool json = false;
  std::vector<std::string> properties;  // -X key=value
  std::string timeout = "10s";
  int64_t timeout_ms = 10000;  // parsed from `timeout` by run_verb()
};

// Declares --brokers, --json, -X and (unless with_timeout is false) --timeout on `cmd`.
void add_common_options(CLI::App& cmd, common_options& opts, bool with_timeout = true);

// Makes `body` the action of `cmd`: when `cmd` is chosen, `run` validates the common options
// and calls `body`, turning a thrown failure into its message and exit code.
void on_run(CLI::App& cmd, action& run, common_options& opts, std::function<void()> body);

// "key=value" -> pair; a usage error naming `flag` otherwise.
std::pair<std::string, std::string> split_assignment(const std::string& text,
                                                     std::string_view flag);

// A librdkafka handle whose constructor has checked that a broker answers.
class client {
 public:
  // `extra` are set before the -X properties, so the user can override them.
  client(const common_options& opts, rd_kafka_type_t type,
         std::vector<std::pair<std::string, std::string>> extra = {},
         std::function<void(rd_kafka_conf_t*)> configure = {});
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  rd_kafka_t* get() const { return rk_; }
  const common_options& options() const { return opts_; }
  int timeout_ms() const { return static_cast<int>(opts_.timeout_ms); }

  // Metadata of one topic (failing with "topic 'x' does not exist: ...") or of all topics.
  struct metadata_ptr {
    const rd_kafka_metadata_t* md;
    ~metadata_ptr() { rd_kafka_metadata_destroy(md); }
    const rd_kafka_metadata_t* operator->() const { return md; }
  };
  std::unique_ptr<metadata_ptr> metadata(const std::string* topic) const;
  const rd_kafka_metadata_topic_t& topic_metadata(const metadata_ptr& md,
                                                  const std::string& topic) const;

  // [log-start, log-end) of a partition.
  std::pair<int64_t, int64_t> watermarks(const std::string& topic, int32_t partition) const;

  // The admin queue round trip: runs `request` with a fresh queue and waits for its result
  // event, failing on a request-level error. The event is destroyed by the caller's guard.
  rd_kafka_event_t* admin(const std::function<void(rd_kafka_queue_t*)>& request,
                          std::string_view what) const;
  rd_kafka_AdminOptions_t* admin_options(rd_kafka_admin_op_t op) const;

  // The last transport error seen, for messages.
  std::string last_error() const;

 private:
  void wait_until_reachable();
  common_options opts_;
  rd_kafka_t* rk_ = nullptr;
  struct state;
  std::unique_ptr<state> state_;
};

struct event_guard {
  rd_kafka_event_t* ev;
  ~event_guard() { rd_kafka_event_destroy(ev); }
};

// "cannot reach broker at ...: is `riptide serve` running? ..."
[[noreturn]] void fail_unreachable(const common_options& opts, const std::string& detail);
// "cannot <what>: <detail>", with the fix for timeouts and requests the broker lacks.
[[noreturn]] void fail_request(const common_options& opts, std::string_view what,
                               rd_kafka_resp_err_t err, const std::string& detail);
// "topic 'x' does not exist: create it with `riptide topic create x`"
[[noreturn]] void fail_unknown_topic(const std::string& topic);

// Aligned columns; the first row is the header.
class table {
 public:
  explicit table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::FILE* out = stdout) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Minimal JSON output: strings are escaped; bytes that are not valid UTF-8 become U+FFFD.
std::string json_string(std::string_view s);
// A JSON null when `data` is null.
std::string json_string(const void* data, size_t size);

// Builds one JSON object or array; values given as `raw` must already be JSON.
class json {
 public:
  static json object() { return json('{', '}'); }
  static json array() { return json('[', ']'); }
  json& raw(std::string_view key, std::string_view value);
  json& str(std::string_view key, std::string_view value) { return raw(key, json_string(value)); }
  json& num(std::string_view key, int64_t value) { return raw(key, std::to_string(value)); }
  json& boolean(std::string_view key, bool v) { return raw(key, v ? "true" : "false"); }
  json& item(std::string_view value);  // array element, already JSON
  std::string done() const { return out_ + close_; }

 private:
  json(char open, char close) : out_(1, open), close_(1, close) {}
  void comma();
  std::string out_;
  std::string close_;
  bool first_ = true;
};

}  // namespace cli
