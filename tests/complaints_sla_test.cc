// The pure deadline engine of the complaints service: business calendar, SLA clocks,
// deadline policy and escalation. Every expectation is computed by hand in a fixed
// +08:00 zone (no tzdata needed) on known dates in November 2026:
//
//   Fri 20  Sat 21  Sun 22  Mon 23  Tue 24  Wed 25  Thu 26  Fri 27  Sat 28  Sun 29  Mon 30
//
// The office calendar works Monday to Friday 09:00-12:00 and 13:00-18:00 (8 hours a day).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "complaints/src/sla.h"

namespace kefu::complaints {
namespace {

using K = SlaEvent::Kind;

const absl::TimeZone kZone = absl::FixedTimeZone(8 * 3600);

absl::Time At(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), kZone);
}
// November 2026, the month every test lives in.
absl::Time Nov(int d, int h, int mi, int s = 0) { return At(2026, 11, d, h, mi, s); }

constexpr absl::Duration kMicro = absl::Microseconds(1);

BusinessCalendar::WeeklyHours OfficeHours() {
  BusinessCalendar::WeeklyHours weekly;
  for (int day = 0; day < 5; ++day) weekly[day] = {{9 * 60, 12 * 60}, {13 * 60, 18 * 60}};
  return weekly;
}

BusinessCalendar Office(std::set<absl::CivilDay> holidays = {}, std::set<absl::CivilDay> extra_working_days = {}) {
  auto calendar = BusinessCalendar::Create(kZone, OfficeHours(), std::move(holidays), std::move(extra_working_days));
  EXPECT_TRUE(calendar.ok()) << calendar.status();
  return *calendar;
}

// Friday 27 a holiday, made up for on Saturday 28.
BusinessCalendar OfficeWithMakeUpDay() { return Office({absl::CivilDay(2026, 11, 27)}, {absl::CivilDay(2026, 11, 28)}); }

BusinessCalendar NeverOpen() {
  auto calendar = BusinessCalendar::Create(kZone, {}, {}, {});
  EXPECT_TRUE(calendar.ok()) << calendar.status();
  return *calendar;
}

std::string Local(absl::Time t) { return absl::FormatTime("%Y-%m-%d %H:%M:%E6S %a", t, kZone); }

void ExpectSameState(const SlaState& a, const SlaState& b) {
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.used, b.used);
  EXPECT_EQ(a.paused_wall_time, b.paused_wall_time);
  EXPECT_EQ(a.running, b.running);
  EXPECT_EQ(a.paused, b.paused);
  EXPECT_EQ(a.stopped, b.stopped);
  EXPECT_EQ(a.deadline, b.deadline);
  EXPECT_EQ(a.used_fraction, b.used_fraction);
  EXPECT_EQ(a.breached, b.breached);
  EXPECT_EQ(a.breached_at, b.breached_at);
}

// ---------------------------------------------------------------- calendar

TEST(Calendar, TheTestDatesFallOnTheExpectedWeekdays) {
  EXPECT_EQ(absl::GetWeekday(absl::CivilDay(2026, 11, 20)), absl::Weekday::friday);
  EXPECT_EQ(absl::GetWeekday(absl::CivilDay(2026, 11, 23)), absl::Weekday::monday);
  EXPECT_EQ(absl::GetWeekday(absl::CivilDay(2026, 11, 28)), absl::Weekday::saturday);
  EXPECT_EQ(absl::GetWeekday(absl::CivilDay(2027, 11, 5)), absl::Weekday::friday);
  EXPECT_EQ(absl::GetWeekday(absl::CivilDay(2028, 11, 20)), absl::Weekday::monday);
}

TEST(Calendar, IsWorkingTimeAtEveryBoundaryOfTheDay) {
  BusinessCalendar cal = Office();
  EXPECT_FALSE(cal.IsWorkingTime(Nov(20, 8, 59, 59)));
  EXPECT_TRUE(cal.IsWorkingTime(Nov(20, 9, 0)));  // opening is inclusive
  EXPECT_TRUE(cal.IsWorkingTime(Nov(20, 11, 59, 59)));
  EXPECT_FALSE(cal.IsWorkingTime(Nov(20, 12, 0)));  // closing is exclusive
  EXPECT_FALSE(cal.IsWorkingTime(Nov(20, 12, 59, 59)));
  EXPECT_TRUE(cal.IsWorkingTime(Nov(20, 13, 0)));
  EXPECT_TRUE(cal.IsWorkingTime(Nov(20, 18, 0) - kMicro));
  EXPECT_FALSE(cal.IsWorkingTime(Nov(20, 18, 0)));
  EXPECT_FALSE(cal.IsWorkingTime(Nov(21, 10, 0)));  // Saturday
  EXPECT_FALSE(cal.IsWorkingTime(Nov(22, 10, 0)));  // Sunday
  EXPECT_FALSE(cal.IsWorkingTime(absl::InfiniteFuture()));
}

TEST(Calendar, HolidaysCloseAndExtraWorkingDaysOpenWithMondaysHours) {
  BusinessCalendar cal = OfficeWithMakeUpDay();
  EXPECT_FALSE(cal.IsWorkingTime(Nov(27, 10, 0)));  // Friday holiday
  EXPECT_TRUE(cal.IsWorkingTime(Nov(28, 10, 0)));   // Saturday worked
  EXPECT_FALSE(cal.IsWorkingTime(Nov(28, 12, 30)));  // with Monday's lunch break
  EXPECT_FALSE(cal.IsWorkingTime(Nov(29, 10, 0)));   // Sunday still closed

  // Monday alone works 10:00-16:00 straight through; the extra Saturday copies it.
  BusinessCalendar::WeeklyHours weekly = OfficeHours();
  weekly[0] = {{10 * 60, 16 * 60}};
  auto odd_monday = BusinessCalendar::Create(kZone, weekly, {}, {absl::CivilDay(2026, 11, 28)});
  ASSERT_TRUE(odd_monday.ok()) << odd_monday.status();
  EXPECT_FALSE(odd_monday->IsWorkingTime(Nov(28, 9, 30)));
  EXPECT_TRUE(odd_monday->IsWorkingTime(Nov(28, 12, 30)));
  EXPECT_FALSE(odd_monday->IsWorkingTime(Nov(28, 16, 0)));
  // Friday 17:00 + 2h: one hour on Friday, the other from Saturday's 10:00 opening.
  EXPECT_EQ(odd_monday->AddWorkingTime(Nov(27, 17, 0), absl::Hours(2)), Nov(28, 11, 0));

  // A day listed as both is a holiday.
  BusinessCalendar both = Office({absl::CivilDay(2026, 11, 28)}, {absl::CivilDay(2026, 11, 28)});
  EXPECT_FALSE(both.IsWorkingTime(Nov(28, 10, 0)));
}

TEST(Calendar, HoursAreLocalToTheCalendarsZone) {
  BusinessCalendar cal = Office();
  absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_TRUE(cal.IsWorkingTime(absl::FromCivil(absl::CivilSecond(2026, 11, 20, 1, 0, 0), utc)));   // 09:00 +08
  EXPECT_TRUE(cal.IsWorkingTime(absl::FromCivil(absl::CivilSecond(2026, 11, 20, 9, 59, 0), utc)));  // 17:59 +08
  EXPECT_FALSE(cal.IsWorkingTime(absl::FromCivil(absl::CivilSecond(2026, 11, 20, 10, 0, 0), utc)));  // 18:00 +08
  // 01:00 UTC on Sunday is Sunday 09:00 here, closed; on Monday it is the opening.
  EXPECT_FALSE(cal.IsWorkingTime(absl::FromCivil(absl::CivilSecond(2026, 11, 22, 1, 0, 0), utc)));
  EXPECT_TRUE(cal.IsWorkingTime(absl::FromCivil(absl::CivilSecond(2026, 11, 23, 1, 0, 0), utc)));
}

