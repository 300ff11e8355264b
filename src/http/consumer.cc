#include "http/consumer.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "base/clock.h"
#include "base/logging.h"
#include "broker/errc.h"
#include "http/errors.h"
#include "http/json_util.h"

namespace http {
namespace {

std::atomic<size_t> g_instances{0};

// Sleeps on `w` for up to `d`, or until woken; clears the wake.
net::task<void> nap(std::shared_ptr<wakeup> w, std::chrono::milliseconds d) {
  register_wait(w);
  if (!w->woken && !stopping()) {
    w->timer.expires_after(d);
    co_await w->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
  }
  w->woken = false;
}

net::task<void> run_loop(std::shared_ptr<consumer_instance> self);

}  // namespace

consumer_instance::consumer_instance(broker::broker& b, broker::request_identity who,
                                     consumer_settings s)
    : broker_(b),
      who_(std::move(who)),
      settings_(std::move(s)),
      last_used_(std::chrono::steady_clock::now()) {
  // Group tools show members by client id: the consumer's name says which one it is.
  who_.client_id = settings_.name;
}

consumer_instance::~consumer_instance() = default;

void consumer_instance::subscribe(std::vector<std::string> topics) {
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  topics_ = std::move(topics);
  rejoin_ = true;
  assigned_ = false;
  assignment_.clear();
  positions_.clear();
  touch();
  if (timer_) timer_->wake();
}

net::task<void> consumer_instance::sleep(std::chrono::milliseconds d) {
  co_await nap(timer_, d);
}

net::task<bool> consumer_instance::join_and_sync() {
  auto& groups = broker_.groups();
  broker::join_result jr;
  for (int attempt = 0; attempt < 2; ++attempt) {
    broker::join_request r;
    r.group_id = settings_.group;
    r.member_id = member_id_;
    r.client_id = settings_.name;
    r.client_host = who_.address;
    r.session_timeout_ms = settings_.session_timeout_ms;
    r.rebalance_timeout_ms = settings_.session_timeout_ms;
    r.protocol_type = "consumer";
    r.protocols.emplace_back("range", broker::encode_subscription(topics_));
    r.require_known_member_id = member_id_.empty();
    jr = co_await groups.join(who_, std::move(r));
    if (jr.error == broker::errc::member_id_required) {
      member_id_ = jr.member_id;
      continue;
    }
    break;
  }
  if (closed_) co_return false;
  if (jr.error) {
    if (jr.error == broker::errc::unknown_member_id) member_id_.clear();
    co_return false;
  }
  member_id_ = jr.member_id;
  generation_ = jr.generation;

  std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments;
  if (jr.leader == member_id_) {
    std::map<std::string, std::vector<std::string>> members;
    std::map<std::string, int32_t> counts;
    const auto meta = broker_.metadata();
    for (const auto& m : jr.members) {
      auto topics = broker::decode_subscription(m.metadata);
      members[m.member_id] = topics.value_or(std::vector<std::string>{});
      for (const auto& t : members[m.member_id]) {
        if (auto tm = meta->find(t)) counts[t] = tm->partitions;
      }
    }
    for (const auto& [member, a] : broker::assign_range(members, counts)) {
      assignments.emplace_back(member, broker::encode_assignment(a));
    }
  }
  broker::sync_request s;
  s.group_id = settings_.group;
  s.member_id = member_id_;
  s.generation = generation_;
  s.protocol_type = "consumer";
  s.protocol_name = jr.protocol_name;
  s.assignments = std::move(assignments);
  auto sr = co_await groups.sync(who_, std::move(s));
  if (closed_ || sr.error || rejoin_) co_return false;
  assignment_ = broker::decode_assignment(sr.assignment).value_or(broker::partition_assignment{});
  co_await load_positions();
  if (closed_ || rejoin_) co_return false;
  assigned_ = true;
  assigned_wake_->wake();
  co_return true;
}

net::task<void> consumer_instance::load_positions() {
  positions_.clear();
  committed_.clear();
  broker::topic_partitions which;
  for (const auto& [topic, parts] : assignment_) which.emplace_back(topic, parts);
  if (which.empty()) co_return;
  auto fetched = co_await broker_.groups().fetch_offsets(who_, settings_.group, which);
  if (closed_) co_return;
  std::map<broker::topic_partition, int64_t> known;
  for (const auto& p : fetched.partitions) {
    if (p.value.offset >= 0) known[broker::topic_partition{p.topic, p.partition}] = p.value.offset;
  }
  for (const auto& [topic, parts] : assignment_) {
    for (int32_t p : parts) {
      broker::topic_partition tp{topic, p};
      if (auto it = known.find(tp); it != known.end()) {
        positions_[tp] = it->second;
        committed_[tp] = it->second;
        continue;
      }
      const auto spec =
          settings_.reset_earliest ? broker::offset_spec::earliest : broker::offset_spec::latest;
      auto r = co_await broker_.data().list_offset(who_, tp, spec);
      if (closed_) co_return;
      positions_[tp] = r.error ? 0 : r.offset;
    }
  }
}

void consumer_instance::start(const net::asio::any_io_executor& ex) {
  timer_ = std::make_shared<wakeup>(ex);
  assigned_wake_ = std::make_shared<wakeup>(ex);
  net::asio::co_spawn(ex, run_loop(shared_from_this()), net::asio::detached);
}

net::task<void> consumer_instance::run() {
  auto log = base::logger("http.consumer");
  while (!closed_) {
    if (idle_past_timeout(std::chrono::steady_clock::now())) {
      log->info("consumer {} of group {} was not polled for {} ms: it leaves the group",
                settings_.name, settings_.group, settings_.instance_timeout.count());
      co_await close();
      consumer_registry::local().remove(settings_.group, settings_.name);
      break;
    }
    if (topics_.empty()) {
      co_await sleep(std::chrono::milliseconds(1000));
      continue;
    }
    rejoin_ = false;
    const bool joined = co_await join_and_sync();
    if (closed_) break;
    if (!joined) {
      if (!rejoin_) co_await sleep(std::chrono::milliseconds(500));
      continue;
    }
    const auto beat =
        std::chrono::milliseconds(std::clamp(settings_.session_timeout_ms / 3, 100, 3000));
    while (!closed_ && !rejoin_) {
      co_await sleep(beat);
      if (closed_ || rejoin_) break;
      if (idle_past_timeout(std::chrono::steady_clock::now())) break;
      const auto ec = co_await broker_.groups().heartbeat(who_, settings_.group, member_id_,
                                                          std::nullopt, generation_);
      if (!ec) continue;
      if (ec == broker::errc::rebalance_in_progress && settings_.auto_commit) {
        co_await commit_positions_if_changed();
      }
      if (ec == broker::errc::unknown_member_id) member_id_.clear();
      assigned_ = false;
      break;
    }
  }
}

net::task<poll_result> consumer_instance::poll(size_t max_records, size_t max_bytes,
                                               std::chrono::milliseconds wait) {
  touch();
  poll_result out;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  if (!assigned_ && !closed_) {
    co_await nap(assigned_wake_, wait);
  }
  if (closed_ || !assigned_) {
    out.rebalancing = true;
    co_return out;
  }
  if (settings_.auto_commit) co_await commit_positions_if_changed();
  if (!assigned_) {
    out.rebalancing = true;
    co_return out;
  }
  const int32_t generation = generation_;
  auto positions = positions_;
  if (positions.empty()) {
    co_await nap(assigned_wake_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                     deadline - std::chrono::steady_clock::now()));
    co_return out;
  }
  auto& data = broker_.data();
  const auto executor = co_await net::asio::this_coro::executor;
  for (;;) {
    std::vector<broker::read_plan::part> parts;
    for (const auto& [tp, o] : positions) parts.push_back({tp, o, max_bytes});
    const auto plan = data.plan_read(who_, std::move(parts));
    auto reads = co_await data.read(who_, plan, max_bytes);
    std::vector<bool> wanted(reads.size(), false);
    bool any_wanted = false;
    size_t left = max_records;
    for (size_t i = 0; i < reads.size() && left > 0; ++i) {
      auto& r = reads[i];
      const auto& tp = plan.at(i).name;
      int64_t& pos = positions[tp];
      if (r.error) {
        if (r.error == broker::errc::offset_out_of_range) {
          pos = pos < r.log_start_offset || !settings_.reset_earliest ? r.log_start_offset
                                                                      : r.high_watermark;
          if (!settings_.reset_earliest && pos > r.high_watermark) pos = r.high_watermark;
          continue;
        }
        out.error = r.error;
        co_return out;
      }
      if (r.records.empty()) {
        wanted[i] = pos >= r.high_watermark;
        any_wanted = any_wanted || wanted[i];
        continue;
      }
      auto bytes = r.records.linearize();
      if (!bytes) {
        out.error = broker::to_broker_error(bytes.error());
        co_return out;
      }
      auto decoded = broker::decode_records(*bytes, pos, left);
      if (!decoded) {
        out.error = decoded.error();
        co_return out;
      }
      pos = std::max(pos, decoded->next_offset);
      if (decoded->records.empty()) continue;
      left -= decoded->records.size();
      out.parts.push_back({tp, std::move(decoded->records)});
    }
    if (!out.parts.empty() || !any_wanted || std::chrono::steady_clock::now() >= deadline) break;
    if (stopping()) break;
    auto w = std::make_shared<wakeup>(executor);
    register_wait(w);
    w->timer.expires_at(deadline);
    auto waiter = waiter_for(w);
    co_await data.watch(plan, std::move(wanted), waiter);
    if (!w->woken) co_await w->timer.async_wait(net::asio::as_tuple(net::asio::use_awaitable));
    waiter->finish();
    if (generation != generation_ || !assigned_) break;
  }
  if (generation != generation_ || !assigned_) {
    // A rebalance took the partitions meanwhile: what was read belongs to their new owner.
    out.parts.clear();
    out.rebalancing = true;
    co_return out;
  }
  for (const auto& [tp, o] : positions) {
    if (auto it = positions_.find(tp); it != positions_.end()) it->second = std::max(it->second, o);
  }
  touch();
  co_return out;
}

