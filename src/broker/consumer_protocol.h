#pragma once
// The "consumer" embedded protocol of Kafka groups: what a member sends in JoinGroup
// (ConsumerProtocolSubscription: the topics it wants) and what the leader hands out in
// SyncGroup (ConsumerProtocolAssignment: the partitions each member reads), and the range
// assignor. Members that join through a front door other than Kafka (an HTTP consumer)
// speak it so they share groups with Kafka consumers. Pure functions: any thread.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace broker {

// Topic → partitions, ordered.
using partition_assignment = std::map<std::string, std::vector<int32_t>>;

// A version 0 subscription (topics, no user data): every client version reads it.
std::vector<uint8_t> encode_subscription(const std::vector<std::string>& topics);
// The topics of a subscription of any version (0-3); nullopt when it does not parse.
std::optional<std::vector<std::string>> decode_subscription(std::span<const uint8_t> bytes);

std::vector<uint8_t> encode_assignment(const partition_assignment& a);
std::optional<partition_assignment> decode_assignment(std::span<const uint8_t> bytes);

// The range assignor as Kafka clients implement it: per topic, the members subscribed
// to it sorted by member id, each given a contiguous range (the first ones one more
// when the partitions do not divide evenly). `members`: member id → topics;
// `partitions`: topic → partition count (topics absent are skipped).
std::map<std::string, partition_assignment> assign_range(
    const std::map<std::string, std::vector<std::string>>& members,
    const std::map<std::string, int32_t>& partitions);

}  // namespace broker
