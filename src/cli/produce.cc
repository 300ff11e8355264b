// riptide produce TOPIC: one message per input line.

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/client.h"

namespace cli {
namespace {

struct produce_options {
  common_options common;
  std::string topic;
  std::string file;
  std::optional<std::string> key;
  std::optional<std::string> key_separator;
  std::vector<std::string> headers;
  int32_t partition = RD_KAFKA_PARTITION_UA;
  std::string compression = "none";
  std::string acks = "all";
  bool progress = false;
};

struct delivery {
  int64_t sent = 0;
  int64_t delivered = 0;
  int64_t failed = 0;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<delivery*>(m->_private);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++d->delivered;
  } else {
    if (d->failed++ == 0) d->first_error = rd_kafka_err2str(m->err);
  }
}

class progress_line {
 public:
  explicit progress_line(bool forced)
      : tty_(isatty(STDERR_FILENO) == 1), forced_(forced), on_(tty_ || forced) {}
  void maybe(const delivery& d, bool last = false) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!last && now - shown_ < std::chrono::seconds(1)) return;
    if (last && !printed_ && !forced_) return;
    shown_ = now;
    printed_ = true;
    std::fprintf(stderr, "%ssent %lld, delivered %lld, failed %lld%s", tty_ ? "\r" : "",
                 static_cast<long long>(d.sent), static_cast<long long>(d.delivered),
                 static_cast<long long>(d.failed), tty_ && !last ? "" : "\n");
  }

 private:
  bool tty_;
  bool forced_;  // --progress: also a final line for inputs shorter than a second
  bool on_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point shown_ = std::chrono::steady_clock::now();
};

