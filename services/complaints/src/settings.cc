#include "settings.h"

#include "absl/strings/str_cat.h"
#include "kefu/errors.h"
#include "kefu/validation.h"

namespace kefu::complaints {

pb::BusinessCalendar DefaultCalendarProto() {
  pb::BusinessCalendar c;
  c.set_time_zone("Asia/Shanghai");
  for (int d = 0; d < 7; ++d) {
    auto* day = c.add_weekly_hours();
    if (d >= 5) continue;  // weekend
    auto* morning = day->add_intervals();
    morning->set_start_minute(9 * 60);
    morning->set_end_minute(12 * 60);
    auto* afternoon = day->add_intervals();
    afternoon->set_start_minute(13 * 60);
    afternoon->set_end_minute(18 * 60);
  }
  return c;
}

namespace {

absl::StatusOr<std::set<absl::CivilDay>> ParseDays(const google::protobuf::RepeatedPtrField<std::string>& days,
                                                   const char* field) {
  std::set<absl::CivilDay> out;
  for (int i = 0; i < days.size(); ++i) {
    KEFU_ASSIGN_OR_RETURN(absl::CivilDay day, ParseDate(absl::StrCat(field, "[", i, "]"), days[i]));
    out.insert(day);
  }
  return out;
}

// The engine reports "field: problem" as plain INVALID_ARGUMENT; give clients the
// usual machine-readable reason as well.
template <typename T>
absl::StatusOr<T> AsFieldError(absl::StatusOr<T> result) {
  if (result.ok() || result.status().code() != absl::StatusCode::kInvalidArgument || !ReasonOf(result.status()).empty())
    return result;
  return MakeError(absl::StatusCode::kInvalidArgument, reason::kFieldInvalid, result.status().message());
}

absl::StatusOr<absl::TimeZone> LoadZone(const std::string& name) {
  absl::TimeZone zone;
  // Fixed offsets work without tzdata; "Asia/Shanghai" is the usual value.
  if (name == "Asia/Shanghai" || name == "Asia/Chongqing" || name == "PRC") {
    if (!absl::LoadTimeZone(name, &zone)) zone = absl::FixedTimeZone(8 * 3600);
    return zone;
  }
  if (name.empty() || !absl::LoadTimeZone(name, &zone))
    return InvalidField("calendar.time_zone", "must be an IANA time zone such as Asia/Shanghai");
  return zone;
}

}  // namespace

absl::StatusOr<BusinessCalendar> CalendarFromProto(const pb::BusinessCalendar& c) {
  KEFU_ASSIGN_OR_RETURN(absl::TimeZone zone, LoadZone(c.time_zone()));
  if (c.weekly_hours_size() != 7)
    return InvalidField("calendar.weekly_hours", "must list 7 days, Monday first");
  BusinessCalendar::WeeklyHours weekly;
  for (int d = 0; d < 7; ++d)
    for (const auto& iv : c.weekly_hours(d).intervals()) weekly[d].push_back({iv.start_minute(), iv.end_minute()});
  KEFU_ASSIGN_OR_RETURN(auto holidays, ParseDays(c.holidays(), "calendar.holidays"));
  KEFU_ASSIGN_OR_RETURN(auto extra, ParseDays(c.extra_working_days(), "calendar.extra_working_days"));
  return AsFieldError(BusinessCalendar::Create(zone, std::move(weekly), std::move(holidays), std::move(extra)));
}

absl::StatusOr<DeadlinePolicy> PolicyFromProto(const pb::DeadlinePolicy& p) {
  std::vector<PolicyRule> rules;
  Validator v;
  for (int i = 0; i < p.rules_size(); ++i) {
    const auto& r = p.rules(i);
    std::string f = absl::StrCat("policy.rules[", i, "]");
    if (r.severity() == pb::SEVERITY_UNSPECIFIED || !pb::Severity_IsValid(r.severity()))
      v.Add(f + ".severity", "is required");
    if (!pb::WorkOrderType_IsValid(r.type())) v.Add(f + ".type", "unknown value");
    PolicyRule rule;
    rule.severity = ToSeverity(r.severity());
    if (r.customer_tier() != 0) rule.tier = r.customer_tier();
    if (r.type() != pb::WORK_ORDER_TYPE_UNSPECIFIED) rule.type = static_cast<int>(r.type());
    rule.respond_within = absl::Seconds(r.respond_within_seconds());
    rule.resolve_within = absl::Seconds(r.resolve_within_seconds());
    rule.around_the_clock = r.around_the_clock();
    rule.escalation_step = absl::Seconds(r.escalation_step_seconds());
    rules.push_back(rule);
  }
  KEFU_RETURN_IF_ERROR(v.Finish());
  return AsFieldError(DeadlinePolicy::Create(std::move(rules)));
}

pb::DeadlinePolicy PolicyToProto(const DeadlinePolicy& policy) {
  pb::DeadlinePolicy out;
  for (const auto& r : policy.rules()) {
    auto* p = out.add_rules();
    p->set_severity(r.severity == Severity::kMajor ? pb::SEVERITY_MAJOR
                    : r.severity == Severity::kMinor ? pb::SEVERITY_MINOR
                                                     : pb::SEVERITY_GENERAL);
    p->set_customer_tier(r.tier.value_or(0));
    p->set_type(static_cast<pb::WorkOrderType>(r.type.value_or(0)));
    p->set_respond_within_seconds(absl::ToInt64Seconds(r.respond_within));
    p->set_resolve_within_seconds(absl::ToInt64Seconds(r.resolve_within));
    p->set_around_the_clock(r.around_the_clock);
    p->set_escalation_step_seconds(absl::ToInt64Seconds(r.escalation_step));
  }
  return out;
}

}  // namespace kefu::complaints
