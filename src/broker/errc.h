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
};
inline constexpr errc last_errc = errc::too_many_groups;  // keep it the last value
const std::error_category& broker_category();
inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), broker_category()};
}

}  // namespace broker

template <>
struct std::is_error_code_enum<broker::errc> : true_type {};
