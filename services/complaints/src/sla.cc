#include "sla.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kefu/errors.h"

namespace kefu::complaints {

namespace {

constexpr int kSearchDays = 3 * 366;
const char* const kDayNames[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

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

}  // namespace

BusinessCalendar BusinessCalendar::AlwaysOpen() {
  BusinessCalendar c;
  c.always_open_ = true;
  c.has_working_time_ = true;
  c.zone_ = absl::UTCTimeZone();
  return c;
}

absl::StatusOr<BusinessCalendar> BusinessCalendar::Create(absl::TimeZone zone, WeeklyHours weekly,
                                                          std::set<absl::CivilDay> holidays,
                                                          std::set<absl::CivilDay> extra_working_days) {
  Validator v;
  bool any = false;
  for (int d = 0; d < 7; ++d) {
    int previous_end = -1;
    for (size_t i = 0; i < weekly[d].size(); ++i) {
      const auto& iv = weekly[d][i];
      std::string field = absl::StrCat("calendar.weekly_hours[", kDayNames[d], "][", i, "]");
      if (iv.start_minute < 0 || iv.end_minute > 1440 || iv.start_minute >= iv.end_minute) {
        v.Add(field, "must be a non-empty interval within the day (minutes 0..1440)");
      } else if (iv.start_minute < previous_end) {
        v.Add(field, "overlaps or precedes the previous interval");
      } else {
        previous_end = iv.end_minute;
        any = true;
      }
    }
  }
  KEFU_RETURN_IF_ERROR(v.Finish());
  BusinessCalendar c;
  c.zone_ = zone;
  c.weekly_ = std::move(weekly);
  c.holidays_ = std::move(holidays);
  c.extra_working_days_ = std::move(extra_working_days);
  c.has_working_time_ = any;  // a calendar of only extra days still has no regular hours
  if (!c.weekly_[0].empty() && !c.extra_working_days_.empty()) c.has_working_time_ = true;
  return c;
}

const std::vector<WorkingInterval>& BusinessCalendar::HoursOn(absl::CivilDay day) const {
  static const std::vector<WorkingInterval>* closed = new std::vector<WorkingInterval>();
  if (holidays_.count(day)) return *closed;
  if (extra_working_days_.count(day)) return weekly_[0];
  return weekly_[WeekdayIndex(day)];
}

template <typename Fn>
void BusinessCalendar::ForEachInterval(absl::CivilDay day, Fn fn) const {
  absl::CivilSecond midnight(day);
  for (const auto& iv : HoursOn(day)) {
    absl::Time begin = absl::FromCivil(midnight + iv.start_minute * 60, zone_);
    absl::Time end = absl::FromCivil(midnight + iv.end_minute * 60, zone_);
    if (!fn(begin, end)) return;
  }
}

bool BusinessCalendar::IsWorkingTime(absl::Time t) const {
  if (always_open_) return true;
  bool working = false;
  ForEachInterval(absl::ToCivilDay(t, zone_), [&](absl::Time b, absl::Time e) {
    if (t >= b && t < e) working = true;
    return !working;
  });
  return working;
}

absl::Duration BusinessCalendar::WorkingTimeBetween(absl::Time from, absl::Time to) const {
  if (to <= from) return absl::ZeroDuration();
  if (always_open_) return to - from;
  absl::Duration total;
  absl::CivilDay last = absl::ToCivilDay(to, zone_);
  for (absl::CivilDay day = absl::ToCivilDay(from, zone_); day <= last; ++day) {
    ForEachInterval(day, [&](absl::Time b, absl::Time e) {
      absl::Time lo = std::max(b, from), hi = std::min(e, to);
      if (hi > lo) total += hi - lo;
      return true;
    });
  }
  return total;
}

absl::Time BusinessCalendar::AddWorkingTime(absl::Time start, absl::Duration work) const {
  if (work <= absl::ZeroDuration()) return start;
  if (always_open_) return start + work;
  if (!has_working_time_) return absl::InfiniteFuture();
  absl::Duration remaining = work;
  absl::Time result = absl::InfiniteFuture();
  absl::CivilDay day = absl::ToCivilDay(start, zone_);
  for (int i = 0; i < kSearchDays && result == absl::InfiniteFuture(); ++i, ++day) {
    ForEachInterval(day, [&](absl::Time b, absl::Time e) {
      if (e <= start) return true;
      absl::Time from = std::max(b, start);
      absl::Duration available = e - from;
      if (remaining <= available) {
        result = from + remaining;
        return false;
      }
      remaining -= available;
      return true;
    });
  }
  return result;
}

absl::Status ValidateSlaEvents(const std::vector<SlaEvent>& events) {
  if (events.empty() || events.front().kind != SlaEvent::Kind::kStart)
    return absl::InvalidArgumentError("events: the first event must be a start");
  for (size_t i = 1; i < events.size(); ++i)
    if (events[i].at < events[i - 1].at)
      return absl::InvalidArgumentError(absl::StrCat("events[", i, "]: out of time order"));
  return absl::OkStatus();
}

SlaState ComputeSla(const BusinessCalendar& calendar, absl::Duration budget, const std::vector<SlaEvent>& events,
                    absl::Time now) {
  SlaState st;
  st.budget = budget;
  bool started = false;
  absl::Time run_start, pause_start;
  // Adds a running segment and notes the moment the budget ran out, if it did in it.
  auto run_until = [&](absl::Time end) {
    absl::Duration before = st.used;
    st.used += calendar.WorkingTimeBetween(run_start, end);
    if (before <= budget && st.used > budget && st.breached_at == absl::InfinitePast())
      st.breached_at = calendar.AddWorkingTime(run_start, budget - before);
  };
  for (const auto& e : events) {
    if (e.at > now) break;
    switch (e.kind) {
      case SlaEvent::Kind::kStart:
        if (!started) {
          started = true;
          st.running = true;
          run_start = e.at;
        }
        break;
      case SlaEvent::Kind::kPause:
        if (st.running) {
          run_until(e.at);
          st.running = false;
          st.paused = true;
          pause_start = e.at;
        }
        break;
      case SlaEvent::Kind::kResume:
        if (st.paused && !st.stopped) {
          st.paused_wall_time += e.at - pause_start;
          st.paused = false;
          st.running = true;
          run_start = e.at;
        }
        break;
      case SlaEvent::Kind::kStop:
        if (st.stopped) break;
        if (st.running) run_until(e.at);
        if (st.paused) st.paused_wall_time += e.at - pause_start;
        st.running = st.paused = false;
        st.stopped = true;
        break;
    }
  }
  if (st.running) {
    absl::Duration before = st.used;
    run_until(now);
    // The instant the budget runs out on this run (in the past if already breached).
    st.deadline = before > budget ? st.breached_at : calendar.AddWorkingTime(run_start, budget - before);
  }
  if (st.paused) st.paused_wall_time += now - pause_start;
  st.breached = st.used > budget;
  if (!st.breached) st.breached_at = absl::InfinitePast();
  st.used_fraction = budget > absl::ZeroDuration() ? absl::FDivDuration(st.used, budget) : 1.0;
  return st;
}

bool AtRisk(const SlaState& state, double threshold) {
  return state.running && !state.breached && state.used_fraction >= threshold;
}

DeadlinePolicy DeadlinePolicy::Defaults() {
  auto step = [](absl::Duration resolve) { return std::max(resolve / 2, absl::Minutes(30)); };
  std::vector<PolicyRule> rules;
  struct Base {
    Severity severity;
    absl::Duration respond, resolve;
    bool around_the_clock;
  };
  for (const Base& b : {Base{Severity::kMajor, absl::Hours(1), absl::Hours(8), true},
                        Base{Severity::kGeneral, absl::Hours(4), absl::Hours(24), false},
                        Base{Severity::kMinor, absl::Hours(8), absl::Hours(40), false}}) {
    rules.push_back({b.severity, std::nullopt, std::nullopt, b.respond, b.resolve, b.around_the_clock, step(b.resolve)});
    rules.push_back({b.severity, 4, std::nullopt, b.respond / 2, b.resolve / 2, true, step(b.resolve / 2)});
  }
  DeadlinePolicy p;
  p.rules_ = std::move(rules);
  return p;
}

absl::StatusOr<DeadlinePolicy> DeadlinePolicy::Create(std::vector<PolicyRule> rules) {
  Validator v;
  std::set<std::tuple<int, int, int>> keys;
  std::set<int> catch_all;
  for (size_t i = 0; i < rules.size(); ++i) {
    const auto& r = rules[i];
    std::string f = absl::StrCat("policy.rules[", i, "]");
    if (r.respond_within <= absl::ZeroDuration()) v.Add(f + ".respond_within_seconds", "must be positive");
    if (r.resolve_within <= absl::ZeroDuration()) v.Add(f + ".resolve_within_seconds", "must be positive");
    if (r.respond_within > r.resolve_within) v.Add(f + ".respond_within_seconds", "must not exceed resolve_within");
    if (r.escalation_step <= absl::ZeroDuration()) v.Add(f + ".escalation_step_seconds", "must be positive");
    if (r.tier && (*r.tier < 1 || *r.tier > 4)) v.Add(f + ".customer_tier", "must be 0 (any) or 1 to 4");
    if (!keys.insert({static_cast<int>(r.severity), r.tier.value_or(0), r.type.value_or(0)}).second)
      v.Add(f, "duplicates another rule's severity, tier and type");
    if (!r.tier && !r.type) catch_all.insert(static_cast<int>(r.severity));
  }
  for (Severity s : {Severity::kMajor, Severity::kGeneral, Severity::kMinor})
    if (!catch_all.count(static_cast<int>(s)))
      v.Add("policy.rules", absl::StrCat("needs a rule for every tier and type of severity ", static_cast<int>(s) + 1));
  KEFU_RETURN_IF_ERROR(v.Finish());
  DeadlinePolicy p;
  p.rules_ = std::move(rules);
  return p;
}

const PolicyRule& DeadlinePolicy::Match(Severity severity, int tier, int type) const {
  const PolicyRule* best = nullptr;
  int best_score = -1;
  for (const auto& r : rules_) {
    if (r.severity != severity) continue;
    if (r.tier && *r.tier != tier) continue;
    if (r.type && *r.type != type) continue;
    int score = (r.type ? 2 : 0) + (r.tier ? 1 : 0);
    if (score > best_score) {
      best = &r;
      best_score = score;
    }
  }
  // Create() guarantees a catch-all per severity.
  return *best;
}

EscalationLevel InitialLevel(Severity severity) {
  return severity == Severity::kMajor ? EscalationLevel::kSeniorManagement : EscalationLevel::kHandler;
}

EscalationDecision DecideEscalation(EscalationLevel current, absl::Time level_deadline, absl::Time now) {
  EscalationDecision d;
  if (current == EscalationLevel::kSeniorManagement || !(now > level_deadline)) return d;
  d.escalate = true;
  d.to = static_cast<EscalationLevel>(static_cast<int>(current) + 1);
  return d;
}

absl::Time NextLevelDeadline(const BusinessCalendar& calendar, const PolicyRule& rule, absl::Time escalated_at) {
  return calendar.AddWorkingTime(escalated_at, rule.escalation_step);
}

}  // namespace kefu::complaints
