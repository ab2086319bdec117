#include "sla.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kefu::complaints {

namespace {

// How far AddWorkingTime looks for working time before giving up. Three years covers
// any real budget and keeps a calendar that (nearly) never opens from looping.
constexpr int kSearchDays = 3 * 366;
constexpr int kMinutesPerDay = 24 * 60;

constexpr const char* kDayNames[] = {"monday", "tuesday", "wednesday", "thursday",
                                     "friday", "saturday", "sunday"};

int WeekdayIndex(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday: return 0;
    case absl::Weekday::tuesday: return 1;
    case absl::Weekday::wednesday: return 2;
    case absl::Weekday::thursday: return 3;
    case absl::Weekday::friday: return 4;
    case absl::Weekday::saturday: return 5;
    case absl::Weekday::sunday: return 6;
  }
  return 0;
}

// Field problems collected across a whole input, reported as one INVALID_ARGUMENT
// ("field: description; field: description") so a caller can fix everything at once.
class Problems {
 public:
  void Add(absl::string_view field, absl::string_view description) {
    messages_.push_back(absl::StrCat(field, ": ", description));
  }
  absl::Status Finish() const {
    if (messages_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(messages_, "; "));
  }

 private:
  std::vector<std::string> messages_;
};

void CheckWeeklyHours(const BusinessCalendar::WeeklyHours& weekly, Problems& problems) {
  for (int day = 0; day < 7; ++day) {
    const WorkingInterval* previous = nullptr;  // the last well-formed interval of the day
    for (size_t i = 0; i < weekly[day].size(); ++i) {
      const WorkingInterval& interval = weekly[day][i];
      const std::string field = absl::StrCat("calendar.weekly_hours[", kDayNames[day], "][", i, "]");
      if (interval.start_minute < 0 || interval.start_minute > kMinutesPerDay || interval.end_minute < 0 ||
          interval.end_minute > kMinutesPerDay) {
        problems.Add(field, "must lie within the day (minutes 0 to 1440)");
        continue;
      }
      if (interval.start_minute >= interval.end_minute) {
        problems.Add(field, "must end after it starts");
        continue;
      }
      if (previous != nullptr && interval.start_minute < previous->start_minute) {
        problems.Add(field, "starts before the previous interval (list intervals in time order)");
      } else if (previous != nullptr && interval.start_minute < previous->end_minute) {
        problems.Add(field, "overlaps the previous interval");
      }
      previous = &interval;
    }
  }
}

const PolicyRule* MostSpecificRule(const std::vector<PolicyRule>& rules, Severity severity, int tier, int type) {
  const PolicyRule* best = nullptr;
  int best_score = -1;
  for (const PolicyRule& rule : rules) {
    if (rule.severity != severity) continue;
    if (rule.tier && *rule.tier != tier) continue;
    if (rule.type && *rule.type != type) continue;
    // The type says more about the work than the tier does, so type outranks tier.
    const int score = (rule.type ? 2 : 0) + (rule.tier ? 1 : 0);
    if (score > best_score) {
      best = &rule;
      best_score = score;
    }
  }
  return best;
}

}  // namespace

absl::string_view SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kMajor: return "major";
    case Severity::kGeneral: return "general";
    case Severity::kMinor: return "minor";
  }
  return "unknown";
}

absl::string_view EscalationLevelName(EscalationLevel level) {
  switch (level) {
    case EscalationLevel::kHandler: return "handler";
    case EscalationLevel::kDepartmentManager: return "department manager";
    case EscalationLevel::kSeniorManagement: return "senior management";
  }
  return "unknown";
}

// ---- Business calendar ----

BusinessCalendar BusinessCalendar::AlwaysOpen() {
  BusinessCalendar calendar;
  calendar.always_open_ = true;
  return calendar;
}

absl::StatusOr<BusinessCalendar> BusinessCalendar::Create(absl::TimeZone zone, WeeklyHours weekly,
                                                          std::set<absl::CivilDay> holidays,
                                                          std::set<absl::CivilDay> extra_working_days) {
  Problems problems;
  CheckWeeklyHours(weekly, problems);
  if (absl::Status status = problems.Finish(); !status.ok()) return status;

  BusinessCalendar calendar;
  calendar.zone_ = zone;
  calendar.weekly_ = std::move(weekly);
  calendar.holidays_ = std::move(holidays);
  calendar.extra_working_days_ = std::move(extra_working_days);
  // Extra working days borrow Monday's hours, so without weekly hours nothing ever opens.
  calendar.has_weekly_hours_ = std::any_of(calendar.weekly_.begin(), calendar.weekly_.end(),
                                           [](const auto& day) { return !day.empty(); });
  return calendar;
}

