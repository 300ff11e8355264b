// The broker core driven in-process, without sockets: the partition service, topic
// admin and restarts, against a model of what every partition must hold.
//
// Each run draws thousands of operations from a seeded generator (RIPTIDE_MODEL_SEED
// and RIPTIDE_MODEL_OPS override the defaults; a failure prints the seed and the step):
// produce (waiting for durability or not) from any shard, reads of one or several
// partitions from any offsets with any byte bounds, offset lookups, waits for data with
// several waiters per partition, topic creation and deletion (names reused), clean
// restarts, and crash restarts (the data directory as the running broker leaves it, its
// journals included, opened by a new broker). After every step the answer is checked
// against the model: offsets are contiguous, every acknowledged record reads back with
// its value, reads keep the KIP-74 byte bounds, and waiters are woken once the data they
// wait for is readable and never otherwise.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "broker/broker.h"
#include "broker/errc.h"
#include "net/asio.h"
#include "net/shard.h"
#include "storage/batch_builder.h"
#include "storage/record_batch.h"
#include "unit/test_dir.h"

namespace {

using broker::topic_partition;
namespace fs = std::filesystem;

const broker::request_identity& who() {
  return broker::request_identity::internal();
}

// Runs `t` on shard `s` (the test thread is not a shard) and returns its value.
template <typename T>
T on_shard(net::shard_set& shards, unsigned s, net::task<T> t) {
  return net::asio::co_spawn(shards[s].io(), std::move(t), net::asio::use_future).get();
}

net::task<broker::produce_result> produce(broker::broker& b, topic_partition tp,
                                          std::vector<uint8_t> batch, bool wait) {
  broker::produce_options opts;
  opts.wait_durable = wait;
  const std::span<const uint8_t> view(batch);
  co_return co_await b.data().produce(who(), tp, view, opts);
}

net::task<std::vector<broker::read_result>> read_many(broker::broker& b,
                                                      std::vector<broker::read_plan::part> parts,
                                                      size_t total_max_bytes) {
  const auto plan = b.data().plan_read(who(), std::move(parts));
  co_return co_await b.data().read(who(), plan, total_max_bytes);
}

net::task<broker::read_result> read(broker::broker& b, topic_partition tp, int64_t offset,
                                    size_t max_bytes) {
  std::vector<broker::read_plan::part> parts{{tp, offset, max_bytes}};
  const auto plan = b.data().plan_read(who(), std::move(parts));
  auto out = co_await b.data().read(who(), plan, max_bytes);
  co_return std::move(out.at(0));
}

net::task<broker::offset_result> offsets(broker::broker& b, topic_partition tp,
                                         broker::offset_spec spec) {
  co_return co_await b.data().list_offset(who(), tp, spec);
}

net::task<bool> watch(broker::broker& b, topic_partition tp, int64_t offset,
                      std::shared_ptr<broker::data_waiter> w) {
  std::vector<broker::read_plan::part> parts{{tp, offset, 1}};
  const auto plan = b.data().plan_read(who(), std::move(parts));
  std::vector<bool> wanted{true};
  co_await b.data().watch(plan, std::move(wanted), w);
  co_return true;
}

net::task<broker::admin_result> create(broker::broker& b, std::string name, int32_t partitions,
                                       broker::config_map configs) {
  co_return co_await b.create_topic(who(), name, partitions, configs);
}

net::task<std::error_code> remove(broker::broker& b, std::string name) {
  co_return co_await b.delete_topic(who(), name);
}

// A broker on two shards over a data directory, stopped cleanly when it goes.
class node {
 public:
  explicit node(const fs::path& dir) : shards_(2) {
    shards_.start();
    broker::broker_options opts;
    opts.data_dir = dir;
    opts.min_free_bytes = 0;
    opts.journal_file_bytes = 1 << 20;  // journal files fill, and segments are synced, often
    opts.auto_create_topics = false;
    b_ = std::make_unique<broker::broker>(shards_, opts);
    auto started = b_->start();
    if (!started) throw std::runtime_error("start: " + started.error().message());
  }
  ~node() {
    if (auto ec = b_->stop()) ADD_FAILURE() << "stop: " << ec.message();
    b_.reset();
    shards_.stop();
  }
  broker::broker& b() { return *b_; }
  net::shard_set& shards() { return shards_; }

