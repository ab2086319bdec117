#include "kefu/time_util.h"

#include "absl/strings/str_cat.h"

namespace kefu {

google::protobuf::Timestamp ToProtoTime(absl::Time t) {
  google::protobuf::Timestamp ts;
  int64_t us = absl::ToUnixMicros(t);
  int64_t secs = us / 1000000;
  int64_t rem = us % 1000000;
  if (rem < 0) {
    rem += 1000000;
    secs -= 1;
  }
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<int32_t>(rem * 1000));
  return ts;
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string ToSqlTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> FromSqlTime(absl::string_view text) {
  absl::Time t;
  std::string err;
  // The connector returns either "... HH:MM:SS" or with a fraction.
  if (absl::ParseTime("%Y-%m-%d %H:%M:%E*S", std::string(text), absl::UTCTimeZone(), &t, &err))
    return t;
  return absl::InternalError(absl::StrCat("bad DATETIME text '", text, "': ", err));
}

const SystemClock* SystemClock::Instance() {
  static const SystemClock clock;
  return &clock;
}

}  // namespace kefu
