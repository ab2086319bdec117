// GetSigningStats against the real contracts service (with the real customers service)
// and MariaDB, with an injected clock: signed contracts by type, service revenue and
// new business for one owner, one department and the whole company, in one currency,
// checked against figures worked out by hand; and the requests it refuses.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "contracts/src/repository.h"
#include "contracts/src/service.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/server.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& ContractsMigrations();

namespace kefu::contracts {
namespace {

using Stub = pb::ContractService::Stub;

absl::Time Noon(int y, int m, int d) {
  return absl::FromCivil(absl::CivilHour(y, m, d, 12), absl::FixedTimeZone(8 * 3600));
}

class SigningStatsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("stats-contracts-test", log::Level::kWarn);
    clock_ = new FakeClock(Noon(2027, 1, 10));
    customers_ = new testing::CustomersFixture(clock_);
    db_ = new db::Config(testing::CreateSchema("stats_ctr"));
    ServerOptions o;
    o.token_verifier = kefu::testing::TestVerifier();
    o.service_token_verifier = kefu::testing::TestServiceVerifier();
    kefu::testing::UseTestServiceIdentity();
    o.service_name = "contracts";
    o.listen_host = "127.0.0.1";
    o.metrics_port = -1;
    o.db = *db_;
    o.health_interval = absl::Milliseconds(100);
    server_ = new Server(o);
    repo_ = new Repository(&server_->pool(), clock_);
    static prometheus::Registry registry;
    metrics_ = new BusinessMetrics(registry);
    service_ = new ContractServiceImpl(repo_, &server_->pool(), metrics_, clock_,
                                       {customers_->channel(), absl::Seconds(2), absl::FixedTimeZone(8 * 3600)});
    server_->AddService(service_, pb::ContractService::service_full_name());
    ASSERT_TRUE(server_->Start(ContractsMigrations()).ok());
    for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(server_->ready());
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
    customer_id_ = customers_->CreateCustomer("江苏远航物流有限公司", customers::v1::TIER_GOLD);
    BuildContracts();
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    delete server_;
    delete customers_;
    testing::DropSchema(*db_);
  }

