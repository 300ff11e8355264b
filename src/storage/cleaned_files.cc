#include "storage/cleaned_files.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "base/file.h"
#include "storage/errc.h"
#include "storage/record_batch.h"
#include "storage/segment.h"

namespace storage {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kExts[] = {".index", ".timeindex", ".log"};  // the log last

std::optional<int64_t> parse_base(std::string_view name) {
  if (name.size() < 20) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 20, v);
  if (ec != std::errc() || p != name.data() + 20 || v < 0) return std::nullopt;
  return v;
}

base::status rename_if_present(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) return ec;
  return {};
}

// The offset following the last batch of a swap file (its batches were fsynced before
// it got the name, so they are whole).
base::result<int64_t> end_of(const fs::path& log, int64_t base) {
  auto f = base::file::open(log, base::file::mode::read_only);
  if (!f) return f.error();
  auto size = (*f)->size();
  if (!size) return size.error();
  int64_t end = base;
  uint8_t buf[batch_header_size];
  for (uint64_t pos = 0; pos < *size;) {
    auto n = (*f)->pread(buf, sizeof buf, pos);
    if (!n) return n.error();
    if (*n != sizeof buf) return errc::invalid_batch;
    const auto h = decode_header(buf);
    RIPTIDE_TRY(check_header(h, *size - pos));
    if (h.base_offset < end) return errc::invalid_batch;
    end = h.next_offset();
    pos += h.size_bytes();
  }
  return end;
}

}  // namespace

fs::path segment_file(const fs::path& dir, int64_t base, std::string_view ext,
                      std::string_view suffix) {
  std::string name = segment::file_stem(base);
  name += ext;
  name += suffix;
  return dir / name;
}

base::status commit_cleaned(const fs::path& dir, int64_t base) {
  for (auto ext : kExts) {
    std::error_code ec;
    fs::rename(segment_file(dir, base, ext, cleaned_suffix),
               segment_file(dir, base, ext, swap_suffix), ec);
    if (ec) return ec;
  }
  return base::fsync_directory(dir);
}

base::status complete_swap(const fs::path& dir, int64_t base,
                           const std::vector<int64_t>& replaced) {
  std::vector<fs::path> doomed;
  for (int64_t b : replaced) {
    if (b == base) continue;
    for (auto ext : kExts) {
      auto p = segment_file(dir, b, ext);
      auto to = p;
      to += ".deleted";
      std::error_code ec;
      fs::rename(p, to, ec);
      if (!ec) doomed.push_back(std::move(to));
    }
  }
  for (auto ext : kExts) {
    RIPTIDE_TRY(
        rename_if_present(segment_file(dir, base, ext, swap_suffix), segment_file(dir, base, ext)));
  }
  RIPTIDE_TRY(base::fsync_directory(dir));
  for (const auto& p : doomed) {
    std::error_code ec;
    fs::remove(p, ec);
  }
  return {};
}

void remove_cleaned(const fs::path& dir, int64_t base) {
  for (auto ext : kExts) {
    std::error_code ec;
    fs::remove(segment_file(dir, base, ext, cleaned_suffix), ec);
  }
}

base::result<swap_report> finish_interrupted_swaps(const fs::path& dir) {
  swap_report report;
  std::vector<fs::path> cleaned, index_swaps;
  std::vector<int64_t> log_swaps, logs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto name = entry.path().filename().string();
    auto base = parse_base(name);
    if (!base) continue;
    const std::string_view rest = std::string_view(name).substr(20);
    if (rest.ends_with(cleaned_suffix)) {
      cleaned.push_back(entry.path());
    } else if (rest == ".log.swap") {
      log_swaps.push_back(*base);
    } else if (rest.ends_with(swap_suffix)) {
      index_swaps.push_back(entry.path());
    } else if (rest == ".log") {
      logs.push_back(*base);
    }
  }
  if (ec) return ec;
  for (const auto& p : cleaned) {
    fs::remove(p, ec);
    if (ec) return ec;
    ++report.rolled_back;
  }
  std::sort(log_swaps.begin(), log_swaps.end());
  for (int64_t base : log_swaps) {
    auto end = end_of(segment_file(dir, base, ".log", swap_suffix), base);
    if (!end) {
      // Never renamed to .swap before it was whole and fsynced: the disk lost it. The
      // segments it would replace are kept, as far as they are still there.
      for (auto ext : kExts) fs::remove(segment_file(dir, base, ext, swap_suffix), ec);
      continue;
    }
    std::vector<int64_t> replaced{base};
    for (int64_t b : logs) {
      if (b > base && b < *end) replaced.push_back(b);
    }
    RIPTIDE_TRY(complete_swap(dir, base, replaced));
    report.segments_replaced += replaced.size();
    ++report.completed;
  }
  // Index swaps whose log never became a swap belong to an abandoned rewrite.
  for (const auto& p : index_swaps) fs::remove(p, ec);
  if (!cleaned.empty() || !log_swaps.empty() || !index_swaps.empty()) {
    RIPTIDE_TRY(base::fsync_directory(dir));
  }
  return report;
}

}  // namespace storage
