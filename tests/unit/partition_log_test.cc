#include "storage/partition_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "base/file.h"
#include "log_fixture.h"
#include "storage/errc.h"

namespace {

using riptide::testing::make_batch;
using storage::errc;
namespace fs = std::filesystem;

class PartitionLog : public riptide::testing::log_test {};

TEST_F(PartitionLog, AssignsContiguousOffsetsAndReadsBack) {
  auto log = open();
  std::vector<std::vector<uint8_t>> sent;
  int64_t expected = 0;
  for (int i = 0; i < 50; ++i) {
    sent.push_back(make_batch(1 + i % 5, now_ + i));
    auto r = append_durable(log, sent.back());
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->base_offset, expected);
    expected += 1 + i % 5;
    EXPECT_EQ(r->last_offset, expected - 1);
  }
  EXPECT_EQ(log->log_end_offset(), expected);
  EXPECT_EQ(log->high_watermark(), expected);
  auto got = read_all(log);
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < got.size(); ++i) {
    // Identical except the stamped prefix (base offset, leader epoch).
    EXPECT_TRUE(std::equal(got[i].begin() + 16, got[i].end(), sent[i].begin() + 16)) << i;
  }
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, ReadFromTheMiddleOfABatchStartsAtThatBatch) {
  auto log = open();
  ASSERT_TRUE(append_durable(log, make_batch(10, now_)));
  ASSERT_TRUE(append_durable(log, make_batch(10, now_)));
  auto r = shard_.run([&] { return log->read(15, 1 << 20); });
  ASSERT_TRUE(r);
  auto bytes = *r->data.linearize();
  auto h = storage::validate_batch(bytes);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->base_offset, 10);
  EXPECT_EQ(r->next_offset, 20);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, MaxBytesReturnsWholeBatchesAndAtLeastOne) {
  auto log = open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_durable(log, make_batch(1, now_, 1000)));
  const size_t batch_size = make_batch(1, now_, 1000).size();
  auto one = shard_.run([&] { return log->read(0, 10); });  // smaller than a batch
  ASSERT_TRUE(one);
  EXPECT_EQ(one->data.size(), batch_size);
  EXPECT_EQ(one->next_offset, 1);
  auto three = shard_.run([&] { return log->read(2, batch_size * 3 + batch_size / 2); });
  ASSERT_TRUE(three);
  EXPECT_EQ(three->data.size(), batch_size * 3);
  EXPECT_EQ(three->next_offset, 5);
  auto rest = shard_.run([&] { return log->read(5, 1 << 20); });
  EXPECT_EQ(rest->next_offset, 10);
  auto at_end = shard_.run([&] { return log->read(10, 1 << 20); });
  ASSERT_TRUE(at_end);
  EXPECT_TRUE(at_end->data.empty());
  EXPECT_EQ(shard_.run([&] { return log->read(11, 100).error(); }),
            make_error_code(errc::offset_out_of_range));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, FileRangesAndBytesAgree) {
  auto log = open();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(append_durable(log, make_batch(3, now_, 300)));
  auto ranges = shard_.run([&] { return log->read(0, 5000); });
  auto bytes = shard_.run(
      [&] { return log->read(0, 5000, {.max_offset = std::nullopt, .copy_bytes = true}); });
  ASSERT_TRUE(ranges && bytes);
  EXPECT_TRUE(std::holds_alternative<base::file_fragment>(ranges->data.fragments().at(0)));
  EXPECT_EQ(*ranges->data.linearize(), *bytes->data.linearize());
  EXPECT_EQ(ranges->next_offset, bytes->next_offset);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, InvalidBatchesAreRejectedAndNothingIsStored) {
  auto log = open();
  ASSERT_TRUE(append_durable(log, make_batch(2, now_)));
  const auto size_before = fs::file_size(part_dir() / "00000000000000000000.log");

  auto bad_crc = make_batch(2, now_);
  bad_crc.back() ^= 1;
  EXPECT_EQ(append(log, bad_crc).error(), make_error_code(errc::corrupt_batch));
  auto bad_magic = make_batch(2, now_);
  bad_magic[storage::batch_magic_offset] = 0;
  EXPECT_EQ(append(log, bad_magic).error(), make_error_code(errc::unsupported_magic));
  auto truncated = make_batch(2, now_);
  truncated.resize(truncated.size() - 3);
  EXPECT_EQ(append(log, truncated).error(), make_error_code(errc::invalid_batch));
  EXPECT_EQ(append(log, {}).error(), make_error_code(errc::invalid_batch));
  // Two batches where the second is bad: neither is stored.
  auto pair = make_batch(1, now_);
  pair.insert(pair.end(), bad_crc.begin(), bad_crc.end());
  EXPECT_EQ(append(log, pair).error(), make_error_code(errc::corrupt_batch));

  EXPECT_EQ(log->log_end_offset(), 2);
  EXPECT_EQ(fs::file_size(part_dir() / "00000000000000000000.log"), size_before);
  EXPECT_FALSE(close(log));
}

