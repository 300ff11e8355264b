#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/describe_producers_request.h"
#include "kafka/protocol/generated/describe_producers_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// The idempotent producers of each partition, as its sequence checks know them.
net::task<handler_result> describe_producers(request_context& ctx) {
  protocol::describe_producers_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::describe_producers_response resp;
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    for (int32_t p : topic.partition_indexes) {
      const broker::topic_partition tp{topic.name, p};
      auto res = co_await ctx.broker.data().producers(ctx.who, tp);
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p;
      rp.error_code = code(to_kafka_error(res.error));
      for (const auto& info : res.producers) {
        auto& out = rp.active_producers.emplace_back();
        out.producer_id = info.producer_id;
        out.producer_epoch = info.epoch;
        out.last_sequence = info.last_sequence;
        out.last_timestamp = info.last_write_ms;  // when the broker last saw it write
        out.coordinator_epoch = -1;               // no transactions
        out.current_txn_start_offset = -1;
      }
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
