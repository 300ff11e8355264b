#include "broker/group_coordinator.h"

#include <chrono>

#include "base/clock.h"
#include "base/logging.h"
#include "broker/broker.h"
#include "net/await.h"
#include "net/shard.h"
#include "storage/batch_builder.h"
#include "storage/partition_log.h"
#include "storage/record_batch.h"

namespace broker {
namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr auto kTick = std::chrono::milliseconds(100);
constexpr int64_t kExpiryCheckMs = 1000;

}  // namespace

group_coordinator::group_coordinator(broker& b, unsigned shard, const group_options& opts)
    : broker_(b), shard_(shard), opts_(opts) {}

group_coordinator::~group_coordinator() = default;

bool group_coordinator::room_for_group(const std::string& group_id) const {
  if (groups_.contains(group_id)) return true;
  const size_t shards = std::max<size_t>(broker_.shards().size(), 1);
  const size_t share = (opts_.max_groups + shards - 1) / shards;
  if (groups_.size() < share) return true;
  static base::log_rate_limiter limiter(5, std::chrono::seconds(10));
  if (auto note = limiter.allow()) {
    base::logger("groups")->warn(
        "refusing new group {}: this shard keeps {} groups, its share of groups.max_groups = "
        "{}{}",
        group_id, groups_.size(), opts_.max_groups, *note);
  }
  return false;
}

group_coordinator::entry& group_coordinator::get_or_create(const std::string& group_id) {
  auto& e = groups_[group_id];
  if (!e.g) e.g = std::make_unique<group>(group_id, opts_.limits);
  return e;
}

std::shared_ptr<storage::partition_log> group_coordinator::offsets_log(
    const std::string& group_id) const {
  return broker_.local_log({offsets_topic, broker_.offsets_partition(group_id)});
}

base::status group_coordinator::load() {
  size_t records = 0;
  for (const auto& log : broker_.local_offsets_logs()) {
    auto st = log->for_each_batch(
        log->log_start_offset(), log->high_watermark(), [&](std::span<const uint8_t> batch) {
          auto ok = storage::for_each_record(batch, [&](const storage::record_view& rec) {
            auto key = rec.key ? decode_offset_key(*rec.key) : std::nullopt;
            if (!key) return true;
            auto& e = get_or_create(key->group);
            const std::pair<std::string, int32_t> tp{key->topic, key->partition};
            std::optional<committed_offset> value;
            if (rec.value) value = decode_offset_value(*rec.value);
            if (value) {
              e.offsets[tp] = std::move(*value);
            } else {
              e.offsets.erase(tp);
            }
            ++records;
            return true;
          });
          if (!ok) {
            base::logger("groups")->warn(
                "{}: skipping an unreadable offsets batch at {}: {}", log->name().dir_name(),
                storage::decode_header(batch).base_offset, ok.error().message());
          }
        });
    if (!st) return st.error();
  }
  // Groups whose offsets were all deleted are gone.
  std::erase_if(groups_, [](const auto& kv) { return kv.second.offsets.empty(); });
  for (auto& [id, e] : groups_) {
    int64_t newest = 0;
    for (const auto& [tp, v] : e.offsets) newest = std::max(newest, v.commit_time_ms);
    e.empty_since_wall = newest > 0 ? newest : base::wall_ms();
  }
  if (!groups_.empty()) {
    base::logger("groups")->info("shard {}: loaded committed offsets of {} group(s) ({} records)",
                                 shard_, groups_.size(), records);
  }
  return {};
}

struct group_coordinator::ticker {
  explicit ticker(const net::asio::any_io_executor& ex) : timer(ex) {}
  net::asio::steady_timer timer;
};

net::task<void> group_coordinator::run_timers() {
  timer_ = std::make_unique<ticker>(co_await net::asio::this_coro::executor);
  while (!stopping_) {
    timer_->timer.expires_after(kTick);
    co_await timer_->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    if (stopping_) break;
    tick();
  }
}

void group_coordinator::stop() {
  stopping_ = true;
  if (timer_) timer_->timer.cancel();
  for (auto& [id, e] : groups_) e.g->shut_down(errc::coordinator_not_available);
}

