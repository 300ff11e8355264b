#pragma once
// Where a partition lives: the node that leads it, the shard of that node that owns it,
// and its replicas. Every place that routes a partition asks this interface, so that a
// replicated cluster can replace the single-node answer without touching front doors.

#include <cstdint>
#include <string_view>
#include <vector>

namespace broker {

enum class replica_role { leader, follower };

struct partition_location {
  int32_t node = 0;    // the node to send the partition's requests to (its leader)
  unsigned shard = 0;  // the shard of this node that owns its replica here
  replica_role role = replica_role::leader;  // this node's replica's role
};

class placement {
 public:
  virtual ~placement() = default;
  virtual partition_location locate(std::string_view topic, int32_t partition) const = 0;
  // The nodes holding a replica, the leader first.
  virtual std::vector<int32_t> replicas(std::string_view topic, int32_t partition) const = 0;
  // The replicas in sync with the leader.
  virtual std::vector<int32_t> in_sync(std::string_view topic, int32_t partition) const = 0;
};

// One node holds every partition; a stable hash of the name and partition picks the
// shard, so each shard owns a fair share.
class single_node_placement final : public placement {
 public:
  single_node_placement(int32_t node, unsigned shards);
  partition_location locate(std::string_view topic, int32_t partition) const override;
  std::vector<int32_t> replicas(std::string_view topic, int32_t partition) const override;
  std::vector<int32_t> in_sync(std::string_view topic, int32_t partition) const override;

 private:
  int32_t node_;
  unsigned shards_;
};

}  // namespace broker
