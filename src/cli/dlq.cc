// `riptide dlq`: the dead-letter topics of queues (docs/queues.md). `list` names each
// queue's dead-letter topic and how many records it holds; `inspect` prints a dead-letter
// topic's records with where they came from and why; `replay` produces them back to their
// original topic and partition (without the dead-letter headers), so the queue hands them
// out again.

#include <unistd.h>

#include <boost/json.hpp>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "cli/client.h"
#include "cli/http_client.h"

namespace cli {
namespace {

namespace bj = boost::json;

constexpr std::string_view kDlqPrefix = "riptide-dlq-";

struct dlq_options {
  common_options common;
  std::string url;
  std::string topic;
  std::optional<int64_t> count;
};

struct dead_record {
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name && v) return *v;
    }
    return "";
  }
};

// Every record of `topic` from the start to the end it had when asked (at most `count`).
std::vector<dead_record> read_all(const common_options& common, const std::string& topic,
                                  std::optional<int64_t> count) {
  client c(common, RD_KAFKA_CONSUMER,
           {{"enable.partition.eof", "true"}, {"enable.auto.commit", "false"}});
  std::vector<int32_t> partitions;
  {
    auto md = c.metadata(&topic);
    const auto& t = c.topic_metadata(*md, topic);
    for (int i = 0; i < t.partition_cnt; ++i) partitions.push_back(t.partitions[i].id);
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(c.get());
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(c.get(), topic.c_str(), nullptr);
  std::map<int32_t, bool> ended;
  for (int32_t p : partitions) {
    const auto [low, high] = c.watermarks(topic, p);
    if (high <= low) {
      ended[p] = true;
      continue;
    }
    ended[p] = false;
    if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, queue) != 0) {
      fail("cannot read topic '" + topic + "': " + rd_kafka_err2str(rd_kafka_last_error()));
    }
  }
  std::vector<dead_record> out;
  auto last = std::chrono::steady_clock::now();
  const auto all_ended = [&] {
    for (const auto& [p, e] : ended) {
      if (!e) return false;
    }
    return true;
  };
  while (!all_ended() && !(count && static_cast<int64_t>(out.size()) >= *count)) {
    rd_kafka_message_t* m = rd_kafka_consume_queue(queue, 100);
    if (m == nullptr) {
      if (std::chrono::steady_clock::now() - last > std::chrono::milliseconds(common.timeout_ms)) {
        fail("reading topic '" + topic + "' stalled for --timeout; is the broker up?");
      }
      continue;
    }
    last = std::chrono::steady_clock::now();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ended[m->partition] = true;
    } else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string why = rd_kafka_message_errstr(m);
      rd_kafka_message_destroy(m);
      fail("cannot read topic '" + topic + "': " + why);
    } else {
      dead_record r;
      r.partition = m->partition;
      r.offset = m->offset;
      if (m->key) r.key.emplace(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value.emplace(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* v = nullptr;
        size_t n = 0;
        for (size_t i = 0;
             rd_kafka_header_get_all(hdrs, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          r.headers.emplace_back(
              name, v ? std::optional<std::string>(std::string(static_cast<const char*>(v), n))
                      : std::nullopt);
        }
      }
      out.push_back(std::move(r));
    }
    rd_kafka_message_destroy(m);
  }
  for (int32_t p : partitions) rd_kafka_consume_stop(rkt, p);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_queue_destroy(queue);
  if (count && static_cast<int64_t>(out.size()) > *count) out.resize(static_cast<size_t>(*count));
  return out;
}

