// The shard journal: appends of many partitions become durable through journal
// rounds (no segment fsync), files are reused only once segments cover them, and
// after a simulated power failure (each segment cut back to what was last fsynced)
// replay restores every acknowledged batch.

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "base/file.h"
#include "log_fixture.h"
#include "storage/journal.h"
#include "storage/log_manager.h"

namespace riptide::testing {
namespace {

namespace fs = std::filesystem;

// Records, at every fdatasync of a segment, the file's size: a later cut to that size
// loses nothing the fsync made durable, and at least everything it did not.
class sync_recorder {
 public:
  sync_recorder() {
    base::set_io_fault_hook([this](base::io_op op, const fs::path& p) {
      std::lock_guard lock(mutex_);
      if (op == base::io_op::sync && p.extension() == ".log") {
        if (slow_segment_syncs_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0) synced_[p] = static_cast<uint64_t>(st.st_size);
        ++segment_syncs_;
      }
      if (op == base::io_op::sync && p.extension() == ".wal") ++journal_syncs_;
      if (op == base::io_op::write && p.extension() == ".wal" && fail_journal_writes_) return EIO;
      return 0;
    });
  }
  ~sync_recorder() { base::set_io_fault_hook(nullptr); }

  // Cuts every segment under `dir` back to its last fsynced size (0 if never synced).
  void power_failure(const fs::path& dir) {
    std::lock_guard lock(mutex_);
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.path().extension() != ".log") continue;
      auto it = synced_.find(e.path());
      fs::resize_file(e.path(), it == synced_.end() ? 0 : it->second);
    }
  }
  size_t segment_syncs() {
    std::lock_guard lock(mutex_);
    return segment_syncs_;
  }
  size_t journal_syncs() {
    std::lock_guard lock(mutex_);
    return journal_syncs_;
  }
  void slow_segment_syncs() {
    std::lock_guard lock(mutex_);
    slow_segment_syncs_ = true;
  }
  void fail_journal_writes() {
    std::lock_guard lock(mutex_);
    fail_journal_writes_ = true;
  }

 private:
  std::mutex mutex_;
  std::map<fs::path, uint64_t> synced_;
  size_t segment_syncs_ = 0;
  size_t journal_syncs_ = 0;
  bool fail_journal_writes_ = false;
  bool slow_segment_syncs_ = false;
};

class Journal : public log_test {
 protected:
  fs::path journal_dir() const { return dir_.path() / "journal"; }

  void open_journal(uint64_t file_bytes) {
    journal_ = shard_.run([&] {
      auto j = storage::journal::open(journal_dir(), 0, &shard_, &flusher_, {file_bytes});
      EXPECT_TRUE(j) << j.error().message();
      return j ? *j : nullptr;
    });
  }

  std::shared_ptr<storage::partition_log> open_partition(int32_t p) {
    return shard_.run([&]() -> std::shared_ptr<storage::partition_log> {
      storage::recovery_report r;
      auto log = storage::partition_log::open(dir_.path() / ("orders-" + std::to_string(p)),
                                              {"orders", p}, {}, env(), r);
      EXPECT_TRUE(log) << log.error().message();
      return log ? *log : nullptr;
    });
  }

  // Appends `count` batches round-robin over `logs`, each acknowledged (durable)
  // before the function returns; returns the acknowledged batches per partition.
  std::vector<std::vector<std::vector<uint8_t>>> append_many(
      const std::vector<std::shared_ptr<storage::partition_log>>& logs, int count,
      size_t value_size) {
    std::vector<std::vector<std::vector<uint8_t>>> acked(logs.size());
    std::vector<std::promise<std::error_code>> done(static_cast<size_t>(count));
    std::vector<std::vector<uint8_t>> batches;
    for (int i = 0; i < count; ++i) {
      batches.push_back(make_batch(2, now_, value_size, static_cast<char>('a' + i % 26)));
    }
    // In bursts, each waited for, as producers waiting for acknowledgements send.
    constexpr int kBurst = 8;
    for (int from = 0; from < count; from += kBurst) {
      const int to = std::min(count, from + kBurst);
      shard_.run([&] {
        for (int i = from; i < to; ++i) {
          auto& log = logs[static_cast<size_t>(i) % logs.size()];
          auto a = log->append(batches[static_cast<size_t>(i)]);
          ASSERT_TRUE(a) << a.error().message();
          log->wait_durable(a->last_offset + 1, [&done, i](std::error_code ec) {
            done[static_cast<size_t>(i)].set_value(ec);
          });
        }
      });
      for (int i = from; i < to; ++i) {
        EXPECT_FALSE(done[static_cast<size_t>(i)].get_future().get());
      }
    }
    // What a consumer reads back is what was acknowledged.
    for (size_t p = 0; p < logs.size(); ++p) acked[p] = read_all(logs[p]);
    return acked;
  }

