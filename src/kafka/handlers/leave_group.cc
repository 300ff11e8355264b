#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/leave_group_request.h"
#include "kafka/protocol/generated/leave_group_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// v0-2 name one member; v3+ a batch, each with its own answer.
net::task<handler_result> leave_group(request_context& ctx) {
  protocol::leave_group_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  std::vector<std::pair<std::string, std::optional<std::string>>> leaving;
  if (ctx.api_version >= 3) {
    for (auto& m : req.members) leaving.emplace_back(m.member_id, m.group_instance_id);
  } else {
    leaving.emplace_back(req.member_id, std::nullopt);
  }
  auto errors = co_await ctx.broker.groups().leave(ctx.who, req.group_id, leaving);

  protocol::leave_group_response resp;
  if (ctx.api_version >= 3) {
    for (size_t i = 0; i < leaving.size(); ++i) {
      auto& m = resp.members.emplace_back();
      m.member_id = leaving[i].first;
      m.group_instance_id = leaving[i].second;
      m.error_code = code(to_kafka_error(i < errors.size() ? errors[i] : std::error_code{}));
    }
  } else if (!errors.empty()) {
    resp.error_code = code(to_kafka_error(errors.front()));
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