net::task<void> consumer_instance::commit_positions_if_changed() {
  std::vector<commit_offset> changed;
  for (const auto& [tp, o] : positions_) {
    auto it = committed_.find(tp);
    if (it == committed_.end() || it->second != o) changed.push_back({tp, o});
  }
  if (changed.empty()) co_return;
  co_await commit(std::move(changed));
}

net::task<std::error_code> consumer_instance::commit(
    std::optional<std::vector<commit_offset>> offsets) {
  touch();
  std::vector<commit_offset> list;
  if (offsets) {
    list = std::move(*offsets);
  } else {
    for (const auto& [tp, o] : positions_) list.push_back({tp, o});
  }
  if (list.empty()) co_return std::error_code{};
  broker::commit_request c;
  c.group_id = settings_.group;
  c.member_id = member_id_;
  c.generation = generation_;
  for (const auto& o : list) {
    broker::commit_request::partition p;
    p.topic = o.tp.topic;
    p.partition = o.tp.partition;
    p.value.offset = o.offset;
    p.value.commit_time_ms = base::wall_ms();
    c.partitions.push_back(std::move(p));
  }
  auto errors = co_await broker_.groups().commit(who_, std::move(c));
  for (size_t i = 0; i < errors.size() && i < list.size(); ++i) {
    if (errors[i]) co_return errors[i];
    committed_[list[i].tp] = list[i].offset;
  }
  co_return std::error_code{};
}

