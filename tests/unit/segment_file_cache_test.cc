// The bounded cache of sealed segments' files, and what a partition does when files cannot
// be opened or created for a while: reads of evicted segments reopen them, a response keeps
// an evicted file open, a failed reopen fails the read only, a failed roll refuses the append
// until the file can be created, index files and directory fsyncs are retried.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "base/file.h"
#include "log_fixture.h"
#include "storage/errc.h"
#include "storage/log_manager.h"
#include "storage/segment_file_cache.h"

namespace riptide::testing {
namespace {

namespace fs = std::filesystem;
using storage::errc;

std::shared_ptr<base::file> open_file(const fs::path& p) {
  auto f = base::file::open(p, base::file::mode::create_read_write);
  EXPECT_TRUE(f) << f.error().message();
  return f ? *f : nullptr;
}

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Fails opens (base::file::open, the directory open of fsync_directory) whose path the
// predicate picks, while installed.
class OpenFaults {
 public:
  OpenFaults(int err, std::function<bool(const fs::path&)> pick) {
    base::set_io_fault_hook([this, err, pick = std::move(pick)](base::io_op op, const fs::path& p) {
      if (op != base::io_op::open || !on_.load() || !pick(p)) return 0;
      ++hits_;
      return err;
    });
  }
  ~OpenFaults() { base::set_io_fault_hook(nullptr); }
  void stop() { on_ = false; }
  int hits() const { return hits_.load(); }

 private:
  std::atomic<bool> on_{true};
  std::atomic<int> hits_{0};
};

TEST(SegmentFileCache, EvictsTheLeastRecentlyUsedBeyondItsCapacity) {
  temp_dir dir;
  storage::segment_file_cache cache(2);
  auto a = open_file(dir.path() / "a");
  auto b = open_file(dir.path() / "b");
  auto c = open_file(dir.path() / "c");
  cache.insert(1, a);
  cache.insert(2, b);
  EXPECT_EQ(cache.find(1), a);  // 1 is now more recent than 2
  cache.insert(3, c);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_EQ(cache.find(2), nullptr);
  EXPECT_EQ(cache.find(1), a);
  EXPECT_EQ(cache.find(3), c);
  // Eviction drops only the cache's reference: a holder keeps the file usable.
  EXPECT_EQ(b.use_count(), 1);
  EXPECT_TRUE(b->pwrite_all(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("x"), 1), 0));

  EXPECT_EQ(cache.take(1), a);
  EXPECT_EQ(cache.find(1), nullptr);
  cache.erase(3);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SegmentFileCache, PinnedFilesStayAndCountAgainstTheCapacity) {
  temp_dir dir;
  storage::segment_file_cache cache(2);
  auto a = open_file(dir.path() / "a");
  auto b = open_file(dir.path() / "b");
  auto c = open_file(dir.path() / "c");
  cache.insert(1, a);
  cache.pin(1);  // the least recently used, but not yet fsynced
  EXPECT_FALSE(cache.full_of_pinned());
  cache.insert(2, b);
  cache.insert(3, c);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find(1), a);
  EXPECT_EQ(cache.find(2), nullptr);  // evicted instead
  cache.pin(3);
  EXPECT_TRUE(cache.full_of_pinned());
  // A read of another segment still gets its file; the cache does not keep it.
  cache.insert(2, b);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.find(2), nullptr);
  cache.unpin(1);
  EXPECT_FALSE(cache.full_of_pinned());
  cache.insert(2, b);
  EXPECT_EQ(cache.find(1), nullptr);
  EXPECT_EQ(cache.find(3), c);
  cache.erase(3);  // a pinned segment deleted by retention
  EXPECT_EQ(cache.pinned(), 0u);
}

