#pragma once
// Errors of the broker layer; front doors translate them once into protocol codes.

#include <system_error>

namespace broker {

enum class errc {
  ok = 0,
  topic_exists,
  unknown_topic,
  invalid_topic_name,
  invalid_partitions,
  invalid_config,
  invalid_replication_factor,
  storage_error,
  internal_topic,  // the offsets topic: written only by the group coordinator
  // Consumer groups.
  invalid_group_id,
  unknown_member_id,
  invalid_session_timeout,
  rebalance_in_progress,
  illegal_generation,
  inconsistent_group_protocol,
  member_id_required,
  fenced_instance_id,
  group_max_size_reached,
  group_id_not_found,
  non_empty_group,
  group_subscribed_to_topic,
  offset_metadata_too_large,
  member_metadata_too_large,
  coordinator_not_available,
  unsupported_transactions,
  damaged_metadata,            // a file of the data directory is unreadable; the log says which
  limit_exceeded,              // an object limit (limits.*) would be passed
  too_many_topics_in_request,  // limits.max_topics_per_request: the rest may be sent again
  too_many_groups,             // groups.max_groups reached
  // Records and partitions (from the partition logs below).
  corrupt_batch,            // a batch's CRC does not match its bytes
  invalid_batch,            // impossible lengths, counts or offsets in a batch
  unsupported_magic,        // a batch that is not RecordBatch v2
  unsupported_compression,  // a codec the front door's protocol version does not allow
  batch_too_large,          // larger than the topic's max.message.bytes
  offset_out_of_range,      // below the log start or above the log end
  log_read_only,            // a write or fsync failed earlier; the partition refuses appends
  disk_full,                // appends resume when space returns
  not_owner,                // the partition is not (or no longer) served here
  out_of_order_sequence,    // an idempotent producer skipped or repeated sequences
  invalid_producer_epoch,   // a producer epoch older than the partition has seen
  invalid_record,           // records that do not parse or do not match their batch
  invalid_timestamp,        // a timestamp outside what the topic accepts
  temporarily_unavailable,  // nothing was done; the same request may succeed later
  not_enough_replicas,      // fewer in-sync replicas than min.insync.replicas
  invalid_request,          // arguments that make no sense (a negative timestamp, ...)
  internal_error,           // a bug: the operation failed unexpectedly (the log says why)
};
inline constexpr errc last_errc = errc::internal_error;  // keep it the last value
const std::error_category& broker_category();
inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), broker_category()};
}

// Every error a broker operation reports, in the broker's terms: errors of the layers
// below (storage, the system) become the errc a front door knows how to answer; a broker
// error is returned as is. Front doors map only broker errors.
std::error_code to_broker_error(std::error_code ec);

}  // namespace broker

template <>
struct std::is_error_code_enum<broker::errc> : true_type {};
