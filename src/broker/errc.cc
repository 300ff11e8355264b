#include "broker/errc.h"

#include <string>

#include "storage/errc.h"

namespace broker {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "broker"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "ok";
      case errc::topic_exists:
        return "topic already exists";
      case errc::unknown_topic:
        return "unknown topic";
      case errc::invalid_topic_name:
        return "invalid topic name";
      case errc::invalid_partitions:
        return "invalid number of partitions";
      case errc::invalid_config:
        return "invalid topic config";
      case errc::invalid_replication_factor:
        return "invalid replication factor";
      case errc::storage_error:
        return "storage error";
      case errc::internal_topic:
        return "internal topic";
      case errc::invalid_group_id:
        return "invalid group id";
      case errc::unknown_member_id:
        return "unknown member id";
      case errc::invalid_session_timeout:
        return "session timeout outside the broker's allowed range";
      case errc::rebalance_in_progress:
        return "rebalance in progress";
      case errc::illegal_generation:
        return "illegal generation";
      case errc::inconsistent_group_protocol:
        return "inconsistent group protocol";
      case errc::member_id_required:
        return "member id required";
      case errc::fenced_instance_id:
        return "fenced instance id";
      case errc::group_max_size_reached:
        return "group is full";
      case errc::group_id_not_found:
        return "group not found";
      case errc::non_empty_group:
        return "group has members";
      case errc::group_subscribed_to_topic:
        return "group is subscribed to the topic";
      case errc::offset_metadata_too_large:
        return "offset metadata too large";
      case errc::member_metadata_too_large:
        return "member metadata too large";
      case errc::coordinator_not_available:
        return "coordinator not available";
      case errc::unsupported_transactions:
        return "transactions are not supported";
      case errc::damaged_metadata:
        return "a file of the data directory is damaged";
      case errc::too_many_groups:
        return "the broker holds as many consumer groups as groups.max_groups allows";
      case errc::limit_exceeded:
        return "over a limit of the broker";
      case errc::too_many_topics_in_request:
        return "too many topics in one request";
      case errc::corrupt_batch:
        return "corrupt record batch (CRC mismatch)";
      case errc::invalid_batch:
        return "invalid record batch";
      case errc::unsupported_magic:
        return "record batch format other than v2";
      case errc::unsupported_compression:
        return "compression codec not allowed by this protocol version";
      case errc::batch_too_large:
        return "record batch larger than the topic's max.message.bytes";
      case errc::offset_out_of_range:
        return "offset out of range";
      case errc::log_read_only:
        return "partition is read-only after a write or fsync failed";
      case errc::disk_full:
        return "the data directory is full";
      case errc::not_owner:
        return "the partition is not served here";
      case errc::out_of_order_sequence:
        return "out-of-order sequence number";
      case errc::invalid_producer_epoch:
        return "producer epoch is older than the partition has seen";
      case errc::invalid_record:
        return "invalid record";
      case errc::invalid_timestamp:
        return "timestamp outside what the topic accepts";
      case errc::temporarily_unavailable:
        return "temporarily unavailable; retry";
      case errc::not_enough_replicas:
        return "fewer in-sync replicas than min.insync.replicas";
      case errc::invalid_request:
        return "invalid request";
      case errc::internal_error:
        return "internal error";
    }
    return "broker error " + std::to_string(ev);
  }
};

errc from_storage(storage::errc e) {
  switch (e) {
    case storage::errc::ok:
      return errc::ok;
    case storage::errc::corrupt_batch:
      return errc::corrupt_batch;
    case storage::errc::invalid_batch:
      return errc::invalid_batch;
    case storage::errc::unsupported_magic:
      return errc::unsupported_magic;
    case storage::errc::batch_too_large:
      return errc::batch_too_large;
    case storage::errc::offset_out_of_range:
      return errc::offset_out_of_range;
    case storage::errc::log_read_only:
      return errc::log_read_only;
    case storage::errc::disk_full:
      return errc::disk_full;
    case storage::errc::log_closed:
      return errc::not_owner;
    case storage::errc::partition_exists:
      return errc::topic_exists;
    case storage::errc::partition_not_found:
      return errc::unknown_topic;
    case storage::errc::data_dir_locked:
      return errc::storage_error;
    case storage::errc::out_of_order_sequence:
      return errc::out_of_order_sequence;
    case storage::errc::invalid_producer_epoch:
      return errc::invalid_producer_epoch;
    case storage::errc::invalid_record:
      return errc::invalid_record;
    case storage::errc::invalid_timestamp:
      return errc::invalid_timestamp;
    case storage::errc::temporarily_unavailable:
      return errc::temporarily_unavailable;
  }
  return errc::internal_error;
}

}  // namespace

const std::error_category& broker_category() {
  static const category c;
  return c;
}

std::error_code to_broker_error(std::error_code ec) {
  if (!ec || ec.category() == broker_category()) return ec;
  if (ec.category() == storage::storage_category()) {
    return from_storage(static_cast<storage::errc>(ec.value()));
  }
  // Errors of the system below (I/O, space, descriptors) are the data directory's.
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return errc::storage_error;
  }
  return errc::internal_error;
}

}  // namespace broker
