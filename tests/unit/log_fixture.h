#pragma once
// Shared set-up for storage tests: a shard thread, a flusher, a settable clock and
// synchronous wrappers around the shard-owned partition_log API.

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "base/executor.h"
#include "storage/batch_builder.h"
#include "storage/partition_log.h"
#include "test_dir.h"

namespace riptide::testing {

// A batch of `records` records with values of `value_size` bytes, all stamped `ts`.
inline std::vector<uint8_t> make_batch(int records, int64_t ts, size_t value_size = 100,
                                       char fill = 'v') {
  storage::batch_builder b(ts);
  std::string value(value_size, fill);
  for (int i = 0; i < records; ++i) {
    std::string key = "key-" + std::to_string(i);
    b.add(key, value);
  }
  return b.build();
}

class log_test : public ::testing::Test {
 protected:
  explicit log_test(bool in_memory = false) : dir_(in_memory) {}
  temp_dir dir_;
  // Sealed segments' files, used on shard_ only; tiny, so that every test also reads
  // segments whose file was closed and reopened. Outlives the shard and the flusher.
  storage::segment_file_cache files_{2};
  base::task_thread shard_;
  storage::flusher flusher_{1};
  std::atomic<int64_t> now_{1'700'000'000'000};
  std::shared_ptr<storage::journal> journal_;  // given to logs opened after it is set

  std::filesystem::path part_dir() const { return dir_.path() / "orders-0"; }

  storage::log_environment env(storage::disk_space* disk = nullptr) {
    return {&shard_, &flusher_, disk, [this] { return now_.load(); }, journal_, &files_};
  }

  std::shared_ptr<storage::partition_log> open(storage::log_config cfg = {},
                                               storage::recovery_report* report = nullptr,
                                               storage::disk_space* disk = nullptr) {
    return shard_.run([&]() -> std::shared_ptr<storage::partition_log> {
      storage::recovery_report r;
      auto log = storage::partition_log::open(part_dir(), {"orders", 0}, cfg, env(disk), r);
      if (report) *report = r;
      EXPECT_TRUE(log) << log.error().message();
      return log ? *log : nullptr;
    });
  }

  base::result<storage::partition_log::append_result> append(
      const std::shared_ptr<storage::partition_log>& log, const std::vector<uint8_t>& batch) {
    return shard_.run([&] { return log->append(batch); });
  }

  // Appends and waits until the append is durable under the log's policy.
  base::result<storage::partition_log::append_result> append_durable(
      const std::shared_ptr<storage::partition_log>& log, const std::vector<uint8_t>& batch) {
    std::promise<std::error_code> done;
    auto r = shard_.run([&] {
      auto a = log->append(batch);
      if (a) {
        log->wait_durable(a->last_offset + 1, [&](std::error_code ec) { done.set_value(ec); });
      } else {
        done.set_value({});
      }
      return a;
    });
    auto ec = done.get_future().get();
    if (ec) return ec;
    return r;
  }

  std::error_code wait_durable(const std::shared_ptr<storage::partition_log>& log, int64_t end) {
    std::promise<std::error_code> done;
    shard_.post([&] { log->wait_durable(end, [&](std::error_code ec) { done.set_value(ec); }); });
    return done.get_future().get();
  }

  std::error_code close(const std::shared_ptr<storage::partition_log>& log) {
    std::promise<std::error_code> done;
    shard_.post([&] { log->close([&](std::error_code ec) { done.set_value(ec); }); });
    return done.get_future().get();
  }

  // Every batch from `from` to the high watermark, as bytes (CRC-checked).
  std::vector<std::vector<uint8_t>> read_all(const std::shared_ptr<storage::partition_log>& log,
                                             int64_t from = 0) {
    return shard_.run([&] {
      std::vector<std::vector<uint8_t>> out;
      int64_t next = from;
      while (next < log->high_watermark()) {
        auto r = log->read(next, 1 << 20, {.max_offset = std::nullopt, .copy_bytes = true});
        EXPECT_TRUE(r) << r.error().message();
        if (!r || r->data.empty()) break;
        auto bytes = *r->data.linearize();
        for (size_t pos = 0; pos < bytes.size();) {
          auto h = storage::validate_batch(std::span(bytes).subspan(pos));
          EXPECT_TRUE(h);
          if (!h) return out;
          out.emplace_back(bytes.begin() + static_cast<long>(pos),
                           bytes.begin() + static_cast<long>(pos + h->size_bytes()));
          pos += h->size_bytes();
        }
        next = r->next_offset;
      }
      return out;
    });
  }
};

}  // namespace riptide::testing
