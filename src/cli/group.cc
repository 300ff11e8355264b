// riptide group list|describe|seek|delete: consumer groups through the admin API.

#include <algorithm>
#include <map>
#include <memory>

#include "base/config.h"
#include "cli/client.h"

namespace cli {
namespace {

struct group_options {
  common_options common;
  std::vector<std::string> groups;
  std::vector<std::string> topics;  // seek: --topic T or T:P
  std::string to;                   // seek: --to beginning|end|N
};

using admin_options_ptr =
    std::unique_ptr<rd_kafka_AdminOptions_t, void (*)(rd_kafka_AdminOptions_t*)>;
using partition_list_ptr =
    std::unique_ptr<rd_kafka_topic_partition_list_t, void (*)(rd_kafka_topic_partition_list_t*)>;

admin_options_ptr admin_opts(const client& c, rd_kafka_admin_op_t op) {
  return {c.admin_options(op), rd_kafka_AdminOptions_destroy};
}

partition_list_ptr new_list(int size = 0) {
  return {rd_kafka_topic_partition_list_new(size), rd_kafka_topic_partition_list_destroy};
}

[[noreturn]] void fail_unknown_group(const std::string& group) {
  fail("group '" + group + "' does not exist: see `riptide group list`");
}

[[noreturn]] void fail_group(const std::string& group, const std::string& doing,
                             rd_kafka_resp_err_t err, const std::string& detail) {
  if (err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) fail_unknown_group(group);
  if (err == RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP || err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
      err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS) {
    fail("cannot " + doing + " group '" + group +
         "' while it has active members: stop its consumers first (" + detail + ")");
  }
  fail("cannot " + doing + " group '" + group + "': " + detail);
}

void check_group_result(const rd_kafka_group_result_t* r, const std::string& doing) {
  const std::string group = rd_kafka_group_result_name(r);
  if (const rd_kafka_error_t* e = rd_kafka_group_result_error(r)) {
    fail_group(group, doing, rd_kafka_error_code(e), rd_kafka_error_string(e));
  }
  if (const auto* parts = rd_kafka_group_result_partitions(r)) {
    for (int i = 0; i < parts->cnt; ++i) {
      const auto& p = parts->elems[i];
      if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_group(group, doing, p.err,
                   std::string(p.topic) + ":" + std::to_string(p.partition) + ": " +
                       rd_kafka_err2str(p.err));
      }
    }
  }
}

void list(group_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
  event_guard ev{
      c.admin([&](rd_kafka_queue_t* q) { rd_kafka_ListConsumerGroups(c.get(), opts.get(), q); },
              "list consumer groups")};
  const auto* res = rd_kafka_event_ListConsumerGroups_result(ev.ev);
  size_t nerr = 0;
  const auto** errors = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
  if (nerr > 0) {
    fail_request(o.common, "list consumer groups", rd_kafka_error_code(errors[0]),
                 rd_kafka_error_string(errors[0]));
  }
  size_t n = 0;
  const auto** groups = rd_kafka_ListConsumerGroups_result_valid(res, &n);
  std::vector<std::pair<std::string, std::string>> rows;
  for (size_t i = 0; i < n; ++i) {
    rows.emplace_back(
        rd_kafka_ConsumerGroupListing_group_id(groups[i]),
        rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupListing_state(groups[i])));
  }
  std::sort(rows.begin(), rows.end());
  if (o.common.json) {
    auto arr = json::array();
    for (const auto& [g, s] : rows) arr.item(json::object().str("group", g).str("state", s).done());
    std::puts(arr.done().c_str());
    return;
  }
  table t({"GROUP", "STATE"});
  for (const auto& [g, s] : rows) t.add({g, s});
  t.print();
}

struct partition_row {
  std::string topic;
  int32_t partition;
  int64_t committed;  // -1: none
  int64_t log_start, log_end;
  std::string member;
};

