#pragma once
// Set-up for compaction tests: a partition log of small segments, a cleaner thread and
// the shard's log_cleaner, keyed batches, and the log's records as (offset, key, value).

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "log_fixture.h"
#include "storage/cleaner_thread.h"
#include "storage/log_cleaner.h"

namespace riptide::testing {

using kv = std::pair<std::string, std::optional<std::string>>;  // nullopt value: tombstone

inline std::vector<uint8_t> keyed_batch(const std::vector<kv>& records, int64_t ts,
                                        storage::compression codec = storage::compression::none) {
  storage::batch_builder b(ts);
  b.codec(codec);
  for (const auto& [k, v] : records) {
    if (v) {
      b.add(k, *v);
    } else {
      b.add(k, std::nullopt);
    }
  }
  return b.build();
}

struct stored_record {
  int64_t offset;
  std::optional<std::string> key;
  std::optional<std::string> value;
  bool operator==(const stored_record&) const = default;
};

class compaction_test : public log_test {
 protected:
  explicit compaction_test(storage::cleaner_options opts = {}) : thread_(opts) {
    cleaner_ =
        std::make_unique<storage::log_cleaner>(thread_, &shard_, [this] { return now_.load(); });
  }
  ~compaction_test() override {
    shard_.run([&] { cleaner_.reset(); });
  }

  static storage::log_config compact_config() {
    storage::log_config cfg;
    cfg.segment_bytes = 2048;  // a few batches per segment
    cfg.index_interval_bytes = 256;
    cfg.cleanup = {false, true};
    cfg.min_cleanable_dirty_ratio = 0;
    cfg.delete_retention_ms = 1000;
    return cfg;
  }

  // A cleaning round on `log`, whatever its dirty ratio.
  base::result<storage::cleaning_stats> clean(const std::shared_ptr<storage::partition_log>& log) {
    std::promise<base::result<storage::cleaning_stats>> done;
    shard_.post([&] {
      cleaner_->clean(log, [&](base::result<storage::cleaning_stats> r) { done.set_value(r); });
    });
    return done.get_future().get();
  }

  storage::dirty_state assess(const std::shared_ptr<storage::partition_log>& log) {
    return shard_.run([&] { return cleaner_->assess(*log); });
  }

  // Every record from the log start to the high watermark (CRC-checked batches).
  std::vector<stored_record> records(const std::shared_ptr<storage::partition_log>& log) {
    const int64_t start = shard_.run([&] { return log->log_start_offset(); });
    std::vector<stored_record> out;
    for (const auto& batch : read_all(log, start)) {
      auto st = storage::for_each_record(batch, [&](const storage::record_view& r) {
        auto str = [](std::optional<std::span<const uint8_t>> s) -> std::optional<std::string> {
          if (!s) return std::nullopt;
          return std::string(s->begin(), s->end());
        };
        out.push_back({r.offset, str(r.key), str(r.value)});
        return true;
      });
      EXPECT_TRUE(st) << st.error().message();
    }
    return out;
  }

  // key -> (offset, value) of its latest record in `rs`.
  static std::map<std::string, stored_record> latest(const std::vector<stored_record>& rs) {
    std::map<std::string, stored_record> out;
    for (const auto& r : rs) {
      if (r.key) out[*r.key] = r;
    }
    return out;
  }

  size_t segments(const std::shared_ptr<storage::partition_log>& log) {
    return shard_.run([&] { return log->segment_count(); });
  }

  // Appends `versions` rounds over `keys` keys, `per_batch` records a batch; returns what
  // was appended, by offset.
  std::vector<stored_record> fill(const std::shared_ptr<storage::partition_log>& log, int keys,
                                  int versions, int per_batch = 5,
                                  storage::compression codec = storage::compression::none,
                                  const std::string& prefix = "key-") {
    std::vector<stored_record> appended;
    std::vector<kv> batch;
    auto flush = [&] {
      if (batch.empty()) return;
      auto r = append_durable(log, keyed_batch(batch, now_.load(), codec));
      EXPECT_TRUE(r) << r.error().message();
      for (size_t i = 0; r && i < batch.size(); ++i) {
        appended.push_back(
            {r->base_offset + static_cast<int64_t>(i), batch[i].first, batch[i].second});
      }
      batch.clear();
    };
    for (int v = 0; v < versions; ++v) {
      for (int k = 0; k < keys; ++k) {
        batch.push_back({prefix + std::to_string(k), "value-" + std::to_string(v)});
        if (static_cast<int>(batch.size()) == per_batch) flush();
      }
    }
    flush();
    return appended;
  }

  storage::cleaner_thread thread_;
  std::unique_ptr<storage::log_cleaner> cleaner_;
};

}  // namespace riptide::testing
