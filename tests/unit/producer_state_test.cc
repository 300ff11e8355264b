// Idempotent producers: sequence checks, duplicates answered with their first offsets,
// and the state surviving a clean restart (snapshot) and a crash (replay of the log).

#include <gtest/gtest.h>

#include "log_fixture.h"
#include "storage/errc.h"
#include "storage/producer_state.h"

namespace riptide::testing {
namespace {

std::vector<uint8_t> idempotent_batch(int64_t pid, int16_t epoch, int32_t seq, int records) {
  storage::batch_builder b(1'700'000'000'000);
  b.producer(pid, epoch, seq);
  for (int i = 0; i < records; ++i) b.add("k", "value-" + std::to_string(seq + i));
  return b.build();
}

storage::batch_header header(int64_t pid, int16_t epoch, int32_t seq, int records,
                             int64_t base_offset = 0) {
  storage::batch_header h;
  h.producer_id = pid;
  h.producer_epoch = epoch;
  h.base_sequence = seq;
  h.record_count = records;
  h.last_offset_delta = records - 1;
  h.base_offset = base_offset;
  return h;
}

TEST(producer_state, sequences_wrap_past_int32_max) {
  EXPECT_EQ(storage::last_sequence(0, 1), 0);
  EXPECT_EQ(storage::last_sequence(10, 5), 14);
  EXPECT_EQ(storage::last_sequence(INT32_MAX, 1), INT32_MAX);
  EXPECT_EQ(storage::last_sequence(INT32_MAX, 2), 0);
  EXPECT_EQ(storage::last_sequence(INT32_MAX - 1, 4), 1);
}

TEST(producer_state, checks_duplicates_gaps_and_epochs) {
  storage::producer_state s;
  EXPECT_FALSE(*s.check(header(7, 0, 0, 3)));  // unknown producer: accepted
  s.record(header(7, 0, 0, 3, 100), 1);
  s.record(header(7, 0, 3, 2, 103), 2);
  auto dup = s.check(header(7, 0, 0, 3));
  ASSERT_TRUE(dup && *dup);
  EXPECT_EQ((*dup)->first_offset, 100);
  EXPECT_EQ((*dup)->last_offset, 102);
  EXPECT_FALSE(*s.check(header(7, 0, 5, 1)));  // the next one
  EXPECT_EQ(s.check(header(7, 0, 6, 1)).error(), storage::errc::out_of_order_sequence);
  EXPECT_EQ(s.check(header(7, 0, 1, 1)).error(), storage::errc::out_of_order_sequence);
  // A new epoch must start at sequence 0; an older one is fenced.
  EXPECT_EQ(s.check(header(7, 1, 5, 1)).error(), storage::errc::out_of_order_sequence);
  EXPECT_FALSE(*s.check(header(7, 1, 0, 1)));
  s.record(header(7, 1, 0, 1, 105), 3);
  EXPECT_EQ(s.check(header(7, 0, 5, 1)).error(), storage::errc::invalid_producer_epoch);
  // Only the last five batches are remembered.
  for (int i = 1; i <= 6; ++i) s.record(header(7, 1, i, 1, 105 + i), 4);
  EXPECT_EQ(s.check(header(7, 1, 1, 1)).error(), storage::errc::out_of_order_sequence);
  EXPECT_TRUE(*s.check(header(7, 1, 2, 1)));
}

TEST(producer_state, snapshot_round_trips_and_rejects_damage) {
  storage::producer_state s;
  s.record(header(1, 0, 0, 3, 0), 10);
  s.record(header(2, 4, 9, 1, 3), 20);
  auto bytes = s.serialize(4);
  auto loaded = storage::producer_state::parse(bytes);
  ASSERT_TRUE(loaded) << loaded.error().message();
  EXPECT_EQ(loaded->offset, 4);
  ASSERT_NE(loaded->state.find(2), nullptr);
  EXPECT_EQ(loaded->state.find(2)->epoch, 4);
  EXPECT_TRUE(*loaded->state.check(header(1, 0, 0, 3)));
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto damaged = bytes;
    damaged[i] ^= 0x20;
    EXPECT_FALSE(storage::producer_state::parse(damaged)) << "byte " << i;
  }
  EXPECT_FALSE(storage::producer_state::parse(std::span(bytes).first(bytes.size() - 1)));
}

TEST(producer_state, expires_idle_producers) {
  storage::producer_state s;
  s.record(header(1, 0, 0, 1), 1000);
  s.record(header(2, 0, 0, 1), 5000);
  EXPECT_EQ(s.expire(6000, 2000), 1u);
  EXPECT_EQ(s.find(1), nullptr);
  EXPECT_NE(s.find(2), nullptr);
}

class idempotent_log_test : public log_test {};

TEST_F(idempotent_log_test, duplicate_is_answered_with_its_first_offsets) {
  auto log = open();
  ASSERT_TRUE(append_durable(log, make_batch(2, 1'700'000'000'000)));
  auto first = append_durable(log, idempotent_batch(42, 0, 0, 3));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->base_offset, 2);
  EXPECT_FALSE(first->duplicate);
  auto again = append_durable(log, idempotent_batch(42, 0, 0, 3));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->base_offset, 2);
  EXPECT_EQ(again->last_offset, 4);
  auto gap = append(log, idempotent_batch(42, 0, 10, 1));
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error(), storage::errc::out_of_order_sequence);
  EXPECT_EQ(shard_.run([&] { return log->log_end_offset(); }), 5);
  EXPECT_EQ(close(log), std::error_code{});
}

TEST_F(idempotent_log_test, state_survives_clean_restart_and_crash) {
  storage::log_config cfg;
  cfg.segment_bytes = 600;  // rolls often: snapshots are written at rolls
  {
    auto log = open(cfg);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(append_durable(log, idempotent_batch(9, 2, i * 2, 2)));
    EXPECT_EQ(close(log), std::error_code{});
  }
  EXPECT_TRUE(std::filesystem::exists(part_dir() / storage::producer_snapshot_file));
  {
    auto log = open(cfg);
    auto dup = append_durable(log, idempotent_batch(9, 2, 16, 2));
    ASSERT_TRUE(dup);
    EXPECT_TRUE(dup->duplicate);
    EXPECT_EQ(dup->base_offset, 16);
    ASSERT_TRUE(append_durable(log, idempotent_batch(9, 2, 20, 2)));
    // No close: as after kill -9, the state must come from the snapshot plus the log.
    shard_.run([&] { return 0; });
  }
  std::filesystem::remove(part_dir() / storage::producer_snapshot_file);
  auto log = open(cfg);
  auto dup = append_durable(log, idempotent_batch(9, 2, 20, 2));
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->base_offset, 20);
  auto next = append_durable(log, idempotent_batch(9, 2, 22, 1));
  ASSERT_TRUE(next);
  EXPECT_FALSE(next->duplicate);
  EXPECT_EQ(next->base_offset, 22);
  EXPECT_EQ(append(log, idempotent_batch(9, 1, 0, 1)).error(),
            storage::errc::invalid_producer_epoch);
  EXPECT_EQ(close(log), std::error_code{});
}

}  // namespace
}  // namespace riptide::testing