// Replay at start takes only what recovery accepts at the next start: a batch claiming a
// leader epoch the log does not have would be cut off then, with every batch after it.
TEST_F(PartitionLog, ReplayRefusesABatchTheNextRecoveryWouldCallCorrupt) {
  auto log = open();
  auto with_epoch = [&](int32_t epoch) {
    auto b = make_batch(2, now_);
    storage::put_i32(&b[12], epoch);  // partitionLeaderEpoch: outside the CRC
    return b;
  };
  auto replay = [&](const std::vector<uint8_t>& b) {
    return shard_.run([&] { return log->replay(b); });
  };
  EXPECT_EQ(replay(with_epoch(7)).error(), make_error_code(errc::invalid_batch));
  EXPECT_EQ(replay(with_epoch(-3)).error(), make_error_code(errc::invalid_batch));
  EXPECT_EQ(log->log_end_offset(), 0);
  auto ok = replay(with_epoch(0));
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(*ok, 1u);
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_FALSE(close(log));

  storage::recovery_report report;
  log = open({}, &report);
  EXPECT_EQ(log->log_end_offset(), 3);
  EXPECT_TRUE(report.clean()) << report.summary();
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, RefusesBatchesAboveMaxBatchBytes) {
  storage::log_config cfg;
  cfg.max_batch_bytes = 2000;
  auto log = open(cfg);
  EXPECT_TRUE(append(log, make_batch(1, now_, 1500)));
  EXPECT_EQ(append(log, make_batch(1, now_, 2500)).error(), make_error_code(errc::batch_too_large));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, MultipleBatchesInOneAppend) {
  auto log = open();
  auto two = make_batch(3, now_);
  auto second = make_batch(4, now_);
  two.insert(two.end(), second.begin(), second.end());
  auto r = append_durable(log, two);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->base_offset, 0);
  EXPECT_EQ(r->last_offset, 6);
  EXPECT_EQ(r->record_count, 7);
  auto got = read_all(log);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(storage::decode_header(got[1]).base_offset, 3);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, OffsetForTimestampFindsTheFirstRecordAtOrAfter) {
  auto log = open();
  for (int i = 0; i < 10; ++i) {
    storage::batch_builder b(1000 + i * 100);
    for (int k = 0; k < 5; ++k) b.add("k", "v", {}, 1000 + i * 100 + k * 10);
    ASSERT_TRUE(append_durable(log, b.build()));
  }
  auto at = [&](int64_t ts) -> std::optional<int64_t> {
    auto r = *shard_.run([&] { return log->offset_for_timestamp(ts); });
    if (!r) return std::nullopt;
    // The answer carries the found record's own timestamp, not the query's.
    EXPECT_EQ(r->timestamp, 1000 + (r->offset / 5) * 100 + (r->offset % 5) * 10);
    return r->offset;
  };
  EXPECT_EQ(at(0), 0);
  EXPECT_EQ(at(1000), 0);
  EXPECT_EQ(at(1001), 1);
  EXPECT_EQ(at(1020), 2);
  EXPECT_EQ(at(1341), 4 * 5 + 0);  // batch 3 ends at 1340
  EXPECT_EQ(at(1940), 49);
  EXPECT_EQ(at(1941), std::nullopt);
  EXPECT_FALSE(close(log));
}

namespace {

// Rewrites a batch's header max timestamp as a careless producer would, CRC included.
std::vector<uint8_t> with_header_max_timestamp(std::vector<uint8_t> batch, int64_t max_ts) {
  storage::put_i64(&batch[35], max_ts);
  storage::put_i32(&batch[17], static_cast<int32_t>(storage::compute_batch_crc(batch)));
  return batch;
}

}  // namespace

