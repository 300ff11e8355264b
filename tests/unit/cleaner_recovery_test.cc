// Recovery after a cleaner was killed at each step of swapping a cleaned segment in
// (storage/cleaned_files.h): every leftover state opens as a whole, correct log — either
// the one before the swap or the one after it.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "compaction_fixture.h"
#include "storage/cleaned_files.h"

namespace riptide::testing {
namespace {

namespace fs = std::filesystem;

class CleanerRecovery : public compaction_test {
 protected:
  // Builds `before` (a log whose segments a round will merge) and `after` (that round
  // done), as directories next to the partition's, and the records expected after a crash
  // that left the round's first cleaned segment swapped in and nothing else.
  void SetUp() override {
    auto log = open(compact_config());
    fill(log, 10, 40);
    ASSERT_TRUE(clean(log));  // small cleaned segments, which the next round merges
    fill(log, 10, 3);
    ASSERT_FALSE(close(log));
    log.reset();
    copy_dir(part_dir(), before_dir());
    log = open(compact_config());
    before_records_ = records(log);
    auto stats = clean(log);
    ASSERT_TRUE(stats);
    ASSERT_GE(stats->segments_written, 1u);
    ASSERT_GT(stats->segments_replaced, 2u);
    const auto after_all = records(log);
    ASSERT_NE(after_all, before_records_);
    // The first cleaned segment (from the log start) and where it ends.
    std::tie(cleaned_base_, cleaned_end_) = shard_.run([&] {
      const auto sealed = log->sealed_segments();
      return std::pair(sealed.front().base_offset, sealed.front().next_offset);
    });
    ASSERT_FALSE(close(log));
    log.reset();
    copy_dir(part_dir(), after_dir());
    // A crash right after that segment's swap leaves it cleaned and the rest as before.
    for (const auto& r : after_all) {
      if (r.offset < cleaned_end_) after_records_.push_back(r);
    }
    for (const auto& r : before_records_) {
      if (r.offset >= cleaned_end_) after_records_.push_back(r);
    }
    // Its sources: the segments of `before` below its end.
    for (const auto& e : fs::directory_iterator(before_dir())) {
      if (e.path().extension() != ".log") continue;
      const int64_t base = std::stoll(e.path().stem().string());
      if (base < cleaned_end_) sources_.push_back(base);
    }
    std::sort(sources_.begin(), sources_.end());
    ASSERT_GT(sources_.size(), 2u);
  }

  fs::path before_dir() const { return dir_.path() / "before"; }
  fs::path after_dir() const { return dir_.path() / "after"; }

  static void copy_dir(const fs::path& from, const fs::path& to) {
    fs::remove_all(to);
    fs::copy(from, to, fs::copy_options::recursive);
  }
  // The partition as it was before the round, plus the round's cleaner checkpoint (written
  // before its first swap) — where every interrupted state starts from.
  void start_from_before() {
    copy_dir(before_dir(), part_dir());
    fs::copy_file(after_dir() / storage::cleaner_checkpoint_file,
                  part_dir() / storage::cleaner_checkpoint_file,
                  fs::copy_options::overwrite_existing);
  }
  // The cleaned segment's file `ext` (".log", ".index", ".timeindex") placed with `suffix`.
  void place(std::string_view ext, std::string_view suffix) {
    fs::copy_file(storage::segment_file(after_dir(), cleaned_base_, ext),
                  storage::segment_file(part_dir(), cleaned_base_, ext, suffix),
                  fs::copy_options::overwrite_existing);
  }
  void reopen_and_expect(const std::vector<stored_record>& want,
                         storage::recovery_report* r = nullptr) {
    auto log = open(compact_config(), r);
    ASSERT_TRUE(log);
    EXPECT_EQ(records(log), want);
    for (const auto& e : fs::directory_iterator(part_dir())) {
      const auto name = e.path().filename().string();
      EXPECT_FALSE(name.ends_with(".cleaned") || name.ends_with(".swap") ||
                   name.ends_with(".deleted"))
          << name << " left behind";
    }
    // The log goes on: appends, and another round.
    EXPECT_TRUE(append_durable(log, keyed_batch({{"key-0", "later"}}, now_.load())));
    EXPECT_TRUE(clean(log));
    EXPECT_EQ(latest(records(log))["key-0"].value, "later");
    ASSERT_FALSE(close(log));
  }

