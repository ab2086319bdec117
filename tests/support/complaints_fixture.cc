#include "support/complaints_fixture.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& ComplaintsMigrations();

namespace kefu::testing {

ComplaintsFixture::ComplaintsFixture(const Clock* clock, std::shared_ptr<grpc::Channel> customers, int port,
                                     std::shared_ptr<grpc::Channel> performance)
    : clock_(clock),
      customers_(std::move(customers)),
      performance_(std::move(performance)),
      db_(CreateSchema("fx_cmp")),
      port_(port ? port : FreePort()) {
  metrics_ = std::make_unique<complaints::BusinessMetrics>(registry_);
  channel_ = channels_.Get(absl::StrCat("127.0.0.1:", port_));
  Start();
}

ComplaintsFixture::~ComplaintsFixture() {
  Stop();
  DropSchema(db_);
}

void ComplaintsFixture::Start() {
  ServerOptions o;
  o.token_verifier = kefu::testing::TestVerifier();
  o.service_token_verifier = kefu::testing::TestServiceVerifier();
  kefu::testing::UseTestServiceIdentity();
  o.service_name = "complaints";
  o.listen_host = "127.0.0.1";
  o.grpc_port = port_;
  o.metrics_port = -1;
  o.db = db_;
  o.health_interval = absl::Milliseconds(100);
  server_ = std::make_unique<Server>(o);
  repo_ = std::make_unique<complaints::Repository>(&server_->pool(), clock_);
  complaints::ServiceConfig config;
  config.customers = customers_;
  config.customers_timeout = absl::Seconds(2);
  config.performance = performance_;
  config.zone = absl::FixedTimeZone(8 * 3600);
  service_ = std::make_unique<complaints::ComplaintServiceImpl>(repo_.get(), metrics_.get(), clock_, config);
  server_->AddService(service_.get(), complaints::v1::ComplaintService::service_full_name());
  absl::Status s = server_->Start(ComplaintsMigrations());
  ASSERT_TRUE(s.ok()) << s;
  for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(server_->ready());
  // After a restart the channel may sit in reconnect backoff; wait until it is up.
  if (channel_) channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

void ComplaintsFixture::Stop() {
  if (service_) service_->StopWatches();
  if (server_) server_->Shutdown();
  server_.reset();
}

}  // namespace kefu::testing
