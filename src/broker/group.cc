#include "broker/group.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "base/logging.h"
#include "broker/errc.h"

namespace broker {

std::string_view to_string(group_state s) {
  switch (s) {
    case group_state::empty:
      return "Empty";
    case group_state::preparing_rebalance:
      return "PreparingRebalance";
    case group_state::completing_rebalance:
      return "CompletingRebalance";
    case group_state::stable:
      return "Stable";
    case group_state::dead:
      return "Dead";
  }
  return "Unknown";
}

group::~group() {
  shut_down(errc::coordinator_not_available);
}

std::string group::new_member_id(const std::string& client_id) const {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id;
  do {
    id = fmt::format("{}-{:016x}{:016x}", client_id.empty() ? "member" : client_id, rng(), rng());
  } while (members_.contains(id) || pending_members_.contains(id));
  return id;
}

int64_t group::max_rebalance_timeout() const {
  int64_t t = 0;
  for (const auto& [id, m] : members_) t = std::max<int64_t>(t, m.rebalance_timeout_ms);
  return t;
}

std::set<std::string> group::common_protocols(const member* except) const {
  std::set<std::string> common;
  bool first = true;
  for (const auto& [id, m] : members_) {
    if (&m == except) continue;
    std::set<std::string> names;
    for (const auto& p : m.protocols) names.insert(p.first);
    if (first) {
      common = std::move(names);
      first = false;
    } else {
      std::erase_if(common, [&](const std::string& n) { return !names.contains(n); });
    }
  }
  return common;
}

std::error_code group::check_join(const join_request& r, const member* self) const {
  if (r.session_timeout_ms < limits_->min_session_timeout_ms ||
      r.session_timeout_ms > limits_->max_session_timeout_ms) {
    return errc::invalid_session_timeout;
  }
  if (r.rebalance_timeout_ms <= 0 || r.protocol_type.empty() || r.protocols.empty()) {
    return errc::inconsistent_group_protocol;
  }
  // What the member's protocols cost in memory, each entry's own overhead included (a
  // list of many empty protocols is not free).
  size_t bytes = 0;
  for (const auto& p : r.protocols) {
    if (p.first.empty()) return errc::inconsistent_group_protocol;
    bytes += sizeof(p) + p.first.size() + p.second.size();
  }
  if (bytes > limits_->max_member_metadata_bytes) return errc::member_metadata_too_large;
  const size_t others = members_.size() - (self ? 1 : 0);
  if (others == 0) return {};
  if (r.protocol_type != protocol_type_) return errc::inconsistent_group_protocol;
  auto common = common_protocols(self);
  const bool shared = std::any_of(r.protocols.begin(), r.protocols.end(),
                                  [&](const auto& p) { return common.contains(p.first); });
  return shared ? std::error_code{} : std::error_code(errc::inconsistent_group_protocol);
}

std::string group::select_protocol() const {
  auto common = common_protocols(nullptr);
  // Each member votes for the first protocol it lists that every member supports.
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members_) {
    for (const auto& p : m.protocols) {
      if (common.contains(p.first)) {
        ++votes[p.first];
        break;
      }
    }
  }
  std::string best;
  int most = -1;
  for (const auto& [name, n] : votes) {
    if (n > most) {
      best = name;
      most = n;
    }
  }
  return best;
}

const std::vector<uint8_t>* group::metadata_for(const member& m,
                                                const std::string& protocol) const {
  for (const auto& p : m.protocols) {
    if (p.first == protocol) return &p.second;
  }
  return nullptr;
}

group::member& group::add_member(const join_request& r, std::string member_id, int64_t now) {
  member& m = members_[member_id];
  m.id = std::move(member_id);
  m.instance_id = r.instance_id;
  if (r.instance_id) static_members_[*r.instance_id] = m.id;
  update_member(m, r, now);
  if (members_.size() == 1) protocol_type_ = r.protocol_type;
  return m;
}

