#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/delete_topics_request.h"
#include "kafka/protocol/generated/delete_topics_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

net::task<handler_result> delete_topics(request_context& ctx) {
  protocol::delete_topics_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  // v0-5 name topics; v6 names or ids.
  std::vector<std::pair<std::optional<std::string>, protocol::uuid>> wanted;
  for (const auto& n : req.topic_names) wanted.emplace_back(n, protocol::uuid{});
  for (const auto& t : req.topics) wanted.emplace_back(t.name, t.topic_id);

  protocol::delete_topics_response resp;
  auto snap = ctx.broker.metadata();
  for (auto& [name, id] : wanted) {
    auto& rt = resp.responses.emplace_back();
    rt.topic_id = id;
    if (!name) {
      for (const auto& [n, t] : snap->topics) {
        if (t->id == id) name = n;
      }
      if (!name) {
        rt.error_code = code(error_code::unknown_topic_id);
        continue;
      }
    }
    rt.name = *name;
    auto ec = co_await ctx.broker.delete_topic(ctx.who, *name);
    rt.error_code = code(to_kafka_error(ec));
    if (ec) rt.error_message = ec.message();
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
