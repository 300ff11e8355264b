// The broker's topic table: loading it at start (rolling back or finishing what a stop
// interrupted, moving aside partition directories of no topic), the admin operations
// that change it, one at a time on shard 0, and the object limits they enforce.

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <random>

#include "base/logging.h"
#include "broker/broker.h"
#include "broker/broker_config.h"
#include "net/await.h"
#include "net/shard.h"

namespace broker {
namespace {

// "k=v, k=v" (or "(none)") for the log.
std::string config_text(const config_map& configs) {
  std::string all;
  for (const auto& [k, v] : configs) all += (all.empty() ? "" : ", ") + k + "=" + v;
  return all.empty() ? std::string("(none)") : all;
}

namespace fs = std::filesystem;
constexpr const char* kTableFile = "topics";
constexpr const char* kOrphanedDir = "orphaned";

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

table_entry entry_of(const topic_metadata& t, topic_state state = topic_state::live) {
  table_entry e;
  e.name = t.name;
  e.partitions = t.partitions;
  e.id = t.id;
  e.configs = t.configs;
  e.state = state;
  return e;
}

// Moves a directory into <data>/orphaned/ under a free name, durably.
base::result<fs::path> move_aside(const fs::path& data_dir, const fs::path& dir) {
  const auto into = data_dir / kOrphanedDir;
  RIPTIDE_TRY(base::create_directories_durably(into));
  auto dest = into / dir.filename();
  std::error_code ec;
  for (int i = 1;; ++i) {
    if (!fs::exists(dest, ec)) {
      if (ec) return ec;
      break;
    }
    dest = into / fmt::format("{}.{}", dir.filename().string(), i);
  }
  fs::rename(dir, dest, ec);
  if (ec) return ec;
  RIPTIDE_TRY(base::fsync_directory(data_dir));
  RIPTIDE_TRY(base::fsync_directory(into));
  return dest;
}

}  // namespace

struct broker::admin_hold {
  admin_lock& lock;
  ~admin_hold() { lock.unlock(); }
};

net::task<void> broker::admin_lock::lock() {
  if (!held_) {
    held_ = true;
    co_return;
  }
  co_await net::await_callback<bool>(
      [this](std::function<void(bool)> done) { waiters_.push_back(std::move(done)); });
}

void broker::admin_lock::unlock() {
  if (waiters_.empty()) {
    held_ = false;
    return;
  }
  auto next = std::move(waiters_.front());  // the lock passes to it, still held
  waiters_.pop_front();
  next(true);
}

// ---- Loading, at start ----------------------------------------------------------------

base::status broker::load_table() {
  auto log = base::logger("broker");
  auto loaded = topic_table_file::open(opts_.data_dir / kTableFile, opts_.table_file);
  if (!loaded) return loaded.error();
  table_file_ = std::move(loaded->file);
  if (loaded->legacy) {
    log->info(
        "{}: topic table of an earlier version ({} topic(s)); it is rewritten in the "
        "current format at the first change",
        table_file_->path().string(), loaded->entries.size());
  }
  for (auto& e : loaded->entries) {
    if (e.state != topic_state::live) {
      RIPTIDE_TRY(resolve_intent(std::move(e)));
      continue;
    }
    auto t = make_topic(e);
    attach_counters(*t);
    table_partitions_ += t->partitions;
    table_[e.name] = std::move(t);
  }
  RIPTIDE_TRY(sweep_orphaned_directories());
  RIPTIDE_TRY(ensure_offsets_topic());
  RIPTIDE_TRY(ensure_delayed_topic());
  const auto& l = opts_.limits;
  if (static_cast<int64_t>(table_.size()) > l.max_topics || table_partitions_ > l.max_partitions) {
    log->warn(
        "the topic table holds {} topics and {} partitions, more than limits.max_topics ({}) "
        "or limits.max_partitions ({}) allow: all are served, and creating topics or "
        "partitions is refused until there are fewer or the limits are raised",
        table_.size(), table_partitions_, l.max_topics, l.max_partitions);
  }
  return {};
}

base::status broker::resolve_intent(table_entry e) {
  auto log = base::logger("broker");
  const int32_t from = e.state == topic_state::adding_partitions ? e.partitions_before : 0;
  size_t removed = 0;
  for (int32_t p = from; p < e.partitions; ++p) {
    const auto dir = opts_.data_dir / storage::ntp{e.name, p}.dir_name();
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      if (ec) return ec;
      continue;
    }
    if (auto failed = discard_directory(dir)) {
      log->error("cannot remove partition directory {}: {}", dir.string(), failed.message());
      return failed;
    }
    ++removed;
  }
  switch (e.state) {
    case topic_state::adding_partitions: {
      log->warn(
          "topic {}: rolled back adding partitions {} to {}, which the broker's stop "
          "interrupted ({} partition directories removed); it has {} partition(s)",
          e.name, e.partitions_before, e.partitions - 1, removed, e.partitions_before);
      e.partitions = e.partitions_before;
      e.partitions_before = 0;
      e.state = topic_state::live;
      RIPTIDE_TRY(table_file_->put(e));
      auto t = make_topic(e);
      attach_counters(*t);
      table_partitions_ += t->partitions;
      table_[e.name] = std::move(t);
      return {};
    }
    case topic_state::creating:
      log->warn(
          "rolled back the creation of topic {} ({} partitions), which the broker's stop "
          "interrupted ({} partition directories removed)",
          e.name, e.partitions, removed);
      return table_file_->remove(e.name);
    case topic_state::deleting:
      log->info(
          "finished deleting topic {}, which the broker's stop interrupted ({} partition "
          "directories removed)",
          e.name, removed);
      return table_file_->remove(e.name);
    case topic_state::live:
      break;
  }
  return {};
}

