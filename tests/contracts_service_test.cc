// The contracts service against real MariaDB and the real customers service, with an
// injected clock: review and approval, signing, activation and expiry by date (also
// with two sweepers at once), entitlement boundaries, drafts for won projects,
// renewals and amendments, the customer log, and idempotent retries (request_id).
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "contracts/src/repository.h"
#include "contracts/src/service.h"
#include "kefu/clients/customers_client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& ContractsMigrations();

namespace kefu::contracts {
namespace {

using ::grpc::StatusCode;
namespace cpb = ::kefu::customers::v1;

absl::Time Noon(int y, int m, int d) {
  return absl::FromCivil(absl::CivilHour(y, m, d, 12), absl::FixedTimeZone(8 * 3600));
}

class ContractsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("contracts-test", log::Level::kWarn);
    clock_ = new FakeClock(Noon(2027, 1, 10));
    customers_ = new testing::CustomersFixture(clock_);
    db_ = new db::Config(testing::CreateSchema("ctr"));
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
    relay_ = new outbox::Relay(&server_->pool(), clock_, registry);
    clients::RegisterCustomerLog(*relay_, customers_->channel(), absl::Seconds(2));
    server_->AddService(service_, pb::ContractService::service_full_name());
    ASSERT_TRUE(server_->Start(ContractsMigrations()).ok());
    for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    delete customers_;
    testing::DropSchema(*db_);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& actor = "E1001", const std::string& roles = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    kefu::testing::Authorize(ctx.get(), actor, roles.empty() ? "senior_manager" : roles);
    return ctx;
  }
  std::unique_ptr<pb::ContractService::Stub> Stub() { return pb::ContractService::NewStub(*channel_); }

