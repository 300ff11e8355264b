#include <fmt/format.h>

#include "base/logging.h"
#include "base/metrics.h"
#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/sasl_authenticate_request.h"
#include "kafka/protocol/generated/sasl_authenticate_response.h"
#include "kafka/server/error_codes.h"
#include "kafka/server/sasl.h"

namespace kafka::handlers {

void count_sasl_outcome(const sasl_session& s, const auth::sasl_step& step,
                        const std::string& peer) {
  if (!step.done && !step.failed) return;
  base::metrics::registry::global()
      .get_counter("riptide_kafka_sasl_authentications_total",
                   "SASL authentications on the Kafka listener, by mechanism and outcome",
                   {{"mechanism", s.mechanism()}, {"result", step.done ? "success" : "failure"}})
      .add();
  if (step.failed) {
    static base::log_rate_limiter limiter(10, std::chrono::seconds(10));
    if (auto note = limiter.allow()) {
      base::logger("kafka")->warn("SASL {} authentication from {} failed: {}{}", s.mechanism(),
                                  peer, step.error, *note);
    }
  }
}

// One token of the exchange; a failure answers SASL_AUTHENTICATION_FAILED and the
// connection closes after that answer.
net::task<handler_result> sasl_authenticate(request_context& ctx) {
  protocol::sasl_authenticate_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::sasl_authenticate_response r;
  if (!ctx.sasl || !ctx.sasl->expecting_token()) {
    r.error_code = code(error_code::illegal_sasl_state);
    r.error_message = "SaslAuthenticate before a SaslHandshake, or after the exchange ended";
    co_return respond(r, ctx.api_version);
  }
  const auto step = ctx.sasl->step(std::string_view(
      reinterpret_cast<const char*>(req.auth_bytes.data()), req.auth_bytes.size()));
  count_sasl_outcome(*ctx.sasl, step, ctx.who.address);
  r.error_message = std::nullopt;  // null on success, as Kafka
  if (step.failed) {
    r.error_code = code(error_code::sasl_authentication_failed);
    r.error_message =
        fmt::format("{} authentication failed: {}", ctx.sasl->mechanism(), step.error);
  }
  r.auth_bytes.assign(step.reply.begin(), step.reply.end());
  co_return respond(r, ctx.api_version);
}

}  // namespace kafka::handlers
