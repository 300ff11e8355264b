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

struct lookup {
  error_code error = error_code::none;
  int64_t offset = -1;
  int64_t timestamp = -1;
};

net::task<lookup> lookup_on_owner(broker::broker& b, storage::ntp name, int64_t ts,
                                  int16_t version) {
  lookup out;
  auto log = b.local_log(name);
  if (!log) {
    out.error = error_code::unknown_topic_or_partition;
    co_return out;
  }
  auto found = [&](const base::result<std::optional<storage::timestamp_offset>>& r) {
    if (!r) {
      out.error = to_kafka_error(r.error());
    } else if (*r) {
      out.offset = (*r)->offset;
      out.timestamp = (*r)->timestamp;
    }
  };
  if (ts == kLatest) {
    out.offset = log->high_watermark();
  } else if (ts == kEarliest || (ts == kEarliestLocal && version >= 8)) {
    out.offset = log->log_start_offset();
  } else if (ts == kMaxTimestamp && version >= 7) {
    found(log->max_timestamp_record());
  } else if (ts < 0) {
    out.error = error_code::invalid_request;
  } else {
    found(log->offset_for_timestamp(ts));
  }
  co_return out;
}

}  // namespace

net::task<handler_result> list_offsets(request_context& ctx) {
  protocol::list_offsets_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::list_offsets_response resp;
  auto snap = ctx.broker.metadata();
  // A partition named twice is answered INVALID_REQUEST each time, as Kafka does.
  std::map<std::pair<std::string_view, int32_t>, int> named;
  for (const auto& topic : req.topics) {
    for (const auto& part : topic.partitions) ++named[{topic.name, part.partition_index}];
  }
  for (const auto& topic : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = topic.name;
    auto t = snap->find(topic.name);
    for (const auto& part : topic.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = part.partition_index;
      if (named[{topic.name, part.partition_index}] > 1) {
        rp.error_code = code(error_code::invalid_request);
        continue;
      }
      if (!t || part.partition_index < 0 || part.partition_index >= t->partitions) {
        rp.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      const storage::ntp name{topic.name, part.partition_index};
      auto res = co_await ctx.broker.shards().invoke_on(
          ctx.broker.owner(topic.name, part.partition_index),
          lookup_on_owner(ctx.broker, name, part.timestamp, ctx.api_version));
      rp.error_code = code(res.error);
      rp.offset = res.offset;
      rp.timestamp = res.timestamp;
      rp.leader_epoch = 0;
      if (ctx.api_version == 0 && res.error == error_code::none && res.offset >= 0) {
        rp.old_style_offsets = {res.offset};
      }
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