  pb::Contract Draft(int64_t customer, pb::ContractType type, int64_t amount, const std::string& from,
                     const std::string& to) {
    pb::CreateContractRequest req;
    auto* c = req.mutable_contract();
    c->set_customer_id(customer);
    c->set_name("设备维保服务合同");
    c->set_type(type);
    c->mutable_amount()->set_currency_code("CNY");
    c->mutable_amount()->set_amount_minor(amount);
    c->set_effective_date(from);
    c->set_expiry_date(to);
    pb::Contract out;
    grpc::Status s = Stub()->CreateContract(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  pb::Contract Approve(const pb::Contract& c, const std::string& role) {
    pb::RecordApprovalRequest req;
    req.set_contract_id(c.id());
    req.set_decision(pb::DECISION_PASS);
    req.set_opinion("同意");
    pb::Contract out;
    grpc::Status s = Stub()->RecordApproval(Ctx("M1", role).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // Draft -> active, approved by a department manager.
  pb::Contract Active(int64_t customer, pb::ContractType type, const std::string& from, const std::string& to) {
    pb::Contract c = Draft(customer, type, 5'000'000, from, to);
    pb::ContractActionRequest submit;
    submit.set_contract_id(c.id());
    EXPECT_TRUE(Stub()->SubmitForReview(Ctx().get(), submit, &c).ok());
    c = Approve(c, "department_manager");
    pb::SignContractRequest sign;
    sign.set_contract_id(c.id());
    EXPECT_TRUE(Stub()->SignContract(Ctx().get(), sign, &c).ok());
    EXPECT_TRUE(service_->SweepOnce().ok());
    pb::GetContractRequest get;
    get.set_contract_id(c.id());
    EXPECT_TRUE(Stub()->GetContract(Ctx().get(), get, &c).ok());
    return c;
  }

  pb::Contract Current(int64_t id) {
    pb::GetContractRequest get;
    get.set_contract_id(id);
    pb::Contract out;
    grpc::Status s = Stub()->GetContract(Ctx().get(), get, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // Sends the same request (with its request_id) twice: both succeed with the identical
  // response, which is returned.
  template <typename Response>
  Response CallTwice(const std::string& rpc, const std::function<grpc::Status(Response*)>& call) {
    Response first, again;
    grpc::Status s = call(&first);
    EXPECT_TRUE(s.ok()) << rpc << ": " << s.error_message();
    s = call(&again);
    EXPECT_TRUE(s.ok()) << rpc << " retried: " << s.error_message();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, again))
        << rpc << "\nfirst: " << first.DebugString() << "\nretry: " << again.DebugString();
    return first;
  }

  pb::Entitlement Entitlement(int64_t customer, const std::string& date) {
    pb::CheckEntitlementRequest req;
    req.set_customer_id(customer);
    req.set_date(date);
    pb::Entitlement out;
    EXPECT_TRUE(Stub()->CheckEntitlement(Ctx().get(), req, &out).ok());
    return out;
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
  static db::Config* db_;
  static Server* server_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static ContractServiceImpl* service_;
  static outbox::Relay* relay_;
  static std::shared_ptr<grpc::Channel>* channel_;
};

FakeClock* ContractsTest::clock_;
testing::CustomersFixture* ContractsTest::customers_;
db::Config* ContractsTest::db_;
Server* ContractsTest::server_;
Repository* ContractsTest::repo_;
BusinessMetrics* ContractsTest::metrics_;
ContractServiceImpl* ContractsTest::service_;
outbox::Relay* ContractsTest::relay_;
std::shared_ptr<grpc::Channel>* ContractsTest::channel_;

TEST_F(ContractsTest, ReviewApprovalSigningAndTheCustomerLog) {
  clock_->Set(Noon(2027, 1, 10));
  int64_t customer = customers_->CreateCustomer("合同测试客户甲", cpb::TIER_GOLD);
  pb::Contract c = Draft(customer, pb::CONTRACT_TYPE_SALES, 150'000'000, "2027-01-15", "2028-01-14");
  EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_DRAFT);
  EXPECT_EQ(c.owner_id(), "E1001");

  pb::SignContractRequest sign;
  sign.set_contract_id(c.id());
  pb::Contract out;
  grpc::Status s = Stub()->SignContract(Ctx().get(), sign, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);  // not approved

  pb::SetRiskAssessmentRequest risk;
  risk.set_contract_id(c.id());
  auto* item = risk.add_risk_items();
  item->set_clause("第7条 违约责任");
  item->set_level(pb::RISK_LEVEL_HIGH);
  item->set_note("违约金比例过高");
  ASSERT_TRUE(Stub()->SetRiskAssessment(Ctx().get(), risk, &c).ok());
  EXPECT_EQ(c.risk_items_size(), 1);

  pb::ContractActionRequest submit;
  submit.set_contract_id(c.id());
  ASSERT_TRUE(Stub()->SubmitForReview(Ctx().get(), submit, &c).ok());
  ASSERT_EQ(c.approvals_size(), 2);  // 1.5M needs a senior manager too

  // The senior manager cannot skip the department manager's step.
  pb::RecordApprovalRequest approve;
  approve.set_contract_id(c.id());
  approve.set_decision(pb::DECISION_PASS);
  s = Stub()->RecordApproval(Ctx("S1", "senior_manager").get(), approve, &out);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  // A rejection sends it back to draft; a new round starts on resubmission.
  pb::RecordApprovalRequest reject = approve;
  reject.set_decision(pb::DECISION_REJECT);
  reject.set_opinion("违约条款需修改");
  ASSERT_TRUE(Stub()->RecordApproval(Ctx("M1", "department_manager").get(), reject, &c).ok());
  EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_DRAFT);
  ASSERT_TRUE(Stub()->SubmitForReview(Ctx().get(), submit, &c).ok());
  c = Approve(c, "department_manager");
  EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_IN_REVIEW);
  c = Approve(c, "senior_manager");
  EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_APPROVED);

  ASSERT_TRUE(Stub()->SignContract(Ctx().get(), sign, &c).ok());
  EXPECT_EQ(c.signing_date(), "2027-01-10");
  // Not effective before its first day, active on it.
  ASSERT_TRUE(service_->SweepOnce().ok());
  pb::GetContractRequest get;
  get.set_contract_id(c.id());
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &c).ok());
  EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_SIGNED);
  clock_->Set(Noon(2027, 1, 15));
  ASSERT_TRUE(service_->SweepOnce().ok());
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &c).ok());
  EXPECT_EQ(c.status(), pb::CONTRACT_STATUS_ACTIVE);

  while (relay_->DeliverDue().value_or(0) > 0) {
  }
  auto stub = cpb::CustomerService::NewStub(customers_->channel());
  cpb::ListLogEntriesRequest log;
  log.set_customer_id(customer);
  log.set_category(cpb::LOG_CATEGORY_CONTRACT);
  log.set_page_size(50);
  cpb::ListLogEntriesResponse entries;
  ASSERT_TRUE(stub->ListLogEntries(Ctx().get(), log, &entries).ok());
  // created, submitted, rejected, submitted, approved x2, signed, active
  EXPECT_EQ(entries.entries_size(), 8);
}

