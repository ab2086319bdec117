// The performance rules against hand-computed figures.
#include <gtest/gtest.h>

#include "performance/src/rules.h"

namespace kefu::performance {
namespace {

TEST(Rollup, ParentsWhoseChildrenFallShortAreReported) {
  // Company 1000 = dept A 600 + dept B 300 (short by 100); A's people 400 + 250 cover
  // A; B is exempt (approved revision), so its lone child 100 is not checked.
  std::vector<TargetNode> nodes = {{1, 0, 1000, 0, false}, {2, 1, 600, 0, false}, {3, 1, 300, 0, true},
                                   {4, 2, 400, 0, false},  {5, 2, 250, 0, false}, {6, 3, 100, 0, false}};
  auto v = CheckRollup(nodes);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].parent_id, 1);
  EXPECT_EQ((*v)[0].children_sum, 600);  // the exempt child does not count
  EXPECT_EQ((*v)[0].shortfall, 400);
  EXPECT_FALSE(CheckRollup({{1, 2, 10, 0, false}, {2, 1, 10, 0, false}}).ok());  // cycle
  EXPECT_FALSE(CheckRollup({{1, 9, 10, 0, false}}).ok());                         // unknown parent
}

TEST(Scorecard, WeightedAchievementExplainsItselfAndSkipsUnavailableInputs) {
  std::vector<ScoreInput> in = {
      {"service_revenue", "sales", 80, 100, 2, Direction::kHigherIsBetter, true},
      {"satisfaction", "complaints", 0.95, 0.90, 1, Direction::kHigherIsBetter, true},
      {"overdue_rate", "complaints", 0.04, 0.02, 1, Direction::kLowerIsBetter, true},
      {"tier_changes", "customers", 0, 0, 1, Direction::kHigherIsBetter, false}};
  auto card = ComputeScorecard(in);
  ASSERT_TRUE(card.ok());
  ASSERT_EQ(card->lines.size(), 4u);
  EXPECT_DOUBLE_EQ(card->lines[0].achievement, 0.8);
  EXPECT_DOUBLE_EQ(card->lines[0].points, 40.0);  // 2/4 x 0.8 x 100
  EXPECT_NEAR(card->lines[1].points, 26.3889, 1e-4);  // 1/4 x 1.0556 x 100
  EXPECT_DOUBLE_EQ(card->lines[2].achievement, 0.5);
  EXPECT_DOUBLE_EQ(card->lines[2].points, 12.5);
  EXPECT_NEAR(card->total, 78.8889, 1e-4);
  ASSERT_EQ(card->unavailable.size(), 1u);
  EXPECT_EQ(card->unavailable[0], "tier_changes");
  // Outstanding figures are capped at 120%.
  auto capped = ComputeScorecard({{"new_business", "sales", 500, 100, 1, Direction::kHigherIsBetter, true}});
  EXPECT_DOUBLE_EQ(capped->total, 120.0);
  EXPECT_FALSE(ComputeScorecard({{"x", "y", 1, 1, -1, Direction::kHigherIsBetter, true}}).ok());
}

TEST(Evaluation360, SubordinatesAreOnlyEverAggregatedAndWithheldBelowThree) {
  std::vector<Rating> r = {{"B1", Relation::kSuperior, 4},    {"B2", Relation::kSuperior, 5},
                           {"S1", Relation::kSubordinate, 1}, {"S2", Relation::kSubordinate, 2},
                           {"P1", Relation::kPeer, 3},        {"P2", Relation::kPeer, 4},
                           {"P3", Relation::kPeer, 5},        {"ME", Relation::kSelf, 5}};
  Evaluation e = Aggregate(r);
  ASSERT_EQ(e.by_relation.size(), 4u);
  EXPECT_DOUBLE_EQ(*e.by_relation[0].mean, 4.5);
  EXPECT_TRUE(e.by_relation[1].withheld);
  EXPECT_FALSE(e.by_relation[1].mean.has_value());
  EXPECT_EQ(e.by_relation[1].raters, 2);
  EXPECT_DOUBLE_EQ(*e.by_relation[2].mean, 4.0);
  EXPECT_DOUBLE_EQ(*e.by_relation[3].mean, 5.0);
  // The withheld subordinate scores do not leak through the overall mean.
  EXPECT_NEAR(*e.overall, 26.0 / 6.0, 1e-9);
  r.push_back({"S3", Relation::kSubordinate, 3});
  Evaluation three = Aggregate(r);
  EXPECT_FALSE(three.by_relation[1].withheld);
  EXPECT_DOUBLE_EQ(*three.by_relation[1].mean, 2.0);
}

TEST(ControlChart, PChartFlagsTheBadWeek) {
  // 32 overdue of 400: p = 0.08; limits 0.08 +- 3 sqrt(0.08 x 0.92 / 100) = 0 .. 0.161387.
  auto chart = PChart({{"W1", 5, 100}, {"W2", 3, 100}, {"W3", 4, 100}, {"W4", 20, 100}});
  ASSERT_TRUE(chart.ok());
  EXPECT_DOUBLE_EQ(chart->center_line, 0.08);
  EXPECT_NEAR(chart->points[0].upper_limit, 0.161387, 1e-6);
  EXPECT_DOUBLE_EQ(chart->points[0].lower_limit, 0.0);
  EXPECT_FALSE(chart->points[0].out_of_control);
  EXPECT_TRUE(chart->points[3].out_of_control);
  EXPECT_EQ(chart->out_of_control, 1);
  EXPECT_FALSE(PChart({{"W1", 5, 4}}).ok());
}

