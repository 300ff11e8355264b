#include "storage/cleaner_checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "base/file.h"
#include "storage/errc.h"

namespace storage {
namespace {

constexpr std::string_view kMagic = "riptide-cleaner v1";

}  // namespace

int64_t cleaner_checkpoint::tombstone_horizon(int64_t now_ms, int64_t delete_retention_ms) const {
  int64_t horizon = 0;
  for (const auto& r : ranges) {
    if (r.cleaned_ms > now_ms - delete_retention_ms) break;
    horizon = r.end;
  }
  return horizon;
}

bool cleaner_checkpoint::tombstones_due(int64_t now_ms, int64_t delete_retention_ms) const {
  for (const auto& r : ranges) {
    if (r.cleaned_ms > now_ms - delete_retention_ms) break;
    if (r.tombstones > 0) return true;
  }
  return false;
}

size_t cleaner_checkpoint::range_of(int64_t offset) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), offset,
                             [](int64_t o, const cleaned_range& r) { return o < r.end; });
  return static_cast<size_t>(it - ranges.begin());
}

void cleaner_checkpoint::add_round(int64_t new_cleaned_to, int64_t now_ms) {
  if (new_cleaned_to > cleaned_to) {
    const int64_t last_ms = ranges.empty() ? now_ms : ranges.back().cleaned_ms;
    ranges.push_back({new_cleaned_to, std::max(now_ms, last_ms), 0});
    cleaned_to = new_cleaned_to;
  }
  while (ranges.size() > max_ranges) {
    // Merge the two neighbours cleaned closest in time; the merged range takes the later
    // time, so no tombstone is removed sooner than its own range allowed.
    size_t best = 0;
    for (size_t i = 1; i + 1 < ranges.size(); ++i) {
      if (ranges[i + 1].cleaned_ms - ranges[i].cleaned_ms <
          ranges[best + 1].cleaned_ms - ranges[best].cleaned_ms) {
        best = i;
      }
    }
    ranges[best + 1].tombstones += ranges[best].tombstones;
    ranges.erase(ranges.begin() + static_cast<long>(best));
  }
}

std::vector<uint8_t> cleaner_checkpoint::serialize() const {
  std::string s =
      fmt::format("{}\ncleaned_to {}\nrewritten_below {}\n", kMagic, cleaned_to, rewritten_below);
  for (const auto& r : ranges) {
    s += fmt::format("range {} {} {}\n", r.end, r.cleaned_ms, r.tombstones);
  }
  return {s.begin(), s.end()};
}

std::optional<cleaner_checkpoint> cleaner_checkpoint::parse(std::span<const uint8_t> bytes) {
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  std::string line, word;
  if (!std::getline(in, line) || line != kMagic) return std::nullopt;
  cleaner_checkpoint c;
  if (!(in >> word) || word != "cleaned_to" || !(in >> c.cleaned_to)) return std::nullopt;
  if (!(in >> word) || word != "rewritten_below" || !(in >> c.rewritten_below)) {
    return std::nullopt;
  }
  while (in >> word) {
    cleaned_range r;
    if (word != "range" || !(in >> r.end >> r.cleaned_ms >> r.tombstones)) return std::nullopt;
    if (r.end < 0 || (!c.ranges.empty() && r.end <= c.ranges.back().end)) return std::nullopt;
    c.ranges.push_back(r);
    if (c.ranges.size() > 4 * max_ranges) return std::nullopt;
  }
  if (c.cleaned_to < 0 || c.rewritten_below < 0) return std::nullopt;
  return c;
}

base::result<std::optional<cleaner_checkpoint>> read_cleaner_checkpoint(
    const std::filesystem::path& dir) {
  auto bytes = base::read_whole_file(dir / cleaner_checkpoint_file);
  if (!bytes) {
    if (bytes.error() == std::errc::no_such_file_or_directory) {
      return std::optional<cleaner_checkpoint>{};
    }
    return bytes.error();
  }
  auto c = cleaner_checkpoint::parse(
      std::span(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size()));
  if (!c) return errc::invalid_batch;
  return std::optional<cleaner_checkpoint>(std::move(*c));
}

base::status write_cleaner_checkpoint(const std::filesystem::path& dir,
                                      const cleaner_checkpoint& c) {
  return base::write_file_atomically(dir / cleaner_checkpoint_file, c.serialize());
}

}  // namespace storage