std::error_code consumer_instance::seek(const broker::topic_partition& tp, int64_t offset) {
  touch();
  auto it = positions_.find(tp);
  if (it == positions_.end() || offset < 0) return broker::errc::invalid_request;
  it->second = offset;
  return {};
}

net::task<void> consumer_instance::close() {
  if (closed_) co_return;
  // Closed at once, so a second close (deletion racing expiry) does nothing.
  closed_ = true;
  const bool had_partitions = assigned_;
  assigned_ = false;
  if (timer_) timer_->wake();
  if (assigned_wake_) assigned_wake_->wake();
  if (settings_.auto_commit && had_partitions) co_await commit_positions_if_changed();
  if (!member_id_.empty()) {
    std::vector<std::pair<std::string, std::optional<std::string>>> members;
    members.emplace_back(member_id_, std::nullopt);
    co_await broker_.groups().leave(who_, settings_.group, std::move(members));
  }
}

namespace {

net::task<void> run_loop(std::shared_ptr<consumer_instance> self) {
  co_await self->run();
}

}  // namespace

consumer_registry& consumer_registry::local() {
  static thread_local consumer_registry r;
  return r;
}

std::shared_ptr<consumer_instance> consumer_registry::find(const std::string& group,
                                                           const std::string& name) {
  auto it = instances_.find({group, name});
  return it == instances_.end() ? nullptr : it->second;
}

