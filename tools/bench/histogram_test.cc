// The bench's latency histogram: bucket layout and percentiles of known distributions,
// each within the bucket precision the report relies on (1/128 relative).
#include "histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace kefu::bench {
namespace {

constexpr double kPrecision = 1.0 / 128;

void ExpectNear(int64_t got, double want, const char* what) {
  EXPECT_LE(std::abs(static_cast<double>(got) - want), want * kPrecision + 1) << what << ": got " << got
                                                                             << ", want " << want;
}

TEST(LatencyHistogram, BucketsAreContiguousAndNarrow) {
  for (int i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    ASSERT_EQ(LatencyHistogram::BucketHigh(i) + 1, LatencyHistogram::BucketLow(i + 1)) << i;
    int64_t low = LatencyHistogram::BucketLow(i), width = LatencyHistogram::BucketHigh(i) - low + 1;
    if (low >= 128) {
      ASSERT_LE(static_cast<double>(width) / low, 1.0 / 64) << i;
    }
    ASSERT_EQ(LatencyHistogram::BucketIndex(low), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(LatencyHistogram::BucketHigh(i)), i);
  }
  EXPECT_EQ(LatencyHistogram::BucketHigh(LatencyHistogram::kBuckets - 1), LatencyHistogram::kMaxTrackable);
  // 60 s, the longest latency the bench reports, is well inside the range.
  EXPECT_LT(LatencyHistogram::BucketIndex(60'000'000'000), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.Percentile(50), 0);
  EXPECT_EQ(h.max(), 0);
}

TEST(LatencyHistogram, ConstantValueIsExact) {
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) h.Record(1'234'567);
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) EXPECT_EQ(h.Percentile(p), 1'234'567) << p;
  EXPECT_EQ(h.min(), 1'234'567);
  EXPECT_EQ(h.max(), 1'234'567);
  EXPECT_DOUBLE_EQ(h.mean(), 1'234'567);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 50);
  EXPECT_EQ(h.Percentile(90), 90);
  EXPECT_EQ(h.Percentile(99), 99);
  EXPECT_EQ(h.Percentile(100), 100);
}

TEST(LatencyHistogram, UniformMicrosecondsToOneSecond) {
  LatencyHistogram h;
  const int n = 1'000'000;
  for (int i = 1; i <= n; ++i) h.Record(int64_t{i} * 1000);  // 1 µs .. 1 s
  EXPECT_EQ(h.count(), n);
  ExpectNear(h.Percentile(50), 0.5e9, "p50");
  ExpectNear(h.Percentile(90), 0.9e9, "p90");
  ExpectNear(h.Percentile(99), 0.99e9, "p99");
  ExpectNear(h.Percentile(99.9), 0.999e9, "p99.9");
  EXPECT_EQ(h.Percentile(100), 1'000'000'000);
  EXPECT_EQ(h.min(), 1000);
  EXPECT_NEAR(h.mean(), 500'000'500.0, 1);
}

// Exact quantiles of an exponential distribution (mean 2 ms), sampled at evenly spaced
// probabilities so the expected percentiles are known in closed form.
TEST(LatencyHistogram, ExponentialTail) {
  LatencyHistogram h;
  const int n = 200'000;
  const double mean = 2e6;
  for (int i = 1; i <= n; ++i) h.Record(static_cast<int64_t>(-mean * std::log(1.0 - double(i) / (n + 1))));
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    double want = -mean * std::log(1.0 - p / 100.0);
    ExpectNear(h.Percentile(p), want, "exponential");
  }
}

TEST(LatencyHistogram, BimodalPicksTheRightMode) {
  LatencyHistogram h;
  for (int i = 0; i < 980; ++i) h.Record(200'000);    // 200 µs
  for (int i = 0; i < 20; ++i) h.Record(50'000'000);  // 50 ms stalls, 2 %
  ExpectNear(h.Percentile(50), 200'000, "p50");
  ExpectNear(h.Percentile(98), 200'000, "p98");
  ExpectNear(h.Percentile(99), 50'000'000, "p99");
  EXPECT_EQ(h.max(), 50'000'000);
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (int i = 1; i <= 5000; ++i) {
    int64_t v = int64_t{i} * 7919 % 10'000'000;
    (i % 2 ? a : b).Record(v);
    all.Record(v);
  }
  LatencyHistogram merged;
  merged.Merge(a);
  merged.Merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(merged.Percentile(p), all.Percentile(p)) << p;
}

TEST(LatencyHistogram, OutOfRangeValuesAreClamped) {
  LatencyHistogram h;
  h.Record(-5);
  h.Record(int64_t{1} << 50);
  EXPECT_EQ(h.count(), 2);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(LatencyHistogram::BucketIndex(int64_t{1} << 50), LatencyHistogram::kBuckets - 1);
}

}  // namespace
}  // namespace kefu::bench
