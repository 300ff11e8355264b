#include <map>
#include <set>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/metadata_request.h"
#include "kafka/protocol/generated/metadata_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

void describe_topic(protocol::metadata_response& resp, const broker::topic_metadata& t,
                    const broker::placement& where) {
  auto& rt = resp.topics.emplace_back();
  rt.error_code = 0;
  rt.name = t.name;
  rt.topic_id = t.id;
  rt.is_internal = broker::broker::is_internal(t.name);
  for (int32_t p = 0; p < t.partitions; ++p) {
    auto& rp = rt.partitions.emplace_back();
    rp.partition_index = p;
    rp.leader_id = where.locate(t.name, p).node;
    rp.leader_epoch = 0;
    rp.replica_nodes = where.replicas(t.name, p);
    rp.isr_nodes = where.in_sync(t.name, p);
  }
}

}  // namespace

net::task<handler_result> metadata(request_context& ctx) {
  protocol::metadata_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  protocol::metadata_response resp;
  const auto& info = ctx.server;
  auto& b = resp.brokers.emplace_back();
  b.node_id = info.node_id;
  b.host = info.advertised_host;
  b.port = info.advertised_port;
  resp.cluster_id = info.cluster_id;
  resp.controller_id = info.node_id;

  auto snap = ctx.broker.metadata();
  // v0: an empty list means every topic; v1+: null means every topic, empty none.
  const bool all = !req.topics || (ctx.api_version == 0 && req.topics->empty());
  if (all) {
    for (const auto& [name, t] : snap->topics) describe_topic(resp, *t, ctx.broker.partitions());
    co_return respond(resp, ctx.api_version);
  }
  const bool may_create = ctx.broker.options().auto_create_topics &&
                          (ctx.api_version < 4 || req.allow_auto_topic_creation);
  // A topic named more than once is described once (a request cannot make the response
  // larger than the topics it names). Topic ids are looked up through a map built once.
  std::set<std::string_view> seen_names;
  std::set<protocol::uuid> seen_ids;
  std::map<protocol::uuid, std::shared_ptr<const broker::topic_metadata>> by_id;
  const int32_t per_request = ctx.broker.options().limits.max_topics_per_request;
  int32_t creations = 0;
  for (const auto& want : *req.topics) {
    if (want.name ? !seen_names.insert(*want.name).second
                  : !seen_ids.insert(want.topic_id).second) {
      continue;
    }
    std::shared_ptr<const broker::topic_metadata> t;
    if (want.name) {
      t = snap->find(*want.name);
    } else {
      if (by_id.empty()) {
        for (const auto& [_, candidate] : snap->topics) by_id.emplace(candidate->id, candidate);
      }
      if (auto it = by_id.find(want.topic_id); it != by_id.end()) t = it->second;
    }
    if (!t && want.name && may_create) {
      if (creations++ >= per_request) {
        // Retriable: the client asks again, and the next request creates more.
        ctx.broker.refuse_over_request_limit(*want.name, "Metadata");
        auto& rt = resp.topics.emplace_back();
        rt.name = *want.name;
        rt.error_code = code(error_code::leader_not_available);
        continue;
      }
      const std::string name = *want.name;
      const int32_t partitions = ctx.broker.options().default_partitions;
      const broker::config_map no_configs;
      auto created = co_await ctx.broker.create_topic(ctx.who, name, partitions, no_configs);
      if (created.ok() || created.error == broker::errc::topic_exists) {
        t = ctx.broker.metadata()->find(*want.name);
      } else {
        auto& rt = resp.topics.emplace_back();
        rt.name = *want.name;
        rt.error_code = code(to_kafka_error(created.error));
        continue;
      }
    }
    if (!t) {
      auto& rt = resp.topics.emplace_back();
      rt.name = want.name;
      rt.topic_id = want.topic_id;
      rt.error_code =
          code(want.name ? error_code::unknown_topic_or_partition : error_code::unknown_topic_id);
      continue;
    }
    describe_topic(resp, *t, ctx.broker.partitions());
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
