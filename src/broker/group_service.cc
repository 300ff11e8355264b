#include "broker/group_service.h"

#include "base/logging.h"
#include "broker/broker.h"
#include "net/shard.h"

namespace broker {

net::task<join_result> group_service::join(const request_identity& who, join_request r) {
  r.client_id = who.client_id.value_or("");
  r.client_host = who.address;
  const unsigned shard = broker_.group_shard(r.group_id);
  co_return co_await broker_.shards().invoke_on(shard,
                                                broker_.coordinator(shard).join(std::move(r)));
}

net::task<sync_result> group_service::sync(const request_identity& /*who*/, sync_request r) {
  const unsigned shard = broker_.group_shard(r.group_id);
  co_return co_await broker_.shards().invoke_on(shard,
                                                broker_.coordinator(shard).sync(std::move(r)));
}

net::task<std::error_code> group_service::heartbeat(const request_identity& /*who*/,
                                                    std::string group_id, std::string member_id,
                                                    std::optional<std::string> instance_id,
                                                    int32_t generation) {
  const unsigned shard = broker_.group_shard(group_id);
  co_return co_await broker_.shards().invoke_on(
      shard, broker_.coordinator(shard).heartbeat(std::move(group_id), std::move(member_id),
                                                  std::move(instance_id), generation));
}

net::task<std::vector<std::error_code>> group_service::leave(
    const request_identity& /*who*/, std::string group_id,
    std::vector<std::pair<std::string, std::optional<std::string>>> members) {
  const unsigned shard = broker_.group_shard(group_id);
  co_return co_await broker_.shards().invoke_on(
      shard, broker_.coordinator(shard).leave(std::move(group_id), std::move(members)));
}

net::task<std::vector<std::error_code>> group_service::commit(const request_identity& /*who*/,
                                                              commit_request r) {
  const unsigned shard = broker_.group_shard(r.group_id);
  co_return co_await broker_.shards().invoke_on(shard,
                                                broker_.coordinator(shard).commit(std::move(r)));
}

net::task<fetched_offsets> group_service::fetch_offsets(const request_identity& /*who*/,
                                                        std::string group_id,
                                                        std::optional<topic_partitions> which) {
  const unsigned shard = broker_.group_shard(group_id);
  co_return co_await broker_.shards().invoke_on(
      shard, broker_.coordinator(shard).fetch_offsets(std::move(group_id), std::move(which)));
}

net::task<std::vector<group_overview>> group_service::list(const request_identity& /*who*/) {
  std::vector<group_overview> out;
  for (unsigned s = 0; s < broker_.shards().size(); ++s) {
    auto groups = co_await broker_.shards().invoke_on(s, broker_.coordinator(s).list());
    for (auto& g : groups) out.push_back(std::move(g));
  }
  co_return out;
}

net::task<group_description> group_service::describe(const request_identity& /*who*/,
                                                     std::string group_id) {
  const unsigned shard = broker_.group_shard(group_id);
  co_return co_await broker_.shards().invoke_on(
      shard, broker_.coordinator(shard).describe(std::move(group_id)));
}

net::task<std::error_code> group_service::delete_group(const request_identity& who,
                                                       std::string group_id) {
  const unsigned shard = broker_.group_shard(group_id);
  const std::string name = group_id;
  auto ec = co_await broker_.shards().invoke_on(
      shard, broker_.coordinator(shard).delete_group(std::move(group_id)));
  if (!ec) base::logger("broker")->info("deleted group {}, for {}", name, audit_name(who));
  co_return ec;
}

net::task<std::pair<std::error_code, std::vector<std::error_code>>> group_service::delete_offsets(
    const request_identity& who, std::string group_id,
    std::vector<std::pair<std::string, int32_t>> partitions, std::set<std::string> subscribed) {
  const unsigned shard = broker_.group_shard(group_id);
  const std::string name = group_id;
  auto out = co_await broker_.shards().invoke_on(
      shard, broker_.coordinator(shard).delete_offsets(std::move(group_id), std::move(partitions),
                                                       std::move(subscribed)));
  if (!out.first) {
    base::logger("broker")->info("deleted committed offsets of group {}, for {}", name,
                                 audit_name(who));
  }
  co_return out;
}

net::task<std::vector<group_offset_stat>> group_service::offset_stats() {
  std::vector<group_offset_stat> out;
  for (unsigned s = 0; s < broker_.shards().size(); ++s) {
    auto part = co_await broker_.shards().invoke_on(s, broker_.coordinator(s).offset_stats());
    out.insert(out.end(), part.begin(), part.end());
  }
  co_return out;
}

}  // namespace broker
