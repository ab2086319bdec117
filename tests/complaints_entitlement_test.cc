// Complaints classify work orders by the contracts service's entitlement: contract
// service, free under warranty, or paid; while contracts is down work orders are still
// taken, UNCLASSIFIED, and classified once it answers again.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "complaints/src/repository.h"
#include "complaints/src/service.h"
#include "kefu/client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/log.h"
#include "support/contracts_fixture.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"
#include <grpcpp/test/server_context_test_spouse.h>

const std::vector<kefu::db::Migration>& ComplaintsMigrations();

namespace kefu {
namespace {

namespace cpb = customers::v1;
namespace ctr = contracts::v1;
namespace wo = complaints::v1;

const absl::TimeZone kZone = absl::FixedTimeZone(8 * 3600);

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& roles = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  kefu::testing::Authorize(ctx.get(), "E4001", roles.empty() ? "senior_manager" : roles);
  return ctx;
}

TEST(ComplaintsEntitlement, WorkOrdersAreClassifiedByEntitlementAndCaughtUpAfterAnOutage) {
  log::Init("entitlement-test", log::Level::kError);
  FakeClock clock(absl::FromCivil(absl::CivilHour(2027, 3, 10, 10), kZone));
  testing::CustomersFixture customers(&clock);
  testing::ContractsFixture contracts(&clock, customers.channel());
  ChannelPool channels;
  auto contracts_channel = channels.Get(absl::StrCat("127.0.0.1:", contracts.port()));

  db::Config complaints_db = testing::CreateSchema("ent_cmp");
  auto pool = db::Pool::Create(complaints_db);
  ASSERT_TRUE(db::ApplyMigrations(*pool, ComplaintsMigrations()).ok());
  complaints::Repository repo(pool.get(), &clock);
  prometheus::Registry registry;
  complaints::BusinessMetrics metrics(registry);
  complaints::ServiceConfig config;
  config.customers = customers.channel();
  config.customers_timeout = absl::Seconds(2);
  config.contracts = contracts_channel;
  config.zone = kZone;
  complaints::ComplaintServiceImpl service(&repo, &metrics, &clock, config);

  int64_t covered = customers.CreateCustomer("维保合同客户", cpb::TIER_GOLD);
  int64_t uncovered = customers.CreateCustomer("无合同客户", cpb::TIER_STANDARD);

  // An active service contract for `covered`, March to December.
  auto ctr_stub = ctr::ContractService::NewStub(contracts_channel);
  ctr::CreateContractRequest create;
  auto* c = create.mutable_contract();
  c->set_customer_id(covered);
  c->set_name("2027年度维保合同");
  c->set_type(ctr::CONTRACT_TYPE_SERVICE_CONTRACT);
  c->mutable_amount()->set_currency_code("CNY");
  c->mutable_amount()->set_amount_minor(1'000'000);
  c->set_effective_date("2027-03-01");
  c->set_expiry_date("2027-12-31");
  ctr::Contract contract;
  ASSERT_TRUE(ctr_stub->CreateContract(Ctx().get(), create, &contract).ok());
  ctr::ContractActionRequest submit;
  submit.set_contract_id(contract.id());
  ASSERT_TRUE(ctr_stub->SubmitForReview(Ctx().get(), submit, &contract).ok());
  ctr::RecordApprovalRequest approve;
  approve.set_contract_id(contract.id());
  approve.set_decision(ctr::DECISION_PASS);
  ASSERT_TRUE(ctr_stub->RecordApproval(Ctx("department_manager").get(), approve, &contract).ok());
  ctr::SignContractRequest sign;
  sign.set_contract_id(contract.id());
  ASSERT_TRUE(ctr_stub->SignContract(Ctx().get(), sign, &contract).ok());
  ASSERT_TRUE(contracts.service()->SweepOnce().ok());  // effective since March 1st: active now

  auto create_work_order = [&](int64_t customer) {
    // Called in-process as an agent of the customers' department would over the wire.
    grpc::ServerContext server_ctx;
    grpc::testing::ServerContextTestSpouse spouse(&server_ctx);  // holds the metadata
    spouse.AddClientMetadata("authorization", "Bearer " + kefu::testing::TestToken("E4001", "agent", "D-SERVICE"));
    wo::CreateWorkOrderRequest req;
    auto* w = req.mutable_work_order();
    w->set_customer_id(customer);
    w->set_channel(wo::CHANNEL_PHONE);
    w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(wo::SEVERITY_GENERAL);
    w->set_content("设备报修");
    wo::WorkOrder out;
    grpc::Status s = service.CreateWorkOrder(&server_ctx, &req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  };

  wo::WorkOrder under_contract = create_work_order(covered);
  EXPECT_EQ(under_contract.service_type(), wo::SERVICE_TYPE_CONTRACT);
  EXPECT_EQ(under_contract.contract_id(), contract.id());
  EXPECT_EQ(create_work_order(uncovered).service_type(), wo::SERVICE_TYPE_PAID);

  contracts.Stop();
  wo::WorkOrder taken_while_down = create_work_order(covered);
  EXPECT_GT(taken_while_down.id(), 0);
  EXPECT_EQ(taken_while_down.service_type(), wo::SERVICE_TYPE_UNCLASSIFIED);
  EXPECT_EQ(service.ClassifyPending().value_or(-1), 0);  // still down: nothing changes

  contracts.Start();
  int classified = 0;
  for (int i = 0; i < 100 && classified == 0; ++i) {
    classified = service.ClassifyPending().value_or(0);
    if (classified == 0) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(classified, 1);
  auto now = repo.Get(taken_while_down.id());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->service_type(), wo::SERVICE_TYPE_CONTRACT);
  auto timeline = repo.Timeline(taken_while_down.id());
  ASSERT_TRUE(timeline.ok());
  EXPECT_EQ(timeline->back().kind(), wo::EVENT_KIND_CLASSIFIED);
  testing::DropSchema(complaints_db);
}

}  // namespace
}  // namespace kefu