TEST(SegmentFileCache, RollsWaitWhileSealedSegmentsWaitingForFsyncFillIt) {
  temp_dir dir;
  storage::segment_file_cache cache(2);
  base::task_thread shard;
  storage::flusher flusher(1);
  // The flusher is kept busy: the sealed segments' fsyncs wait behind this job.
  std::promise<void> release;
  auto released = release.get_future().share();
  flusher.submit([released] { released.wait(); });
  std::atomic<int64_t> now{1'700'000'000'000};
  storage::log_environment env{&shard,  &flusher, nullptr, [&] { return now.load(); },
                               nullptr, &cache};
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  cfg.policy = storage::durability::page_cache;
  auto log = shard.run([&] {
    storage::recovery_report r;
    return *storage::partition_log::open(dir.path() / "t-0", {"t", 0}, cfg, env, r);
  });
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = shard.run([&] { return log->append(make_batch(40, now)); });  // each rolls
    if (!r) {
      EXPECT_EQ(r.error(), make_error_code(errc::temporarily_unavailable));
      ++refused;
    }
  }
  EXPECT_EQ(shard.run([&] { return log->segment_count(); }), 3u);  // two sealed, pinned
  EXPECT_EQ(refused, 3);
  EXPECT_EQ(cache.pinned(), 2u);
  EXPECT_FALSE(log->failure());
  release.set_value();
  // Synced: the next rolls go through.
  for (int i = 0; i < 200 && shard.run([&] { return cache.pinned(); }) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(shard.run([&] { return log->append(make_batch(40, now)); }));
  std::promise<std::error_code> closed;
  shard.post([&] { log->close([&](std::error_code ec) { closed.set_value(ec); }); });
  EXPECT_FALSE(closed.get_future().get());
}

class SegmentFiles : public log_test {
 protected:
  // Many small segments: 20 batches of ~1 KiB, two per segment.
  std::shared_ptr<storage::partition_log> open_many_segments(int batches = 20) {
    storage::log_config cfg;
    cfg.segment_bytes = 2048;
    auto log = open(cfg);
    for (int i = 0; i < batches; ++i) {
      auto r = append_durable(log, make_batch(8, now_, 100, static_cast<char>('a' + i % 26)));
      EXPECT_TRUE(r) << r.error().message();
    }
    return log;
  }
};

TEST_F(SegmentFiles, ReadsOfEvictedSegmentsReopenThemWithinTheBound) {
  const size_t before = open_descriptors();
  auto log = open_many_segments();
  ASSERT_GE(log->segment_count(), 10u);
  // Two in the cache and the active one, whatever the number of segments (a flush job
  // may hold one more for a moment).
  EXPECT_LE(files_.size(), 2u);
  EXPECT_LE(open_descriptors(), before + 4);
  const auto evicted = files_.evictions();
  EXPECT_GT(evicted, 0u);
  // Every record reads back, from first to last and again, reopening files as it goes.
  for (int round = 0; round < 2; ++round) {
    auto batches = read_all(log);
    ASSERT_EQ(batches.size(), 20u);
    for (size_t i = 0; i < batches.size(); ++i) {
      auto h = storage::decode_header(batches[i]);
      EXPECT_EQ(h.base_offset, static_cast<int64_t>(i * 8));
    }
  }
  EXPECT_GT(files_.evictions(), evicted);
  EXPECT_LE(files_.size(), 2u);
  EXPECT_LE(open_descriptors(), before + 4);
  // Time lookups go through the cache too.
  auto found = shard_.run([&] { return log->offset_for_timestamp(now_); });
  ASSERT_TRUE(found);
  ASSERT_TRUE(*found);
  EXPECT_EQ((*found)->offset, 0);
  EXPECT_FALSE(close(log));
}

TEST_F(SegmentFiles, AResponseHoldingAnEvictedFileStillReadsIt) {
  auto log = open_many_segments();
  // A file range of the first segment, as a Fetch response holds it.
  auto first = shard_.run([&] { return log->read(0, 1 << 20); });
  ASSERT_TRUE(first);
  ASSERT_FALSE(first->data.empty());
  ASSERT_TRUE(std::holds_alternative<base::file_fragment>(first->data.fragments().front()));
  // Reading the rest evicts the first segment's file from the cache.
  const auto evicted = files_.evictions();
  EXPECT_EQ(read_all(log, first->next_offset).size(),
            20u - static_cast<size_t>(first->next_offset / 8));
  EXPECT_GT(files_.evictions(), evicted);
  // The response's file is still open and its bytes are the first batches.
  auto bytes = first->data.linearize();
  ASSERT_TRUE(bytes) << bytes.error().message();
  auto h = storage::validate_batch(*bytes);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->base_offset, 0);
  EXPECT_EQ(h->record_count, 8);
  EXPECT_FALSE(close(log));
}

TEST_F(SegmentFiles, AFailedReopenFailsTheReadNotTheLog) {
  auto log = open_many_segments();
  read_all(log, 100);  // the last segments are the cached ones now
  {
    const auto first = storage::segment::file_stem(0) + ".log";
    OpenFaults faults(EMFILE, [first](const fs::path& p) { return p.filename() == first; });
    auto r = shard_.run([&] { return log->read(0, 1 << 20); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), std::errc::too_many_files_open);
    EXPECT_GT(faults.hits(), 0);
    // Writes go on: the active segment's file is held open.
    EXPECT_TRUE(append_durable(log, make_batch(1, now_)));
    EXPECT_FALSE(log->failure());
  }
  EXPECT_EQ(read_all(log).size(), 21u);
  EXPECT_FALSE(close(log));
}