void describe(group_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  const std::string& group = o.groups.front();
  const char* names[] = {group.c_str()};
  auto dopts = admin_opts(c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  event_guard dev{c.admin(
      [&](rd_kafka_queue_t* q) {
        rd_kafka_DescribeConsumerGroups(c.get(), names, 1, dopts.get(), q);
      },
      "describe group '" + group + "'")};
  size_t n = 0;
  const auto** descs = rd_kafka_DescribeConsumerGroups_result_groups(
      rd_kafka_event_DescribeConsumerGroups_result(dev.ev), &n);
  if (n != 1) fail("cannot describe group '" + group + "': the broker returned no description");
  const auto* d = descs[0];
  if (const auto* e = rd_kafka_ConsumerGroupDescription_error(d)) {
    const auto code = rd_kafka_error_code(e);
    if (code == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE) {
      fail_request(o.common, "describe group '" + group + "'", code, rd_kafka_error_string(e));
    }
    fail_group(group, "describe", code, rd_kafka_error_string(e));
  }
  const auto state = rd_kafka_ConsumerGroupDescription_state(d);
  const char* assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);

  // Committed offsets of every partition the group has committed.
  auto* req = rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
  auto lopts = admin_opts(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  event_guard lev{c.admin(
      [&](rd_kafka_queue_t* q) {
        rd_kafka_ListConsumerGroupOffsets(c.get(), &req, 1, lopts.get(), q);
      },
      "read the offsets of group '" + group + "'")};
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  const auto** results = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(lev.ev), &n);
  std::map<std::pair<std::string, int32_t>, partition_row> rows;
  for (size_t i = 0; i < n; ++i) {
    check_group_result(results[i], "read the offsets of");
    const auto* parts = rd_kafka_group_result_partitions(results[i]);
    for (int k = 0; parts != nullptr && k < parts->cnt; ++k) {
      const auto& p = parts->elems[k];
      rows.insert_or_assign({p.topic, p.partition},
                            partition_row{p.topic, p.partition, p.offset, -1, -1, ""});
    }
  }
  // Members and the partitions assigned to them.
  struct member {
    std::string id, client_id, host;
    int assigned;
  };
  std::vector<member> members;
  for (size_t i = 0; i < rd_kafka_ConsumerGroupDescription_member_count(d); ++i) {
    const auto* m = rd_kafka_ConsumerGroupDescription_member(d, i);
    members.push_back({rd_kafka_MemberDescription_consumer_id(m),
                       rd_kafka_MemberDescription_client_id(m), rd_kafka_MemberDescription_host(m),
                       0});
    const auto* a = rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    for (int k = 0; a != nullptr && k < a->cnt; ++k) {
      const std::string topic = a->elems[k].topic;
      const int32_t partition = a->elems[k].partition;
      auto& r =
          rows.try_emplace({topic, partition}, partition_row{topic, partition, -1, -1, -1, ""})
              .first->second;
      r.member = members.back().id;
      ++members.back().assigned;
    }
  }
  if (state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD && rows.empty() && members.empty()) {
    fail_unknown_group(group);
  }
  for (auto& [tp, r] : rows) {
    try {
      std::tie(r.log_start, r.log_end) = c.watermarks(r.topic, r.partition);
    } catch (const failure&) {
      // A partition that no longer exists (its topic was deleted) keeps its committed offset.
    }
  }

  const auto lag = [](const partition_row& r) -> std::optional<int64_t> {
    if (r.committed < 0 || r.log_end < 0) return std::nullopt;
    return std::max<int64_t>(0, r.log_end - r.committed);
  };
  const std::string state_name = rd_kafka_consumer_group_state_name(state);
  if (o.common.json) {
    auto ps = json::array();
    for (const auto& [tp, r] : rows) {
      auto l = lag(r);
      ps.item(json::object()
                  .str("topic", r.topic)
                  .num("partition", r.partition)
                  .raw("committed", r.committed < 0 ? "null" : std::to_string(r.committed))
                  .num("log_start", r.log_start)
                  .num("log_end", r.log_end)
                  .raw("lag", l ? std::to_string(*l) : "null")
                  .raw("member", r.member.empty() ? "null" : json_string(r.member))
                  .done());
    }
    auto ms = json::array();
    for (const auto& m : members) {
      ms.item(json::object()
                  .str("member_id", m.id)
                  .str("client_id", m.client_id)
                  .str("host", m.host)
                  .num("partitions", m.assigned)
                  .done());
    }
    std::puts(json::object()
                  .str("group", group)
                  .str("state", state_name)
                  .str("assignor", assignor ? assignor : "")
                  .raw("members", ms.done())
                  .raw("partitions", ps.done())
                  .done()
                  .c_str());
    return;
  }
  std::printf("Group: %s  State: %s  Assignor: %s  Members: %zu\n\n", group.c_str(),
              state_name.c_str(), assignor && *assignor ? assignor : "-", members.size());
  table t({"TOPIC", "PARTITION", "COMMITTED", "LOG-START", "LOG-END", "LAG", "MEMBER"});
  for (const auto& [tp, r] : rows) {
    auto l = lag(r);
    t.add({r.topic, std::to_string(r.partition),
           r.committed < 0 ? "-" : std::to_string(r.committed), std::to_string(r.log_start),
           std::to_string(r.log_end), l ? std::to_string(*l) : "-",
           r.member.empty() ? "-" : r.member});
  }
  t.print();
  if (!members.empty()) {
    std::printf("\n");
    table mt({"MEMBER", "CLIENT-ID", "HOST", "PARTITIONS"});
    for (const auto& m : members) mt.add({m.id, m.client_id, m.host, std::to_string(m.assigned)});
    mt.print();
  }
}

