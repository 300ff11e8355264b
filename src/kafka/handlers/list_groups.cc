#include <algorithm>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/list_groups_request.h"
#include "kafka/protocol/generated/list_groups_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// Every group of the broker; v4+ filter by state, v5+ by type (all groups here are "classic").
net::task<handler_result> list_groups(request_context& ctx) {
  protocol::list_groups_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::list_groups_response resp;
  auto wanted = [](const std::vector<std::string>& filter, std::string_view v) {
    if (filter.empty()) return true;
    return std::any_of(filter.begin(), filter.end(), [&](const std::string& f) {
      return std::equal(f.begin(), f.end(), v.begin(), v.end(),
                        [](char a, char b) { return std::tolower(a) == std::tolower(b); });
    });
  };
  auto groups = co_await ctx.broker.groups().list(ctx.who);
  for (auto& g : groups) {
    const auto state = broker::to_string(g.state);
    if (!wanted(req.states_filter, state) || !wanted(req.types_filter, "classic")) continue;
    auto& lg = resp.groups.emplace_back();
    lg.group_id = std::move(g.group_id);
    lg.protocol_type = std::move(g.protocol_type);
    lg.group_state = std::string(state);
    lg.group_type = "classic";
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
