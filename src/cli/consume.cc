// riptide consume TOPIC: print messages, as text through a kcat-like template or as JSON.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <map>
#include <memory>

#include "base/config.h"
#include "cli/client.h"

namespace cli {
namespace {

struct consume_options {
  common_options common;
  std::string topic;
  std::string offset = "beginning";
  std::optional<int32_t> partition;
  std::string group;
  std::optional<int64_t> count;
  bool exit_at_end = false;
  std::string format = "%s\\n";
};

// --offset: where each partition starts.
struct start_position {
  enum kind { beginning, end, absolute, from_end, timestamp } k = beginning;
  int64_t n = 0;
};

start_position parse_offset(const std::string& text) {
  const auto bad = [&] {
    usage_error("invalid --offset \"" + text +
                "\": expected beginning, end, an offset N, -N (N before the end) or "
                "@TIMESTAMP_MS");
  };
  if (text == "beginning") return {start_position::beginning, 0};
  if (text == "end") return {start_position::end, 0};
  std::string_view digits = text;
  auto k = start_position::absolute;
  if (text.starts_with('-')) {
    k = start_position::from_end;
    digits.remove_prefix(1);
  } else if (text.starts_with('@')) {
    k = start_position::timestamp;
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) bad();
  auto n = base::parse_integer(digits);
  if (!n) bad();
  return {k, *n};
}

// The --format template, compiled once: literal text and % fields.
struct format_part {
  char field = 0;  // 0: literal
  std::string text;
};

std::vector<format_part> compile_format(const std::string& f) {
  std::vector<format_part> parts;
  const auto literal = [&](char c) {
    if (parts.empty() || parts.back().field != 0) parts.push_back({});
    parts.back().text += c;
  };
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if ((c == '%' || c == '\\') && i + 1 == f.size()) {
      usage_error("invalid --format \"" + f + "\": it ends with a lone " + std::string(1, c));
    }
    if (c == '\\') {
      const char e = f[++i];
      if (e == 'n')
        literal('\n');
      else if (e == 't')
        literal('\t');
      else if (e == 'r')
        literal('\r');
      else if (e == '0')
        literal('\0');
      else if (e == '\\')
        literal('\\');
      else
        usage_error("invalid --format \"" + f + "\": unknown escape \\" + std::string(1, e) +
                    " (use \\n, \\t, \\r, \\0 or \\\\)");
    } else if (c == '%') {
      const char e = f[++i];
      if (e == '%') {
        literal('%');
      } else if (std::string_view("tpokshT").find(e) != std::string_view::npos) {
        parts.push_back({e, {}});
      } else {
        usage_error("invalid --format \"" + f + "\": unknown field %" + std::string(1, e) +
                    " (use %t %p %o %k %s %T %h or %%)");
      }
    } else {
      literal(c);
    }
  }
  return parts;
}

std::vector<std::pair<std::string, std::optional<std::string>>> headers_of(
    const rd_kafka_message_t* m) {
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  rd_kafka_headers_t* h = nullptr;
  if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.emplace_back(
        name, value ? std::optional<std::string>(std::string(static_cast<const char*>(value), size))
                    : std::nullopt);
  }
  return out;
}

std::string render(const std::vector<format_part>& parts, const rd_kafka_message_t* m) {
  std::string out;
  for (const auto& p : parts) {
    switch (p.field) {
      case 0:
        out += p.text;
        break;
      case 't':
        out += rd_kafka_topic_name(m->rkt);
        break;
      case 'p':
        out += std::to_string(m->partition);
        break;
      case 'o':
        out += std::to_string(m->offset);
        break;
      case 'k':
        if (m->key) out.append(static_cast<const char*>(m->key), m->key_len);
        break;
      case 's':
        if (m->payload) out.append(static_cast<const char*>(m->payload), m->len);
        break;
      case 'T':
        out += std::to_string(rd_kafka_message_timestamp(m, nullptr));
        break;
      case 'h': {
        bool first = true;
        for (const auto& [k, v] : headers_of(m)) {
          if (!first) out += ',';
          first = false;
          out += k + "=" + v.value_or("");
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}

std::string envelope(const rd_kafka_message_t* m) {
  auto hs = json::array();
  for (const auto& [k, v] : headers_of(m)) {
    hs.item(json::object().str("key", k).raw("value", v ? json_string(*v) : "null").done());
  }
  return json::object()
             .str("topic", rd_kafka_topic_name(m->rkt))
             .num("partition", m->partition)
             .num("offset", m->offset)
             .num("timestamp", rd_kafka_message_timestamp(m, nullptr))
             .raw("key", json_string(m->key, m->key_len))
             .raw("value", json_string(m->payload, m->len))
             .raw("headers", hs.done())
             .done() +
         "\n";
}

// Set by the first rebalance: the group coordinator answered and the member joined (maybe
// with no partitions). Rebalances run inside rd_kafka_consumer_poll, on this thread.
bool joined_group = false;

void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                  rd_kafka_topic_partition_list_t* partitions, void*) {
  const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    joined_group = true;
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_assign(rk, partitions)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, partitions);
    }
  } else if (cooperative) {
    if (auto* e = rd_kafka_incremental_unassign(rk, partitions)) rd_kafka_error_destroy(e);
  } else {
    rd_kafka_assign(rk, nullptr);
  }
}

volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) {
  stop_requested = 1;
}

// The starting offsets for the partitions of a consumer without a group.
rd_kafka_topic_partition_list_t* start_list(const client& c, const consume_options& o,
                                            const std::vector<int32_t>& partitions,
                                            const start_position& at) {
  auto* list = rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
  for (int32_t p : partitions) {
    auto* tp = rd_kafka_topic_partition_list_add(list, o.topic.c_str(), p);
    switch (at.k) {
      case start_position::beginning:
        tp->offset = RD_KAFKA_OFFSET_BEGINNING;
        break;
      case start_position::end:
        tp->offset = RD_KAFKA_OFFSET_END;
        break;
      case start_position::absolute:
        tp->offset = at.n;
        break;
      case start_position::from_end:
        tp->offset = RD_KAFKA_OFFSET_TAIL(at.n);
        break;
      case start_position::timestamp:
        tp->offset = at.n;
        break;
    }
  }
  if (at.k == start_position::timestamp) {
    auto err = rd_kafka_offsets_for_times(c.get(), list, c.timeout_ms());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_topic_partition_list_destroy(list);
      fail("cannot find the offsets at timestamp " + std::to_string(at.n) + ": " +
           rd_kafka_err2str(err));
    }
    for (int i = 0; i < list->cnt; ++i) {
      if (list->elems[i].offset < 0) list->elems[i].offset = RD_KAFKA_OFFSET_END;
    }
  }
  return list;
}

