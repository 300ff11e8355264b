#pragma once
// One-offset files of a partition directory, each replaced atomically (temp file, fsync,
// rename, fsync directory):
//  - the recovery point: every batch below this offset was fsynced and validated, so
//    recovery re-validates only what lies at or after it;
//  - the log start offset moved by DeleteRecords: offsets below it are gone for readers
//    even while the segment holding them is still on disk.

#include <cstdint>
#include <filesystem>
#include <optional>

#include "base/result.h"

namespace storage {

inline constexpr const char* recovery_point_file = "recovery-point";
inline constexpr const char* log_start_file = "log-start-offset";

base::status write_recovery_point(const std::filesystem::path& dir, int64_t offset);
// nullopt when the file is absent or unreadable (then everything is re-validated).
std::optional<int64_t> read_recovery_point(const std::filesystem::path& dir);

base::status write_log_start(const std::filesystem::path& dir, int64_t offset);
// nullopt when the file is absent or unreadable (then the first segment's base counts).
std::optional<int64_t> read_log_start(const std::filesystem::path& dir);

}  // namespace storage
