#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/describe_groups_request.h"
#include "kafka/protocol/generated/describe_groups_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// An unknown group is described as Dead with no members, as Kafka does.
net::task<handler_result> describe_groups(request_context& ctx) {
  protocol::describe_groups_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::describe_groups_response resp;
  for (const auto& id : req.groups) {
    auto& g = resp.groups.emplace_back();
    g.group_id = id;
    if (id.empty()) {
      g.error_code = code(error_code::invalid_group_id);
      g.group_state = std::string(broker::to_string(broker::group_state::dead));
      continue;
    }
    auto d = co_await ctx.broker.groups().describe(ctx.who, id);
    g.group_state = std::string(broker::to_string(d.state));
    g.protocol_type = d.protocol_type;
    g.protocol_data = d.protocol_name;
    for (auto& m : d.members) {
      auto& rm = g.members.emplace_back();
      rm.member_id = std::move(m.member_id);
      rm.group_instance_id = std::move(m.instance_id);
      rm.client_id = std::move(m.client_id);
      rm.client_host = std::move(m.client_host);
      rm.member_metadata = std::move(m.metadata);
      rm.member_assignment = std::move(m.assignment);
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
