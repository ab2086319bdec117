// Sales rules without a database: initiation check, stage machine, probabilities.
#include <gtest/gtest.h>

#include <set>

#include "kefu/errors.h"
#include "sales/src/domain.h"

namespace kefu::sales {
namespace {

pb::Project Ready() {
  pb::Project p;
  p.set_name("华东区智能客服平台项目");
  p.set_customer_id(3);
  p.set_owner_id("E1001");
  p.set_goal("替换旧呼叫中心系统");
  p.set_customer_contact("王经理 13800000000");
  p.mutable_estimated_amount()->set_currency_code("CNY");
  p.mutable_estimated_amount()->set_amount_minor(880'000'00);
  p.set_expected_signing_date("2027-06-30");
  return p;
}

TEST(Initiation, ReportsEveryMissingField) {
  EXPECT_TRUE(InitiationCheck(Ready()).ok());
  pb::Project p;
  p.set_name("x");
  absl::Status s = InitiationCheck(p);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(s), "INITIATION_CHECK");
  for (const char* f : {"project.customer_id", "project.owner_id", "project.goal", "project.customer_contact",
                        "project.estimated_amount", "project.expected_signing_date"})
    EXPECT_NE(s.message().find(f), absl::string_view::npos) << f;
  EXPECT_EQ(s.message().find("project.name"), absl::string_view::npos);
}

TEST(Fields, AmountsMarginsDatesAndOneCurrency) {
  pb::Project p = Ready();
  p.mutable_estimated_amount()->set_amount_minor(-5);
  p.set_estimated_margin_bp(20000);
  p.set_expected_signing_date("2027-13-01");
  p.mutable_expense_budget()->set_currency_code("USD");
  p.mutable_expense_budget()->set_amount_minor(100);
  absl::Status s = ValidateProjectFields(p, "project");
  for (const char* f : {"project.estimated_amount.amount_minor", "project.estimated_margin_bp",
                        "project.expected_signing_date", "one currency"})
    EXPECT_NE(s.message().find(f), absl::string_view::npos) << f;
  pb::Project huge = Ready();
  huge.mutable_estimated_amount()->set_amount_minor(INT64_MAX);
  EXPECT_FALSE(ValidateProjectFields(huge, "project").ok());
}

TEST(Stages, TheMachine) {
  using S = pb::Stage;
  std::set<std::pair<S, S>> allowed = {
      {pb::STAGE_INITIATION, pb::STAGE_PROPOSAL},     {pb::STAGE_PROPOSAL, pb::STAGE_BIDDING},
      {pb::STAGE_PROPOSAL, pb::STAGE_NEGOTIATION},    {pb::STAGE_PROPOSAL, pb::STAGE_INITIATION},
      {pb::STAGE_BIDDING, pb::STAGE_NEGOTIATION},     {pb::STAGE_BIDDING, pb::STAGE_PROPOSAL},
      {pb::STAGE_NEGOTIATION, pb::STAGE_CONTRACT},    {pb::STAGE_NEGOTIATION, pb::STAGE_BIDDING},
      {pb::STAGE_CONTRACT, pb::STAGE_IMPLEMENTATION}, {pb::STAGE_CONTRACT, pb::STAGE_NEGOTIATION},
      {pb::STAGE_CONTRACT, pb::STAGE_WON},            {pb::STAGE_IMPLEMENTATION, pb::STAGE_WON},
      {pb::STAGE_IMPLEMENTATION, pb::STAGE_CONTRACT}};
  for (int f = pb::STAGE_INITIATION; f <= pb::STAGE_TERMINATED; ++f) {
    for (int t = pb::STAGE_INITIATION; t <= pb::STAGE_TERMINATED; ++t) {
      S from = static_cast<S>(f), to = static_cast<S>(t);
      bool expected = allowed.count({from, to}) > 0 ||
                      (!IsClosed(from) && (to == pb::STAGE_LOST || to == pb::STAGE_TERMINATED));
      EXPECT_EQ(IsStageChangeAllowed(from, to), expected) << StageName(from) << " -> " << StageName(to);
    }
  }
  EXPECT_EQ(CheckStageChange(pb::STAGE_INITIATION, pb::STAGE_WON).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Probabilities, DefaultsValidateAndWeighting) {
  auto p = DefaultProbabilities();
  EXPECT_TRUE(ValidateProbabilities(p).ok());
  auto by = ProbabilityByStage(p);
  EXPECT_EQ(by[pb::STAGE_NEGOTIATION], 6000);
  EXPECT_EQ(by[pb::STAGE_LOST], 0);
  EXPECT_EQ(Weighted(100'000'00, 6000), 60'000'00);
  EXPECT_EQ(Weighted(3, 3333), 0);  // rounds down, like the SQL
  EXPECT_EQ(Weighted(100'000'000'000'000LL, 9000), 90'000'000'000'000LL);
  p.mutable_stages()->RemoveLast();
  EXPECT_NE(ValidateProbabilities(p).message().find("terminated"), absl::string_view::npos);
  EXPECT_EQ(StageRank(pb::STAGE_WON), 7);
  EXPECT_EQ(StageRank(pb::STAGE_LOST), 0);
}

}  // namespace
}  // namespace kefu::sales
