#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/describe_cluster_request.h"
#include "kafka/protocol/generated/describe_cluster_response.h"

namespace kafka::handlers {
namespace {

constexpr int8_t kBrokerEndpoints = 1;
// MISMATCHED_ENDPOINT_TYPE: a DescribeCluster for controllers (2) sent to a broker.
constexpr int16_t kMismatchedEndpointType = 114;

}  // namespace

// One node: it is the whole cluster and its own controller.
net::task<handler_result> describe_cluster(request_context& ctx) {
  protocol::describe_cluster_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  protocol::describe_cluster_response resp;
  const auto& info = ctx.server;
  resp.endpoint_type = req.endpoint_type;
  if (req.endpoint_type != kBrokerEndpoints) {
    resp.error_code = kMismatchedEndpointType;
    resp.error_message =
        "The request was sent to an endpoint of type broker, but it asked for "
        "endpoint type " +
        std::to_string(req.endpoint_type);
    co_return respond(resp, ctx.api_version);
  }
  resp.cluster_id = info.cluster_id;
  resp.controller_id = info.node_id;
  auto& b = resp.brokers.emplace_back();
  b.broker_id = info.node_id;
  b.host = info.advertised_host;
  b.port = info.advertised_port;
  b.rack = std::nullopt;
  // No authorizer: the authorized operations are left unreported, as Kafka does when
  // the client does not ask for them.
  resp.cluster_authorized_operations = -2147483647 - 1;
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