// Sarama writes maxTimestamp = -1; other producers may write a value too small. The log
// stores the records' real maximum, so time lookups see every record.
TEST_F(PartitionLog, StoredMaxTimestampComesFromTheRecords) {
  auto log = open();
  for (int64_t header_ts : {int64_t{-1}, int64_t{1005}}) {
    storage::batch_builder b(1000);
    for (int k = 0; k < 4; ++k) b.add("k", "v", {}, 1000 + k * 10 + (header_ts == -1 ? 0 : 100));
    ASSERT_TRUE(append_durable(log, with_header_max_timestamp(b.build(), header_ts)));
  }
  auto got = read_all(log);
  ASSERT_EQ(got.size(), 2u);
  auto h0 = storage::decode_header(got[0]);
  EXPECT_EQ(h0.max_timestamp, 1030);
  EXPECT_EQ(storage::decode_header(got[1]).max_timestamp, 1130);
  // The stored CRC matches the corrected header.
  EXPECT_TRUE(storage::validate_batch(got[0]));
  EXPECT_TRUE(storage::validate_batch(got[1]));
  auto at = [&](int64_t ts) { return *shard_.run([&] { return log->offset_for_timestamp(ts); }); };
  ASSERT_TRUE(at(1015));
  EXPECT_EQ(at(1015)->offset, 2);
  EXPECT_EQ(at(1015)->timestamp, 1020);
  ASSERT_TRUE(at(1125));
  EXPECT_EQ(at(1125)->offset, 7);
  EXPECT_EQ(at(1125)->timestamp, 1130);
  auto max = *shard_.run([&] { return log->max_timestamp_record(); });
  ASSERT_TRUE(max);
  EXPECT_EQ(max->offset, 7);
  EXPECT_EQ(max->timestamp, 1130);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, OffsetForTimestampLooksInsideCompressedBatches) {
  for (auto codec : {storage::compression::gzip, storage::compression::snappy,
                     storage::compression::lz4, storage::compression::zstd}) {
    SCOPED_TRACE(static_cast<int>(codec));
    std::filesystem::remove_all(part_dir());
    auto log = open();
    for (int i = 0; i < 3; ++i) {
      storage::batch_builder b(1000 + i * 100);
      b.codec(codec);
      for (int k = 0; k < 5; ++k) b.add("key", std::string(200, 'x'), {}, 1000 + i * 100 + k * 10);
      ASSERT_TRUE(append_durable(log, with_header_max_timestamp(b.build(), -1)));
    }
    auto at = [&](int64_t ts) {
      return *shard_.run([&] { return log->offset_for_timestamp(ts); });
    };
    ASSERT_TRUE(at(1125));
    EXPECT_EQ(at(1125)->offset, 8);  // batch 1, record 3 (1130)
    EXPECT_EQ(at(1125)->timestamp, 1130);
    EXPECT_EQ(at(1000)->offset, 0);
    EXPECT_FALSE(at(1241));
    auto max = *shard_.run([&] { return log->max_timestamp_record(); });
    ASSERT_TRUE(max);
    EXPECT_EQ(max->offset, 14);
    EXPECT_FALSE(close(log));
  }
}

