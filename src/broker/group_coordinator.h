#pragma once
// group_coordinator: the consumer groups of one shard and their committed offsets.
//
// Every group maps to one partition of the offsets topic (`__consumer_offsets`, a
// fixed number of partitions chosen when the data directory is created), and is owned
// by the shard that owns that partition: the group's state, its offsets and the log
// its commits are appended to all live on that shard. Requests for a group are sent
// there with shard_set::invoke_on (broker::group_shard names it).
//
// A commit is answered only once its record is durable under the broker's durability
// policy; the offsets topic is replayed at start. Offsets of a group that has had no
// members for offsets_retention_ms are deleted (tombstones are appended). The offsets
// topic is compacted by the log cleaner like any cleanup.policy=compact topic: it keeps
// the latest record per (group, topic, partition), and tombstones for
// delete.retention.ms, so a replay still sees every deletion it must.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/group.h"
#include "broker/offsets_log.h"
#include "net/task.h"

namespace storage {
class partition_log;
}

namespace broker {

class broker;

struct group_options {
  group_limits limits;
  int32_t offsets_partitions = 8;
  int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;
  size_t max_offset_metadata_bytes = 4096;
  // Groups the broker keeps (each shard keeps its share: groups spread over shards by id).
  size_t max_groups = 100'000;
};

struct commit_request {
  std::string group_id;
  std::string member_id;
  std::optional<std::string> instance_id;
  int32_t generation = -1;
  struct partition {
    std::string topic;
    int32_t partition = 0;
    committed_offset value;
  };
  std::vector<partition> partitions;
};

// What OffsetFetch asks: every committed partition (nullopt) or the ones listed.
using topic_partitions = std::vector<std::pair<std::string, std::vector<int32_t>>>;

struct fetched_offsets {
  std::error_code error;
  struct partition {
    std::string topic;
    int32_t partition = 0;
    committed_offset value;  // offset -1: nothing committed
  };
  std::vector<partition> partitions;
};

struct group_overview {
  std::string group_id;
  std::string protocol_type;
  group_state state;
};

struct group_description {
  std::string group_id;
  group_state state = group_state::dead;
  std::string protocol_type;
  std::string protocol_name;
  std::vector<member_description> members;
};

struct group_offset_stat {
  std::string group;
  std::string topic;
  int32_t partition;
  int64_t committed;
};

class group_coordinator {
 public:
  group_coordinator(broker& b, unsigned shard, const group_options& opts);
  ~group_coordinator();
  group_coordinator(const group_coordinator&) = delete;
  group_coordinator& operator=(const group_coordinator&) = delete;

  // On the shard, before it serves requests: replays the offsets partitions it owns.
  base::status load();
  // The periodic timer (sessions, rebalances, offset expiry); run it on the shard.
  net::task<void> run_timers();
  // On the shard: ends every wait with COORDINATOR_NOT_AVAILABLE and stops the timer.
  void stop();

  net::task<join_result> join(join_request r);
  net::task<sync_result> sync(sync_request r);
  net::task<std::error_code> heartbeat(std::string group_id, std::string member_id,
                                       std::optional<std::string> instance_id, int32_t generation);
  // One error per (member id, instance id) leaving.
  net::task<std::vector<std::error_code>> leave(
      std::string group_id,
      std::vector<std::pair<std::string, std::optional<std::string>>> members);
  // One error per partition, in the request's order.
  net::task<std::vector<std::error_code>> commit(commit_request r);
  net::task<fetched_offsets> fetch_offsets(std::string group_id,
                                           std::optional<topic_partitions> which);
  net::task<std::vector<group_overview>> list();
  net::task<group_description> describe(std::string group_id);
  net::task<std::error_code> delete_group(std::string group_id);
  // Deletes committed offsets; partitions of topics in `subscribed` are refused while
  // the group has members.
  net::task<std::pair<std::error_code, std::vector<std::error_code>>> delete_offsets(
      std::string group_id, std::vector<std::pair<std::string, int32_t>> partitions,
      std::set<std::string> subscribed);
  net::task<std::vector<group_offset_stat>> offset_stats();

 private:
  struct entry {
    std::unique_ptr<group> g;
    std::map<std::pair<std::string, int32_t>, committed_offset> offsets;
    int64_t empty_since_wall = -1;
  };
  entry& get_or_create(const std::string& group_id);
  // False (and a log line) when a new group would pass this shard's share of max_groups.
  bool room_for_group(const std::string& group_id) const;
  std::shared_ptr<storage::partition_log> offsets_log(const std::string& group_id) const;
  // Appends offset records (nullopt value: delete); the callback runs once durable.
  base::result<int64_t> append_records(
      const std::string& group_id,
      const std::vector<std::pair<offset_key, std::optional<committed_offset>>>& records);
  net::task<std::error_code> wait_durable(std::string group_id, int64_t end_offset);
  void tick();
  void expire_offsets(int64_t now_wall);

  broker& broker_;
  unsigned shard_;
  const group_options& opts_;
  std::map<std::string, entry> groups_;
  struct ticker;  // the timer of run_timers() (Asio, kept out of this header)
  std::unique_ptr<ticker> timer_;
  bool stopping_ = false;
  int64_t last_expiry_check_ = 0;
};

}  // namespace broker
