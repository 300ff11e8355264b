#include <filesystem>

#include "kafka/handlers/handlers.h"
#include "kafka/protocol/generated/alter_replica_log_dirs_request.h"
#include "kafka/protocol/generated/alter_replica_log_dirs_response.h"
#include "kafka/server/error_codes.h"

namespace kafka::handlers {

// The broker has one log directory (data_dir): moving a replica to it is already done,
// any other path is LOG_DIR_NOT_FOUND.
net::task<handler_result> alter_replica_log_dirs(request_context& ctx) {
  protocol::alter_replica_log_dirs_request req;
  if (!req.decode(ctx.body, ctx.api_version)) co_return handler_result::close();
  protocol::alter_replica_log_dirs_response resp;
  std::error_code ec;
  const auto ours = std::filesystem::weakly_canonical(ctx.broker.options().data_dir, ec);
  auto snap = ctx.broker.metadata();
  for (const auto& dir : req.dirs) {
    const bool here = std::filesystem::weakly_canonical(dir.path, ec) == ours;
    for (const auto& topic : dir.topics) {
      auto* rt = &resp.results.emplace_back();
      rt->topic_name = topic.name;
      auto t = snap->find(topic.name);
      for (int32_t p : topic.partitions) {
        auto& rp = rt->partitions.emplace_back();
        rp.partition_index = p;
        if (!here) {
          rp.error_code = code(error_code::log_dir_not_found);
        } else if (!t || p < 0 || p >= t->partitions) {
          rp.error_code = code(error_code::unknown_topic_or_partition);
        }
      }
    }
  }
  co_return respond(resp, ctx.api_version);
}

}  // namespace kafka::handlers