TEST_F(ContractsTest, EntitlementCoversTheFirstAndLastDayAndExpiresOnItsOwn) {
  clock_->Set(Noon(2027, 3, 1));
  int64_t customer = customers_->CreateCustomer("合同测试客户乙", cpb::TIER_STANDARD);
  EXPECT_EQ(Entitlement(customer, "2027-03-01").kind(), pb::ENTITLEMENT_KIND_PAID);
  pb::Contract warranty = Active(customer, pb::CONTRACT_TYPE_SERVICE_WARRANTY, "2027-03-01", "2027-03-31");
  ASSERT_EQ(warranty.status(), pb::CONTRACT_STATUS_ACTIVE);
  EXPECT_EQ(Entitlement(customer, "2027-02-28").kind(), pb::ENTITLEMENT_KIND_PAID);
  EXPECT_EQ(Entitlement(customer, "2027-03-01").kind(), pb::ENTITLEMENT_KIND_FREE_WARRANTY);
  pb::Entitlement last = Entitlement(customer, "2027-03-31");
  EXPECT_EQ(last.kind(), pb::ENTITLEMENT_KIND_FREE_WARRANTY);
  EXPECT_EQ(last.contract_id(), warranty.id());
  EXPECT_EQ(Entitlement(customer, "2027-04-01").kind(), pb::ENTITLEMENT_KIND_PAID);
  pb::Contract service = Active(customer, pb::CONTRACT_TYPE_SERVICE_CONTRACT, "2027-03-01", "2027-12-31");
  EXPECT_EQ(Entitlement(customer, "2027-03-15").kind(), pb::ENTITLEMENT_KIND_CONTRACT);

  // The last day is still covered; the day after, the sweep expires it (once, even
  // with two replicas sweeping at the same moment).
  clock_->Set(Noon(2027, 3, 31));
  ASSERT_TRUE(service_->SweepOnce().ok());
  pb::GetContractRequest get;
  get.set_contract_id(warranty.id());
  pb::Contract now;
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &now).ok());
  EXPECT_EQ(now.status(), pb::CONTRACT_STATUS_ACTIVE);
  clock_->Set(Noon(2027, 4, 1));
  Repository other_repo(&server_->pool(), clock_);
  prometheus::Registry registry;
  BusinessMetrics other_metrics(registry);
  ContractServiceImpl other(&other_repo, &server_->pool(), &other_metrics, clock_,
                            {customers_->channel(), absl::Seconds(2), absl::FixedTimeZone(8 * 3600)});
  std::atomic<int> changed{0};
  std::thread a([&] { changed += service_->SweepOnce().value_or(0); });
  std::thread b([&] { changed += other.SweepOnce().value_or(0); });
  a.join();
  b.join();
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &now).ok());
  EXPECT_EQ(now.status(), pb::CONTRACT_STATUS_EXPIRED);
  EXPECT_EQ(now.version(), warranty.version() + 1);  // expired exactly once
  EXPECT_EQ(Entitlement(customer, "2027-04-01").kind(), pb::ENTITLEMENT_KIND_CONTRACT);

  pb::ListContractsRequest expiring;
  expiring.set_customer_id(customer);
  expiring.set_expiring_within_days(300);
  pb::ListContractsResponse list;
  ASSERT_TRUE(Stub()->ListContracts(Ctx().get(), expiring, &list).ok());
  ASSERT_EQ(list.contracts_size(), 1);
  EXPECT_EQ(list.contracts(0).id(), service.id());
}