  static std::unique_ptr<Stub> NewStub() { return pb::ContractService::NewStub(*channel_); }
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& roles = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    kefu::testing::Authorize(ctx.get(), "E1001", roles.empty() ? "senior_manager" : roles);
    return ctx;
  }
  static void Expect(const grpc::Status& s) { EXPECT_TRUE(s.ok()) << s.error_message(); }

  static pb::Contract Draft(pb::ContractType type, int64_t amount, const std::string& currency,
                            const std::string& owner, const std::string& department, const std::string& effective,
                            const std::string& expiry) {
    pb::CreateContractRequest req;
    auto* c = req.mutable_contract();
    c->set_customer_id(customer_id_);
    c->set_name("年度合作合同");
    c->set_type(type);
    c->mutable_amount()->set_amount_minor(amount);
    c->mutable_amount()->set_currency_code(currency);
    c->set_effective_date(effective);
    c->set_expiry_date(expiry);
    c->set_owner_id(owner);
    c->set_department_id(department);
    pb::Contract out;
    Expect(NewStub()->CreateContract(Ctx().get(), req, &out));
    return out;
  }
  // Submits and passes every approval step the rules ask for.
  static pb::Contract Approved(pb::Contract c) {
    pb::ContractActionRequest submit;
    submit.set_contract_id(c.id());
    Expect(NewStub()->SubmitForReview(Ctx().get(), submit, &c));
    for (int step = 0; step < 5 && c.status() == pb::CONTRACT_STATUS_IN_REVIEW; ++step) {
      std::string role;
      for (const auto& a : c.approvals())
        if (a.decision() == pb::DECISION_UNSPECIFIED && role.empty()) role = a.required_role();
      pb::RecordApprovalRequest req;
      req.set_contract_id(c.id());
      req.set_decision(pb::DECISION_PASS);
      req.set_opinion("同意");
      Expect(NewStub()->RecordApproval(Ctx(role).get(), req, &c));
    }
    EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_APPROVED);
    return c;
  }
  static pb::Contract Signed(pb::ContractType type, int64_t amount, const std::string& owner,
                             const std::string& department, const std::string& signing,
                             const std::string& currency = "CNY") {
    pb::Contract c = Approved(Draft(type, amount, currency, owner, department, signing, "2027-12-31"));
    pb::SignContractRequest req;
    req.set_contract_id(c.id());
    req.set_signing_date(signing);
    Expect(NewStub()->SignContract(Ctx().get(), req, &c));
    return c;
  }

  // Owners E1 and E2 in department D-A, E3 in D-B. Amounts in fen (CNY minor units).
  static void BuildContracts() {
    Signed(pb::CONTRACT_TYPE_SALES, 100'000'000, "E1", "D-A", "2026-10-01");  // first day, senior approval
    Signed(pb::CONTRACT_TYPE_SERVICE_CONTRACT, 12'000'000, "E1", "D-A", "2026-12-31");  // last day
    pb::Contract paid = Signed(pb::CONTRACT_TYPE_SERVICE_PAID, 500'000, "E1", "D-A", "2026-11-15");
    Signed(pb::CONTRACT_TYPE_SERVICE_WARRANTY, 10'000, "E1", "D-A", "2026-11-01");
    Signed(pb::CONTRACT_TYPE_SALES, 30'000'000, "E1", "D-A", "2027-01-01");  // after the range
    Signed(pb::CONTRACT_TYPE_SALES, 20'000'000, "E1", "D-A", "2026-09-30");  // before the range
    Signed(pb::CONTRACT_TYPE_SALES, 7'000'000, "E1", "D-A", "2026-11-02", "USD");  // another currency
    Approved(Draft(pb::CONTRACT_TYPE_SALES, 9'000'000, "CNY", "E1", "D-A", "2026-11-01", "2027-10-31"));  // unsigned
    Draft(pb::CONTRACT_TYPE_SALES, 8'000'000, "CNY", "E1", "D-A", "2026-11-01", "2027-10-31");  // draft
    Signed(pb::CONTRACT_TYPE_SERVICE_CONTRACT, 8'000'000, "E2", "D-A", "2026-11-20");
    Signed(pb::CONTRACT_TYPE_FRAMEWORK, 50'000'000, "E2", "D-A", "2026-12-01");
    pb::Contract amended = Signed(pb::CONTRACT_TYPE_SERVICE_PAID, 300'000, "E2", "D-A", "2026-10-20");
    Signed(pb::CONTRACT_TYPE_SALES, 5'000'000, "E3", "D-B", "2026-10-15");

    // Signed contracts become active on their effective day (all have come by now).
    ASSERT_TRUE(service_->SweepOnce().ok());
    // Terminated after signing: it was signed, so it counts.
    pb::TerminateContractRequest terminate;
    terminate.set_contract_id(paid.id());
    terminate.set_reason("客户业务调整，协商终止");
    Expect(NewStub()->TerminateContract(Ctx().get(), terminate, &paid));
    EXPECT_EQ(paid.status(), pb::CONTRACT_STATUS_TERMINATED);
    // Superseded by an amendment signed after the range: the original still counts once.
    pb::AmendContractRequest amend;
    amend.set_contract_id(amended.id());
    *amend.mutable_amended() = amended;
    amend.mutable_amended()->set_effective_date("2027-01-05");
    amend.mutable_amended()->mutable_amount()->set_amount_minor(400'000);
    amend.set_reason("增加服务次数");
    pb::Contract amendment;
    Expect(NewStub()->AmendContract(Ctx().get(), amend, &amendment));
    amendment = Approved(amendment);
    pb::SignContractRequest sign;
    sign.set_contract_id(amendment.id());
    sign.set_signing_date("2027-01-05");
    Expect(NewStub()->SignContract(Ctx().get(), sign, &amendment));
    pb::ContractActionRequest activate;
    activate.set_contract_id(amendment.id());
    Expect(NewStub()->ActivateContract(Ctx().get(), activate, &amendment));
    pb::GetContractRequest get;
    get.set_contract_id(amended.id());
    Expect(NewStub()->GetContract(Ctx().get(), get, &amended));
    EXPECT_EQ(amended.status(), pb::CONTRACT_STATUS_SUPERSEDED);
  }

  static pb::GetSigningStatsRequest Request(const std::string& owner, const std::string& department,
                                            const std::string& currency = "") {
    pb::GetSigningStatsRequest req;
    req.set_owner_id(owner);
    req.set_department_id(department);
    req.set_signed_from("2026-10-01");
    req.set_signed_to("2026-12-31");
    req.set_currency_code(currency);
    return req;
  }
  static pb::SigningStats Stats(const pb::GetSigningStatsRequest& req) {
    pb::SigningStats out;
    grpc::Status s = NewStub()->GetSigningStats(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }
  // count and amount of each type, in enum order (sales .. letter of intent).
  static void ExpectRows(const pb::SigningStats& s, const std::vector<std::pair<int64_t, int64_t>>& expected) {
    ASSERT_EQ(s.rows_size(), static_cast<int>(expected.size()));
    for (int i = 0; i < s.rows_size(); ++i) {
      EXPECT_EQ(s.rows(i).type(), static_cast<pb::ContractType>(i + 1));
      EXPECT_EQ(s.rows(i).count(), expected[i].first) << pb::ContractType_Name(s.rows(i).type());
      EXPECT_EQ(s.rows(i).amount_minor(), expected[i].second) << pb::ContractType_Name(s.rows(i).type());
    }
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
  static db::Config* db_;
  static Server* server_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static ContractServiceImpl* service_;
  static std::shared_ptr<grpc::Channel>* channel_;
  static int64_t customer_id_;
};

FakeClock* SigningStatsTest::clock_;
testing::CustomersFixture* SigningStatsTest::customers_;
db::Config* SigningStatsTest::db_;
Server* SigningStatsTest::server_;
Repository* SigningStatsTest::repo_;
BusinessMetrics* SigningStatsTest::metrics_;
ContractServiceImpl* SigningStatsTest::service_;
std::shared_ptr<grpc::Channel>* SigningStatsTest::channel_;
int64_t SigningStatsTest::customer_id_;

TEST_F(SigningStatsTest, OneOwner) {
  pb::SigningStats s = Stats(Request("E1", ""));
  EXPECT_EQ(s.currency_code(), "CNY");
  // sales, paid service (terminated after signing), warranty, service contract.
  ExpectRows(s, {{1, 100'000'000}, {1, 500'000}, {1, 10'000}, {1, 12'000'000}, {0, 0}, {0, 0}});
  EXPECT_EQ(s.service_amount_minor(), 12'500'000);  // paid service + service contract; warranty is free
  EXPECT_EQ(s.new_business_amount_minor(), 100'000'000);
}

TEST_F(SigningStatsTest, OneDepartment) {
  pb::SigningStats s = Stats(Request("", "D-A"));
  // E1's plus E2's service contract, framework and superseded paid service.
  ExpectRows(s, {{1, 100'000'000}, {2, 800'000}, {1, 10'000}, {2, 20'000'000}, {1, 50'000'000}, {0, 0}});
  EXPECT_EQ(s.service_amount_minor(), 20'800'000);
  EXPECT_EQ(s.new_business_amount_minor(), 100'000'000);
}

TEST_F(SigningStatsTest, WholeCompanyAndOtherCurrencies) {
  pb::SigningStats s = Stats(Request("", ""));
  ExpectRows(s, {{2, 105'000'000}, {2, 800'000}, {1, 10'000}, {2, 20'000'000}, {1, 50'000'000}, {0, 0}});
  EXPECT_EQ(s.service_amount_minor(), 20'800'000);
  EXPECT_EQ(s.new_business_amount_minor(), 105'000'000);

  s = Stats(Request("", "", "USD"));
  EXPECT_EQ(s.currency_code(), "USD");
  ExpectRows(s, {{1, 7'000'000}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}});
  EXPECT_EQ(s.new_business_amount_minor(), 7'000'000);

  // One day: only what was signed on it.
  pb::GetSigningStatsRequest req = Request("", "");
  req.set_signed_to("2026-10-01");
  s = Stats(req);
  EXPECT_EQ(s.rows(0).count(), 1);
  EXPECT_EQ(s.new_business_amount_minor(), 100'000'000);
  EXPECT_EQ(s.service_amount_minor(), 0);
}

TEST_F(SigningStatsTest, RefusesBadRequestsNamingTheField) {
  auto expect_invalid = [](const pb::GetSigningStatsRequest& req, const std::string& text) {
    pb::SigningStats out;
    grpc::Status s = NewStub()->GetSigningStats(Ctx().get(), req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
    EXPECT_TRUE(absl::StrContains(s.error_message(), text)) << s.error_message();
  };
  pb::GetSigningStatsRequest req = Request("E1", "");
  req.clear_signed_from();
  expect_invalid(req, "signed_from: is required");
  req = Request("E1", "");
  req.clear_signed_to();
  expect_invalid(req, "signed_to: is required");
  req = Request("E1", "");
  req.set_signed_from("2026-12-31");
  req.set_signed_to("2026-10-01");
  expect_invalid(req, "signed_to: must not be before signed_from");
  req = Request("E1", "");
  req.set_signed_from("2026/10/01");
  expect_invalid(req, "signed_from");
  req = Request("E1", "");
  req.set_signed_to("2028-10-01");  // 732 days
  expect_invalid(req, "signed_to: the range must be at most 731 days");
  expect_invalid(Request("E1", "D-A"), "department_id");
  expect_invalid(Request("", "", "cny"), "currency_code");
  // 731 days, inclusive, is the longest range.
  req = Request("E1", "");
  req.set_signed_to("2028-09-30");
  EXPECT_EQ(Stats(req).rows_size(), 6);
}

}  // namespace
}  // namespace kefu::contracts