void seek(group_options& o) {
  const std::string& group = o.groups.front();
  enum { beginning, end, absolute } to = absolute;
  int64_t offset = 0;
  if (o.to == "beginning") {
    to = beginning;
  } else if (o.to == "end") {
    to = end;
  } else if (auto n = base::parse_integer(o.to); n && *n >= 0) {
    offset = *n;
  } else {
    usage_error("invalid --to \"" + o.to + "\": expected beginning, end or an offset N >= 0");
  }
  // Parse every --topic before connecting.
  std::vector<std::pair<std::string, std::optional<int32_t>>> wanted;
  for (const auto& t : o.topics) {
    const auto colon = t.rfind(':');
    if (colon == std::string::npos) {
      wanted.emplace_back(t, std::nullopt);
      continue;
    }
    auto p = base::parse_integer(std::string_view(t).substr(colon + 1));
    if (colon == 0 || !p || *p < 0 || *p > (1 << 20)) {
      usage_error("invalid --topic \"" + t + "\": expected TOPIC or TOPIC:PARTITION");
    }
    wanted.emplace_back(t.substr(0, colon), static_cast<int32_t>(*p));
  }
  client c(o.common, RD_KAFKA_PRODUCER);
  auto md = c.metadata(nullptr);
  auto list = new_list();
  for (const auto& [topic, partition] : wanted) {
    const auto& tm = c.topic_metadata(*md, topic);
    for (int i = 0; i < tm.partition_cnt; ++i) {
      const int32_t id = tm.partitions[i].id;
      if (partition && id != *partition) continue;
      auto [lo, hi] = c.watermarks(topic, id);
      const int64_t target = to == beginning ? lo : to == end ? hi : std::clamp(offset, lo, hi);
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), id)->offset = target;
    }
    if (partition && (*partition >= tm.partition_cnt)) {
      usage_error("invalid --topic " + topic + ":" + std::to_string(*partition) + ": topic '" +
                  topic + "' has partitions 0 to " + std::to_string(tm.partition_cnt - 1));
    }
  }
  rd_kafka_topic_partition_list_sort(list.get(), nullptr, nullptr);
  auto* req = rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), list.get());
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
  event_guard ev{c.admin(
      [&](rd_kafka_queue_t* q) {
        rd_kafka_AlterConsumerGroupOffsets(c.get(), &req, 1, opts.get(), q);
      },
      "set the offsets of group '" + group + "'")};
  rd_kafka_AlterConsumerGroupOffsets_destroy(req);
  size_t n = 0;
  const auto** results = rd_kafka_AlterConsumerGroupOffsets_result_groups(
      rd_kafka_event_AlterConsumerGroupOffsets_result(ev.ev), &n);
  for (size_t i = 0; i < n; ++i) check_group_result(results[i], "set the offsets of");
  if (o.common.json) {
    auto arr = json::array();
    for (int i = 0; i < list->cnt; ++i) {
      arr.item(json::object()
                   .str("topic", list->elems[i].topic)
                   .num("partition", list->elems[i].partition)
                   .num("offset", list->elems[i].offset)
                   .done());
    }
    std::puts(json::object().str("group", group).raw("offsets", arr.done()).done().c_str());
    return;
  }
  table t({"TOPIC", "PARTITION", "NEW-OFFSET"});
  for (int i = 0; i < list->cnt; ++i) {
    t.add({list->elems[i].topic, std::to_string(list->elems[i].partition),
           std::to_string(list->elems[i].offset)});
  }
  t.print();
}

