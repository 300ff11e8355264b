#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/offset_fetch_request.h"
#include "kafka/protocol/generated/offset_fetch_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

// Groups the answer by topic, in the order topics first appear.
template <typename Topic>
void fill_topics(std::vector<Topic>& out, const broker::fetched_offsets& got) {
  for (const auto& p : got.partitions) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const Topic& t) { return t.name == p.topic; });
    if (it == out.end()) {
      out.emplace_back();
      it = std::prev(out.end());
      it->name = p.topic;
    }
    auto& rp = it->partitions.emplace_back();
    rp.partition_index = p.partition;
    rp.committed_offset = p.value.offset;
    rp.committed_leader_epoch = p.value.leader_epoch;
    rp.metadata = p.value.metadata.value_or("");
    rp.error_code = 0;
  }
}

}  // namespace

// v0-7 ask for one group (v2+: a null topic list means every committed partition);
// v8+ for a batch of groups.
net::task<handler_result> offset_fetch(request_context& ctx) {
  protocol::offset_fetch_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::offset_fetch_response resp;

  if (ctx.api_version >= 8) {
    for (const auto& g : req.groups) {
      std::optional<broker::topic_partitions> which;
      if (g.topics) {
        which.emplace();
        for (const auto& t : *g.topics) which->emplace_back(t.name, t.partition_indexes);
      }
      auto got = co_await ctx.broker.groups().fetch_offsets(ctx.who, g.group_id, std::move(which));
      auto& rg = resp.groups.emplace_back();
      rg.group_id = g.group_id;
      rg.error_code = code(to_kafka_error(got.error));
      fill_topics(rg.topics, got);
    }
    co_return respond(resp, ctx.api_version);
  }
  std::optional<broker::topic_partitions> which;
  if (req.topics) {
    which.emplace();
    for (const auto& t : *req.topics) which->emplace_back(t.name, t.partition_indexes);
  }
  auto got = co_await ctx.broker.groups().fetch_offsets(ctx.who, req.group_id, std::move(which));
  resp.error_code = code(to_kafka_error(got.error));
  fill_topics(resp.topics, got);
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
