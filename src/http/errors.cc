#include "http/errors.h"

#include "broker/errc.h"

namespace http {

http_error classify(std::error_code raw) {
  const std::error_code ec = broker::to_broker_error(raw);
  if (ec.category() != broker::broker_category()) return {500, "internal_error", 50000};
  using broker::errc;
  switch (static_cast<errc>(ec.value())) {
    case errc::ok:
      return {200, "ok", 0};
    case errc::topic_exists:
      return {409, "topic_exists", 40901};
    case errc::unknown_topic:
      return {404, "unknown_topic", 40401};
    case errc::invalid_topic_name:
      return {400, "invalid_topic_name", 40001};
    case errc::invalid_partitions:
      return {400, "invalid_partitions", 40002};
    case errc::invalid_config:
      return {400, "invalid_config", 40003};
    case errc::invalid_replication_factor:
      return {400, "invalid_replication_factor", 40004};
    case errc::storage_error:
      return {500, "storage_error", 50001};
    case errc::internal_topic:
      return {403, "internal_topic", 40301};
    case errc::invalid_group_id:
      return {400, "invalid_group_id", 40005};
    case errc::unknown_member_id:
      return {404, "unknown_member", 40403};
    case errc::invalid_session_timeout:
      return {400, "invalid_session_timeout", 40006};
    case errc::rebalance_in_progress:
      return {409, "rebalance_in_progress", 40902};
    case errc::illegal_generation:
      return {409, "illegal_generation", 40903};
    case errc::inconsistent_group_protocol:
      return {409, "inconsistent_group_protocol", 40904};
    case errc::member_id_required:
      return {409, "member_id_required", 40905};
    case errc::fenced_instance_id:
      return {409, "fenced_instance_id", 40906};
    case errc::group_max_size_reached:
      return {429, "group_max_size_reached", 42901};
    case errc::group_id_not_found:
      return {404, "unknown_group", 40404};
    case errc::non_empty_group:
      return {409, "non_empty_group", 40907};
    case errc::group_subscribed_to_topic:
      return {409, "group_subscribed_to_topic", 40908};
    case errc::offset_metadata_too_large:
      return {413, "offset_metadata_too_large", 41301};
    case errc::member_metadata_too_large:
      return {413, "member_metadata_too_large", 41302};
    case errc::coordinator_not_available:
      return {503, "coordinator_not_available", 50301};
    case errc::unsupported_transactions:
      return {400, "unsupported_transactions", 40007};
    case errc::damaged_metadata:
      return {500, "damaged_metadata", 50002};
    case errc::limit_exceeded:
      return {409, "limit_exceeded", 40909};
    case errc::too_many_topics_in_request:
      return {413, "too_many_topics_in_request", 41303};
    case errc::too_many_groups:
      return {409, "too_many_groups", 40910};
    case errc::corrupt_batch:
      return {400, "corrupt_batch", 40008};
    case errc::invalid_batch:
      return {400, "invalid_batch", 40009};
    case errc::unsupported_magic:
      return {400, "unsupported_magic", 40010};
    case errc::unsupported_compression:
      return {400, "unsupported_compression", 40011};
    case errc::batch_too_large:
      return {413, "records_too_large", 41304};
    case errc::offset_out_of_range:
      return {416, "offset_out_of_range", 41601};
    case errc::log_read_only:
      return {503, "partition_read_only", 50302};
    case errc::disk_full:
      return {507, "disk_full", 50701};
    case errc::not_owner:
      return {503, "not_leader", 50303};
    case errc::out_of_order_sequence:
      return {409, "out_of_order_sequence", 40911};
    case errc::invalid_producer_epoch:
      return {409, "invalid_producer_epoch", 40912};
    case errc::invalid_record:
      return {400, "invalid_record", 40012};
    case errc::invalid_timestamp:
      return {400, "invalid_timestamp", 40013};
    case errc::temporarily_unavailable:
      return {503, "temporarily_unavailable", 50304};
    case errc::not_enough_replicas:
      return {503, "not_enough_replicas", 50305};
    case errc::invalid_request:
      return {400, "invalid_request", 40014};
    case errc::internal_error:
      return {500, "internal_error", 50000};
  }
  return {500, "internal_error", 50000};
}

response from_error(std::error_code ec, std::string message) {
  const http_error e = classify(ec);
  if (message.empty()) message = broker::to_broker_error(ec).message();
  return error(e.status, e.name, std::move(message), e.code);
}

}  // namespace http