base::status broker::sweep_orphaned_directories() {
  struct orphans {
    std::vector<fs::path> dirs;
    std::string why;
  };
  std::map<std::string, orphans> found;  // by topic
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(opts_.data_dir, ec)) {
    if (!entry.is_directory()) continue;
    auto n = storage::ntp::from_dir_name(entry.path().filename().string());
    if (!n || validate_topic_name(n->topic)) continue;
    auto it = table_.find(n->topic);
    if (it != table_.end() && n->partition < it->second->partitions) continue;
    auto& o = found[n->topic];
    o.dirs.push_back(entry.path());
    o.why = it == table_.end()
                ? "the topic table has no such topic"
                : fmt::format("the topic has {} partition(s)", it->second->partitions);
  }
  if (ec) return ec;
  auto log = base::logger("broker");
  for (const auto& [topic, o] : found) {
    fs::path last;
    for (const auto& dir : o.dirs) {
      auto dest = move_aside(opts_.data_dir, dir);
      if (!dest) {
        log->error("cannot move partition directory {} to {}/: {}", dir.string(), kOrphanedDir,
                   dest.error().message());
        return dest.error();
      }
      last = *dest;
    }
    log->warn(
        "{} partition director{} of topic {} ({}) moved to {}, not adopted (last: {}). Their "
        "records are kept there: delete them, or see \"Orphaned partition directories\" in "
        "the troubleshooting guide to recover them",
        o.dirs.size(), o.dirs.size() == 1 ? "y" : "ies", topic, o.why,
        (opts_.data_dir / kOrphanedDir).string(), last.filename().string());
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
    fill_config(*t);
    RIPTIDE_TRY(table_file_->put(entry_of(*t)));
    it->second = t;
    return {};
  }
  table_entry e;
  e.name = offsets_topic;
  e.partitions = std::max<int32_t>(1, opts_.groups.offsets_partitions);
  // The latest commit per group and partition is kept by compaction; commits must
  // outlive any time or size retention (groups expire them with tombstones instead).
  e.configs = {{"cleanup.policy", "compact"},
               {"retention.ms", "-1"},
               {"retention.bytes", "-1"},
               {"segment.bytes", "67108864"}};
  e.id = random_id();
  RIPTIDE_TRY(table_file_->put(e));
  auto t = make_topic(e);
  attach_counters(*t);
  table_partitions_ += t->partitions;
  table_[t->name] = t;
  offsets_partitions_ = t->partitions;
  return {};
}

// The internal topic of records held for delayed delivery: made when a record is first
// held (net::task below); at start it only gets a partition per shard if the broker has
// more shards than before.
base::status broker::ensure_delayed_topic() {
  const auto shards = static_cast<int32_t>(shards_.size());
  auto it = table_.find(delayed_topic);
  if (it == table_.end() || it->second->partitions >= shards) return {};
  auto t = std::make_shared<topic_metadata>(*it->second);
  table_partitions_ += shards - t->partitions;
  t->partitions = shards;
  RIPTIDE_TRY(table_file_->put(entry_of(*t)));
  it->second = t;
  return {};
}