absl::StatusOr<BusinessCalendar> BusinessCalendar::Create(absl::string_view zone_name, WeeklyHours weekly,
                                                          std::set<absl::CivilDay> holidays,
                                                          std::set<absl::CivilDay> extra_working_days) {
  absl::TimeZone zone;
  // An empty name is a missing setting, not a request for UTC.
  if (zone_name.empty() || !absl::LoadTimeZone(zone_name, &zone)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calendar.time_zone: '", zone_name, "' is not a known IANA time zone such as Asia/Shanghai"));
  }
  return Create(zone, std::move(weekly), std::move(holidays), std::move(extra_working_days));
}

const std::vector<WorkingInterval>& BusinessCalendar::HoursOn(absl::CivilDay day) const {
  static const auto* const kClosed = new std::vector<WorkingInterval>();
  if (holidays_.count(day) > 0) return *kClosed;
  if (extra_working_days_.count(day) > 0) return weekly_[0];
  return weekly_[WeekdayIndex(day)];
}

template <typename Visitor>
void BusinessCalendar::ForEachInterval(absl::CivilDay day, Visitor visit) const {
  const absl::CivilSecond midnight(day);
  for (const WorkingInterval& interval : HoursOn(day)) {
    absl::Time open = absl::FromCivil(midnight + interval.start_minute * 60, zone_);
    absl::Time close = absl::FromCivil(midnight + interval.end_minute * 60, zone_);
    if (!visit(open, close)) return;
  }
}

bool BusinessCalendar::IsWorkingTime(absl::Time t) const {
  if (always_open_) return true;
  if (!has_weekly_hours_ || t == absl::InfinitePast() || t == absl::InfiniteFuture()) return false;
  bool working = false;
  ForEachInterval(absl::ToCivilDay(t, zone_), [&](absl::Time open, absl::Time close) {
    working = open <= t && t < close;
    return !working;
  });
  return working;
}

absl::Duration BusinessCalendar::WorkingTimeBetween(absl::Time from, absl::Time to) const {
  if (to <= from) return absl::ZeroDuration();
  if (always_open_) return to - from;
  if (!has_weekly_hours_) return absl::ZeroDuration();
  // Weekly hours recur forever while holidays are finitely many.
  if (from == absl::InfinitePast() || to == absl::InfiniteFuture()) return absl::InfiniteDuration();
  absl::Duration total = absl::ZeroDuration();
  const absl::CivilDay last = absl::ToCivilDay(to, zone_);
  for (absl::CivilDay day = absl::ToCivilDay(from, zone_); day <= last; ++day) {
    ForEachInterval(day, [&](absl::Time open, absl::Time close) {
      absl::Time lo = std::max(open, from);
      absl::Time hi = std::min(close, to);
      if (hi > lo) total += hi - lo;
      return true;
    });
  }
  return total;
}

absl::Time BusinessCalendar::AddWorkingTime(absl::Time start, absl::Duration work) const {
  if (work <= absl::ZeroDuration()) return start;
  if (start == absl::InfiniteFuture() || work == absl::InfiniteDuration()) return absl::InfiniteFuture();
  if (always_open_) return start + work;
  if (!has_weekly_hours_) return absl::InfiniteFuture();
  // Whole intervals at a time: a five-day budget visits about ten of them.
  absl::Duration remaining = work;
  absl::Time finish = absl::InfiniteFuture();
  absl::CivilDay day = absl::ToCivilDay(start, zone_);
  for (int searched = 0; searched < kSearchDays && finish == absl::InfiniteFuture(); ++searched, ++day) {
    ForEachInterval(day, [&](absl::Time open, absl::Time close) {
      const absl::Time counting_from = std::max(open, start);
      if (close <= counting_from) return true;  // over before counting starts
      const absl::Duration available = close - counting_from;
      if (remaining <= available) {
        finish = counting_from + remaining;
        return false;
      }
      remaining -= available;
      return true;
    });
  }
  return finish;
}

// ---- SLA clocks ----