void group::update_member(member& m, const join_request& r, int64_t now) {
  m.client_id = r.client_id;
  m.client_host = r.client_host;
  m.session_timeout_ms = r.session_timeout_ms;
  m.rebalance_timeout_ms = std::min(r.rebalance_timeout_ms, limits_->max_rebalance_timeout_ms);
  m.protocol_type = r.protocol_type;
  m.protocols = r.protocols;
  m.deadline = now + r.session_timeout_ms;
}

join_result group::current_join_answer(const member& m) const {
  join_result out;
  out.generation = generation_;
  out.protocol_type = protocol_type_;
  out.protocol_name = protocol_name_;
  out.leader = leader_;
  out.member_id = m.id;
  if (m.id == leader_) {
    for (const auto& [id, other] : members_) {
      const auto* md = metadata_for(other, protocol_name_);
      out.members.push_back({id, other.instance_id, md ? *md : std::vector<uint8_t>{}});
    }
  }
  return out;
}

void group::join(join_request r, int64_t now, join_callback done) {
  auto fail = [&](std::error_code ec, std::string member_id = {}) {
    join_result out;
    out.error = ec;
    out.member_id = std::move(member_id);
    done(std::move(out));
  };
  if (state_ == group_state::dead) return fail(errc::coordinator_not_available);

  if (r.member_id.empty()) {
    if (auto ec = check_join(r, nullptr)) return fail(ec);
    // A static member coming back under a new member id replaces its old incarnation.
    if (r.instance_id) {
      auto known = static_members_.find(*r.instance_id);
      if (known != static_members_.end()) {
        auto old = members_.find(known->second);
        if (old != members_.end()) {
          member replaced = std::move(old->second);
          members_.erase(old);
          if (replaced.awaiting_join) {
            std::exchange(replaced.awaiting_join,
                          nullptr)(join_result::failed(errc::fenced_instance_id));
          }
          if (replaced.awaiting_sync) {
            std::exchange(replaced.awaiting_sync,
                          nullptr)(sync_result::failed(errc::fenced_instance_id));
          }
          const bool same_protocols = replaced.protocols == r.protocols;
          member& m = add_member(r, new_member_id(r.client_id), now);
          m.assignment = std::move(replaced.assignment);
          if (leader_ == replaced.id) leader_ = m.id;
          if (state_ == group_state::stable && same_protocols) {
            // Nothing changed for the group: hand back the current generation.
            return done(current_join_answer(m));
          }
          m.awaiting_join = std::move(done);
          if (state_ != group_state::preparing_rebalance) prepare_rebalance(now);
          maybe_complete_join(now);
          return;
        }
      }
    }
    if (members_.size() + pending_members_.size() >= limits_->max_members) {
      return fail(errc::group_max_size_reached);
    }
    std::string id = new_member_id(r.client_id);
    if (r.require_known_member_id && !r.instance_id) {
      // JoinGroup v4+: hand out the id first, so a client that times out and retries
      // does not leave a phantom member behind.
      pending_members_[id] = now + r.session_timeout_ms;
      return fail(errc::member_id_required, id);
    }
    member& m = add_member(r, std::move(id), now);
    m.awaiting_join = std::move(done);
    if (state_ != group_state::preparing_rebalance) {
      prepare_rebalance(now, state_ == group_state::empty);
    } else if (initial_delay_until_ > 0) {
      initial_delay_until_ = std::min(now + limits_->initial_rebalance_delay_ms, join_deadline_);
    }
    maybe_complete_join(now);
    return;
  }

  // A member id we issued with MEMBER_ID_REQUIRED: the member joins now.
  if (auto p = pending_members_.find(r.member_id); p != pending_members_.end()) {
    if (auto ec = check_join(r, nullptr)) return fail(ec, r.member_id);
    pending_members_.erase(p);
    member& m = add_member(r, r.member_id, now);
    m.awaiting_join = std::move(done);
    if (state_ != group_state::preparing_rebalance) {
      prepare_rebalance(now, state_ == group_state::empty);
    } else if (initial_delay_until_ > 0) {
      initial_delay_until_ = std::min(now + limits_->initial_rebalance_delay_ms, join_deadline_);
    }
    maybe_complete_join(now);
    return;
  }

  auto it = members_.find(r.member_id);
  if (r.instance_id) {
    auto known = static_members_.find(*r.instance_id);
    if (known != static_members_.end() && known->second != r.member_id) {
      return fail(errc::fenced_instance_id, r.member_id);
    }
  }
  if (it == members_.end()) return fail(errc::unknown_member_id, r.member_id);
  member& m = it->second;
  if (auto ec = check_join(r, &m)) return fail(ec, r.member_id);
  const bool changed = m.protocols != r.protocols;
  update_member(m, r, now);
  if (m.awaiting_join) {
    // A retried JoinGroup: the earlier request is superseded.
    std::exchange(m.awaiting_join, nullptr)(join_result::failed(errc::rebalance_in_progress));
  }
  switch (state_) {
    case group_state::preparing_rebalance:
      m.awaiting_join = std::move(done);
      maybe_complete_join(now);
      return;
    case group_state::completing_rebalance:
      if (!changed) return done(current_join_answer(m));
      m.awaiting_join = std::move(done);
      prepare_rebalance(now);
      maybe_complete_join(now);
      return;
    case group_state::stable:
      if (!changed && m.id != leader_) return done(current_join_answer(m));
      m.awaiting_join = std::move(done);
      prepare_rebalance(now);
      maybe_complete_join(now);
      return;
    case group_state::empty:
    case group_state::dead:
      return fail(errc::unknown_member_id, r.member_id);
  }
}