TEST(Calendar, AddWorkingTimeWithinAndAcrossTheLunchBreak) {
  BusinessCalendar cal = Office();
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 9, 30), absl::Hours(1)), Nov(23, 10, 30));
  EXPECT_EQ(cal.AddWorkingTime(Nov(20, 11, 0), absl::Hours(2)), Nov(20, 14, 0));
  // Work that fills the morning ends at noon, not at the 13:00 reopening.
  EXPECT_EQ(cal.AddWorkingTime(Nov(20, 11, 0), absl::Hours(1)), Nov(20, 12, 0));
  EXPECT_EQ(cal.AddWorkingTime(Nov(20, 11, 0), absl::Hours(1) + kMicro), Nov(20, 13, 0) + kMicro);
  // Sub-second precision survives the jump over lunch.
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 11, 59, 59) + absl::Milliseconds(500), absl::Seconds(1)),
            Nov(23, 13, 0) + absl::Milliseconds(500));
}

TEST(Calendar, AddWorkingTimeAcrossANightAWeekendAHolidayAndAnExtraWorkingDay) {
  // Night: Monday 17:00 + 2h = one hour Monday, one hour Tuesday morning.
  EXPECT_EQ(Office().AddWorkingTime(Nov(23, 17, 0), absl::Hours(2)), Nov(24, 10, 0));
  // A full afternoon ends at 18:00 that day.
  EXPECT_EQ(Office().AddWorkingTime(Nov(20, 13, 0), absl::Hours(5)), Nov(20, 18, 0));
  // Weekend: Friday 16:00 + 4h = 2h on Friday, 2h from Monday 09:00.
  EXPECT_EQ(Office().AddWorkingTime(Nov(20, 16, 0), absl::Hours(4)), Nov(23, 11, 0));
  // Holiday: Thursday 17:00 + 3h with Friday 27 off = 1h Thursday, then Monday 30 09:00-11:00.
  EXPECT_EQ(Office({absl::CivilDay(2026, 11, 27)}).AddWorkingTime(Nov(26, 17, 0), absl::Hours(3)), Nov(30, 11, 0));
  // The same with Saturday 28 worked instead: Saturday 11:00.
  EXPECT_EQ(OfficeWithMakeUpDay().AddWorkingTime(Nov(26, 17, 0), absl::Hours(3)), Nov(28, 11, 0));
}

TEST(Calendar, AddWorkingTimeStartingOutsideWorkingHoursCountsFromTheNextOpening) {
  BusinessCalendar cal = Office();
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 7, 30), absl::Minutes(30)), Nov(23, 9, 30));  // before opening
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 12, 15), absl::Minutes(1)), Nov(23, 13, 1));  // lunch
  EXPECT_EQ(cal.AddWorkingTime(Nov(20, 19, 0), absl::Hours(1)), Nov(23, 10, 0));     // Friday evening
  EXPECT_EQ(cal.AddWorkingTime(Nov(20, 18, 0), absl::Minutes(1)), Nov(23, 9, 1));    // at Friday's closing
  EXPECT_EQ(cal.AddWorkingTime(Nov(21, 10, 0), absl::Hours(1)), Nov(23, 10, 0));     // Saturday
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 7, 30), absl::Hours(8)), Nov(23, 18, 0));     // exactly one day
}

TEST(Calendar, AddingNothingReturnsTheStart) {
  BusinessCalendar cal = Office();
  EXPECT_EQ(cal.AddWorkingTime(Nov(21, 10, 0), absl::ZeroDuration()), Nov(21, 10, 0));
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 10, 0), absl::ZeroDuration()), Nov(23, 10, 0));
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 10, 0), -absl::Hours(1)), Nov(23, 10, 0));
  EXPECT_EQ(cal.AddWorkingTime(Nov(23, 10, 0), absl::InfiniteDuration()), absl::InfiniteFuture());
}

TEST(Calendar, MultiDayBudgetsStepWholeIntervals) {
  // Five working days from Friday 09:00: Fri, Mon, Tue, Wed, Thu.
  EXPECT_EQ(Office().AddWorkingTime(Nov(20, 9, 0), absl::Hours(40)), Nov(26, 18, 0));
  // With Wednesday 25 off it takes one more day.
  EXPECT_EQ(Office({absl::CivilDay(2026, 11, 25)}).AddWorkingTime(Nov(20, 9, 0), absl::Hours(40)), Nov(27, 18, 0));
  // 2000 working hours = 50 weeks of 40 h: the Friday 49 weeks and 4 days later.
  EXPECT_EQ(Office().AddWorkingTime(Nov(23, 9, 0), absl::Hours(2000)), At(2027, 11, 5, 18, 0));
  EXPECT_EQ(Office().WorkingTimeBetween(Nov(23, 9, 0), At(2027, 11, 5, 18, 0)), absl::Hours(2000));
}

TEST(Calendar, WorkingTimeBetween) {
  BusinessCalendar cal = Office();
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(20, 16, 0), Nov(23, 11, 0)), absl::Hours(4));
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(20, 11, 0), Nov(20, 14, 0)), absl::Hours(2));
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(20, 12, 10), Nov(20, 12, 50)), absl::ZeroDuration());  // lunch
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(21, 0, 0), Nov(23, 0, 0)), absl::ZeroDuration());      // weekend
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(23, 9, 0) + absl::Milliseconds(250), Nov(23, 9, 0, 1)),
            absl::Milliseconds(750));
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(23, 11, 0), Nov(23, 11, 0)), absl::ZeroDuration());
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(23, 12, 0), Nov(23, 11, 0)), absl::ZeroDuration());  // backwards
  // A whole week, then with a holiday, then with the holiday made up on Saturday.
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(23, 0, 0), Nov(30, 0, 0)), absl::Hours(40));
  EXPECT_EQ(Office({absl::CivilDay(2026, 11, 27)}).WorkingTimeBetween(Nov(23, 0, 0), Nov(30, 0, 0)), absl::Hours(32));
  EXPECT_EQ(OfficeWithMakeUpDay().WorkingTimeBetween(Nov(23, 0, 0), Nov(30, 0, 0)), absl::Hours(40));
  EXPECT_EQ(cal.WorkingTimeBetween(Nov(23, 9, 0), absl::InfiniteFuture()), absl::InfiniteDuration());
}

TEST(Calendar, AddAndBetweenAreInverses) {
  BusinessCalendar cal = OfficeWithMakeUpDay();
  std::mt19937_64 rng(20261120);
  const absl::Time base = Nov(1, 0, 0);
  const int64_t two_months_us = int64_t{61} * 24 * 3600 * 1000000;
  auto random_time = [&] { return base + absl::Microseconds(static_cast<int64_t>(rng() % two_months_us)); };
  for (int i = 0; i < 2000; ++i) {
    // Budgets from one second to two working weeks, at microsecond resolution.
    const absl::Time start = random_time();
    const absl::Duration work = absl::Seconds(1) + absl::Microseconds(static_cast<int64_t>(rng() % (80 * 3600 * 1000000LL)));
    const absl::Time end = cal.AddWorkingTime(start, work);
    ASSERT_EQ(cal.WorkingTimeBetween(start, end), work) << "start " << Local(start) << " work " << work;
    // The end is the earliest such instant: the microsecond before it was working time.
    ASSERT_TRUE(cal.IsWorkingTime(end - kMicro)) << "start " << Local(start) << " end " << Local(end);
    // More work never finishes earlier.
    ASSERT_LE(end, cal.AddWorkingTime(start, work + absl::Seconds(1)));
  }
  for (int i = 0; i < 2000; ++i) {
    absl::Time a = random_time(), b = random_time();
    if (b < a) std::swap(a, b);
    const absl::Duration between = cal.WorkingTimeBetween(a, b);
    const absl::Time reached = cal.AddWorkingTime(a, between);
    ASSERT_LE(reached, b) << Local(a) << " .. " << Local(b);
    ASSERT_EQ(cal.WorkingTimeBetween(reached, b), absl::ZeroDuration()) << Local(a) << " .. " << Local(b);
  }
}

TEST(Calendar, AlwaysOpenCountsWallClockTime) {
  BusinessCalendar always = BusinessCalendar::AlwaysOpen();
  EXPECT_TRUE(always.always_open());
  EXPECT_TRUE(always.IsWorkingTime(Nov(22, 3, 0)));  // Sunday night
  EXPECT_EQ(always.AddWorkingTime(Nov(21, 23, 0), absl::Hours(2)), Nov(22, 1, 0));
  EXPECT_EQ(always.WorkingTimeBetween(Nov(20, 18, 0), Nov(23, 9, 0)), absl::Hours(63));
  EXPECT_EQ(always.WorkingTimeBetween(Nov(23, 9, 0), Nov(20, 18, 0)), absl::ZeroDuration());
}