TEST_F(PartitionLog, LogAppendTimeStampsTheBrokerClock) {
  storage::log_config cfg;
  cfg.log_append_time = true;
  auto log = open(cfg);
  auto r = append_durable(log, make_batch(3, 5));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->log_append_time, now_.load());
  auto got = read_all(log);
  ASSERT_EQ(got.size(), 1u);
  auto h = storage::decode_header(got[0]);
  EXPECT_TRUE(h.log_append_time());
  EXPECT_EQ(h.max_timestamp, now_.load());
  EXPECT_TRUE(storage::validate_batch(got[0]));
  auto found = *shard_.run([&] { return log->offset_for_timestamp(now_.load()); });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->offset, 0);
  EXPECT_EQ(found->timestamp, now_.load());
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, TimestampsOutsideTheTopicsBoundsAreRefused) {
  storage::log_config cfg;
  cfg.timestamp_before_max_ms = 1000;
  cfg.timestamp_after_max_ms = 500;
  auto log = open(cfg);
  const int64_t now = now_.load();
  EXPECT_TRUE(append(log, make_batch(1, now - 1000)));
  EXPECT_EQ(append(log, make_batch(1, now - 1001)).error(),
            make_error_code(errc::invalid_timestamp));
  EXPECT_EQ(append(log, make_batch(1, now + 501)).error(),
            make_error_code(errc::invalid_timestamp));
  EXPECT_EQ(append(log, make_batch(1, -5)).error(), make_error_code(errc::invalid_timestamp));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, RecordsThatDoNotMatchTheirHeaderAreRefused) {
  auto log = open();
  auto fix_crc = [](std::vector<uint8_t>& b) {
    storage::put_i32(&b[17], static_cast<int32_t>(storage::compute_batch_crc(b)));
  };
  {
    // Header counts 3 records, the body holds 2.
    auto b = make_batch(2, now_);
    storage::put_i32(&b[23], 2);
    storage::put_i32(&b[57], 3);
    fix_crc(b);
    EXPECT_EQ(append(log, b).error(), make_error_code(errc::invalid_record));
  }
  {
    // Bytes after the last record.
    auto b = make_batch(2, now_);
    b.push_back(0);
    storage::put_i32(&b[8], static_cast<int32_t>(b.size() - 12));
    fix_crc(b);
    EXPECT_EQ(append(log, b).error(), make_error_code(errc::invalid_record));
  }
  {
    // A compressed batch whose records are not valid for the codec.
    auto b = make_batch(2, now_);
    b[22] = static_cast<uint8_t>(storage::compression::zstd);
    fix_crc(b);
    EXPECT_EQ(append(log, b).error(), make_error_code(errc::invalid_record));
  }
  EXPECT_TRUE(append(log, make_batch(2, now_)));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, RollsBySizeAndReadsAcrossSegments) {
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  auto log = open(cfg);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(append_durable(log, make_batch(2, now_, 400)));
  EXPECT_GT(log->segment_count(), 5u);
  EXPECT_EQ(read_all(log).size(), 40u);
  for (const auto& e : fs::directory_iterator(part_dir())) {
    if (e.path().extension() == ".log") {
      EXPECT_LE(fs::file_size(e.path()), 4096u);
    }
  }
  EXPECT_FALSE(close(log));
  // Sealed segments got their index files.
  EXPECT_TRUE(fs::exists(part_dir() / "00000000000000000000.index"));
  EXPECT_TRUE(fs::exists(part_dir() / "00000000000000000000.timeindex"));
}

TEST_F(PartitionLog, RollsByAge) {
  storage::log_config cfg;
  cfg.segment_ms = 60'000;
  auto log = open(cfg);
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_EQ(log->segment_count(), 1u);
  now_ += 60'001;
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_TRUE(fs::exists(part_dir() / "00000000000000000002.log"));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, RetentionByBytesDeletesOldestSegments) {
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  cfg.retention_bytes = 10000;
  auto log = open(cfg);
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(append_durable(log, make_batch(1, now_, 900)));
  const auto before = log->size_bytes();
  auto r = shard_.run([&] { return log->apply_retention(); });
  EXPECT_GT(r.segments_deleted, 0u);
  EXPECT_EQ(log->size_bytes(), before - r.bytes_deleted);
  EXPECT_GE(log->size_bytes(), 10000u);
  EXPECT_LT(log->size_bytes() - 4096, 10000u);
  EXPECT_GT(log->log_start_offset(), 0);
  EXPECT_EQ(shard_.run([&] { return log->read(0, 100).error(); }),
            make_error_code(errc::offset_out_of_range));
  EXPECT_EQ(read_all(log, log->log_start_offset()).size(),
            static_cast<size_t>(60 - log->log_start_offset()));
  EXPECT_FALSE(fs::exists(part_dir() / "00000000000000000000.log"));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, RetentionByTimeUsesTheNewestTimestampOfASegment) {
  storage::log_config cfg;
  cfg.segment_bytes = 2048;
  cfg.retention_ms = 3'600'000;
  auto log = open(cfg);
  const int64_t t0 = now_;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_durable(log, make_batch(1, t0, 900)));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_durable(log, make_batch(1, t0 + 7'200'000, 900)));
  now_ = t0 + 7'200'000;
  auto r = shard_.run([&] { return log->apply_retention(); });
  EXPECT_GT(r.segments_deleted, 0u);
  // Everything stamped t0 is gone, nothing newer is.
  EXPECT_EQ(log->log_start_offset(), 10);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, GroupCommitCoversManyAppendsWithOneFsync) {
  auto log = open();
  const auto before = flusher_.get_stats().syncs;
  shard_.run([&] {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->append(make_batch(1, now_)));
  });
  EXPECT_EQ(log->high_watermark(), 0);  // not durable yet: consumers must not see it
  EXPECT_FALSE(wait_durable(log, 100));
  EXPECT_EQ(flusher_.get_stats().syncs - before, 1u);
  EXPECT_EQ(log->high_watermark(), 100);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, IntervalPolicyAcksAtOnceAndFlushesLater) {
  storage::log_config cfg;
  cfg.policy = storage::durability::interval;
  cfg.flush_interval_ms = 20;
  auto log = open(cfg);
  const auto before = flusher_.get_stats().syncs;
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_EQ(log->high_watermark(), 1);
  for (int i = 0; i < 500 && flusher_.get_stats().syncs == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GT(flusher_.get_stats().syncs, before);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, PageCachePolicyNeverFsyncsOnAppend) {
  storage::log_config cfg;
  cfg.policy = storage::durability::page_cache;
  auto log = open(cfg);
  const auto before = flusher_.get_stats().syncs;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_EQ(log->high_watermark(), 20);
  EXPECT_EQ(flusher_.get_stats().syncs, before);
  EXPECT_FALSE(close(log));
  EXPECT_GT(flusher_.get_stats().syncs, before);  // close makes it durable
}

class FaultHook {
 public:
  explicit FaultHook(base::io_fault_hook h) { base::set_io_fault_hook(std::move(h)); }
  ~FaultHook() { base::set_io_fault_hook(nullptr); }
};

TEST_F(PartitionLog, FailedFsyncIsNeverAcknowledgedAndTheLogTurnsReadOnly) {
  auto log = open();
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  {
    FaultHook hook([](base::io_op op, const fs::path& p) {
      return op == base::io_op::sync && p.extension() == ".log" ? EIO : 0;
    });
    auto r = append_durable(log, make_batch(1, now_));
    EXPECT_EQ(r.error(), make_error_code(errc::log_read_only));
  }
  // Even with the disk healthy again, the log does not pretend the write was durable.
  EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::log_read_only));
  EXPECT_EQ(log->high_watermark(), 1);
  EXPECT_EQ(read_all(log).size(), 1u);  // reads keep working
  EXPECT_TRUE(log->failure());
  EXPECT_EQ(close(log), make_error_code(errc::log_read_only));
}

