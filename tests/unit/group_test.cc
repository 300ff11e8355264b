// The classic rebalance protocol as a state machine: member ids, generations, leader
// and protocol choice, fencing, timeouts and static membership.

#include <gtest/gtest.h>

#include <optional>

#include "broker/errc.h"
#include "broker/group.h"

namespace {

using broker::errc;
using broker::group;
using broker::group_state;
using broker::join_result;
using broker::sync_result;

broker::join_request join_req(std::string member,
                              broker::protocol_list protocols = {{"range", {1}}}) {
  broker::join_request r;
  r.group_id = "g";
  r.member_id = std::move(member);
  r.client_id = "c";
  r.session_timeout_ms = 10000;
  r.rebalance_timeout_ms = 30000;
  r.protocol_type = "consumer";
  r.protocols = std::move(protocols);
  r.require_known_member_id = true;
  return r;
}

struct captured_join {
  std::optional<join_result> result;
  group::join_callback cb() {
    return [this](join_result r) { result = std::move(r); };
  }
};

struct captured_sync {
  std::optional<sync_result> result;
  group::sync_callback cb() {
    return [this](sync_result r) { result = std::move(r); };
  }
};

class group_test : public ::testing::Test {
 protected:
  group_test() { limits_.initial_rebalance_delay_ms = 0; }
  broker::group_limits limits_;
  group g_{"g", limits_};
  int64_t now_ = 1000;

  // A member joining through MEMBER_ID_REQUIRED; returns its id.
  std::string first_join(captured_join& j, broker::protocol_list protocols = {{"range", {1}}}) {
    captured_join id;
    g_.join(join_req("", protocols), now_, id.cb());
    EXPECT_TRUE(id.result);
    EXPECT_EQ(id.result->error, errc::member_id_required);
    g_.join(join_req(id.result->member_id, protocols), now_, j.cb());
    return id.result->member_id;
  }