TEST(Calendar, WithoutWorkingTimeNothingEverFinishes) {
  BusinessCalendar never = NeverOpen();
  EXPECT_FALSE(never.always_open());
  EXPECT_FALSE(never.IsWorkingTime(Nov(23, 10, 0)));
  EXPECT_EQ(never.WorkingTimeBetween(Nov(23, 0, 0), Nov(30, 0, 0)), absl::ZeroDuration());
  EXPECT_EQ(never.WorkingTimeBetween(Nov(23, 0, 0), absl::InfiniteFuture()), absl::ZeroDuration());
  EXPECT_EQ(never.AddWorkingTime(Nov(23, 9, 0), absl::Minutes(1)), absl::InfiniteFuture());
  // Extra working days borrow Monday's hours, which are empty here.
  auto only_extra = BusinessCalendar::Create(kZone, {}, {}, {absl::CivilDay(2026, 11, 28)});
  ASSERT_TRUE(only_extra.ok());
  EXPECT_EQ(only_extra->AddWorkingTime(Nov(23, 9, 0), absl::Minutes(1)), absl::InfiniteFuture());
}

TEST(Calendar, TheSearchForWorkingTimeIsBoundedToThreeYears) {
  // Open only on Mondays, and every Monday for the next two years is a holiday.
  BusinessCalendar::WeeklyHours mondays;
  mondays[0] = {{9 * 60, 12 * 60}};
  std::set<absl::CivilDay> two_years_of_mondays;
  for (int week = 0; week < 104; ++week) two_years_of_mondays.insert(absl::CivilDay(2026, 11, 23) + 7 * week);
  auto sparse = BusinessCalendar::Create(kZone, mondays, two_years_of_mondays, {});
  ASSERT_TRUE(sparse.ok());
  // The first working Monday is 2028-11-20, still within reach.
  EXPECT_EQ(sparse->AddWorkingTime(Nov(23, 8, 0), absl::Hours(1)), At(2028, 11, 20, 10, 0));

  std::set<absl::CivilDay> four_years_of_mondays;
  for (int week = 0; week < 4 * 53; ++week) four_years_of_mondays.insert(absl::CivilDay(2026, 11, 23) + 7 * week);
  auto closed = BusinessCalendar::Create(kZone, mondays, four_years_of_mondays, {});
  ASSERT_TRUE(closed.ok());
  EXPECT_EQ(closed->AddWorkingTime(Nov(23, 8, 0), absl::Hours(1)), absl::InfiniteFuture());

  // Four years of working time does not fit in the three-year search either.
  EXPECT_EQ(Office().AddWorkingTime(Nov(23, 9, 0), absl::Hours(4 * 52 * 40)), absl::InfiniteFuture());
}

TEST(Calendar, AdjacentAndFullDayIntervalsAreValid) {
  BusinessCalendar::WeeklyHours weekly;
  weekly[0] = {{9 * 60, 12 * 60}, {12 * 60, 18 * 60}};  // touching: no gap, no overlap
  for (int day = 1; day < 7; ++day) weekly[day] = {{0, 24 * 60}};
  auto cal = BusinessCalendar::Create(kZone, weekly, {}, {});
  ASSERT_TRUE(cal.ok()) << cal.status();
  EXPECT_TRUE(cal->IsWorkingTime(Nov(23, 12, 0)));
  EXPECT_TRUE(cal->IsWorkingTime(Nov(24, 0, 0)));
  EXPECT_TRUE(cal->IsWorkingTime(Nov(24, 23, 59, 59)));
  // Tuesday 23:00 + 2h runs through midnight into Wednesday.
  EXPECT_EQ(cal->AddWorkingTime(Nov(24, 23, 0), absl::Hours(2)), Nov(25, 1, 0));
  // Sunday 23:00 + 2h: one hour Sunday, Monday opens at 09:00.
  EXPECT_EQ(cal->AddWorkingTime(Nov(22, 23, 0), absl::Hours(2)), Nov(23, 10, 0));
}

absl::Status CreateWith(int day, std::vector<WorkingInterval> intervals) {
  BusinessCalendar::WeeklyHours weekly = OfficeHours();
  weekly[day] = std::move(intervals);
  return BusinessCalendar::Create(kZone, weekly, {}, {}).status();
}

