#include "storage/recovery.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <system_error>
#include <vector>

#include "base/file.h"
#include "base/logging.h"
#include "storage/checkpoint.h"
#include "storage/cleaned_files.h"
#include "storage/cleaner_checkpoint.h"
#include "storage/errc.h"

namespace storage {
namespace {

namespace fs = std::filesystem;

std::optional<int64_t> parse_stem(const std::string& stem) {
  if (stem.size() != 20) return std::nullopt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(stem.data(), stem.data() + stem.size(), v);
  if (ec != std::errc() || p != stem.data() + stem.size() || v < 0) return std::nullopt;
  return v;
}

// Lists segment base offsets, removing leftovers of interrupted deletes, atomic
// replaces and index files whose log is gone.
base::result<std::vector<int64_t>> list_segments(const fs::path& dir) {
  std::vector<int64_t> bases;
  std::vector<fs::path> indexes;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto& p = entry.path();
    const auto ext = p.extension().string();
    if (ext == ".deleted" || ext == ".tmp") {
      fs::remove(p, ec);
      continue;
    }
    auto base = parse_stem(p.stem().string());
    if (!base) continue;
    if (ext == ".log") bases.push_back(*base);
    if (ext == ".index" || ext == ".timeindex") indexes.push_back(p);
  }
  if (ec) return ec;
  std::sort(bases.begin(), bases.end());
  for (const auto& p : indexes) {
    auto log = p;
    log.replace_extension(".log");
    if (!fs::exists(log)) fs::remove(p, ec);
  }
  return bases;
}

// A segment the recovery point vouches for: its saved indexes load, the walk from the
// last index entry reaches the end of the file cleanly, and it ends where it must.
bool open_trusted(segment& seg, int64_t must_end_at, const log_config& cfg, bool allow_gaps) {
  auto offsets = base::read_whole_file(seg.offsets_path());
  auto times = base::read_whole_file(seg.times_path());
  auto f = seg.file();
  if (!offsets || !times || !f) return false;
  auto size = (*f)->size();
  if (!size) return false;
  auto as_bytes = [](const std::string& s) {
    return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  if (!seg.index().load(as_bytes(*offsets), as_bytes(*times), *size)) return false;
  boundary from{0, seg.base_offset()};
  if (auto last = seg.index().pop_last()) {
    from = {last->position, seg.base_offset() + last->relative_offset};
  }
  auto r =
      seg.scan(from, /*verify_crc=*/false, cfg.index_interval_bytes, cfg.leader_epoch, allow_gaps);
  if (!r || r->reason || r->valid_bytes != *size || r->next_offset != must_end_at) return false;
  return static_cast<bool>(seg.set_extent(*size, r->next_offset));
}

base::status remove_segment_files(const fs::path& dir, int64_t base) {
  std::error_code ec;
  for (const char* ext : {".log", ".index", ".timeindex"}) {
    fs::remove(dir / (segment::file_stem(base) + ext), ec);
    if (ec) return ec;
  }
  return {};
}

}  // namespace

std::string recovery_report::summary() const {
  std::string s = fmt::format("{}: offsets [{}, {}) in {} segment(s)", partition.dir_name(),
                              log_start, log_end, segments);
  if (!validated_from) {
    s += recovery_point ? ", clean (nothing after the recovery point)" : "";
  } else {
    s += fmt::format(", re-validated {} bytes from offset {}", bytes_validated, *validated_from);
  }
  if (indexes_rebuilt) s += fmt::format(", rebuilt {} index(es)", indexes_rebuilt);
  if (bytes_truncated || segments_dropped) {
    s += fmt::format(", TRUNCATED {} bytes at offset {} ({})", bytes_truncated,
                     truncated_at.value_or(log_end), truncation_reason);
  }
  if (segments_dropped) s += fmt::format(", dropped {} later segment(s)", segments_dropped);
  if (swaps_completed) s += fmt::format(", finished {} cleaned segment swap(s)", swaps_completed);
  if (cleanings_rolled_back) {
    s += fmt::format(", removed {} unfinished cleaned file(s)", cleanings_rolled_back);
  }
  if (journal_batches) {
    s += fmt::format(", re-appended {} batch(es) from the journal", journal_batches);
  }
  s += fmt::format(", {} ms", took_ms);
  return s;
}

base::result<std::deque<std::unique_ptr<segment>>> recover_segments(const fs::path& dir,
                                                                    const log_config& cfg,
                                                                    int64_t now_ms,
                                                                    recovery_report& report,
                                                                    segment_file_cache* files) {
  const auto started = std::chrono::steady_clock::now();
  auto swaps = finish_interrupted_swaps(dir);
  if (!swaps) return swaps.error();
  report.swaps_completed = swaps->completed;
  report.cleanings_rolled_back = swaps->rolled_back;
  // Where the cleaner may have left gaps between batches. Without a readable checkpoint,
  // every segment but the last (the cleaner never rewrites the active one) may have them.
  int64_t gaps_below = 0;
  bool gaps_in_last = true;
  if (auto c = read_cleaner_checkpoint(dir); !c) {
    base::logger("storage")->warn("{}: damaged {} ({}); accepting offset gaps in sealed segments",
                                  dir.string(), cleaner_checkpoint_file, c.error().message());
    gaps_below = INT64_MAX;
    gaps_in_last = false;
  } else if (*c) {
    gaps_below = (*c)->rewritten_below;
  }
  auto bases = list_segments(dir);
  if (!bases) return bases.error();
  report.recovery_point = read_recovery_point(dir);
  const auto rp = report.recovery_point;

  std::deque<std::unique_ptr<segment>> segments;
  bool validating = !rp.has_value();
  for (size_t i = 0; i < bases->size(); ++i) {
    const int64_t base = (*bases)[i];
    const std::optional<int64_t> next_base =
        i + 1 < bases->size() ? std::optional((*bases)[i + 1]) : std::nullopt;
    if (!segments.empty() && segments.back()->next_offset() != base) {
      // A gap or overlap: nothing from here on can be part of a contiguous log.
      for (size_t j = i; j < bases->size(); ++j) {
        RIPTIDE_TRY(remove_segment_files(dir, (*bases)[j]));
        ++report.segments_dropped;
      }
      if (report.truncation_reason.empty()) {
        report.truncation_reason = fmt::format("segment {} does not continue offset {}", base,
                                               segments.back()->next_offset());
        report.truncated_at = segments.back()->next_offset();
      }
      break;
    }
    auto seg = segment::open(dir, base, now_ms, files);
    if (!seg) return seg.error();
    const bool allow_gaps = base < gaps_below && (gaps_in_last || i + 1 < bases->size());
    if (!validating) {
      // Trusted only if it ends at the next segment's base (for the last segment: at
      // the recovery point) and that lies within the recovery point.
      const int64_t must_end = next_base.value_or(*rp);
      if (must_end <= *rp && open_trusted(**seg, must_end, cfg, allow_gaps)) {
        segments.push_back(std::move(*seg));
        continue;
      }
      validating = true;
    }
    if (!report.validated_from) report.validated_from = base;
    (*seg)->index().clear();
    auto r = (*seg)->scan({0, base}, /*verify_crc=*/true, cfg.index_interval_bytes,
                          cfg.leader_epoch, allow_gaps);
    if (!r) return r.error();
    ++report.indexes_rebuilt;
    report.bytes_validated += r->valid_bytes;
    RIPTIDE_TRY((*seg)->set_extent(r->valid_bytes, r->next_offset));
    segments.push_back(std::move(*seg));
    if (r->reason) {
      report.bytes_truncated += r->file_size - r->valid_bytes;
      report.truncated_at = r->next_offset;
      report.truncation_reason =
          fmt::format("{} at byte {} of segment {}", r->reason.message(), r->valid_bytes, base);
      for (size_t j = i + 1; j < bases->size(); ++j) {
        RIPTIDE_TRY(remove_segment_files(dir, (*bases)[j]));
        ++report.segments_dropped;
      }
      break;
    }
  }

  if (segments.empty()) {
    auto seg = segment::create(dir, 0, now_ms, files);
    if (!seg) return seg.error();
    segments.push_back(std::move(*seg));
    RIPTIDE_TRY(base::fsync_directory(dir));
  }
  if (report.validated_from || report.segments_dropped) {
    // Make what recovery decided durable before vouching for it, and save the rebuilt
    // indexes of sealed segments (the active one's are written when it seals).
    for (const auto& s : segments) {
      if (s->base_offset() < report.validated_from.value_or(0)) continue;
      auto f = s->file();
      if (!f) return f.error();
      RIPTIDE_TRY((*f)->datasync());
      if (s != segments.back()) RIPTIDE_TRY(s->capture_index().write());
    }
    RIPTIDE_TRY(base::fsync_directory(dir));
  }
  // The last segment is the active one: it keeps its file open.
  RIPTIDE_TRY(segments.back()->hold());
  report.segments = segments.size();
  report.log_start = segments.front()->base_offset();
  report.log_end = segments.back()->next_offset();
  report.took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count();
  return segments;
}

}  // namespace storage
