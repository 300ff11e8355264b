#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/delete_records_request.h"
#include "kafka/protocol/generated/delete_records_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
// Moves each partition's log start offset up (records below it are no longer readable;
// whole segments below it are deleted) and answers once the new start is on disk.
net::task<handler_result> delete_records(request_context& ctx) {
  protocol::delete_records_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::delete_records_response resp;
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    for (const auto& part : topic.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = part.partition_index;
      rp.low_watermark = -1;
      const broker::topic_partition tp{topic.name, part.partition_index};
      auto res = co_await ctx.broker.data().delete_records(ctx.who, tp, part.offset);
      rp.error_code = code(to_kafka_error(res.error));
      rp.low_watermark = res.log_start_offset;
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