TEST(Calendar, ValidationNamesTheBadInterval) {
  absl::Status overlapping = CreateWith(0, {{540, 720}, {700, 800}});
  EXPECT_EQ(overlapping.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(overlapping.message(), "calendar.weekly_hours[monday][1]: overlaps the previous interval");
  EXPECT_EQ(CreateWith(1, {{780, 1080}, {540, 720}}).message(),
            "calendar.weekly_hours[tuesday][1]: starts before the previous interval (list intervals in time order)");
  EXPECT_EQ(CreateWith(2, {{600, 600}}).message(), "calendar.weekly_hours[wednesday][0]: must end after it starts");
  EXPECT_EQ(CreateWith(3, {{700, 600}}).message(), "calendar.weekly_hours[thursday][0]: must end after it starts");
  EXPECT_EQ(CreateWith(6, {{-10, 60}}).message(),
            "calendar.weekly_hours[sunday][0]: must lie within the day (minutes 0 to 1440)");
  EXPECT_EQ(CreateWith(5, {{600, 1500}}).message(),
            "calendar.weekly_hours[saturday][0]: must lie within the day (minutes 0 to 1440)");
  // A bad interval does not hide a later one: every problem is reported.
  BusinessCalendar::WeeklyHours weekly = OfficeHours();
  weekly[0] = {{540, 720}, {600, 650}};
  weekly[4] = {{900, 800}, {540, 600}};
  EXPECT_EQ(BusinessCalendar::Create(kZone, weekly, {}, {}).status().message(),
            "calendar.weekly_hours[monday][1]: overlaps the previous interval; "
            "calendar.weekly_hours[friday][0]: must end after it starts");
}

TEST(Calendar, TimeZoneByName) {
  auto utc = BusinessCalendar::Create("UTC", OfficeHours(), {}, {});
  ASSERT_TRUE(utc.ok()) << utc.status();
  EXPECT_EQ(utc->zone(), absl::UTCTimeZone());
  EXPECT_TRUE(utc->IsWorkingTime(absl::FromCivil(absl::CivilSecond(2026, 11, 23, 9, 0, 0), absl::UTCTimeZone())));
  EXPECT_FALSE(utc->IsWorkingTime(Nov(23, 9, 0)));  // 01:00 UTC

  auto unknown = BusinessCalendar::Create("Mars/Olympus", OfficeHours(), {}, {});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(),
            "calendar.time_zone: 'Mars/Olympus' is not a known IANA time zone such as Asia/Shanghai");
  EXPECT_EQ(BusinessCalendar::Create("", OfficeHours(), {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------- SLA clock

TEST(SlaEvents, ValidationRequiresAStartAndTimeOrder) {
  EXPECT_TRUE(ValidateSlaEvents({{Nov(23, 9, 0), K::kStart}}).ok());
  EXPECT_TRUE(ValidateSlaEvents({{Nov(23, 9, 0), K::kStart}, {Nov(23, 9, 0), K::kPause}}).ok());  // equal times

  absl::Status empty = ValidateSlaEvents({});
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "events: must begin with a start, but there are none");
  EXPECT_EQ(ValidateSlaEvents({{Nov(23, 9, 0), K::kPause}, {Nov(23, 10, 0), K::kStart}}).message(),
            "events[0]: the first event must be a start");
  absl::Status unsorted =
      ValidateSlaEvents({{Nov(23, 9, 0), K::kStart}, {Nov(23, 10, 0), K::kPause}, {Nov(23, 9, 30), K::kResume}});
  EXPECT_EQ(unsorted.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unsorted.message(), "events[2]: is earlier than events[1]");
}

TEST(SlaClock, RunningClockCountsWorkingTimeOnly) {
  // Four working hours from Monday 09:00: three in the morning, one after lunch.
  SlaState s = ComputeSla(Office(), absl::Hours(4), {{Nov(23, 9, 0), K::kStart}}, Nov(23, 10, 30));
  EXPECT_EQ(s.budget, absl::Hours(4));
  EXPECT_EQ(s.used, absl::Minutes(90));
  EXPECT_DOUBLE_EQ(s.used_fraction, 0.375);
  EXPECT_EQ(s.deadline, Nov(23, 14, 0));
  EXPECT_TRUE(s.running);
  EXPECT_FALSE(s.paused);
  EXPECT_FALSE(s.stopped);
  EXPECT_FALSE(s.breached);
  EXPECT_EQ(s.breached_at, absl::InfinitePast());
  EXPECT_EQ(s.paused_wall_time, absl::ZeroDuration());
  // Over lunch the clock stands still.
  EXPECT_EQ(ComputeSla(Office(), absl::Hours(4), {{Nov(23, 9, 0), K::kStart}}, Nov(23, 12, 45)).used, absl::Hours(3));
}

TEST(SlaClock, ADeadlineExactlyAtNowIsNotYetBreached) {
  const std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart}};
  SlaState before = ComputeSla(Office(), absl::Hours(4), events, Nov(23, 14, 0) - kMicro);
  EXPECT_FALSE(before.breached);

  SlaState at = ComputeSla(Office(), absl::Hours(4), events, Nov(23, 14, 0));
  EXPECT_FALSE(at.breached);
  EXPECT_EQ(at.breached_at, absl::InfinitePast());
  EXPECT_EQ(at.used, absl::Hours(4));
  EXPECT_DOUBLE_EQ(at.used_fraction, 1.0);
  EXPECT_EQ(at.deadline, Nov(23, 14, 0));

  SlaState after = ComputeSla(Office(), absl::Hours(4), events, Nov(23, 14, 0) + kMicro);
  EXPECT_TRUE(after.breached);
  EXPECT_EQ(after.breached_at, Nov(23, 14, 0));
  EXPECT_EQ(after.deadline, Nov(23, 14, 0));  // stays on the missed deadline
  EXPECT_EQ(after.used, absl::Hours(4) + kMicro);
  EXPECT_GT(after.used_fraction, 1.0);
}

TEST(SlaClock, ADeadlineAtClosingTimeIsBreachedJustAfterClosing) {
  // Five hours from Monday 13:00 are due at 18:00 sharp.
  const std::vector<SlaEvent> events{{Nov(23, 13, 0), K::kStart}};
  SlaState at_closing = ComputeSla(Office(), absl::Hours(5), events, Nov(23, 18, 0));
  EXPECT_EQ(at_closing.deadline, Nov(23, 18, 0));
  EXPECT_FALSE(at_closing.breached);
  // The work was due by closing; the evening accrues no working time but it is late.
  SlaState evening = ComputeSla(Office(), absl::Hours(5), events, Nov(23, 20, 0));
  EXPECT_TRUE(evening.breached);
  EXPECT_EQ(evening.breached_at, Nov(23, 18, 0));
  EXPECT_EQ(evening.deadline, Nov(23, 18, 0));
  EXPECT_EQ(evening.used, absl::Hours(5));
  EXPECT_DOUBLE_EQ(evening.used_fraction, 1.0);
}

TEST(SlaClock, StartingOutsideWorkingHoursWaitsForTheOpening) {
  const std::vector<SlaEvent> events{{Nov(21, 10, 0), K::kStart}};  // Saturday
  SlaState weekend = ComputeSla(Office(), absl::Hours(2), events, Nov(22, 20, 0));
  EXPECT_EQ(weekend.used, absl::ZeroDuration());
  EXPECT_DOUBLE_EQ(weekend.used_fraction, 0.0);
  EXPECT_EQ(weekend.deadline, Nov(23, 11, 0));
  EXPECT_TRUE(weekend.running);
}

TEST(SlaClock, OnePausePushesTheDeadlineByThePausedWorkingTime) {
  BusinessCalendar cal = Office();
  // Unpaused, eight hours from Monday 09:00 end Monday 18:00.
  const absl::Time unpaused_deadline = Nov(23, 18, 0);
  ASSERT_EQ(ComputeSla(cal, absl::Hours(8), {{Nov(23, 9, 0), K::kStart}}, Nov(23, 9, 0)).deadline, unpaused_deadline);

  // Paused 10:00-14:00: four wall-clock hours, three working hours (10-12, 13-14).
  const std::vector<SlaEvent> events{
      {Nov(23, 9, 0), K::kStart}, {Nov(23, 10, 0), K::kPause}, {Nov(23, 14, 0), K::kResume}};
  ASSERT_TRUE(ValidateSlaEvents(events).ok());
  SlaState s = ComputeSla(cal, absl::Hours(8), events, Nov(23, 15, 0));
  EXPECT_EQ(s.used, absl::Hours(2));
  EXPECT_EQ(s.paused_wall_time, absl::Hours(4));
  EXPECT_TRUE(s.running);
  EXPECT_FALSE(s.paused);
  EXPECT_EQ(s.deadline, Nov(24, 12, 0));
  EXPECT_EQ(s.deadline, cal.AddWorkingTime(unpaused_deadline, cal.WorkingTimeBetween(Nov(23, 10, 0), Nov(23, 14, 0))));
}

TEST(SlaClock, SeveralPausesIncludingOneOverNight) {
  BusinessCalendar cal = Office();
  // Paused 10:00-11:00 (1 working hour) and Monday 17:00 to Tuesday 10:00 (17 wall-clock
  // hours, 2 working hours: 17-18 and 9-10).
  const std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart},  {Nov(23, 10, 0), K::kPause},
                                     {Nov(23, 11, 0), K::kResume}, {Nov(23, 17, 0), K::kPause},
                                     {Nov(24, 10, 0), K::kResume}};
  SlaState s = ComputeSla(cal, absl::Hours(8), events, Nov(24, 11, 0));
  // Worked 9-10, 11-12, 13-17 on Monday and 10-11 on Tuesday.
  EXPECT_EQ(s.used, absl::Hours(7));
  EXPECT_EQ(s.paused_wall_time, absl::Hours(18));
  EXPECT_EQ(s.deadline, Nov(24, 12, 0));  // Monday 18:00 + 3 paused working hours
  EXPECT_DOUBLE_EQ(s.used_fraction, 7.0 / 8.0);
  // Recomputing at other moments of the same stretch gives the same deadline.
  EXPECT_EQ(ComputeSla(cal, absl::Hours(8), events, Nov(24, 10, 30)).deadline, Nov(24, 12, 0));
  EXPECT_EQ(ComputeSla(cal, absl::Hours(8), events, Nov(24, 11, 59)).deadline, Nov(24, 12, 0));
  // A pause over the weekend: Friday 17:00 to Monday 10:00 is 65 hours, 2 of them working.
  SlaState weekend = ComputeSla(
      cal, absl::Hours(8),
      {{Nov(20, 9, 0), K::kStart}, {Nov(20, 17, 0), K::kPause}, {Nov(23, 10, 0), K::kResume}}, Nov(23, 10, 0));
  EXPECT_EQ(weekend.paused_wall_time, absl::Hours(65));
  EXPECT_EQ(weekend.deadline, Nov(23, 11, 0));  // Friday 18:00 + 2 working hours
}

TEST(SlaClock, APauseAlwaysShiftsTheDeadlineByExactlyThePausedWorkingTime) {
  BusinessCalendar cal = OfficeWithMakeUpDay();
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const absl::Time start = Nov(16, 0, 0) + absl::Minutes(static_cast<int64_t>(rng() % (14 * 24 * 60)));
    const absl::Duration budget = absl::Minutes(1 + static_cast<int64_t>(rng() % (40 * 60)));
    const absl::Time unpaused = cal.AddWorkingTime(start, budget);
    // A pause that begins before the unpaused deadline and lasts up to three days.
    const absl::Time pause = start + (unpaused - start) * (static_cast<double>(rng() % 1000) / 1000.0);
    const absl::Time resume = pause + absl::Minutes(static_cast<int64_t>(rng() % (3 * 24 * 60)));
    const std::vector<SlaEvent> events{{start, K::kStart}, {pause, K::kPause}, {resume, K::kResume}};
    SlaState s = ComputeSla(cal, budget, events, resume);
    ASSERT_FALSE(s.breached) << Local(start);
    ASSERT_EQ(s.deadline, cal.AddWorkingTime(unpaused, cal.WorkingTimeBetween(pause, resume)))
        << "start " << Local(start) << " budget " << budget << " pause " << Local(pause) << " resume "
        << Local(resume);
    ASSERT_EQ(s.paused_wall_time, resume - pause);
  }
}

