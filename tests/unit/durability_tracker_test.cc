#include "storage/durability_tracker.h"

#include <gtest/gtest.h>

#include <map>
#include <system_error>
#include <utility>
#include <vector>

namespace {

using storage::durability_tracker;
using storage::durable_point;

// The end of an append at `offset` in segment 0 (positions grow with offsets).
durable_point at(int64_t offset) {
  return {offset, 0, static_cast<uint64_t>(offset) * 100};
}

// Collects the completions of waiters, by their name, in the order they came.
struct completions {
  std::vector<std::pair<int, std::error_code>> seen;
  durability_tracker::callback waiter(int name) {
    return [this, name](std::error_code ec) { seen.emplace_back(name, ec); };
  }
  std::vector<int> names() const {
    std::vector<int> out;
    for (const auto& [n, _] : seen) out.push_back(n);
    return out;
  }
};

TEST(DurabilityTracker, WaitersCompleteWhenTheDurablePointPassesThemInOffsetOrder) {
  durability_tracker t(at(10));
  completions c;
  t.wait(30, c.waiter(30));
  t.wait(20, c.waiter(20));
  t.wait(25, c.waiter(25));
  t.wait(20, c.waiter(21));  // same offset: after the first one
  EXPECT_TRUE(c.seen.empty());
  EXPECT_TRUE(t.waiting());

  t.advance(at(19), 0);
  EXPECT_TRUE(c.seen.empty());
  t.advance(at(20), 0);
  EXPECT_EQ(c.names(), (std::vector<int>{20, 21}));
  t.advance(at(29), 0);
  EXPECT_EQ(c.names(), (std::vector<int>{20, 21, 25}));
  EXPECT_TRUE(t.waiting());
  t.advance(at(40), 0);
  EXPECT_EQ(c.names(), (std::vector<int>{20, 21, 25, 30}));
  for (const auto& [_, ec] : c.seen) EXPECT_FALSE(ec);
  EXPECT_FALSE(t.waiting());
  EXPECT_EQ(t.durable().offset, 40);
}

TEST(DurabilityTracker, WaitersAtOrBelowTheDurablePointCompleteAtOnce) {
  durability_tracker t(at(10));
  completions c;
  t.wait(5, c.waiter(5));
  t.wait(10, c.waiter(10));
  EXPECT_EQ(c.names(), (std::vector<int>{5, 10}));
  EXPECT_FALSE(t.waiting());
  t.wait(11, c.waiter(11));
  EXPECT_EQ(c.seen.size(), 2u);
  EXPECT_TRUE(t.waiting());
}

TEST(DurabilityTracker, TheDurablePointNeverMovesBack) {
  durability_tracker t(at(10));
  t.advance(at(5), 0);
  EXPECT_EQ(t.durable().offset, 10);
  // The same offset in a new (empty) segment: the point moves to it.
  t.advance({10, 10, 0}, 0);
  EXPECT_EQ(t.durable().segment_base, 10);
  EXPECT_EQ(t.durable().position, 0u);
}

TEST(DurabilityTracker, AFailureCompletesEveryWaiterWithTheError) {
  durability_tracker t(at(0));
  completions c;
  t.wait(3, c.waiter(3));
  t.wait(1, c.waiter(1));
  t.wait(2, c.waiter(2));
  t.note_append(at(3), 0);
  const auto ec = std::make_error_code(std::errc::io_error);
  t.fail(ec);
  EXPECT_EQ(c.names(), (std::vector<int>{1, 2, 3}));
  for (const auto& [_, e] : c.seen) EXPECT_EQ(e, ec);
  EXPECT_FALSE(t.waiting());
  EXPECT_EQ(t.unjournaled(), 0u);
  EXPECT_EQ(t.durable().offset, 0);
}

TEST(DurabilityTracker, JournaledAppendsAreDurableOnceTheJournalPassesThem) {
  durability_tracker t(at(0));
  completions c;
  t.note_append(at(5), 100);
  t.note_append(at(8), 200);
  t.note_append(at(12), 300);
  EXPECT_EQ(t.unjournaled(), 0u);
  t.wait(5, c.waiter(5));
  t.wait(8, c.waiter(8));
  t.wait(12, c.waiter(12));

  // No segment fsync: the journal's durable position alone moves the point, to the end
  // of the last append it covers.
  t.advance(t.durable(), 99);
  EXPECT_EQ(t.durable().offset, 0);
  EXPECT_TRUE(c.seen.empty());
  t.advance(t.durable(), 250);
  EXPECT_EQ(t.durable().offset, 8);
  EXPECT_EQ(t.durable().position, at(8).position);
  EXPECT_EQ(c.names(), (std::vector<int>{5, 8}));
  t.advance(t.durable(), 300);
  EXPECT_EQ(t.durable().offset, 12);
  EXPECT_EQ(c.names(), (std::vector<int>{5, 8, 12}));
}

TEST(DurabilityTracker, UnjournaledAppendsWaitForASegmentFsync) {
  durability_tracker t(at(0));
  completions c;
  t.note_append(at(5), 100);
  t.note_append(at(8), 0);  // the journal could not take it
  t.note_append(at(12), 300);
  EXPECT_EQ(t.unjournaled(), 1u);
  t.wait(12, c.waiter(12));

  // The journal covers all three, but the second is in no journal entry: the point stops
  // before it.
  t.advance(t.durable(), 1000);
  EXPECT_EQ(t.durable().offset, 5);
  EXPECT_EQ(t.unjournaled(), 1u);
  EXPECT_TRUE(c.seen.empty());

  // A segment fsync that covers it: the journaled append after it is durable too.
  t.advance(at(8), 1000);
  EXPECT_EQ(t.durable().offset, 12);
  EXPECT_EQ(t.unjournaled(), 0u);
  EXPECT_EQ(c.names(), (std::vector<int>{12}));
}

TEST(DurabilityTracker, AFailedJournalLeavesEveryPendingAppendToTheSegmentFsync) {
  durability_tracker t(at(0));
  completions c;
  t.note_append(at(5), 100);
  t.note_append(at(8), 200);
  t.wait(8, c.waiter(8));
  t.journal_failed();
  EXPECT_EQ(t.unjournaled(), 2u);
  t.advance(t.durable(), 200);  // the journal's position no longer counts for them
  EXPECT_EQ(t.durable().offset, 0);
  EXPECT_TRUE(c.seen.empty());
  t.advance(at(8), 200);
  EXPECT_EQ(t.unjournaled(), 0u);
  EXPECT_EQ(c.names(), (std::vector<int>{8}));
}

TEST(DurabilityTracker, AWaiterMayWaitAgainFromItsCallback) {
  durability_tracker t(at(0));
  completions c;
  t.wait(5, [&](std::error_code) {
    t.wait(3, c.waiter(3));  // already durable: at once
    t.wait(9, c.waiter(9));
  });
  t.advance(at(5), 0);
  EXPECT_EQ(c.names(), (std::vector<int>{3}));
  t.advance(at(9), 0);
  EXPECT_EQ(c.names(), (std::vector<int>{3, 9}));
}

TEST(DurabilityTracker, AFailureFromACallbackNeverReachesWaitersAlreadyDurable) {
  durability_tracker t(at(0));
  completions c;
  const auto ec = std::make_error_code(std::errc::io_error);
  // The first waiter's callback fails the log (as an I/O error found then would); the
  // second waiter's data became durable in the same advance, so it succeeds.
  t.wait(4, [&](std::error_code e) {
    c.seen.emplace_back(4, e);
    t.fail(ec);
  });
  t.wait(5, c.waiter(5));
  t.wait(9, c.waiter(9));
  t.advance(at(5), 0);
  ASSERT_EQ(c.seen.size(), 3u);
  std::map<int, std::error_code> outcome(c.seen.begin(), c.seen.end());
  EXPECT_FALSE(outcome.at(4));
  EXPECT_FALSE(outcome.at(5)) << "a waiter whose data is durable was failed";
  EXPECT_EQ(outcome.at(9), ec);
}

}  // namespace