  // Drops everything without closing (a crash), waiting for work in flight first.
  void crash(std::vector<std::shared_ptr<storage::partition_log>>& logs) {
    for (int i = 0; i < 20; ++i) shard_.run([] {});
    shard_.run([&] {
      logs.clear();
      journal_.reset();
    });
  }

  // Flips a byte `offset` bytes into entry `entry` (counted from 0) of the journal file
  // in use, as a torn or corrupted write would leave it.
  void corrupt_entry(int entry, size_t offset, char mask) {
    fs::path file;
    for (const auto& e : fs::directory_iterator(journal_dir())) {
      if (e.path().extension() != ".wal") continue;
      auto bytes = base::read_whole_file(e.path());
      ASSERT_TRUE(bytes);
      if (bytes->compare(0, 7, "RIPTIDE") == 0) file = e.path();
    }
    ASSERT_FALSE(file.empty());
    auto bytes = *base::read_whole_file(file);
    size_t at = storage::journal::header_bytes;
    for (int i = 0; i < entry; ++i) {
      uint32_t size;
      std::memcpy(&size, bytes.data() + at, 4);
      at += size;
    }
    bytes[at + offset] = static_cast<char>(bytes[at + offset] ^ mask);
    auto f = base::file::open(file, base::file::mode::read_write);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->pwrite_all(
        std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0));
  }

  // Reopens the partitions without a journal and replays the journal files into them.
  std::vector<std::shared_ptr<storage::partition_log>> recover(int partitions) {
    std::vector<std::shared_ptr<storage::partition_log>> logs;
    for (int p = 0; p < partitions; ++p) logs.push_back(open_partition(p));
    auto contents = storage::read_journals(journal_dir());
    EXPECT_TRUE(contents) << contents.error().message();
    shard_.run([&] {
      for (auto& [name, payloads] : contents->batches) {
        auto& log = logs.at(static_cast<size_t>(name.partition));
        for (const auto& payload : payloads) {
          auto r = log->replay(payload);
          EXPECT_TRUE(r) << r.error().message();
        }
        EXPECT_TRUE(log->sync_now());
      }
    });
    return logs;
  }
};

TEST_F(Journal, AppendsOfManyPartitionsAreAcknowledgedByJournalRoundsAlone) {
  sync_recorder rec;
  open_journal(16 << 20);
  std::vector<std::shared_ptr<storage::partition_log>> logs;
  for (int p = 0; p < 8; ++p) logs.push_back(open_partition(p));
  auto acked = append_many(logs, 400, 200);
  for (const auto& a : acked) EXPECT_EQ(a.size(), 50u);
  EXPECT_EQ(rec.segment_syncs(), 0u);
  EXPECT_GT(rec.journal_syncs(), 0u);
  // Fewer journal syncs than partitions touched per round would need.
  EXPECT_LT(rec.journal_syncs(), 400u);
  for (auto& log : logs) EXPECT_FALSE(close(log));
  EXPECT_EQ(rec.segment_syncs(), 8u);  // close makes each segment durable
}

