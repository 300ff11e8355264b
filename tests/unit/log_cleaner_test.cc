// Compaction of cleanup.policy=compact logs: what a cleaning round keeps and removes.

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "compaction_fixture.h"
#include "storage/errc.h"

namespace riptide::testing {
namespace {

using storage::compression;

class LogCleaner : public compaction_test {};

// The records `appended` should leave after cleaning everything below `end`: the latest
// of each key there, and everything from `end` on.
std::vector<stored_record> expected_after_clean(const std::vector<stored_record>& appended,
                                                int64_t end) {
  std::map<std::string, int64_t> last;
  for (const auto& r : appended) {
    if (r.offset < end) last[*r.key] = r.offset;
  }
  std::vector<stored_record> out;
  for (const auto& r : appended) {
    if (r.offset >= end || last[*r.key] == r.offset) out.push_back(r);
  }
  return out;
}

TEST_F(LogCleaner, KeepsTheLatestValueOfEachKeyAtItsOffset) {
  auto log = open(compact_config());
  auto appended = fill(log, 10, 20);
  const size_t before = segments(log);
  ASSERT_GT(before, 3u);
  const int64_t active_base = shard_.run([&] { return log->sealed_segments().back().next_offset; });

  auto stats = clean(log);
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_GT(stats->records_removed, 0u);
  EXPECT_LE(segments(log), before);

  auto got = records(log);
  EXPECT_EQ(got, expected_after_clean(appended, active_base));
  // Offsets still increase and the log still ends where it did.
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].offset, got[i].offset);
  EXPECT_EQ(shard_.run([&] { return log->log_end_offset(); }), appended.back().offset + 1);
  EXPECT_EQ(shard_.run([&] { return log->cleaner_state().cleaned_to; }), active_base);

  // A second round finds nothing more to remove, and combines the segments the first one
  // made small (groups are formed by their sources' sizes, as Kafka does).
  auto again = clean(log);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->records_removed, 0u);
  EXPECT_EQ(records(log), got);
  EXPECT_EQ(segments(log), 2u);  // one cleaned segment and the active one

  // The same after a restart.
  ASSERT_FALSE(close(log));
  log.reset();
  storage::recovery_report report;
  log = open(compact_config(), &report);
  EXPECT_TRUE(report.clean());
  EXPECT_FALSE(report.validated_from) << report.summary();  // the cleaned indexes are trusted
  EXPECT_EQ(records(log), got);
}

TEST_F(LogCleaner, NeverTouchesTheActiveSegment) {
  auto cfg = compact_config();
  cfg.segment_bytes = 1 << 20;
  auto log = open(cfg);
  auto appended = fill(log, 5, 10);
  ASSERT_EQ(segments(log), 1u);
  auto stats = clean(log);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->records_removed, 0u);
  EXPECT_EQ(stats->segments_written, 0u);
  EXPECT_EQ(records(log), appended);
  EXPECT_FALSE(assess(log).needs_cleaning);
}

TEST_F(LogCleaner, CleansOnceTheDirtyRatioIsReached) {
  auto cfg = compact_config();
  cfg.min_cleanable_dirty_ratio = 0.5;
  auto log = open(cfg);
  fill(log, 200, 2);
  auto d = assess(log);
  EXPECT_EQ(d.clean_bytes, 0u);
  EXPECT_GT(d.dirty_bytes, 0u);
  EXPECT_DOUBLE_EQ(d.ratio, 1.0);
  EXPECT_TRUE(d.needs_cleaning);
  ASSERT_TRUE(clean(log));
  d = assess(log);
  EXPECT_EQ(d.dirty_bytes, 0u);
  EXPECT_FALSE(d.needs_cleaning);

  // A little new data stays below the ratio; housekeeping leaves it.
  fill(log, 5, 10, 5, compression::none, "new-");
  d = assess(log);
  EXPECT_GT(d.dirty_bytes, 0u);
  EXPECT_LT(d.ratio, 0.5);
  EXPECT_FALSE(d.needs_cleaning);
  const auto before = records(log);
  shard_.run([&] { cleaner_->maybe_clean({log}); });
  shard_.run([] {});
  EXPECT_FALSE(shard_.run([&] { return cleaner_->busy(); }));
  EXPECT_EQ(records(log), before);

  // max.compaction.lag.ms forces a round below the ratio once the dirty part is old.
  cfg.max_compaction_lag_ms = 60'000;
  shard_.run([&] { log->set_config(cfg); });
  EXPECT_FALSE(assess(log).lag_exceeded);
  now_ += 120'000;
  d = assess(log);
  EXPECT_TRUE(d.lag_exceeded);
  EXPECT_TRUE(d.needs_cleaning);
}

