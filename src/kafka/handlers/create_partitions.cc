#include <set>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/create_partitions_request.h"
#include "kafka/protocol/generated/create_partitions_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

// Kafka's wording for a count that does not grow the topic; `current` comes from this
// shard's snapshot, which may trail shard 0 by one publish.
std::string not_larger_message(int32_t current, int32_t requested) {
  if (requested == current) return "Topic already has " + std::to_string(current) + " partitions.";
  if (requested < current) {
    return "Topic currently has " + std::to_string(current) +
           " partitions, which is higher than the requested " + std::to_string(requested) + ".";
  }
  return "Requested partition count " + std::to_string(requested) + " is out of range";
}

}  // namespace

net::task<handler_result> create_partitions(request_context& ctx) {
  protocol::create_partitions_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  std::multiset<std::string> names;
  for (const auto& topic : req.topics) names.insert(topic.name);

  protocol::create_partitions_response resp;
  for (const auto& topic : req.topics) {
    auto& rt = resp.results.emplace_back();
    rt.name = topic.name;
    if (names.count(topic.name) > 1) {
      rt.error_code = code(error_code::invalid_request);
      rt.error_message = "Duplicate topic in request.";
      continue;
    }
    if (topic.assignments && !topic.assignments->empty()) {
      // Accepted when they place each new partition on this node alone.
      auto t = ctx.broker.metadata()->find(topic.name);
      const auto added = t ? topic.count - t->partitions : 0;
      std::optional<std::string> bad;
      if (t && static_cast<int64_t>(topic.assignments->size()) != added) {
        bad = "Increasing the number of partitions by " + std::to_string(added) + " but " +
              std::to_string(topic.assignments->size()) + " assignments provided.";
      }
      for (const auto& a : *topic.assignments) {
        if (a.broker_ids.size() != 1 || a.broker_ids[0] != ctx.server.node_id) {
          bad = "a single node can only place one replica of each partition, on broker " +
                std::to_string(ctx.server.node_id);
        }
      }
      if (bad) {
        rt.error_code = code(error_code::invalid_replica_assignment);
        rt.error_message = std::move(*bad);
        continue;
      }
    }
    auto result =
        co_await ctx.broker.create_partitions(ctx.who, topic.name, topic.count, req.validate_only);
    const auto ec = result.error;
    rt.error_code = code(to_kafka_error(ec));
    if (!ec) continue;
    if (ec == broker::errc::invalid_partitions) {
      auto t = ctx.broker.metadata()->find(topic.name);
      rt.error_message = not_larger_message(t ? t->partitions : 0, topic.count);
    } else if (ec == broker::errc::unknown_topic) {
      rt.error_message = "Topic '" + topic.name + "' does not exist.";
    } else {
      rt.error_message = result.text();
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