class JournalPowerFailure : public Journal, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(JournalPowerFailure, ReplayRestoresEveryAcknowledgedBatch) {
  sync_recorder rec;
  open_journal(GetParam());
  std::vector<std::shared_ptr<storage::partition_log>> logs;
  for (int p = 0; p < 3; ++p) logs.push_back(open_partition(p));
  auto acked = append_many(logs, 600, 900);
  if (GetParam() < (1 << 20)) {
    // Small files: the journal went round its files, reusing them once the segments
    // covered their entries. How many spares it prepared while checkpoints were still
    // running depends on the machine's speed; what matters is that the files on disk hold
    // far less than everything that passed through them.
    EXPECT_GT(rec.segment_syncs(), 0u);
    uint64_t appended = 0;
    for (const auto& p : acked) {
      for (const auto& b : p) appended += b.size();
    }
    uint64_t on_disk = 0;
    for (const auto& e : fs::directory_iterator(journal_dir())) {
      if (e.is_regular_file()) on_disk += e.file_size();
    }
    EXPECT_LT(on_disk, appended / 2) << "the journal kept its files instead of reusing them";
  }
  crash(logs);
  rec.power_failure(dir_.path());
  auto recovered = recover(3);
  for (size_t p = 0; p < 3; ++p) {
    auto got = read_all(recovered[p]);
    ASSERT_EQ(got.size(), acked[p].size()) << "partition " << p;
    EXPECT_TRUE(got == acked[p]) << "partition " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(FileSizes, JournalPowerFailure,
                         ::testing::Values(uint64_t{16} << 20, uint64_t{64} << 10));

TEST_F(Journal, ATornEntryEndsTheReplay) {
  open_journal(1 << 20);
  std::vector<std::shared_ptr<storage::partition_log>> logs{open_partition(0)};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_durable(logs[0], make_batch(1, now_)));
  crash(logs);
  auto contents = storage::read_journals(journal_dir());
  ASSERT_TRUE(contents);
  const storage::ntp orders0{"orders", 0};
  ASSERT_EQ(contents->batches[orders0].size(), 10u);

  corrupt_entry(6, 40, 0x5a);  // inside the seventh entry
  contents = storage::read_journals(journal_dir());
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->batches[orders0].size(), 6u);
}

// Entries of large batches take their payload's CRC from the batches' own CRC fields
// rather than a second pass over the bytes; the stored checksum must still be that of
// the bytes, so replay accepts every entry and a flipped byte inside a batch still ends
// the replay there.
TEST_F(Journal, LargeBatchEntriesCarryTheirBytesChecksum) {
  open_journal(1 << 20);
  std::vector<std::shared_ptr<storage::partition_log>> logs{open_partition(0)};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(append_durable(logs[0], make_batch(3, now_, 20000, static_cast<char>('k' + i))));
  }
  crash(logs);
  const storage::ntp orders0{"orders", 0};
  auto contents = storage::read_journals(journal_dir());
  ASSERT_TRUE(contents);
  ASSERT_EQ(contents->batches[orders0].size(), 5u);
  for (const auto& payload : contents->batches[orders0]) EXPECT_GT(payload.size(), 60000u);

  corrupt_entry(3, 30000, 0x01);  // inside the fourth entry
  contents = storage::read_journals(journal_dir());
  ASSERT_TRUE(contents);
  EXPECT_EQ(contents->batches[orders0].size(), 3u);
}

TEST_F(Journal, ARemovedPartitionIsNotReplayedIntoItsSuccessor) {
  sync_recorder rec;
  open_journal(1 << 20);
  storage::log_manager mgr(dir_.path(), {}, env());
  ASSERT_TRUE(shard_.run([&] { return mgr.open_all(); }));
  const storage::ntp name{"orders", 0};
  auto first = shard_.run([&] { return mgr.create(name); });
  ASSERT_TRUE(first);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_durable(*first, make_batch(3, now_, 100, 'o')));
  std::promise<std::error_code> removed;
  shard_.post([&] { mgr.remove(name, [&](std::error_code ec) { removed.set_value(ec); }); });
  ASSERT_FALSE(removed.get_future().get());
  first->reset();
  auto second = shard_.run([&] { return mgr.create(name); });
  ASSERT_TRUE(second);
  ASSERT_TRUE(append_durable(*second, make_batch(1, now_, 100, 'n')));
  auto contents = storage::read_journals(journal_dir());
  ASSERT_TRUE(contents);
  ASSERT_EQ(contents->batches[name].size(), 1u);
  auto h = storage::validate_batch(contents->batches[name][0]);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->base_offset, 0);
  EXPECT_EQ(h->record_count, 1);
}

