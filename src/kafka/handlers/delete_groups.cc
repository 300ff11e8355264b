#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/delete_groups_request.h"
#include "kafka/protocol/generated/delete_groups_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// Only groups without members can be deleted (NON_EMPTY_GROUP otherwise); their
// committed offsets go with them.
net::task<handler_result> delete_groups(request_context& ctx) {
  protocol::delete_groups_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::delete_groups_response resp;
  for (const auto& id : req.groups_names) {
    auto& r = resp.results.emplace_back();
    r.group_id = id;
    if (id.empty()) {
      r.error_code = code(error_code::invalid_group_id);
      continue;
    }
    auto ec = co_await ctx.broker.groups().delete_group(ctx.who, id);
    r.error_code = code(to_kafka_error(ec));
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
