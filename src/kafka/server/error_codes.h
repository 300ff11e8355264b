#pragma once
// Kafka protocol error codes used by the broker, and the single translation from
// broker errors to them.

#include <cstdint>
#include <system_error>

namespace kafka {

enum class error_code : int16_t {
  unknown_server_error = -1,
  none = 0,
  offset_out_of_range = 1,
  corrupt_message = 2,
  unknown_topic_or_partition = 3,
  invalid_fetch_size = 4,
  leader_not_available = 5,
  not_leader_or_follower = 6,
  request_timed_out = 7,
  message_too_large = 10,
  invalid_topic_exception = 17,
  record_list_too_large = 18,
  not_enough_replicas = 19,
  offset_metadata_too_large = 12,
  coordinator_load_in_progress = 14,
  coordinator_not_available = 15,
  not_coordinator = 16,
  invalid_required_acks = 21,
  illegal_generation = 22,
  inconsistent_group_protocol = 23,
  invalid_group_id = 24,
  unknown_member_id = 25,
  invalid_session_timeout = 26,
  rebalance_in_progress = 27,
  cluster_authorization_failed = 31,
  invalid_timestamp = 32,
  unsupported_sasl_mechanism = 33,
  illegal_sasl_state = 34,
  unsupported_version = 35,
  topic_already_exists = 36,
  invalid_partitions = 37,
  invalid_replication_factor = 38,
  invalid_replica_assignment = 39,
  invalid_config = 40,
  invalid_request = 42,
  invalid_record = 87,
  unsupported_for_message_format = 43,
  policy_violation = 44,
  out_of_order_sequence_number = 45,
  duplicate_sequence_number = 46,
  invalid_producer_epoch = 47,
  transactional_id_authorization_failed = 53,
  sasl_authentication_failed = 58,
  unknown_producer_id = 59,
  non_empty_group = 68,
  group_id_not_found = 69,
  member_id_required = 79,
  group_max_size_reached = 81,
  fenced_instance_id = 82,
  group_subscribed_to_topic = 86,
  kafka_storage_error = 56,
  log_dir_not_found = 57,
  fenced_leader_epoch = 74,
  unknown_leader_epoch = 75,
  election_not_needed = 84,
  unsupported_compression_type = 76,
  throttling_quota_exceeded = 89,
  unknown_topic_id = 100,
  resource_not_found = 91,
  duplicate_resource = 92,
  unacceptable_credential = 93,
};

inline int16_t code(error_code e) {
  return static_cast<int16_t>(e);
}

// Maps a broker error to the Kafka error a Kafka broker would answer in the same
// situation. Any other error is first put in the broker's terms (broker::to_broker_error).
error_code to_kafka_error(std::error_code ec);

}  // namespace kafka
