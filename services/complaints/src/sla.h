#pragma once
// The deadline engine of the complaints service, pure: a business calendar that
// counts working time, SLA clocks computed from an event history (so recomputation is
// deterministic), the deadline policy, and the escalation rules. No database, no proto.
//
// Default deadline policy (DeadlinePolicy::Defaults()):
//   severity  respond within     resolve within           counts on      escalation step
//   major     1 h                8 h                      24x7           4 h
//   general   4 working hours    24 working h (3 days)    business days  12 working h
//   minor     8 working hours    40 working h (5 days)    business days  20 working h
//   platinum customers (tier 4), every severity: 24x7 with the budgets halved.
// The escalation step is how long an escalated level has to act before the next
// escalation: half the resolution budget, at least 30 minutes.

#include <array>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace kefu::complaints {

enum class Severity { kMajor, kGeneral, kMinor };
enum class EscalationLevel { kHandler = 0, kDepartmentManager = 1, kSeniorManagement = 2 };

// [start_minute, end_minute) from local midnight.
struct WorkingInterval {
  int start_minute;
  int end_minute;
};

class BusinessCalendar {
 public:
  // Index 0 = Monday .. 6 = Sunday.
  using WeeklyHours = std::array<std::vector<WorkingInterval>, 7>;

  // Every instant is working time.
  static BusinessCalendar AlwaysOpen();
  // Intervals must be sorted, non-overlapping, within 0..1440 and non-empty.
  // Holidays are closed all day; extra working days (调休) use Monday's hours.
  static absl::StatusOr<BusinessCalendar> Create(absl::TimeZone zone, WeeklyHours weekly,
                                                 std::set<absl::CivilDay> holidays,
                                                 std::set<absl::CivilDay> extra_working_days);

  bool IsWorkingTime(absl::Time t) const;
  // Working time in [from, to); zero when to <= from.
  absl::Duration WorkingTimeBetween(absl::Time from, absl::Time to) const;
  // The instant at which `work` of working time has passed after `start` (counting
  // begins at the next opening when start is outside working hours). InfiniteFuture
  // when the calendar has no working time within three years.
  absl::Time AddWorkingTime(absl::Time start, absl::Duration work) const;

  bool always_open() const { return always_open_; }

 private:
  BusinessCalendar() = default;
  const std::vector<WorkingInterval>& HoursOn(absl::CivilDay day) const;
  // Calls fn(begin, end) for each working interval of `day` as absolute times.
  template <typename Fn>
  void ForEachInterval(absl::CivilDay day, Fn fn) const;

  bool always_open_ = false;
  absl::TimeZone zone_;
  WeeklyHours weekly_;
  std::set<absl::CivilDay> holidays_;
  std::set<absl::CivilDay> extra_working_days_;
  bool has_working_time_ = false;
};

struct SlaEvent {
  enum class Kind { kStart, kPause, kResume, kStop };
  absl::Time at;
  Kind kind;
};

struct SlaState {
  absl::Duration budget;
  absl::Duration used;              // working time consumed
  absl::Duration paused_wall_time;  // wall-clock time spent paused
  bool running = false;
  bool paused = false;
  bool stopped = false;
  // When used reaches the budget; InfiniteFuture while paused or stopped.
  absl::Time deadline = absl::InfiniteFuture();
  double used_fraction = 0;
  // used > budget: a deadline exactly at `now` is not yet breached.
  bool breached = false;
  absl::Time breached_at = absl::InfinitePast();
};

// OK when events are sorted by time and the first is a start.
absl::Status ValidateSlaEvents(const std::vector<SlaEvent>& events);
// Events after `now` are ignored; repeated pauses or resumes count once.
SlaState ComputeSla(const BusinessCalendar& calendar, absl::Duration budget, const std::vector<SlaEvent>& events,
                    absl::Time now);
// Running, not breached, and at least `threshold` (0..1) of the budget used.
bool AtRisk(const SlaState& state, double threshold);

struct PolicyRule {
  Severity severity;
  std::optional<int> tier;  // customer tier 1..4; nullopt = any
  std::optional<int> type;  // work-order type number; nullopt = any
  absl::Duration respond_within;
  absl::Duration resolve_within;
  bool around_the_clock = false;
  absl::Duration escalation_step;
};

class DeadlinePolicy {
 public:
  static DeadlinePolicy Defaults();
  // Positive durations, respond <= resolve, one catch-all rule per severity, no two
  // rules with the same severity, tier and type.
  static absl::StatusOr<DeadlinePolicy> Create(std::vector<PolicyRule> rules);
  // Most specific wins: tier and type > type > tier > catch-all.
  const PolicyRule& Match(Severity severity, int tier, int type) const;
  const std::vector<PolicyRule>& rules() const { return rules_; }

 private:
  std::vector<PolicyRule> rules_;
};

// Major complaints go to senior management from the start.
EscalationLevel InitialLevel(Severity severity);

struct EscalationDecision {
  bool escalate = false;
  EscalationLevel to = EscalationLevel::kHandler;
};

// One level up when now is strictly after the level's deadline; never past senior.
EscalationDecision DecideEscalation(EscalationLevel current, absl::Time level_deadline, absl::Time now);
// When an escalated level must have acted: the rule's escalation step of working time.
absl::Time NextLevelDeadline(const BusinessCalendar& calendar, const PolicyRule& rule, absl::Time escalated_at);

}  // namespace kefu::complaints
