#include "storage/ntp.h"

#include <charconv>

namespace storage {

std::optional<ntp> ntp::from_dir_name(std::string_view name) {
  auto dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  int32_t p = 0;
  auto digits = name.substr(dash + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || p < 0) return std::nullopt;
  return ntp{std::string(name.substr(0, dash)), p};
}

}  // namespace storage