TEST(SlaClock, WhilePausedThereIsNoDeadlineAndPausedTimeKeepsGrowing) {
  const std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart}, {Nov(23, 10, 0), K::kPause}};
  SlaState s = ComputeSla(Office(), absl::Hours(8), events, Nov(23, 16, 0));
  EXPECT_TRUE(s.paused);
  EXPECT_FALSE(s.running);
  EXPECT_FALSE(s.stopped);
  EXPECT_EQ(s.deadline, absl::InfiniteFuture());
  EXPECT_EQ(s.used, absl::Hours(1));
  EXPECT_EQ(s.paused_wall_time, absl::Hours(6));
  EXPECT_DOUBLE_EQ(s.used_fraction, 0.125);
  EXPECT_FALSE(s.breached);
  EXPECT_FALSE(AtRisk(s, 0.0));
}

TEST(SlaClock, StopFreezesTheClock) {
  BusinessCalendar cal = Office();
  SlaState met = ComputeSla(cal, absl::Hours(4), {{Nov(23, 9, 0), K::kStart}, {Nov(23, 11, 0), K::kStop}}, Nov(25, 9, 0));
  EXPECT_TRUE(met.stopped);
  EXPECT_FALSE(met.running);
  EXPECT_FALSE(met.paused);
  EXPECT_EQ(met.used, absl::Hours(2));
  EXPECT_DOUBLE_EQ(met.used_fraction, 0.5);
  EXPECT_EQ(met.deadline, absl::InfiniteFuture());
  EXPECT_FALSE(met.breached);

  // Stopped exactly at the deadline is in time; a microsecond later is a breach.
  SlaState on_time =
      ComputeSla(cal, absl::Hours(4), {{Nov(23, 9, 0), K::kStart}, {Nov(23, 14, 0), K::kStop}}, Nov(25, 9, 0));
  EXPECT_FALSE(on_time.breached);
  SlaState late =
      ComputeSla(cal, absl::Hours(4), {{Nov(23, 9, 0), K::kStart}, {Nov(23, 14, 0) + kMicro, K::kStop}}, Nov(25, 9, 0));
  EXPECT_TRUE(late.breached);
  EXPECT_EQ(late.breached_at, Nov(23, 14, 0));
  EXPECT_EQ(late.deadline, absl::InfiniteFuture());

  // Stopped while paused: the pause ends at the stop.
  SlaState paused_then_stopped = ComputeSla(
      cal, absl::Hours(4), {{Nov(23, 9, 0), K::kStart}, {Nov(23, 10, 0), K::kPause}, {Nov(23, 11, 0), K::kStop}},
      Nov(23, 16, 0));
  EXPECT_TRUE(paused_then_stopped.stopped);
  EXPECT_FALSE(paused_then_stopped.paused);
  EXPECT_EQ(paused_then_stopped.used, absl::Hours(1));
  EXPECT_EQ(paused_then_stopped.paused_wall_time, absl::Hours(1));
}

TEST(SlaClock, EventsAfterNowAreNotYetKnown) {
  const std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart}, {Nov(25, 9, 0), K::kStop}};
  SlaState s = ComputeSla(Office(), absl::Hours(4), events, Nov(23, 10, 0));
  EXPECT_TRUE(s.running);
  EXPECT_FALSE(s.stopped);
  EXPECT_EQ(s.used, absl::Hours(1));
  // Before its start a clock has not begun.
  SlaState not_started = ComputeSla(Office(), absl::Hours(4), events, Nov(23, 8, 0));
  EXPECT_FALSE(not_started.running);
  EXPECT_EQ(not_started.used, absl::ZeroDuration());
  EXPECT_EQ(not_started.deadline, absl::InfiniteFuture());
}

TEST(SlaClock, DuplicateAndPointlessEventsAreIgnored) {
  BusinessCalendar cal = Office();
  const std::vector<SlaEvent> clean{{Nov(23, 9, 0), K::kStart},   {Nov(23, 10, 0), K::kPause},
                                    {Nov(23, 14, 0), K::kResume}, {Nov(23, 15, 0), K::kPause},
                                    {Nov(23, 16, 0), K::kResume}, {Nov(23, 17, 0), K::kStop}};
  const std::vector<SlaEvent> noisy{
      {Nov(23, 9, 0), K::kStart},   {Nov(23, 9, 30), K::kStart},   {Nov(23, 9, 40), K::kResume},  // while running
      {Nov(23, 10, 0), K::kPause},  {Nov(23, 10, 30), K::kPause},                                 // while paused
      {Nov(23, 14, 0), K::kResume}, {Nov(23, 14, 30), K::kResume}, {Nov(23, 15, 0), K::kPause},
      {Nov(23, 16, 0), K::kResume}, {Nov(23, 17, 0), K::kStop},    {Nov(23, 17, 30), K::kStop},   // after stop
      {Nov(23, 17, 45), K::kResume}, {Nov(23, 17, 50), K::kStart}};
  ASSERT_TRUE(ValidateSlaEvents(noisy).ok());
  for (absl::Time now : {Nov(23, 9, 45), Nov(23, 10, 45), Nov(23, 14, 45), Nov(23, 16, 30), Nov(24, 9, 0)}) {
    SCOPED_TRACE(Local(now));
    ExpectSameState(ComputeSla(cal, absl::Hours(8), noisy, now), ComputeSla(cal, absl::Hours(8), clean, now));
  }
  SlaState end = ComputeSla(cal, absl::Hours(8), noisy, Nov(24, 9, 0));
  EXPECT_TRUE(end.stopped);
  EXPECT_EQ(end.used, absl::Hours(3));              // 9-10, 14-15, 16-17
  EXPECT_EQ(end.paused_wall_time, absl::Hours(5));  // 10-14, 15-16
  // Anything before the start is ignored too.
  ExpectSameState(ComputeSla(cal, absl::Hours(8), {{Nov(23, 8, 0), K::kPause}, {Nov(23, 8, 30), K::kStop},
                                                   {Nov(23, 9, 0), K::kStart}},
                             Nov(23, 11, 0)),
                  ComputeSla(cal, absl::Hours(8), {{Nov(23, 9, 0), K::kStart}}, Nov(23, 11, 0)));
}

TEST(SlaClock, ABreachIsRememberedThroughPausesAndResumes) {
  BusinessCalendar cal = Office();
  std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart}, {Nov(23, 11, 0), K::kPause}};
  SlaState paused = ComputeSla(cal, absl::Hours(1), events, Nov(23, 15, 0));
  EXPECT_TRUE(paused.breached);
  EXPECT_EQ(paused.breached_at, Nov(23, 10, 0));
  EXPECT_EQ(paused.deadline, absl::InfiniteFuture());
  EXPECT_EQ(paused.used, absl::Hours(2));
  EXPECT_DOUBLE_EQ(paused.used_fraction, 2.0);

  events.push_back({Nov(23, 16, 0), K::kResume});
  SlaState resumed = ComputeSla(cal, absl::Hours(1), events, Nov(23, 17, 0));
  EXPECT_TRUE(resumed.breached);
  EXPECT_EQ(resumed.breached_at, Nov(23, 10, 0));
  EXPECT_EQ(resumed.deadline, Nov(23, 10, 0));  // the missed deadline, in the past
  EXPECT_EQ(resumed.used, absl::Hours(3));
  EXPECT_FALSE(AtRisk(resumed, 0.8));
}

