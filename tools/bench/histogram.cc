#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace kefu::bench {
namespace {
constexpr int kSub = 1 << LatencyHistogram::kSubBits;  // exact range and bucket stride
constexpr int kHalf = kSub / 2;                         // buckets per power of two above it
}  // namespace

int LatencyHistogram::BucketIndex(int64_t v) {
  if (v < 0) v = 0;
  if (v > kMaxTrackable) v = kMaxTrackable;
  if (v < kSub) return static_cast<int>(v);
  int msb = 63 - __builtin_clzll(static_cast<uint64_t>(v));
  int shift = msb - (kSubBits - 1);  // leaves v >> shift in [kHalf, kSub)
  return kSub + (shift - 1) * kHalf + static_cast<int>((v >> shift) - kHalf);
}

int64_t LatencyHistogram::BucketLow(int index) {
  if (index < kSub) return index;
  int j = index - kSub;
  int shift = j / kHalf + 1;
  return static_cast<int64_t>(j % kHalf + kHalf) << shift;
}

int64_t LatencyHistogram::BucketHigh(int index) {
  if (index < kSub) return index;
  int shift = (index - kSub) / kHalf + 1;
  return BucketLow(index) + (int64_t{1} << shift) - 1;
}

void LatencyHistogram::Record(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  ++counts_[BucketIndex(nanos)];
  if (count_ == 0 || nanos < min_) min_ = nanos;
  max_ = std::max(max_, nanos);
  ++count_;
  sum_ += nanos;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

int64_t LatencyHistogram::Percentile(double percent) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<int64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<int64_t>(rank, 1, count_);
  int64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      int64_t mid = BucketLow(i) + (BucketHigh(i) - BucketLow(i)) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace kefu::bench
