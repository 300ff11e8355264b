#include "kafka/server/error_codes.h"

#include "broker/broker.h"
#include "storage/errc.h"

namespace kafka {

error_code to_kafka_error(std::error_code ec) {
  if (!ec) return error_code::none;
  if (ec.category() == storage::storage_category()) {
    switch (static_cast<storage::errc>(ec.value())) {
      case storage::errc::ok:
        return error_code::none;
      case storage::errc::corrupt_batch:
        return error_code::corrupt_message;
      case storage::errc::invalid_batch:
        return error_code::corrupt_message;
      case storage::errc::unsupported_magic:
        return error_code::unsupported_for_message_format;
      case storage::errc::batch_too_large:
        return error_code::message_too_large;
      case storage::errc::offset_out_of_range:
        return error_code::offset_out_of_range;
      case storage::errc::log_read_only:
        return error_code::kafka_storage_error;
      case storage::errc::disk_full:
        return error_code::kafka_storage_error;
      case storage::errc::log_closed:
        return error_code::not_leader_or_follower;
      case storage::errc::partition_exists:
        return error_code::topic_already_exists;
      case storage::errc::partition_not_found:
        return error_code::unknown_topic_or_partition;
      case storage::errc::data_dir_locked:
        return error_code::kafka_storage_error;
    }
  }
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
        return error_code::kafka_storage_error;
    }
  }
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return error_code::kafka_storage_error;
  }
  return error_code::unknown_server_error;
}

}  // namespace kafka
