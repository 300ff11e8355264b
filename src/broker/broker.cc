#include "broker/broker.h"

#include <fmt/format.h>

#include <future>

#include "base/clock.h"
#include "base/config.h"
#include "base/file.h"
#include "base/logging.h"
#include "broker/broker_config.h"
#include "broker/identity.h"
#include "net/await.h"
#include "net/shard.h"

namespace broker {
namespace {

namespace fs = std::filesystem;
constexpr const char* kProducerIdsFile = "producer-ids";

// Runs `fn` on shard `s` from a thread that is not a shard, and waits for it.
template <typename F>
auto run_on(net::shard& s, F fn) -> decltype(fn()) {
  std::promise<decltype(fn())> p;
  s.post([&] {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      p.set_value();
    } else {
      p.set_value(fn());
    }
  });
  return p.get_future().get();
}

}  // namespace

broker::broker(net::shard_set& shards, broker_options opts)
    : shards_(shards),
      opts_(std::move(opts)),
      disk_(opts_.data_dir, opts_.min_free_bytes),
      flusher_(std::make_unique<storage::flusher>(opts_.flush_threads)),
      cleaner_(std::make_unique<storage::cleaner_thread>(opts_.cleaner)),
      snapshots_(shards.size(), std::make_shared<metadata_snapshot>()),
      placement_(std::make_unique<single_node_placement>(node_id_, shards.size())),
      data_(std::make_unique<partition_service>(*this)) {
  faults_.enabled = opts_.fault_injection;
}

broker::~broker() = default;

unsigned broker::owner(std::string_view topic, int32_t partition) const {
  return placement_->locate(topic, partition).shard;
}

std::shared_ptr<const metadata_snapshot> broker::metadata() const {
  return snapshots_[net::shard_set::current()];
}

std::shared_ptr<storage::partition_log> broker::local_log(const storage::ntp& name) const {
  return managers_[net::shard_set::current()]->get(name);
}

base::status broker::load_producer_ids() {
  const auto path = opts_.data_dir / kProducerIdsFile;
  auto ids = base::read_whole_file(path);
  if (!ids) {
    if (ids.error() == std::errc::no_such_file_or_directory) return {};
    return ids.error();
  }
  const auto limit = base::parse_integer(*ids);
  if (!limit || *limit < 0) {
    base::logger("broker")->error(
        "{}: expected the next free producer id (a decimal number), found \"{}\". Write back a "
        "number at least as large as the last producer id handed out (a larger one is always "
        "safe)",
        path.string(), std::string_view(*ids).substr(0, 64));
    return errc::damaged_metadata;
  }
  next_producer_id_ = producer_id_limit_ = *limit;
  return {};
}

