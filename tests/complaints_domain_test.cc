// The complaints deadline engine and workflow without a database: business calendar,
// SLA clocks with pauses, policy matching, escalation, the state machine, and what the
// sweep decides. Times are in a fixed +08:00 zone on known dates.
#include <gtest/gtest.h>

#include <random>

#include "complaints/src/domain.h"
#include "complaints/src/settings.h"
#include "complaints/src/sla.h"
#include "complaints/src/workflow.h"
#include "kefu/time_util.h"

namespace kefu::complaints {
namespace {

const absl::TimeZone kZone = absl::FixedTimeZone(8 * 3600);
absl::Time At(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), kZone);
}

// Mon-Fri 09:00-12:00 and 13:00-18:00; 2026-11-27 (Friday) a holiday; Saturday
// 2026-11-28 an extra working day.
BusinessCalendar Office() {
  BusinessCalendar::WeeklyHours weekly;
  for (int d = 0; d < 5; ++d) weekly[d] = {{540, 720}, {780, 1080}};
  return *BusinessCalendar::Create(kZone, weekly, {absl::CivilDay(2026, 11, 27)}, {absl::CivilDay(2026, 11, 28)});
}

TEST(Calendar, WorkingTimeRespectsLunchNightsWeekendsHolidaysAndExtraDays) {
  BusinessCalendar cal = Office();
  EXPECT_TRUE(cal.IsWorkingTime(At(2026, 11, 23, 9, 0)));
  EXPECT_FALSE(cal.IsWorkingTime(At(2026, 11, 23, 12, 30)));
  EXPECT_FALSE(cal.IsWorkingTime(At(2026, 11, 23, 18, 0)));  // end is exclusive
  EXPECT_FALSE(cal.IsWorkingTime(At(2026, 11, 27, 10, 0)));  // holiday
  EXPECT_TRUE(cal.IsWorkingTime(At(2026, 11, 28, 10, 0)));   // extra working Saturday
  EXPECT_FALSE(cal.IsWorkingTime(At(2026, 11, 29, 10, 0)));  // Sunday

  // Across lunch: 11:00 + 2h = 14:00.
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 23, 11, 0), absl::Hours(2)), At(2026, 11, 23, 14, 0));
  // Across the night: 17:00 + 2h = next day 10:00.
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 23, 17, 0), absl::Hours(2)), At(2026, 11, 24, 10, 0));
  // Across a weekend: Friday 2026-11-20 16:00 + 4h = Monday 11:00.
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 20, 16, 0), absl::Hours(4)), At(2026, 11, 23, 11, 0));
  // Thursday 17:00 + 3h: Friday is a holiday, Saturday is worked: Saturday 11:00.
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 26, 17, 0), absl::Hours(3)), At(2026, 11, 28, 11, 0));
  // Starting outside hours counts from the next opening; filling a day ends at 18:00.
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 23, 7, 30), absl::Hours(8)), At(2026, 11, 23, 18, 0));
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 23, 12, 15), absl::Minutes(1)), At(2026, 11, 23, 13, 1));
  EXPECT_EQ(cal.AddWorkingTime(At(2026, 11, 23, 10, 0), absl::ZeroDuration()), At(2026, 11, 23, 10, 0));

  EXPECT_EQ(cal.WorkingTimeBetween(At(2026, 11, 20, 16, 0), At(2026, 11, 23, 11, 0)), absl::Hours(4));
  EXPECT_EQ(cal.WorkingTimeBetween(At(2026, 11, 23, 11, 0), At(2026, 11, 23, 11, 0)), absl::ZeroDuration());
  EXPECT_EQ(cal.WorkingTimeBetween(At(2026, 11, 23, 12, 0), At(2026, 11, 23, 11, 0)), absl::ZeroDuration());
}