net::task<std::error_code> broker::create_delayed_topic() {
  // A partition per shard (each holds what is produced to the partitions it owns),
  // compacted as held records are moved, never deleted by time or size.
  config_map configs{{"cleanup.policy", "compact"},    {"retention.ms", "-1"},
                     {"retention.bytes", "-1"},        {"segment.bytes", "67108864"},
                     {"max.message.bytes", "8388608"}, {"riptide.durability", "fsync"}};
  const auto partitions = static_cast<int32_t>(shards_.size());
  auto r = co_await create_topic(request_identity::internal(), delayed_topic, partitions,
                                 std::move(configs));
  if (!r.ok() && r.error != errc::topic_exists) co_return r.error;
  co_return std::error_code{};
}

std::shared_ptr<topic_metadata> broker::make_topic(const table_entry& e) const {
  auto t = std::make_shared<topic_metadata>();
  t->name = e.name;
  t->partitions = e.partitions;
  t->id = e.id;
  t->configs = e.configs;
  fill_config(*t);
  return t;
}

// ---- Writing the table, limits ----------------------------------------------------------

net::task<base::status> broker::off_shard(std::function<base::status()> job) {
  return net::await_callback<base::status>([this, job = std::move(job)](auto done) mutable {
    flusher_->submit([job, done]() { done(job()); });
  });
}

net::task<base::status> broker::write_table(table_entry e) {
  auto* file = table_file_.get();
  std::function<base::status()> job = [file, e] { return file->put(e); };
  co_return co_await off_shard(std::move(job));
}

net::task<base::status> broker::write_table_removal(std::string name) {
  auto* file = table_file_.get();
  std::function<base::status()> job = [file, name] { return file->remove(name); };
  co_return co_await off_shard(std::move(job));
}

admin_result broker::refuse(std::string_view key, errc code, std::string message) const {
  base::metrics::registry::global()
      .get_counter("riptide_limit_refusals_total",
                   "Admin requests refused because they would pass an object limit",
                   {{"limit", std::string(key)}})
      .add();
  static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
  if (auto note = limiter.allow()) base::logger("broker")->warn("refused: {}{}", message, *note);
  return {code, std::move(message)};
}

std::optional<admin_result> broker::check_limits(std::string_view topic, int32_t topics,
                                                 int64_t partitions, std::string_view what) const {
  const auto& l = opts_.limits;
  if (topics > 0 && static_cast<int64_t>(table_.size()) + topics > l.max_topics) {
    return refuse("limits.max_topics", errc::limit_exceeded,
                  fmt::format("Cannot create topic '{}': the broker has {} topics and at most "
                              "{} are allowed (limits.max_topics)",
                              topic, table_.size(), l.max_topics));
  }
  if (partitions > 0 && table_partitions_ + partitions > l.max_partitions) {
    return refuse("limits.max_partitions", errc::limit_exceeded,
                  fmt::format("Cannot {}: the broker has {} partitions and at most {} are "
                              "allowed (limits.max_partitions)",
                              what, table_partitions_, l.max_partitions));
  }
  return std::nullopt;
}

std::optional<admin_result> broker::check_new_partitions(std::string_view name,
                                                         int32_t total) const {
  auto it = table_.find(name);
  if (it == table_.end()) return admin_result(errc::unknown_topic);
  const int32_t current = it->second->partitions;
  if (total <= current) return admin_result(errc::invalid_partitions);
  return check_limits(name, 0, total - current,
                      fmt::format("add {} partitions to topic '{}'", total - current, name));
}

admin_result broker::refuse_over_request_limit(std::string_view topic, std::string_view api) const {
  return refuse("limits.max_topics_per_request", errc::too_many_topics_in_request,
                fmt::format("Topic '{}' was not created: one {} request may create at most {} "
                            "topics (limits.max_topics_per_request); send it again",
                            topic, api, opts_.limits.max_topics_per_request));
}

