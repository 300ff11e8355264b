#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/elect_leaders_request.h"
#include "kafka/protocol/generated/elect_leaders_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// A single node is the preferred (and only) leader of every partition, so every
// election, preferred or unclean, is ELECTION_NOT_NEEDED; with no partitions named
// there is nothing to report, as Kafka answers when every leader is already preferred.
net::task<handler_result> elect_leaders(request_context& ctx) {
  protocol::elect_leaders_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::elect_leaders_response resp;
  if (req.election_type != 0 && req.election_type != 1) {
    resp.error_code = code(error_code::invalid_request);
    co_return respond(resp, ctx.api_version);
  }
  auto snap = ctx.broker.metadata();
  for (const auto& tp : req.topic_partitions_.value_or(
           std::vector<protocol::elect_leaders_request::topic_partitions>{})) {
    auto& rt = resp.replica_election_results.emplace_back();
    rt.topic = tp.topic;
    auto t = snap->find(tp.topic);
    for (int32_t p : tp.partitions) {
      auto& rp = rt.partition_result_.emplace_back();
      rp.partition_id = p;
      if (!t || p < 0 || p >= t->partitions) {
        rp.error_code = code(error_code::unknown_topic_or_partition);
        rp.error_message = "The partition does not exist.";
      } else {
        rp.error_code = code(error_code::election_not_needed);
        rp.error_message = "Leader election not needed for topic partition.";
      }
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