TEST_F(PartitionLog, FailedWriteTurnsTheLogReadOnly) {
  auto log = open();
  {
    FaultHook hook(
        [](base::io_op op, const fs::path&) { return op == base::io_op::write ? EIO : 0; });
    EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::log_read_only));
  }
  EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::log_read_only));
  EXPECT_EQ(close(log), make_error_code(errc::log_read_only));
}

TEST_F(PartitionLog, FullDiskRefusesAppendsAndRecoversWhenSpaceReturns) {
  auto log = open();
  ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  {
    FaultHook hook(
        [](base::io_op op, const fs::path&) { return op == base::io_op::write ? ENOSPC : 0; });
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::disk_full));
    }
  }
  auto r = append_durable(log, make_batch(1, now_));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->base_offset, 1);
  EXPECT_EQ(read_all(log).size(), 2u);
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, MinimumFreeSpaceGuardRefusesThenAccepts) {
  storage::disk_space disk(dir_.path(), UINT64_MAX);  // more than any disk has free
  auto log = open({}, nullptr, &disk);
  EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::disk_full));
  disk.set_min_free_bytes(1);
  EXPECT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_FALSE(close(log));
}

TEST_F(PartitionLog, AppendAfterCloseIsRefused) {
  auto log = open();
  EXPECT_FALSE(close(log));
  EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::log_closed));
}

}  // namespace

namespace riptide::testing {
namespace {

class PartitionLogTopicConfigs : public log_test {};

// compression.type names a codec: batches arriving with another one are stored with it,
// their records unchanged.
TEST_F(PartitionLogTopicConfigs, CompressionTypeRecompressesBatches) {
  storage::log_config cfg;
  cfg.compression_codec = static_cast<int8_t>(storage::compression::zstd);
  auto log = open(cfg);
  storage::batch_builder plain(1000);
  storage::batch_builder gz(2000);
  gz.codec(storage::compression::gzip);
  const std::string value_a(500, 'a'), value_b(500, 'b');
  const char* plain_keys[] = {"k0", "k1", "k2"};
  const char* gz_keys[] = {"g0", "g1", "g2"};
  for (int k = 0; k < 3; ++k) {
    plain.add(plain_keys[k], value_a, {}, 1000 + k);
    gz.add(gz_keys[k], value_b, {}, 2000 + k);
  }
  ASSERT_TRUE(append_durable(log, plain.build()));
  ASSERT_TRUE(append_durable(log, gz.build()));
  auto got = read_all(log);
  ASSERT_EQ(got.size(), 2u);
  std::vector<std::string> keys;
  for (const auto& b : got) {
    ASSERT_TRUE(storage::validate_batch(b));
    EXPECT_EQ(storage::decode_header(b).codec(), storage::compression::zstd);
    EXPECT_LT(b.size(), 200u);
    ASSERT_TRUE(storage::for_each_record(b, [&](const storage::record_view& r) {
      keys.emplace_back(r.key->begin(), r.key->end());
      return true;
    }));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"k0", "k1", "k2", "g0", "g1", "g2"}));
  EXPECT_FALSE(close(log));
}