TEST(Calendar, AddAndBetweenAreInverse) {
  BusinessCalendar cal = Office();
  std::mt19937 rng(20261124);
  absl::Time base = At(2026, 11, 1, 0, 0);
  for (int i = 0; i < 500; ++i) {
    absl::Time start = base + absl::Minutes(rng() % (60 * 24 * 60));
    absl::Duration work = absl::Minutes(1 + rng() % (60 * 60));
    absl::Time end = cal.AddWorkingTime(start, work);
    ASSERT_EQ(cal.WorkingTimeBetween(start, end), work) << absl::FormatTime(start, kZone);
    EXPECT_TRUE(cal.IsWorkingTime(end - absl::Seconds(1)));
  }
}

TEST(Calendar, AlwaysOpenAndNeverOpen) {
  BusinessCalendar always = BusinessCalendar::AlwaysOpen();
  EXPECT_EQ(always.AddWorkingTime(At(2026, 11, 21, 23, 0), absl::Hours(2)), At(2026, 11, 22, 1, 0));
  auto never = BusinessCalendar::Create(kZone, {}, {}, {});
  ASSERT_TRUE(never.ok());
  EXPECT_EQ(never->AddWorkingTime(At(2026, 11, 23, 9, 0), absl::Hours(1)), absl::InfiniteFuture());
}

TEST(Calendar, ValidationNamesTheInterval) {
  BusinessCalendar::WeeklyHours weekly;
  weekly[0] = {{540, 720}, {700, 800}};
  auto overlapping = BusinessCalendar::Create(kZone, weekly, {}, {});
  ASSERT_FALSE(overlapping.ok());
  EXPECT_NE(overlapping.status().message().find("calendar.weekly_hours[monday][1]"), absl::string_view::npos);
  weekly[0] = {{600, 600}};
  EXPECT_FALSE(BusinessCalendar::Create(kZone, weekly, {}, {}).ok());
  weekly[0] = {{600, 1500}};
  EXPECT_FALSE(BusinessCalendar::Create(kZone, weekly, {}, {}).ok());
}

TEST(Calendar, DefaultProtoAndBadDates) {
  auto cal = CalendarFromProto(DefaultCalendarProto());
  ASSERT_TRUE(cal.ok()) << cal.status();
  pb::BusinessCalendar bad = DefaultCalendarProto();
  bad.add_holidays("2026-13-01");
  auto s = CalendarFromProto(bad);
  EXPECT_NE(s.status().message().find("calendar.holidays[0]"), absl::string_view::npos);
  bad = DefaultCalendarProto();
  bad.set_time_zone("Mars/Olympus");
  EXPECT_NE(CalendarFromProto(bad).status().message().find("calendar.time_zone"), absl::string_view::npos);
}

using K = SlaEvent::Kind;

TEST(SlaClock, DeadlineBoundaryAndBreach) {
  BusinessCalendar cal = Office();
  std::vector<SlaEvent> ev{{At(2026, 11, 23, 9, 0), K::kStart}};
  SlaState at = ComputeSla(cal, absl::Hours(2), ev, At(2026, 11, 23, 11, 0));
  EXPECT_EQ(at.deadline, At(2026, 11, 23, 11, 0));
  EXPECT_FALSE(at.breached);  // exactly at the deadline
  EXPECT_DOUBLE_EQ(at.used_fraction, 1.0);
  SlaState after = ComputeSla(cal, absl::Hours(2), ev, At(2026, 11, 23, 11, 0) + absl::Microseconds(1));
  EXPECT_TRUE(after.breached);
  EXPECT_EQ(after.breached_at, At(2026, 11, 23, 11, 0));
  EXPECT_EQ(after.deadline, At(2026, 11, 23, 11, 0));
}