// ---- Admin operations -----------------------------------------------------------------

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
  for (int32_t p = from; p < t->partitions; ++p) {
    const unsigned o = owner(t->name, p);
    auto ec = co_await shards_.invoke_on(o, create_log(o, t, p));
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

net::task<admin_result> broker::create_topic(const request_identity& who, std::string name,
                                             int32_t partitions, config_map configs,
                                             bool validate_only) {
  return shards_.invoke_on(
      0, do_create_topic(who, std::move(name), partitions, std::move(configs), validate_only));
}

net::task<admin_result> broker::do_create_topic(request_identity who, std::string name,
                                                int32_t partitions, config_map configs,
                                                bool validate_only) {
  if (validate_topic_name(name)) co_return errc::invalid_topic_name;
  // Internal topics are made by the broker itself, when it needs them.
  if (name == delayed_topic && who.listener != request_identity::internal().listener) {
    co_return errc::internal_topic;
  }
  if (partitions <= 0 || partitions > max_partitions_per_topic) {
    co_return errc::invalid_partitions;
  }
  for (const auto& [k, v] : configs) {
    if (validate_topic_config(k, v)) co_return errc::invalid_config;
  }
  const auto what = fmt::format("create topic '{}' with {} partitions", name, partitions);
  // Refused at once when the table as it stands refuses it, without queueing.
  if (auto refused = check_limits(name, 1, partitions, what)) co_return *refused;
  co_await admin_.lock();
  admin_hold hold{admin_};
  if (table_.contains(name)) co_return errc::topic_exists;
  if (auto refused = check_limits(name, 1, partitions, what)) co_return *refused;
  if (auto it = unfinished_deletes_.find(name); it != unfinished_deletes_.end()) {
    // A delete of the same name that could not remove every directory: finish it first.
    const int32_t old_partitions = it->second;
    const int32_t none = 0;
    const auto finished = co_await discard_partitions(name, none, old_partitions);
    if (finished) {
      co_return admin_result(
          finished, fmt::format("Topic '{}' is still being deleted: {}", name, finished.message()));
    }
    unfinished_deletes_.erase(name);
  }
  if (validate_only) co_return admin_result{};
  table_entry e;
  e.name = name;
  e.partitions = partitions;
  e.id = random_id();
  e.configs = std::move(configs);
  e.state = topic_state::creating;
  const auto intent = co_await write_table(e);
  if (!intent) co_return intent.error();
  std::shared_ptr<topic_metadata> t = make_topic(e);
  const std::shared_ptr<const topic_metadata> creating = t;
  const int32_t first_partition = 0;
  auto ec = co_await open_partitions(creating, first_partition);
  if (!ec) {
    e.state = topic_state::live;
    const auto outcome = co_await write_table(e);
    if (!outcome) ec = outcome.error();
  }
  if (ec) {
    base::logger("broker")->error("cannot create topic {} ({} partitions): {}; rolling back", name,
                                  partitions, ec.message());
    const std::optional<table_entry> removed;
    co_await roll_back_partitions(name, first_partition, partitions, removed);
    co_return ec;
  }
  attach_counters(*t);
  table_[name] = t;
  table_partitions_ += partitions;
  co_await publish();
  base::logger("broker")->info("created topic {} with {} partition(s), for {}", name, partitions,
                               audit_name(who));
  co_return admin_result{};
}

net::task<void> broker::roll_back_partitions(std::string topic, int32_t from, int32_t to,
                                             std::optional<table_entry> restore) {
  const auto undo = co_await discard_partitions(topic, from, to);
  if (undo) {
    base::logger("broker")->error(
        "topic {}: cannot remove the partition directories created ({}); they are removed "
        "at the next start",
        topic, undo.message());
    co_return;
  }
  base::status recorded;
  if (restore) {
    recorded = co_await write_table(*restore);
  } else {
    recorded = co_await write_table_removal(topic);
  }
  if (!recorded) {
    base::logger("broker")->error(
        "topic {}: cannot record the rollback in the topic table ({}); it is finished at the "
        "next start",
        topic, recorded.error().message());
  }
}

net::task<std::error_code> broker::delete_topic(const request_identity& who, std::string name) {
  return shards_.invoke_on(0, do_delete_topic(who, std::move(name)));
}

net::task<std::error_code> broker::do_delete_topic(request_identity who, std::string name) {
  if (is_internal(name)) co_return errc::internal_topic;
  co_await admin_.lock();
  admin_hold hold{admin_};
  auto it = table_.find(name);
  if (it == table_.end()) co_return errc::unknown_topic;
  const auto t = it->second;
  const auto doomed = entry_of(*t, topic_state::deleting);
  const auto intent = co_await write_table(doomed);
  if (!intent) co_return intent.error();
  table_.erase(name);
  table_partitions_ -= t->partitions;
  co_await publish();
  const int32_t first_partition = 0;
  const int32_t partitions = t->partitions;
  const auto ec = co_await discard_partitions(name, first_partition, partitions);
  if (ec) {
    // The client sees the topic gone; its name is reused once the rest is removed (by a
    // create of the same name, or at the next start).
    unfinished_deletes_[name] = t->partitions;
    base::logger("broker")->error(
        "topic {}: cannot remove every partition directory ({}); the delete is finished at "
        "the next start or when a topic of that name is created",
        name, ec.message());
    co_return std::error_code{};
  }
  const auto recorded = co_await write_table_removal(name);
  if (!recorded) {
    base::logger("broker")->warn(
        "topic {}: deleted, but cannot record it in the topic table ({}); the next start "
        "finishes it",
        name, recorded.error().message());
  }
  base::logger("broker")->info("deleted topic {}, for {}", name, audit_name(who));
  co_return std::error_code{};
}

net::task<admin_result> broker::create_partitions(const request_identity& who, std::string name,
                                                  int32_t total, bool validate_only) {
  return shards_.invoke_on(0, do_create_partitions(who, std::move(name), total, validate_only));
}

net::task<admin_result> broker::do_create_partitions(request_identity who, std::string name,
                                                     int32_t total, bool validate_only) {
  if (is_internal(name)) co_return errc::internal_topic;  // groups are mapped onto its partitions
  if (total > max_partitions_per_topic) co_return errc::invalid_partitions;
  if (auto refused = check_new_partitions(name, total)) co_return *refused;
  co_await admin_.lock();
  admin_hold hold{admin_};
  if (auto refused = check_new_partitions(name, total)) co_return *refused;
  if (validate_only) co_return admin_result{};
  const auto old = table_.find(name)->second;
  auto e = entry_of(*old, topic_state::adding_partitions);
  e.partitions = total;
  e.partitions_before = old->partitions;
  const auto intent = co_await write_table(e);
  if (!intent) co_return intent.error();
  auto t = std::make_shared<topic_metadata>(*old);
  t->partitions = total;
  const std::shared_ptr<const topic_metadata> growing = t;
  const int32_t first_new = old->partitions;
  auto ec = co_await open_partitions(growing, first_new);
  if (!ec) {
    e.state = topic_state::live;
    e.partitions_before = 0;
    const auto outcome = co_await write_table(e);
    if (!outcome) ec = outcome.error();
  }
  if (ec) {
    base::logger("broker")->error("cannot add partitions {} to {} to topic {}: {}; rolling back",
                                  old->partitions, total - 1, name, ec.message());
    const std::optional<table_entry> as_it_was = entry_of(*old);
    co_await roll_back_partitions(name, first_new, total, as_it_was);
    co_return ec;
  }
  table_[name] = t;
  table_partitions_ += total - old->partitions;
  co_await publish();
  base::logger("broker")->info("topic {}: {} partition(s), was {}, for {}", name, total,
                               old->partitions, audit_name(who));
  co_return admin_result{};
}

net::task<std::error_code> broker::alter_topic_config(const request_identity& who, std::string name,
                                                      config_map configs, bool validate_only) {
  return shards_.invoke_on(
      0, do_alter_topic_config(who, std::move(name), std::move(configs), validate_only, {}));
}

net::task<std::error_code> broker::edit_topic_config(const request_identity& who, std::string name,
                                                     config_edit edit, bool validate_only) {
  return shards_.invoke_on(
      0, do_alter_topic_config(who, std::move(name), config_map{}, validate_only, std::move(edit)));
}

net::task<std::error_code> broker::do_alter_topic_config(request_identity who, std::string name,
                                                         config_map configs, bool validate_only,
                                                         config_edit edit) {
  co_await admin_.lock();
  admin_hold hold{admin_};
  auto it = table_.find(name);
  if (it == table_.end()) co_return errc::unknown_topic;
  if (edit) {
    // Against the overrides as they are now, not as the caller last saw them.
    configs = it->second->configs;
    if (auto ec = edit(configs)) co_return ec;
  }
  for (const auto& [k, v] : configs) {
    if (validate_topic_config(k, v)) co_return errc::invalid_config;
  }
  if (validate_only) co_return std::error_code{};
  auto t = std::make_shared<topic_metadata>(*it->second);
  t->configs = configs;
  fill_config(*t);
  const auto changed = entry_of(*t);
  const auto written = co_await write_table(changed);
  if (!written) co_return written.error();
  table_[name] = t;
  for (int32_t p = 0; p < t->partitions; ++p) {
    const unsigned o = owner(name, p);
    co_await shards_.invoke_on(o, configure_log(o, t, p));
  }
  co_await publish();
  base::logger("broker")->info("topic {}: configs are now {}, for {}", name, config_text(configs),
                               audit_name(who));
  co_return std::error_code{};
}

net::task<std::error_code> broker::alter_broker_config(const request_identity& who,
                                                       config_map dynamic, bool validate_only) {
  co_return co_await shards_.invoke_on(
      0, do_alter_broker_config(who, std::move(dynamic), validate_only, {}));
}

net::task<std::error_code> broker::edit_broker_config(const request_identity& who, config_edit edit,
                                                      bool validate_only) {
  co_return co_await shards_.invoke_on(
      0, do_alter_broker_config(who, config_map{}, validate_only, std::move(edit)));
}

net::task<std::error_code> broker::do_alter_broker_config(request_identity who, config_map dynamic,
                                                          bool validate_only, config_edit edit) {
  co_await admin_.lock();
  admin_hold hold{admin_};
  if (edit) {
    dynamic = dynamic_;
    if (auto ec = edit(dynamic)) co_return ec;
  }
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
  base::logger("broker")->info("dynamic broker configs are now: {}, for {}", config_text(dynamic_),
                               audit_name(who));
  co_return std::error_code{};
}

// ---- Per-shard steps ------------------------------------------------------------------

net::task<std::error_code> broker::create_log(unsigned shard,
                                              std::shared_ptr<const topic_metadata> t,
                                              int32_t partition) {
  const storage::ntp n{t->name, partition};
  const auto dir = opts_.data_dir / n.dir_name();
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    // Left by an operation that could not finish: never adopted into a new partition.
    auto dest = move_aside(opts_.data_dir, dir);
    if (!dest) co_return dest.error();
    base::logger("broker")->warn(
        "partition directory {} existed before its partition; moved it "
        "to {}",
        dir.string(), dest->string());
  }
  auto log = managers_[shard]->create(n, t->log);
  co_return log ? std::error_code{} : log.error();
}

