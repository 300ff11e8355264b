#include "broker/broker.h"

#include <fmt/format.h>

#include <charconv>
#include <future>
#include <optional>
#include <random>
#include <sstream>

#include "base/clock.h"
#include "base/config.h"
#include "base/file.h"
#include "base/logging.h"
#include "broker/broker_config.h"
#include "broker/identity.h"
#include "net/await.h"

namespace broker {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTableFile = "topics";
constexpr std::string_view kTableMagic = "riptide-topics v1";
constexpr const char* kProducerIdsFile = "producer-ids";
constexpr int32_t kMaxPartitions = 100000;

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "broker"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "ok";
      case errc::topic_exists:
        return "topic already exists";
      case errc::unknown_topic:
        return "unknown topic";
      case errc::invalid_topic_name:
        return "invalid topic name";
      case errc::invalid_partitions:
        return "invalid number of partitions";
      case errc::invalid_config:
        return "invalid topic config";
      case errc::invalid_replication_factor:
        return "invalid replication factor";
      case errc::storage_error:
        return "storage error";
      case errc::internal_topic:
        return "internal topic";
      case errc::invalid_group_id:
        return "invalid group id";
      case errc::unknown_member_id:
        return "unknown member id";
      case errc::invalid_session_timeout:
        return "session timeout outside the broker's allowed range";
      case errc::rebalance_in_progress:
        return "rebalance in progress";
      case errc::illegal_generation:
        return "illegal generation";
      case errc::inconsistent_group_protocol:
        return "inconsistent group protocol";
      case errc::member_id_required:
        return "member id required";
      case errc::fenced_instance_id:
        return "fenced instance id";
      case errc::group_max_size_reached:
        return "group is full";
      case errc::group_id_not_found:
        return "group not found";
      case errc::non_empty_group:
        return "group has members";
      case errc::group_subscribed_to_topic:
        return "group is subscribed to the topic";
      case errc::offset_metadata_too_large:
        return "offset metadata too large";
      case errc::member_metadata_too_large:
        return "member metadata too large";
      case errc::coordinator_not_available:
        return "coordinator not available";
      case errc::unsupported_transactions:
        return "transactions are not supported";
      case errc::damaged_metadata:
        return "a file of the data directory is damaged";
    }
    return "broker error " + std::to_string(ev);
  }
};

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

std::array<uint8_t, 16> random_id() {
  std::random_device rd;
  std::array<uint8_t, 16> id{};
  for (auto& b : id) b = static_cast<uint8_t>(rd());
  id[6] = (id[6] & 0x0f) | 0x40;  // a version-4 UUID, as Kafka's topic ids are
  id[8] = (id[8] & 0x3f) | 0x80;
  return id;
}

void attach_counters(topic_metadata& t) {
  auto& reg = base::metrics::registry::global();
  const base::metrics::labels l = {{"topic", t.name}};
  t.bytes_in = &reg.get_counter("riptide_topic_bytes_in_total",
                                "Record batch bytes appended to the topic", l);
  t.records_in =
      &reg.get_counter("riptide_topic_records_in_total", "Records appended to the topic", l);
  t.bytes_out = &reg.get_counter("riptide_topic_bytes_out_total", "Record batch bytes fetched", l);
  t.records_out =
      &reg.get_counter("riptide_topic_records_out_total", "Offsets delivered to consumers", l);
}

std::string hex(const std::array<uint8_t, 16>& id) {
  std::string s;
  for (uint8_t b : id) s += fmt::format("{:02x}", b);
  return s;
}

// The inverse of hex(): exactly 32 hexadecimal digits.
std::optional<std::array<uint8_t, 16>> parse_id(std::string_view s) {
  if (s.size() != 32) return std::nullopt;
  std::array<uint8_t, 16> id{};
  for (size_t i = 0; i < id.size(); ++i) {
    const char* first = s.data() + 2 * i;
    auto [end, ec] = std::from_chars(first, first + 2, id[i], 16);
    if (ec != std::errc() || end != first + 2) return std::nullopt;
  }
  return id;
}

}  // namespace

