#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/sasl_handshake_request.h"
#include "kafka/protocol/generated/sasl_handshake_response.h"
#include "kafka/server/error_codes.h"
#include "kafka/server/sasl.h"

namespace kafka::handlers {

// Chooses the mechanism. On a listener without SASL, and on a connection that has
// authenticated already, ILLEGAL_SASL_STATE (as Kafka).
net::task<handler_result> sasl_handshake(request_context& ctx) {
  protocol::sasl_handshake_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::sasl_handshake_response r;
  r.error_code = ctx.sasl ? ctx.sasl->handshake(req.mechanism, ctx.api_version)
                          : code(error_code::illegal_sasl_state);
  if (ctx.sasl) r.mechanisms = ctx.sasl->offered();
  co_return respond(r, ctx.api_version);
}

}  // namespace kafka::handlers