base::result<std::vector<storage::recovery_report>> broker::start() {
  std::error_code ec;
  auto made_dir = base::create_directories_durably(opts_.data_dir);
  if (!made_dir) return made_dir.error();
  // Each shard caches the files of its own sealed segments: no lock on the read path.
  const size_t files_per_shard =
      std::max<size_t>(1, opts_.max_open_segment_files / std::max<size_t>(1, shards_.size()));
  for (unsigned i = 0; i < shards_.size(); ++i) {
    managers_.push_back(std::make_unique<storage::log_manager>(
        opts_.data_dir, opts_.defaults,
        storage::log_environment{&shards_[i], flusher_.get(), &disk_, base::wall_ms, nullptr,
                                 nullptr},
        cleaner_.get(), i, files_per_shard));
  }
  RIPTIDE_TRY(managers_[0]->lock_directory());
  {
    auto dynamic = load_broker_configs(opts_.data_dir);
    if (!dynamic) return dynamic.error();
    dynamic_ = std::move(*dynamic);
    apply_logger_levels(dynamic_, opts_.log_level);
  }
  {
    // Anything but the lock file means the directory held data before.
    bool empty = true;
    for (const auto& entry : fs::directory_iterator(opts_.data_dir, ec)) {
      if (entry.path().filename() != ".lock") empty = false;
    }
    auto id = load_or_create_identity(opts_.data_dir, node_id_);
    if (!id) return id.error();
    identity_ = *id;
    if (*made_dir || (id->created && empty)) {
      base::logger("broker")->warn(
          "{} the data directory {}: it is new and empty (cluster id {}). If this broker had "
          "data, it is not here: stop it and check data_dir and that its disk is mounted.",
          *made_dir ? "created" : "starting on", fs::absolute(opts_.data_dir).string(),
          id->cluster_id);
    }
  }
  // Shard 0 owns the table; loading it here, before serving, is the only exception.
  // It is authoritative: a partition directory of no topic in it is moved aside, never
  // adopted.
  RIPTIDE_TRY(load_table());
  RIPTIDE_TRY(load_producer_ids());
  std::vector<storage::recovery_report> all;
  for (unsigned i = 0; i < shards_.size(); ++i) {
    auto reports = run_on(shards_[i], [&] {
      return managers_[i]->open_all(
          [&](const storage::ntp& n) {
            auto it = table_.find(n.topic);
            return it != table_.end() && n.partition < it->second->partitions &&
                   owner(n.topic, n.partition) == i;
          },
          /*lock=*/false);
    });
    if (!reports) return reports.error();
    all.insert(all.end(), reports->begin(), reports->end());
  }
  // Topic configs and missing partition directories. A partition that cannot be opened
  // or made is logged (by its log_manager) and retried at housekeeping; the others serve.
  for (const auto& [name, t] : table_) {
    for (int32_t p = 0; p < t->partitions; ++p) {
      unsigned o = owner(name, p);
      run_on(shards_[o], [&] {
        if (auto log = managers_[o]->get({name, p})) {
          log->set_config(t->log);
        } else if (!managers_[o]->failed().contains({name, p})) {
          (void)managers_[o]->create({name, p}, t->log);
        }
      });
    }
  }
  RIPTIDE_TRY(replay_journals(all));
  size_t unopened = 0;
  for (unsigned i = 0; i < shards_.size(); ++i) {
    unopened += run_on(shards_[i], [&] { return managers_[i]->failed().size(); });
  }
  if (unopened) {
    base::logger("broker")->error(
        "{} partition(s) could not be opened and are not served (see the errors above); the "
        "others are. They are tried again every storage.housekeeping_interval",
        unopened);
  }
  auto snap = std::make_shared<metadata_snapshot>();
  snap->topics.insert(table_.begin(), table_.end());
  snap->broker_configs = dynamic_;
  for (unsigned i = 0; i < shards_.size(); ++i) run_on(shards_[i], [&] { snapshots_[i] = snap; });
  // Consumer groups: each shard replays the offsets partitions it owns.
  for (unsigned i = 0; i < shards_.size(); ++i) {
    coordinators_.push_back(std::make_unique<group_coordinator>(*this, i, opts_.groups));
    auto st = run_on(shards_[i], [&] { return coordinators_[i]->load(); });
    if (!st) return st.error();
    net::asio::co_spawn(shards_[i].io(), coordinators_[i]->run_timers(), net::asio::detached);
  }
  // Queues: each shard replays them from the same partitions.
  for (unsigned i = 0; i < shards_.size(); ++i) {
    queues_.push_back(std::make_unique<queue_coordinator>(*this, i, opts_.queues));
    auto st = run_on(shards_[i], [&] { return queues_[i]->load(); });
    if (!st) return st.error();
    net::asio::co_spawn(shards_[i].io(), queues_[i]->run_timers(), net::asio::detached);
  }
  // Delayed delivery: each shard indexes the records it holds, then moves them when due.
  for (unsigned i = 0; i < shards_.size(); ++i) {
    delays_.push_back(std::make_unique<delay_store>(*this, i, opts_.delays));
    auto st = run_on(shards_[i], [&] { return delays_[i]->load(); });
    if (!st) return st.error();
    net::asio::co_spawn(shards_[i].io(), delays_[i]->run(), net::asio::detached);
  }
  return all;
}

base::status broker::replay_journals(std::vector<storage::recovery_report>& reports) {
  const auto dir = opts_.data_dir / "journal";
  auto contents = storage::read_journals(dir);
  if (!contents) {
    base::logger("broker")->error("cannot read the journal in {}: {}", dir.string(),
                                  contents.error().message());
    return contents.error();
  }
  size_t replayed = 0;
  for (const auto& [name, payloads] : contents->batches) {
    auto t = table_.find(name.topic);
    if (t == table_.end() || name.partition >= t->second->partitions) continue;
    const unsigned o = owner(name.topic, name.partition);
    auto n = run_on(shards_[o], [&] { return managers_[o]->replay_journal(name, payloads); });
    if (!n) return n.error();
    if (*n == 0) continue;
    replayed += *n;
    for (auto& r : reports) {
      if (r.partition == name) r.journal_batches = *n;
    }
  }
  if (contents->files) {
    base::logger("broker")->info(
        "journal: {} file(s), {} entries; re-appended {} batch(es) the logs had lost",
        contents->files, contents->entries, replayed);
  }
  RIPTIDE_TRY(storage::remove_journals(dir));
  if (!opts_.journal) return {};
  journals_.resize(shards_.size());
  for (unsigned i = 0; i < shards_.size(); ++i) {
    storage::journal_options jopts;
    jopts.file_bytes = opts_.journal_file_bytes;
    auto j = storage::journal::open(dir, i, &shards_[i], flusher_.get(), jopts);
    if (!j) {
      base::logger("broker")->error("cannot create the journal in {}: {}", dir.string(),
                                    j.error().message());
      return j.error();
    }
    journals_[i] = *j;
    run_on(shards_[i], [&] { managers_[i]->attach_journal(journals_[i]); });
  }
  return {};
}