void produce(produce_options& o) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& h : o.headers) headers.push_back(split_assignment(h, "--header"));
  if (o.key_separator && o.key_separator->empty()) {
    usage_error("invalid --key-separator \"\": give at least one character");
  }
  std::ifstream file;
  if (!o.file.empty()) {
    file.open(o.file, std::ios::binary);
    if (!file) {
      usage_error("cannot open --file " + o.file + ": " + std::strerror(errno));
    }
  }
  std::istream& in = o.file.empty() ? std::cin : file;

  const auto msg_timeout = std::max<int64_t>(o.common.timeout_ms, 30000);
  client c(o.common, RD_KAFKA_PRODUCER,
           {{"compression.codec", o.compression},
            {"acks", o.acks == "all" ? "-1" : o.acks},
            {"message.timeout.ms", std::to_string(msg_timeout)}},
           [](rd_kafka_conf_t* conf) { rd_kafka_conf_set_dr_msg_cb(conf, on_delivery); });
  {
    auto md = c.metadata(&o.topic);
    const auto& t = c.topic_metadata(*md, o.topic);
    if (o.partition != RD_KAFKA_PARTITION_UA && o.partition >= t.partition_cnt) {
      usage_error("invalid --partition " + std::to_string(o.partition) + ": topic '" + o.topic +
                  "' has partitions 0 to " + std::to_string(t.partition_cnt - 1));
    }
  }

  rd_kafka_headers_t* header_template = rd_kafka_headers_new(headers.size());
  for (const auto& [k, v] : headers) {
    rd_kafka_header_add(header_template, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                        static_cast<ssize_t>(v.size()));
  }
  delivery d;
  progress_line progress(o.progress);
  std::string line;
  bool stopped = false;
  while (std::getline(in, line)) {
    if (d.failed > 0) {  // the broker refuses or is gone: do not wait out every line
      stopped = true;
      break;
    }
    std::string_view value = line;
    std::optional<std::string_view> key;
    if (o.key) key = *o.key;
    if (o.key_separator) {
      const auto at = value.find(*o.key_separator);
      if (at != std::string_view::npos) {
        key = value.substr(0, at);
        value.remove_prefix(at + o.key_separator->size());
      }
    }
    rd_kafka_headers_t* hdrs = headers.empty() ? nullptr : rd_kafka_headers_copy(header_template);
    while (true) {
      rd_kafka_vu_t vus[7] = {};
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = o.topic.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[1].u.i32 = o.partition;
      vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[2].u.i = RD_KAFKA_MSG_F_COPY;
      vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[3].u.mem = {const_cast<char*>(value.data()), value.size()};
      vus[4].vtype = RD_KAFKA_VTYPE_KEY;
      vus[4].u.mem = {key ? const_cast<char*>(key->data()) : nullptr, key ? key->size() : 0};
      vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
      vus[5].u.ptr = &d;
      size_t nvus = 6;
      if (hdrs != nullptr) {
        vus[6].vtype = RD_KAFKA_VTYPE_HEADERS;
        vus[6].u.headers = hdrs;
        nvus = 7;
      }
      rd_kafka_error_t* error = rd_kafka_produceva(c.get(), vus, nvus);
      const auto err = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (error) rd_kafka_error_destroy(error);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(c.get(), 50);
        progress.maybe(d);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);
        if (d.failed++ == 0) d.first_error = rd_kafka_err2str(err);
      }
      break;
    }
    ++d.sent;
    rd_kafka_poll(c.get(), 0);
    progress.maybe(d);
  }
  rd_kafka_headers_destroy(header_template);
  if (in.bad()) fail("cannot read the input: " + std::string(std::strerror(errno)));

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(msg_timeout + 5000);
  while (rd_kafka_outq_len(c.get()) > 0 && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_poll(c.get(), 100);
    progress.maybe(d);
  }
  progress.maybe(d, true);
  const int64_t lost = d.sent - d.delivered - d.failed;
  if (o.common.json) {
    std::puts(json::object()
                  .str("topic", o.topic)
                  .num("delivered", d.delivered)
                  .num("failed", d.failed + lost)
                  .done()
                  .c_str());
  } else {
    std::printf("delivered %lld message%s to topic '%s'\n", static_cast<long long>(d.delivered),
                d.delivered == 1 ? "" : "s", o.topic.c_str());
  }
  if (d.failed + lost > 0) {
    fail(std::to_string(d.failed + lost) + " of " + std::to_string(d.sent) +
         " messages were not delivered to topic '" + o.topic + "' (" +
         (d.first_error.empty() ? "no delivery report in time" : d.first_error) +
         "): check that the broker at " + o.common.brokers + " is running and accepts them" +
         (stopped ? "; the input was read up to line " + std::to_string(d.sent) + " only" : ""));
  }
}

}  // namespace

void declare_produce(CLI::App& cmd, action& run) {
  auto o = std::make_shared<produce_options>();
  cmd.add_option("topic", o->topic, "Topic to write to.")->required();
  cmd.add_option("--file,-f", o->file, "Read lines from this file instead of stdin.");
  auto* key = cmd.add_option("--key,-k", o->key, "The same key for every message.");
  cmd.add_option("--key-separator,-K", o->key_separator,
                 "Split each line at the first SEP into key and value; a line without SEP "
                 "has no key.")
      ->type_name("SEP")
      ->excludes(key);
  cmd.add_option("--header,-H", o->headers, "Header KEY=VALUE on every message (repeatable).")
      ->type_name("KEY=VALUE");
  cmd.add_option("--partition,-p", o->partition,
                 "Partition to write to [default: by key hash, or spread when no key].")
      ->check(CLI::Range(0, 1 << 20));
  cmd.add_option("--compression,-z", o->compression, "Compression codec.")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  cmd.add_option("--acks", o->acks, "Acknowledgements to wait for: 0, 1 or all.")
      ->capture_default_str()
      ->check(CLI::IsMember({"0", "1", "all"}));
  cmd.add_flag("--progress", o->progress,
               "Report progress on stderr once a second (always on when stderr is a terminal).");
  add_common_options(cmd, o->common);
  on_run(cmd, run, o->common, [o] { produce(*o); });
}

}  // namespace cli