const std::error_category& broker_category() {
  static const category c;
  return c;
}

broker::broker(net::shard_set& shards, broker_options opts)
    : shards_(shards),
      opts_(std::move(opts)),
      disk_(opts_.data_dir, opts_.min_free_bytes),
      flusher_(std::make_unique<storage::flusher>(opts_.flush_threads)),
      cleaner_(std::make_unique<storage::cleaner_thread>(opts_.cleaner)),
      snapshots_(shards.size(), std::make_shared<metadata_snapshot>()) {
  faults_.enabled = opts_.fault_injection;
}

broker::~broker() = default;

unsigned broker::owner(std::string_view topic, int32_t partition) const {
  // FNV-1a over the name, mixed with the partition: stable across runs and shards.
  uint64_t h = 1469598103934665603ull;
  for (char c : topic) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  h ^= static_cast<uint64_t>(partition) * 0x9e3779b97f4a7c15ull;
  return static_cast<unsigned>((h ^ (h >> 29)) % shards_.size());
}

std::shared_ptr<const metadata_snapshot> broker::metadata() const {
  return snapshots_[net::shard_set::current()];
}

std::shared_ptr<storage::partition_log> broker::local_log(const storage::ntp& name) const {
  return managers_[net::shard_set::current()]->get(name);
}