void remove(group_options& o) {
  client c(o.common, RD_KAFKA_PRODUCER);
  std::vector<rd_kafka_DeleteGroup_t*> dels;
  for (const auto& g : o.groups) dels.push_back(rd_kafka_DeleteGroup_new(g.c_str()));
  auto opts = admin_opts(c, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
  event_guard ev{c.admin(
      [&](rd_kafka_queue_t* q) {
        rd_kafka_DeleteGroups(c.get(), dels.data(), dels.size(), opts.get(), q);
      },
      "delete groups")};
  rd_kafka_DeleteGroup_destroy_array(dels.data(), dels.size());
  size_t n = 0;
  const auto** results =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev.ev), &n);
  for (size_t i = 0; i < n; ++i) check_group_result(results[i], "delete");
  if (o.common.json) {
    auto arr = json::array();
    for (const auto& g : o.groups) arr.item(json_string(g));
    std::puts(json::object().raw("deleted", arr.done()).done().c_str());
  } else {
    for (const auto& g : o.groups) std::printf("deleted group '%s'\n", g.c_str());
  }
}

CLI::App* sub(CLI::App& parent, action& run, const std::shared_ptr<group_options>& o,
              const char* name, const char* help, void (*fn)(group_options&), bool many = false) {
  auto* cmd = parent.add_subcommand(name, help);
  cmd->add_option("group", o->groups, many ? "Group ids." : "Group id.")
      ->required()
      ->expected(1, many ? 1 << 20 : 1);
  add_common_options(*cmd, o->common);
  on_run(*cmd, run, o->common, [o, fn] { fn(*o); });
  return cmd;
}

}  // namespace

void declare_group(CLI::App& cmd, action& run) {
  cmd.require_subcommand(1);
  auto o = std::make_shared<group_options>();
  auto* l = cmd.add_subcommand("list", "List consumer groups with their states.");
  add_common_options(*l, o->common);
  on_run(*l, run, o->common, [o] { list(*o); });
  sub(cmd, run, o, "describe",
      "Show a group's state, members and, per partition, committed offset, log-start, log-end "
      "and lag.",
      describe);
  auto* s = sub(cmd, run, o, "seek",
                "Set a group's committed offsets (the group must have no active members).", seek);
  s->add_option("--topic,-t", o->topics, "TOPIC (every partition) or TOPIC:PARTITION; repeatable.")
      ->required();
  s->add_option("--to", o->to, "beginning, end or an offset N (kept within log-start..log-end).")
      ->required();
  sub(cmd, run, o, "delete", "Delete consumer groups (they must have no active members).", remove,
      true);
}

}  // namespace cli
