#include <set>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/consumer_protocol_subscription.h"
#include "kafka/protocol/generated/offset_delete_request.h"
#include "kafka/protocol/generated/offset_delete_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {
namespace {

// Topics the group's consumers subscribe to, read from their JoinGroup metadata.
std::set<std::string> subscribed_topics(const broker::group_description& d) {
  std::set<std::string> out;
  if (d.protocol_type != "consumer") return out;
  for (const auto& m : d.members) {
    protocol::reader r(m.metadata);
    const int16_t version = r.read_int16();
    if (!r.ok() || version < 0) continue;
    protocol::consumer_protocol_subscription sub;
    const int16_t v = std::min(version, protocol::consumer_protocol_subscription::max_version);
    if (sub.decode(r, v)) out.insert(sub.topics.begin(), sub.topics.end());
  }
  return out;
}

}  // namespace

net::task<handler_result> offset_delete(request_context& ctx) {
  protocol::offset_delete_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::offset_delete_response resp;
  auto d = co_await ctx.broker.groups().describe(ctx.who, req.group_id);
  std::vector<std::pair<std::string, int32_t>> parts;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) parts.emplace_back(t.name, p.partition_index);
  }
  auto subscribed = subscribed_topics(d);
  auto [top, errors] = co_await ctx.broker.groups().delete_offsets(ctx.who, req.group_id, parts,
                                                                   std::move(subscribed));
  resp.error_code = code(to_kafka_error(top));
  size_t i = 0;
  for (const auto& t : req.topics) {
    auto& rt = resp.topics.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      rp.error_code = code(to_kafka_error(i < errors.size() ? errors[i] : std::error_code{}));
      ++i;
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
