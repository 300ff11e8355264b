#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/offset_commit_request.h"
#include "kafka/protocol/generated/offset_commit_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// Answered once the commit is durable under the broker's durability policy.
net::task<handler_result> offset_commit(request_context& ctx) {
  protocol::offset_commit_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  broker::commit_request r;
  r.group_id = req.group_id;
  r.member_id = req.member_id;
  r.instance_id = req.group_instance_id;
  r.generation = req.generation_id_or_member_epoch;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      broker::commit_request::partition cp;
      cp.topic = t.name;
      cp.partition = p.partition_index;
      cp.value.offset = p.committed_offset;
      cp.value.leader_epoch = p.committed_leader_epoch;
      cp.value.commit_time_ms = ctx.api_version == 1 ? p.commit_timestamp : -1;
      cp.value.metadata = p.committed_metadata;
      r.partitions.push_back(std::move(cp));
    }
  }
  auto errors = co_await ctx.broker.groups().commit(ctx.who, std::move(r));

  protocol::offset_commit_response resp;
  size_t i = 0;
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      // Every partition gets the coordinator's answer; one it did not give is no success.
      rp.error_code = i < errors.size() ? code(to_kafka_error(errors[i]))
                                        : code(error_code::unknown_server_error);
      ++i;
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
