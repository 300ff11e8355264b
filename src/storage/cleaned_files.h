#pragma once
// The files of a segment rewritten by the cleaner, and how one replaces the segments it
// was made from so that a crash at any moment leaves a readable, correct log:
//
//   1. write <base>.log.cleaned, .index.cleaned, .timeindex.cleaned; fsync them
//   2. rename the indexes, then the log, to *.swap; fsync the directory.
//      <base>.log.swap existing is the commit point: from here on the swap is finished.
//   3. rename the replaced segments' files (other than <base>'s own) to *.deleted
//   4. rename the *.swap files over <base>.index, .timeindex and .log; fsync the directory
//   5. unlink the *.deleted files
//
// At start, finish_interrupted_swaps() rolls back (1) — a *.cleaned file is removed — and
// completes (2)-(4): the segments a .log.swap covers are removed and the swap is renamed
// into place. Blocking file work: run it off the shards.

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace storage {

inline constexpr std::string_view cleaned_suffix = ".cleaned";
inline constexpr std::string_view swap_suffix = ".swap";

// "<dir>/<20-digit base><ext><suffix>", e.g. (dir, 0, ".log", ".cleaned").
std::filesystem::path segment_file(const std::filesystem::path& dir, int64_t base,
                                   std::string_view ext, std::string_view suffix = {});

// Step 2 for a segment at `base` whose *.cleaned files are written and fsynced.
base::status commit_cleaned(const std::filesystem::path& dir, int64_t base);
// Steps 3-5 for the committed segment at `base`, which replaces the segments at
// `replaced` (base offsets, `base` among them).
base::status complete_swap(const std::filesystem::path& dir, int64_t base,
                           const std::vector<int64_t>& replaced);
// Removes the *.cleaned files of `base` (a rewrite abandoned before step 2).
void remove_cleaned(const std::filesystem::path& dir, int64_t base);

struct swap_report {
  size_t rolled_back = 0;  // *.cleaned files removed
  size_t completed = 0;    // swaps finished
  size_t segments_replaced = 0;
};
// Recovery: brings a partition directory back to whole segments (see above).
base::result<swap_report> finish_interrupted_swaps(const std::filesystem::path& dir);

}  // namespace storage