absl::Status ValidateSlaEvents(const std::vector<SlaEvent>& events) {
  if (events.empty()) return absl::InvalidArgumentError("events: must begin with a start, but there are none");
  if (events.front().kind != SlaEvent::Kind::kStart)
    return absl::InvalidArgumentError("events[0]: the first event must be a start");
  for (size_t i = 1; i < events.size(); ++i) {
    if (events[i].at < events[i - 1].at)
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "]: is earlier than events[", i - 1, "]"));
  }
  return absl::OkStatus();
}

SlaState ComputeSla(const BusinessCalendar& calendar, absl::Duration budget, const std::vector<SlaEvent>& events,
                    absl::Time now) {
  SlaState state;
  state.budget = budget;
  bool started = false;
  absl::Time running_since;  // start of the current running stretch
  absl::Time paused_since;

  // Ends the running stretch at `end`: counts its working time and returns its
  // deadline, the moment the budget left at the start of the stretch runs out (at once
  // when nothing is left). Running past it is the breach; the first one missed counts.
  auto end_stretch = [&](absl::Time end) {
    absl::Time due = state.breached_at;
    if (!state.breached) {
      due = calendar.AddWorkingTime(running_since, budget - state.used);
      if (end > due) {
        state.breached = true;
        state.breached_at = due;
      }
    }
    state.used += calendar.WorkingTimeBetween(running_since, end);
    return due;
  };

  for (const SlaEvent& event : events) {
    if (event.at > now) break;
    switch (event.kind) {
      case SlaEvent::Kind::kStart:
        if (started) break;
        started = true;
        state.running = true;
        running_since = event.at;
        break;
      case SlaEvent::Kind::kPause:
        if (!state.running) break;
        end_stretch(event.at);
        state.running = false;
        state.paused = true;
        paused_since = event.at;
        break;
      case SlaEvent::Kind::kResume:
        if (!state.paused) break;
        state.paused_wall_time += event.at - paused_since;
        state.paused = false;
        state.running = true;
        running_since = event.at;
        break;
      case SlaEvent::Kind::kStop:
        if (!started || state.stopped) break;
        if (state.running) end_stretch(event.at);
        if (state.paused) state.paused_wall_time += event.at - paused_since;
        state.running = false;
        state.paused = false;
        state.stopped = true;
        break;
    }
  }

  // Measured from the start of the stretch, not from now, so the deadline stays put
  // however often the clock is recomputed.
  if (state.running) state.deadline = end_stretch(now);
  if (state.paused) state.paused_wall_time += now - paused_since;
  state.used_fraction = budget > absl::ZeroDuration() ? absl::FDivDuration(state.used, budget) : 1.0;
  return state;
}

bool AtRisk(const SlaState& state, double threshold) {
  return state.running && !state.breached && state.used_fraction >= threshold;
}

// ---- Deadline policy ----

absl::Duration DefaultEscalationStep(absl::Duration resolve_within) {
  return std::max(resolve_within / 2, absl::Minutes(30));
}

DeadlinePolicy DeadlinePolicy::Defaults() {
  struct Row {
    Severity severity;
    absl::Duration respond_within;
    absl::Duration resolve_within;
    bool around_the_clock;
  };
  constexpr int kPlatinumTier = 4;
  DeadlinePolicy policy;
  for (const Row& row : {Row{Severity::kMajor, absl::Hours(1), absl::Hours(8), true},
                         Row{Severity::kGeneral, absl::Hours(4), absl::Hours(24), false},
                         Row{Severity::kMinor, absl::Hours(8), absl::Hours(40), false}}) {
    policy.rules_.push_back({row.severity, std::nullopt, std::nullopt, row.respond_within, row.resolve_within,
                             row.around_the_clock, DefaultEscalationStep(row.resolve_within)});
    policy.rules_.push_back({row.severity, kPlatinumTier, std::nullopt, row.respond_within / 2,
                             row.resolve_within / 2, true, DefaultEscalationStep(row.resolve_within / 2)});
  }
  return policy;
}