void group::prepare_rebalance(int64_t now, bool initial) {
  base::logger("groups")->debug("group {}: preparing a rebalance (generation {}, {} member(s))",
                                id_, generation_, members_.size());
  if (state_ == group_state::completing_rebalance) {
    for (auto& [id, m] : members_) {
      if (m.awaiting_sync) {
        std::exchange(m.awaiting_sync, nullptr)(sync_result::failed(errc::rebalance_in_progress));
      }
    }
  }
  for (auto& [id, m] : members_) m.assignment.clear();
  state_ = group_state::preparing_rebalance;
  join_deadline_ = now + std::max<int64_t>(max_rebalance_timeout(), 1);
  initial_delay_until_ = 0;
  if (initial && limits_->initial_rebalance_delay_ms > 0) {
    initial_delay_until_ = std::min(now + limits_->initial_rebalance_delay_ms, join_deadline_);
  }
}

void group::maybe_complete_join(int64_t now) {
  if (state_ != group_state::preparing_rebalance) return;
  if (initial_delay_until_ > 0 && now < initial_delay_until_) return;
  const bool all_joined =
      pending_members_.empty() && std::all_of(members_.begin(), members_.end(), [](const auto& kv) {
        return static_cast<bool>(kv.second.awaiting_join);
      });
  if (all_joined || now >= join_deadline_) complete_join(now);
}

void group::complete_join(int64_t now) {
  // Members that did not rejoin in time are out of the group.
  std::vector<std::string> gone;
  for (const auto& [id, m] : members_) {
    if (!m.awaiting_join) gone.push_back(id);
  }
  for (const auto& id : gone)
    remove_member(id, errc::unknown_member_id, now, "did not rejoin in time");
  if (state_ != group_state::preparing_rebalance) return;  // removal emptied the group
  initial_delay_until_ = 0;
  ++generation_;
  if (members_.empty()) {
    go_empty(now);
    return;
  }
  protocol_name_ = select_protocol();
  if (!members_.contains(leader_)) leader_ = members_.begin()->first;
  base::logger("groups")->info("group {}: generation {} with {} member(s), protocol {}", id_,
                               generation_, members_.size(), protocol_name_);
  state_ = group_state::completing_rebalance;
  sync_deadline_ = now + std::max<int64_t>(max_rebalance_timeout(), 1);
  for (auto& [id, m] : members_) {
    m.deadline = now + m.session_timeout_ms;
    std::exchange(m.awaiting_join, nullptr)(current_join_answer(m));
  }
}

