#pragma once
// The deadline engine of the complaints service, pure: a business calendar that
// counts working time, SLA clocks computed from an event history, the deadline policy
// and the escalation rules. Plain C++ and Abseil only (no proto, gRPC or database), so
// every rule here is unit-tested with exact times in tests/complaints_sla_test.cc.
//
// Clocks are recomputed from their full event history every time instead of being
// updated incrementally: after a severity change (a different budget) or a calendar
// change (a new holiday) the same history gives the same, correct answer.
//
// Default deadline policy (DeadlinePolicy::Defaults()); a working day of the default
// calendar is 8 hours (09:00-12:00 and 13:00-18:00, Monday to Friday):
//
//   severity  customer tier  respond within   resolve within            counts on  escalation step
//   major     any            1 h              8 h                       24x7       4 h
//   general   any            4 working h      24 working h (3 days)     calendar   12 working h
//   minor     any            8 working h      40 working h (5 days)     calendar   20 working h
//   major     4 (platinum)   30 min           4 h                       24x7       2 h
//   general   4 (platinum)   2 h              12 h                      24x7       6 h
//   minor     4 (platinum)   4 h              20 h                      24x7       10 h
//
// Platinum customers get every severity around the clock with the budgets halved.
// The escalation step is how long an escalated level has to act before the next
// escalation: half the resolution budget, at least 30 minutes (DefaultEscalationStep).

#include <array>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace kefu::complaints {

enum class Severity { kMajor, kGeneral, kMinor };
enum class EscalationLevel { kHandler = 0, kDepartmentManager = 1, kSeniorManagement = 2 };

// "major", "general", "minor".
absl::string_view SeverityName(Severity severity);
// "handler", "department manager", "senior management".
absl::string_view EscalationLevelName(EscalationLevel level);

// ---- Business calendar ----

// Working hours [start_minute, end_minute) counted from local midnight; 0..1440.
struct WorkingInterval {
  int start_minute;
  int end_minute;
};

// Which instants are working time, in one time zone. Holidays are closed all day.
// Extra working days (调休, a weekend day worked to make up for a holiday) are worked
// with Monday's hours. A day listed both as a holiday and as an extra working day is a
// holiday: closing by mistake is the safer error for deadlines.
class BusinessCalendar {
 public:
  // Index 0 = Monday .. 6 = Sunday.
  using WeeklyHours = std::array<std::vector<WorkingInterval>, 7>;

  // Every instant is working time (the 24x7 calendar of around-the-clock rules).
  static BusinessCalendar AlwaysOpen();

  // Each day's intervals must be non-empty, within minutes 0..1440, sorted and not
  // overlapping (touching is fine). INVALID_ARGUMENT names every bad interval, e.g.
  // "calendar.weekly_hours[monday][1]: overlaps the previous interval".
  static absl::StatusOr<BusinessCalendar> Create(absl::TimeZone zone, WeeklyHours weekly,
                                                 std::set<absl::CivilDay> holidays,
                                                 std::set<absl::CivilDay> extra_working_days);
  // Same, loading an IANA zone such as "Asia/Shanghai" (needs tzdata; "UTC" does not).
  // An unknown zone is INVALID_ARGUMENT on "calendar.time_zone".
  static absl::StatusOr<BusinessCalendar> Create(absl::string_view zone_name, WeeklyHours weekly,
                                                 std::set<absl::CivilDay> holidays,
                                                 std::set<absl::CivilDay> extra_working_days);

  bool IsWorkingTime(absl::Time t) const;

  // Working time in [from, to); zero when to <= from.
  absl::Duration WorkingTimeBetween(absl::Time from, absl::Time to) const;

  // The first instant at which `work` of working time has elapsed after `start`;
  // counting begins at the next opening when start is outside working hours. Work
  // that fills an interval exactly ends at its closing time (18:00, not 09:00 the next
  // morning). Zero or negative work returns `start`. InfiniteFuture when the work does
  // not fit within three years (a calendar without working time never fits).
  absl::Time AddWorkingTime(absl::Time start, absl::Duration work) const;

  bool always_open() const { return always_open_; }
  absl::TimeZone zone() const { return zone_; }

 private:
  BusinessCalendar() = default;

  // The hours that apply on `day`, after holidays and extra working days.
  const std::vector<WorkingInterval>& HoursOn(absl::CivilDay day) const;
  // Calls visit(open, close) for each working interval of `day` in time order, as
  // absolute times; stops early when visit returns false.
  template <typename Visitor>
  void ForEachInterval(absl::CivilDay day, Visitor visit) const;

  bool always_open_ = false;
  absl::TimeZone zone_ = absl::UTCTimeZone();
  WeeklyHours weekly_;
  std::set<absl::CivilDay> holidays_;
  std::set<absl::CivilDay> extra_working_days_;
  bool has_weekly_hours_ = false;  // some weekday has an interval
};