TEST(SlaClock, ResumingWithNothingLeftIsDueAtOnce) {
  BusinessCalendar cal = Office();
  // The hour is used up exactly at the pause: not a breach.
  std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart}, {Nov(23, 10, 0), K::kPause}};
  SlaState paused = ComputeSla(cal, absl::Hours(1), events, Nov(23, 11, 0));
  EXPECT_FALSE(paused.breached);
  EXPECT_DOUBLE_EQ(paused.used_fraction, 1.0);
  // Resumed at 20:00, after hours: due at the resume itself.
  events.push_back({Nov(23, 20, 0), K::kResume});
  SlaState at_resume = ComputeSla(cal, absl::Hours(1), events, Nov(23, 20, 0));
  EXPECT_EQ(at_resume.deadline, Nov(23, 20, 0));
  EXPECT_FALSE(at_resume.breached);
  SlaState just_after = ComputeSla(cal, absl::Hours(1), events, Nov(23, 20, 0) + kMicro);
  EXPECT_TRUE(just_after.breached);
  EXPECT_EQ(just_after.breached_at, Nov(23, 20, 0));
}

TEST(SlaClock, RecomputingAfterASeverityOrCalendarChange) {
  const std::vector<SlaEvent> events{{Nov(23, 9, 0), K::kStart}};
  const absl::Time now = Nov(23, 15, 0);
  // The same inputs always give the same state.
  ExpectSameState(ComputeSla(Office(), absl::Hours(8), events, now), ComputeSla(Office(), absl::Hours(8), events, now));
  // A different severity is a different budget over the same history.
  EXPECT_EQ(ComputeSla(Office(), absl::Hours(8), events, now).deadline, Nov(23, 18, 0));
  EXPECT_EQ(ComputeSla(Office(), absl::Hours(24), events, now).deadline, Nov(25, 18, 0));
  // A holiday declared on Tuesday moves the three-day deadline to Thursday.
  EXPECT_EQ(ComputeSla(Office({absl::CivilDay(2026, 11, 24)}), absl::Hours(24), events, now).deadline, Nov(26, 18, 0));
  // Around the clock the same eight hours end at 17:00.
  EXPECT_EQ(ComputeSla(BusinessCalendar::AlwaysOpen(), absl::Hours(8), events, now).deadline, Nov(23, 17, 0));
}

TEST(SlaClock, ZeroBudgetIsDueAtTheStart) {
  const std::vector<SlaEvent> events{{Nov(23, 10, 0), K::kStart}};
  SlaState at = ComputeSla(Office(), absl::ZeroDuration(), events, Nov(23, 10, 0));
  EXPECT_EQ(at.deadline, Nov(23, 10, 0));
  EXPECT_FALSE(at.breached);
  EXPECT_DOUBLE_EQ(at.used_fraction, 1.0);
  EXPECT_TRUE(ComputeSla(Office(), absl::ZeroDuration(), events, Nov(23, 10, 0) + kMicro).breached);
}

TEST(SlaClock, WithoutWorkingTimeTheDeadlineNeverComes) {
  SlaState s = ComputeSla(NeverOpen(), absl::Hours(1), {{Nov(23, 9, 0), K::kStart}}, Nov(30, 9, 0));
  EXPECT_TRUE(s.running);
  EXPECT_EQ(s.used, absl::ZeroDuration());
  EXPECT_EQ(s.deadline, absl::InfiniteFuture());
  EXPECT_FALSE(s.breached);
}

TEST(SlaClock, AroundTheClockCountsNightsAndWeekends) {
  const std::vector<SlaEvent> events{{Nov(20, 22, 0), K::kStart}};  // Friday night
  BusinessCalendar always = BusinessCalendar::AlwaysOpen();
  SlaState at = ComputeSla(always, absl::Hours(8), events, Nov(21, 6, 0));
  EXPECT_EQ(at.deadline, Nov(21, 6, 0));
  EXPECT_FALSE(at.breached);
  SlaState after = ComputeSla(always, absl::Hours(8), events, Nov(21, 6, 0) + kMicro);
  EXPECT_TRUE(after.breached);
  EXPECT_EQ(after.breached_at, Nov(21, 6, 0));
}

TEST(SlaClock, AtRiskFromTheThreshold) {
  BusinessCalendar always = BusinessCalendar::AlwaysOpen();
  const std::vector<SlaEvent> events{{Nov(23, 0, 0), K::kStart}};
  const absl::Duration budget = absl::Hours(10);
  EXPECT_FALSE(AtRisk(ComputeSla(always, budget, events, Nov(23, 7, 54)), 0.8));  // 79%
  EXPECT_TRUE(AtRisk(ComputeSla(always, budget, events, Nov(23, 8, 0)), 0.8));    // 80%
  EXPECT_TRUE(AtRisk(ComputeSla(always, budget, events, Nov(23, 10, 0)), 0.8));   // 100%, not yet late
  EXPECT_FALSE(AtRisk(ComputeSla(always, budget, events, Nov(23, 10, 0) + kMicro), 0.8));  // breached
  // Paused or stopped at 90%: nothing can go wrong until it runs again.
  EXPECT_FALSE(AtRisk(ComputeSla(always, budget, {{Nov(23, 0, 0), K::kStart}, {Nov(23, 9, 0), K::kPause}},
                                 Nov(23, 9, 30)),
                      0.8));
  EXPECT_FALSE(AtRisk(ComputeSla(always, budget, {{Nov(23, 0, 0), K::kStart}, {Nov(23, 9, 0), K::kStop}},
                                 Nov(23, 9, 30)),
                      0.8));
  // Working time, not wall-clock time: 10 working hours from Monday 09:00.
  const std::vector<SlaEvent> office_events{{Nov(23, 9, 0), K::kStart}};
  EXPECT_FALSE(AtRisk(ComputeSla(Office(), budget, office_events, Nov(23, 17, 54)), 0.8));  // 7h54m
  EXPECT_TRUE(AtRisk(ComputeSla(Office(), budget, office_events, Nov(23, 18, 0)), 0.8));    // 8h
  // 23 wall-clock hours later only the same 8 working hours are used.
  SlaState next_morning = ComputeSla(Office(), budget, office_events, Nov(24, 8, 0));
  EXPECT_DOUBLE_EQ(next_morning.used_fraction, 0.8);
  EXPECT_TRUE(AtRisk(next_morning, 0.8));
  EXPECT_FALSE(AtRisk(next_morning, 0.81));
}

// ---------------------------------------------------------------- policy

TEST(Policy, DefaultsMatchTheDocumentedTable) {
  const DeadlinePolicy policy = DeadlinePolicy::Defaults();
  struct Row {
    Severity severity;
    int tier;
    absl::Duration respond, resolve;
    bool around_the_clock;
    absl::Duration step;
  };
  const Row rows[] = {
      {Severity::kMajor, 1, absl::Hours(1), absl::Hours(8), true, absl::Hours(4)},
      {Severity::kGeneral, 1, absl::Hours(4), absl::Hours(24), false, absl::Hours(12)},
      {Severity::kMinor, 1, absl::Hours(8), absl::Hours(40), false, absl::Hours(20)},
      {Severity::kMajor, 4, absl::Minutes(30), absl::Hours(4), true, absl::Hours(2)},
      {Severity::kGeneral, 4, absl::Hours(2), absl::Hours(12), true, absl::Hours(6)},
      {Severity::kMinor, 4, absl::Hours(4), absl::Hours(20), true, absl::Hours(10)},
  };
  for (const Row& row : rows) {
    // Tiers 1-3 share the catch-all; every work-order type gets the same rule.
    for (int tier : row.tier == 4 ? std::vector<int>{4} : std::vector<int>{1, 2, 3}) {
      for (int type : {1, 6, 8}) {
        SCOPED_TRACE(absl::StrCat(SeverityName(row.severity), " tier ", tier, " type ", type));
        const PolicyRule& rule = policy.Match(row.severity, tier, type);
        EXPECT_EQ(rule.severity, row.severity);
        EXPECT_EQ(rule.respond_within, row.respond);
        EXPECT_EQ(rule.resolve_within, row.resolve);
        EXPECT_EQ(rule.around_the_clock, row.around_the_clock);
        EXPECT_EQ(rule.escalation_step, row.step);
      }
    }
  }
  EXPECT_EQ(policy.rules().size(), 6u);
  // The defaults pass their own validation.
  auto recreated = DeadlinePolicy::Create(policy.rules());
  EXPECT_TRUE(recreated.ok()) << recreated.status();
}