absl::StatusOr<DeadlinePolicy> DeadlinePolicy::Create(std::vector<PolicyRule> rules) {
  Problems problems;
  using Key = std::tuple<Severity, int, int>;  // 0 stands for "any" tier or type
  std::vector<std::pair<Key, size_t>> first_with_key;
  std::set<Severity> with_catch_all;
  for (size_t i = 0; i < rules.size(); ++i) {
    const PolicyRule& rule = rules[i];
    const std::string field = absl::StrCat("policy.rules[", i, "]");
    const int severity = static_cast<int>(rule.severity);
    if (severity < static_cast<int>(Severity::kMajor) || severity > static_cast<int>(Severity::kMinor)) {
      problems.Add(field + ".severity", "must be major, general or minor");
      continue;
    }
    if (rule.respond_within <= absl::ZeroDuration())
      problems.Add(field + ".respond_within_seconds", "must be positive");
    if (rule.resolve_within <= absl::ZeroDuration())
      problems.Add(field + ".resolve_within_seconds", "must be positive");
    if (rule.respond_within > rule.resolve_within)
      problems.Add(field + ".respond_within_seconds", "must not exceed resolve_within_seconds");
    if (rule.escalation_step <= absl::ZeroDuration())
      problems.Add(field + ".escalation_step_seconds", "must be positive");
    const bool bad_tier = rule.tier && (*rule.tier < 1 || *rule.tier > 4);
    const bool bad_type = rule.type && *rule.type < 1;
    if (bad_tier) problems.Add(field + ".customer_tier", "must be 1 to 4, or unset for any tier");
    if (bad_type) problems.Add(field + ".type", "must be a work-order type (1 or more), or unset for any type");
    // A bad tier or type has no key worth comparing (0 would read as "any").
    if (bad_tier || bad_type) continue;

    // Two rules with one key would make Match depend on the order of the rules.
    const Key key{rule.severity, rule.tier.value_or(0), rule.type.value_or(0)};
    auto earlier = std::find_if(first_with_key.begin(), first_with_key.end(),
                                [&](const auto& entry) { return entry.first == key; });
    if (earlier != first_with_key.end()) {
      problems.Add(field, absl::StrCat("duplicates policy.rules[", earlier->second,
                                       "] (same severity, tier and type)"));
    } else {
      first_with_key.emplace_back(key, i);
    }
    if (!rule.tier && !rule.type) with_catch_all.insert(rule.severity);
  }
  for (Severity severity : {Severity::kMajor, Severity::kGeneral, Severity::kMinor}) {
    if (with_catch_all.count(severity) == 0) {
      problems.Add("policy.rules", absl::StrCat("needs a catch-all rule (any tier and type) for severity ",
                                                SeverityName(severity)));
    }
  }
  if (absl::Status status = problems.Finish(); !status.ok()) return status;
  DeadlinePolicy policy;
  policy.rules_ = std::move(rules);
  return policy;
}

const PolicyRule& DeadlinePolicy::Match(Severity severity, int tier, int type) const {
  if (const PolicyRule* rule = MostSpecificRule(rules_, severity, tier, type)) return *rule;
  // Only an empty (default-constructed) policy, or a severity outside the enum, gets here.
  static const DeadlinePolicy* const kDefaults = new DeadlinePolicy(Defaults());
  if (const PolicyRule* rule = MostSpecificRule(kDefaults->rules_, severity, tier, type)) return *rule;
  return kDefaults->rules_.front();  // the strictest: major, any tier
}

// ---- Escalation ----

EscalationLevel InitialLevel(Severity severity) {
  return severity == Severity::kMajor ? EscalationLevel::kSeniorManagement : EscalationLevel::kHandler;
}

EscalationDecision DecideEscalation(EscalationLevel current, absl::Time level_deadline, absl::Time now,
                                    absl::string_view deadline_name) {
  EscalationDecision decision;
  decision.to = current;
  if (!(now > level_deadline)) return decision;  // a deadline exactly at now is still met
  decision.reason = absl::StrCat(deadline_name, deadline_name.empty() ? "" : " ", "deadline missed at ",
                                 EscalationLevelName(current), " level");
  if (current >= EscalationLevel::kSeniorManagement) {
    absl::StrAppend(&decision.reason, "; there is no higher level");
    return decision;
  }
  decision.escalate = true;
  decision.to = static_cast<EscalationLevel>(static_cast<int>(current) + 1);
  return decision;
}

absl::Time NextLevelDeadline(const BusinessCalendar& business, const PolicyRule& rule, absl::Time escalated_at) {
  static const BusinessCalendar* const kAroundTheClock = new BusinessCalendar(BusinessCalendar::AlwaysOpen());
  const BusinessCalendar& calendar = rule.around_the_clock ? *kAroundTheClock : business;
  return calendar.AddWorkingTime(escalated_at, rule.escalation_step);
}

absl::Time GoverningDeadline(bool responded, absl::Time response_deadline, absl::Time resolution_deadline,
                             absl::Time level_deadline) {
  return std::min(level_deadline, responded ? resolution_deadline : response_deadline);
}

}  // namespace kefu::complaints