bool consumer_registry::add(std::shared_ptr<consumer_instance> c, size_t max) {
  if (g_instances.fetch_add(1) >= max) {
    g_instances.fetch_sub(1);
    return false;
  }
  const auto key = std::make_pair(c->settings().group, c->settings().name);
  instances_[key] = c;
  return true;
}

void consumer_registry::shutdown() {
  for (auto& [key, c] : instances_) c->stop();
  g_instances.fetch_sub(instances_.size());
  instances_.clear();
}

void consumer_instance::stop() {
  closed_ = true;
  assigned_ = false;
  if (timer_) timer_->wake();
  if (assigned_wake_) assigned_wake_->wake();
}

void consumer_registry::remove(const std::string& group, const std::string& name) {
  if (instances_.erase({group, name}) > 0) g_instances.fetch_sub(1);
}

}  // namespace http

namespace http {
namespace {

response missing(const std::string& group, const std::string& name) {
  return error(404, "unknown_consumer",
               fmt::format("group '{}' has no consumer '{}' here: create it first (it is "
                           "forgotten after its instance timeout without a poll)",
                           group, name),
               40403);
}

consumer_view view_of(const consumer_instance& c) {
  consumer_view v;
  v.member_id = c.member_id();
  v.generation = c.generation();
  v.assigned = !c.positions().empty();
  v.topics = c.subscription();
  for (const auto& [tp, o] : c.positions()) v.positions.emplace_back(tp, o);
  v.fmt = c.settings().fmt;
  return v;
}

}  // namespace

std::optional<response> parse_commit_offsets(const boost::json::value* v, std::string_view field,
                                             bool with_offset, int64_t fill,
                                             std::vector<commit_offset>& out) {
  const char* shape = with_offset
                          ? "{\"topic\": string, \"partition\": integer, \"offset\": integer >= 0}"
                          : "{\"topic\": string, \"partition\": integer}";
  if (!v || !v->is_array()) return bad_field(field, fmt::format("an array of {}", shape));
  for (size_t i = 0; i < v->as_array().size(); ++i) {
    const auto* e = v->as_array()[i].if_object();
    const auto* t = e ? e->if_contains("topic") : nullptr;
    const auto* p = e ? e->if_contains("partition") : nullptr;
    const auto* o = e ? e->if_contains("offset") : nullptr;
    if (!t || !t->is_string() || !p || !p->is_int64() || p->as_int64() < 0 ||
        p->as_int64() > INT32_MAX || (with_offset && (!o || !o->is_int64() || o->as_int64() < 0))) {
      return bad_field(fmt::format("{}[{}]", field, i), shape);
    }
    out.push_back(
        {broker::topic_partition{std::string(t->as_string()), static_cast<int32_t>(p->as_int64())},
         with_offset ? o->as_int64() : fill});
  }
  return std::nullopt;
}

net::task<consumer_view> create_consumer(broker::broker& b, broker::request_identity who,
                                         consumer_settings s,
                                         std::optional<std::vector<std::string>> topics,
                                         size_t max_consumers) {
  auto& reg = consumer_registry::local();
  consumer_view v;
  if (reg.find(s.group, s.name)) {
    v.bad =
        error(409, "consumer_exists",
              fmt::format("group '{}' already has a consumer named '{}'", s.group, s.name), 40902);
    co_return v;
  }
  auto c = std::make_shared<consumer_instance>(b, std::move(who), std::move(s));
  if (!reg.add(c, max_consumers)) {
    v.bad = error(429, "too_many_consumers",
                  fmt::format("the broker holds {} HTTP consumers already "
                              "(http.max_consumers); delete unused ones",
                              max_consumers),
                  42902);
    co_return v;
  }
  c->start(co_await net::asio::this_coro::executor);
  if (topics) c->subscribe(std::move(*topics));
  co_return view_of(*c);
}

net::task<consumer_view> describe_consumer(std::string group, std::string name) {
  auto c = consumer_registry::local().find(group, name);
  if (!c) {
    consumer_view v;
    v.bad = missing(group, name);
    co_return v;
  }
  c->touch();
  co_return view_of(*c);
}

net::task<consumer_view> subscribe_consumer(std::string group, std::string name,
                                            std::vector<std::string> topics) {
  auto c = consumer_registry::local().find(group, name);
  if (!c) {
    consumer_view v;
    v.bad = missing(group, name);
    co_return v;
  }
  c->subscribe(std::move(topics));
  co_return view_of(*c);
}

net::task<consumer_poll> poll_consumer(std::string group, std::string name, size_t max_records,
                                       size_t max_bytes, std::chrono::milliseconds wait) {
  consumer_poll out;
  auto c = consumer_registry::local().find(group, name);
  if (!c) {
    out.bad = missing(group, name);
    co_return out;
  }
  out.fmt = c->settings().fmt;
  if (c->polling()) {
    out.bad = error(
        409, "poll_in_progress",
        fmt::format("consumer '{}' is already answering a poll; poll one at a time", name), 40913);
    co_return out;
  }
  c->set_polling(true);
  out.result = co_await c->poll(max_records, max_bytes, wait);
  c->set_polling(false);
  co_return out;
}

net::task<consumer_view> commit_consumer(std::string group, std::string name,
                                         std::optional<std::vector<commit_offset>> offsets) {
  auto c = consumer_registry::local().find(group, name);
  consumer_view v;
  if (!c) {
    v.bad = missing(group, name);
    co_return v;
  }
  const auto ec = co_await c->commit(std::move(offsets));
  if (ec) {
    v.bad = from_error(ec);
    co_return v;
  }
  co_return view_of(*c);
}

net::task<consumer_view> seek_consumer(broker::broker& b, broker::request_identity who,
                                       std::string group, std::string name,
                                       std::vector<commit_offset> to) {
  auto c = consumer_registry::local().find(group, name);
  consumer_view v;
  if (!c) {
    v.bad = missing(group, name);
    co_return v;
  }
  for (auto& t : to) {
    if (t.offset < 0) {
      const auto spec =
          t.offset == -1 ? broker::offset_spec::earliest : broker::offset_spec::latest;
      auto r = co_await b.data().list_offset(who, t.tp, spec);
      if (r.error) {
        v.bad = from_error(r.error);
        co_return v;
      }
      t.offset = r.offset;
    }
    if (c->seek(t.tp, t.offset)) {
      v.bad = error(409, "not_assigned",
                    fmt::format("partition {} of topic '{}' is not assigned to consumer '{}'",
                                t.tp.partition, t.tp.topic, name),
                    40914);
      co_return v;
    }
  }
  co_return view_of(*c);
}

net::task<consumer_view> delete_consumer(std::string group, std::string name) {
  auto c = consumer_registry::local().find(group, name);
  consumer_view v;
  if (!c) {
    v.bad = missing(group, name);
    co_return v;
  }
  consumer_registry::local().remove(group, name);
  co_await c->close();
  co_return v;
}

}  // namespace http