TEST(SlaClock, PausesPushTheDeadlineByThePausedWorkingTime) {
  BusinessCalendar cal = Office();
  std::vector<SlaEvent> ev{{At(2026, 11, 23, 9, 0), K::kStart},
                           {At(2026, 11, 23, 10, 0), K::kPause},
                           {At(2026, 11, 23, 10, 0), K::kPause},  // duplicate: ignored
                           {At(2026, 11, 23, 14, 0), K::kResume},
                           {At(2026, 11, 23, 15, 0), K::kPause},
                           {At(2026, 11, 23, 16, 0), K::kResume}};
  EXPECT_TRUE(ValidateSlaEvents(ev).ok());
  SlaState s = ComputeSla(cal, absl::Hours(8), ev, At(2026, 11, 23, 17, 0));
  // Worked 9-10, 14-15, 16-17: three hours used, five left from 17:00 -> next day 14:00.
  EXPECT_EQ(s.used, absl::Hours(3));
  EXPECT_EQ(s.paused_wall_time, absl::Hours(5));
  EXPECT_TRUE(s.running);
  EXPECT_EQ(s.deadline, At(2026, 11, 24, 14, 0));

  SlaState paused = ComputeSla(cal, absl::Hours(8), {ev.begin(), ev.begin() + 2}, At(2026, 11, 23, 11, 0));
  EXPECT_TRUE(paused.paused);
  EXPECT_EQ(paused.deadline, absl::InfiniteFuture());
  EXPECT_EQ(paused.paused_wall_time, absl::Hours(1));
}

TEST(SlaClock, StopEndsTheClockAndFutureEventsAreIgnored) {
  BusinessCalendar cal = Office();
  std::vector<SlaEvent> ev{{At(2026, 11, 23, 9, 0), K::kStart}, {At(2026, 11, 23, 12, 0), K::kStop}};
  SlaState s = ComputeSla(cal, absl::Hours(2), ev, At(2026, 11, 25, 9, 0));
  EXPECT_TRUE(s.stopped);
  EXPECT_TRUE(s.breached);  // three hours used against two
  EXPECT_EQ(s.deadline, absl::InfiniteFuture());
  SlaState before_stop = ComputeSla(cal, absl::Hours(4), ev, At(2026, 11, 23, 10, 0));
  EXPECT_TRUE(before_stop.running);
  EXPECT_EQ(before_stop.used, absl::Hours(1));
  EXPECT_FALSE(ValidateSlaEvents({{At(2026, 11, 23, 9, 0), K::kPause}}).ok());
  EXPECT_FALSE(ValidateSlaEvents({{At(2026, 11, 23, 9, 0), K::kStart}, {At(2026, 11, 23, 8, 0), K::kPause}}).ok());
}

TEST(SlaClock, AtRiskFromEightyPercent) {
  BusinessCalendar always = BusinessCalendar::AlwaysOpen();
  std::vector<SlaEvent> ev{{At(2026, 11, 23, 0, 0), K::kStart}};
  EXPECT_FALSE(AtRisk(ComputeSla(always, absl::Hours(10), ev, At(2026, 11, 23, 7, 54)), 0.8));
  EXPECT_TRUE(AtRisk(ComputeSla(always, absl::Hours(10), ev, At(2026, 11, 23, 8, 0)), 0.8));
  EXPECT_FALSE(AtRisk(ComputeSla(always, absl::Hours(10), ev, At(2026, 11, 23, 11, 0)), 0.8));  // breached
}

