#include "cli/client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "base/config.h"
#include "cli/env.h"

namespace cli {

const char* const exit_codes_help =
    "Exit codes: 0 success; 1 the operation failed (the broker refused it, a topic or group "
    "does not exist, messages were not delivered); 2 usage error (bad flag or value); 3 no "
    "broker answered at --brokers within the timeout.\n"
    "Brokers: --brokers, else $RIPTIDE_BROKERS, else 127.0.0.1:9092.\n";

void fail(const std::string& message) {
  throw failure(exit_failed, message);
}
void usage_error(const std::string& message) {
  throw failure(exit_usage, message);
}

void fail_unreachable(const common_options& opts, const std::string& detail) {
  throw failure(exit_unreachable, "cannot reach broker at " + opts.brokers + " (" + detail +
                                      "): is `riptide serve` running? set --brokers or " +
                                      std::string(brokers_env));
}

void fail_request(const common_options& opts, std::string_view what, rd_kafka_resp_err_t err,
                  const std::string& detail) {
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    fail_unreachable(opts, std::string(what) + ": " + detail);
  }
  if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
    fail("cannot " + std::string(what) + ": the broker at " + opts.brokers +
         " does not support the request (" + detail + "); use a broker version that does");
  }
  fail("cannot " + std::string(what) + ": " + detail);
}

void fail_unknown_topic(const std::string& topic) {
  fail("topic '" + topic + "' does not exist: create it with `riptide topic create " + topic + "`");
}

void add_common_options(CLI::App& cmd, common_options& opts, bool with_timeout) {
  cmd.add_option("--brokers,-b", opts.brokers,
                 "Bootstrap brokers, HOST:PORT[,HOST:PORT...] [default: $" +
                     std::string(brokers_env) + " or 127.0.0.1:9092]");
  cmd.add_flag("--json", opts.json, "Machine-readable JSON output.");
  cmd.add_option("-X", opts.properties, "librdkafka property key=value (repeatable).")
      ->type_name("KEY=VALUE");
  if (with_timeout) {
    cmd.add_option("--timeout", opts.timeout, "How long to wait for the broker, e.g. 500ms, 10s.")
        ->capture_default_str()
        ->type_name("DURATION");
  }
  cmd.footer(exit_codes_help);
}

void on_run(CLI::App& cmd, action& run, common_options& opts, std::function<void()> body) {
  cmd.callback([&run, &opts, body = std::move(body)] {
    run = [&opts, body] {
      try {
        if (opts.brokers.empty()) {
          const char* env = std::getenv(std::string(brokers_env).c_str());
          opts.brokers = env != nullptr && *env != '\0' ? env : "127.0.0.1:9092";
        }
        auto ms = base::parse_duration_ms(opts.timeout);
        if (!ms || *ms <= 0) {
          usage_error("invalid --timeout \"" + opts.timeout +
                      "\": expected a duration such as 500ms, 10s or 1m");
        }
        opts.timeout_ms = *ms;
        body();
        return static_cast<int>(exit_ok);
      } catch (const failure& f) {
        std::fflush(stdout);
        std::fprintf(stderr, "riptide: %s\n", f.what());
        return static_cast<int>(f.code);
      }
    };
  });
}

std::pair<std::string, std::string> split_assignment(const std::string& text,
                                                     std::string_view flag) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    usage_error("invalid " + std::string(flag) + " \"" + text + "\": expected KEY=VALUE");
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

// ---- client -------------------------------------------------------------------------------

struct client::state {
  std::mutex mu;
  bool down = false;
  std::string last_error;
};

namespace {

void quiet_log(const rd_kafka_t*, int, const char*, const char*) {}

void set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, bool from_user) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    if (from_user) usage_error("invalid -X " + key + "=" + value + ": " + err);
    fail("cannot set " + key + "=" + value + ": " + err);
  }
}

}  // namespace

client::client(const common_options& opts, rd_kafka_type_t type,
               std::vector<std::pair<std::string, std::string>> extra,
               std::function<void(rd_kafka_conf_t*)> configure)
    : opts_(opts), state_(std::make_unique<state>()) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", opts.brokers, false);
  set(conf, "client.id", "riptide-cli", false);
  const auto t = std::to_string(std::max<int64_t>(opts.timeout_ms, 1000));
  set(conf, "socket.connection.setup.timeout.ms", t, false);
  for (const auto& [k, v] : extra) set(conf, k, v, false);
  bool debug = false;
  for (const auto& p : opts.properties) {
    auto [k, v] = split_assignment(p, "-X");
    debug = debug || k == "debug";
    set(conf, k, v, true);
  }
  if (!debug) rd_kafka_conf_set_log_cb(conf, quiet_log);
  rd_kafka_conf_set_opaque(conf, state_.get());
  rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* st = static_cast<state*>(opaque);
    std::lock_guard lock(st->mu);
    // "Connect to ipv4#127.0.0.1:9092 failed: Connection refused" says more than the
    // "1/1 brokers are down" that follows it.
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || st->last_error.empty()) {
      st->last_error = reason;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE ||
        err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
      st->down = true;
    }
  });
  if (configure) configure(conf);
  char err[512];
  rk_ = rd_kafka_new(type, conf, err, sizeof err);
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    usage_error(std::string("cannot create a Kafka client: ") + err);
  }
  try {
    wait_until_reachable();
  } catch (...) {
    rd_kafka_destroy(rk_);
    throw;
  }
}

