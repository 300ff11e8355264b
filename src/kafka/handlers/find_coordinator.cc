#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/find_coordinator_request.h"
#include "kafka/protocol/generated/find_coordinator_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// One node coordinates every group. Transaction coordinators (key type 1) do not exist
// here: transactions are not supported.
net::task<handler_result> find_coordinator(request_context& ctx) {
  protocol::find_coordinator_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::find_coordinator_response resp;
  auto answer = [&](const std::string& key, auto& out) {
    error_code err = error_code::none;
    if (req.key_type == 1) {
      err = error_code::coordinator_not_available;
    } else if (req.key_type != 0) {
      err = error_code::invalid_request;
    } else if (key.empty()) {
      err = error_code::invalid_group_id;
    }
    out.error_code = code(err);
    if (err == error_code::none) {
      out.node_id = ctx.server.node_id;
      out.host = ctx.server.advertised_host;
      out.port = ctx.server.advertised_port;
      out.error_message = std::nullopt;
    } else {
      out.node_id = -1;
      out.port = -1;
      out.error_message = req.key_type == 1 ? "transactions are not supported" : "invalid key";
    }
  };
  if (ctx.api_version >= 4) {
    for (const auto& key : req.coordinator_keys) {
      auto& c = resp.coordinators.emplace_back();
      c.key = key;
      answer(key, c);
    }
  } else {
    answer(req.key, resp);
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