TEST(Policy, DefaultsAndSpecificity) {
  DeadlinePolicy p = DeadlinePolicy::Defaults();
  const PolicyRule& general = p.Match(Severity::kGeneral, 1, 6);
  EXPECT_EQ(general.respond_within, absl::Hours(4));
  EXPECT_EQ(general.resolve_within, absl::Hours(24));
  EXPECT_FALSE(general.around_the_clock);
  EXPECT_EQ(general.escalation_step, absl::Hours(12));
  const PolicyRule& platinum = p.Match(Severity::kGeneral, 4, 6);
  EXPECT_TRUE(platinum.around_the_clock);
  EXPECT_EQ(platinum.respond_within, absl::Hours(2));
  EXPECT_TRUE(p.Match(Severity::kMajor, 1, 1).around_the_clock);
  EXPECT_EQ(p.Match(Severity::kMinor, 2, 3).resolve_within, absl::Hours(40));

  auto rule = [](Severity s, std::optional<int> tier, std::optional<int> type, int respond_h) {
    return PolicyRule{s, tier, type, absl::Hours(respond_h), absl::Hours(100), false, absl::Hours(1)};
  };
  auto custom = DeadlinePolicy::Create({rule(Severity::kMajor, std::nullopt, std::nullopt, 1),
                                        rule(Severity::kMinor, std::nullopt, std::nullopt, 1),
                                        rule(Severity::kGeneral, std::nullopt, std::nullopt, 10),
                                        rule(Severity::kGeneral, 3, std::nullopt, 20),
                                        rule(Severity::kGeneral, std::nullopt, 6, 30),
                                        rule(Severity::kGeneral, 3, 6, 40)});
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->Match(Severity::kGeneral, 3, 6).respond_within, absl::Hours(40));  // tier + type
  EXPECT_EQ(custom->Match(Severity::kGeneral, 1, 6).respond_within, absl::Hours(30));  // type
  EXPECT_EQ(custom->Match(Severity::kGeneral, 3, 1).respond_within, absl::Hours(20));  // tier
  EXPECT_EQ(custom->Match(Severity::kGeneral, 1, 1).respond_within, absl::Hours(10));  // catch-all

  auto missing_catch_all = DeadlinePolicy::Create({rule(Severity::kMajor, std::nullopt, std::nullopt, 1)});
  EXPECT_FALSE(missing_catch_all.ok());
  auto bad = DeadlinePolicy::Create({rule(Severity::kMajor, std::nullopt, std::nullopt, 1000),
                                     rule(Severity::kMinor, std::nullopt, std::nullopt, 1),
                                     rule(Severity::kGeneral, std::nullopt, std::nullopt, 1),
                                     rule(Severity::kGeneral, std::nullopt, std::nullopt, 2)});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("policy.rules[0].respond_within_seconds"), absl::string_view::npos);
  EXPECT_NE(bad.status().message().find("policy.rules[3]: duplicates"), absl::string_view::npos);
  // The default policy survives a round trip through its stored form.
  auto round = PolicyFromProto(PolicyToProto(p));
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_EQ(round->rules().size(), p.rules().size());
}

TEST(Escalation, OneLevelAtATimeStrictlyAfterTheDeadlineCappedAtSenior) {
  absl::Time d = At(2026, 11, 23, 11, 0);
  EXPECT_FALSE(DecideEscalation(EscalationLevel::kHandler, d, d).escalate);
  auto e = DecideEscalation(EscalationLevel::kHandler, d, d + absl::Microseconds(1));
  EXPECT_TRUE(e.escalate);
  EXPECT_EQ(e.to, EscalationLevel::kDepartmentManager);
  EXPECT_EQ(DecideEscalation(EscalationLevel::kDepartmentManager, d, d + absl::Hours(1)).to,
            EscalationLevel::kSeniorManagement);
  EXPECT_FALSE(DecideEscalation(EscalationLevel::kSeniorManagement, d, d + absl::Hours(100)).escalate);
  EXPECT_EQ(InitialLevel(Severity::kMajor), EscalationLevel::kSeniorManagement);
  EXPECT_EQ(InitialLevel(Severity::kGeneral), EscalationLevel::kHandler);
  PolicyRule rule = DeadlinePolicy::Defaults().Match(Severity::kGeneral, 1, 1);
  EXPECT_EQ(NextLevelDeadline(Office(), rule, At(2026, 11, 23, 11, 0)), At(2026, 11, 24, 16, 0));  // 12 working h
}