// ---- SLA clocks ----

struct SlaEvent {
  enum class Kind { kStart, kPause, kResume, kStop };
  absl::Time at;
  Kind kind;
};

struct SlaState {
  absl::Duration budget;
  absl::Duration used;              // working time counted while running
  absl::Duration paused_wall_time;  // wall-clock time spent paused (up to now or the stop)
  bool running = false;
  bool paused = false;
  bool stopped = false;
  // When the budget runs out while running: in the past once breached (= breached_at),
  // InfiniteFuture while paused or stopped, or when the calendar never opens.
  absl::Time deadline = absl::InfiniteFuture();
  double used_fraction = 0;  // used / budget, above 1 once overrun; 1 for a zero budget
  // The clock ran past its deadline (at now, or before the stop). A deadline exactly at
  // now is not yet breached. Inside working hours this is exactly used > budget; a
  // deadline at closing time is breached just after closing although no working time
  // has accrued since: the work was due by then.
  bool breached = false;
  absl::Time breached_at = absl::InfinitePast();  // the deadline that was missed
};

// OK when there is at least one event, the first is a start and times never decrease.
absl::Status ValidateSlaEvents(const std::vector<SlaEvent>& events);

// The clock at `now` from its history (sorted by time, see ValidateSlaEvents). Events
// after now are ignored, so a history may be replayed at any past moment. Events that
// change nothing are ignored: a second start, pause or stop, a resume while running,
// anything before the start or after the stop.
SlaState ComputeSla(const BusinessCalendar& calendar, absl::Duration budget,
                    const std::vector<SlaEvent>& events, absl::Time now);

// Running, not breached, and at least `threshold` (0..1, e.g. 0.8) of the budget used.
bool AtRisk(const SlaState& state, double threshold);

// ---- Deadline policy ----

struct PolicyRule {
  Severity severity;
  std::optional<int> tier;  // customer tier 1..4; nullopt = any
  std::optional<int> type;  // work-order type number (1 or more); nullopt = any
  absl::Duration respond_within;
  absl::Duration resolve_within;
  bool around_the_clock = false;  // counts on the 24x7 calendar, not business hours
  absl::Duration escalation_step;
};

// Half the resolution budget, at least 30 minutes.
absl::Duration DefaultEscalationStep(absl::Duration resolve_within);

class DeadlinePolicy {
 public:
  // Empty; Match falls back to the defaults. Use Defaults() or Create().
  DeadlinePolicy() = default;

  // The table at the top of this file.
  static DeadlinePolicy Defaults();
  // Rejects, naming the field (proto names, e.g. "policy.rules[2].resolve_within_seconds"):
  // non-positive durations, respond_within > resolve_within, a tier outside 1..4, a type
  // below 1, two rules with the same severity, tier and type, and a severity without a
  // catch-all rule (any tier, any type).
  static absl::StatusOr<DeadlinePolicy> Create(std::vector<PolicyRule> rules);

  // The most specific matching rule: tier and type > type > tier > catch-all. Never
  // fails: a validated policy has a catch-all per severity; an empty policy uses the
  // defaults.
  const PolicyRule& Match(Severity severity, int tier, int type) const;
  const std::vector<PolicyRule>& rules() const { return rules_; }

 private:
  std::vector<PolicyRule> rules_;
};

// ---- Escalation ----

// Major complaints go to senior management from the start; others to the handler.
EscalationLevel InitialLevel(Severity severity);

struct EscalationDecision {
  bool escalate = false;
  EscalationLevel to = EscalationLevel::kHandler;  // the level after the decision
  // Why, for the timeline: "response deadline missed at handler level". Also set when
  // senior management misses a deadline (nothing higher to escalate to); empty when
  // the deadline has not passed.
  std::string reason;
};

// One level up when now is strictly after level_deadline; never beyond senior
// management. `deadline_name` ("response", "resolution") only words the reason.
EscalationDecision DecideEscalation(EscalationLevel current, absl::Time level_deadline, absl::Time now,
                                    absl::string_view deadline_name = "");

// When a level escalated to at `escalated_at` must have acted: the rule's escalation
// step of working time, counted on the rule's calendar (24x7 for around-the-clock
// rules, whatever `business` says).
absl::Time NextLevelDeadline(const BusinessCalendar& business, const PolicyRule& rule, absl::Time escalated_at);

// The deadline a level is measured against: the response deadline until the work order
// is responded to (accepted), the resolution deadline after; a level deadline
// (InfiniteFuture if none) governs when earlier. Note that a missed SLA deadline stays
// the minimum, so passing it at an escalated level escalates again at once.
absl::Time GoverningDeadline(bool responded, absl::Time response_deadline, absl::Time resolution_deadline,
                             absl::Time level_deadline);

}  // namespace kefu::complaints
