// riptide topic create|list|describe|delete|alter-config|add-partitions|trim

#include <algorithm>
#include <map>
#include <memory>

#include "base/config.h"
#include "cli/client.h"

namespace cli {
namespace {

struct topic_options {
  common_options common;
  std::vector<std::string> names;
  std::optional<int32_t> partitions;   // create: absent means the broker's default
  std::optional<int16_t> replication;  // create: absent means the broker's default
  std::vector<std::string> configs;    // create: --config k=v
  std::vector<std::string> sets;       // alter-config: --set k=v
  std::vector<std::string> deletes;    // alter-config: --delete k
  int32_t count = 0;                   // add-partitions: --count
  std::string before;                  // trim: an offset, or "end"
  std::optional<int32_t> partition;    // trim: one partition instead of all
};

using admin_options_ptr =
    std::unique_ptr<rd_kafka_AdminOptions_t, void (*)(rd_kafka_AdminOptions_t*)>;

admin_options_ptr admin_opts(const client& c, rd_kafka_admin_op_t op) {
  return {c.admin_options(op), rd_kafka_AdminOptions_destroy};
}

// Fails with a message naming the topic and the fix for the errors users meet.
void check_topic_results(const rd_kafka_topic_result_t** results, size_t n,
                         const std::string& doing) {
  for (size_t i = 0; i < n; ++i) {
    const auto err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    const std::string name = rd_kafka_topic_result_name(results[i]);
    const char* detail = rd_kafka_topic_result_error_string(results[i]);
    const std::string why = detail != nullptr && *detail ? detail : rd_kafka_err2str(err);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && doing == "delete") {
      fail("topic '" + name + "' does not exist: see `riptide topic list`");
    }
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) fail_unknown_topic(name);
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      fail("topic '" + name + "' already exists: see `riptide topic describe " + name + "`");
    }
    fail("cannot " + doing + " topic '" + name + "': " + why);
  }
}

void create(topic_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  const std::string& name = o.names.front();
  char err[512];
  // Usage errors (a bad --config) throw: the new-topic object must not leak then.
  std::unique_ptr<rd_kafka_NewTopic_t, decltype(&rd_kafka_NewTopic_destroy)> nt(
      rd_kafka_NewTopic_new(name.c_str(), o.partitions.value_or(-1), o.replication.value_or(-1),
                            err, sizeof err),
      &rd_kafka_NewTopic_destroy);
  if (!nt) usage_error("cannot create topic '" + name + "': " + err);
  for (const auto& kv : o.configs) {
    auto [k, v] = split_assignment(kv, "--config");
    rd_kafka_NewTopic_set_config(nt.get(), k.c_str(), v.c_str());
  }
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_NewTopic_t* raw = nt.get();
  event_guard ev{
      c.admin([&](rd_kafka_queue_t* q) { rd_kafka_CreateTopics(c.get(), &raw, 1, opts.get(), q); },
              "create topic '" + name + "'")};
  nt.reset();
  size_t n = 0;
  const auto** res =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.ev), &n);
  check_topic_results(res, n, "create");
  int partitions = o.partitions.value_or(0);
  if (!o.partitions) {
    auto md = c.metadata(&name);
    partitions = c.topic_metadata(*md, name).partition_cnt;
  }
  if (o.common.json) {
    std::puts(json::object().str("topic", name).num("partitions", partitions).done().c_str());
  } else {
    std::printf("created topic '%s' with %d partition%s\n", name.c_str(), partitions,
                partitions == 1 ? "" : "s");
  }
}

void list(topic_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  auto md = c.metadata(nullptr);
  std::map<std::string, int> topics;
  for (int i = 0; i < (*md)->topic_cnt; ++i) {
    topics[(*md)->topics[i].topic] = (*md)->topics[i].partition_cnt;
  }
  if (o.common.json) {
    auto arr = json::array();
    for (const auto& [name, n] : topics) {
      arr.item(json::object().str("topic", name).num("partitions", n).done());
    }
    std::puts(arr.done().c_str());
    return;
  }
  table t({"TOPIC", "PARTITIONS"});
  for (const auto& [name, n] : topics) t.add({name, std::to_string(n)});
  t.print();
}

struct config_row {
  std::string name;
  std::optional<std::string> value;
  std::string source;
  bool is_default;
  bool overridden;  // set on the topic itself
};

