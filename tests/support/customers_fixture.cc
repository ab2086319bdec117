#include "support/customers_fixture.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& CustomersMigrations();

namespace kefu::testing {

CustomersFixture::CustomersFixture(const Clock* clock, customers::Peers peers)
    : clock_(clock), peers_(std::move(peers)), db_(CreateSchema("fx_cust")), port_(FreePort()) {
  metrics_ = std::make_unique<customers::BusinessMetrics>(registry_);
  channel_ = channels_.Get(absl::StrCat("127.0.0.1:", port_));
  Start();
}

CustomersFixture::~CustomersFixture() {
  Stop();
  DropSchema(db_);
}

void CustomersFixture::Start() {
  ServerOptions o;
  o.token_verifier = kefu::testing::TestVerifier();
  o.service_token_verifier = kefu::testing::TestServiceVerifier();
  kefu::testing::UseTestServiceIdentity();
  o.service_name = "customers";
  o.listen_host = "127.0.0.1";
  o.grpc_port = port_;
  o.metrics_port = -1;
  o.db = db_;
  o.health_interval = absl::Milliseconds(100);
  server_ = std::make_unique<Server>(o);
  repo_ = std::make_unique<customers::Repository>(&server_->pool(), clock_);
  service_ = std::make_unique<customers::CustomerServiceImpl>(repo_.get(), metrics_.get(), clock_, peers_);
  server_->AddService(service_.get(), customers::v1::CustomerService::service_full_name());
  absl::Status s = server_->Start(CustomersMigrations());
  ASSERT_TRUE(s.ok()) << s;
  for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(server_->ready());
}

void CustomersFixture::Stop() {
  if (!server_) return;
  server_->Shutdown();
  server_.reset();
  service_.reset();
  repo_.reset();
}

int64_t CustomersFixture::CreateCustomer(const std::string& name, customers::v1::Tier tier) {
  auto stub = customers::v1::CustomerService::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  Authorize(&ctx, "E1001", "senior_manager");
  customers::v1::CreateCustomerRequest req;
  req.mutable_customer()->set_kind(customers::v1::CUSTOMER_KIND_ORGANIZATION);
  req.mutable_customer()->set_name(name);
  req.mutable_customer()->set_tier(tier);
  customers::v1::Customer out;
  grpc::Status s = stub->CreateCustomer(&ctx, req, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return out.id();
}

}  // namespace kefu::testing
