#include "storage/errc.h"

#include <cerrno>
#include <string>

namespace storage {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "storage"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "ok";
      case errc::corrupt_batch:
        return "record batch CRC-32C mismatch";
      case errc::invalid_batch:
        return "invalid record batch";
      case errc::unsupported_magic:
        return "record batch magic is not 2";
      case errc::batch_too_large:
        return "record batch larger than max_batch_bytes";
      case errc::offset_out_of_range:
        return "offset out of range";
      case errc::log_read_only:
        return "log is read-only after an I/O error";
      case errc::disk_full:
        return "disk full";
      case errc::log_closed:
        return "log closed";
      case errc::partition_exists:
        return "partition already exists";
      case errc::partition_not_found:
        return "partition not found";
      case errc::data_dir_locked:
        return "data directory is locked by another process";
      case errc::out_of_order_sequence:
        return "out of order sequence number from an idempotent producer";
      case errc::invalid_producer_epoch:
        return "producer epoch is older than the partition's";
      case errc::invalid_record:
        return "a record of the batch is malformed or does not match the batch header";
      case errc::invalid_timestamp:
        return "a record timestamp is outside the topic's accepted range";
      case errc::temporarily_unavailable:
        return "a file of the log cannot be opened or created for now; retry";
    }
    return "unknown storage error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& storage_category() {
  static const category c;
  return c;
}

bool is_transient_open_error(std::error_code ec) {
  if (ec.category() != std::system_category() && ec.category() != std::generic_category()) {
    return false;
  }
  switch (ec.value()) {
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EACCES:
    case EPERM:
    case EINTR:
    case EAGAIN:
      return true;
    default:
      return false;
  }
}

std::string open_error_fix(std::error_code ec, const std::filesystem::path& dir) {
  if (ec == std::errc::too_many_files_open) {
    return "raise the broker's descriptor limit (ulimit -n, LimitNOFILE= under systemd) or "
           "lower storage.max_open_segment_files";
  }
  if (ec == std::errc::too_many_files_open_in_system) {
    return "raise the system's descriptor limit (fs.file-max) or stop what holds descriptors";
  }
  if (ec == std::errc::permission_denied || ec == std::errc::operation_not_permitted) {
    return "make " + dir.string() + " writable by the broker's user";
  }
  if (ec == std::errc::no_space_on_device || ec.value() == EDQUOT) {
    return "free space (or inodes) on the data directory's file system";
  }
  return "check " + dir.string() + " and its file system";
}

}  // namespace storage
