#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/create_topics_request.h"
#include "kafka/protocol/generated/create_topics_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

net::task<handler_result> create_topics(request_context& ctx) {
  protocol::create_topics_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::create_topics_response resp;
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    broker::config_map configs;
    std::optional<std::string> problem;
    for (const auto& c : topic.configs) {
      if (!c.value) continue;
      if (auto p = broker::validate_topic_config(c.name, *c.value)) problem = p;
      configs[c.name] = *c.value;
    }
    const int32_t partitions =
        topic.num_partitions == -1 ? ctx.broker.options().default_partitions : topic.num_partitions;
    std::error_code ec;
    if (topic.replication_factor != -1 && topic.replication_factor != 1) {
      ec = broker::errc::invalid_replication_factor;
      problem = "replication factor must be 1 on a single node, got " +
                std::to_string(topic.replication_factor);
    } else if (!topic.assignments.empty()) {
      ec = broker::errc::invalid_partitions;
      problem = "manual replica assignments are not supported";
    } else if (problem) {
      ec = broker::errc::invalid_config;
    } else if (auto bad_name = broker::validate_topic_name(topic.name)) {
      ec = broker::errc::invalid_topic_name;
      problem = bad_name;
    } else {
      ec = co_await ctx.broker.create_topic(topic.name, partitions, configs, req.validate_only);
    }
    rt.error_code = code(to_kafka_error(ec));
    if (ec) {
      rt.error_message = problem.value_or(ec.message());
      continue;
    }
    rt.num_partitions = partitions;
    rt.replication_factor = 1;
    if (auto t = ctx.broker.metadata()->find(topic.name)) rt.topic_id = t->id;
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