void group_coordinator::tick() {
  const int64_t now = steady_ms();
  for (auto& [id, e] : groups_) e.g->tick(now);
  const int64_t wall = base::wall_ms();
  if (wall - last_expiry_check_ >= kExpiryCheckMs) {
    last_expiry_check_ = wall;
    expire_offsets(wall);
  }
}

void group_coordinator::expire_offsets(int64_t now_wall) {
  std::vector<std::string> expired;
  for (auto& [id, e] : groups_) {
    if (e.g->state() != group_state::empty) {
      e.empty_since_wall = -1;
      continue;
    }
    if (e.empty_since_wall < 0) e.empty_since_wall = now_wall;
    if (now_wall - e.empty_since_wall >= opts_.offsets_retention_ms) expired.push_back(id);
  }
  for (const auto& id : expired) {
    auto& e = groups_[id];
    std::vector<std::pair<offset_key, std::optional<committed_offset>>> tombstones;
    for (const auto& [tp, v] : e.offsets) {
      tombstones.push_back({{id, tp.first, tp.second}, std::nullopt});
    }
    if (!tombstones.empty()) {
      auto end = append_records(id, tombstones);
      if (!end) {
        base::logger("groups")->warn("could not expire the offsets of group {}: {}", id,
                                     end.error().message());
        continue;
      }
      // Nobody waits for these; asking makes the next flush cover them.
      if (auto log = offsets_log(id)) log->wait_durable(*end, [](std::error_code) {});
    }
    base::logger("groups")->info("group {}: committed offsets expired after {} ms without members",
                                 id, opts_.offsets_retention_ms);
    groups_.erase(id);
  }
}

base::result<int64_t> group_coordinator::append_records(
    const std::string& group_id,
    const std::vector<std::pair<offset_key, std::optional<committed_offset>>>& records) {
  auto log = offsets_log(group_id);
  if (!log) return errc::coordinator_not_available;
  storage::batch_builder b(base::wall_ms());
  std::vector<std::vector<uint8_t>> keys, values;
  keys.reserve(records.size());
  values.reserve(records.size());
  for (const auto& [k, v] : records) {
    keys.push_back(encode_offset_key(k));
    auto key =
        std::string_view(reinterpret_cast<const char*>(keys.back().data()), keys.back().size());
    if (v) {
      values.push_back(encode_offset_value(*v));
      b.add(key, std::string_view(reinterpret_cast<const char*>(values.back().data()),
                                  values.back().size()));
    } else {
      b.add(key, std::nullopt);
    }
  }
  auto batch = b.build();
  auto a = log->append(batch);
  if (!a) return a.error();
  return a->last_offset + 1;
}

net::task<std::error_code> group_coordinator::wait_durable(std::string group_id,
                                                           int64_t end_offset) {
  auto log = offsets_log(group_id);
  if (!log) co_return errc::coordinator_not_available;
  co_return co_await net::await_callback<std::error_code>(
      [&](auto done) { log->wait_durable(end_offset, std::move(done)); });
}

net::task<join_result> group_coordinator::join(join_request r) {
  if (stopping_) co_return join_result::failed(errc::coordinator_not_available);
  if (r.group_id.empty()) co_return join_result::failed(errc::invalid_group_id);
  auto it = groups_.find(r.group_id);
  if (it == groups_.end() && !r.member_id.empty()) {
    co_return join_result::failed(errc::unknown_member_id);
  }
  if (it == groups_.end() && !room_for_group(r.group_id)) {
    co_return join_result::failed(errc::too_many_groups);
  }
  auto& e = it == groups_.end() ? get_or_create(r.group_id) : it->second;
  group* g = e.g.get();
  const std::string id = r.group_id;
  auto result = co_await net::await_callback<join_result>(
      [&](auto done) { g->join(std::move(r), steady_ms(), std::move(done)); });
  // A group that never got a member and has no offsets is not kept.
  auto again = groups_.find(id);
  if (again != groups_.end() && again->second.offsets.empty() && again->second.g->unused()) {
    groups_.erase(again);
  }
  co_return result;
}

