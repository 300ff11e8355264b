#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/create_topics_request.h"
#include "kafka/protocol/generated/create_topics_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

using creatable_topic = protocol::create_topics_request::creatable_topic;

// Manual replica assignments are accepted when they describe what this node would do
// anyway: partitions 0..n-1, each once, each on this node alone.
std::optional<std::pair<error_code, std::string>> check_assignments(const creatable_topic& topic,
                                                                    int32_t node_id) {
  if (topic.num_partitions != -1 || topic.replication_factor != -1) {
    return std::pair{error_code::invalid_request,
                     std::string("Both numPartitions or replicationFactor and "
                                 "replicasAssignments were set. Both cannot be used at the "
                                 "same time.")};
  }
  std::vector<bool> seen(topic.assignments.size());
  for (const auto& a : topic.assignments) {
    if (a.partition_index < 0 || static_cast<size_t>(a.partition_index) >= seen.size() ||
        seen[static_cast<size_t>(a.partition_index)]) {
      return std::pair{
          error_code::invalid_replica_assignment,
          "partitions must be numbered 0 to " + std::to_string(seen.size() - 1) + ", each once"};
    }
    seen[static_cast<size_t>(a.partition_index)] = true;
    if (a.broker_ids.size() != 1 || a.broker_ids[0] != node_id) {
      return std::pair{error_code::invalid_replica_assignment,
                       "partition " + std::to_string(a.partition_index) +
                           ": a single node can only place one replica, on broker " +
                           std::to_string(node_id)};
    }
  }
  return std::nullopt;
}

}  // namespace

net::task<handler_result> create_topics(request_context& ctx) {
  protocol::create_topics_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::create_topics_response resp;
  const size_t per_request =
      static_cast<size_t>(ctx.broker.options().limits.max_topics_per_request);
  for (size_t i = 0; i < req.topics.size(); ++i) {
    const auto& topic = req.topics[i];
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    if (i >= per_request && !req.validate_only) {
      // THROTTLING_QUOTA_EXCEEDED (v6+) tells a client to send these again; older
      // versions cannot carry it.
      const auto refused = ctx.broker.refuse_over_request_limit(topic.name, "CreateTopics");
      rt.error_code =
          code(ctx.api_version >= 6 ? to_kafka_error(refused.error) : error_code::policy_violation);
      rt.error_message = refused.text();
      continue;
    }
    broker::config_map configs;
    std::optional<std::string> problem;
    for (const auto& c : topic.configs) {
      if (!c.value) continue;
      if (auto p = broker::validate_topic_config(c.name, *c.value)) problem = p;
      configs[c.name] = *c.value;
    }
    int32_t partitions =
        topic.num_partitions == -1 ? ctx.broker.options().default_partitions : topic.num_partitions;
    broker::admin_result ec;
    error_code direct = error_code::none;  // a refusal with no broker error behind it
    if (!topic.assignments.empty()) {
      partitions = static_cast<int32_t>(topic.assignments.size());
      if (auto bad = check_assignments(topic, ctx.server.node_id)) {
        direct = bad->first;
        problem = std::move(bad->second);
      }
    }
    if (direct != error_code::none) {
      // already refused
    } else if (topic.replication_factor != -1 && topic.replication_factor != 1) {
      ec = broker::errc::invalid_replication_factor;
      problem = "replication factor must be 1 on a single node, got " +
                std::to_string(topic.replication_factor);
    } else if (problem) {
      ec = broker::errc::invalid_config;
    } else if (auto bad_name = broker::validate_topic_name(topic.name)) {
      ec = broker::errc::invalid_topic_name;
      problem = bad_name;
    } else {
      ec = co_await ctx.broker.create_topic(ctx.who, topic.name, partitions, configs,
                                            req.validate_only);
    }
    if (direct != error_code::none) {
      rt.error_code = code(direct);
      rt.error_message = problem;
      continue;
    }
    rt.error_code = code(to_kafka_error(ec.error));
    if (!ec.ok()) {
      rt.error_message = problem.value_or(ec.text());
      continue;
    }
    rt.num_partitions = partitions;
    rt.replication_factor = 1;
    if (auto t = ctx.broker.metadata()->find(topic.name)) rt.topic_id = t->id;
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