 private:
  net::shard_set shards_;
  std::unique_ptr<broker::broker> b_;
};

// How many whole batches a read returned.
size_t batches_in(const base::iobuf& data) {
  auto bytes = data.linearize();
  if (!bytes) return 0;
  size_t n = 0;
  std::span<const uint8_t> rest(*bytes);
  while (!rest.empty()) {
    auto h = storage::validate_batch(rest);
    if (!h) return n;
    ++n;
    rest = rest.subspan(h->size_bytes());
  }
  return n;
}

// The values stored in a read's batches, from `from` on (the first batch may start
// before it), with their offsets.
std::vector<std::pair<int64_t, std::string>> values_of(const base::iobuf& data, int64_t from) {
  std::vector<std::pair<int64_t, std::string>> out;
  auto bytes = data.linearize();
  if (!bytes) {
    ADD_FAILURE() << "read data: " << bytes.error().message();
    return out;
  }
  std::span<const uint8_t> rest(*bytes);
  while (!rest.empty()) {
    auto h = storage::validate_batch(rest);
    if (!h) {
      ADD_FAILURE() << "a returned batch does not validate: " << h.error().message();
      return out;
    }
    auto st = storage::for_each_record(rest.first(h->size_bytes()), [&](const auto& r) {
      if (r.offset >= from && r.value) {
        out.emplace_back(r.offset, std::string(r.value->begin(), r.value->end()));
      }
      return true;
    });
    if (!st) ADD_FAILURE() << "records: " << st.error().message();
    rest = rest.subspan(h->size_bytes());
  }
  return out;
}

struct model_topic {
  int32_t partitions = 0;
  std::vector<std::vector<std::string>> values;  // per partition, index = offset
};

class broker_model {
 public:
  broker_model(uint64_t seed, const fs::path& dir) : rng_(seed), dir_(dir) {}

  void run(int ops) {
    node_ = std::make_unique<node>(dir_);
    for (int i = 0; i < 3; ++i) create_topic();
    for (step_ = 0; step_ < ops && !::testing::Test::HasFatalFailure(); ++step_) {
      const int pick = uniform(0, 999);
      if (pick < 450) {
        produce_one();
      } else if (pick < 650) {
        read_one();
      } else if (pick < 750) {
        read_several();
      } else if (pick < 850) {
        lookup_one();
      } else if (pick < 950) {
        wait_one();
      } else if (pick < 975) {
        create_topic();
      } else if (pick < 985) {
        delete_topic();
      } else if (pick < 995) {
        restart();
      } else {
        crash_restart();
      }
    }
    restart();
    for (const auto& [name, t] : topics_) {
      for (int32_t p = 0; p < t.partitions; ++p) check_whole({name, p});
    }
    node_.reset();
  }

  int64_t records() const { return records_; }
  int64_t multi_reads() const { return multi_reads_; }
  int crashes() const { return crashes_; }
  int64_t wakes() const { return wakes_; }
  int restarts() const { return restarts_; }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  broker::broker& b() { return node_->b(); }
  unsigned any_shard() { return static_cast<unsigned>(uniform(0, 1)); }
  std::string where() const { return "step " + std::to_string(step_); }

  // A partition of a live topic (or, now and then, one that does not exist).
  topic_partition pick_partition(bool allow_missing = true) {
    if (allow_missing && uniform(0, 49) == 0) return {"missing-topic", 0};
    auto it = topics_.begin();
    std::advance(it, uniform(0, static_cast<int>(topics_.size()) - 1));
    if (allow_missing && uniform(0, 49) == 0) {
      return {it->first, uniform(0, 1) ? -1 : it->second.partitions};  // no such partition
    }
    const int32_t p = uniform(0, it->second.partitions - 1);
    return {it->first, p};
  }
  bool exists(const topic_partition& tp) const {
    auto it = topics_.find(tp.topic);
    return it != topics_.end() && tp.partition >= 0 && tp.partition < it->second.partitions;
  }
  const std::vector<std::string>& values_of_partition(const topic_partition& tp) const {
    return topics_.at(tp.topic).values[static_cast<size_t>(tp.partition)];
  }