  std::vector<stored_record> before_records_, after_records_;
  std::vector<int64_t> sources_;
  int64_t cleaned_base_ = 0;
  int64_t cleaned_end_ = 0;
};

TEST_F(CleanerRecovery, AHalfWrittenCleanedSegmentIsDiscarded) {
  start_from_before();
  place(".index", storage::cleaned_suffix);
  place(".log", storage::cleaned_suffix);
  // Torn: the crash came before the fsync.
  fs::resize_file(storage::segment_file(part_dir(), cleaned_base_, ".log", storage::cleaned_suffix),
                  100);
  storage::recovery_report r;
  reopen_and_expect(before_records_, &r);
  EXPECT_EQ(r.cleanings_rolled_back, 2u);
}

TEST_F(CleanerRecovery, IndexSwapsWithoutTheLogSwapAreDiscarded) {
  start_from_before();
  place(".index", storage::swap_suffix);
  place(".timeindex", storage::swap_suffix);
  place(".log", storage::cleaned_suffix);
  reopen_and_expect(before_records_);
}

TEST_F(CleanerRecovery, ACommittedSwapIsFinished) {
  start_from_before();
  place(".index", storage::swap_suffix);
  place(".timeindex", storage::swap_suffix);
  place(".log", storage::swap_suffix);
  storage::recovery_report r;
  reopen_and_expect(after_records_, &r);
  EXPECT_EQ(r.swaps_completed, 1u);
  EXPECT_TRUE(r.clean());
  EXPECT_FALSE(r.validated_from) << r.summary();  // its index came with it
}

TEST_F(CleanerRecovery, ASwapWithSomeOriginalsAlreadyDeletedIsFinished) {
  start_from_before();
  place(".index", storage::swap_suffix);
  place(".timeindex", storage::swap_suffix);
  place(".log", storage::swap_suffix);
  for (size_t i = 1; i < sources_.size(); i += 2) {
    fs::rename(storage::segment_file(part_dir(), sources_[i], ".log"),
               storage::segment_file(part_dir(), sources_[i], ".log", ".deleted"));
    fs::remove(storage::segment_file(part_dir(), sources_[i], ".index"));
  }
  // And without a recovery point: every batch is re-validated, gaps and all.
  fs::remove(part_dir() / "recovery-point");
  storage::recovery_report r;
  reopen_and_expect(after_records_, &r);
  EXPECT_TRUE(r.clean()) << r.summary();
}

TEST_F(CleanerRecovery, ASwapWhoseIndexesAreAlreadyInPlaceIsFinished) {
  start_from_before();
  place(".index", "");
  place(".timeindex", "");
  place(".log", storage::swap_suffix);
  for (size_t i = 1; i < sources_.size(); ++i) {
    for (auto ext : {".log", ".index", ".timeindex"}) {
      fs::remove(storage::segment_file(part_dir(), sources_[i], ext));
    }
  }
  reopen_and_expect(after_records_);
}

TEST_F(CleanerRecovery, ADamagedCheckpointStillAcceptsTheCleanedSegments) {
  copy_dir(after_dir(), part_dir());
  auto want = records(open(compact_config()));
  std::ofstream(part_dir() / storage::cleaner_checkpoint_file) << "garbage";
  fs::remove(part_dir() / "recovery-point");
  storage::recovery_report r;
  reopen_and_expect(want, &r);
  EXPECT_TRUE(r.clean()) << r.summary();
}

}  // namespace
}  // namespace riptide::testing
