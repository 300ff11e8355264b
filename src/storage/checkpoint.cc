#include "storage/checkpoint.h"

#include <charconv>
#include <string>
#include <string_view>

#include "base/file.h"

namespace storage {
namespace {
constexpr std::string_view kMagic = "riptide-recovery-point v1 ";
}

base::status write_recovery_point(const std::filesystem::path& dir, int64_t offset) {
  std::string s(kMagic);
  s += std::to_string(offset);
  s += '\n';
  return base::write_file_atomically(
      dir / recovery_point_file, std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

std::optional<int64_t> read_recovery_point(const std::filesystem::path& dir) {
  auto content = base::read_whole_file(dir / recovery_point_file);
  if (!content) return std::nullopt;
  std::string_view s = *content;
  if (!s.starts_with(kMagic) || !s.ends_with('\n')) return std::nullopt;
  s.remove_prefix(kMagic.size());
  s.remove_suffix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace storage
