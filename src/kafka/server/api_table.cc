#include "kafka/server/api_table.h"

#include <algorithm>

#include "kafka/handlers/handlers.h"

namespace kafka {
namespace {

// Version ranges: every version listed is implemented. Minimums stay at 0 where
// librdkafka's feature detection requires it.
constexpr api_entry kApis[] = {
    {0, "Produce", 3, 9, handlers::produce, 0},
    {1, "Fetch", 4, 12, handlers::fetch},
    {2, "ListOffsets", 0, 8, handlers::list_offsets},
    {3, "Metadata", 0, 12, handlers::metadata},
    {8, "OffsetCommit", 0, 8, handlers::offset_commit},
    {9, "OffsetFetch", 0, 8, handlers::offset_fetch},
    {10, "FindCoordinator", 0, 4, handlers::find_coordinator},
    {11, "JoinGroup", 0, 7, handlers::join_group},
    {12, "Heartbeat", 0, 4, handlers::heartbeat},
    {13, "LeaveGroup", 0, 4, handlers::leave_group},
    {14, "SyncGroup", 0, 5, handlers::sync_group},
    {15, "DescribeGroups", 0, 5, handlers::describe_groups},
    {16, "ListGroups", 0, 4, handlers::list_groups},
    {17, "SaslHandshake", 0, 1, handlers::sasl_handshake},
    {18, "ApiVersions", 0, 3, handlers::api_versions},
    {19, "CreateTopics", 0, 7, handlers::create_topics},
    {20, "DeleteTopics", 0, 6, handlers::delete_topics},
    {21, "DeleteRecords", 0, 2, handlers::delete_records},
    {22, "InitProducerId", 0, 4, handlers::init_producer_id},
    {23, "OffsetForLeaderEpoch", 0, 4, handlers::offset_for_leader_epoch},
    {32, "DescribeConfigs", 0, 4, handlers::describe_configs},
    {33, "AlterConfigs", 0, 2, handlers::alter_configs},
    {34, "AlterReplicaLogDirs", 0, 2, handlers::alter_replica_log_dirs},
    {35, "DescribeLogDirs", 0, 4, handlers::describe_log_dirs},
    {36, "SaslAuthenticate", 0, 2, handlers::sasl_authenticate},
    {37, "CreatePartitions", 0, 3, handlers::create_partitions},
    {42, "DeleteGroups", 0, 2, handlers::delete_groups},
    {43, "ElectLeaders", 0, 2, handlers::elect_leaders},
    {44, "IncrementalAlterConfigs", 0, 1, handlers::incremental_alter_configs},
    {47, "OffsetDelete", 0, 0, handlers::offset_delete},
    {50, "DescribeUserScramCredentials", 0, 0, handlers::describe_user_scram_credentials},
    {51, "AlterUserScramCredentials", 0, 0, handlers::alter_user_scram_credentials},
    {60, "DescribeCluster", 0, 1, handlers::describe_cluster},
    {61, "DescribeProducers", 0, 0, handlers::describe_producers},
};

}  // namespace

std::span<const api_entry> supported_apis() {
  return kApis;
}

const api_entry* find_api(int16_t key) {
  auto it = std::find_if(std::begin(kApis), std::end(kApis),
                         [&](const api_entry& e) { return e.key == key; });
  return it == std::end(kApis) ? nullptr : it;
}

}  // namespace kafka
