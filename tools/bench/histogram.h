#pragma once
// Latency histogram with log-linear buckets (HdrHistogram's layout, two significant
// binary digits of 6 bits): values below 128 ns are exact, above that every power of two
// is split into 64 equal buckets, so a reported percentile is within 1/128 (0.8 %) of a
// recorded value. Fixed memory (~18 KiB), O(1) Record; one per thread, merged at the end,
// so no locking on the hot path.

#include <array>
#include <cstdint>

namespace kefu::bench {

class LatencyHistogram {
 public:
  // Values above this (about 18 minutes) are counted in the last bucket.
  static constexpr int64_t kMaxTrackable = (int64_t{1} << 40) - 1;
  static constexpr int kSubBits = 7;
  static constexpr int kBuckets = (1 << kSubBits) + (40 - kSubBits) * (1 << (kSubBits - 1));

  // Nanoseconds; negatives count as 0.
  void Record(int64_t nanos);
  void Merge(const LatencyHistogram& other);

  int64_t count() const { return count_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // Value at or below which `percent` (0..100] of the recordings fall: the midpoint of
  // the bucket holding that rank, clamped to the exact min and max; 0 when empty.
  int64_t Percentile(double percent) const;

  static int BucketIndex(int64_t nanos);
  // Smallest and largest value that land in bucket `index`.
  static int64_t BucketLow(int index);
  static int64_t BucketHigh(int index);

 private:
  std::array<int64_t, kBuckets> counts_{};
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  // int64 ns overflows after ~290 years of summed latency: not a concern here.
  int64_t sum_ = 0;
};

}  // namespace kefu::bench