TEST_F(ContractsTest, WonProjectGetsOneDraftHoweverOftenItAsks) {
  clock_->Set(Noon(2027, 5, 1));
  int64_t customer = customers_->CreateCustomer("合同测试客户丙", cpb::TIER_SILVER);
  pb::CreateDraftForProjectRequest req;
  req.set_sales_project_id(4242);
  req.set_customer_id(customer);
  req.set_name("智能客服系统采购合同");
  req.set_type(pb::CONTRACT_TYPE_SALES);
  req.mutable_amount()->set_currency_code("CNY");
  req.mutable_amount()->set_amount_minor(880'000'00);
  pb::Contract first, again;
  ASSERT_TRUE(Stub()->CreateDraftForProject(Ctx().get(), req, &first).ok());
  ASSERT_TRUE(Stub()->CreateDraftForProject(Ctx().get(), req, &again).ok());
  EXPECT_EQ(first.id(), again.id());
  EXPECT_EQ(first.sales_project_id(), 4242);
  EXPECT_EQ(first.effective_date(), "2027-05-01");
  EXPECT_EQ(first.expiry_date(), "2028-04-30");
  req.set_customer_id(987654);
  grpc::Status s = Stub()->CreateDraftForProject(Ctx().get(), req, &again);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);  // unknown customer
}

TEST_F(ContractsTest, RenewalsAndAmendmentsKeepTheirHistory) {
  clock_->Set(Noon(2027, 6, 1));
  int64_t customer = customers_->CreateCustomer("合同测试客户丁", cpb::TIER_STANDARD);
  pb::Contract original = Active(customer, pb::CONTRACT_TYPE_SERVICE_CONTRACT, "2027-06-01", "2027-06-30");
  // It ends within 30 days and nobody has drafted its renewal yet (the alert's gauge).
  const absl::CivilDay june1(2027, 6, 1);
  auto unrenewed_before = repo_->CountExpiringWithoutRenewal(june1, june1 + 30);
  ASSERT_TRUE(unrenewed_before.ok());
  EXPECT_GE(*unrenewed_before, 1);
  const int64_t expiring_before = *repo_->CountExpiring(june1, june1 + 30);
  pb::RenewContractRequest renew;
  renew.set_contract_id(original.id());
  renew.set_expiry_date("2028-06-30");
  renew.set_request_id("renew-1");
  pb::Contract renewal, replay;
  ASSERT_TRUE(Stub()->RenewContract(Ctx().get(), renew, &renewal).ok());
  ASSERT_TRUE(Stub()->RenewContract(Ctx().get(), renew, &replay).ok());
  EXPECT_EQ(renewal.id(), replay.id());
  EXPECT_EQ(renewal.relation(), pb::RELATION_RENEWAL);
  auto unrenewed_after = repo_->CountExpiringWithoutRenewal(june1, june1 + 30);
  ASSERT_TRUE(unrenewed_after.ok());
  EXPECT_EQ(*unrenewed_after, *unrenewed_before - 1);
  EXPECT_EQ(*repo_->CountExpiring(june1, june1 + 30), expiring_before);  // still expiring, but renewed
  EXPECT_EQ(renewal.effective_date(), "2027-07-01");
  EXPECT_EQ(renewal.previous_contract_id(), original.id());

  pb::AmendContractRequest amend;
  amend.set_contract_id(original.id());
  *amend.mutable_amended() = original;
  amend.mutable_amended()->mutable_amount()->set_amount_minor(6'000'000);
  amend.set_reason("增加服务点");
  pb::Contract amendment;
  ASSERT_TRUE(Stub()->AmendContract(Ctx().get(), amend, &amendment).ok());
  // Activating the amendment supersedes the original.
  pb::ContractActionRequest submit;
  submit.set_contract_id(amendment.id());
  ASSERT_TRUE(Stub()->SubmitForReview(Ctx().get(), submit, &amendment).ok());
  amendment = Approve(amendment, "department_manager");
  pb::SignContractRequest sign;
  sign.set_contract_id(amendment.id());
  ASSERT_TRUE(Stub()->SignContract(Ctx().get(), sign, &amendment).ok());
  ASSERT_TRUE(Stub()->ActivateContract(Ctx().get(), submit, &amendment).ok());
  EXPECT_EQ(amendment.status(), pb::CONTRACT_STATUS_ACTIVE);

  pb::ListContractHistoryRequest hist;
  hist.set_contract_id(renewal.id());
  pb::ListContractHistoryResponse chain;
  ASSERT_TRUE(Stub()->ListContractHistory(Ctx().get(), hist, &chain).ok());
  ASSERT_EQ(chain.contracts_size(), 3);
  EXPECT_EQ(chain.contracts(0).id(), original.id());
  EXPECT_EQ(chain.contracts(0).status(), pb::CONTRACT_STATUS_SUPERSEDED);
}