net::task<sync_result> group_coordinator::sync(sync_request r) {
  if (stopping_) co_return sync_result::failed(errc::coordinator_not_available);
  auto it = groups_.find(r.group_id);
  if (it == groups_.end()) co_return sync_result::failed(errc::unknown_member_id);
  group* g = it->second.g.get();
  co_return co_await net::await_callback<sync_result>(
      [&](auto done) { g->sync(std::move(r), steady_ms(), std::move(done)); });
}

net::task<std::error_code> group_coordinator::heartbeat(std::string group_id, std::string member_id,
                                                        std::optional<std::string> instance_id,
                                                        int32_t generation) {
  if (stopping_) co_return errc::coordinator_not_available;
  auto it = groups_.find(group_id);
  if (it == groups_.end()) co_return errc::unknown_member_id;
  co_return it->second.g->heartbeat(member_id, instance_id, generation, steady_ms());
}

net::task<std::vector<std::error_code>> group_coordinator::leave(
    std::string group_id, std::vector<std::pair<std::string, std::optional<std::string>>> members) {
  std::vector<std::error_code> out;
  auto it = groups_.find(group_id);
  for (const auto& [member_id, instance_id] : members) {
    if (stopping_) {
      out.push_back(errc::coordinator_not_available);
    } else if (it == groups_.end()) {
      out.push_back(errc::unknown_member_id);
    } else {
      out.push_back(it->second.g->leave(member_id, instance_id, steady_ms()));
    }
  }
  co_return out;
}

net::task<std::vector<std::error_code>> group_coordinator::commit(commit_request r) {
  std::vector<std::error_code> out(r.partitions.size());
  auto fill = [&](std::error_code ec) {
    for (auto& e : out) {
      if (!e) e = ec;
    }
  };
  if (stopping_) {
    fill(errc::coordinator_not_available);
    co_return out;
  }
  if (r.group_id.empty()) {
    fill(errc::invalid_group_id);
    co_return out;
  }
  auto it = groups_.find(r.group_id);
  std::error_code top;
  if (it == groups_.end()) {
    if (r.generation >= 0 || !r.member_id.empty()) {
      top = r.member_id.empty() ? errc::illegal_generation : errc::unknown_member_id;
    }
  } else {
    top = it->second.g->check_commit(r.member_id, r.instance_id, r.generation);
  }
  if (!top && it == groups_.end() && !room_for_group(r.group_id)) top = errc::too_many_groups;
  if (top) {
    fill(top);
    co_return out;
  }
  auto snap = broker_.metadata();
  std::vector<std::pair<offset_key, std::optional<committed_offset>>> records;
  std::vector<size_t> included;
  const int64_t now = base::wall_ms();
  for (size_t i = 0; i < r.partitions.size(); ++i) {
    auto& p = r.partitions[i];
    auto t = snap->find(p.topic);
    if (!t || p.partition < 0 || p.partition >= t->partitions) {
      out[i] = errc::unknown_topic;
    } else if (p.value.metadata && p.value.metadata->size() > opts_.max_offset_metadata_bytes) {
      out[i] = errc::offset_metadata_too_large;
    } else {
      if (p.value.commit_time_ms < 0) p.value.commit_time_ms = now;
      records.push_back({{r.group_id, p.topic, p.partition}, p.value});
      included.push_back(i);
    }
  }
  if (records.empty()) co_return out;
  auto end = append_records(r.group_id, records);
  std::error_code ec = end ? co_await wait_durable(r.group_id, *end) : end.error();
  if (ec) {
    for (size_t i : included) out[i] = ec;
    co_return out;
  }
  // Durable: now the offsets count (the group may have been created or emptied meanwhile).
  auto& e = get_or_create(r.group_id);
  for (size_t k = 0; k < included.size(); ++k) {
    const auto& key = records[k].first;
    e.offsets[{key.topic, key.partition}] = *records[k].second;
  }
  co_return out;
}