TEST_F(SegmentFiles, ASegmentReplacedOnDiskIsNotReadThroughItsOldIndex) {
  auto seg = storage::segment::create(dir_.path(), 0, now_, &files_);
  ASSERT_TRUE(seg);
  auto batch = make_batch(2, now_);
  auto h = storage::decode_header(batch);
  iovec iov{batch.data(), batch.size()};
  ASSERT_TRUE((*seg)->append(std::span(&iov, 1), batch.size(), std::span(&h, 1), 4096));
  (*seg)->release_to();
  ASSERT_TRUE((*seg)->file());
  files_.erase((*seg)->id());  // as if evicted
  // Another file now has its name (as a cleaner's swap leaves it).
  const auto path = (*seg)->log_path();
  auto other = dir_.path() / "other";
  fs::copy_file(path, other);
  fs::rename(other, path);
  auto f = (*seg)->file();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), make_error_code(errc::temporarily_unavailable));
}

TEST_F(SegmentFiles, ARollThatCannotCreateItsFileIsRefusedThenRetried) {
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  auto log = open(cfg);
  ASSERT_TRUE(append_durable(log, make_batch(40, now_)));  // more than a segment: next rolls
  for (int err : {EMFILE, EACCES, ENFILE}) {
    const auto segments = log->segment_count();
    {
      OpenFaults faults(err, [](const fs::path& p) { return p.extension() == ".log"; });
      for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(append(log, make_batch(1, now_)).error(),
                  make_error_code(errc::temporarily_unavailable))
            << std::strerror(err);
      }
      EXPECT_FALSE(log->failure());
      EXPECT_EQ(log->segment_count(), segments);
    }
    // The cause is gone: the next append rolls and is stored.
    auto r = append_durable(log, make_batch(40, now_));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(log->segment_count(), segments + 1);
  }
  EXPECT_EQ(read_all(log).size(), 4u);
  EXPECT_FALSE(close(log));
  log.reset();
  storage::recovery_report report;
  log = open(cfg, &report);
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(read_all(log).size(), 4u);
  EXPECT_FALSE(close(log));
}

TEST_F(SegmentFiles, ARollOutOfSpaceIsDiskFull) {
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  auto log = open(cfg);
  ASSERT_TRUE(append_durable(log, make_batch(40, now_)));
  {
    OpenFaults faults(ENOSPC, [](const fs::path& p) { return p.extension() == ".log"; });
    EXPECT_EQ(append(log, make_batch(1, now_)).error(), make_error_code(errc::disk_full));
  }
  EXPECT_TRUE(append_durable(log, make_batch(1, now_)));
  EXPECT_FALSE(close(log));
}

