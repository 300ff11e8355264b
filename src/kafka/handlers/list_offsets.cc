#include <map>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/list_offsets_request.h"
#include "kafka/protocol/generated/list_offsets_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

// Special timestamps of ListOffsets (KIP-734 added max timestamp in v7, KIP-405 the
// earliest local offset in v8; a single node keeps its whole log locally).
constexpr int64_t kLatest = -1;
constexpr int64_t kEarliest = -2;
constexpr int64_t kMaxTimestamp = -3;
constexpr int64_t kEarliestLocal = -4;

// What a ListOffsets timestamp asks for at this version (a negative timestamp of no
// special meaning is refused by the core as an invalid request).
broker::offset_spec spec_for(int64_t ts, int16_t version) {
  if (ts == kLatest) return broker::offset_spec::latest;
  if (ts == kEarliest || (ts == kEarliestLocal && version >= 8)) {
    return broker::offset_spec::earliest;
  }
  if (ts == kMaxTimestamp && version >= 7) return broker::offset_spec::max_timestamp;
  return broker::offset_spec::by_timestamp;
}

}  // namespace

net::task<handler_result> list_offsets(request_context& ctx) {
  protocol::list_offsets_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::list_offsets_response resp;
  // A partition named twice is answered INVALID_REQUEST each time, as Kafka does.
  std::map<std::pair<std::string_view, int32_t>, int> named;
  for (const auto& topic : req.topics) {
    for (const auto& part : topic.partitions) ++named[{topic.name, part.partition_index}];
  }
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    for (const auto& part : topic.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = part.partition_index;
      if (named[{topic.name, part.partition_index}] > 1) {
        rp.error_code = code(error_code::invalid_request);
        continue;
      }
      const auto spec = spec_for(part.timestamp, ctx.api_version);
      const broker::topic_partition tp{topic.name, part.partition_index};
      auto res = co_await ctx.broker.data().list_offset(ctx.who, tp, spec, part.timestamp);
      rp.error_code = code(to_kafka_error(res.error));
      rp.offset = res.offset;
      rp.timestamp = res.timestamp;
      rp.leader_epoch = 0;
      if (ctx.api_version == 0 && !res.error && res.offset >= 0) {
        rp.old_style_offsets = {res.offset};
      }
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