TEST_F(ContractsTest, AnAmendmentInForceOnItsOwnSupersedesTheOriginal) {
  clock_->Set(Noon(2027, 8, 1));
  int64_t customer = customers_->CreateCustomer("合同测试客户己", cpb::TIER_STANDARD);
  pb::Contract original = Active(customer, pb::CONTRACT_TYPE_SERVICE_CONTRACT, "2027-08-01", "2028-07-31");
  pb::AmendContractRequest amend;
  amend.set_contract_id(original.id());
  *amend.mutable_amended() = original;
  amend.mutable_amended()->set_effective_date("2027-09-01");
  amend.set_reason("九月起增加两个服务点");
  pb::Contract amendment;
  grpc::Status st = Stub()->AmendContract(Ctx().get(), amend, &amendment);
  ASSERT_TRUE(st.ok()) << st.error_message();
  pb::ContractActionRequest submit;
  submit.set_contract_id(amendment.id());
  ASSERT_TRUE(Stub()->SubmitForReview(Ctx().get(), submit, &amendment).ok());
  amendment = Approve(amendment, "department_manager");
  pb::SignContractRequest sign;
  sign.set_contract_id(amendment.id());
  ASSERT_TRUE(Stub()->SignContract(Ctx().get(), sign, &amendment).ok());
  ASSERT_TRUE(service_->SweepOnce().ok());
  pb::GetContractRequest get;
  get.set_contract_id(original.id());
  pb::Contract now;
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &now).ok());
  EXPECT_EQ(now.status(), pb::CONTRACT_STATUS_ACTIVE);  // the amendment is not in force yet

  clock_->Set(Noon(2027, 9, 1));
  ASSERT_TRUE(service_->SweepOnce().ok());
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &now).ok());
  EXPECT_EQ(now.status(), pb::CONTRACT_STATUS_SUPERSEDED);
  get.set_contract_id(amendment.id());
  ASSERT_TRUE(Stub()->GetContract(Ctx().get(), get, &now).ok());
  EXPECT_EQ(now.status(), pb::CONTRACT_STATUS_ACTIVE);
}