std::vector<config_row> describe_configs(const client& c, const std::string& topic) {
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
  event_guard ev{c.admin(
      [&](rd_kafka_queue_t* q) { rd_kafka_DescribeConfigs(c.get(), &res, 1, opts.get(), q); },
      "describe the configs of topic '" + topic + "'")};
  rd_kafka_ConfigResource_destroy(res);
  size_t n = 0;
  const auto** out =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev.ev), &n);
  std::vector<config_row> rows;
  for (size_t i = 0; i < n; ++i) {
    const auto err = rd_kafka_ConfigResource_error(out[i]);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) fail_unknown_topic(topic);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail("cannot describe the configs of topic '" + topic +
           "': " + rd_kafka_ConfigResource_error_string(out[i]));
    }
    size_t cnt = 0;
    const auto** entries = rd_kafka_ConfigResource_configs(out[i], &cnt);
    for (size_t k = 0; k < cnt; ++k) {
      const char* v = rd_kafka_ConfigEntry_value(entries[k]);
      const auto src = rd_kafka_ConfigEntry_source(entries[k]);
      rows.push_back(
          {rd_kafka_ConfigEntry_name(entries[k]), v ? std::optional<std::string>(v) : std::nullopt,
           rd_kafka_ConfigSource_name(src), rd_kafka_ConfigEntry_is_default(entries[k]) != 0,
           src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG});
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const config_row& a, const config_row& b) { return a.name < b.name; });
  return rows;
}

void describe(topic_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  const std::string& name = o.names.front();
  auto md = c.metadata(&name);
  const auto& t = c.topic_metadata(*md, name);
  std::vector<const rd_kafka_metadata_partition_t*> parts;
  for (int i = 0; i < t.partition_cnt; ++i) parts.push_back(&t.partitions[i]);
  std::sort(parts.begin(), parts.end(), [](auto* a, auto* b) { return a->id < b->id; });
  const auto configs = describe_configs(c, name);
  if (o.common.json) {
    auto ps = json::array();
    for (const auto* p : parts) {
      auto [lo, hi] = c.watermarks(name, p->id);
      ps.item(json::object()
                  .num("partition", p->id)
                  .num("leader", p->leader)
                  .num("log_start", lo)
                  .num("log_end", hi)
                  .done());
    }
    auto cs = json::array();
    for (const auto& r : configs) {
      cs.item(json::object()
                  .str("name", r.name)
                  .raw("value", r.value ? json_string(*r.value) : "null")
                  .str("source", r.source)
                  .boolean("default", r.is_default)
                  .done());
    }
    std::puts(json::object()
                  .str("topic", name)
                  .raw("partitions", ps.done())
                  .raw("configs", cs.done())
                  .done()
                  .c_str());
    return;
  }
  std::printf("Topic: %s  Partitions: %d\n\n", name.c_str(), t.partition_cnt);
  table pt({"PARTITION", "LEADER", "LOG-START", "LOG-END", "MESSAGES"});
  for (const auto* p : parts) {
    auto [lo, hi] = c.watermarks(name, p->id);
    pt.add({std::to_string(p->id), std::to_string(p->leader), std::to_string(lo),
            std::to_string(hi), std::to_string(hi - lo)});
  }
  pt.print();
  std::printf("\n");
  table ct({"CONFIG", "VALUE", "SOURCE"});
  for (const auto& r : configs) ct.add({r.name, r.value.value_or("(null)"), r.source});
  ct.print();
}

void remove(topic_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  std::vector<rd_kafka_DeleteTopic_t*> dts;
  for (const auto& n : o.names) dts.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_DELETETOPICS);
  event_guard ev{c.admin(
      [&](rd_kafka_queue_t* q) {
        rd_kafka_DeleteTopics(c.get(), dts.data(), dts.size(), opts.get(), q);
      },
      "delete topics")};
  rd_kafka_DeleteTopic_destroy_array(dts.data(), dts.size());
  size_t n = 0;
  const auto** res =
      rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev.ev), &n);
  check_topic_results(res, n, "delete");
  if (o.common.json) {
    auto arr = json::array();
    for (const auto& name : o.names) arr.item(json_string(name));
    std::puts(json::object().raw("deleted", arr.done()).done().c_str());
  } else {
    for (const auto& name : o.names) std::printf("deleted topic '%s'\n", name.c_str());
  }
}

