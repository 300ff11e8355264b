#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/init_producer_id_request.h"
#include "kafka/protocol/generated/init_producer_id_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// Idempotent producers get a fresh producer id at epoch 0 (also when they ask to bump
// an epoch: without transactions a new id fences nothing and loses nothing).
// Transactional ids are refused: transactions are not supported.
net::task<handler_result> init_producer_id(request_context& ctx) {
  protocol::init_producer_id_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::init_producer_id_response resp;
  if (req.transactional_id && !req.transactional_id->empty()) {
    resp.error_code = code(to_kafka_error(broker::errc::unsupported_transactions));
    co_return respond(resp, ctx.api_version);
  }
  const int64_t id = co_await ctx.broker.allocate_producer_id();
  if (id < 0) {
    resp.error_code = code(error_code::coordinator_not_available);
  } else {
    resp.producer_id = id;
    resp.producer_epoch = 0;
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
