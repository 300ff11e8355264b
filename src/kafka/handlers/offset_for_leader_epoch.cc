#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/offset_for_leader_epoch_request.h"
#include "kafka/protocol/generated/offset_for_leader_epoch_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

// A single node has led every partition since it was created: one leader epoch, 0,
// which every stored batch carries.
constexpr int32_t kLeaderEpoch = 0;

}  // namespace

// The end offset of the requested leader epoch, which consumers use to detect a log
// truncated under them (KIP-320): for epoch 0, the log end; for a later epoch, none.
net::task<handler_result> offset_for_leader_epoch(request_context& ctx) {
  protocol::offset_for_leader_epoch_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::offset_for_leader_epoch_response resp;
  auto snap = ctx.broker.metadata();
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.topic = topic.topic;
    auto t = snap->find(topic.topic);
    for (const auto& part : topic.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition = part.partition;
      if (!t || part.partition < 0 || part.partition >= t->partitions) {
        rp.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      // The requester's view of the current epoch (v2+), checked as a leader does.
      if (part.current_leader_epoch > kLeaderEpoch) {
        rp.error_code = code(error_code::unknown_leader_epoch);
        continue;
      }
      if (part.current_leader_epoch >= 0 && part.current_leader_epoch < kLeaderEpoch) {
        rp.error_code = code(error_code::fenced_leader_epoch);
        continue;
      }
      if (part.leader_epoch != kLeaderEpoch) continue;  // -1 / -1: no such epoch here
      rp.leader_epoch = kLeaderEpoch;
      // A named argument: g++ 12 destroys a temporary passed to a coroutine twice.
      const broker::topic_partition tp{topic.topic, part.partition};
      auto res = co_await ctx.broker.data().log_end(ctx.who, tp);
      rp.error_code = code(to_kafka_error(res.error));
      rp.end_offset = res.offset;
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
