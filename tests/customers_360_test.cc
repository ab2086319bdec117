// The customer 360 view with real peers: the contracts service answers (its active
// contract shows), complaints is down (its part says so) and sales is not deployed;
// the view still returns the customer and everything it could get.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/log.h"
#include "support/contracts_fixture.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

namespace kefu {
namespace {

namespace cpb = customers::v1;
namespace ctr = contracts::v1;

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& roles = "") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  kefu::testing::Authorize(ctx.get(), "E1001", roles.empty() ? "senior_manager" : roles);
  return ctx;
}

TEST(Customer360, ShowsWhatThePeersHoldAndSaysWhichPartsAreMissing) {
  log::Init("c360-test", log::Level::kError);
  FakeClock clock(absl::FromCivil(absl::CivilHour(2027, 5, 10, 10), absl::FixedTimeZone(8 * 3600)));
  ChannelPool channels;
  int contracts_port = testing::FreePort();
  customers::Peers peers;
  peers.complaints = channels.Get(absl::StrCat("127.0.0.1:", testing::FreePort()));  // nothing listens
  peers.contracts = channels.Get(absl::StrCat("127.0.0.1:", contracts_port));
  peers.timeout = absl::Seconds(2);
  testing::CustomersFixture customers(&clock, peers);
  testing::ContractsFixture contracts(&clock, customers.channel(), contracts_port);
  int64_t customer = customers.CreateCustomer("全景测试客户", cpb::TIER_GOLD);

  auto stub = ctr::ContractService::NewStub(peers.contracts);
  ctr::CreateContractRequest create;
  auto* c = create.mutable_contract();
  c->set_customer_id(customer);
  c->set_name("全景维保合同");
  c->set_type(ctr::CONTRACT_TYPE_SERVICE_CONTRACT);
  c->mutable_amount()->set_currency_code("CNY");
  c->mutable_amount()->set_amount_minor(100);
  c->set_effective_date("2027-05-01");
  c->set_expiry_date("2027-12-31");
  ctr::Contract contract;
  ASSERT_TRUE(stub->CreateContract(Ctx().get(), create, &contract).ok());
  ctr::ContractActionRequest act;
  act.set_contract_id(contract.id());
  ASSERT_TRUE(stub->SubmitForReview(Ctx().get(), act, &contract).ok());
  ctr::RecordApprovalRequest approve;
  approve.set_contract_id(contract.id());
  approve.set_decision(ctr::DECISION_PASS);
  ASSERT_TRUE(stub->RecordApproval(Ctx("department_manager").get(), approve, &contract).ok());
  ctr::SignContractRequest sign;
  sign.set_contract_id(contract.id());
  ASSERT_TRUE(stub->SignContract(Ctx().get(), sign, &contract).ok());
  ASSERT_TRUE(contracts.service()->SweepOnce().ok());

  cpb::GetCustomer360Request req;
  req.set_customer_id(customer);
  cpb::Customer360 view;
  absl::Time start = absl::Now();
  grpc::Status s = cpb::CustomerService::NewStub(customers.channel())->GetCustomer360(Ctx().get(), req, &view);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // a down peer costs at most its deadline
  EXPECT_EQ(view.customer().id(), customer);
  ASSERT_EQ(view.active_contracts_size(), 1);
  EXPECT_EQ(view.active_contracts(0).number(), contract.number());
  EXPECT_EQ(view.active_contracts(0).type(), "service_contract");
  ASSERT_EQ(view.parts_size(), 3);
  for (const auto& p : view.parts()) {
    if (p.part() == "contracts") {
      EXPECT_TRUE(p.available());
    }
    if (p.part() == "complaints") {
      EXPECT_FALSE(p.available());
      EXPECT_FALSE(p.reason().empty());
    }
    if (p.part() == "sales") {
      EXPECT_EQ(p.reason(), "not configured");
    }
  }
}

}  // namespace
}  // namespace kefu