// The broker's AlterConfigs replaces a topic's whole set of overrides, so the new set is the
// current overrides with --set and --delete applied.
void alter_config(topic_options& o) {
  if (o.sets.empty() && o.deletes.empty()) {
    usage_error("nothing to change: give --set KEY=VALUE or --delete KEY");
  }
  client c(o.common, RD_KAFKA_PRODUCER);
  const std::string& name = o.names.front();
  std::map<std::string, std::string> overrides;
  for (const auto& r : describe_configs(c, name)) {
    if (r.overridden && r.value) overrides[r.name] = *r.value;
  }
  for (const auto& k : o.deletes) overrides.erase(k);
  for (const auto& kv : o.sets) {
    auto [k, v] = split_assignment(kv, "--set");
    overrides[k] = v;
  }
  rd_kafka_ConfigResource_t* res =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
  for (const auto& [k, v] : overrides)
    rd_kafka_ConfigResource_set_config(res, k.c_str(), v.c_str());
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
  event_guard ev{
      c.admin([&](rd_kafka_queue_t* q) { rd_kafka_AlterConfigs(c.get(), &res, 1, opts.get(), q); },
              "alter the configs of topic '" + name + "'")};
  rd_kafka_ConfigResource_destroy(res);
  size_t n = 0;
  const auto** out =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev.ev), &n);
  for (size_t i = 0; i < n; ++i) {
    const auto err = rd_kafka_ConfigResource_error(out[i]);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) fail_unknown_topic(name);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail("cannot alter the configs of topic '" + name +
           "': " + rd_kafka_ConfigResource_error_string(out[i]));
    }
  }
  if (o.common.json) {
    auto obj = json::object();
    for (const auto& [k, v] : overrides) obj.str(k, v);
    std::puts(json::object().str("topic", name).raw("overrides", obj.done()).done().c_str());
  } else {
    std::printf("updated topic '%s'; its overrides are now:%s\n", name.c_str(),
                overrides.empty() ? " (none)" : "");
    for (const auto& [k, v] : overrides) std::printf("  %s=%s\n", k.c_str(), v.c_str());
  }
}

void add_partitions(topic_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  const std::string& name = o.names.front();
  char err[512];
  rd_kafka_NewPartitions_t* np =
      rd_kafka_NewPartitions_new(name.c_str(), static_cast<size_t>(o.count), err, sizeof err);
  if (np == nullptr) usage_error("invalid --count: " + std::string(err));
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
  event_guard ev{c.admin(
      [&](rd_kafka_queue_t* q) { rd_kafka_CreatePartitions(c.get(), &np, 1, opts.get(), q); },
      "add partitions to topic '" + name + "'")};
  rd_kafka_NewPartitions_destroy(np);
  size_t n = 0;
  const auto** res =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev.ev), &n);
  check_topic_results(res, n, "add partitions to");
  if (o.common.json) {
    std::puts(json::object().str("topic", name).num("partitions", o.count).done().c_str());
  } else {
    std::printf("topic '%s' now has %d partitions\n", name.c_str(), o.count);
  }
}