TEST_F(ContractsTest, BadInputAndStaleVersions) {
  clock_->Set(Noon(2027, 7, 1));
  int64_t customer = customers_->CreateCustomer("合同测试客户戊", cpb::TIER_STANDARD);
  pb::CreateContractRequest req;
  auto* c = req.mutable_contract();
  c->set_customer_id(customer);
  c->set_name("x");
  c->set_type(pb::CONTRACT_TYPE_SALES);
  c->mutable_amount()->set_currency_code("CNY");
  c->set_effective_date("2027-08-01");
  c->set_expiry_date("2027-07-31");
  pb::Contract out;
  grpc::Status s = Stub()->CreateContract(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("contract.expiry_date"), std::string::npos);
  c->set_expiry_date("2027-12-31");
  c->set_customer_id(99999999);
  EXPECT_EQ(Stub()->CreateContract(Ctx().get(), req, &out).error_code(), StatusCode::FAILED_PRECONDITION);

  pb::Contract draft = Draft(customer, pb::CONTRACT_TYPE_SALES, 100, "2027-08-01", "2027-12-31");
  pb::UpdateContractRequest update;
  update.mutable_contract()->set_id(draft.id());
  update.mutable_contract()->set_version(draft.version());
  update.mutable_contract()->set_name("改名后的合同");
  update.mutable_update_mask()->add_paths("name");
  ASSERT_TRUE(Stub()->UpdateContract(Ctx().get(), update, &out).ok());
  EXPECT_EQ(out.name(), "改名后的合同");
  EXPECT_EQ(Stub()->UpdateContract(Ctx().get(), update, &out).error_code(), StatusCode::ABORTED);
  pb::CheckEntitlementRequest bad_date;
  bad_date.set_customer_id(customer);
  bad_date.set_date("2027-02-30");
  pb::Entitlement e;
  EXPECT_EQ(Stub()->CheckEntitlement(Ctx().get(), bad_date, &e).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ContractsTest, EveryStateChangeRetriedWithItsRequestIdTakesEffectOnce) {
  clock_->Set(Noon(2027, 10, 1));
  int64_t customer = customers_->CreateCustomer("合同测试客户庚", cpb::TIER_STANDARD);
  pb::Contract c = Draft(customer, pb::CONTRACT_TYPE_SERVICE_CONTRACT, 5'000'000, "2027-10-01", "2028-09-30");
  ASSERT_GT(c.id(), 0);
  auto id_for = [&](const std::string& rpc) { return absl::StrCat("idem-", rpc, "-", c.id()); };

  // The lifecycle, one RPC after the other; each request is built from the contract as
  // it is before the call, so the retry sends exactly the same request (by then with a
  // stale version).
  struct Step {
    std::string rpc;
    std::function<grpc::Status(const pb::Contract& current, pb::Contract* out)> call;
    pb::ContractStatus status_after;
  };
  const std::vector<Step> steps = {
      {"UpdateContract",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::UpdateContractRequest req;
         req.mutable_contract()->set_id(current.id());
         req.mutable_contract()->set_version(current.version());
         req.mutable_contract()->set_name("设备维保服务合同（修订）");
         req.mutable_update_mask()->add_paths("name");
         req.set_request_id(id_for("UpdateContract"));
         return Stub()->UpdateContract(Ctx().get(), req, out);
       },
       pb::CONTRACT_STATUS_DRAFT},
      {"SetRiskAssessment",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::SetRiskAssessmentRequest req;
         req.set_contract_id(current.id());
         req.set_version(current.version());
         auto* item = req.add_risk_items();
         item->set_clause("第5条 付款方式");
         item->set_level(pb::RISK_LEVEL_MEDIUM);
         req.set_request_id(id_for("SetRiskAssessment"));
         return Stub()->SetRiskAssessment(Ctx().get(), req, out);
       },
       pb::CONTRACT_STATUS_DRAFT},
      {"SubmitForReview",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::ContractActionRequest req;
         req.set_contract_id(current.id());
         req.set_version(current.version());
         req.set_request_id(id_for("SubmitForReview"));
         return Stub()->SubmitForReview(Ctx().get(), req, out);
       },
       pb::CONTRACT_STATUS_IN_REVIEW},
      {"RecordApproval",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::RecordApprovalRequest req;
         req.set_contract_id(current.id());
         req.set_version(current.version());
         req.set_decision(pb::DECISION_PASS);
         req.set_opinion("同意");
         req.set_request_id(id_for("RecordApproval"));
         return Stub()->RecordApproval(Ctx("M1", "department_manager").get(), req, out);
       },
       pb::CONTRACT_STATUS_APPROVED},
      {"SignContract",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::SignContractRequest req;
         req.set_contract_id(current.id());
         req.set_version(current.version());
         req.set_request_id(id_for("SignContract"));
         return Stub()->SignContract(Ctx().get(), req, out);
       },
       pb::CONTRACT_STATUS_SIGNED},
      {"ActivateContract",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::ContractActionRequest req;
         req.set_contract_id(current.id());
         req.set_version(current.version());
         req.set_request_id(id_for("ActivateContract"));
         return Stub()->ActivateContract(Ctx().get(), req, out);
       },
       pb::CONTRACT_STATUS_ACTIVE},
      {"TerminateContract",
       [&](const pb::Contract& current, pb::Contract* out) {
         pb::TerminateContractRequest req;
         req.set_contract_id(current.id());
         req.set_version(current.version());
         req.set_reason("客户经营调整，双方协商终止");
         req.set_request_id(id_for("TerminateContract"));
         return Stub()->TerminateContract(Ctx().get(), req, out);
       },
       pb::CONTRACT_STATUS_TERMINATED},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step.rpc);
    const pb::Contract before = c;
    pb::Contract result = CallTwice<pb::Contract>(step.rpc, [&](pb::Contract* out) { return step.call(before, out); });
    EXPECT_EQ(result.status(), step.status_after);
    EXPECT_EQ(result.version(), before.version() + 1);
    c = Current(c.id());
    EXPECT_EQ(c.version(), before.version() + 1);  // changed once, not twice
    EXPECT_EQ(c.status(), step.status_after);
    EXPECT_EQ(c.update_time().seconds(), result.update_time().seconds());
    ASSERT_FALSE(HasFailure());
  }
  EXPECT_EQ(c.risk_items_size(), 1);
  EXPECT_EQ(c.approvals_size(), 1);

  // One customer-log line per change that writes one, none for the retries: created,
  // submitted, approved, signed, active, terminated.
  while (relay_->DeliverDue().value_or(0) > 0) {
  }
  auto customers = cpb::CustomerService::NewStub(customers_->channel());
  cpb::ListLogEntriesRequest log;
  log.set_customer_id(customer);
  log.set_category(cpb::LOG_CATEGORY_CONTRACT);
  log.set_page_size(50);
  cpb::ListLogEntriesResponse entries;
  ASSERT_TRUE(customers->ListLogEntries(Ctx().get(), log, &entries).ok());
  EXPECT_EQ(entries.entries_size(), 6);

  // The same request id with a different request is refused, and changes nothing.
  pb::TerminateContractRequest other;
  other.set_contract_id(c.id());
  other.set_version(c.version());
  other.set_reason("另一个原因");
  other.set_request_id(id_for("TerminateContract"));
  pb::Contract out;
  grpc::Status s = Stub()->TerminateContract(Ctx().get(), other, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_NE(s.error_message().find("request_id"), std::string::npos) << s.error_message();
  EXPECT_EQ(Current(c.id()).version(), c.version());

  // Creates: the won project's draft and a plain draft.
  pb::CreateDraftForProjectRequest project;
  project.set_sales_project_id(4343);
  project.set_customer_id(customer);
  project.set_name("客服坐席扩容采购合同");
  project.set_type(pb::CONTRACT_TYPE_SALES);
  project.mutable_amount()->set_currency_code("CNY");
  project.mutable_amount()->set_amount_minor(120'000'00);
  project.set_request_id("idem-CreateDraftForProject-4343");
  pb::Contract draft = CallTwice<pb::Contract>(
      "CreateDraftForProject", [&](pb::Contract* o) { return Stub()->CreateDraftForProject(Ctx().get(), project, o); });
  EXPECT_EQ(draft.sales_project_id(), 4343);
  pb::CreateDraftForProjectRequest renamed = project;
  renamed.set_name("另一个名字");
  s = Stub()->CreateDraftForProject(Ctx().get(), renamed, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION) << s.error_message();
  pb::CreateContractRequest create;
  auto* fresh = create.mutable_contract();
  fresh->set_customer_id(customer);
  fresh->set_name("设备维保服务合同（新签）");
  fresh->set_type(pb::CONTRACT_TYPE_SERVICE_CONTRACT);
  fresh->mutable_amount()->set_currency_code("CNY");
  fresh->mutable_amount()->set_amount_minor(4'000'000);
  fresh->set_effective_date("2027-11-01");
  fresh->set_expiry_date("2028-10-31");
  create.set_request_id(absl::StrCat("idem-CreateContract-", c.id()));
  pb::Contract created, created_again;
  ASSERT_TRUE(Stub()->CreateContract(Ctx().get(), create, &created).ok());
  ASSERT_TRUE(Stub()->CreateContract(Ctx().get(), create, &created_again).ok());
  EXPECT_EQ(created.id(), created_again.id());
  pb::ListContractsRequest list;
  list.set_customer_id(customer);
  list.set_page_size(50);
  pb::ListContractsResponse listed;
  ASSERT_TRUE(Stub()->ListContracts(Ctx().get(), list, &listed).ok());
  EXPECT_EQ(listed.contracts_size(), 3);  // the lifecycle one, the project's draft, the new one

  // The approval rules (saved as they are, so other tests see the same rules).
  pb::ApprovalRules rules;
  ASSERT_TRUE(Stub()->GetApprovalRules(Ctx().get(), pb::GetApprovalRulesRequest(), &rules).ok());
  pb::UpdateApprovalRulesRequest save;
  *save.mutable_rules() = rules;
  save.set_request_id(absl::StrCat("idem-UpdateApprovalRules-", c.id()));
  pb::ApprovalRules saved = CallTwice<pb::ApprovalRules>(
      "UpdateApprovalRules", [&](pb::ApprovalRules* o) { return Stub()->UpdateApprovalRules(Ctx().get(), save, o); });
  EXPECT_EQ(saved.version(), rules.version() + 1);
  pb::ApprovalRules now;
  ASSERT_TRUE(Stub()->GetApprovalRules(Ctx().get(), pb::GetApprovalRulesRequest(), &now).ok());
  EXPECT_EQ(now.version(), rules.version() + 1);  // saved once
}

