#include "storage/checkpoint.h"

#include <charconv>
#include <string>
#include <string_view>

#include "base/file.h"

namespace storage {
namespace {

constexpr std::string_view kRecoveryMagic = "riptide-recovery-point v1 ";
constexpr std::string_view kLogStartMagic = "riptide-log-start-offset v1 ";

base::status write_offset(const std::filesystem::path& path, std::string_view magic,
                          int64_t offset) {
  std::string s(magic);
  s += std::to_string(offset);
  s += '\n';
  return base::write_file_atomically(
      path, std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::optional<int64_t> read_offset(const std::filesystem::path& path, std::string_view magic) {
  auto content = base::read_whole_file(path);
  if (!content) return std::nullopt;
  std::string_view s = *content;
  if (!s.starts_with(magic) || !s.ends_with('\n')) return std::nullopt;
  s.remove_prefix(magic.size());
  s.remove_suffix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

base::status write_recovery_point(const std::filesystem::path& dir, int64_t offset) {
  return write_offset(dir / recovery_point_file, kRecoveryMagic, offset);
}

std::optional<int64_t> read_recovery_point(const std::filesystem::path& dir) {
  return read_offset(dir / recovery_point_file, kRecoveryMagic);
}

base::status write_log_start(const std::filesystem::path& dir, int64_t offset) {
  return write_offset(dir / log_start_file, kLogStartMagic, offset);
}

std::optional<int64_t> read_log_start(const std::filesystem::path& dir) {
  return read_offset(dir / log_start_file, kLogStartMagic);
}

}  // namespace storage
