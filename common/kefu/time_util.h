#pragma once
// Conversions between protobuf Timestamps, absl::Time and the UTC DATETIME(6) text the
// database stores, plus the injectable clock every time-dependent rule takes.

#include "absl/strings/string_view.h"
#include <google/protobuf/timestamp.pb.h>

#include <atomic>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace kefu {

google::protobuf::Timestamp ToProtoTime(absl::Time t);
absl::Time FromProtoTime(const google::protobuf::Timestamp& ts);
// "2026-11-24 08:30:00.123456" in UTC, the form DATETIME(6) columns take.
std::string ToSqlTime(absl::Time t);
absl::StatusOr<absl::Time> FromSqlTime(absl::string_view text);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static const SystemClock* Instance();
};

// The system clock moved by a fixed offset, for rehearsing past or future weeks against
// the real binaries in development (the servers' --clock_offset).
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(absl::Duration offset) : offset_(offset) {}
  absl::Time Now() const override { return absl::Now() + offset_; }

 private:
  absl::Duration offset_;
};

// A clock tests move by hand.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override { return absl::FromUnixNanos(now_ns_.load()); }
  void Set(absl::Time t) { now_ns_ = absl::ToUnixNanos(t); }
  void Advance(absl::Duration d) { now_ns_ += absl::ToInt64Nanoseconds(d); }

 private:
  std::atomic<int64_t> now_ns_;
};

}  // namespace kefu