base::status broker::save_table() const {
  std::string s(kTableMagic);
  s += '\n';
  for (const auto& [name, t] : table_) {
    std::string cfg;
    for (const auto& [k, v] : t->configs) cfg += (cfg.empty() ? "" : ";") + k + "=" + v;
    s += fmt::format("{} {} {} {}\n", name, t->partitions, hex(t->id), cfg.empty() ? "-" : cfg);
  }
  return base::write_file_atomically(
      opts_.data_dir / kTableFile, std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

base::status broker::load_table() {
  const auto path = opts_.data_dir / kTableFile;
  auto content = base::read_whole_file(path);
  if (!content) {
    if (content.error() == std::errc::no_such_file_or_directory) return {};
    return content.error();
  }
  auto damaged = [&](size_t line_no, std::string_view what) -> base::status {
    base::logger("broker")->error(
        "{}, line {}: {}. The topic table is damaged: restore it from a backup, or move it "
        "aside and start again, and the partition directories found are adopted with the "
        "default topic settings",
        path.string(), line_no, what);
    return errc::damaged_metadata;
  };
  std::istringstream in(*content);
  std::string line;
  if (!std::getline(in, line) || line != kTableMagic) {
    return damaged(1, fmt::format("expected \"{}\"", kTableMagic));
  }
  for (size_t line_no = 2; std::getline(in, line); ++line_no) {
    std::istringstream fields(line);
    auto t = std::make_shared<topic_metadata>();
    std::string id, cfg, extra;
    if (!(fields >> t->name >> t->partitions >> id >> cfg) || (fields >> extra)) {
      return damaged(line_no, fmt::format("expected \"<topic> <partitions> <id> <configs>\", "
                                          "found \"{}\"",
                                          line));
    }
    if (auto bad = validate_topic_name(t->name)) return damaged(line_no, *bad);
    if (t->partitions <= 0 || t->partitions > kMaxPartitions) {
      return damaged(line_no,
                     fmt::format("{} partitions is outside 1-{}", t->partitions, kMaxPartitions));
    }
    auto parsed_id = parse_id(id);
    if (!parsed_id) {
      return damaged(line_no, fmt::format("topic id \"{}\" is not 32 hexadecimal digits", id));
    }
    t->id = *parsed_id;
    if (cfg != "-") {
      std::istringstream kvs(cfg);
      std::string kv;
      while (std::getline(kvs, kv, ';')) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) {
          return damaged(line_no, fmt::format("topic config \"{}\" has no '='", kv));
        }
        auto key = kv.substr(0, eq);
        auto value = kv.substr(eq + 1);
        if (auto bad = validate_topic_config(key, value)) return damaged(line_no, *bad);
        t->configs[key] = value;
      }
    }
    fill_config(*t);
    attach_counters(*t);
    table_[t->name] = std::move(t);
  }
  return {};
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
  RIPTIDE_TRY(load_table());
  RIPTIDE_TRY(ensure_offsets_topic());
  RIPTIDE_TRY(load_producer_ids());
  // Partition directories of topics the table does not know (a table lost or written
  // by an older version) are adopted with default settings rather than ignored.
  std::map<std::string, int32_t> found;
  for (const auto& entry : fs::directory_iterator(opts_.data_dir, ec)) {
    if (!entry.is_directory()) continue;
    auto n = storage::ntp::from_dir_name(entry.path().filename().string());
    if (!n || validate_topic_name(n->topic) || table_.contains(n->topic)) continue;
    found[n->topic] = std::max(found[n->topic], n->partition + 1);
  }
  for (const auto& [name, partitions] : found) {
    auto t = std::make_shared<topic_metadata>();
    t->name = name;
    t->partitions = partitions;
    t->id = random_id();
    fill_config(*t);
    attach_counters(*t);
    table_[name] = t;
    base::logger("broker")->warn(
        "adopted topic {} ({} partition(s)) found in the data directory "
        "but not in its topic table",
        name, partitions);
  }
  if (!found.empty()) RIPTIDE_TRY(save_table());
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
    auto n = run_on(shards_[o], [&]() -> base::result<size_t> {
      auto log = managers_[o]->get(name);
      if (!log) {
        auto failed = managers_[o]->failed().find(name);
        if (failed == managers_[o]->failed().end()) return size_t{0};
        // Acknowledged writes of this partition are only in the journal, which is
        // removed once replayed: starting without the partition would lose them.
        base::logger("broker")->error(
            "the journal holds acknowledged writes to partition {}, which could not be "
            "opened ({}): fix that (see above) and start again",
            name.dir_name(), failed->second.message());
        return failed->second;
      }
      size_t count = 0;
      for (const auto& p : payloads) {
        auto r = log->replay(p);
        if (!r) {
          base::logger("broker")->error(
              "{}: journal entry does not continue the log at offset {} ({}); the rest of "
              "its journal entries are not replayed",
              name.dir_name(), log->log_end_offset(), r.error().message());
          break;
        }
        count += *r;
      }
      if (count) RIPTIDE_TRY(log->sync_now());
      return count;
    });
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

base::status broker::ensure_offsets_topic() {
  if (auto it = table_.find(offsets_topic); it != table_.end()) {
    offsets_partitions_ = it->second->partitions;
    if (it->second->configs.contains("cleanup.policy")) return {};
    // Made before the offsets topic was compacted by the log cleaner: it is now.
    auto t = std::make_shared<topic_metadata>(*it->second);
    t->configs["cleanup.policy"] = "compact";
    t->log = apply_topic_config(opts_.defaults, t->configs);
    it->second = t;
    return save_table();
  }
  auto t = std::make_shared<topic_metadata>();
  t->name = offsets_topic;
  t->partitions = std::max<int32_t>(1, opts_.groups.offsets_partitions);
  // The latest commit per group and partition is kept by compaction; commits must
  // outlive any time or size retention (groups expire them with tombstones instead).
  t->configs = {{"cleanup.policy", "compact"},
                {"retention.ms", "-1"},
                {"retention.bytes", "-1"},
                {"segment.bytes", "67108864"}};
  t->id = random_id();
  fill_config(*t);
  attach_counters(*t);
  table_[t->name] = t;
  offsets_partitions_ = t->partitions;
  return save_table();
}

int32_t broker::offsets_partition(std::string_view group_id) const {
  uint32_t h = 2166136261u;
  for (char c : group_id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return static_cast<int32_t>(h % static_cast<uint32_t>(offsets_partitions_));
}

group_coordinator& broker::local_groups() {
  return *coordinators_[net::shard_set::current()];
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

net::task<void> broker::publish() {
  auto building = std::make_shared<metadata_snapshot>();
  building->topics.insert(table_.begin(), table_.end());
  building->broker_configs = dynamic_;
  const std::shared_ptr<const metadata_snapshot> snap = std::move(building);
  for (unsigned i = 0; i < shards_.size(); ++i) {
    co_await shards_.invoke_on(i, set_snapshot(i, snap));
  }
}

net::task<std::error_code> broker::open_partitions(std::shared_ptr<const topic_metadata> t,
                                                   int32_t from) {
  // Every partition is tried: one that fails is retried at housekeeping, the first error
  // is the answer.
  std::error_code first;
  for (int32_t p = from; p < t->partitions; ++p) {
    const unsigned o = owner(t->name, p);
    auto ec = co_await shards_.invoke_on(o, create_log(o, t, p));
    if (ec && !first) first = ec;
  }
  co_return first;
}

net::task<std::error_code> broker::create_topic(std::string name, int32_t partitions,
                                                config_map configs, bool validate_only) {
  return shards_.invoke_on(
      0, do_create_topic(std::move(name), partitions, std::move(configs), validate_only));
}

net::task<std::error_code> broker::do_create_topic(std::string name, int32_t partitions,
                                                   config_map configs, bool validate_only) {
  if (validate_topic_name(name)) co_return errc::invalid_topic_name;
  if (table_.contains(name)) co_return errc::topic_exists;
  if (partitions <= 0 || partitions > kMaxPartitions) co_return errc::invalid_partitions;
  for (const auto& [k, v] : configs) {
    if (validate_topic_config(k, v)) co_return errc::invalid_config;
  }
  if (validate_only) co_return std::error_code{};
  auto t = std::make_shared<topic_metadata>();
  t->name = name;
  t->partitions = partitions;
  t->configs = std::move(configs);
  t->id = random_id();
  fill_config(*t);
  attach_counters(*t);
  table_[name] = t;
  if (auto st = save_table(); !st) {
    table_.erase(name);
    co_return st.error();
  }
  const std::shared_ptr<const topic_metadata> created = t;
  auto ec = co_await open_partitions(created, 0);
  co_await publish();
  if (!ec) base::logger("broker")->info("created topic {} with {} partition(s)", name, partitions);
  co_return ec;
}

net::task<std::error_code> broker::delete_topic(std::string name) {
  return shards_.invoke_on(0, do_delete_topic(std::move(name)));
}

net::task<std::error_code> broker::do_delete_topic(std::string name) {
  if (is_internal(name)) co_return errc::internal_topic;
  auto it = table_.find(name);
  if (it == table_.end()) co_return errc::unknown_topic;
  auto t = it->second;
  table_.erase(it);
  if (auto st = save_table(); !st) {
    table_[name] = t;
    co_return st.error();
  }
  co_await publish();
  for (int32_t p = 0; p < t->partitions; ++p) {
    const unsigned o = owner(name, p);
    co_await shards_.invoke_on(o, remove_log(o, name, p));
  }
  base::logger("broker")->info("deleted topic {}", name);
  co_return std::error_code{};
}

net::task<std::error_code> broker::create_partitions(std::string name, int32_t total,
                                                     bool validate_only) {
  return shards_.invoke_on(0, do_create_partitions(std::move(name), total, validate_only));
}

net::task<std::error_code> broker::do_create_partitions(std::string name, int32_t total,
                                                        bool validate_only) {
  if (is_internal(name)) co_return errc::internal_topic;  // groups are mapped onto its partitions
  auto it = table_.find(name);
  if (it == table_.end()) co_return errc::unknown_topic;
  if (total <= it->second->partitions || total > kMaxPartitions) co_return errc::invalid_partitions;
  if (validate_only) co_return std::error_code{};
  auto old = it->second;
  auto t = std::make_shared<topic_metadata>(*old);
  t->partitions = total;
  it->second = t;
  if (auto st = save_table(); !st) {
    it->second = old;
    co_return st.error();
  }
  const std::shared_ptr<const topic_metadata> created = t;
  auto ec = co_await open_partitions(created, old->partitions);
  co_await publish();
  co_return ec;
}

net::task<std::error_code> broker::alter_topic_config(std::string name, config_map configs,
                                                      bool validate_only) {
  return shards_.invoke_on(
      0, do_alter_topic_config(std::move(name), std::move(configs), validate_only));
}

net::task<std::error_code> broker::do_alter_topic_config(std::string name, config_map configs,
                                                         bool validate_only) {
  auto it = table_.find(name);
  if (it == table_.end()) co_return errc::unknown_topic;
  for (const auto& [k, v] : configs) {
    if (validate_topic_config(k, v)) co_return errc::invalid_config;
  }
  if (validate_only) co_return std::error_code{};
  auto old = it->second;
  auto t = std::make_shared<topic_metadata>(*old);
  t->configs = configs;
  fill_config(*t);
  it->second = t;
  if (auto st = save_table(); !st) {
    it->second = old;
    co_return st.error();
  }
  for (int32_t p = 0; p < t->partitions; ++p) {
    const unsigned o = owner(name, p);
    co_await shards_.invoke_on(o, configure_log(o, t, p));
  }
  co_await publish();
  co_return std::error_code{};
}

}  // namespace broker

namespace broker {

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

net::task<std::error_code> broker::create_log(unsigned shard,
                                              std::shared_ptr<const topic_metadata> t,
                                              int32_t partition) {
  auto log = managers_[shard]->create({t->name, partition}, t->log);
  co_return log ? std::error_code{} : log.error();
}

net::task<void> broker::remove_log(unsigned shard, std::string topic, int32_t partition) {
  co_await net::await_callback<std::error_code>([&](auto done) {
    managers_[shard]->remove({topic, partition}, std::move(done));
  });
}

net::task<void> broker::configure_log(unsigned shard, std::shared_ptr<const topic_metadata> t,
                                      int32_t partition) {
  if (auto log = managers_[shard]->get({t->name, partition})) log->set_config(t->log);
  co_return;
}

void broker::fill_config(topic_metadata& t) const {
  t.inherited = inherited_topic_configs(dynamic_);
  t.effective = t.inherited;
  for (const auto& [k, v] : t.configs) t.effective[k] = v;
  t.log = apply_topic_config(opts_.defaults, t.effective);
}

net::task<std::error_code> broker::alter_broker_config(config_map dynamic, bool validate_only) {
  co_return co_await shards_.invoke_on(0,
                                       do_alter_broker_config(std::move(dynamic), validate_only));
}

net::task<std::error_code> broker::do_alter_broker_config(config_map dynamic, bool validate_only) {
  for (const auto& [k, v] : dynamic) {
    if (validate_broker_config(k, v)) co_return errc::invalid_config;
  }
  if (validate_only) co_return std::error_code{};
  if (auto st = save_broker_configs(opts_.data_dir, dynamic); !st) co_return st.error();
  dynamic_ = std::move(dynamic);
  apply_logger_levels(dynamic_, opts_.log_level);
  // Every topic's settings follow the new defaults, unless it overrides them.
  for (auto& [name, old] : table_) {
    auto t = std::make_shared<topic_metadata>(*old);
    fill_config(*t);
    old = t;
    for (int32_t p = 0; p < t->partitions; ++p) {
      const unsigned o = owner(name, p);
      co_await shards_.invoke_on(o, configure_log(o, t, p));
    }
  }
  co_await publish();
  base::logger("broker")->info("dynamic broker configs are now: {}", [&] {
    std::string all;
    for (const auto& [k, v] : dynamic_) all += (all.empty() ? "" : ", ") + k + "=" + v;
    return all.empty() ? std::string("(none)") : all;
  }());
  co_return std::error_code{};
}

}  // namespace broker
