#pragma once
// A partition's name: topic and partition number, and its directory name
// "<topic>-<partition>" under the data directory.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace storage {

struct ntp {
  std::string topic;
  int32_t partition = 0;

  std::string dir_name() const { return topic + "-" + std::to_string(partition); }
  // Parses "<topic>-<partition>"; the topic may itself contain '-'.
  static std::optional<ntp> from_dir_name(std::string_view name);
  auto operator<=>(const ntp&) const = default;
};

}  // namespace storage