TEST(Policy, EscalationStepIsHalfTheResolutionBudgetAtLeastHalfAnHour) {
  EXPECT_EQ(DefaultEscalationStep(absl::Hours(8)), absl::Hours(4));
  EXPECT_EQ(DefaultEscalationStep(absl::Minutes(61)), absl::Seconds(61 * 30));
  EXPECT_EQ(DefaultEscalationStep(absl::Hours(1)), absl::Minutes(30));
  EXPECT_EQ(DefaultEscalationStep(absl::Minutes(40)), absl::Minutes(30));
}

PolicyRule Rule(Severity severity, std::optional<int> tier, std::optional<int> type, absl::Duration respond) {
  return PolicyRule{severity, tier, type, respond, absl::Hours(100), false, absl::Hours(1)};
}

std::vector<PolicyRule> CatchAlls() {
  return {Rule(Severity::kMajor, std::nullopt, std::nullopt, absl::Hours(1)),
          Rule(Severity::kGeneral, std::nullopt, std::nullopt, absl::Hours(10)),
          Rule(Severity::kMinor, std::nullopt, std::nullopt, absl::Hours(1))};
}

TEST(Policy, TheMostSpecificRuleWins) {
  std::vector<PolicyRule> rules = CatchAlls();
  rules.push_back(Rule(Severity::kGeneral, 3, std::nullopt, absl::Hours(20)));
  rules.push_back(Rule(Severity::kGeneral, std::nullopt, 6, absl::Hours(30)));
  rules.push_back(Rule(Severity::kGeneral, 3, 6, absl::Hours(40)));
  auto policy = DeadlinePolicy::Create(rules);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->Match(Severity::kGeneral, 3, 6).respond_within, absl::Hours(40));  // tier and type
  EXPECT_EQ(policy->Match(Severity::kGeneral, 1, 6).respond_within, absl::Hours(30));  // type
  EXPECT_EQ(policy->Match(Severity::kGeneral, 3, 1).respond_within, absl::Hours(20));  // tier
  EXPECT_EQ(policy->Match(Severity::kGeneral, 1, 1).respond_within, absl::Hours(10));  // catch-all
  // Another severity's specific rules never apply.
  EXPECT_EQ(policy->Match(Severity::kMajor, 3, 6).respond_within, absl::Hours(1));

  // Without the combined rule, type outranks tier.
  rules.pop_back();
  policy = DeadlinePolicy::Create(rules);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->Match(Severity::kGeneral, 3, 6).respond_within, absl::Hours(30));
  // The order of the rules does not matter.
  std::reverse(rules.begin(), rules.end());
  policy = DeadlinePolicy::Create(rules);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->Match(Severity::kGeneral, 3, 6).respond_within, absl::Hours(30));
  EXPECT_EQ(policy->Match(Severity::kGeneral, 3, 1).respond_within, absl::Hours(20));
}

TEST(Policy, AnEmptyPolicyFallsBackToTheDefaults) {
  DeadlinePolicy empty;
  EXPECT_EQ(empty.Match(Severity::kGeneral, 1, 1).resolve_within, absl::Hours(24));
  EXPECT_EQ(empty.Match(Severity::kMajor, 4, 1).respond_within, absl::Minutes(30));
}

std::string CreateError(std::vector<PolicyRule> extra, std::vector<PolicyRule> base = CatchAlls()) {
  base.insert(base.end(), extra.begin(), extra.end());
  auto policy = DeadlinePolicy::Create(base);
  EXPECT_FALSE(policy.ok());
  if (policy.ok()) return "";
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(policy.status().message());
}

TEST(Policy, ValidationNamesTheField) {
  PolicyRule rule = Rule(Severity::kGeneral, 2, std::nullopt, absl::Hours(1));
  rule.respond_within = absl::ZeroDuration();
  EXPECT_EQ(CreateError({rule}), "policy.rules[3].respond_within_seconds: must be positive");

  rule = Rule(Severity::kGeneral, 2, std::nullopt, absl::Hours(1));
  rule.resolve_within = absl::ZeroDuration();
  EXPECT_EQ(CreateError({rule}),
            "policy.rules[3].resolve_within_seconds: must be positive; "
            "policy.rules[3].respond_within_seconds: must not exceed resolve_within_seconds");

  rule = Rule(Severity::kGeneral, 2, std::nullopt, absl::Hours(101));
  EXPECT_EQ(CreateError({rule}), "policy.rules[3].respond_within_seconds: must not exceed resolve_within_seconds");

  rule = Rule(Severity::kGeneral, 2, std::nullopt, absl::Hours(1));
  rule.escalation_step = -absl::Minutes(1);
  EXPECT_EQ(CreateError({rule}), "policy.rules[3].escalation_step_seconds: must be positive");

  EXPECT_EQ(CreateError({Rule(Severity::kGeneral, 0, std::nullopt, absl::Hours(1))}),
            "policy.rules[3].customer_tier: must be 1 to 4, or unset for any tier");
  EXPECT_EQ(CreateError({Rule(Severity::kGeneral, 5, std::nullopt, absl::Hours(1))}),
            "policy.rules[3].customer_tier: must be 1 to 4, or unset for any tier");
  EXPECT_EQ(CreateError({Rule(Severity::kGeneral, std::nullopt, 0, absl::Hours(1))}),
            "policy.rules[3].type: must be a work-order type (1 or more), or unset for any type");
  EXPECT_EQ(CreateError({Rule(static_cast<Severity>(7), std::nullopt, std::nullopt, absl::Hours(1))}),
            "policy.rules[3].severity: must be major, general or minor");

  EXPECT_EQ(CreateError({Rule(Severity::kGeneral, 2, 6, absl::Hours(1)), Rule(Severity::kGeneral, 2, 6, absl::Hours(2))}),
            "policy.rules[4]: duplicates policy.rules[3] (same severity, tier and type)");
  EXPECT_EQ(CreateError({Rule(Severity::kGeneral, std::nullopt, std::nullopt, absl::Hours(2))}),
            "policy.rules[3]: duplicates policy.rules[1] (same severity, tier and type)");
  // The same tier and type under another severity is no duplicate.
  std::vector<PolicyRule> rules = CatchAlls();
  rules.push_back(Rule(Severity::kGeneral, 2, 6, absl::Hours(1)));
  rules.push_back(Rule(Severity::kMinor, 2, 6, absl::Hours(1)));
  EXPECT_TRUE(DeadlinePolicy::Create(rules).ok());
  // Responding may take the whole resolution budget.
  rules.push_back(Rule(Severity::kMajor, 1, std::nullopt, absl::Hours(100)));
  EXPECT_TRUE(DeadlinePolicy::Create(rules).ok());
}

TEST(Policy, EverySeverityNeedsACatchAllRule) {
  std::vector<PolicyRule> base = CatchAlls();
  base.pop_back();                                                  // no minor catch-all
  base.push_back(Rule(Severity::kMinor, 2, 6, absl::Hours(1)));  // specific rules do not count
  EXPECT_EQ(CreateError({}, base), "policy.rules: needs a catch-all rule (any tier and type) for severity minor");
  EXPECT_EQ(CreateError({}, {}),
            "policy.rules: needs a catch-all rule (any tier and type) for severity major; "
            "policy.rules: needs a catch-all rule (any tier and type) for severity general; "
            "policy.rules: needs a catch-all rule (any tier and type) for severity minor");
}

// ---------------------------------------------------------------- escalation

TEST(Escalation, MajorComplaintsStartAtSeniorManagement) {
  EXPECT_EQ(InitialLevel(Severity::kMajor), EscalationLevel::kSeniorManagement);
  EXPECT_EQ(InitialLevel(Severity::kGeneral), EscalationLevel::kHandler);
  EXPECT_EQ(InitialLevel(Severity::kMinor), EscalationLevel::kHandler);
}