TEST(StateMachine, EveryTransition) {
  using S = pb::Status;
  struct Case {
    S from;
    Action action;
    std::optional<S> to;
  };
  std::vector<Case> cases = {
      {pb::STATUS_NEW, Action::kAccept, pb::STATUS_ACCEPTED},
      {pb::STATUS_ACCEPTED, Action::kStartWork, pb::STATUS_IN_PROGRESS},
      {pb::STATUS_IN_PROGRESS, Action::kResolve, pb::STATUS_RESOLVED},
      {pb::STATUS_RESOLVED, Action::kStartFollowUp, pb::STATUS_FOLLOW_UP},
      {pb::STATUS_FOLLOW_UP, Action::kFollowUpSatisfied, pb::STATUS_CLOSED},
      {pb::STATUS_FOLLOW_UP, Action::kFollowUpUnsatisfied, pb::STATUS_IN_PROGRESS},
      {pb::STATUS_RESOLVED, Action::kCloseWithoutSatisfaction, pb::STATUS_CLOSED},
      {pb::STATUS_FOLLOW_UP, Action::kCloseWithoutSatisfaction, pb::STATUS_CLOSED},
      {pb::STATUS_NEW, Action::kResolve, std::nullopt},
      {pb::STATUS_NEW, Action::kStartWork, std::nullopt},
      {pb::STATUS_ACCEPTED, Action::kAccept, std::nullopt},
      {pb::STATUS_IN_PROGRESS, Action::kCloseWithoutSatisfaction, std::nullopt},
      {pb::STATUS_RESOLVED, Action::kFollowUpSatisfied, std::nullopt},
      {pb::STATUS_CLOSED, Action::kAccept, std::nullopt},
      {pb::STATUS_CLOSED, Action::kStartFollowUp, std::nullopt},
      {pb::STATUS_CLOSED, Action::kCloseWithoutSatisfaction, std::nullopt},
  };
  for (const auto& c : cases) {
    auto next = NextStatus(c.from, c.action);
    if (c.to) {
      ASSERT_TRUE(next.ok()) << StatusName(c.from);
      EXPECT_EQ(*next, *c.to);
    } else {
      EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition) << StatusName(c.from);
    }
  }
  EXPECT_TRUE(IsSatisfied(4));
  EXPECT_FALSE(IsSatisfied(3));
  EXPECT_FALSE(CheckSatisfaction(0).ok());
  EXPECT_EQ(WorkOrderNumber(12), "WO0000000012");
}

TEST(Clocks, ResolutionPausesAtResolveAndResumesOnReopen) {
  absl::Time r = At(2026, 11, 23, 9, 0);
  std::vector<HistoryEvent> h{{r, pb::EVENT_KIND_CREATED},
                              {r + absl::Hours(1), pb::EVENT_KIND_ACCEPTED},
                              {r + absl::Hours(2), pb::EVENT_KIND_RESOLVED},
                              {r + absl::Hours(5), pb::EVENT_KIND_REOPENED},
                              {r + absl::Hours(6), pb::EVENT_KIND_CLOSED}};
  auto response = ResponseClockEvents(r, h);
  ASSERT_EQ(response.size(), 2u);
  EXPECT_EQ(response[1].kind, K::kStop);
  EXPECT_EQ(response[1].at, r + absl::Hours(1));
  auto resolution = ResolutionClockEvents(r, h);
  ASSERT_EQ(resolution.size(), 4u);
  EXPECT_EQ(resolution[1].kind, K::kPause);
  EXPECT_EQ(resolution[2].kind, K::kResume);
  EXPECT_EQ(resolution[3].kind, K::kStop);
}

pb::WorkOrder OpenOrder(absl::Time received, pb::EscalationLevel level) {
  pb::WorkOrder w;
  w.set_status(pb::STATUS_NEW);
  w.set_severity(pb::SEVERITY_GENERAL);
  w.set_escalation_level(level);
  *w.mutable_received_time() = ToProtoTime(received);
  return w;
}