// DeleteRecords: every record below --before (an offset, or "end" for the high
// watermark) becomes unreadable and whole segments below it are deleted.
void trim(topic_options& o) {
  int64_t before = -1;
  if (o.before != "end") {
    auto n = base::parse_integer(o.before);
    if (!n || *n < 0)
      usage_error("--before must be an offset (0 or more) or \"end\", got '" + o.before + "'");
    before = *n;
  }
  client c(o.common, RD_KAFKA_PRODUCER);
  const std::string& name = o.names.front();
  auto md = c.metadata(&name);
  const auto& t = c.topic_metadata(*md, name);
  if (o.partition && (*o.partition < 0 || *o.partition >= t.partition_cnt)) {
    fail("topic '" + name + "' has no partition " + std::to_string(*o.partition) + " (it has " +
         std::to_string(t.partition_cnt) + ")");
  }
  std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>
      offsets(rd_kafka_topic_partition_list_new(t.partition_cnt),
              rd_kafka_topic_partition_list_destroy);
  for (int i = 0; i < t.partition_cnt; ++i) {
    const int32_t p = t.partitions[i].id;
    if (o.partition && p != *o.partition) continue;
    rd_kafka_topic_partition_list_add(offsets.get(), name.c_str(), p)->offset = before;
  }
  rd_kafka_DeleteRecords_t* del = rd_kafka_DeleteRecords_new(offsets.get());
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_DELETERECORDS);
  event_guard ev{
      c.admin([&](rd_kafka_queue_t* q) { rd_kafka_DeleteRecords(c.get(), &del, 1, opts.get(), q); },
              "trim topic '" + name + "'")};
  rd_kafka_DeleteRecords_destroy(del);
  const auto* res =
      rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev.ev));
  std::vector<std::pair<int32_t, int64_t>> starts;
  for (int i = 0; res != nullptr && i < res->cnt; ++i) {
    const auto& e = res->elems[i];
    if (e.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
      auto [lo, hi] = c.watermarks(name, e.partition);
      fail("cannot trim partition " + std::to_string(e.partition) + " of '" + name +
           "' before offset " + std::to_string(before) + ": its end is " + std::to_string(hi) +
           "; give an offset up to it, or --before end");
    }
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail("cannot trim partition " + std::to_string(e.partition) + " of '" + name +
           "': " + rd_kafka_err2str(e.err));
    }
    starts.emplace_back(e.partition, e.offset);
  }
  std::sort(starts.begin(), starts.end());
  if (o.common.json) {
    auto ps = json::array();
    for (const auto& [p, start] : starts) {
      ps.item(json::object().num("partition", p).num("log_start", start).done());
    }
    std::puts(json::object().str("topic", name).raw("partitions", ps.done()).done().c_str());
    return;
  }
  for (const auto& [p, start] : starts) {
    std::printf("topic '%s' partition %d now starts at offset %lld\n", name.c_str(), p,
                static_cast<long long>(start));
  }
}

CLI::App* sub(CLI::App& parent, action& run, const std::shared_ptr<topic_options>& o,
              const char* name, const char* help, void (*fn)(topic_options&), bool many = false) {
  auto* cmd = parent.add_subcommand(name, help);
  cmd->add_option("topic", o->names, many ? "Topic names." : "Topic name.")
      ->required()
      ->expected(1, many ? 1 << 20 : 1);
  add_common_options(*cmd, o->common);
  on_run(*cmd, run, o->common, [o, fn] { fn(*o); });
  return cmd;
}

}  // namespace

void declare_topic(CLI::App& cmd, action& run) {
  cmd.require_subcommand(1);
  auto o = std::make_shared<topic_options>();
  auto* c = sub(cmd, run, o, "create", "Create a topic.", create);
  c->add_option("--partitions,-p", o->partitions,
                "Number of partitions [default: the broker's, topics.default_partitions].")
      ->check(CLI::Range(1, 1 << 20));
  c->add_option("--replication-factor", o->replication,
                "Replicas per partition [default: the broker's].")
      ->check(CLI::Range(1, 32767));
  c->add_option("--config,-c", o->configs, "Topic config KEY=VALUE (repeatable).")
      ->type_name("KEY=VALUE");

  auto* l = cmd.add_subcommand("list", "List topics with their partition counts.");
  add_common_options(*l, o->common);
  on_run(*l, run, o->common, [o] { list(*o); });

  sub(cmd, run, o, "describe",
      "Show a topic's partitions (leader, log-start and log-end offsets) and configs.", describe);
  sub(cmd, run, o, "delete", "Delete one or more topics.", remove, true);

  auto* a =
      sub(cmd, run, o, "alter-config", "Set or remove config overrides of a topic.", alter_config);
  a->add_option("--set", o->sets, "Set KEY=VALUE (repeatable).")->type_name("KEY=VALUE");
  a->add_option("--delete", o->deletes, "Remove the override of KEY (repeatable).")
      ->type_name("KEY");

  auto* tr = sub(cmd, run, o, "trim",
                 "Delete the records below an offset (DeleteRecords) in every partition, or in "
                 "one with --partition.",
                 trim);
  tr->add_option("--before", o->before, "Offset to keep from, or \"end\" to delete everything.")
      ->required()
      ->type_name("OFFSET|end");
  tr->add_option("--partition", o->partition, "Only this partition.");

  auto* p = sub(cmd, run, o, "add-partitions", "Grow a topic to a total number of partitions.",
                add_partitions);
  p->add_option("--count", o->count, "The new total number of partitions.")
      ->required()
      ->check(CLI::Range(1, 1 << 20));
}

}  // namespace cli
