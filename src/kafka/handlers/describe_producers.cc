#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/describe_producers_request.h"
#include "kafka/protocol/generated/describe_producers_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

using partition_response =
    protocol::describe_producers_response::topic_response::partition_response;

// On the partition's owner: its idempotent producers, as the log's sequence checks
// know them.
net::task<partition_response> producers_on_owner(broker::broker& b, storage::ntp name) {
  partition_response out;
  out.partition_index = name.partition;
  auto log = b.local_log(name);
  if (!log) {
    out.error_code = code(error_code::unknown_topic_or_partition);
    co_return out;
  }
  for (const auto& [id, e] : log->producers().entries()) {
    auto& p = out.active_producers.emplace_back();
    p.producer_id = id;
    p.producer_epoch = e.epoch;
    p.last_sequence = e.batches.empty() ? -1 : e.batches.back().last_seq;
    p.last_timestamp = e.last_write_ms;  // when the broker last saw it write
    p.coordinator_epoch = -1;            // no transactions
    p.current_txn_start_offset = -1;
  }
  co_return out;
}

}  // namespace

net::task<handler_result> describe_producers(request_context& ctx) {
  protocol::describe_producers_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::describe_producers_response resp;
  auto snap = ctx.broker.metadata();
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    auto t = snap->find(topic.name);
    for (int32_t p : topic.partition_indexes) {
      if (!t || p < 0 || p >= t->partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p;
        rp.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      // A named argument: g++ 12 destroys a temporary passed to a coroutine twice.
      const storage::ntp name{topic.name, p};
      rt.partitions.push_back(co_await ctx.broker.shards().invoke_on(
          ctx.broker.owner(topic.name, p), producers_on_owner(ctx.broker, name)));
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