client::~client() {
  if (rk_ != nullptr) rd_kafka_destroy(rk_);
}

std::string client::last_error() const {
  std::lock_guard lock(state_->mu);
  return state_->last_error;
}

void client::wait_until_reachable() {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(opts_.timeout_ms);
  while (true) {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk_, 0, nullptr, &md, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
      return;
    }
    rd_kafka_poll(rk_, 0);
    bool down;
    std::string last;
    {
      std::lock_guard lock(state_->mu);
      down = state_->down;
      last = state_->last_error;
    }
    if (down) fail_unreachable(opts_, last);
    if (clock::now() >= deadline) {
      fail_unreachable(opts_, "no answer within " + opts_.timeout +
                                  (last.empty() ? std::string() : "; " + last));
    }
  }
}

std::unique_ptr<client::metadata_ptr> client::metadata(const std::string* topic) const {
  // Always all topics: asking for one by name would let a broker auto-create it.
  const rd_kafka_metadata_t* md = nullptr;
  auto err = rd_kafka_metadata(rk_, 1, nullptr, &md, timeout_ms());
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    fail_unreachable(opts_, rd_kafka_err2str(err));
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(std::string("cannot read cluster metadata: ") + rd_kafka_err2str(err));
  }
  auto out = std::make_unique<metadata_ptr>(md);
  if (topic != nullptr) (void)topic_metadata(*out, *topic);
  return out;
}

const rd_kafka_metadata_topic_t& client::topic_metadata(const metadata_ptr& md,
                                                        const std::string& topic) const {
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (topic == t.topic) {
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) fail_unknown_topic(topic);
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail("cannot read metadata of topic '" + topic + "': " + rd_kafka_err2str(t.err));
      }
      return t;
    }
  }
  fail_unknown_topic(topic);
}

std::pair<int64_t, int64_t> client::watermarks(const std::string& topic, int32_t partition) const {
  int64_t lo = -1, hi = -1;
  auto err =
      rd_kafka_query_watermark_offsets(rk_, topic.c_str(), partition, &lo, &hi, timeout_ms());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail("cannot read the offsets of " + topic + ":" + std::to_string(partition) + ": " +
         rd_kafka_err2str(err));
  }
  return {lo, hi};
}

rd_kafka_AdminOptions_t* client::admin_options(rd_kafka_admin_op_t op) const {
  auto* o = rd_kafka_AdminOptions_new(rk_, op);
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms(), err, sizeof err);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
      op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS) {
    rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms(), err, sizeof err);
  }
  return o;
}

rd_kafka_event_t* client::admin(const std::function<void(rd_kafka_queue_t*)>& request,
                                std::string_view what) const {
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk_);
  request(q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, timeout_ms() + 2000);
  rd_kafka_queue_destroy(q);
  if (ev == nullptr) fail_unreachable(opts_, "no answer in time to: " + std::string(what));
  if (auto err = rd_kafka_event_error(ev)) {
    std::string msg = rd_kafka_event_error_string(ev);
    rd_kafka_event_destroy(ev);
    fail_request(opts_, what, err, msg);
  }
  return ev;
}

// ---- output -------------------------------------------------------------------------------

void table::print(std::FILE* out) const {
  std::vector<size_t> width;
  for (const auto& r : rows_) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows_) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 2, ' ');
    }
    line += '\n';
    std::fputs(line.c_str(), out);
  }
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
    cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    cp = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c >= 0x80) {
      const size_t n = utf8_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
  return out;
}

std::string json_string(const void* data, size_t size) {
  if (data == nullptr) return "null";
  return json_string(std::string_view(static_cast<const char*>(data), size));
}

void json::comma() {
  if (!first_) out_ += ',';
  first_ = false;
}

json& json::raw(std::string_view key, std::string_view value) {
  comma();
  out_ += json_string(key);
  out_ += ':';
  out_ += value;
  return *this;
}

json& json::item(std::string_view value) {
  comma();
  out_ += value;
  return *this;
}

}  // namespace cli