TEST_F(SegmentFiles, IndexFilesThatCannotBeWrittenAreRetried) {
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  auto log = open(cfg);
  const auto index = part_dir() / (storage::segment::file_stem(0) + ".index");
  {
    // write_file_atomically creates <file>.tmp first.
    OpenFaults faults(EACCES, [](const fs::path& p) { return p.extension() == ".tmp"; });
    ASSERT_TRUE(append_durable(log, make_batch(40, now_)));
    ASSERT_TRUE(append_durable(log, make_batch(40, now_)));  // rolls: seals segment 0
    for (int i = 0; i < 200 && faults.hits() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_GT(faults.hits(), 0);
    EXPECT_FALSE(fs::exists(index));
    EXPECT_FALSE(log->failure());
    // Acknowledgements go on meanwhile.
    ASSERT_TRUE(append_durable(log, make_batch(1, now_)));
  }
  for (int i = 0; i < 400 && !fs::exists(index); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(fs::exists(index));
  EXPECT_FALSE(close(log));
  log.reset();
  storage::recovery_report report;
  log = open(cfg, &report);
  EXPECT_FALSE(report.validated_from);  // every index was written: nothing to re-validate
  EXPECT_EQ(read_all(log).size(), 3u);
  EXPECT_FALSE(close(log));
}

TEST_F(SegmentFiles, ADirectoryThatCannotBeOpenedForFsyncDelaysAcknowledgementsOnly) {
  storage::log_config cfg;
  cfg.segment_bytes = 4096;
  auto log = open(cfg);
  ASSERT_TRUE(append_durable(log, make_batch(40, now_)));
  const auto dir = part_dir();
  std::promise<std::error_code> acked;
  auto future = acked.get_future();
  {
    OpenFaults faults(EMFILE, [dir](const fs::path& p) { return p == dir; });
    shard_.run([&] {
      auto r = log->append(make_batch(40, now_));  // rolls: the directory needs an fsync
      ASSERT_TRUE(r);
      log->wait_durable(r->last_offset + 1, [&](std::error_code ec) { acked.set_value(ec); });
    });
    for (int i = 0; i < 200 && faults.hits() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_GT(faults.hits(), 0);
    EXPECT_EQ(future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
    EXPECT_FALSE(log->failure());
  }
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_FALSE(future.get());
  EXPECT_FALSE(log->failure());
  EXPECT_EQ(read_all(log).size(), 2u);
  EXPECT_FALSE(close(log));
}

class LogManagerOpen : public log_test {};

TEST_F(LogManagerOpen, APartitionThatCannotBeOpenedDoesNotStopTheOthers) {
  const storage::ntp good{"good", 0}, bad{"bad", 0};
  {
    storage::log_manager mgr(dir_.path(), {}, env());
    ASSERT_TRUE(shard_.run([&] { return mgr.open_all(); }));
    for (const auto& n : {good, bad}) {
      auto log = shard_.run([&] { return mgr.create(n); });
      ASSERT_TRUE(log);
      ASSERT_TRUE(append_durable(*log, make_batch(3, now_)));
    }
    std::promise<std::error_code> closed;
    shard_.post([&] { mgr.close_all([&](std::error_code ec) { closed.set_value(ec); }); });
    ASSERT_FALSE(closed.get_future().get());
  }
  storage::log_manager mgr(dir_.path(), {}, env());
  {
    OpenFaults faults(
        EACCES, [](const fs::path& p) { return p.string().find("/bad-0/") != std::string::npos; });
    auto reports = shard_.run([&] { return mgr.open_all(); });
    ASSERT_TRUE(reports) << reports.error().message();
    ASSERT_EQ(reports->size(), 1u);
    EXPECT_EQ((*reports)[0].partition, good);
    EXPECT_NE(shard_.run([&] { return mgr.get(good); }), nullptr);
    EXPECT_EQ(shard_.run([&] { return mgr.get(bad); }), nullptr);
    ASSERT_EQ(mgr.failed().size(), 1u);
    EXPECT_EQ(mgr.failed().at(bad), std::errc::permission_denied);
    // Still failing: retried, still listed.
    EXPECT_EQ(shard_.run([&] {
      return mgr.retry_failed([](const storage::ntp&) {
        return std::optional<storage::log_config>(storage::log_config{});
      });
    }),
              0u);
    EXPECT_EQ(mgr.failed().size(), 1u);
  }
  EXPECT_EQ(shard_.run([&] {
    return mgr.retry_failed([](const storage::ntp&) {
      return std::optional<storage::log_config>(storage::log_config{});
    });
  }),
            1u);
  EXPECT_TRUE(mgr.failed().empty());
  auto log = shard_.run([&] { return mgr.get(bad); });
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(read_all(log).size(), 1u);
  std::promise<std::error_code> closed;
  shard_.post([&] { mgr.close_all([&](std::error_code ec) { closed.set_value(ec); }); });
  EXPECT_FALSE(closed.get_future().get());
}

TEST_F(LogManagerOpen, RemovingAPartitionThatFailedToOpenDeletesItsDirectory) {
  const storage::ntp bad{"bad", 0};
  storage::log_manager mgr(dir_.path(), {}, env());
  ASSERT_TRUE(shard_.run([&] { return mgr.open_all(); }));
  {
    OpenFaults faults(
        EMFILE, [](const fs::path& p) { return p.string().find("/bad-0/") != std::string::npos; });
    auto log = shard_.run([&] { return mgr.create(bad); });
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error(), std::errc::too_many_files_open);
  }
  ASSERT_EQ(mgr.failed().size(), 1u);
  EXPECT_TRUE(fs::exists(dir_.path() / "bad-0"));
  std::promise<std::error_code> removed;
  shard_.post([&] { mgr.remove(bad, [&](std::error_code ec) { removed.set_value(ec); }); });
  EXPECT_FALSE(removed.get_future().get());
  EXPECT_TRUE(mgr.failed().empty());
  EXPECT_FALSE(fs::exists(dir_.path() / "bad-0"));
}

}  // namespace
}  // namespace riptide::testing