int32_t broker::offsets_partition(std::string_view group_id) const {
  uint32_t h = 2166136261u;
  for (char c : group_id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return static_cast<int32_t>(h % static_cast<uint32_t>(offsets_partitions_));
}

group_coordinator& broker::local_groups() {
  return *coordinators_[net::shard_set::current()];
}

queue_coordinator& broker::local_queues() {
  return *queues_[net::shard_set::current()];
}

delay_store& broker::local_delays() {
  return *delays_[net::shard_set::current()];
}

std::vector<std::shared_ptr<storage::partition_log>> broker::local_offsets_logs() const {
  std::vector<std::shared_ptr<storage::partition_log>> out;
  for (int32_t p = 0; p < offsets_partitions_; ++p) {
    if (owner(offsets_topic, p) != net::shard_set::current()) continue;
    if (auto log = local_log({offsets_topic, p})) out.push_back(std::move(log));
  }
  return out;
}

net::task<int64_t> broker::allocate_producer_id() {
  return shards_.invoke_on(0, do_allocate_producer_id());
}

net::task<int64_t> broker::do_allocate_producer_id() {
  if (next_producer_id_ == producer_id_limit_) {
    // Reserve the next block before using it, so ids are never reused after a crash.
    constexpr int64_t kBlock = 1000;
    const std::string limit = std::to_string(producer_id_limit_ + kBlock);
    auto st = base::write_file_atomically(
        opts_.data_dir / kProducerIdsFile,
        std::span(reinterpret_cast<const uint8_t*>(limit.data()), limit.size()));
    if (!st) {
      base::logger("broker")->error("cannot reserve producer ids in {}: {}",
                                    (opts_.data_dir / kProducerIdsFile).string(),
                                    st.error().message());
      co_return -1;
    }
    producer_id_limit_ += kBlock;
  }
  co_return next_producer_id_++;
}

std::error_code broker::stop() {
  for (unsigned i = 0; i < coordinators_.size(); ++i) {
    run_on(shards_[i], [&] { coordinators_[i]->stop(); });
  }
  for (unsigned i = 0; i < queues_.size(); ++i) {
    run_on(shards_[i], [&] { queues_[i]->stop(); });
  }
  for (unsigned i = 0; i < delays_.size(); ++i) {
    run_on(shards_[i], [&] { delays_[i]->stop(); });
  }
  std::error_code first;
  for (unsigned i = 0; i < managers_.size(); ++i) {
    std::promise<std::error_code> closed;
    shards_[i].post(
        [&] { managers_[i]->close_all([&](std::error_code ec) { closed.set_value(ec); }); });
    if (auto ec = closed.get_future().get(); ec && !first) first = ec;
  }
  for (unsigned i = 0; i < journals_.size(); ++i) {
    run_on(shards_[i], [&] { journals_[i]->stop(); });
  }
  flusher_.reset();  // runs the remaining jobs
  // Every log closed cleanly has its data in its segments: the journal is not needed.
  if (!first) {
    if (auto st = storage::remove_journals(opts_.data_dir / "journal"); !st) first = st.error();
  }
  return first;
}

void broker::housekeeping() {
  for (unsigned i = 0; i < managers_.size(); ++i) {
    run_on(shards_[i], [&] {
      if (!managers_[i]->failed().empty()) {
        const auto snap = snapshots_[i];
        managers_[i]->retry_failed(
            [&](const storage::ntp& n) -> std::optional<storage::log_config> {
              auto t = snap->find(n.topic);
              if (!t || n.partition >= t->partitions) return std::nullopt;
              return t->log;
            });
      }
      managers_[i]->housekeeping();
    });
  }
}

net::task<std::vector<partition_stats>> broker::partition_stats_all() {
  std::vector<partition_stats> out;
  for (unsigned s = 0; s < shards_.size(); ++s) {
    auto part = co_await shards_.invoke_on(s, local_partition_stats());
    out.insert(out.end(), part.begin(), part.end());
  }
  co_return out;
}

net::task<std::vector<partition_stats>> broker::local_partition_stats() {
  std::vector<partition_stats> out;
  const auto& mgr = *managers_[net::shard_set::current()];
  for (const auto& log : mgr.logs()) {
    out.push_back({log->name(), log->size_bytes(), log->log_start_offset(), log->high_watermark(),
                   log->log_end_offset(), log->failure() ? log->failure().message() : ""});
  }
  for (const auto& [name, ec] : mgr.failed()) {
    out.push_back({name, 0, 0, 0, 0, "cannot be opened: " + ec.message()});
  }
  co_return out;
}

net::task<void> broker::set_snapshot(unsigned shard, std::shared_ptr<const metadata_snapshot> s) {
  snapshots_[shard] = std::move(s);
  co_return;
}

}  // namespace broker