  std::vector<uint8_t> batch_for(const topic_partition& tp, int count) {
    storage::batch_builder builder(base::wall_ms());
    auto& vals = topics_.at(tp.topic).values[static_cast<size_t>(tp.partition)];
    for (int i = 0; i < count; ++i) {
      pending_.push_back(tp.topic + "/" + std::to_string(tp.partition) + "/" +
                         std::to_string(vals.size() + static_cast<size_t>(i)) + "/" +
                         std::string(static_cast<size_t>(uniform(0, 300)), 'x'));
      builder.add(std::nullopt, pending_.back());
    }
    return builder.build();
  }

  void produce_one() { produce_to(pick_partition()); }

  void produce_to(const topic_partition& tp) {
    if (!exists(tp)) {
      storage::batch_builder builder(base::wall_ms());
      builder.add(std::nullopt, "nowhere");
      auto batch = builder.build();
      auto r = on_shard(node_->shards(), any_shard(), produce(b(), tp, std::move(batch), true));
      EXPECT_EQ(r.error, broker::errc::unknown_topic) << where() << " " << tp.dir_name();
      return;
    }
    pending_.clear();
    auto batch = batch_for(tp, uniform(1, 5));
    const bool wait = uniform(0, 9) != 0;  // now and then, as Kafka acks=0
    auto r = on_shard(node_->shards(), any_shard(), produce(b(), tp, std::move(batch), wait));
    auto& vals = topics_.at(tp.topic).values[static_cast<size_t>(tp.partition)];
    ASSERT_FALSE(r.error) << where() << ": produce to " << tp.dir_name() << ": "
                          << r.error.message();
    ASSERT_EQ(r.base_offset, static_cast<int64_t>(vals.size()))
        << where() << ": offsets of " << tp.dir_name() << " are not contiguous";
    EXPECT_EQ(r.records, static_cast<int32_t>(pending_.size())) << where();
    for (auto& v : pending_) vals.push_back(std::move(v));
    records_ += static_cast<int64_t>(pending_.size());
    if (!wait) settle(tp);
  }