net::task<std::error_code> broker::discard_partitions(std::string topic, int32_t from, int32_t to) {
  // All at once: each shard's journal then records the removals with one fsync.
  auto failed = std::make_shared<std::error_code>();
  std::vector<net::task<void>> all;
  all.reserve(static_cast<size_t>(std::max(0, to - from)));
  for (int32_t p = from; p < to; ++p) all.push_back(discard_one(topic, p, failed));
  co_await net::when_all(std::move(all));
  std::error_code first = *failed;
  // The renames must be durable before the table says the directories are gone.
  const auto dir = opts_.data_dir;
  std::function<base::status()> job = [dir] { return base::fsync_directory(dir); };
  const auto synced = co_await off_shard(std::move(job));
  if (!synced && !first) first = synced.error();
  co_return first;
}

net::task<void> broker::discard_one(std::string topic, int32_t partition,
                                    std::shared_ptr<std::error_code> first) {
  const unsigned o = owner(topic, partition);
  auto ec = co_await shards_.invoke_on(o, discard_log(o, topic, partition));
  if (ec && !*first) *first = ec;
}

net::task<std::error_code> broker::discard_log(unsigned shard, std::string topic,
                                               int32_t partition) {
  const storage::ntp n{topic, partition};
  std::error_code ec;
  if (managers_[shard]->get(n)) {
    ec = co_await net::await_callback<std::error_code>(
        [&](auto done) { managers_[shard]->remove(n, std::move(done)); });
  }
  if (!ec) ec = discard_directory(opts_.data_dir / n.dir_name());
  co_return ec;
}

std::error_code broker::discard_directory(const fs::path& dir) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  if (!fs::exists(dir, ec)) return ec;
  auto doomed = dir;
  doomed += fmt::format(".{}-{}.deleted", ::getpid(), counter++);
  fs::rename(dir, doomed, ec);
  if (ec) return ec;
  flusher_->submit([doomed] {
    std::error_code ignored;
    fs::remove_all(doomed, ignored);
  });
  return {};
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
  t.delivery_delay_ms = ::broker::delivery_delay_ms(t.effective);
}

}  // namespace broker
