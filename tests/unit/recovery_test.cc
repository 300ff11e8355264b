#include "storage/recovery.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "log_fixture.h"
#include "storage/checkpoint.h"
#include "storage/errc.h"

namespace {

using riptide::testing::make_batch;
namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const fs::path& p) {
  auto s = base::read_whole_file(p);
  return {s->begin(), s->end()};
}

void write_file(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

class Recovery : public riptide::testing::log_test {
 protected:
  Recovery() : log_test(/*in_memory=*/true) {}

  // Writes `n` batches and closes the log; returns the batches as stored.
  std::vector<std::vector<uint8_t>> fill(int n, storage::log_config cfg = {}) {
    auto log = open(cfg);
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(append_durable(log, make_batch(1 + i % 3, now_ + i, 50 + i, char('a' + i % 26))));
    }
    auto stored = read_all(log);
    EXPECT_FALSE(close(log));
    return stored;
  }

  // Opens the partition, checks it holds exactly `expected`, closes it.
  storage::recovery_report reopen_expecting(const std::vector<std::vector<uint8_t>>& expected,
                                            storage::log_config cfg = {}) {
    storage::recovery_report report;
    auto log = open(cfg, &report);
    EXPECT_EQ(read_all(log), expected);
    int64_t end = 0;
    if (!expected.empty()) end = storage::decode_header(expected.back()).next_offset();
    EXPECT_EQ(log->log_end_offset(), end);
    EXPECT_FALSE(close(log));
    return report;
  }
};

TEST_F(Recovery, CleanReopenTrustsTheRecoveryPoint) {
  auto stored = fill(20);
  auto report = reopen_expecting(stored);
  EXPECT_TRUE(report.clean());
  EXPECT_FALSE(report.validated_from.has_value()) << report.summary();
  EXPECT_EQ(report.recovery_point, storage::decode_header(stored.back()).next_offset());
}

TEST_F(Recovery, WithoutACheckpointEverythingIsRevalidated) {
  auto stored = fill(20);
  fs::remove(part_dir() / storage::recovery_point_file);
  auto report = reopen_expecting(stored);
  EXPECT_EQ(report.validated_from, 0);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.bytes_validated, fs::file_size(part_dir() / "00000000000000000000.log"));
}

TEST_F(Recovery, AGarbledCheckpointMeansFullValidation) {
  auto stored = fill(5);
  write_file(part_dir() / storage::recovery_point_file, {'x', 'y', '\n'});
  auto report = reopen_expecting(stored);
  EXPECT_FALSE(report.recovery_point.has_value());
  EXPECT_EQ(report.validated_from, 0);
}

// Cutting the last batch anywhere (a torn write) drops exactly that batch.
TEST_F(Recovery, TruncatedAtEveryBytePositionOfTheLastBatch) {
  auto stored = fill(6);
  const auto seg = part_dir() / "00000000000000000000.log";
  const auto original = read_file(seg);
  const size_t last_size = stored.back().size();
  const size_t last_start = original.size() - last_size;
  std::vector<std::vector<uint8_t>> kept(stored.begin(), stored.end() - 1);
  for (bool with_checkpoint : {true, false}) {
    for (size_t cut = last_start; cut < original.size(); ++cut) {
      write_file(seg, {original.begin(), original.begin() + static_cast<long>(cut)});
      if (!with_checkpoint) fs::remove(part_dir() / storage::recovery_point_file);
      auto report = reopen_expecting(kept);
      ASSERT_EQ(report.bytes_truncated, cut - last_start) << "cut at " << cut;
      ASSERT_EQ(fs::file_size(seg), last_start);
      if (HasFailure()) return;
    }
  }
}

// Any single flipped byte in the last batch is detected and only that batch is lost.
TEST_F(Recovery, FlippedByteAnywhereInTheLastBatch) {
  auto stored = fill(6);
  const auto seg = part_dir() / "00000000000000000000.log";
  const auto original = read_file(seg);
  const size_t last_start = original.size() - stored.back().size();
  std::vector<std::vector<uint8_t>> kept(stored.begin(), stored.end() - 1);
  for (size_t pos = last_start; pos < original.size(); ++pos) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      auto bad = original;
      bad[pos] ^= mask;
      write_file(seg, bad);
      auto report = reopen_expecting(kept);
      ASSERT_FALSE(report.clean()) << "flip at " << pos - last_start;
      ASSERT_EQ(report.truncated_at, storage::decode_header(stored.back()).base_offset);
      if (HasFailure()) return;
    }
  }
}

TEST_F(Recovery, CorruptionInAnEarlierSegmentDropsEverythingAfterIt) {
  storage::log_config cfg;
  cfg.segment_bytes = 1024;
  auto stored = fill(30, cfg);
  fs::remove(part_dir() / storage::recovery_point_file);  // as after a crash before any roll
  // Corrupt the second batch of the first segment.
  const auto seg = part_dir() / "00000000000000000000.log";
  auto bytes = read_file(seg);
  const size_t second = stored[0].size();
  bytes[second + 40] ^= 0xff;
  write_file(seg, bytes);
  storage::recovery_report report;
  auto log = open(cfg, &report);
  EXPECT_EQ(log->log_end_offset(), storage::decode_header(stored[1]).base_offset);
  EXPECT_GT(report.segments_dropped, 0u);
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(read_all(log).size(), 1u);
  // The log is writable and continues at the truncation point.
  auto r = append_durable(log, make_batch(1, now_));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->base_offset, storage::decode_header(stored[1]).base_offset);
  EXPECT_FALSE(close(log));
}

