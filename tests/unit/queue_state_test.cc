#include "broker/queue_state.h"

#include <gtest/gtest.h>

namespace broker {
namespace {

queue_definition def(int32_t max_deliveries = 3, int32_t max_in_flight = 100) {
  static const queue_definition base = [] {
    queue_definition q;
    q.name = std::string("q");
    q.topic = std::string("t");
    q.dead_letter_topic = std::string("q.dlq");
    return q;
  }();
  queue_definition q = base;
  q.visibility_timeout_ms = 1000;
  q.max_deliveries = max_deliveries;
  q.max_in_flight = max_in_flight;
  return q;
}

queue_partition at(int64_t offset) {
  queue_partition p;
  p.start = p.next = offset;
  return p;
}

settle_error settle(queue_partition& p, int64_t offset, const std::string& who, settle_action a,
                    int64_t now, const queue_definition& q, bool* dead = nullptr, int64_t ms = 0) {
  bool ignored = false;
  return p.settle(offset, who, a, now, ms, "", q, dead ? dead : &ignored);
}

TEST(QueueState, AckedRecordsAreFinishedAndStartMovesPastThem) {
  const auto q = def();
  auto p = at(10);
  p.lease(10, false, 0, "w1", 0, q);
  p.lease(11, false, 0, "w1", 0, q);
  EXPECT_EQ(p.next, 12);
  EXPECT_EQ(settle(p, 11, "w1", settle_action::ack, 5, q), settle_error::none);
  p.advance();
  EXPECT_EQ(p.start, 10);  // 10 is still leased
  EXPECT_EQ(settle(p, 10, "w1", settle_action::ack, 5, q), settle_error::none);
  p.advance();
  EXPECT_EQ(p.start, 12);
  EXPECT_TRUE(p.tracked.empty());
  // Acked records are gone: a second ack says so.
  EXPECT_EQ(settle(p, 10, "w1", settle_action::ack, 6, q), settle_error::not_delivered);
}

TEST(QueueState, OnlyTheLeaseHolderSettlesAndOnlyWhileLeased) {
  const auto q = def();
  auto p = at(0);
  p.lease(0, false, 0, "w1", 0, q);
  EXPECT_EQ(settle(p, 0, "w2", settle_action::ack, 10, q), settle_error::other_worker);
  EXPECT_EQ(settle(p, 5, "w1", settle_action::ack, 10, q), settle_error::not_delivered);
  // The lease ends at 1000: an ack then is refused, and expiry makes the record available.
  EXPECT_EQ(settle(p, 0, "w1", settle_action::ack, 1000, q), settle_error::lease_expired);
  EXPECT_EQ(p.expire(1000, q), 1u);
  EXPECT_TRUE(p.dead_letters_due(1000).empty());
  EXPECT_TRUE(p.due(0, 1000));
  EXPECT_EQ(settle(p, 0, "w1", settle_action::ack, 1001, q), settle_error::lease_expired);
  // Handed out again, to another worker: delivery count 2.
  p.lease(0, false, 0, "w2", 1001, q);
  EXPECT_EQ(p.tracked.at(0).deliveries, 2);
  EXPECT_EQ(settle(p, 0, "w1", settle_action::ack, 1002, q), settle_error::other_worker);
  EXPECT_EQ(settle(p, 0, "w2", settle_action::ack, 1002, q), settle_error::none);
}

TEST(QueueState, NackDelaysExtendRenewsRejectDeadLetters) {
  const auto q = def();
  auto p = at(0);
  for (int64_t o = 0; o < 3; ++o) p.lease(o, false, 0, "w", 0, q);
  EXPECT_EQ(settle(p, 0, "w", settle_action::nack, 100, q, nullptr, 500), settle_error::none);
  EXPECT_FALSE(p.due(0, 599));
  EXPECT_TRUE(p.due(0, 600));
  EXPECT_EQ(p.count(100).delayed, 1u);
  EXPECT_EQ(settle(p, 1, "w", settle_action::extend, 900, q, nullptr, 5000), settle_error::none);
  bool dead = false;
  EXPECT_EQ(settle(p, 2, "w", settle_action::reject, 900, q, &dead), settle_error::none);
  EXPECT_TRUE(dead);
  // Pending for the dead-letter topic: never handed out, nor decided on again.
  EXPECT_EQ(p.tracked.at(2).state, delivery_state::dead_pending);
  EXPECT_FALSE(p.due(2, 10000));
  EXPECT_EQ(settle(p, 2, "w", settle_action::ack, 901, q), settle_error::not_leased);
  EXPECT_EQ(p.dead_letters_due(900), std::vector<int64_t>{2});
  p.dead_letter_failed(2, 6000);  // tried again in 5 s
  EXPECT_TRUE(p.dead_letters_due(5999).empty());
  EXPECT_EQ(p.dead_letters_due(6000), std::vector<int64_t>{2});
  p.dead(2);
  EXPECT_EQ(p.expire(2000, q), 0u);                          // 0 was nacked, 1 extended, 2 dead
  EXPECT_EQ(p.tracked.at(1).state, delivery_state::leased);  // renewed until 5900
  EXPECT_EQ(p.tracked.at(2).state, delivery_state::dead);
  EXPECT_EQ(p.tracked.at(2).last_error, "rejected");
}

TEST(QueueState, AfterMaxDeliveriesAnEndedLeaseOrANackDeadLetters) {
  const auto q = def(2);
  auto p = at(0);
  p.lease(0, false, 0, "w", 0, q);
  p.lease(1, false, 0, "w", 0, q);
  p.expire(1000, q);
  p.lease(0, false, 0, "w", 1000, q);  // second delivery
  EXPECT_EQ(p.expire(2000, q), 1u);
  EXPECT_EQ(p.dead_letters_due(2000), std::vector<int64_t>{0});
  EXPECT_EQ(p.tracked.at(0).last_error, "lease expired");
  p.lease(1, false, 0, "w", 2000, q);  // second delivery of 1
  bool dead = false;
  EXPECT_EQ(settle(p, 1, "w", settle_action::nack, 2001, q, &dead), settle_error::none);
  EXPECT_TRUE(dead);
}

TEST(QueueState, TheInFlightWindowBoundsTrackedRecords) {
  const auto q = def(3, 2);
  auto p = at(0);
  p.lease(0, false, 0, "w", 0, q);
  EXPECT_FALSE(p.full(q));
  p.track(1, true, 7);
  EXPECT_TRUE(p.full(q));
  EXPECT_EQ(p.next, 2);
  EXPECT_TRUE(p.due(1, 0));
  EXPECT_EQ(p.tracked.at(1).deliveries, 0);
}

TEST(QueueState, RetentionMovesStartPastRemovedRecords) {
  const auto q = def();
  auto p = at(0);
  p.lease(0, false, 0, "w", 0, q);
  p.lease(5, false, 0, "w", 0, q);
  p.advance(3);
  EXPECT_EQ(p.start, 5);
  EXPECT_EQ(p.tracked.size(), 1u);
}

TEST(QueueState, RetryBackoffIsFixedOrExponentialWithJitterWithinItsBound) {
  auto q = def();
  EXPECT_EQ(retry_delay_ms(q, 3), 0);
  q.backoff = queue_backoff::fixed;
  q.backoff_ms = 500;
  EXPECT_EQ(retry_delay_ms(q, 1), 500);
  EXPECT_EQ(retry_delay_ms(q, 4), 500);
  q.backoff = queue_backoff::exponential;
  q.backoff_ms = 1000;
  q.backoff_max_ms = 5000;
  for (int i = 0; i < 200; ++i) {
    const auto first = retry_delay_ms(q, 1);
    EXPECT_GE(first, 500);
    EXPECT_LE(first, 1000);
    const auto third = retry_delay_ms(q, 3);  // 4,000 before jitter
    EXPECT_GE(third, 2000);
    EXPECT_LE(third, 4000);
    const auto tenth = retry_delay_ms(q, 10);  // the bound
    EXPECT_GE(tenth, 2500);
    EXPECT_LE(tenth, 5000);
  }
}

TEST(QueueState, EndedLeasesAndNacksWaitForTheBackoff) {
  auto q = def(10);
  q.backoff = queue_backoff::fixed;
  q.backoff_ms = 500;
  auto p = at(0);
  p.lease(0, false, 0, "w", 0, q);  // until 1000
  p.lease(1, false, 0, "w", 0, q);
  p.expire(1200, q);
  EXPECT_FALSE(p.due(0, 1499));
  EXPECT_TRUE(p.due(0, 1500));  // the lease's end plus the backoff
  EXPECT_EQ(settle(p, 1, "w", settle_action::ack, 1200, q), settle_error::lease_expired);
  p.lease(0, false, 0, "w", 1500, q);
  EXPECT_EQ(settle(p, 0, "w", settle_action::nack, 1600, q), settle_error::none);
  EXPECT_FALSE(p.due(0, 2099));
  EXPECT_TRUE(p.due(0, 2100));
  // A nack's own delay wins over the backoff.
  p.lease(0, false, 0, "w", 2100, q);
  EXPECT_EQ(settle(p, 0, "w", settle_action::nack, 2200, q, nullptr, 50), settle_error::none);
  EXPECT_TRUE(p.due(0, 2250));
}

TEST(QueueState, TheOldestUnfinishedRecordIsTheEarliestTimestampHandedOutAndNotDone) {
  auto q = def();
  auto p = at(0);
  EXPECT_EQ(p.count(100).oldest_unfinished_ms, -1);
  p.lease(0, false, 0, "w", 100, q);
  p.lease(1, false, 0, "w", 100, q);
  p.lease(2, false, 0, "w", 100, q);
  p.tracked.at(0).timestamp_ms = 50;
  p.tracked.at(1).timestamp_ms = 20;  // produced earlier, though at a later offset
  p.tracked.at(2).timestamp_ms = 70;
  EXPECT_EQ(p.count(100).oldest_unfinished_ms, 20);
  bool to_dead = false;
  EXPECT_EQ(p.settle(1, "w", settle_action::ack, 110, 0, "", q, &to_dead), settle_error::none);
  EXPECT_EQ(p.count(110).oldest_unfinished_ms, 50);
  // Nacked: not done, still counted; then acked: gone.
  EXPECT_EQ(p.settle(0, "w", settle_action::nack, 120, 0, "", q, &to_dead), settle_error::none);
  EXPECT_EQ(p.count(120).oldest_unfinished_ms, 50);
  p.lease(0, false, 0, "w", 130, q);
  EXPECT_EQ(p.settle(0, "w", settle_action::ack, 140, 0, "", q, &to_dead), settle_error::none);
  EXPECT_EQ(p.count(140).oldest_unfinished_ms, 70);
  EXPECT_EQ(p.settle(2, "w", settle_action::ack, 150, 0, "", q, &to_dead), settle_error::none);
  EXPECT_EQ(p.count(150).oldest_unfinished_ms, -1);
}

TEST(QueueState, SnapshotsAndKeysRoundTrip) {
  auto q = def();
  q.backoff = queue_backoff::exponential;
  q.backoff_ms = 250;
  q.backoff_max_ms = 8000;
  auto p = at(40);
  p.lease(40, true, 0xdeadbeef, "worker-1", 123, q);
  p.track(41, false, 0);
  p.lease(42, false, 0, "worker-2", 124, q);
  bool ignored = false;
  p.settle(42, "worker-2", settle_action::nack, 125, 10, "timeout talking to db", q, &ignored);
  p.tracked.at(40).timestamp_ms = 1796000000123;
  auto back = decode_queue_partition(encode_queue_partition(p));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, p);
  // A snapshot written before timestamps were kept (version 1: no timestamp per record)
  // still reads, its timestamps unknown.
  std::vector<uint8_t> v1;
  const auto put = [&](uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) v1.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  put(1, 1);
  put(40, 8);
  put(41, 8);
  put(1, 4);
  put(40, 8);
  put(1, 1);  // leased
  put(1, 4);
  put(30123, 8);
  put(0, 1);
  put(0, 4);
  put(1, 2);
  v1.push_back('w');
  put(0, 2);
  auto old = decode_queue_partition(v1);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->tracked.at(40).consumer, "w");
  EXPECT_EQ(old->tracked.at(40).until_ms, 30123);
  EXPECT_EQ(old->tracked.at(40).timestamp_ms, -1);
  auto d = decode_queue_definition(encode_queue_definition(q));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, q);
  // With a webhook (an optional section after the rest).
  auto hooked = q;
  hooked.webhook = queue_webhook{};
  hooked.webhook->url = "http://127.0.0.1:8080/in";
  hooked.webhook->secret = "k";
  hooked.webhook->batch_size = 7;
  d = decode_queue_definition(encode_queue_definition(hooked));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, hooked);
  auto hook_bytes = encode_queue_definition(hooked);
  hook_bytes.pop_back();
  EXPECT_FALSE(decode_queue_definition(hook_bytes));
  for (const auto& k : {queue_record_key{"q", std::nullopt},
                        queue_record_key{"q", std::pair<std::string, int32_t>("t", 3)}}) {
    auto kb = decode_queue_key(encode_queue_key(k));
    ASSERT_TRUE(kb);
    EXPECT_EQ(*kb, k);
  }
  // Damaged bytes are refused, never half-read.
  auto bytes = encode_queue_partition(p);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_queue_partition(std::span(bytes.data(), cut))) << cut;
  }
  auto kbytes = encode_queue_key({"q", std::nullopt});
  kbytes[0] = 1;  // an offset key's version
  EXPECT_FALSE(decode_queue_key(kbytes));
}

}  // namespace
}  // namespace broker
