#include "cli/bench_stats.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cli::bench
