#include "support/contracts_fixture.h"

#include <gtest/gtest.h>

#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& ContractsMigrations();

namespace kefu::testing {

ContractsFixture::ContractsFixture(const Clock* clock, std::shared_ptr<grpc::Channel> customers, int port)
    : clock_(clock), customers_(std::move(customers)), db_(CreateSchema("fx_ctr")), port_(port ? port : FreePort()) {
  Start();
}

ContractsFixture::~ContractsFixture() {
  Stop();
  DropSchema(db_);
}

void ContractsFixture::Start() {
  ServerOptions o;
  o.token_verifier = kefu::testing::TestVerifier();
  o.service_token_verifier = kefu::testing::TestServiceVerifier();
  kefu::testing::UseTestServiceIdentity();
  o.service_name = "contracts";
  o.listen_host = "127.0.0.1";
  o.grpc_port = port_;
  o.metrics_port = -1;
  o.db = db_;
  o.health_interval = absl::Milliseconds(100);
  server_ = std::make_unique<Server>(o);
  repo_ = std::make_unique<contracts::Repository>(&server_->pool(), clock_);
  metrics_ = std::make_unique<contracts::BusinessMetrics>(registry_);
  service_ = std::make_unique<contracts::ContractServiceImpl>(
      repo_.get(), &server_->pool(), metrics_.get(), clock_,
      contracts::ServiceConfig{customers_, absl::Seconds(2), absl::FixedTimeZone(8 * 3600)});
  server_->AddService(service_.get(), contracts::v1::ContractService::service_full_name());
  absl::Status s = server_->Start(ContractsMigrations());
  ASSERT_TRUE(s.ok()) << s;
  for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(server_->ready());
}

void ContractsFixture::Stop() {
  if (server_) server_->Shutdown();
  server_.reset();
}

}  // namespace kefu::testing