TEST(ControlChart, XBarChartWithPooledSigma) {
  // Grand mean (11 + 12 + 11 + 20) / 4 = 13.5; sigma 2; limits 13.5 +- 3 x 2 / 2.
  auto chart = XBarChart({{"W1", 11, 4, 2}, {"W2", 12, 4, 2}, {"W3", 11, 4, 2}, {"W4", 20, 4, 2}});
  ASSERT_TRUE(chart.ok());
  EXPECT_DOUBLE_EQ(chart->center_line, 13.5);
  EXPECT_DOUBLE_EQ(chart->points[0].lower_limit, 10.5);
  EXPECT_DOUBLE_EQ(chart->points[0].upper_limit, 16.5);
  EXPECT_FALSE(chart->points[0].out_of_control);
  EXPECT_TRUE(chart->points[3].out_of_control);
  EXPECT_EQ(chart->out_of_control, 1);
}

TEST(Periods, YearsHalvesQuartersAndMonthsAreTheirDays) {
  auto q4 = ParsePeriod("2026-Q4");
  ASSERT_TRUE(q4.ok());
  EXPECT_EQ(q4->first, absl::CivilDay(2026, 10, 1));
  EXPECT_EQ(q4->last, absl::CivilDay(2026, 12, 31));
  EXPECT_EQ(q4->Months(), 3);
  auto feb = ParsePeriod("2028-02");
  ASSERT_TRUE(feb.ok());
  EXPECT_EQ(feb->last, absl::CivilDay(2028, 2, 29));  // leap year
  auto h2 = ParsePeriod("2026-H2");
  ASSERT_TRUE(h2.ok());
  EXPECT_EQ(h2->first, absl::CivilDay(2026, 7, 1));
  EXPECT_EQ(ParsePeriod("2026")->last, absl::CivilDay(2026, 12, 31));
  for (const char* bad : {"", "26", "2026-Q5", "2026-Q0", "2026-13", "2026-00", "2026-H3", "2026/11", "2026-1",
                          "2026-111", "abcd", "2026-2x"})
    EXPECT_FALSE(ParsePeriod(bad).ok()) << bad;
}

TEST(Periods, AChildTargetIsLowerOrFinerAndWithinItsParent) {
  Period year = *ParsePeriod("2026"), q1 = *ParsePeriod("2026-Q1"), march = *ParsePeriod("2026-03"),
         april = *ParsePeriod("2026-04");
  constexpr int kCompany = 1, kDepartment = 2, kPerson = 6;
  EXPECT_EQ(ChildTargetProblem(kCompany, year, kDepartment, year), "");
  EXPECT_EQ(ChildTargetProblem(kDepartment, year, kDepartment, q1), "");  // same subject, finer period
  EXPECT_EQ(ChildTargetProblem(kDepartment, q1, kPerson, march), "");
  EXPECT_NE(ChildTargetProblem(kDepartment, q1, kPerson, april), "");       // outside the quarter
  EXPECT_NE(ChildTargetProblem(kDepartment, year, kDepartment, year), "");  // not finer
  EXPECT_NE(ChildTargetProblem(kDepartment, year, kCompany, q1), "");       // above its parent
  EXPECT_NE(ChildTargetProblem(kDepartment, q1, kDepartment, year), "");    // coarser
}

TEST(ScorecardPolicy, DefaultsAreValidAndMistakesAreNamed) {
  auto defaults = DefaultScorecardPolicy();
  EXPECT_EQ(defaults.size(), ScorecardComponents().size());
  EXPECT_TRUE(ValidateScorecardPolicy(defaults).ok());
  auto twice = defaults;
  twice.push_back(defaults[0]);
  EXPECT_NE(ValidateScorecardPolicy(twice).message().find("named twice"), std::string::npos);
  auto negative = defaults;
  negative[2].weight = -1;
  EXPECT_NE(ValidateScorecardPolicy(negative).message().find("policy.components[2].weight"), std::string::npos);
  std::vector<ComponentPolicy> zero = {{"workload", 0, 10}};
  EXPECT_FALSE(ValidateScorecardPolicy(zero).ok());
  EXPECT_FALSE(ValidateScorecardPolicy({{"charisma", 1, 1}}).ok());
}

TEST(ScorecardPolicy, CountTargetsScaleWithMonthsAndHeadcountRatesDoNot) {
  const ComponentSpec* handled = FindComponent("complaints_handled");
  const ComponentSpec* overdue = FindComponent("overdue_rate");
  ASSERT_NE(handled, nullptr);
  ASSERT_NE(overdue, nullptr);
  EXPECT_DOUBLE_EQ(ScaledTarget(*handled, {"complaints_handled", 10, 30}, 3, 1), 90);
  EXPECT_DOUBLE_EQ(ScaledTarget(*handled, {"complaints_handled", 10, 30}, 3, 4), 360);
  EXPECT_DOUBLE_EQ(ScaledTarget(*overdue, {"overdue_rate", 10, 5}, 3, 4), 5);
  EXPECT_EQ(overdue->direction, Direction::kLowerIsBetter);
  EXPECT_EQ(FindComponent("nope"), nullptr);
}

}  // namespace
}  // namespace kefu::performance