net::task<fetched_offsets> group_coordinator::fetch_offsets(std::string group_id,
                                                            std::optional<topic_partitions> which) {
  fetched_offsets out;
  if (stopping_) {
    out.error = errc::coordinator_not_available;
    co_return out;
  }
  auto it = groups_.find(group_id);
  if (!which) {
    if (it != groups_.end()) {
      for (const auto& [tp, v] : it->second.offsets)
        out.partitions.push_back({tp.first, tp.second, v});
    }
    co_return out;
  }
  for (const auto& [topic, parts] : *which) {
    for (int32_t p : parts) {
      fetched_offsets::partition fp{topic, p, {}};
      if (it != groups_.end()) {
        auto found = it->second.offsets.find({topic, p});
        if (found != it->second.offsets.end()) fp.value = found->second;
      }
      out.partitions.push_back(std::move(fp));
    }
  }
  co_return out;
}

net::task<std::vector<group_overview>> group_coordinator::list() {
  std::vector<group_overview> out;
  for (const auto& [id, e] : groups_) {
    out.push_back({id, e.g->protocol_type(), e.g->state()});
  }
  co_return out;
}

net::task<group_description> group_coordinator::describe(std::string group_id) {
  group_description d;
  d.group_id = group_id;
  auto it = groups_.find(group_id);
  if (it == groups_.end()) co_return d;  // Dead, as Kafka answers for unknown groups
  const group& g = *it->second.g;
  d.state = g.state();
  d.protocol_type = g.protocol_type();
  d.protocol_name = g.protocol_name();
  d.members = g.describe_members();
  co_return d;
}

net::task<std::error_code> group_coordinator::delete_group(std::string group_id) {
  auto it = groups_.find(group_id);
  if (it == groups_.end()) co_return errc::group_id_not_found;
  if (it->second.g->state() != group_state::empty) co_return errc::non_empty_group;
  std::vector<std::pair<offset_key, std::optional<committed_offset>>> tombstones;
  for (const auto& [tp, v] : it->second.offsets) {
    tombstones.push_back({{group_id, tp.first, tp.second}, std::nullopt});
  }
  if (!tombstones.empty()) {
    auto end = append_records(group_id, tombstones);
    if (!end) co_return end.error();
    auto ec = co_await wait_durable(group_id, *end);
    if (ec) co_return ec;
  }
  it = groups_.find(group_id);
  if (it != groups_.end() && it->second.g->state() == group_state::empty) {
    it->second.g->shut_down(errc::group_id_not_found);
    groups_.erase(it);
  }
  co_return std::error_code{};
}

net::task<std::pair<std::error_code, std::vector<std::error_code>>>
group_coordinator::delete_offsets(std::string group_id,
                                  std::vector<std::pair<std::string, int32_t>> partitions,
                                  std::set<std::string> subscribed) {
  std::pair<std::error_code, std::vector<std::error_code>> out;
  out.second.resize(partitions.size());
  auto it = groups_.find(group_id);
  if (it == groups_.end()) {
    out.first = errc::group_id_not_found;
    co_return out;
  }
  const bool active = it->second.g->state() != group_state::empty;
  auto snap = broker_.metadata();
  std::vector<std::pair<offset_key, std::optional<committed_offset>>> tombstones;
  for (size_t i = 0; i < partitions.size(); ++i) {
    const auto& [topic, p] = partitions[i];
    auto t = snap->find(topic);
    if (!t || p < 0 || p >= t->partitions) {
      out.second[i] = errc::unknown_topic;
    } else if (active && subscribed.contains(topic)) {
      out.second[i] = errc::group_subscribed_to_topic;
    } else if (it->second.offsets.contains({topic, p})) {
      tombstones.push_back({{group_id, topic, p}, std::nullopt});
    }
  }
  if (tombstones.empty()) co_return out;
  auto end = append_records(group_id, tombstones);
  std::error_code ec = end ? co_await wait_durable(group_id, *end) : end.error();
  if (ec) {
    out.first = ec;
    co_return out;
  }
  it = groups_.find(group_id);
  if (it != groups_.end()) {
    for (const auto& [k, v] : tombstones) it->second.offsets.erase({k.topic, k.partition});
  }
  co_return out;
}

net::task<std::vector<group_offset_stat>> group_coordinator::offset_stats() {
  std::vector<group_offset_stat> out;
  for (const auto& [id, e] : groups_) {
    for (const auto& [tp, v] : e.offsets) out.push_back({id, tp.first, tp.second, v.offset});
  }
  co_return out;
}

}  // namespace broker