TEST_F(Recovery, MissingOrCorruptIndexIsRebuilt) {
  storage::log_config cfg;
  cfg.segment_bytes = 2048;
  cfg.index_interval_bytes = 256;
  auto stored = fill(40, cfg);
  const auto index = part_dir() / "00000000000000000000.index";
  ASSERT_TRUE(fs::exists(index));
  const auto good_index = read_file(index);
  ASSERT_GT(good_index.size(), 8u);

  fs::remove(index);
  auto report = reopen_expecting(stored, cfg);
  EXPECT_GE(report.indexes_rebuilt, 1u);
  EXPECT_EQ(read_file(index), good_index);  // rewritten, identical

  auto garbage = good_index;
  garbage[garbage.size() - 3] ^= 0x40;  // a position pointing somewhere else
  write_file(index, garbage);
  report = reopen_expecting(stored, cfg);
  EXPECT_GE(report.indexes_rebuilt, 1u);
  EXPECT_EQ(read_file(index), good_index);

  // A later reopen trusts the rebuilt index again.
  report = reopen_expecting(stored, cfg);
  EXPECT_FALSE(report.validated_from.has_value()) << report.summary();
}

TEST_F(Recovery, EveryOffsetIsReadableThroughARebuiltIndex) {
  storage::log_config cfg;
  cfg.index_interval_bytes = 128;
  auto stored = fill(30, cfg);
  fs::remove(part_dir() / storage::recovery_point_file);
  auto log = open(cfg);
  for (const auto& b : stored) {
    auto h = storage::decode_header(b);
    for (int64_t o = h.base_offset; o <= h.last_offset(); ++o) {
      auto r = shard_.run([&] { return log->read(o, 1); });
      ASSERT_TRUE(r);
      EXPECT_EQ(*r->data.linearize(), b) << "offset " << o;
    }
  }
  EXPECT_FALSE(close(log));
}

TEST_F(Recovery, ReadsNeverReturnABatchThatFailsItsCrc) {
  storage::log_config cfg;
  cfg.segment_bytes = 2048;
  auto stored = fill(30, cfg);
  // Corrupt a batch inside a sealed, trusted segment (recovery does not re-read it).
  const auto seg = part_dir() / "00000000000000000000.log";
  auto bytes = read_file(seg);
  size_t pos = stored[0].size() + stored[1].size();
  bytes[pos + 70] ^= 0x01;
  write_file(seg, bytes);
  auto log = open(cfg);
  auto r =
      shard_.run([&] { return log->read(0, 1 << 20, {.max_offset = {}, .copy_bytes = true}); });
  ASSERT_TRUE(r);
  auto got = *r->data.linearize();
  EXPECT_EQ(got.size(), stored[0].size() + stored[1].size());  // stops before the bad batch
  auto at_bad = shard_.run(
      [&] { return log->read(r->next_offset, 1 << 20, {.max_offset = {}, .copy_bytes = true}); });
  EXPECT_EQ(at_bad.error(), make_error_code(storage::errc::corrupt_batch));
  EXPECT_FALSE(close(log));
}

TEST_F(Recovery, LeftoversOfInterruptedOperationsAreCleanedUp) {
  auto stored = fill(3);
  write_file(part_dir() / "00000000000000000000.index.tmp", {1, 2, 3});
  write_file(part_dir() / "00000000000000000099.log.deleted", {1, 2, 3});
  write_file(part_dir() / "00000000000000000500.index", {1, 2, 3});  // no .log
  reopen_expecting(stored);
  EXPECT_FALSE(fs::exists(part_dir() / "00000000000000000000.index.tmp"));
  EXPECT_FALSE(fs::exists(part_dir() / "00000000000000000099.log.deleted"));
  EXPECT_FALSE(fs::exists(part_dir() / "00000000000000000500.index"));
}

TEST_F(Recovery, GapBetweenSegmentsDropsTheLaterOnes) {
  storage::log_config cfg;
  cfg.segment_bytes = 1024;
  auto stored = fill(30, cfg);
  std::vector<fs::path> logs;
  for (const auto& e : fs::directory_iterator(part_dir())) {
    if (e.path().extension() == ".log") logs.push_back(e.path());
  }
  std::sort(logs.begin(), logs.end());
  ASSERT_GE(logs.size(), 3u);
  fs::remove(logs[1]);
  storage::recovery_report report;
  auto log = open(cfg, &report);
  EXPECT_EQ(log->segment_count(), 1u);
  EXPECT_EQ(report.segments_dropped, logs.size() - 2);
  EXPECT_FALSE(close(log));
}

}  // namespace

namespace {

TEST_F(Recovery, EmptyActiveSegmentIsTrustedAfterACleanClose) {
  storage::log_config cfg;
  cfg.segment_bytes = 1024;
  auto stored = fill(20, cfg);
  std::vector<fs::path> logs;
  for (const auto& e : fs::directory_iterator(part_dir())) {
    if (e.path().extension() == ".log") logs.push_back(e.path());
  }
  std::sort(logs.begin(), logs.end());
  // A crash right after a roll: the newest segment holds only a torn write.
  write_file(logs.back(), {0, 0, 0, 0, 0, 0, 0, 7, 't'});
  fs::remove(part_dir() / storage::recovery_point_file);
  const auto base = std::stoll(logs.back().stem().string());
  std::vector<std::vector<uint8_t>> kept;
  for (const auto& b : stored) {
    if (storage::decode_header(b).base_offset < base) kept.push_back(b);
  }
  auto report = reopen_expecting(kept, cfg);
  EXPECT_EQ(report.bytes_truncated, 9u);
  report = reopen_expecting(kept, cfg);
  EXPECT_FALSE(report.validated_from.has_value()) << report.summary();
}

}  // namespace