TEST_F(Journal, TheLogManagerReplaysWhatItsPartitionsLost) {
  sync_recorder rec;
  open_journal(1 << 20);
  const storage::ntp orders0{"orders", 0}, orders1{"orders", 1};
  std::vector<std::vector<uint8_t>> acked;
  {
    storage::log_manager mgr(dir_.path(), {}, env());
    ASSERT_TRUE(shard_.run([&] { return mgr.open_all(); }));
    auto log = shard_.run([&] { return mgr.create(orders0); });
    ASSERT_TRUE(log);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(append_durable(*log, make_batch(2, now_)));
    acked = read_all(*log);
    ASSERT_EQ(acked.size(), 5u);
    // A crash: nothing is closed.
    std::vector<std::shared_ptr<storage::partition_log>> logs{std::move(*log)};
    crash(logs);
  }
  rec.power_failure(dir_.path());

  storage::log_manager mgr(dir_.path(), {}, env());
  ASSERT_TRUE(shard_.run([&] { return mgr.open_all(); }));
  auto log = shard_.run([&] { return mgr.get(orders0); });
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(read_all(log).empty());
  auto contents = storage::read_journals(journal_dir());
  ASSERT_TRUE(contents);
  const auto& payloads = contents->batches[orders0];
  auto n = shard_.run([&] { return mgr.replay_journal(orders0, payloads); });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 5u);
  EXPECT_TRUE(read_all(log) == acked);
  // What the log already holds is not appended again.
  n = shard_.run([&] { return mgr.replay_journal(orders0, payloads); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  // A partition the manager does not hold is not its to replay.
  n = shard_.run([&] { return mgr.replay_journal(orders1, payloads); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(shard_.run([&] { return mgr.get(orders1); }), nullptr);
  std::promise<std::error_code> closed;
  shard_.post([&] { mgr.close_all([&](std::error_code ec) { closed.set_value(ec); }); });
  EXPECT_FALSE(closed.get_future().get());
}

TEST_F(Journal, AnAppendTooLargeForTheJournalIsAcknowledgedThroughItsSegment) {
  sync_recorder rec;
  rec.slow_segment_syncs();  // the journal round after it completes first
  open_journal(64 << 10);
  auto log = open_partition(0);
  const auto small = make_batch(1, now_, 100);
  const auto large = make_batch(1, now_, 100 << 10);  // more than a journal file holds
  std::promise<std::error_code> done;
  shard_.run([&] {
    ASSERT_TRUE(log->append(small));
    ASSERT_TRUE(log->append(large));
  });
  shard_.run([&] {
    auto c = log->append(small);
    ASSERT_TRUE(c);
    log->wait_durable(c->last_offset + 1, [&](std::error_code ec) { done.set_value(ec); });
  });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the append after the large one was never acknowledged";
  EXPECT_FALSE(f.get());
  EXPECT_GT(rec.segment_syncs(), 0u);
  EXPECT_EQ(read_all(log).size(), 3u);
  EXPECT_FALSE(close(log));
}

TEST_F(Journal, AJournalFailureFallsBackToSegmentFsync) {
  sync_recorder rec;
  open_journal(1 << 20);
  std::vector<std::shared_ptr<storage::partition_log>> logs{open_partition(0), open_partition(1)};
  append_many(logs, 20, 100);
  const auto segment_syncs = rec.segment_syncs();
  rec.fail_journal_writes();
  auto acked = append_many(logs, 20, 100);
  EXPECT_EQ(acked[0].size(), 20u);
  EXPECT_EQ(acked[1].size(), 20u);
  EXPECT_GT(rec.segment_syncs(), segment_syncs);
  EXPECT_TRUE(shard_.run([&] { return static_cast<bool>(journal_->failure()); }));
  for (auto& log : logs) EXPECT_FALSE(close(log));
}

}  // namespace
}  // namespace riptide::testing
