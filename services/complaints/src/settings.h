#pragma once
// The deadline policy and business calendar as the service uses them, converted from
// and to their stored proto form; defaults apply until an administrator saves one.

#include "absl/status/statusor.h"
#include "domain.h"
#include "sla.h"

namespace kefu::complaints {

struct Settings {
  DeadlinePolicy policy;
  BusinessCalendar calendar;
  int64_t policy_version = 0;
  int64_t calendar_version = 0;
};

// Monday..Friday 09:00-12:00 and 13:00-18:00 in Asia/Shanghai.
pb::BusinessCalendar DefaultCalendarProto();
absl::StatusOr<BusinessCalendar> CalendarFromProto(const pb::BusinessCalendar& c);
absl::StatusOr<DeadlinePolicy> PolicyFromProto(const pb::DeadlinePolicy& p);
pb::DeadlinePolicy PolicyToProto(const DeadlinePolicy& policy);

}  // namespace kefu::complaints