void list(dlq_options& o) {
  auto a = http_call(parse_url(o.url), "GET", "/v1/queues", "", o.common.timeout_ms);
  boost::system::error_code ec;
  auto v = bj::parse(a.body, ec);
  if (a.status != 200 || ec || !v.is_object()) {
    fail("cannot list queues at " + o.url + ": " + a.status_line);
  }
  client c(o.common, RD_KAFKA_CONSUMER, {{"enable.auto.commit", "false"}});
  auto md = c.metadata(nullptr);
  table t({"QUEUE", "DEAD-LETTER TOPIC", "RECORDS"});
  auto rows = json::array();
  for (const auto& q : v.as_object().at("queues").as_array()) {
    const std::string name(q.as_object().at("name").as_string());
    const std::string topic(q.as_object().at("dead_letter_topic").as_string());
    int64_t records = -1;
    for (int i = 0; i < (*md)->topic_cnt; ++i) {
      const auto& mt = (*md)->topics[i];
      if (topic != mt.topic) continue;
      records = 0;
      for (int p = 0; p < mt.partition_cnt; ++p) {
        const auto [low, high] = c.watermarks(topic, mt.partitions[p].id);
        records += high - low;
      }
    }
    t.add({name, topic, records < 0 ? "-" : std::to_string(records)});
    rows.item(json::object()
                  .str("queue", name)
                  .str("topic", topic)
                  .raw("records", records < 0 ? "null" : std::to_string(records))
                  .done());
  }
  if (o.common.json) {
    std::puts(rows.done().c_str());
  } else {
    t.print();
  }
}

void inspect(dlq_options& o) {
  const auto records = read_all(o.common, o.topic, o.count);
  if (o.common.json) {
    for (const auto& r : records) {
      auto h = json::object();
      for (const auto& [k, v] : r.headers) {
        h.raw(k, v ? json_string(*v) : "null");
      }
      std::puts(json::object()
                    .num("partition", r.partition)
                    .num("offset", r.offset)
                    .raw("key", r.key ? json_string(*r.key) : "null")
                    .raw("value", r.value ? json_string(*r.value) : "null")
                    .raw("headers", h.done())
                    .done()
                    .c_str());
    }
    return;
  }
  table t({"DLQ", "FROM", "QUEUE", "DELIVERIES", "ERROR", "VALUE"});
  for (const auto& r : records) {
    const std::string from = r.header("riptide-dlq-topic") + "/" +
                             r.header("riptide-dlq-partition") + "@" +
                             r.header("riptide-dlq-offset");
    std::string value = r.value.value_or("");
    if (value.size() > 60) value = value.substr(0, 57) + "...";
    t.add({std::to_string(r.partition) + ":" + std::to_string(r.offset), from,
           r.header("riptide-dlq-queue"), r.header("riptide-dlq-deliveries"),
           r.header("riptide-dlq-error"), value});
  }
  t.print();
}

struct replay_delivery {
  int64_t delivered = 0;
  int64_t failed = 0;
  std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<replay_delivery*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++d->delivered;
  } else if (d->failed++ == 0) {
    d->first_error = rd_kafka_err2str(m->err);
  }
}

