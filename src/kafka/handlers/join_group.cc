#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/join_group_request.h"
#include "kafka/protocol/generated/join_group_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

net::task<handler_result> join_group(request_context& ctx) {
  protocol::join_group_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  broker::join_request r;
  r.group_id = req.group_id;
  r.member_id = req.member_id;
  r.instance_id = req.group_instance_id;
  r.session_timeout_ms = req.session_timeout_ms;
  // v0 has no rebalance timeout: the session timeout serves for both.
  r.rebalance_timeout_ms = ctx.api_version >= 1 ? req.rebalance_timeout_ms : req.session_timeout_ms;
  r.protocol_type = req.protocol_type;
  for (auto& p : req.protocols) r.protocols.emplace_back(std::move(p.name), std::move(p.metadata));
  r.require_known_member_id = ctx.api_version >= 4;

  auto res = co_await ctx.broker.groups().join(ctx.who, std::move(r));

  protocol::join_group_response resp;
  resp.error_code = code(to_kafka_error(res.error));
  resp.generation_id = res.error ? -1 : res.generation;
  resp.member_id = res.member_id;
  if (!res.error) {
    resp.protocol_type = res.protocol_type;
    resp.protocol_name = res.protocol_name;
    resp.leader = res.leader;
    for (auto& m : res.members) {
      auto& rm = resp.members.emplace_back();
      rm.member_id = std::move(m.member_id);
      rm.group_instance_id = std::move(m.instance_id);
      rm.metadata = std::move(m.metadata);
    }
  } else if (ctx.api_version < 7) {
    resp.protocol_name = std::string();
  } else {
    resp.protocol_name = std::nullopt;
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