void consume(consume_options& o, bool idle_timeout) {
  const auto at = parse_offset(o.offset);
  const auto parts = compile_format(o.format);
  const bool grouped = !o.group.empty();
  if (grouped && at.k != start_position::beginning && at.k != start_position::end) {
    usage_error("--offset " + o.offset +
                " cannot be used with --group: a group resumes at its "
                "committed offsets; move them with `riptide group seek`");
  }
  if (grouped && o.partition) {
    usage_error("--partition cannot be used with --group: the group assigns the partitions");
  }
  std::vector<std::pair<std::string, std::string>> props{{"enable.partition.eof", "true"}};
  if (grouped) {
    props.push_back({"group.id", o.group});
    props.push_back({"auto.offset.reset", at.k == start_position::end ? "latest" : "earliest"});
  } else {
    props.push_back({"enable.auto.commit", "false"});
  }
  client c(o.common, RD_KAFKA_CONSUMER, props, [grouped](rd_kafka_conf_t* conf) {
    if (grouped) rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  });
  std::vector<int32_t> partitions;
  {
    auto md = c.metadata(&o.topic);
    const auto& t = c.topic_metadata(*md, o.topic);
    if (o.partition && *o.partition >= t.partition_cnt) {
      usage_error("invalid --partition " + std::to_string(*o.partition) + ": topic '" + o.topic +
                  "' has partitions 0 to " + std::to_string(t.partition_cnt - 1));
    }
    for (int i = 0; i < t.partition_cnt; ++i) {
      if (!o.partition || t.partitions[i].id == *o.partition)
        partitions.push_back(t.partitions[i].id);
    }
  }
  // Without a group: librdkafka's simple consumer reads the partitions from the positions
  // asked for, without a group coordinator. With one: the balanced consumer.
  rd_kafka_queue_t* queue = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  if (grouped) {
    rd_kafka_poll_set_consumer(c.get());
    auto* sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
    const auto err = rd_kafka_subscribe(c.get(), sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail("cannot join group '" + o.group + "': " + rd_kafka_err2str(err));
    }
  } else {
    auto* list = start_list(c, o, partitions, at);
    queue = rd_kafka_queue_new(c.get());
    rkt = rd_kafka_topic_new(c.get(), o.topic.c_str(), nullptr);
    for (int i = 0; i < list->cnt; ++i) {
      if (rd_kafka_consume_start_queue(rkt, list->elems[i].partition, list->elems[i].offset,
                                       queue) != 0) {
        const auto err = rd_kafka_last_error();
        rd_kafka_topic_partition_list_destroy(list);
        fail("cannot start consuming topic '" + o.topic + "': " + rd_kafka_err2str(err));
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const bool tty = isatty(STDOUT_FILENO) == 1;
  std::map<int32_t, bool> at_end;
  int64_t printed = 0;
  auto last_activity = std::chrono::steady_clock::now();
  std::string failure_message;
  // A group member waits for the coordinator at least 10s (a first join takes a few seconds);
  // the idle --timeout counts from the join.
  const auto started = std::chrono::steady_clock::now();
  const int64_t join_ms = std::max<int64_t>(o.common.timeout_ms, 10000);
  bool counted_join = false;
  while (!stop_requested && !(o.count && printed >= *o.count)) {
    if (grouped && joined_group && !counted_join) {
      counted_join = true;
      last_activity = std::chrono::steady_clock::now();
    }
    if (grouped && !joined_group &&
        std::chrono::steady_clock::now() - started > std::chrono::milliseconds(join_ms)) {
      failure_message = "could not join group '" + o.group + "' within " +
                        base::format_duration_ms(join_ms) + ": does the broker at " +
                        o.common.brokers +
                        " run a group coordinator? consume without --group to read the topic "
                        "directly";
      break;
    }
    rd_kafka_message_t* m =
        grouped ? rd_kafka_consumer_poll(c.get(), 100) : rd_kafka_consume_queue(queue, 100);
    if (m == nullptr) {
      std::fflush(stdout);
      if (idle_timeout && (!grouped || joined_group) &&
          std::chrono::steady_clock::now() - last_activity >=
              std::chrono::milliseconds(o.common.timeout_ms)) {
        break;
      }
      continue;
    }
    last_activity = std::chrono::steady_clock::now();
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      at_end[m->partition] = true;
      rd_kafka_message_destroy(m);
      if (o.exit_at_end) {
        size_t assigned = partitions.size();
        if (grouped) {
          rd_kafka_topic_partition_list_t* a = nullptr;
          if (rd_kafka_assignment(c.get(), &a) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            assigned = static_cast<size_t>(a->cnt);
            for (int i = 0; i < a->cnt; ++i) {
              if (!at_end[a->elems[i].partition]) assigned = 0;
            }
            rd_kafka_topic_partition_list_destroy(a);
          }
          if (assigned > 0) break;
        } else {
          size_t done = 0;
          for (int32_t p : partitions) done += at_end[p] ? 1 : 0;
          if (done == assigned) break;
        }
      }
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const auto e = m->err;
      const std::string why = rd_kafka_message_errstr(m);
      rd_kafka_message_destroy(m);
      if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        failure_message = "topic '" + o.topic + "' no longer exists";
        break;
      }
      if (e == RD_KAFKA_RESP_ERR__FATAL || e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
          e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        failure_message = "consuming topic '" + o.topic + "' failed: " + why;
        break;
      }
      continue;  // transient: librdkafka retries
    }
    at_end[m->partition] = false;
    const std::string out = o.common.json ? envelope(m) : render(parts, m);
    rd_kafka_message_destroy(m);
    std::fwrite(out.data(), 1, out.size(), stdout);
    if (tty) std::fflush(stdout);
    ++printed;
  }
  std::fflush(stdout);
  if (grouped) {
    rd_kafka_consumer_close(c.get());
  } else {
    for (int32_t p : partitions) rd_kafka_consume_stop(rkt, p);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_queue_destroy(queue);
  }
  if (!failure_message.empty()) fail(failure_message);
}

}  // namespace

void declare_consume(CLI::App& cmd, action& run) {
  auto o = std::make_shared<consume_options>();
  cmd.add_option("topic", o->topic, "Topic to read.")->required();
  cmd.add_option("--offset,-o", o->offset,
                 "Where to start: beginning, end, N (an offset), -N (N before the end of each "
                 "partition) or @TIMESTAMP_MS (the first message at or after that time).")
      ->capture_default_str();
  cmd.add_option("--partition,-p", o->partition, "Read only this partition [default: all].")
      ->check(CLI::Range(0, 1 << 20));
  cmd.add_option("--group,-G", o->group,
                 "Consume as a member of this consumer group, resuming at and committing its "
                 "offsets; --offset beginning|end applies when the group has none.");
  cmd.add_option("--count,-c", o->count, "Stop after this many messages.")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()));
  cmd.add_flag("--exit-at-end,-e", o->exit_at_end,
               "Stop when every partition has been read to its end.");
  auto* timeout = cmd.add_option(
      "--timeout", o->common.timeout,
      "Stop when no message has arrived for this long, e.g. 5s [default: wait forever]; also "
      "bounds the wait for the broker (10s when not given).");
  timeout->type_name("DURATION");
  cmd.add_option("--format,-f", o->format,
                 "Output template: %t topic, %p partition, %o offset, %k key, %s value, %T "
                 "timestamp (ms), %h headers (k=v,k=v), %% a percent sign; escapes \\n \\t \\r "
                 "\\0 \\\\.")
      ->capture_default_str();
  add_common_options(cmd, o->common, false);
  cmd.get_option("--json")
      ->description(
          "One JSON object per message: topic, partition, offset, timestamp, key, "
          "value, headers.")
      ->excludes("--format");
  on_run(cmd, run, o->common, [o, timeout] { consume(*o, timeout->count() > 0); });
}

}  // namespace cli
