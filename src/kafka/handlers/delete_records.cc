#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/delete_records_request.h"
#include "kafka/protocol/generated/delete_records_response.h"
#include "kafka/server/error_codes.h"
#include "net/await.h"

namespace kafka::handlers {
namespace {

struct trim_result {
  error_code error = error_code::none;
  int64_t low_watermark = -1;
};

// On the partition's owner: -1 means the high watermark, as in Kafka.
net::task<trim_result> trim_on_owner(broker::broker& b, storage::ntp name, int64_t offset) {
  trim_result out;
  auto log = b.local_log(name);
  if (!log) {
    out.error = error_code::unknown_topic_or_partition;
    co_return out;
  }
  if (offset == -1) offset = log->high_watermark();
  auto r = co_await net::await_callback<base::result<int64_t>>(
      [&](auto done) { log->delete_records_before(offset, std::move(done)); });
  if (!r) {
    out.error = to_kafka_error(r.error());
  } else {
    out.low_watermark = *r;
  }
  co_return out;
}

}  // namespace

// Moves each partition's log start offset up (records below it are no longer readable;
// whole segments below it are deleted) and answers once the new start is on disk.
net::task<handler_result> delete_records(request_context& ctx) {
  protocol::delete_records_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::delete_records_response resp;
  auto snap = ctx.broker.metadata();
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    auto t = snap->find(topic.name);
    for (const auto& part : topic.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = part.partition_index;
      rp.low_watermark = -1;
      if (!t || part.partition_index < 0 || part.partition_index >= t->partitions) {
        rp.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      if (broker::broker::is_internal(topic.name)) {
        rp.error_code = code(to_kafka_error(broker::errc::internal_topic));
        continue;
      }
      const storage::ntp name{topic.name, part.partition_index};
      auto res =
          co_await ctx.broker.shards().invoke_on(ctx.broker.owner(topic.name, part.partition_index),
                                                 trim_on_owner(ctx.broker, name, part.offset));
      rp.error_code = code(res.error);
      rp.low_watermark = res.low_watermark;
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
