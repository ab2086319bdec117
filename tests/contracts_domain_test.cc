// Contract rules without a database: dates, lifecycle, approval steps, entitlement, expiry.
#include <gtest/gtest.h>

#include "contracts/src/domain.h"

namespace kefu::contracts {
namespace {

pb::Contract Valid() {
  pb::Contract c;
  c.set_customer_id(7);
  c.set_name("2027年度设备维保合同");
  c.set_type(pb::CONTRACT_TYPE_SERVICE_CONTRACT);
  c.mutable_amount()->set_currency_code("CNY");
  c.mutable_amount()->set_amount_minor(12'000'000);
  c.set_effective_date("2027-01-01");
  c.set_expiry_date("2027-12-31");
  return c;
}

TEST(ContractFields, ValidAndEveryProblemNamed) {
  EXPECT_TRUE(ValidateContractFields(Valid(), "contract").ok());
  pb::Contract c = Valid();
  c.set_expiry_date("2026-12-31");
  EXPECT_NE(ValidateContractFields(c, "contract").message().find("contract.expiry_date: must not be before"),
            absl::string_view::npos);
  c = Valid();
  c.set_effective_date("2027-02-30");
  c.mutable_amount()->set_amount_minor(-1);
  c.mutable_amount()->set_currency_code("rmb");
  c.clear_name();
  absl::Status s = ValidateContractFields(c, "contract");
  for (const char* f : {"contract.effective_date", "contract.amount.amount_minor", "contract.amount.currency_code",
                        "contract.name"})
    EXPECT_NE(s.message().find(f), absl::string_view::npos) << f;
  EXPECT_FALSE(ValidateUpdateMask({"status"}).ok());
  EXPECT_TRUE(ValidateUpdateMask({"amount", "expiry_date"}).ok());
}

TEST(Lifecycle, Transitions) {
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_DRAFT, Action::kSubmit), pb::CONTRACT_STATUS_IN_REVIEW);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_IN_REVIEW, Action::kReject), pb::CONTRACT_STATUS_DRAFT);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_IN_REVIEW, Action::kApproveAll), pb::CONTRACT_STATUS_APPROVED);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_APPROVED, Action::kSign), pb::CONTRACT_STATUS_SIGNED);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_SIGNED, Action::kActivate), pb::CONTRACT_STATUS_ACTIVE);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_ACTIVE, Action::kExpire), pb::CONTRACT_STATUS_EXPIRED);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_ACTIVE, Action::kTerminate), pb::CONTRACT_STATUS_TERMINATED);
  EXPECT_EQ(*NextStatus(pb::CONTRACT_STATUS_ACTIVE, Action::kSupersede), pb::CONTRACT_STATUS_SUPERSEDED);
  for (auto [from, action] : std::vector<std::pair<pb::ContractStatus, Action>>{
           {pb::CONTRACT_STATUS_DRAFT, Action::kSign},
           {pb::CONTRACT_STATUS_IN_REVIEW, Action::kSign},
           {pb::CONTRACT_STATUS_DRAFT, Action::kActivate},
           {pb::CONTRACT_STATUS_EXPIRED, Action::kActivate},
           {pb::CONTRACT_STATUS_SIGNED, Action::kExpire},
           {pb::CONTRACT_STATUS_TERMINATED, Action::kTerminate}})
    EXPECT_EQ(NextStatus(from, action).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Approvals, ThresholdsDecideTheStepsInOrder) {
  pb::ApprovalRules rules = DefaultApprovalRules();
  auto small = RequiredApprovals(rules, 99'999'999);
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].required_role(), "department_manager");
  auto large = RequiredApprovals(rules, 100'000'000);  // exactly at the threshold
  ASSERT_EQ(large.size(), 2u);
  EXPECT_EQ(large[1].required_role(), "senior_manager");
  EXPECT_EQ(NextPendingStep(large), 0);
  large[0].set_decision(pb::DECISION_PASS);
  EXPECT_EQ(NextPendingStep(large), 1);
  large[1].set_decision(pb::DECISION_PASS);
  EXPECT_EQ(NextPendingStep(large), -1);
  pb::ApprovalRules no_base;
  no_base.add_rules()->set_min_amount_minor(5);
  no_base.mutable_rules(0)->set_required_role("senior_manager");
  EXPECT_FALSE(ValidateApprovalRules(no_base).ok());
  EXPECT_TRUE(ValidateApprovalRules(rules).ok());
}

TEST(Entitlement, ContractBeatsWarrantyNothingMeansPaid) {
  EXPECT_EQ(ChooseEntitlement({}).kind(), pb::ENTITLEMENT_KIND_PAID);
  pb::Contract warranty = Valid();
  warranty.set_id(1);
  warranty.set_type(pb::CONTRACT_TYPE_SERVICE_WARRANTY);
  pb::Contract service = Valid();
  service.set_id(2);
  service.set_number("CT0000000002");
  pb::Entitlement e = ChooseEntitlement({warranty, service});
  EXPECT_EQ(e.kind(), pb::ENTITLEMENT_KIND_CONTRACT);
  EXPECT_EQ(e.contract_id(), 2);
  EXPECT_EQ(ChooseEntitlement({warranty}).kind(), pb::ENTITLEMENT_KIND_FREE_WARRANTY);
}

TEST(Dates, ExpiryDayIsStillCoveredFirstDayCounts) {
  absl::CivilDay expiry(2027, 12, 31);
  EXPECT_FALSE(IsExpired(expiry, absl::CivilDay(2027, 12, 31)));
  EXPECT_TRUE(IsExpired(expiry, absl::CivilDay(2028, 1, 1)));
  EXPECT_TRUE(IsEffective(absl::CivilDay(2027, 1, 1), absl::CivilDay(2027, 1, 1)));
  EXPECT_FALSE(IsEffective(absl::CivilDay(2027, 1, 1), absl::CivilDay(2026, 12, 31)));
  EXPECT_FALSE(ParseDate("d", "2027-1-1").ok());
  EXPECT_EQ(FormatDate(*ParseDate("d", "2027-03-09")), "2027-03-09");
}

}  // namespace
}  // namespace kefu::contracts