TEST_F(ContractsTest, ARetryWithAStaleVersionIsReplayedButANewRequestIsAborted) {
  clock_->Set(Noon(2027, 10, 5));
  int64_t customer = customers_->CreateCustomer("合同测试客户辛", cpb::TIER_STANDARD);
  pb::Contract draft = Draft(customer, pb::CONTRACT_TYPE_SALES, 100, "2027-11-01", "2028-10-31");
  pb::SetRiskAssessmentRequest risk;
  risk.set_contract_id(draft.id());
  risk.set_version(draft.version());
  auto* item = risk.add_risk_items();
  item->set_clause("第9条 保密条款");
  item->set_level(pb::RISK_LEVEL_LOW);
  risk.set_request_id(absl::StrCat("risk-A-", draft.id()));
  pb::Contract first, replay, out;
  ASSERT_TRUE(Stub()->SetRiskAssessment(Ctx().get(), risk, &first).ok());
  EXPECT_EQ(first.version(), draft.version() + 1);
  // Same id, now-stale version: the first result again.
  grpc::Status s = Stub()->SetRiskAssessment(Ctx().get(), risk, &replay);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, replay));
  // A new id with the stale version is a new request: ABORTED.
  risk.set_request_id(absl::StrCat("risk-B-", draft.id()));
  EXPECT_EQ(Stub()->SetRiskAssessment(Ctx().get(), risk, &out).error_code(), StatusCode::ABORTED);
  EXPECT_EQ(Current(draft.id()).version(), first.version());
  // A malformed request id is refused before anything happens.
  risk.set_version(first.version());
  risk.set_request_id("not a valid id!");
  EXPECT_EQ(Stub()->SetRiskAssessment(Ctx().get(), risk, &out).error_code(), StatusCode::INVALID_ARGUMENT);

  // The same for the approval rules.
  pb::ApprovalRules rules;
  ASSERT_TRUE(Stub()->GetApprovalRules(Ctx().get(), pb::GetApprovalRulesRequest(), &rules).ok());
  pb::UpdateApprovalRulesRequest save;
  *save.mutable_rules() = rules;
  save.set_request_id(absl::StrCat("rules-A-", draft.id()));
  pb::ApprovalRules saved, saved_again, refused;
  ASSERT_TRUE(Stub()->UpdateApprovalRules(Ctx().get(), save, &saved).ok());
  s = Stub()->UpdateApprovalRules(Ctx().get(), save, &saved_again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(saved_again.version(), saved.version());
  save.set_request_id(absl::StrCat("rules-B-", draft.id()));
  EXPECT_EQ(Stub()->UpdateApprovalRules(Ctx().get(), save, &refused).error_code(), StatusCode::ABORTED);
}

}  // namespace
}  // namespace kefu::contracts
