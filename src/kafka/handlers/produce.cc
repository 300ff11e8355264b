#include <vector>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/produce_request.h"
#include "kafka/protocol/generated/produce_response.h"
#include "kafka/server/error_codes.h"
#include "net/await.h"

namespace kafka::handlers {
namespace {

using partition_response =
    protocol::produce_response::topic_produce_response::partition_produce_response;

// One partition: the core appends on the owner shard; its answer fills the response.
net::task<void> produce_partition(broker::partition_service& data,
                                  const broker::request_identity& who, broker::topic_partition tp,
                                  std::span<const uint8_t> batch, broker::produce_options opts,
                                  partition_response& out) {
  auto res = co_await data.produce(who, tp, batch, opts);
  out.error_code = code(to_kafka_error(res.error));
  out.base_offset = res.error ? -1 : res.base_offset;
  out.log_append_time_ms = res.log_append_time;
  out.log_start_offset = res.log_start_offset;
}

}  // namespace

net::task<handler_result> produce(request_context& ctx) {
  protocol::produce_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  protocol::produce_response resp;
  const bool valid_acks = req.acks == 0 || req.acks == 1 || req.acks == -1;
  broker::produce_options opts;
  opts.wait_durable = req.acks != 0;
  opts.all_replicas = req.acks == -1;
  opts.allow_zstd = ctx.api_version >= 7;  // KIP-110
  auto& data = ctx.broker.data();
  // Every partition appends and waits concurrently, each on the shard that owns it.
  std::vector<net::task<void>> work;
  for (auto& topic : req.topic_data) {
    auto& rt = resp.responses.emplace_back();
    rt.name = topic.name;
    rt.partition_responses.reserve(topic.partition_data.size());
    for (auto& part : topic.partition_data) {
      auto& rp = rt.partition_responses.emplace_back();
      rp.index = part.index;
      rp.base_offset = -1;
      if (!valid_acks) {
        rp.error_code = code(error_code::invalid_required_acks);
      } else if (req.transactional_id) {
        rp.error_code = code(error_code::invalid_request);  // transactions are not supported
      } else {
        // Null records are no batch at all: CORRUPT_MESSAGE, once the partition is known.
        const std::span<const uint8_t> batch =
            part.records.is_null ? std::span<const uint8_t>() : part.records.view;
        const broker::topic_partition tp{topic.name, part.index};
        work.push_back(produce_partition(data, ctx.who, tp, batch, opts, rp));
      }
    }
  }
  co_await net::when_all(std::move(work));
  if (req.acks == 0) co_return handler_result::none();
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
