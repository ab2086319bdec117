// GetPortfolioStats against the real customers service and MariaDB, with an injected
// clock: customers, acquisitions, tier moves, churn and survey results of one owner,
// one department and the whole company over [from, to), checked against figures worked
// out by hand; and the requests it refuses.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/time_util.h"
#include "support/customers_fixture.h"
#include "support/auth.h"

namespace kefu::customers {
namespace {

namespace pb = ::kefu::customers::v1;

absl::Time Shanghai(int y, int mo, int d, int h = 0, int mi = 0) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::FixedTimeZone(8 * 3600));
}

// The range under test: October 2026 in Shanghai.
const absl::Time kFrom = Shanghai(2026, 10, 1);
const absl::Time kTo = Shanghai(2026, 11, 1);

class PortfolioStatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("stats-customers-test", log::Level::kWarn);
    clock_ = new FakeClock(Shanghai(2026, 9, 15, 10));
    customers_ = new testing::CustomersFixture(clock_);
    BuildHistory();
  }
  static void TearDownTestSuite() { delete customers_; }

  static std::unique_ptr<pb::CustomerService::Stub> Stub() {
    return pb::CustomerService::NewStub(customers_->channel());
  }
  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    kefu::testing::Authorize(ctx.get(), "E9000", "senior_manager");
    return ctx;
  }
  static void Expect(const grpc::Status& s) { EXPECT_TRUE(s.ok()) << s.error_message(); }

  static int64_t Create(const std::string& key, const std::string& owner, const std::string& department) {
    pb::CreateCustomerRequest req;
    auto* c = req.mutable_customer();
    c->set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
    c->set_name(absl::StrCat("统计测试客户", key, "有限公司"));
    c->set_owner_id(owner);
    c->set_department_id(department);
    pb::Customer out;
    Expect(Stub()->CreateCustomer(Ctx().get(), req, &out));
    ids_[key] = out.id();
    return out.id();
  }
  static void Tier(const std::string& key, pb::Tier tier) {
    pb::ChangeTierRequest req;
    req.set_customer_id(ids_[key]);
    req.set_tier(tier);
    req.set_reason("年度服务等级评定");
    pb::Customer out;
    Expect(Stub()->ChangeTier(Ctx().get(), req, &out));
  }
  static void Stage(const std::string& key, pb::LifecycleStage stage) {
    pb::ChangeLifecycleStageRequest req;
    req.set_customer_id(ids_[key]);
    req.set_stage(stage);
    req.set_reason("客户经营状况变化");
    pb::Customer out;
    Expect(Stub()->ChangeLifecycleStage(Ctx().get(), req, &out));
  }
  // A service entry in the log at `when` makes the customer eligible for a survey.
  static void Served(const std::string& key, absl::Time when) {
    pb::AppendLogEntryRequest req;
    auto* e = req.mutable_entry();
    e->set_customer_id(ids_[key]);
    *e->mutable_event_time() = ToProtoTime(when);
    e->set_channel(pb::CHANNEL_PHONE);
    e->set_category(pb::LOG_CATEGORY_SERVICE);
    e->set_description("上门维修设备");
    pb::LogEntry out;
    Expect(Stub()->AppendLogEntry(Ctx().get(), req, &out));
  }
  // Samples every customer served in [from, from + 1 day); returns survey id by customer id.
  static std::map<int64_t, int64_t> Sample(const std::string& campaign, absl::Time from) {
    pb::SampleSurveysRequest req;
    req.set_campaign(campaign);
    *req.mutable_served_from() = ToProtoTime(from);
    *req.mutable_served_to() = ToProtoTime(from + absl::Hours(24));
    req.set_sample_size(100);
    pb::SampleSurveysResponse out;
    Expect(Stub()->SampleSurveys(Ctx().get(), req, &out));
    std::map<int64_t, int64_t> by_customer;
    for (const auto& s : out.surveys()) by_customer[s.customer_id()] = s.id();
    return by_customer;
  }
  static void Answer(int64_t survey_id, pb::Satisfaction satisfaction) {
    pb::RecordSurveyResultRequest req;
    req.set_survey_id(survey_id);
    req.set_satisfaction(satisfaction);
    pb::Survey out;
    Expect(Stub()->RecordSurveyResult(Ctx().get(), req, &out));
  }

  // Owners E1 and E2 in department D-A, E3 in D-B. Everything the clock stamps (creation,
  // tier and lifecycle changes, survey completion) happens at the time set just before.
  static void BuildHistory() {
    // Before the range (2026-09-15).
    Create("c1", "E1", "D-A");
    Create("c2", "E1", "D-A");
    Create("c4", "E2", "D-A");  // reassigned to E1 in the range
    Create("c5", "E2", "D-A");
    Create("c7", "E3", "D-B");
    Tier("c1", pb::TIER_GOLD);  // before the range: not counted
    Served("c1", Shanghai(2026, 9, 16, 10));
    auto early = Sample("2026-09 回访", Shanghai(2026, 9, 16));
    ASSERT_EQ(early.size(), 1u);
    clock_->Set(Shanghai(2026, 9, 20, 10));
    Answer(early.at(ids_["c1"]), pb::SATISFACTION_VERY_DISSATISFIED);  // before the range: not counted

    // Exactly at the start of the range: counted.
    clock_->Set(kFrom);
    Tier("c5", pb::TIER_GOLD);

    // In the range.
    clock_->Set(Shanghai(2026, 10, 5, 9));
    for (const char* key : {"c1", "c2", "c5", "c7"}) Served(key, Shanghai(2026, 10, 5, 10));
    Served("c4", Shanghai(2026, 10, 6, 10));
    clock_->Set(Shanghai(2026, 10, 10, 10));
    Create("c3", "E1", "D-A");
    Create("c6", "E2", "D-A");
    Create("c8", "E3", "D-B");
    Create("c9", "E1", "D-A");  // merged into c3 below: neither held nor acquired
    Served("c3", Shanghai(2026, 10, 10, 11));
    Tier("c1", pb::TIER_SILVER);  // gold -> silver: down
    Tier("c2", pb::TIER_SILVER);  // up
    Tier("c2", pb::TIER_PLATINUM);  // up
    Tier("c4", pb::TIER_SILVER);  // up, while still E2's; E1 holds c4 now
    Tier("c7", pb::TIER_SILVER);  // up (D-B)
    Stage("c2", pb::LIFECYCLE_STAGE_CHURNED);
    Stage("c5", pb::LIFECYCLE_STAGE_FORMATION);  // not a churn
    Stage("c7", pb::LIFECYCLE_STAGE_CHURNED);
    {
      pb::ReassignOwnerRequest req;
      req.set_customer_id(ids_["c4"]);
      req.set_new_owner_id("E1");
      req.set_reason("客户经理调岗");
      pb::Customer out;
      Expect(Stub()->ReassignOwner(Ctx().get(), req, &out));
    }
    {
      pb::MergeCustomersRequest req;
      req.set_survivor_id(ids_["c3"]);
      req.set_duplicate_id(ids_["c9"]);
      req.set_reason("重复录入");
      pb::Customer out;
      Expect(Stub()->MergeCustomers(Ctx().get(), req, &out));
    }
    auto october = Sample("2026-10 回访", Shanghai(2026, 10, 5));
    ASSERT_EQ(october.size(), 4u);  // c1, c2, c5, c7
    auto october_new = Sample("2026-10 新客户回访", Shanghai(2026, 10, 10));
    ASSERT_EQ(october_new.size(), 1u);  // c3
    auto late = Sample("2026-10 补充回访", Shanghai(2026, 10, 6));
    ASSERT_EQ(late.size(), 1u);  // c4
    clock_->Set(Shanghai(2026, 10, 20, 15));
    Answer(october.at(ids_["c1"]), pb::SATISFACTION_VERY_SATISFIED);
    Answer(october.at(ids_["c2"]), pb::SATISFACTION_SATISFIED);
    Answer(october.at(ids_["c5"]), pb::SATISFACTION_NEUTRAL);
    Answer(october.at(ids_["c7"]), pb::SATISFACTION_VERY_SATISFIED);
    Answer(october_new.at(ids_["c3"]), pb::SATISFACTION_DISSATISFIED);

    // Exactly at the end of the range: not counted.
    clock_->Set(kTo);
    Tier("c6", pb::TIER_SILVER);

    // After the range.
    clock_->Set(Shanghai(2026, 11, 5, 10));
    Create("c10", "E1", "D-A");  // held now, not acquired in the range
    Tier("c3", pb::TIER_GOLD);
    Answer(late.at(ids_["c4"]), pb::SATISFACTION_VERY_SATISFIED);
  }

  static pb::GetPortfolioStatsRequest Request(const std::string& owner, const std::string& department) {
    pb::GetPortfolioStatsRequest req;
    req.set_owner_id(owner);
    req.set_department_id(department);
    *req.mutable_from() = ToProtoTime(kFrom);
    *req.mutable_to() = ToProtoTime(kTo);
    return req;
  }
  static pb::PortfolioStats Stats(const pb::GetPortfolioStatsRequest& req) {
    pb::PortfolioStats out;
    grpc::Status s = Stub()->GetPortfolioStats(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  static grpc::Status Refused(const pb::GetPortfolioStatsRequest& req) {
    pb::PortfolioStats out;
    return Stub()->GetPortfolioStats(Ctx().get(), req, &out);
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
  static std::map<std::string, int64_t> ids_;
};

FakeClock* PortfolioStatsTest::clock_;
testing::CustomersFixture* PortfolioStatsTest::customers_;
std::map<std::string, int64_t> PortfolioStatsTest::ids_;

TEST_F(PortfolioStatsTest, OneOwner) {
  // E1 holds c1, c2, c3, c4 (taken over from E2) and c10; c9 was merged into c3.
  pb::PortfolioStats s = Stats(Request("E1", ""));
  EXPECT_EQ(s.customers(), 5);
  EXPECT_EQ(s.acquired(), 1);  // c3
  // c1 gold -> silver; c2 standard -> silver -> platinum; c4 standard -> silver (before
  // E1 took it over: the portfolio is what E1 holds now). c1's September change and
  // c3's November change are outside the range.
  EXPECT_EQ(s.tier_ups(), 3);
  EXPECT_EQ(s.tier_downs(), 1);
  EXPECT_EQ(s.churned(), 1);  // c2
  // c1 5, c2 4, c3 2 completed in October; c1's September and c4's November results
  // are outside the range.
  EXPECT_EQ(s.survey_results(), 3);
  EXPECT_EQ(s.satisfied(), 2);
  EXPECT_EQ(s.satisfaction_rate_bp(), 6666);
  EXPECT_DOUBLE_EQ(s.mean_satisfaction(), 11.0 / 3);
}

TEST_F(PortfolioStatsTest, OneDepartment) {
  // D-A: E1's five plus E2's c5 and c6.
  pb::PortfolioStats s = Stats(Request("", "D-A"));
  EXPECT_EQ(s.customers(), 7);
  EXPECT_EQ(s.acquired(), 2);  // c3, c6
  // E1's three plus c5 standard -> gold exactly at the start; c6's change exactly at
  // the end is outside.
  EXPECT_EQ(s.tier_ups(), 4);
  EXPECT_EQ(s.tier_downs(), 1);
  EXPECT_EQ(s.churned(), 1);
  EXPECT_EQ(s.survey_results(), 4);  // 5, 4, 2, 3
  EXPECT_EQ(s.satisfied(), 2);
  EXPECT_EQ(s.satisfaction_rate_bp(), 5000);
  EXPECT_DOUBLE_EQ(s.mean_satisfaction(), 3.5);
}

TEST_F(PortfolioStatsTest, WholeCompany) {
  pb::PortfolioStats s = Stats(Request("", ""));
  EXPECT_EQ(s.customers(), 9);  // c1..c8, c10
  EXPECT_EQ(s.acquired(), 3);   // c3, c6, c8
  EXPECT_EQ(s.tier_ups(), 5);   // D-A's four and c7
  EXPECT_EQ(s.tier_downs(), 1);
  EXPECT_EQ(s.churned(), 2);         // c2, c7
  EXPECT_EQ(s.survey_results(), 5);  // 5, 4, 2, 3, 5
  EXPECT_EQ(s.satisfied(), 3);
  EXPECT_EQ(s.satisfaction_rate_bp(), 6000);
  EXPECT_DOUBLE_EQ(s.mean_satisfaction(), 3.8);
}

TEST_F(PortfolioStatsTest, EmptyPortfolioIsAllZeros) {
  pb::PortfolioStats s = Stats(Request("E404", ""));
  EXPECT_EQ(s.customers(), 0);
  EXPECT_EQ(s.acquired(), 0);
  EXPECT_EQ(s.tier_ups(), 0);
  EXPECT_EQ(s.churned(), 0);
  EXPECT_EQ(s.survey_results(), 0);
  EXPECT_EQ(s.satisfaction_rate_bp(), 0);
  EXPECT_EQ(s.mean_satisfaction(), 0);
}

TEST_F(PortfolioStatsTest, RefusesBadRequestsNamingTheField) {
  auto expect_invalid = [](const pb::GetPortfolioStatsRequest& req, const std::string& field) {
    grpc::Status s = Refused(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_TRUE(absl::StrContains(s.error_message(), field)) << s.error_message();
  };
  pb::GetPortfolioStatsRequest req = Request("E1", "");
  req.clear_from();
  expect_invalid(req, "from: is required");
  req = Request("E1", "");
  req.clear_to();
  expect_invalid(req, "to: is required");
  req = Request("E1", "");
  std::swap(*req.mutable_from(), *req.mutable_to());
  expect_invalid(req, "to: must be after from");
  req = Request("E1", "");
  *req.mutable_to() = req.from();
  expect_invalid(req, "to: must be after from");
  req = Request("E1", "");
  *req.mutable_to() = ToProtoTime(kFrom + absl::Hours(24 * 731) + absl::Seconds(1));
  expect_invalid(req, "to: must be at most 731 days after from");
  req = Request("E1", "D-A");
  expect_invalid(req, "department_id");
  req = Request("E1 ", "");
  expect_invalid(req, "owner_id");
  // Two years (731 days) is the longest range.
  req = Request("E1", "");
  *req.mutable_to() = ToProtoTime(kFrom + absl::Hours(24 * 731));
  EXPECT_TRUE(Refused(req).ok());
}

}  // namespace
}  // namespace kefu::customers
