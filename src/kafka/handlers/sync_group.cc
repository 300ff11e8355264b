#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/sync_group_request.h"
#include "kafka/protocol/generated/sync_group_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

net::task<handler_result> sync_group(request_context& ctx) {
  protocol::sync_group_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  broker::sync_request r;
  r.group_id = req.group_id;
  r.member_id = req.member_id;
  r.instance_id = req.group_instance_id;
  r.generation = req.generation_id;
  r.protocol_type = req.protocol_type;
  r.protocol_name = req.protocol_name;
  for (auto& a : req.assignments) {
    r.assignments.emplace_back(std::move(a.member_id), std::move(a.assignment));
  }
  auto res = co_await ctx.broker.groups().sync(ctx.who, std::move(r));

  protocol::sync_group_response resp;
  resp.error_code = code(to_kafka_error(res.error));
  if (!res.error) {
    resp.protocol_type = res.protocol_type;
    resp.protocol_name = res.protocol_name;
    resp.assignment = std::move(res.assignment);
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
