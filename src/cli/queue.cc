// `riptide queue`: queue subscriptions over a topic (docs/queues.md) through the broker's
// HTTP listener: create, list, describe, delete, and a worker's receive, ack, nack,
// extend and reject from the shell.

#include <boost/json.hpp>

#include <charconv>
#include <cstdio>

#include "base/config.h"
#include "cli/client.h"
#include "cli/http_client.h"

namespace cli {
namespace {

namespace bj = boost::json;

struct queue_options {
  common_options common;
  std::string url;
  std::string name;
  // create
  std::string topic;
  std::string dead_letter_topic;
  std::string visibility_timeout = "30s";
  int max_deliveries = 5;
  int max_in_flight = 1000;
  std::string ordering = "none";
  std::string start = "earliest";
  std::string backoff = "none";
  std::string backoff_time = "1s";
  std::string backoff_max = "1m";
  // worker
  std::string consumer;
  int max_records = 100;
  std::string wait = "0s";
  bool ack = false;
  std::vector<std::string> records;  // PARTITION:OFFSET
  std::string delay = "0s";
  std::string error;
};

int64_t duration_ms(const std::string& text, const char* flag) {
  auto ms = base::parse_duration_ms(text);
  if (!ms || *ms < 0) {
    usage_error(std::string("invalid ") + flag + " \"" + text +
                "\": expected a duration such as 500ms, 30s or 5m");
  }
  return *ms;
}

// The answer's JSON, or a failure that names what was asked and what the broker said.
bj::value call(const queue_options& o, std::string_view method, const std::string& path,
               const std::string& body, std::string_view what) {
  const endpoint e = parse_url(o.url);
  auto a = http_call(e, method, path, body, o.common.timeout_ms);
  boost::system::error_code ec;
  bj::value v = a.body.empty() ? bj::value() : bj::parse(a.body, ec);
  if (a.status >= 200 && a.status < 300 && !ec) return v;
  std::string message = a.status_line;
  if (!ec && v.is_object() && v.as_object().contains("message")) {
    message = bj::value_to<std::string>(v.as_object().at("message"));
  }
  if (a.status == 404 && message.find("queue") != std::string::npos) {
    fail("cannot " + std::string(what) + ": " + message + "; see `riptide queue list`");
  }
  fail("cannot " + std::string(what) + ": " + message);
}

std::string str(const bj::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return bj::serialize(v);
}

void create(queue_options& o) {
  if (o.ordering != "none" && o.ordering != "key") {
    usage_error("invalid --ordering \"" + o.ordering + "\": expected none or key");
  }
  if (o.start != "earliest" && o.start != "latest") {
    usage_error("invalid --start \"" + o.start + "\": expected earliest or latest");
  }
  if (o.backoff != "none" && o.backoff != "fixed" && o.backoff != "exponential") {
    usage_error("invalid --retry-backoff \"" + o.backoff +
                "\": expected none, fixed or exponential");
  }
  bj::object body{
      {"topic", o.topic},
      {"retry_backoff", o.backoff},
      {"retry_backoff_ms", duration_ms(o.backoff_time, "--retry-backoff-time")},
      {"retry_backoff_max_ms", duration_ms(o.backoff_max, "--retry-backoff-max")},
      {"visibility_timeout_ms", duration_ms(o.visibility_timeout, "--visibility-timeout")},
      {"max_deliveries", o.max_deliveries},
      {"max_in_flight", o.max_in_flight},
      {"ordering", o.ordering},
      {"start", o.start}};
  if (!o.dead_letter_topic.empty()) body["dead_letter_topic"] = o.dead_letter_topic;
  auto v =
      call(o, "PUT", "/v1/queues/" + o.name, bj::serialize(body), "create queue '" + o.name + "'");
  if (o.common.json) {
    std::puts(bj::serialize(v).c_str());
    return;
  }
  const auto& q = v.as_object();
  std::printf("Queue '%s' over topic '%s' (dead letters to '%s').\n", o.name.c_str(),
              str(q.at("topic")).c_str(), str(q.at("dead_letter_topic")).c_str());
}

void list(queue_options& o) {
  auto v = call(o, "GET", "/v1/queues", "", "list queues");
  if (o.common.json) {
    std::puts(bj::serialize(v).c_str());
    return;
  }
  table t({"QUEUE", "TOPIC", "DEAD LETTERS", "VISIBILITY MS", "MAX DELIVERIES", "ORDERING"});
  for (const auto& q : v.as_object().at("queues").as_array()) {
    const auto& x = q.as_object();
    t.add({str(x.at("name")), str(x.at("topic")), str(x.at("dead_letter_topic")),
           str(x.at("visibility_timeout_ms")), str(x.at("max_deliveries")), str(x.at("ordering"))});
  }
  t.print();
}

void describe(queue_options& o) {
  auto v = call(o, "GET", "/v1/queues/" + o.name, "", "describe queue '" + o.name + "'");
  if (o.common.json) {
    std::puts(bj::serialize(v).c_str());
    return;
  }
  const auto& q = v.as_object();
  std::printf(
      "Queue:          %s\nTopic:          %s\nDead letters:   %s\nVisibility:     %s ms\n"
      "Max deliveries: %s\nOrdering:       %s\n\nReady: %s  Leased: %s  Delayed: %s  "
      "Dead-lettered: %s  Redeliveries: %s  Lease expiries: %s\n\n",
      o.name.c_str(), str(q.at("topic")).c_str(), str(q.at("dead_letter_topic")).c_str(),
      str(q.at("visibility_timeout_ms")).c_str(), str(q.at("max_deliveries")).c_str(),
      str(q.at("ordering")).c_str(), str(q.at("ready")).c_str(), str(q.at("leased")).c_str(),
      str(q.at("delayed")).c_str(), str(q.at("dead_lettered")).c_str(),
      str(q.at("redeliveries")).c_str(), str(q.at("lease_expiries")).c_str());
  table t(
      {"PARTITION", "START", "NEXT", "LOG END", "NOT YET DELIVERED", "AVAILABLE AGAIN", "LEASED"});
  for (const auto& p : q.at("partitions").as_array()) {
    const auto& x = p.as_object();
    t.add({str(x.at("partition")), str(x.at("start")), str(x.at("next")), str(x.at("log_end")),
           str(x.at("not_yet_delivered")), str(x.at("available_again")), str(x.at("leased"))});
  }
  t.print();
}

void remove(queue_options& o) {
  call(o, "DELETE", "/v1/queues/" + o.name, "", "delete queue '" + o.name + "'");
  if (!o.common.json) std::printf("Deleted queue '%s'.\n", o.name.c_str());
}

bj::array record_list(const std::vector<std::string>& records) {
  bj::array out;
  for (const auto& r : records) {
    const size_t colon = r.find(':');
    int32_t p = -1;
    int64_t off = -1;
    bool ok = colon != std::string::npos;
    if (ok) {
      auto a = std::from_chars(r.data(), r.data() + colon, p);
      auto b = std::from_chars(r.data() + colon + 1, r.data() + r.size(), off);
      ok = a.ec == std::errc() && a.ptr == r.data() + colon && b.ec == std::errc() &&
           b.ptr == r.data() + r.size() && p >= 0 && off >= 0;
    }
    if (!ok) usage_error("invalid record \"" + r + "\": expected PARTITION:OFFSET, e.g. 0:42");
    out.push_back(bj::object{{"partition", p}, {"offset", off}});
  }
  return out;
}

void settle_records(queue_options& o, const char* verb, bj::array records) {
  bj::object body{{"consumer", o.consumer}, {"records", std::move(records)}};
  if (std::string_view(verb) == "nack") body["delay_ms"] = duration_ms(o.delay, "--delay");
  if (!o.error.empty()) body["error"] = o.error;
  auto v = call(o, "POST", "/v1/queues/" + o.name + "/" + verb, bj::serialize(body),
                std::string(verb) + " records of queue '" + o.name + "'");
  if (o.common.json) {
    std::puts(bj::serialize(v).c_str());
  } else {
    for (const auto& r : v.as_object().at("results").as_array()) {
      const auto& x = r.as_object();
      if (x.contains("error")) {
        std::fprintf(stderr, "%s:%s not %s: %s\n", str(x.at("partition")).c_str(),
                     str(x.at("offset")).c_str(), verb, str(x.at("error")).c_str());
      }
    }
    std::printf("%s %s of %zu\n", verb, str(v.as_object().at("settled")).c_str(),
                v.as_object().at("results").as_array().size());
  }
  if (v.as_object().at("refused").as_int64() > 0) {
    throw failure(exit_failed, "some records were refused (listed above)");
  }
}

void receive(queue_options& o) {
  bj::object body{{"consumer", o.consumer},
                  {"max_records", o.max_records},
                  {"timeout_ms", duration_ms(o.wait, "--wait")},
                  {"format", "text"}};
  auto v = call(o, "POST", "/v1/queues/" + o.name + "/receive", bj::serialize(body),
                "receive from queue '" + o.name + "'");
  const auto& records = v.as_object().at("records").as_array();
  if (o.common.json) {
    for (const auto& r : records) std::puts(bj::serialize(r).c_str());
  } else {
    for (const auto& r : records) {
      const auto& x = r.as_object();
      std::printf("%s:%s\t%s\t%s\t%s\n", str(x.at("partition")).c_str(),
                  str(x.at("offset")).c_str(), str(x.at("delivery_count")).c_str(),
                  str(x.at("key")).c_str(), str(x.at("value")).c_str());
    }
  }
  std::fflush(stdout);
  if (o.ack && !records.empty()) {
    bj::array which;
    for (const auto& r : records) {
      which.push_back(bj::object{{"partition", r.as_object().at("partition")},
                                 {"offset", r.as_object().at("offset")}});
    }
    bj::object ack{{"consumer", o.consumer}, {"records", std::move(which)}};
    auto a = call(o, "POST", "/v1/queues/" + o.name + "/ack", bj::serialize(ack),
                  "ack records of queue '" + o.name + "'");
    if (a.as_object().at("refused").as_int64() > 0) {
      fail("some records could not be acked: " + bj::serialize(a));
    }
  }
}

CLI::App* sub(CLI::App& parent, action& run, const std::shared_ptr<queue_options>& o,
              const char* name, const char* help, void (*fn)(queue_options&), bool named = true) {
  auto* cmd = parent.add_subcommand(name, help);
  if (named) cmd->add_option("queue", o->name, "Queue name.")->required();
  cmd->add_option("--url", o->url,
                  "The broker's HTTP listener [default: $RIPTIDE_HTTP_URL or "
                  "http://127.0.0.1:9644]")
      ->type_name("URL");
  cmd->add_flag("--json", o->common.json, "Machine-readable JSON output.");
  cmd->add_option("--timeout", o->common.timeout, "How long to wait for the listener, e.g. 5s.")
      ->capture_default_str()
      ->type_name("DURATION");
  cmd->footer(exit_codes_help);
  on_run(*cmd, run, o->common, [o, fn] {
    o->url = default_http_url(o->url);
    fn(*o);
  });
  return cmd;
}

void add_worker_options(CLI::App* cmd, queue_options& o) {
  cmd->add_option("--consumer,-w", o.consumer,
                  "The worker's name: only it may decide on "
                  "the records leased to it.")
      ->required();
}

}  // namespace

void declare_queue(CLI::App& cmd, action& run) {
  cmd.require_subcommand(1);
  auto o = std::make_shared<queue_options>();
  auto* c = sub(cmd, run, o, "create", "Create a queue over a topic.", create);
  c->add_option("--topic,-t", o->topic, "The topic whose records the queue hands out.")->required();
  c->add_option("--dead-letter-topic", o->dead_letter_topic,
                "Where dead-lettered records go [default: QUEUE.dlq].");
  c->add_option("--visibility-timeout", o->visibility_timeout, "How long a lease lasts.")
      ->capture_default_str()
      ->type_name("DURATION");
  c->add_option("--max-deliveries", o->max_deliveries, "Deliveries before dead-lettering.")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  c->add_option("--max-in-flight", o->max_in_flight,
                "Records per partition handed out and not finished.")
      ->capture_default_str()
      ->check(CLI::Range(1, 2000));
  c->add_option("--ordering", o->ordering, "none, or key (a key's records one at a time).")
      ->capture_default_str();
  c->add_option("--start", o->start, "earliest, or latest (records produced from now on).")
      ->capture_default_str();
  c->add_option("--retry-backoff", o->backoff,
                "The wait before a failed record is handed out again: none, fixed, or "
                "exponential (doubling with each delivery, with jitter).")
      ->capture_default_str();
  c->add_option("--retry-backoff-time", o->backoff_time,
                "The fixed wait, or the first exponential one.")
      ->capture_default_str()
      ->type_name("DURATION");
  c->add_option("--retry-backoff-max", o->backoff_max, "The longest exponential wait.")
      ->capture_default_str()
      ->type_name("DURATION");
  sub(cmd, run, o, "list", "List the queues.", list, false);
  sub(cmd, run, o, "describe",
      "Show a queue: ready, leased, delayed, dead-lettered, per partition.", describe);
  sub(cmd, run, o, "delete", "Delete a queue and its state (not its topics).", remove);

  auto* r = sub(cmd, run, o, "receive",
                "Receive records leased to a worker: PARTITION:OFFSET, delivery count, key, "
                "value, one per line.",
                receive);
  add_worker_options(r, *o);
  r->add_option("--max,-n", o->max_records, "Records at most.")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  r->add_option("--wait", o->wait, "How long to wait for a record (long poll).")
      ->capture_default_str()
      ->type_name("DURATION");
  r->add_flag("--ack", o->ack, "Ack the records once printed.");

  const struct {
    const char* verb;
    const char* help;
    void (*fn)(queue_options&);
  } decisions[] = {
      {"ack", "Ack records: done, never handed out again.",
       [](queue_options& q) { settle_records(q, "ack", record_list(q.records)); }},
      {"nack", "Nack records: available again, after --delay.",
       [](queue_options& q) { settle_records(q, "nack", record_list(q.records)); }},
      {"extend", "Renew the leases of records for the queue's visibility timeout.",
       [](queue_options& q) { settle_records(q, "extend", record_list(q.records)); }},
      {"reject", "Reject records: straight to the dead-letter topic.",
       [](queue_options& q) { settle_records(q, "reject", record_list(q.records)); }},
  };
  for (const auto& d : decisions) {
    auto* s = sub(cmd, run, o, d.verb, d.help, d.fn);
    add_worker_options(s, *o);
    s->add_option("records", o->records, "PARTITION:OFFSET of each record.")
        ->required()
        ->expected(1, 10000);
    if (std::string_view(d.verb) == "nack") {
      s->add_option("--delay", o->delay, "When the records are available again.")
          ->capture_default_str()
          ->type_name("DURATION");
    }
    if (std::string_view(d.verb) == "nack" || std::string_view(d.verb) == "reject") {
      s->add_option("--error", o->error, "Why, kept for the dead-letter headers.");
    }
  }
}

}  // namespace cli
