#include "workflow.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kefu/time_util.h"

namespace kefu::complaints {

namespace {

bool Responded(const pb::WorkOrder& w) { return w.has_responded_time(); }

// When `clock` reaches `threshold` of its budget, if that is still ahead.
absl::Time RiskTime(const SlaState& clock, const BusinessCalendar& calendar, absl::Time now, double threshold) {
  if (!clock.running || clock.breached) return absl::InfiniteFuture();
  absl::Duration at = clock.budget * threshold;
  if (clock.used >= at) return absl::InfiniteFuture();  // already at risk: warned or warning now
  return calendar.AddWorkingTime(now, at - clock.used);
}

}  // namespace

const BusinessCalendar& CalendarFor(const PolicyRule& rule, const BusinessCalendar& business) {
  static const BusinessCalendar* always = new BusinessCalendar(BusinessCalendar::AlwaysOpen());
  return rule.around_the_clock ? *always : business;
}

Clocks ComputeClocks(const pb::WorkOrder& w, const std::vector<HistoryEvent>& history, const PolicyRule& rule,
                     const BusinessCalendar& business, absl::Time now) {
  const BusinessCalendar& cal = CalendarFor(rule, business);
  absl::Time received = FromProtoTime(w.received_time());
  Clocks c;
  c.response = ComputeSla(cal, rule.respond_within, ResponseClockEvents(received, history), now);
  c.resolution = ComputeSla(cal, rule.resolve_within, ResolutionClockEvents(received, history), now);
  return c;
}

absl::Time ActiveDeadline(const pb::WorkOrder& w, const Clocks& clocks, absl::Time level_deadline) {
  const SlaState& governing = Responded(w) ? clocks.resolution : clocks.response;
  if (!governing.running) return absl::InfiniteFuture();  // paused, met or closed: nobody is late
  // The first level answers for the SLA deadline; an escalated level gets its own
  // time (the escalation step) from the moment it was escalated to.
  if (FromProtoLevel(w.escalation_level()) == EscalationLevel::kHandler) return governing.deadline;
  return level_deadline;
}

SweepDecision DecideSweep(const pb::WorkOrder& w, const Clocks& clocks, absl::Time level_deadline,
                          const PolicyRule& rule, const BusinessCalendar& business, absl::Time now,
                          double risk_threshold) {
  SweepDecision d;
  if (!IsOpen(w.status())) return d;
  const BusinessCalendar& cal = CalendarFor(rule, business);
  for (const auto& [name, clock] : {std::pair<const char*, const SlaState*>{"response", &clocks.response},
                                    std::pair<const char*, const SlaState*>{"resolution", &clocks.resolution}}) {
    if (clock->breached) {
      d.mark_overdue = true;
      d.alerts.push_back({pb::ALERT_KIND_BREACHED, name});
    } else if (AtRisk(*clock, risk_threshold)) {
      d.alerts.push_back({pb::ALERT_KIND_AT_RISK, name});
    }
  }
  absl::Time limit = ActiveDeadline(w, clocks, level_deadline);
  EscalationLevel current = FromProtoLevel(w.escalation_level());
  EscalationDecision e = DecideEscalation(current, limit, now);
  if (e.escalate) {
    d.escalate = true;
    d.to = e.to;
    d.escalation_reason =
        current == EscalationLevel::kHandler
            ? absl::StrCat(Responded(w) ? "resolution" : "response", " deadline missed at handler level")
            : absl::StrCat(LevelName(w.escalation_level()), " did not act within the escalation step");
    d.new_level_deadline = NextLevelDeadline(cal, rule, now);
    d.alerts.push_back({pb::ALERT_KIND_ESCALATED, d.escalation_reason});
  }
  return d;
}

absl::Time NextCheckTime(const pb::WorkOrder& w, const Clocks& clocks, absl::Time level_deadline,
                         const PolicyRule& rule, const BusinessCalendar& business, absl::Time now,
                         double risk_threshold) {
  if (!IsOpen(w.status())) return absl::InfiniteFuture();
  const BusinessCalendar& cal = CalendarFor(rule, business);
  absl::Time next = absl::InfiniteFuture();
  for (const SlaState* clock : {&clocks.response, &clocks.resolution}) {
    // A breach not yet recorded (the work order may have been received long ago, or
    // its clock stopped late): the sweep records it, with its alert, right away.
    if (clock->breached && !w.overdue()) next = std::min(next, now);
    next = std::min(next, RiskTime(*clock, cal, now, risk_threshold));
    // The sweep marks a breach once the deadline has passed (strictly after it).
    if (clock->running && !clock->breached) next = std::min(next, clock->deadline + absl::Microseconds(1));
  }
  if (FromProtoLevel(w.escalation_level()) != EscalationLevel::kSeniorManagement) {
    absl::Time limit = ActiveDeadline(w, clocks, level_deadline);
    if (limit != absl::InfiniteFuture()) next = std::min(next, std::max(limit + absl::Microseconds(1), now));
  }
  return next;
}

}  // namespace kefu::complaints
