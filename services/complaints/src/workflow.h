#pragma once
// Deadline bookkeeping for one work order, pure: from its history, the policy rule that
// applies and the calendar, compute both SLA clocks, what the escalation sweep must do
// at a given moment, and when the sweep has to look at the work order again. The
// repository stores the results; recomputing from the same history always gives the
// same answer, which is what makes changing severity or the calendar safe.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "domain.h"
#include "sla.h"

namespace kefu::complaints {

// Warn when this share of a deadline's time is used.
inline constexpr double kDefaultRiskThreshold = 0.8;

struct Clocks {
  SlaState response;
  SlaState resolution;
};

Clocks ComputeClocks(const pb::WorkOrder& w, const std::vector<HistoryEvent>& history, const PolicyRule& rule,
                     const BusinessCalendar& calendar, absl::Time now);

// The calendar a rule counts on.
const BusinessCalendar& CalendarFor(const PolicyRule& rule, const BusinessCalendar& business);

struct AlertToRaise {
  pb::AlertKind kind;
  std::string reason;  // "response" or "resolution", plus words for escalations
};

// What the sweep does to a work order at `now`.
struct SweepDecision {
  bool mark_overdue = false;
  bool escalate = false;
  EscalationLevel to = EscalationLevel::kHandler;
  std::string escalation_reason;
  absl::Time new_level_deadline = absl::InfiniteFuture();
  std::vector<AlertToRaise> alerts;
};

// `level_deadline`: when the current (escalated) level must have acted; InfiniteFuture
// at the first level, whose limit is the SLA deadline itself.
SweepDecision DecideSweep(const pb::WorkOrder& w, const Clocks& clocks, absl::Time level_deadline,
                          const PolicyRule& rule, const BusinessCalendar& calendar, absl::Time now,
                          double risk_threshold = kDefaultRiskThreshold);

// The next moment something can happen on its own (an at-risk warning, a breach, an
// escalation); `now` when a breach is not yet recorded; InfiniteFuture when nothing
// can (closed, or every clock stopped).
absl::Time NextCheckTime(const pb::WorkOrder& w, const Clocks& clocks, absl::Time level_deadline,
                         const PolicyRule& rule, const BusinessCalendar& calendar, absl::Time now,
                         double risk_threshold = kDefaultRiskThreshold);

// The deadline the current level is measured against: the governing SLA deadline
// (response before acceptance, resolution after) at the first level, the level
// deadline once escalated; InfiniteFuture while the governing clock is not running.
absl::Time ActiveDeadline(const pb::WorkOrder& w, const Clocks& clocks, absl::Time level_deadline);

}  // namespace kefu::complaints
