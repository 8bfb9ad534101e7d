#include <gtest/gtest.h>

#include <cmath>

#include "ssmlab/stats.h"
#include "ssmlab/timer.h"

namespace st = ssmlab::stats;

TEST(Stats, MeanStdMedian) {
  std::vector<double> x{2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(st::mean(x), 5.0);
  EXPECT_NEAR(st::sample_std(x), std::sqrt(32.0 / 7.0), 1e-12);  // sum of squares 32, n-1 = 7
  EXPECT_DOUBLE_EQ(st::median(x), 4.5);
  EXPECT_EQ(st::sample_std({3.0}), 0.0);
}

TEST(Stats, StudentTQuantileMatchesTables) {
  // Two-sided 95% critical values from standard t tables.
  EXPECT_NEAR(st::student_t_quantile(0.975, 1), 12.7062, 1e-4);
  EXPECT_NEAR(st::student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(st::student_t_quantile(0.975, 9), 2.2622, 1e-4);
  EXPECT_NEAR(st::student_t_quantile(0.975, 30), 2.0423, 1e-4);
  EXPECT_NEAR(st::student_t_quantile(0.975, 1e6), 1.95996, 1e-4);
  EXPECT_NEAR(st::student_t_quantile(0.025, 9), -2.2622, 1e-4);
}

TEST(Stats, Ci95ByHand) {
  // x = 1..5: mean 3, s = sqrt(2.5), t_{0.975,4} = 2.776445, half-width = t * s / sqrt(5)
  std::vector<double> x{1, 2, 3, 4, 5};
  EXPECT_NEAR(st::ci95_halfwidth(x), 2.776445 * std::sqrt(2.5) / std::sqrt(5.0), 1e-5);
  auto s = st::summarize(x);
  EXPECT_EQ(s.n, 5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 5);
}

TEST(Stats, SlopesByHand) {
  auto f = st::linear_fit({0, 1, 2, 3}, {1, 3, 5, 7});
  EXPECT_NEAR(f.slope, 2.0, 1e-12);
  EXPECT_NEAR(f.intercept, 1.0, 1e-12);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
  // y = 3 x^2 → log-log slope 2
  auto g = st::loglog_fit({10, 20, 40, 80}, {300, 1200, 4800, 19200});
  EXPECT_NEAR(g.slope, 2.0, 1e-12);
  // noisy: points (1,1),(2,3),(3,2): slope = sxy/sxx = 1/2
  EXPECT_NEAR(st::linear_fit({1, 2, 3}, {1, 3, 2}).slope, 0.5, 1e-12);
  EXPECT_THROW(st::loglog_fit({1, 2}, {0, 1}), std::invalid_argument);
  EXPECT_THROW(st::linear_fit({1, 1}, {0, 1}), std::invalid_argument);
}

TEST(Timer, RepeatsAndSummaries) {
  int calls = 0;
  auto t = ssmlab::time_repeated([&] { ++calls; }, 2, 5);
  EXPECT_EQ(calls, 7);
  ASSERT_EQ(t.samples_s.size(), 5u);
  EXPECT_LE(t.min_s, t.median_s);
  EXPECT_GE(t.mean_s, 0.0);
}

TEST(Timer, PerCallBatchesShortCalls) {
  long calls = 0;
  volatile double sink = 0;
  auto t = ssmlab::time_per_call([&] { ++calls; sink = sink + 1.0; }, 1e-4, 1, 3);
  ASSERT_EQ(t.samples_s.size(), 3u);
  // a call of nanoseconds needs many calls per 0.1 ms sample: far more calls than 1 + 1 + 3
  EXPECT_GT(calls, 100);
  EXPECT_GT(t.min_s, 0.0);
  EXPECT_LT(t.mean_s, 1e-4);  // per call, not per sample
}