TEST(Escalation, OneLevelStrictlyAfterTheDeadline) {
  const absl::Time deadline = Nov(23, 14, 0);
  EscalationDecision before = DecideEscalation(EscalationLevel::kHandler, deadline, deadline - kMicro, "response");
  EXPECT_FALSE(before.escalate);
  EXPECT_EQ(before.to, EscalationLevel::kHandler);
  EXPECT_EQ(before.reason, "");
  EscalationDecision at = DecideEscalation(EscalationLevel::kHandler, deadline, deadline, "response");
  EXPECT_FALSE(at.escalate);
  EXPECT_EQ(at.reason, "");

  EscalationDecision after = DecideEscalation(EscalationLevel::kHandler, deadline, deadline + kMicro, "response");
  EXPECT_TRUE(after.escalate);
  EXPECT_EQ(after.to, EscalationLevel::kDepartmentManager);
  EXPECT_EQ(after.reason, "response deadline missed at handler level");

  EscalationDecision manager =
      DecideEscalation(EscalationLevel::kDepartmentManager, deadline, deadline + absl::Hours(1), "resolution");
  EXPECT_TRUE(manager.escalate);
  EXPECT_EQ(manager.to, EscalationLevel::kSeniorManagement);
  EXPECT_EQ(manager.reason, "resolution deadline missed at department manager level");

  // Without a deadline name the reason still says who missed it.
  EXPECT_EQ(DecideEscalation(EscalationLevel::kHandler, deadline, deadline + kMicro).reason,
            "deadline missed at handler level");
  // No deadline, no escalation.
  EXPECT_FALSE(DecideEscalation(EscalationLevel::kHandler, absl::InfiniteFuture(), At(2100, 1, 1, 0, 0)).escalate);
}

TEST(Escalation, NeverBeyondSeniorManagement) {
  const absl::Time deadline = Nov(23, 14, 0);
  EscalationDecision senior =
      DecideEscalation(EscalationLevel::kSeniorManagement, deadline, deadline + absl::Hours(100), "resolution");
  EXPECT_FALSE(senior.escalate);
  EXPECT_EQ(senior.to, EscalationLevel::kSeniorManagement);
  EXPECT_EQ(senior.reason, "resolution deadline missed at senior management level; there is no higher level");

  // Missing every deadline climbs one level at a time and stops at the top.
  EscalationLevel level = EscalationLevel::kHandler;
  std::vector<EscalationLevel> path;
  for (int i = 0; i < 5; ++i) {
    EscalationDecision d = DecideEscalation(level, deadline, deadline + absl::Hours(i + 1));
    if (d.escalate) path.push_back(d.to);
    level = d.to;
  }
  EXPECT_EQ(path, (std::vector<EscalationLevel>{EscalationLevel::kDepartmentManager,
                                                EscalationLevel::kSeniorManagement}));
  EXPECT_EQ(level, EscalationLevel::kSeniorManagement);
}

TEST(Escalation, NextLevelDeadlineCountsTheStepOnTheRulesCalendar) {
  const DeadlinePolicy policy = DeadlinePolicy::Defaults();
  const PolicyRule& general = policy.Match(Severity::kGeneral, 1, 1);  // 12 working hours
  // Monday 11:00: 1h + 5h on Monday, 3h + 3h on Tuesday.
  EXPECT_EQ(NextLevelDeadline(Office(), general, Nov(23, 11, 0)), Nov(24, 16, 0));
  // Friday 17:00: 1h Friday, 8h Monday, 3h Tuesday morning.
  EXPECT_EQ(NextLevelDeadline(Office(), general, Nov(20, 17, 0)), Nov(24, 12, 0));
  // Around-the-clock rules ignore the business calendar they are given.
  EXPECT_EQ(NextLevelDeadline(Office(), policy.Match(Severity::kMajor, 1, 1), Nov(20, 22, 0)), Nov(21, 2, 0));
  EXPECT_EQ(NextLevelDeadline(Office(), policy.Match(Severity::kGeneral, 4, 1), Nov(21, 10, 0)), Nov(21, 16, 0));
}

TEST(Escalation, GoverningDeadline) {
  const absl::Time response = Nov(23, 13, 0), resolution = Nov(25, 18, 0), level = Nov(24, 10, 0);
  const absl::Time none = absl::InfiniteFuture();
  EXPECT_EQ(GoverningDeadline(false, response, resolution, none), response);
  EXPECT_EQ(GoverningDeadline(true, response, resolution, none), resolution);
  EXPECT_EQ(GoverningDeadline(true, response, resolution, level), level);        // the level's is earlier
  EXPECT_EQ(GoverningDeadline(false, response, resolution, level), response);    // the response's is earlier
  EXPECT_EQ(GoverningDeadline(true, response, none, none), none);                // resolution clock paused
}

TEST(Escalation, AGeneralComplaintFromReceiptToTheDepartmentManager) {
  const BusinessCalendar cal = Office();
  // A copy: Defaults() is a temporary.
  const PolicyRule rule = DeadlinePolicy::Defaults().Match(Severity::kGeneral, 2, 6);
  const std::vector<SlaEvent> received{{Nov(20, 17, 0), K::kStart}};  // Friday 17:00
  EscalationLevel level = InitialLevel(Severity::kGeneral);
  ASSERT_EQ(level, EscalationLevel::kHandler);

  // Monday 11:30: 3.5 of the 4 response hours used.
  absl::Time now = Nov(23, 11, 30);
  SlaState response = ComputeSla(cal, rule.respond_within, received, now);
  SlaState resolution = ComputeSla(cal, rule.resolve_within, received, now);
  EXPECT_EQ(response.deadline, Nov(23, 12, 0));    // 1h Friday + 3h Monday morning
  EXPECT_EQ(resolution.deadline, Nov(25, 17, 0));  // 1h Friday + 8h + 8h + 7h
  EXPECT_TRUE(AtRisk(response, 0.8));
  EXPECT_FALSE(AtRisk(resolution, 0.8));
  absl::Time governing = GoverningDeadline(false, response.deadline, resolution.deadline, absl::InfiniteFuture());
  EXPECT_FALSE(DecideEscalation(level, governing, now, "response").escalate);

  // Nobody accepted it by noon.
  now = Nov(23, 12, 0) + kMicro;
  response = ComputeSla(cal, rule.respond_within, received, now);
  EXPECT_TRUE(response.breached);
  governing = GoverningDeadline(false, response.deadline, resolution.deadline, absl::InfiniteFuture());
  EscalationDecision decision = DecideEscalation(level, governing, now, "response");
  ASSERT_TRUE(decision.escalate);
  EXPECT_EQ(decision.to, EscalationLevel::kDepartmentManager);
  EXPECT_EQ(decision.reason, "response deadline missed at handler level");
  // The manager gets 12 working hours, counted from the 13:00 reopening.
  EXPECT_EQ(NextLevelDeadline(cal, rule, now), Nov(24, 17, 0));
}

TEST(Escalation, AMajorComplaintRunsAroundTheClockAtSeniorLevel) {
  // A copy: Defaults() is a temporary.
  const PolicyRule rule = DeadlinePolicy::Defaults().Match(Severity::kMajor, 1, 1);
  ASSERT_TRUE(rule.around_the_clock);
  const BusinessCalendar always = BusinessCalendar::AlwaysOpen();
  const std::vector<SlaEvent> received{{Nov(20, 22, 0), K::kStart}};  // Friday night
  SlaState response = ComputeSla(always, rule.respond_within, received, Nov(21, 0, 0));
  SlaState resolution = ComputeSla(always, rule.resolve_within, received, Nov(21, 0, 0));
  EXPECT_EQ(response.deadline, Nov(20, 23, 0));
  EXPECT_TRUE(response.breached);
  EXPECT_EQ(resolution.deadline, Nov(21, 6, 0));
  EscalationDecision decision = DecideEscalation(InitialLevel(Severity::kMajor), response.deadline, Nov(21, 0, 0));
  EXPECT_FALSE(decision.escalate);
  EXPECT_EQ(decision.to, EscalationLevel::kSeniorManagement);
}

TEST(Names, SeveritiesAndLevels) {
  EXPECT_EQ(SeverityName(Severity::kMajor), "major");
  EXPECT_EQ(SeverityName(Severity::kGeneral), "general");
  EXPECT_EQ(SeverityName(Severity::kMinor), "minor");
  EXPECT_EQ(EscalationLevelName(EscalationLevel::kHandler), "handler");
  EXPECT_EQ(EscalationLevelName(EscalationLevel::kDepartmentManager), "department manager");
  EXPECT_EQ(EscalationLevelName(EscalationLevel::kSeniorManagement), "senior management");
}

}  // namespace
}  // namespace kefu::complaints
