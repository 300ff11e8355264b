#pragma once
// group_service: consumer groups for every front door. Each call names the group and
// carries who is asking; the service finds the shard that owns the group (the owner of
// its offsets partition), runs the coordinator there, and answers on the caller's shard.
// A Kafka consumer and a member joining through another front door share one group, its
// generations and its committed offsets. Call from a shard thread.

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/group_coordinator.h"
#include "broker/request_identity.h"
#include "net/task.h"

namespace broker {

class broker;

class group_service {
 public:
  explicit group_service(broker& b) : broker_(b) {}

  // The member's client id and host are taken from `who`.
  net::task<join_result> join(const request_identity& who, join_request r);
  net::task<sync_result> sync(const request_identity& who, sync_request r);
  net::task<std::error_code> heartbeat(const request_identity& who, std::string group_id,
                                       std::string member_id,
                                       std::optional<std::string> instance_id, int32_t generation);
  // One error per (member id, instance id) leaving.
  net::task<std::vector<std::error_code>> leave(
      const request_identity& who, std::string group_id,
      std::vector<std::pair<std::string, std::optional<std::string>>> members);
  // One error per partition, in the request's order.
  net::task<std::vector<std::error_code>> commit(const request_identity& who, commit_request r);
  net::task<fetched_offsets> fetch_offsets(const request_identity& who, std::string group_id,
                                           std::optional<topic_partitions> which);
  // Every group of the broker.
  net::task<std::vector<group_overview>> list(const request_identity& who);
  net::task<group_description> describe(const request_identity& who, std::string group_id);
  net::task<std::error_code> delete_group(const request_identity& who, std::string group_id);
  // Deletes committed offsets; partitions of topics in `subscribed` are refused while the
  // group has members.
  net::task<std::pair<std::error_code, std::vector<std::error_code>>> delete_offsets(
      const request_identity& who, std::string group_id,
      std::vector<std::pair<std::string, int32_t>> partitions, std::set<std::string> subscribed);

  // Every group's committed offsets (for the lag metrics).
  net::task<std::vector<group_offset_stat>> offset_stats();

 private:
  broker& broker_;
};

}  // namespace broker
