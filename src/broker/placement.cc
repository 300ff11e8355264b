#include "broker/placement.h"

#include <algorithm>

#include "broker/delayed_records.h"

namespace broker {

single_node_placement::single_node_placement(int32_t node, unsigned shards)
    : node_(node), shards_(std::max(shards, 1u)) {}

partition_location single_node_placement::locate(std::string_view topic, int32_t partition) const {
  // The records a shard holds for delayed delivery go to a partition of its own.
  if (topic == delayed_topic && partition >= 0) {
    return {node_, static_cast<unsigned>(partition) % shards_, replica_role::leader};
  }
  // FNV-1a over the name, mixed with the partition: stable across runs and shards.
  uint64_t h = 1469598103934665603ull;
  for (char c : topic) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  h ^= static_cast<uint64_t>(partition) * 0x9e3779b97f4a7c15ull;
  return {node_, static_cast<unsigned>((h ^ (h >> 29)) % shards_), replica_role::leader};
}

std::vector<int32_t> single_node_placement::replicas(std::string_view, int32_t) const {
  return {node_};
}

std::vector<int32_t> single_node_placement::in_sync(std::string_view, int32_t) const {
  return {node_};
}

}  // namespace broker
