#pragma once
// Errors of the storage layer. Front doors (kafka/, http/) translate them once, at
// their edge, into protocol error codes.

#include <filesystem>
#include <string>
#include <system_error>

namespace storage {

enum class errc {
  ok = 0,
  corrupt_batch,        // CRC-32C does not match the batch's bytes
  invalid_batch,        // impossible lengths, counts or offsets
  unsupported_magic,    // a batch whose magic byte is not 2
  batch_too_large,      // larger than the log's max_batch_bytes
  offset_out_of_range,  // below log-start or above log-end
  log_read_only,        // a write or fsync failed earlier; the log refuses appends
  disk_full,            // no space (or below min_free_bytes); appends resume when space returns
  log_closed,
  partition_exists,
  partition_not_found,
  data_dir_locked,         // another process holds the data directory
  out_of_order_sequence,   // an idempotent producer's batch skips or repeats sequences
  invalid_producer_epoch,  // a batch from a producer epoch older than the partition has seen
  invalid_record,          // a batch's records do not parse or do not match its header
  invalid_timestamp,       // a record's timestamp is outside what the topic accepts
  // A file could not be opened or created for now (out of descriptors, permissions, a
  // segment being swapped): nothing was written; the same request may succeed later.
  temporarily_unavailable,  // keep it the last value (last_errc)
};

inline constexpr errc last_errc = errc::temporarily_unavailable;
const std::error_category& storage_category();
inline std::error_code make_error_code(errc e) {
  return {static_cast<int>(e), storage_category()};
}

// Whether failing to open or create a file with `ec` may stop without a restart: out of
// descriptors or memory, permissions (never a fsync's or a write's error).
bool is_transient_open_error(std::error_code ec);
// What the operator can do about a file of `dir` that cannot be opened or created.
std::string open_error_fix(std::error_code ec, const std::filesystem::path& dir);

}  // namespace storage

template <>
struct std::is_error_code_enum<storage::errc> : true_type {};
