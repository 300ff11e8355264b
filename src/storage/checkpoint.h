#pragma once
// The recovery point of a partition: every batch below this offset was fsynced and
// validated, so recovery re-validates only what lies at or after it. The file is
// replaced atomically (temp file, fsync, rename, fsync directory).

#include <cstdint>
#include <filesystem>
#include <optional>

#include "base/result.h"

namespace storage {

inline constexpr const char* recovery_point_file = "recovery-point";

base::status write_recovery_point(const std::filesystem::path& dir, int64_t offset);
// nullopt when the file is absent or unreadable (then everything is re-validated).
std::optional<int64_t> read_recovery_point(const std::filesystem::path& dir);

}  // namespace storage