void replay(dlq_options& o) {
  const auto records = read_all(o.common, o.topic, o.count);
  replay_delivery d;
  client c(o.common, RD_KAFKA_PRODUCER, {{"acks", "-1"}}, [&d](rd_kafka_conf_t* conf) {
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &d);
  });
  const bool tty = isatty(STDERR_FILENO) == 1;
  int64_t sent = 0, skipped = 0;
  auto shown = std::chrono::steady_clock::now();
  for (const auto& r : records) {
    const std::string topic = r.header("riptide-dlq-topic");
    const std::string part = r.header("riptide-dlq-partition");
    int32_t partition = -1;
    const auto parsed = std::from_chars(part.data(), part.data() + part.size(), partition);
    if (topic.empty() || parsed.ec != std::errc() || parsed.ptr != part.data() + part.size() ||
        partition < 0) {
      ++skipped;  // not a dead letter: no origin to go back to
      continue;
    }
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(r.headers.size());
    for (const auto& [k, v] : r.headers) {
      if (k.starts_with(kDlqPrefix)) continue;
      rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v ? v->data() : nullptr,
                          v ? static_cast<ssize_t>(v->size()) : 0);
    }
    for (;;) {
      rd_kafka_vu_t vus[6] = {};
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = topic.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[1].u.i32 = partition;
      vus[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[2].u.i = RD_KAFKA_MSG_F_COPY;
      vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[3].u.mem = {r.value ? const_cast<char*>(r.value->data()) : nullptr,
                      r.value ? r.value->size() : 0};
      vus[4].vtype = RD_KAFKA_VTYPE_KEY;
      vus[4].u.mem = {r.key ? const_cast<char*>(r.key->data()) : nullptr,
                      r.key ? r.key->size() : 0};
      vus[5].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[5].u.headers = hdrs;
      rd_kafka_error_t* error = rd_kafka_produceva(c.get(), vus, 6);
      const auto err = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (error) rd_kafka_error_destroy(error);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(c.get(), 50);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(hdrs);
        if (d.failed++ == 0) d.first_error = rd_kafka_err2str(err);
      }
      break;
    }
    ++sent;
    rd_kafka_poll(c.get(), 0);
    if (tty && std::chrono::steady_clock::now() - shown > std::chrono::seconds(1)) {
      shown = std::chrono::steady_clock::now();
      std::fprintf(stderr, "\rreplayed %lld of %zu", static_cast<long long>(d.delivered),
                   records.size());
    }
  }
  rd_kafka_flush(c.get(), static_cast<int>(std::max<int64_t>(o.common.timeout_ms, 30000)));
  if (tty && sent > 0) std::fprintf(stderr, "\n");
  const int64_t lost = sent - d.delivered - d.failed;
  if (o.common.json) {
    std::puts(json::object()
                  .str("topic", o.topic)
                  .num("replayed", d.delivered)
                  .num("failed", d.failed + lost)
                  .num("skipped", skipped)
                  .done()
                  .c_str());
  } else {
    std::printf("Replayed %lld record(s) from '%s' to their original topics",
                static_cast<long long>(d.delivered), o.topic.c_str());
    if (skipped)
      std::printf("; skipped %lld without dead-letter headers", static_cast<long long>(skipped));
    std::printf(".\n");
  }
  if (d.failed + lost > 0) {
    fail(std::to_string(d.failed + lost) + " record(s) were not replayed (" +
         (d.first_error.empty() ? "not delivered within --timeout" : d.first_error) +
         "); the dead-letter topic still holds them: run replay again for those");
  }
}

}  // namespace

void declare_dlq(CLI::App& cmd, action& run) {
  cmd.require_subcommand(1);
  auto o = std::make_shared<dlq_options>();
  auto* l = cmd.add_subcommand("list", "Every queue's dead-letter topic and its record count.");
  add_common_options(*l, o->common);
  l->add_option("--url", o->url,
                "The broker's HTTP listener [default: $RIPTIDE_HTTP_URL or "
                "http://127.0.0.1:9644]")
      ->type_name("URL");
  on_run(*l, run, o->common, [o] {
    o->url = default_http_url(o->url);
    list(*o);
  });
  auto* i = cmd.add_subcommand(
      "inspect", "Print a dead-letter topic's records: origin, queue, deliveries, error, value.");
  i->add_option("topic", o->topic, "The dead-letter topic.")->required();
  i->add_option("--count,-n", o->count, "Records at most (from the start).");
  add_common_options(*i, o->common);
  on_run(*i, run, o->common, [o] { inspect(*o); });
  auto* r = cmd.add_subcommand(
      "replay",
      "Produce a dead-letter topic's records back to their original topic and partition "
      "(without the riptide-dlq-* headers): the queue hands them out again. The dead-letter "
      "topic keeps them; replaying twice sends them twice.");
  r->add_option("topic", o->topic, "The dead-letter topic.")->required();
  r->add_option("--count,-n", o->count, "Records at most (from the start).");
  add_common_options(*r, o->common);
  on_run(*r, run, o->common, [o] { replay(*o); });
}

}  // namespace cli