TEST(Sweep, BreachEscalatesOnceThenTheLevelDeadlineGoverns) {
  BusinessCalendar cal = Office();
  PolicyRule rule = DeadlinePolicy::Defaults().Match(Severity::kGeneral, 1, 1);
  absl::Time received = At(2026, 11, 20, 16, 0);  // response due Monday 11:00
  pb::WorkOrder w = OpenOrder(received, pb::ESCALATION_LEVEL_HANDLER);
  std::vector<HistoryEvent> h{{received, pb::EVENT_KIND_CREATED}};

  absl::Time now = At(2026, 11, 23, 10, 30);  // 87.5% used: at risk, nothing else
  Clocks c = ComputeClocks(w, h, rule, cal, now);
  SweepDecision d = DecideSweep(w, c, absl::InfiniteFuture(), rule, cal, now);
  EXPECT_FALSE(d.escalate);
  EXPECT_FALSE(d.mark_overdue);
  ASSERT_EQ(d.alerts.size(), 1u);
  EXPECT_EQ(d.alerts[0].kind, pb::ALERT_KIND_AT_RISK);
  EXPECT_EQ(NextCheckTime(w, c, absl::InfiniteFuture(), rule, cal, now), At(2026, 11, 23, 11, 0) + absl::Microseconds(1));

  now = At(2026, 11, 23, 11, 0) + absl::Microseconds(1);
  c = ComputeClocks(w, h, rule, cal, now);
  d = DecideSweep(w, c, absl::InfiniteFuture(), rule, cal, now);
  EXPECT_TRUE(d.mark_overdue);
  ASSERT_TRUE(d.escalate);
  EXPECT_EQ(d.to, EscalationLevel::kDepartmentManager);
  EXPECT_EQ(d.escalation_reason, "response deadline missed at handler level");
  EXPECT_EQ(d.new_level_deadline, cal.AddWorkingTime(now, absl::Hours(12)));

  // At the department-manager level the already missed SLA deadline does not count again.
  w.set_escalation_level(pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER);
  c = ComputeClocks(w, h, rule, cal, now + absl::Minutes(5));
  EXPECT_FALSE(DecideSweep(w, c, d.new_level_deadline, rule, cal, now + absl::Minutes(5)).escalate);
  absl::Time late = d.new_level_deadline + absl::Seconds(1);
  c = ComputeClocks(w, h, rule, cal, late);
  SweepDecision again = DecideSweep(w, c, d.new_level_deadline, rule, cal, late);
  EXPECT_TRUE(again.escalate);
  EXPECT_EQ(again.to, EscalationLevel::kSeniorManagement);

  // Received long ago at senior level (a major complaint): nobody escalates, but the
  // breach must still be recorded, so the sweep is due at once until it is.
  pb::WorkOrder major = OpenOrder(At(2026, 11, 1, 9, 0), pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT);
  major.set_severity(pb::SEVERITY_MAJOR);
  PolicyRule major_rule = DeadlinePolicy::Defaults().Match(Severity::kMajor, 1, 1);
  absl::Time later = At(2026, 11, 23, 9, 0);
  Clocks mc = ComputeClocks(major, {{At(2026, 11, 1, 9, 0), pb::EVENT_KIND_CREATED}}, major_rule, cal, later);
  EXPECT_EQ(NextCheckTime(major, mc, absl::InfiniteFuture(), major_rule, cal, later), later);
  SweepDecision md = DecideSweep(major, mc, absl::InfiniteFuture(), major_rule, cal, later);
  EXPECT_TRUE(md.mark_overdue);
  EXPECT_FALSE(md.escalate);
  major.set_overdue(true);
  EXPECT_GT(NextCheckTime(major, mc, absl::InfiniteFuture(), major_rule, cal, later), later);

  // Closed work orders are never looked at again.
  w.set_status(pb::STATUS_CLOSED);
  EXPECT_EQ(NextCheckTime(w, c, absl::InfiniteFuture(), rule, cal, late), absl::InfiniteFuture());
}

}  // namespace
}  // namespace kefu::complaints
