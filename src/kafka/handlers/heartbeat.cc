#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/heartbeat_request.h"
#include "kafka/protocol/generated/heartbeat_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

net::task<handler_result> heartbeat(request_context& ctx) {
  protocol::heartbeat_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  auto ec = co_await ctx.broker.groups().heartbeat(ctx.who, req.group_id, req.member_id,
                                                   req.group_instance_id, req.generation_id);
  protocol::heartbeat_response resp;
  resp.error_code = code(to_kafka_error(ec));
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