TEST_F(LogCleaner, HousekeepingCleansTheLogThatNeedsIt) {
  auto log = open(compact_config());
  auto appended = fill(log, 10, 20);
  const int64_t active_base = shard_.run([&] { return log->sealed_segments().back().next_offset; });
  shard_.run([&] { cleaner_->maybe_clean({log}); });
  for (int i = 0; i < 500 && shard_.run([&] { return cleaner_->busy(); }); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(records(log), expected_after_clean(appended, active_base));
}

TEST_F(LogCleaner, TombstonesAreKeptForDeleteRetentionThenRemoved) {
  auto log = open(compact_config());  // delete.retention.ms 1000
  fill(log, 10, 5);
  auto tomb = append_durable(
      log, keyed_batch({{"key-0", std::nullopt}, {"key-1", std::nullopt}}, now_.load()));
  ASSERT_TRUE(tomb);
  fill(log, 10, 5, 5, compression::none, "other-");  // seals the tombstones' segment
  auto has_key = [&](const std::string& k) {
    for (const auto& r : records(log)) {
      if (r.key == k) return true;
    }
    return false;
  };

  ASSERT_TRUE(clean(log));
  auto l = latest(records(log));
  ASSERT_TRUE(l.contains("key-0"));
  EXPECT_EQ(l["key-0"].offset, tomb->base_offset);
  EXPECT_EQ(l["key-0"].value, std::nullopt);
  EXPECT_EQ(l["key-1"].value, std::nullopt);
  EXPECT_EQ(l["key-2"].value, "value-4");
  EXPECT_FALSE(assess(log).tombstones_due);

  now_ += 500;
  auto stats = clean(log);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->tombstones_removed, 0u);
  EXPECT_TRUE(has_key("key-0"));

  now_ += 600;  // 1100 ms since the tombstones were first cleaned
  auto d = assess(log);
  EXPECT_TRUE(d.tombstones_due);
  EXPECT_TRUE(d.needs_cleaning);
  stats = clean(log);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->tombstones_removed, 2u);
  EXPECT_FALSE(has_key("key-0"));
  EXPECT_FALSE(has_key("key-1"));
  EXPECT_TRUE(has_key("key-2"));
  EXPECT_FALSE(assess(log).tombstones_due);

  // And they stay gone after a restart (the cleaner's checkpoint is on disk).
  ASSERT_FALSE(close(log));
  log.reset();
  log = open(compact_config());
  EXPECT_FALSE(has_key("key-0"));
  EXPECT_EQ(latest(records(log))["key-2"].value, "value-4");
}

TEST_F(LogCleaner, RecordsYoungerThanMinCompactionLagAreNotCleaned) {
  auto cfg = compact_config();
  cfg.min_compaction_lag_ms = 10'000;
  auto log = open(cfg);
  auto appended = fill(log, 10, 20);
  auto stats = clean(log);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->records_removed, 0u);
  EXPECT_EQ(records(log), appended);
  EXPECT_FALSE(assess(log).needs_cleaning);

  now_ += 20'000;
  EXPECT_TRUE(assess(log).needs_cleaning);
  const int64_t active_base = shard_.run([&] { return log->sealed_segments().back().next_offset; });
  ASSERT_TRUE(clean(log));
  EXPECT_EQ(records(log), expected_after_clean(appended, active_base));
}

TEST_F(LogCleaner, CompressedBatchesAreRewrittenWithTheirCodec) {
  for (auto codec : {compression::gzip, compression::lz4, compression::zstd, compression::snappy}) {
    SCOPED_TRACE(static_cast<int>(codec));
    auto log = open(compact_config());
    auto appended = fill(log, 10, 20, 5, codec);
    const int64_t active_base =
        shard_.run([&] { return log->sealed_segments().back().next_offset; });
    auto stats = clean(log);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_GT(stats->records_removed, 0u);
    EXPECT_EQ(records(log), expected_after_clean(appended, active_base));
    size_t with_records = 0;
    for (const auto& b : read_all(log)) {
      const auto h = storage::decode_header(b);
      if (h.record_count > 0) {
        EXPECT_EQ(h.codec(), codec);
        ++with_records;
      } else {
        EXPECT_EQ(h.codec(), compression::none);  // an empty batch keeps only its header
      }
    }
    EXPECT_GT(with_records, 0u);
    ASSERT_FALSE(close(log));
    log.reset();
    std::filesystem::remove_all(part_dir());
  }
}

TEST_F(LogCleaner, ReadsInProgressKeepTheirBytes) {
  auto log = open(compact_config());
  fill(log, 10, 20);
  // A fetch handed file ranges of the old segments to a socket, not yet sent.
  auto before = shard_.run([&] { return log->read(0, 1 << 20); });
  ASSERT_TRUE(before);
  auto expected = before->data.linearize();
  ASSERT_TRUE(expected);
  ASSERT_TRUE(clean(log));
  auto after = before->data.linearize();
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *expected);
}