// segment.index.bytes: a full offset index rolls the segment.
TEST_F(PartitionLogTopicConfigs, AFullOffsetIndexRollsTheSegment) {
  storage::log_config cfg;
  cfg.index_interval_bytes = 0;    // an entry for every batch
  cfg.segment_index_bytes = 4096;  // 512 entries
  auto log = open(cfg);
  for (int i = 0; i < 1100; ++i) ASSERT_TRUE(append(log, make_batch(1, now_, 10)));
  EXPECT_EQ(shard_.run([&] { return log->segment_count(); }), 3u);
  EXPECT_FALSE(close(log));
}

}  // namespace
}  // namespace riptide::testing

namespace riptide::testing {
namespace {

class PartitionLogDeleteRecords : public log_test {
 protected:
  base::result<int64_t> delete_before(const std::shared_ptr<storage::partition_log>& log,
                                      int64_t offset) {
    std::promise<base::result<int64_t>> done;
    shard_.run([&] {
      log->delete_records_before(offset, [&](base::result<int64_t> r) { done.set_value(r); });
      return 0;
    });
    return done.get_future().get();
  }
};

TEST_F(PartitionLogDeleteRecords, MovesTheLogStartAndKeepsItAcrossARestart) {
  storage::log_config cfg;
  cfg.segment_bytes = 16384;
  auto log = open(cfg);
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(append_durable(log, make_batch(1, 1000 + i, 1000)));
  const auto segments = shard_.run([&] { return log->segment_count(); });
  auto r = delete_before(log, 35);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 35);
  EXPECT_EQ(shard_.run([&] { return log->log_start_offset(); }), 35);
  EXPECT_LT(shard_.run([&] { return log->segment_count(); }), segments);
  // Reads below the start are out of range; a time lookup finds nothing below it.
  auto below = shard_.run([&] { return log->read(34, 1 << 20); });
  EXPECT_EQ(below.error(), make_error_code(errc::offset_out_of_range));
  auto found = *shard_.run([&] { return log->offset_for_timestamp(0); });
  ASSERT_TRUE(found);
  EXPECT_EQ(found->offset, 35);
  EXPECT_EQ(found->timestamp, 1035);
  // Lower than the start: no change. Past the high watermark: refused.
  EXPECT_EQ(*delete_before(log, 10), 35);
  EXPECT_EQ(delete_before(log, 61).error(), make_error_code(errc::offset_out_of_range));
  EXPECT_FALSE(close(log));

  log = open(cfg);
  EXPECT_EQ(shard_.run([&] { return log->log_start_offset(); }), 35);
  EXPECT_EQ(read_all(log, 35).size(), 25u);  // 35..59, one record per batch
  EXPECT_EQ(*delete_before(log, 60), 60);    // everything
  EXPECT_EQ(shard_.run([&] { return log->log_start_offset(); }), 60);
  EXPECT_TRUE(append_durable(log, make_batch(1, 2000)));
  EXPECT_FALSE(close(log));
}

}  // namespace
}  // namespace riptide::testing

namespace riptide::testing {
namespace {

class PartitionLogCompactedRoll : public log_test {};

// A compacted log rolls by max.compaction.lag.ms, so the cleaner can reach its records.
TEST_F(PartitionLogCompactedRoll, MaxCompactionLagRollsTheActiveSegment) {
  storage::log_config cfg;
  cfg.cleanup = {true, true};
  cfg.max_compaction_lag_ms = 1000;
  auto log = open(cfg);
  ASSERT_TRUE(append(log, make_batch(1, now_)));
  now_ += 999;
  ASSERT_TRUE(append(log, make_batch(1, now_)));
  EXPECT_EQ(shard_.run([&] { return log->segment_count(); }), 1u);
  now_ += 1;
  ASSERT_TRUE(append(log, make_batch(1, now_)));
  EXPECT_EQ(shard_.run([&] { return log->segment_count(); }), 2u);
  EXPECT_FALSE(close(log));
}

}  // namespace
}  // namespace riptide::testing
