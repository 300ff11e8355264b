#include "kafka/server/error_codes.h"

#include "broker/errc.h"

namespace kafka {

error_code to_kafka_error(std::error_code ec) {
  if (!ec) return error_code::none;
  ec = broker::to_broker_error(ec);
  if (ec.category() == broker::broker_category()) {
    switch (static_cast<broker::errc>(ec.value())) {
      case broker::errc::ok:
        return error_code::none;
      case broker::errc::topic_exists:
        return error_code::topic_already_exists;
      case broker::errc::unknown_topic:
        return error_code::unknown_topic_or_partition;
      case broker::errc::invalid_topic_name:
        return error_code::invalid_topic_exception;
      case broker::errc::invalid_partitions:
        return error_code::invalid_partitions;
      case broker::errc::invalid_config:
        return error_code::invalid_config;
      case broker::errc::invalid_replication_factor:
        return error_code::invalid_replication_factor;
      case broker::errc::storage_error:
      case broker::errc::damaged_metadata:
        return error_code::kafka_storage_error;
      case broker::errc::internal_topic:
        return error_code::invalid_topic_exception;
      case broker::errc::invalid_group_id:
        return error_code::invalid_group_id;
      case broker::errc::unknown_member_id:
        return error_code::unknown_member_id;
      case broker::errc::invalid_session_timeout:
        return error_code::invalid_session_timeout;
      case broker::errc::rebalance_in_progress:
        return error_code::rebalance_in_progress;
      case broker::errc::illegal_generation:
        return error_code::illegal_generation;
      case broker::errc::inconsistent_group_protocol:
        return error_code::inconsistent_group_protocol;
      case broker::errc::member_id_required:
        return error_code::member_id_required;
      case broker::errc::fenced_instance_id:
        return error_code::fenced_instance_id;
      case broker::errc::group_max_size_reached:
        return error_code::group_max_size_reached;
      case broker::errc::group_id_not_found:
        return error_code::group_id_not_found;
      case broker::errc::non_empty_group:
        return error_code::non_empty_group;
      case broker::errc::group_subscribed_to_topic:
        return error_code::group_subscribed_to_topic;
      case broker::errc::offset_metadata_too_large:
        return error_code::offset_metadata_too_large;
      case broker::errc::member_metadata_too_large:
        return error_code::invalid_request;
      case broker::errc::coordinator_not_available:
        return error_code::coordinator_not_available;
      case broker::errc::unsupported_transactions:
        return error_code::transactional_id_authorization_failed;
      case broker::errc::too_many_groups:
        return error_code::policy_violation;
      case broker::errc::limit_exceeded:
        return error_code::policy_violation;
      case broker::errc::too_many_topics_in_request:
        return error_code::throttling_quota_exceeded;
      case broker::errc::corrupt_batch:
      case broker::errc::invalid_batch:
        return error_code::corrupt_message;
      case broker::errc::unsupported_magic:
        return error_code::unsupported_for_message_format;
      case broker::errc::unsupported_compression:
        return error_code::unsupported_compression_type;
      case broker::errc::batch_too_large:
        return error_code::message_too_large;
      case broker::errc::offset_out_of_range:
        return error_code::offset_out_of_range;
      case broker::errc::log_read_only:
      case broker::errc::disk_full:
      case broker::errc::temporarily_unavailable:  // retriable: clients try again
        return error_code::kafka_storage_error;
      case broker::errc::not_owner:
        return error_code::not_leader_or_follower;
      case broker::errc::out_of_order_sequence:
        return error_code::out_of_order_sequence_number;
      case broker::errc::invalid_producer_epoch:
        return error_code::invalid_producer_epoch;
      case broker::errc::invalid_record:
        return error_code::invalid_record;
      case broker::errc::invalid_timestamp:
        return error_code::invalid_timestamp;
      case broker::errc::not_enough_replicas:
        return error_code::not_enough_replicas;
      case broker::errc::invalid_request:
        return error_code::invalid_request;
      case broker::errc::internal_error:
        return error_code::unknown_server_error;
    }
  }
  return error_code::unknown_server_error;
}

}  // namespace kafka