void group::go_empty(int64_t now) {
  state_ = group_state::empty;
  leader_.clear();
  protocol_name_.clear();
  empty_since_ = now;
}

void group::remove_member(const std::string& member_id, std::error_code ec, int64_t now,
                          std::string_view why) {
  auto it = members_.find(member_id);
  if (it == members_.end()) return;
  member m = std::move(it->second);
  members_.erase(it);
  base::logger("groups")->info("group {}: member {} removed: {}", id_, m.id, why);
  if (m.instance_id) {
    auto s = static_members_.find(*m.instance_id);
    if (s != static_members_.end() && s->second == m.id) static_members_.erase(s);
  }
  if (m.awaiting_join) std::exchange(m.awaiting_join, nullptr)(join_result::failed(ec));
  if (m.awaiting_sync) std::exchange(m.awaiting_sync, nullptr)(sync_result::failed(ec));
  if (leader_ == m.id) leader_.clear();
  switch (state_) {
    case group_state::stable:
    case group_state::completing_rebalance:
      if (members_.empty()) {
        ++generation_;
        go_empty(now);
      } else {
        prepare_rebalance(now);
      }
      break;
    case group_state::preparing_rebalance:
      if (members_.empty() && pending_members_.empty()) {
        ++generation_;
        go_empty(now);
      } else {
        maybe_complete_join(now);
      }
      break;
    case group_state::empty:
    case group_state::dead:
      break;
  }
}

void group::sync(sync_request r, int64_t now, sync_callback done) {
  auto fail = [&](std::error_code ec) { done(sync_result::failed(ec)); };
  auto it = members_.find(r.member_id);
  if (it == members_.end()) return fail(errc::unknown_member_id);
  if (r.instance_id) {
    auto known = static_members_.find(*r.instance_id);
    if (known != static_members_.end() && known->second != r.member_id) {
      return fail(errc::fenced_instance_id);
    }
  }
  if (r.generation != generation_) return fail(errc::illegal_generation);
  if ((r.protocol_type && *r.protocol_type != protocol_type_) ||
      (r.protocol_name && *r.protocol_name != protocol_name_)) {
    return fail(errc::inconsistent_group_protocol);
  }
  member& m = it->second;
  m.deadline = now + m.session_timeout_ms;
  switch (state_) {
    case group_state::preparing_rebalance:
      return fail(errc::rebalance_in_progress);
    case group_state::completing_rebalance: {
      if (m.awaiting_sync) {
        std::exchange(m.awaiting_sync, nullptr)(sync_result::failed(errc::rebalance_in_progress));
      }
      m.awaiting_sync = std::move(done);
      if (m.id != leader_) return;
      for (auto& [id, other] : members_) other.assignment.clear();
      for (auto& [id, bytes] : r.assignments) {
        auto target = members_.find(id);
        if (target != members_.end()) target->second.assignment = std::move(bytes);
      }
      state_ = group_state::stable;
      for (auto& [id, other] : members_) {
        other.deadline = now + other.session_timeout_ms;
        if (other.awaiting_sync) {
          std::exchange(other.awaiting_sync,
                        nullptr)(sync_result{{}, protocol_type_, protocol_name_, other.assignment});
        }
      }
      return;
    }
    case group_state::stable:
      return done(sync_result{{}, protocol_type_, protocol_name_, m.assignment});
    case group_state::empty:
    case group_state::dead:
      return fail(errc::unknown_member_id);
  }
}

