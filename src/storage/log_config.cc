#include "storage/log_config.h"

namespace storage {

std::optional<durability> parse_durability(std::string_view s) {
  if (s == "fsync") return durability::fsync;
  if (s == "interval") return durability::interval;
  if (s == "page_cache") return durability::page_cache;
  return std::nullopt;
}

std::string_view to_string(durability d) {
  switch (d) {
    case durability::fsync:
      return "fsync";
    case durability::interval:
      return "interval";
    case durability::page_cache:
      return "page_cache";
  }
  return "?";
}

}  // namespace storage