  void sync(const std::string& member, int32_t generation, captured_sync& s,
            std::vector<std::pair<std::string, std::vector<uint8_t>>> assignments = {}) {
    broker::sync_request r;
    r.group_id = "g";
    r.member_id = member;
    r.generation = generation;
    r.assignments = std::move(assignments);
    g_.sync(std::move(r), now_, s.cb());
  }
};

TEST_F(group_test, single_member_joins_syncs_and_is_stable) {
  captured_join j;
  const auto id = first_join(j);
  ASSERT_TRUE(j.result);
  EXPECT_FALSE(j.result->error);
  EXPECT_EQ(j.result->generation, 1);
  EXPECT_EQ(j.result->leader, id);
  EXPECT_EQ(j.result->protocol_name, "range");
  ASSERT_EQ(j.result->members.size(), 1u);
  EXPECT_EQ(g_.state(), group_state::completing_rebalance);
  captured_sync s;
  sync(id, 1, s, {{id, {7, 7}}});
  ASSERT_TRUE(s.result);
  EXPECT_FALSE(s.result->error);
  EXPECT_EQ(s.result->assignment, (std::vector<uint8_t>{7, 7}));
  EXPECT_EQ(g_.state(), group_state::stable);
  EXPECT_FALSE(g_.heartbeat(id, std::nullopt, 1, now_));
  EXPECT_EQ(g_.heartbeat(id, std::nullopt, 0, now_), errc::illegal_generation);
  EXPECT_EQ(g_.heartbeat("ghost", std::nullopt, 1, now_), errc::unknown_member_id);
}

TEST_F(group_test, second_member_triggers_a_rebalance_both_rejoin) {
  captured_join a;
  const auto a_id = first_join(a);
  captured_sync as;
  sync(a_id, 1, as, {{a_id, {1}}});
  captured_join b;
  const auto b_id = first_join(b);
  EXPECT_FALSE(b.result);  // waits for a to rejoin
  EXPECT_EQ(g_.state(), group_state::preparing_rebalance);
  EXPECT_EQ(g_.heartbeat(a_id, std::nullopt, 1, now_), errc::rebalance_in_progress);
  captured_join a2;
  g_.join(join_req(a_id), now_, a2.cb());
  ASSERT_TRUE(a2.result && b.result);
  EXPECT_EQ(a2.result->generation, 2);
  EXPECT_EQ(b.result->generation, 2);
  EXPECT_EQ(a2.result->leader, a_id);  // the leader stays
  EXPECT_EQ(a2.result->members.size(), 2u);
  EXPECT_TRUE(b.result->members.empty());
  // The follower's sync waits for the leader's assignment.
  captured_sync bs, as2;
  sync(b_id, 2, bs);
  EXPECT_FALSE(bs.result);
  sync(a_id, 2, as2, {{a_id, {1}}, {b_id, {2}}});
  ASSERT_TRUE(bs.result && as2.result);
  EXPECT_EQ(bs.result->assignment, (std::vector<uint8_t>{2}));
  EXPECT_EQ(as2.result->assignment, (std::vector<uint8_t>{1}));
  // A commit from the old generation is fenced.
  EXPECT_EQ(g_.check_commit(a_id, std::nullopt, 1), errc::illegal_generation);
  EXPECT_FALSE(g_.check_commit(a_id, std::nullopt, 2));
  EXPECT_EQ(g_.check_commit("", std::nullopt, -1), errc::unknown_member_id);
}

TEST_F(group_test, silent_member_is_removed_after_its_session_timeout) {
  captured_join a;
  const auto a_id = first_join(a);
  captured_sync as;
  sync(a_id, 1, as, {{a_id, {1}}});
  captured_join b;
  const auto b_id = first_join(b);
  captured_join a2;
  g_.join(join_req(a_id), now_, a2.cb());
  captured_sync bs, as2;
  sync(b_id, 2, bs);
  sync(a_id, 2, as2, {});
  ASSERT_EQ(g_.state(), group_state::stable);
  now_ += 9000;
  EXPECT_FALSE(g_.heartbeat(b_id, std::nullopt, 2, now_));
  g_.tick(now_);
  EXPECT_EQ(g_.member_count(), 2u);
  now_ += 2000;  // a last heartbeated 11 s ago, with a 10 s session
  g_.tick(now_);
  EXPECT_EQ(g_.member_count(), 1u);
  EXPECT_EQ(g_.state(), group_state::preparing_rebalance);
  captured_join b2;
  g_.join(join_req(b_id), now_, b2.cb());
  ASSERT_TRUE(b2.result);
  EXPECT_EQ(b2.result->generation, 3);
  EXPECT_EQ(b2.result->leader, b_id);
}

// A member asking for a rebalance timeout of weeks cannot hold a rebalance that long: it
// waits at most max_rebalance_timeout_ms for the member to rejoin.
TEST_F(group_test, a_rebalance_waits_at_most_the_rebalance_timeout_cap) {
  limits_.max_rebalance_timeout_ms = 60000;
  auto slow = [&](std::string id) {
    auto r = join_req(std::move(id));
    r.session_timeout_ms = 1000000;
    r.rebalance_timeout_ms = INT32_MAX;
    return r;
  };
  captured_join a_id_answer, a;
  g_.join(slow(""), now_, a_id_answer.cb());
  ASSERT_TRUE(a_id_answer.result);
  const auto a_id = a_id_answer.result->member_id;
  g_.join(slow(a_id), now_, a.cb());
  ASSERT_TRUE(a.result);
  captured_sync as;
  sync(a_id, 1, as, {{a_id, {1}}});
  captured_join b;
  const auto b_id = first_join(b);
  EXPECT_FALSE(b.result);  // waits for a, which does not rejoin
  now_ += 59000;
  g_.tick(now_);
  EXPECT_FALSE(b.result);
  now_ += 1001;
  g_.tick(now_);
  ASSERT_TRUE(b.result);  // a was dropped at the cap, not after INT32_MAX ms
  EXPECT_EQ(g_.member_count(), 1u);
  EXPECT_EQ(b.result->leader, b_id);
}

TEST_F(group_test, last_member_leaving_empties_the_group) {
  captured_join a;
  const auto a_id = first_join(a);
  EXPECT_FALSE(g_.leave(a_id, std::nullopt, now_));
  EXPECT_EQ(g_.state(), group_state::empty);
  EXPECT_EQ(g_.leave(a_id, std::nullopt, now_), errc::unknown_member_id);
  EXPECT_FALSE(g_.check_commit("", std::nullopt, -1));  // outside commits once empty
}

TEST_F(group_test, protocol_is_chosen_among_what_every_member_supports) {
  captured_join a;
  const auto a_id = first_join(a, {{"cooperative-sticky", {}}, {"range", {}}});
  captured_sync as;
  sync(a_id, 1, as);
  EXPECT_EQ(g_.protocol_name(), "cooperative-sticky");
  captured_join b;
  first_join(b, {{"range", {}}, {"roundrobin", {}}});
  captured_join a2;
  g_.join(join_req(a_id, {{"cooperative-sticky", {}}, {"range", {}}}), now_, a2.cb());
  ASSERT_TRUE(a2.result);
  EXPECT_EQ(a2.result->protocol_name, "range");
  // A member with nothing in common is refused.
  captured_join c;
  g_.join(join_req("", {{"mine", {}}}), now_, c.cb());
  ASSERT_TRUE(c.result);
  EXPECT_EQ(c.result->error, errc::inconsistent_group_protocol);
}

TEST_F(group_test, bad_joins_are_refused) {
  captured_join r;
  auto req = join_req("");
  req.session_timeout_ms = 10;
  g_.join(req, now_, r.cb());
  EXPECT_EQ(r.result->error, errc::invalid_session_timeout);
  req = join_req("", {});
  g_.join(req, now_, r.cb());
  EXPECT_EQ(r.result->error, errc::inconsistent_group_protocol);
  req = join_req("", {{"range", std::vector<uint8_t>(limits_.max_member_metadata_bytes + 1)}});
  g_.join(req, now_, r.cb());
  EXPECT_EQ(r.result->error, errc::member_metadata_too_large);
  g_.join(join_req("never-issued"), now_, r.cb());
  EXPECT_EQ(r.result->error, errc::unknown_member_id);
  EXPECT_EQ(g_.member_count(), 0u);
}

TEST_F(group_test, static_member_rejoins_without_a_rebalance_and_fences_its_old_id) {
  auto req = join_req("");
  req.instance_id = "host-1";
  captured_join j;
  g_.join(req, now_, j.cb());  // static members skip MEMBER_ID_REQUIRED
  ASSERT_TRUE(j.result);
  ASSERT_FALSE(j.result->error);
  const auto old_id = j.result->member_id;
  captured_sync s;
  sync(old_id, 1, s, {{old_id, {9}}});
  ASSERT_EQ(g_.state(), group_state::stable);
  // The process restarts: same instance id, no member id.
  captured_join again;
  g_.join(req, now_, again.cb());
  ASSERT_TRUE(again.result);
  EXPECT_FALSE(again.result->error);
  EXPECT_EQ(again.result->generation, 1);  // no rebalance
  EXPECT_NE(again.result->member_id, old_id);
  EXPECT_EQ(g_.state(), group_state::stable);
  captured_sync s2;
  sync(again.result->member_id, 1, s2);
  EXPECT_EQ(s2.result->assignment, (std::vector<uint8_t>{9}));
  EXPECT_EQ(g_.heartbeat(old_id, std::string("host-1"), 1, now_), errc::fenced_instance_id);
}

TEST_F(group_test, pending_waits_end_when_the_group_shuts_down) {
  captured_join a;
  first_join(a);
  captured_join b;
  first_join(b);
  EXPECT_FALSE(b.result);
  g_.shut_down(errc::coordinator_not_available);
  ASSERT_TRUE(b.result);
  EXPECT_EQ(b.result->error, errc::coordinator_not_available);
  EXPECT_EQ(g_.state(), group_state::dead);
}

}  // namespace