  // After an unacknowledged produce: the records become readable with the next group
  // commit; wait for it so that later steps see the model's state.
  void settle(const topic_partition& tp) {
    const auto want = static_cast<int64_t>(topics_.at(tp.topic).values[tp.partition].size());
    for (int i = 0; i < 500; ++i) {
      auto r = on_shard(node_->shards(), 0, offsets(b(), tp, broker::offset_spec::latest));
      if (r.offset == want) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << where() << ": records produced without waiting never became readable";
  }

  void read_one() {
    const auto tp = pick_partition();
    const auto t = topics_.find(tp.topic);
    const size_t max_bytes = static_cast<size_t>(uniform(1, 4096));
    if (!exists(tp)) {
      auto r = on_shard(node_->shards(), any_shard(), read(b(), tp, 0, max_bytes));
      EXPECT_EQ(r.error, broker::errc::unknown_topic) << where();
      return;
    }
    const auto& vals = t->second.values[static_cast<size_t>(tp.partition)];
    const auto end = static_cast<int64_t>(vals.size());
    if (uniform(0, 19) == 0) {
      auto r = on_shard(node_->shards(), any_shard(), read(b(), tp, end + 1, max_bytes));
      EXPECT_EQ(r.error, broker::errc::offset_out_of_range) << where();
      return;
    }
    const int64_t from = uniform(0, static_cast<int>(end));
    auto r = on_shard(node_->shards(), any_shard(), read(b(), tp, from, max_bytes));
    ASSERT_FALSE(r.error) << where() << ": " << r.error.message();
    EXPECT_EQ(r.high_watermark, end) << where();
    EXPECT_EQ(r.log_start_offset, 0) << where();
    const auto got = values_of(r.records, from);
    if (from < end) {
      // Whole batches from the one holding `from`: at least one record (min one batch).
      ASSERT_FALSE(got.empty()) << where() << ": read of " << tp.dir_name() << " at " << from
                                << " returned nothing below the high watermark";
      EXPECT_GT(r.next_offset, from) << where();
    }
    for (size_t i = 0; i < got.size(); ++i) {
      const int64_t want_offset = from + static_cast<int64_t>(i);
      ASSERT_EQ(got[i].first, want_offset) << where() << ": a gap in " << tp.dir_name();
      ASSERT_LT(want_offset, end) << where() << ": read past the high watermark";
      ASSERT_EQ(got[i].second, vals[static_cast<size_t>(want_offset)])
          << where() << ": " << tp.dir_name() << " at " << want_offset;
    }
  }

  void lookup_one() {
    const auto tp = pick_partition();
    auto latest =
        on_shard(node_->shards(), any_shard(), offsets(b(), tp, broker::offset_spec::latest));
    if (!exists(tp)) {
      EXPECT_EQ(latest.error, broker::errc::unknown_topic) << where();
      return;
    }
    ASSERT_FALSE(latest.error) << where();
    EXPECT_EQ(
        latest.offset,
        static_cast<int64_t>(topics_.at(tp.topic).values[static_cast<size_t>(tp.partition)].size()))
        << where();
    auto earliest =
        on_shard(node_->shards(), any_shard(), offsets(b(), tp, broker::offset_spec::earliest));
    EXPECT_EQ(earliest.offset, 0) << where();
  }

  // Several waiters on one partition's end, one finished before the data comes and one
  // further out: a produce wakes exactly the ones whose offset it passes.
  void wait_one() {
    const auto tp = pick_partition(false);
    const auto end = static_cast<int64_t>(topics_.at(tp.topic).values[tp.partition].size());
    const int n = uniform(1, 4);
    std::vector<std::shared_ptr<std::atomic<int>>> fired;
    // The partition's high watermark when each waiter was woken (on the owner shard, in
    // the wake itself): the data it waits for must be readable by then.
    std::vector<std::shared_ptr<std::atomic<int64_t>>> readable_at_wake;
    std::vector<int64_t> offsets_waited;
    std::vector<std::shared_ptr<broker::data_waiter>> waiters;
    auto add = [&](int64_t offset) {
      auto count = std::make_shared<std::atomic<int>>(0);
      auto hw = std::make_shared<std::atomic<int64_t>>(-1);
      broker::broker* bp = &b();
      auto w = std::make_shared<broker::data_waiter>([count, hw, bp, tp] {
        auto log = bp->local_log(tp);
        hw->store(log ? log->high_watermark() : -2);
        count->fetch_add(1);
      });
      fired.push_back(count);
      readable_at_wake.push_back(hw);
      offsets_waited.push_back(offset);
      waiters.push_back(w);
      on_shard(node_->shards(), any_shard(), watch(b(), tp, offset, w));
    };
    for (int i = 0; i < n; ++i) add(end);
    add(end);
    waiters.back()->finish();  // its owner has stopped waiting
    add(end + 1000);           // beyond what the produce below writes
    for (const auto& f : fired) ASSERT_EQ(f->load(), 0) << where() << ": woken before any data";
    // A waiter behind the end is woken at once.
    if (end > 0) {
      add(end - 1);
      EXPECT_EQ(fired.back()->load(), 1) << where() << ": a waiter behind the end was not woken";
      fired.pop_back();
      readable_at_wake.pop_back();
      offsets_waited.pop_back();
      waiters.pop_back();
    }
    produce_to(tp);
    if (::testing::Test::HasFatalFailure()) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < n; ++i) {
      while (fired[i]->load() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      EXPECT_EQ(fired[i]->load(), 1) << where() << ": waiter " << i << " of " << n << " on "
                                     << tp.dir_name() << " woken " << fired[i]->load() << " times";
      EXPECT_GT(readable_at_wake[i]->load(), offsets_waited[i])
          << where() << ": woken before the data it waits for was readable";
      if (fired[i]->load() == 1 && readable_at_wake[i]->load() > offsets_waited[i]) ++wakes_;
    }
    EXPECT_EQ(fired[n]->load(), 0) << where() << ": a finished waiter was woken";
    EXPECT_EQ(fired[n + 1]->load(), 0) << where() << ": a waiter beyond the data was woken";
  }

  void create_topic() {
    if (topics_.size() >= 6) return;
    // Now and then the name of a deleted topic: a new topic under an old name starts empty.
    std::string name;
    if (!deleted_.empty() && uniform(0, 2) == 0) {
      name = deleted_.back();
      deleted_.pop_back();
      ++reused_names_;
    } else {
      name = "model-" + std::to_string(next_topic_++);
    }
    const int32_t partitions = uniform(1, 4);
    broker::config_map configs;
    // Both durability policies that answer at once or after fsync.
    if (uniform(0, 1)) configs["riptide.durability"] = "page_cache";
    auto r = on_shard(node_->shards(), any_shard(), create(b(), name, partitions, configs));
    ASSERT_TRUE(r.ok()) << where() << ": create " << name << ": " << r.text();
    auto& t = topics_[name];
    t.partitions = partitions;
    t.values.resize(static_cast<size_t>(partitions));
  }

  void delete_topic() {
    if (topics_.size() <= 1) return;
    const auto name = pick_partition(false).topic;
    auto ec = on_shard(node_->shards(), any_shard(), remove(b(), name));
    ASSERT_FALSE(ec) << where() << ": delete " << name << ": " << ec.message();
    topics_.erase(name);
    deleted_.push_back(name);
    const topic_partition gone{name, 0};
    auto r =
        on_shard(node_->shards(), any_shard(), offsets(b(), gone, broker::offset_spec::latest));
    EXPECT_EQ(r.error, broker::errc::unknown_topic) << where() << ": deleted topic still answers";
  }

  void restart() {
    node_.reset();
    node_ = std::make_unique<node>(dir_);
    ++restarts_;
    verify_ends("a restart");
  }

  // Copies the directory `from` of a running broker into `to`. A file or directory the
  // broker removes or renames meanwhile (a deleted partition, a replaced temporary file)
  // is skipped, as if the crash had come just after: std::filesystem::copy would throw.
  static void copy_live(const fs::path& from, const fs::path& to) {
    std::error_code ec;
    fs::create_directories(to, ec);
    fs::directory_iterator it(from, ec);
    if (ec) return;  // gone meanwhile
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) return;
      std::error_code e;
      const fs::path target = to / it->path().filename();
      if (it->is_directory(e)) {
        copy_live(it->path(), target);
      } else if (!e) {
        fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing, e);
      }
    }
  }

  // What a kill -9 leaves: the data directory copied while the broker runs (journals,
  // unsynced segment pages and all), then opened by a new broker. Nothing acknowledged may
  // be missing, and the journals are replayed into the logs.
  void crash_restart() {
    const fs::path image = dir_.string() + ".crash";
    fs::remove_all(image);
    copy_live(dir_, image);
    node_.reset();
    fs::remove_all(dir_);
    fs::rename(image, dir_);
    node_ = std::make_unique<node>(dir_);
    ++crashes_;
    verify_ends("a crash");
    for (const auto& [name, t] : topics_) {
      for (int32_t p = 0; p < t.partitions; ++p) check_whole({name, p});
    }
  }

  // Every partition's end is where the model says, after `what`.
  void verify_ends(const char* what) {
    for (const auto& [name, t] : topics_) {
      for (int32_t p = 0; p < t.partitions; ++p) {
        const topic_partition tp{name, p};
        auto r = on_shard(node_->shards(), 0, offsets(b(), tp, broker::offset_spec::latest));
        ASSERT_FALSE(r.error) << where() << ": " << name << " after " << what;
        ASSERT_EQ(r.offset, static_cast<int64_t>(t.values[static_cast<size_t>(p)].size()))
            << where() << ": " << tp.dir_name() << " lost records in " << what;
      }
    }
  }

  // One read of several partitions (of any topics, on both shards), each with its own
  // byte bound and one for the whole read: every part within its bounds in the order the
  // core reads them (the calling shard's partitions first), except the read's first
  // batch, which is whole whatever its size.
  void read_several() {
    const int n = uniform(2, 4);
    std::vector<broker::read_plan::part> parts;
    for (int i = 0; i < n; ++i) {
      const auto tp = pick_partition(false);
      bool dup = false;
      for (const auto& q : parts) dup = dup || q.name == tp;
      if (dup) continue;
      const auto end = static_cast<int>(values_of_partition(tp).size());
      parts.push_back({tp, uniform(0, end), static_cast<size_t>(uniform(0, 3000))});
    }
    const size_t total = static_cast<size_t>(uniform(1, 6000));
    const unsigned shard = any_shard();
    auto plan_parts = parts;
    auto got = on_shard(node_->shards(), shard, read_many(b(), std::move(plan_parts), total));
    ASSERT_EQ(got.size(), parts.size()) << where();
    ++multi_reads_;
    // The order of the read: the calling shard's partitions, then the others.
    std::vector<size_t> order;
    for (int local = 1; local >= 0; --local) {
      for (size_t i = 0; i < parts.size(); ++i) {
        const bool here = b().owner(parts[i].name.topic, parts[i].name.partition) == shard;
        if (here == (local == 1)) order.push_back(i);
      }
    }
    size_t used = 0;
    for (size_t i : order) {
      const auto& part = parts[i];
      const auto& r = got[i];
      ASSERT_FALSE(r.error) << where() << ": " << part.name.dir_name() << ": " << r.error.message();
      const auto& vals = values_of_partition(part.name);
      const auto end = static_cast<int64_t>(vals.size());
      EXPECT_EQ(r.high_watermark, end) << where();
      const size_t bytes = r.records.size();
      const size_t budget = std::min(part.max_bytes, total > used ? total - used : 0);
      if (used == 0 && part.offset < end) {
        EXPECT_GT(bytes, 0u) << where() << ": the read's first partition returned nothing";
      }
      if (bytes > budget) {
        EXPECT_EQ(used, 0u) << where() << ": " << part.name.dir_name() << " returned " << bytes
                            << " bytes past its bound of " << budget << " (KIP-74)";
        EXPECT_EQ(batches_in(r.records), 1u)
            << where() << ": only one whole batch may pass the bounds";
      }
      const auto values = values_of(r.records, part.offset);
      for (size_t k = 0; k < values.size(); ++k) {
        const int64_t want = part.offset + static_cast<int64_t>(k);
        ASSERT_EQ(values[k].first, want) << where() << ": a gap in " << part.name.dir_name();
        ASSERT_LT(want, end) << where() << ": read past the high watermark";
        ASSERT_EQ(values[k].second, vals[static_cast<size_t>(want)]) << where();
      }
      used += bytes;
    }
  }

  // Reads a whole partition from offset 0 and compares every record.
  void check_whole(const topic_partition& tp) {
    const auto& vals = topics_.at(tp.topic).values[static_cast<size_t>(tp.partition)];
    int64_t at = 0;
    while (at < static_cast<int64_t>(vals.size())) {
      auto r = on_shard(node_->shards(), 1, read(b(), tp, at, 1 << 20));
      ASSERT_FALSE(r.error) << tp.dir_name() << ": " << r.error.message();
      const auto got = values_of(r.records, at);
      ASSERT_FALSE(got.empty()) << tp.dir_name() << " at " << at;
      for (const auto& [offset, value] : got) {
        ASSERT_EQ(offset, at) << tp.dir_name();
        ASSERT_EQ(value, vals[static_cast<size_t>(at)]) << tp.dir_name() << " at " << at;
        ++at;
      }
    }
  }

  std::mt19937_64 rng_;
  fs::path dir_;
  std::unique_ptr<node> node_;
  std::map<std::string, model_topic> topics_;
  std::vector<std::string> pending_;
  std::vector<std::string> deleted_;  // names free for reuse
  int reused_names_ = 0;
  int64_t multi_reads_ = 0;
  int crashes_ = 0;
  int next_topic_ = 0;
  int step_ = 0;
  int64_t records_ = 0;
  int64_t wakes_ = 0;
  int restarts_ = 0;
};

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(BrokerModel, RandomOperationsMatchTheModel) {
  const int ops = static_cast<int>(env_or("RIPTIDE_MODEL_OPS", 3000));
  const uint64_t first = env_or("RIPTIDE_MODEL_SEED", 1);
  const uint64_t runs = std::getenv("RIPTIDE_MODEL_SEED") ? 1 : 3;
  for (uint64_t seed = first; seed < first + runs; ++seed) {
    SCOPED_TRACE("RIPTIDE_MODEL_SEED=" + std::to_string(seed));
    riptide::testing::temp_dir dir;
    broker_model m(seed, dir.path());
    m.run(ops);
    if (HasFatalFailure()) return;
    std::printf(
        "seed %llu: %d operations, %lld records, %lld wakes, %lld multi-partition reads, "
        "%d restarts, %d crashes\n",
        static_cast<unsigned long long>(seed), ops, static_cast<long long>(m.records()),
        static_cast<long long>(m.wakes()), static_cast<long long>(m.multi_reads()), m.restarts(),
        m.crashes());
    EXPECT_GT(m.records(), 1000) << "the model produced too little to check";
    EXPECT_GT(m.wakes(), 0);
    EXPECT_GT(m.restarts(), 1);
    EXPECT_GT(m.multi_reads(), 100);
    EXPECT_GT(m.crashes(), 0);
  }
}

}  // namespace
