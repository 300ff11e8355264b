#include <filesystem>
#include <map>
#include <set>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/describe_log_dirs_request.h"
#include "kafka/protocol/generated/describe_log_dirs_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// The broker's one log directory (data_dir) with the size of each partition asked for
// (null: every partition), and from v4 the file system's total and usable bytes.
net::task<handler_result> describe_log_dirs(request_context& ctx) {
  protocol::describe_log_dirs_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();

  std::optional<std::set<std::pair<std::string, int32_t>>> wanted;
  if (req.topics) {
    wanted.emplace();
    for (const auto& t : *req.topics) {
      for (int32_t p : t.partitions) wanted->emplace(t.topic, p);
    }
  }
  // Every shard's partitions, grouped by topic.
  std::map<std::string, std::vector<std::pair<int32_t, int64_t>>> sizes;
  const auto stats = co_await ctx.broker.partition_stats_all();
  for (const auto& st : stats) {
    if (wanted && !wanted->contains({st.name.topic, st.name.partition})) continue;
    sizes[st.name.topic].emplace_back(st.name.partition, static_cast<int64_t>(st.size_bytes));
  }

  protocol::describe_log_dirs_response resp;
  auto& dir = resp.results.emplace_back();
  std::error_code ec;
  dir.log_dir = std::filesystem::absolute(ctx.broker.options().data_dir, ec).string();
  const auto space = std::filesystem::space(ctx.broker.options().data_dir, ec);
  if (!ec) {
    dir.total_bytes = static_cast<int64_t>(space.capacity);
    dir.usable_bytes = static_cast<int64_t>(space.available);
  }
  for (auto& [topic, parts] : sizes) {
    auto& rt = dir.topics.emplace_back();
    rt.name = topic;
    std::sort(parts.begin(), parts.end());
    for (const auto& [p, size] : parts) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p;
      rp.partition_size = size;
      rp.offset_lag = 0;  // no replica is moving between directories
      rp.is_future_key = false;
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