TEST_F(LogCleaner, IdempotentProducerStateSurvivesCleaningAndReopening) {
  auto log = open(compact_config());
  int32_t seq = 0;
  int64_t last_base = -1;
  std::vector<uint8_t> last_batch;
  for (int b = 0; b < 6; ++b) {
    storage::batch_builder bb(now_.load());
    bb.producer(7, 0, seq);
    for (int k = 0; k < 5; ++k) bb.add("p-" + std::to_string(k), "from-producer");
    last_batch = bb.build();
    auto r = append_durable(log, last_batch);
    ASSERT_TRUE(r);
    last_base = r->base_offset;
    seq += 5;
  }
  // Later plain records of the same keys make every record of the producer's batches old.
  fill(log, 5, 30, 5, compression::none, "p-");
  auto stats = clean(log);
  ASSERT_TRUE(stats);
  // The producer's last batch is still there, as a header without records.
  bool found = false;
  for (const auto& b : read_all(log)) {
    const auto h = storage::decode_header(b);
    if (h.producer_id == 7) {
      EXPECT_EQ(h.base_offset, last_base);
      EXPECT_EQ(h.record_count, 0);
      EXPECT_EQ(h.last_offset_delta, 4);
      found = true;
    }
  }
  EXPECT_TRUE(found);

  auto check_producer = [&](const std::shared_ptr<storage::partition_log>& l) {
    auto dup = append(l, last_batch);  // a retry of the last batch
    ASSERT_TRUE(dup) << dup.error().message();
    EXPECT_TRUE(dup->duplicate);
    EXPECT_EQ(dup->base_offset, last_base);
    storage::batch_builder gap(now_.load());
    gap.producer(7, 0, seq + 5).add("p-0", "gap");
    auto refused = append(l, gap.build());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), storage::errc::out_of_order_sequence);
  };
  // From the snapshot written at close, and from the log alone.
  ASSERT_FALSE(close(log));
  log.reset();
  log = open(compact_config());
  check_producer(log);
  ASSERT_FALSE(close(log));
  log.reset();
  std::filesystem::remove(part_dir() / storage::producer_snapshot_file);
  log = open(compact_config());
  check_producer(log);
  storage::batch_builder next(now_.load());
  next.producer(7, 0, seq).add("p-0", "next");
  auto ok = append(log, next.build());
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_FALSE(ok->duplicate);
}

TEST_F(LogCleaner, RecordsWithoutKeyAreRefusedByACompactedLog) {
  auto log = open(compact_config());
  storage::batch_builder b(now_.load());
  b.add("k", "v").add(std::nullopt, "no key");
  auto r = append(log, b.build());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), storage::errc::invalid_record);
  EXPECT_TRUE(append(log, keyed_batch({{"k", "v"}}, now_.load())));
  // A log that is not compacted takes them.
  auto cfg = compact_config();
  cfg.cleanup = {true, false};
  shard_.run([&] { log->set_config(cfg); });
  EXPECT_TRUE(append(log, b.build()));
}

TEST_F(LogCleaner, RetentionWaitsWhileARoundRewritesSegments) {
  auto cfg = compact_config();
  cfg.cleanup = {true, true};
  cfg.retention_bytes = 0;
  auto log = open(cfg);
  fill(log, 10, 20);
  shard_.run([&] { log->set_cleaning(true); });
  EXPECT_EQ(shard_.run([&] { return log->apply_retention().segments_deleted; }), 0u);
  shard_.run([&] { log->set_cleaning(false); });
  EXPECT_GT(shard_.run([&] { return log->apply_retention().segments_deleted; }), 0u);
}

class SmallOffsetMap : public compaction_test {
 protected:
  // 20 slots: 18 keys a round.
  SmallOffsetMap() : compaction_test({.buffer_bytes = 20 * 24, .io_bytes_per_second = 0}) {}
};

TEST_F(SmallOffsetMap, ADirtyPartLargerThanTheMapIsCleanedOverSeveralRounds) {
  auto log = open(compact_config());
  auto appended = fill(log, 100, 4);
  const int64_t active_base = shard_.run([&] { return log->sealed_segments().back().next_offset; });
  int rounds = 0;
  while (assess(log).needs_cleaning && rounds < 100) {
    auto stats = clean(log);
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_LE(stats->map_entries, 18u);
    ++rounds;
  }
  EXPECT_GT(rounds, 5);  // 100 keys, at most 18 a round
  EXPECT_LT(rounds, 100);
  EXPECT_EQ(shard_.run([&] { return log->cleaner_state().cleaned_to; }), active_base);
  EXPECT_EQ(records(log), expected_after_clean(appended, active_base));
}

class ThrottledCleaner : public compaction_test {
 protected:
  ThrottledCleaner() : compaction_test({.buffer_bytes = 1 << 20, .io_bytes_per_second = 200'000}) {}
};

TEST_F(ThrottledCleaner, IoIsPacedToTheConfiguredRate) {
  auto log = open(compact_config());
  fill(log, 20, 40);  // ~60 KB of segments, read twice and partly written
  const auto t0 = std::chrono::steady_clock::now();
  auto stats = clean(log);
  ASSERT_TRUE(stats);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double bytes = static_cast<double>(stats->bytes_read + stats->bytes_written);
  // A tenth of a second of credit up front, then the rate.
  EXPECT_GE(seconds, (bytes - 20'000) / 200'000 * 0.9) << bytes << " bytes";
}

}  // namespace
}  // namespace riptide::testing
