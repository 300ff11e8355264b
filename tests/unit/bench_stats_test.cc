#include "cli/bench_stats.h"

#include <gtest/gtest.h>

#include <vector>

namespace cli::bench {
namespace {

TEST(BenchHistogram, QuantilesOfOneWindowLeaveEarlierValuesOut) {
  histogram h;
  for (int i = 0; i < 1000; ++i) h.record(100'000'000);  // 100 ms, before the window
  histogram::counts before;
  h.add_to(before);
  for (int i = 0; i < 99; ++i) h.record(1'000'000);  // 1 ms
  h.record(20'000'000);                              // one 20 ms outlier
  histogram::counts now;
  h.add_to(now);

  const auto p50 = histogram::quantile_between(now, before, 0.5);
  const auto top = histogram::quantile_between(now, before, 1.0);
  // Buckets are 1/32 of a power of two wide: the upper edge is within ~3 % above.
  EXPECT_GE(p50, 1'000'000);
  EXPECT_LE(p50, 1'040'000);
  EXPECT_GE(top, 20'000'000);
  EXPECT_LE(top, 20'700'000);
  // Over everything, the median is the 100 ms of the first window.
  EXPECT_GE(histogram::quantile_between(now, {}, 0.5), 100'000'000);
}

TEST(BenchHistogram, AnEmptyWindowHasNoQuantile) {
  histogram h;
  h.record(5'000);
  histogram::counts a, b;
  h.add_to(a);
  h.add_to(b);
  EXPECT_EQ(histogram::quantile_between(b, a, 0.99), 0);
}

// Sleeps never end early, so these bounds hold however loaded the machine is.
TEST(BenchPacer, RunsAtMostOneStepAheadOfSchedule) {
  constexpr double rate = 20'000;  // 50 us apart
  constexpr int64_t step = 1'000'000;
  pacer pace(rate, step);
  const int64_t start = now_ns();
  std::vector<int64_t> sent;
  for (uint64_t i = 0; i < 200; ++i) {
    pace.wait(start, i);
    sent.push_back(now_ns());
  }
  for (uint64_t i = 0; i < sent.size(); ++i) {
    const int64_t due = start + static_cast<int64_t>(i) * 50'000;
    EXPECT_GE(sent[i], due - step) << "record " << i;
  }
  // 200 records at 20,000/s take 10 ms; the last may go out one step early.
  EXPECT_GE(sent.back() - start, 199 * 50'000 - step);
}

TEST(BenchPacer, HandsOverWhatIsDueWithinAStepAndWaitsUntilTheNextIsDue) {
  pacer pace(10'000, 1'000'000);  // 100 us apart, 1 ms step
  const int64_t now = now_ns();
  // Started 5 ms ago: records 0-50 are overdue and 51-60 due within the step.
  EXPECT_GE(pace.due_now(now - 5'000'000, 0, 1000), 61u);
  EXPECT_EQ(pace.due_now(now - 5'000'000, 0, 5), 5u);  // capped
  // Record 0 of a schedule starting in a second: wait until it is due, then it goes alone
  // or with the others due within the step.
  const int64_t later = now + 1'000'000'000;
  EXPECT_EQ(pace.wait_until(later, 0), later);
  EXPECT_EQ(pace.wait_until(later, 3), later + 300'000);
  EXPECT_EQ(pace.wait_until(now - 1'000'000'000, 5), 0);
  EXPECT_EQ(pace.due_now(later, 0, 1000), 1u);
  EXPECT_EQ(pacer(0).wait_until(later, 7), 0);  // flat out
}

TEST(BenchPacer, ASendersOwnWaitIsRepeatedUntilTheRecordIsDue) {
  pacer pace(1'000, 0);  // 1 ms apart
  const int64_t start = now_ns();
  std::vector<int64_t> asked;
  // A wait that returns at once, as one woken by an acknowledgement would.
  pace.wait(start, 5, [&](int64_t ns) { asked.push_back(ns); });
  EXPECT_GE(now_ns(), start + 5'000'000);
  ASSERT_FALSE(asked.empty());
  for (int64_t ns : asked) {
    EXPECT_GT(ns, 0);
    EXPECT_LE(ns, 5'000'000);
  }
  asked.clear();
  pace.wait(start, 2, [&](int64_t ns) { asked.push_back(ns); });  // already due
  EXPECT_TRUE(asked.empty());
}

TEST(BenchPacer, StepZeroWaitsForEachRecordAndFlatOutNever) {
  pacer each(10'000, 0);  // 100 us apart
  const int64_t start = now_ns();
  for (uint64_t i = 0; i < 20; ++i) {
    each.wait(start, i);
    EXPECT_GE(now_ns(), start + static_cast<int64_t>(i) * 100'000) << "record " << i;
  }
  pacer flat(0);
  const int64_t far = now_ns() + 3'600'000'000'000;  // an hour from now
  const int64_t before = now_ns();
  flat.wait(far, 1'000'000);
  EXPECT_LT(now_ns() - before, 1'000'000'000);  // returned without sleeping
}

}  // namespace
}  // namespace cli::bench