std::error_code group::heartbeat(const std::string& member_id,
                                 const std::optional<std::string>& instance_id, int32_t generation,
                                 int64_t now) {
  auto it = members_.find(member_id);
  if (instance_id) {
    auto known = static_members_.find(*instance_id);
    if (known != static_members_.end() && known->second != member_id) {
      return errc::fenced_instance_id;
    }
  }
  if (it == members_.end()) return errc::unknown_member_id;
  if (generation != generation_) return errc::illegal_generation;
  it->second.deadline = now + it->second.session_timeout_ms;
  if (state_ == group_state::preparing_rebalance) return errc::rebalance_in_progress;
  return {};
}

std::error_code group::leave(const std::string& member_id,
                             const std::optional<std::string>& instance_id, int64_t now) {
  std::string id = member_id;
  if (instance_id) {
    auto known = static_members_.find(*instance_id);
    if (known == static_members_.end()) return errc::unknown_member_id;
    if (!member_id.empty() && known->second != member_id) return errc::fenced_instance_id;
    id = known->second;
  }
  if (pending_members_.erase(id) > 0) {
    maybe_complete_join(now);
    return {};
  }
  if (!members_.contains(id)) return errc::unknown_member_id;
  remove_member(id, errc::unknown_member_id, now, "left the group");
  return {};
}

std::error_code group::check_commit(const std::string& member_id,
                                    const std::optional<std::string>& instance_id,
                                    int32_t generation) const {
  if (generation < 0 && member_id.empty()) {
    return state_ == group_state::empty ? std::error_code{}
                                        : std::error_code(errc::unknown_member_id);
  }
  if (instance_id) {
    auto known = static_members_.find(*instance_id);
    if (known != static_members_.end() && known->second != member_id) {
      return errc::fenced_instance_id;
    }
  }
  if (!members_.contains(member_id)) return errc::unknown_member_id;
  if (generation != generation_) return errc::illegal_generation;
  if (state_ == group_state::completing_rebalance) return errc::rebalance_in_progress;
  return {};
}

void group::tick(int64_t now) {
  std::erase_if(pending_members_, [&](const auto& kv) { return kv.second <= now; });
  std::vector<std::string> expired;
  for (const auto& [id, m] : members_) {
    // A member waiting on a JoinGroup or SyncGroup answer is alive by definition.
    if (!m.awaiting_join && !m.awaiting_sync && m.deadline <= now) expired.push_back(id);
  }
  for (const auto& id : expired)
    remove_member(id, errc::unknown_member_id, now, "session timed out");
  if (state_ == group_state::preparing_rebalance) {
    maybe_complete_join(now);
  } else if (state_ == group_state::completing_rebalance && now >= sync_deadline_) {
    // The leader never sent the assignment: drop who has not synced and start over.
    std::vector<std::string> silent;
    for (const auto& [id, m] : members_) {
      if (!m.awaiting_sync) silent.push_back(id);
    }
    for (const auto& id : silent)
      remove_member(id, errc::unknown_member_id, now, "did not sync in time");
    if (state_ == group_state::completing_rebalance) prepare_rebalance(now);
  }
}

void group::shut_down(std::error_code ec) {
  for (auto& [id, m] : members_) {
    if (m.awaiting_join) std::exchange(m.awaiting_join, nullptr)(join_result::failed(ec));
    if (m.awaiting_sync) std::exchange(m.awaiting_sync, nullptr)(sync_result::failed(ec));
  }
  members_.clear();
  static_members_.clear();
  pending_members_.clear();
  state_ = group_state::dead;
}

std::vector<member_description> group::describe_members() const {
  std::vector<member_description> out;
  for (const auto& [id, m] : members_) {
    const auto* md = metadata_for(m, protocol_name_);
    out.push_back({id, m.instance_id, m.client_id, m.client_host, md ? *md : std::vector<uint8_t>{},
                   m.assignment});
  }
  return out;
}

}  // namespace broker
