#pragma once
// A real complaints service, in-process on its own MariaDB schema, for tests of the
// services that call it. Stop() and Start() again on the same port simulate an outage.

#include <grpcpp/channel.h>
#include <prometheus/registry.h>

#include <memory>

#include "complaints/src/repository.h"
#include "complaints/src/service.h"
#include "kefu/client.h"
#include "kefu/server.h"

namespace kefu::testing {

class ComplaintsFixture {
 public:
  // customers: where tiers are looked up; port 0 picks a free port; performance:
  // where handlers are checked (none by default).
  ComplaintsFixture(const Clock* clock, std::shared_ptr<grpc::Channel> customers, int port = 0,
                    std::shared_ptr<grpc::Channel> performance = nullptr);
  ~ComplaintsFixture();
  void Start();
  void Stop();
  int port() const { return port_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  complaints::ComplaintServiceImpl* service() { return service_.get(); }

 private:
  const Clock* clock_;
  std::shared_ptr<grpc::Channel> customers_;
  std::shared_ptr<grpc::Channel> performance_;
  db::Config db_;
  int port_;
  prometheus::Registry registry_;
  std::unique_ptr<complaints::BusinessMetrics> metrics_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<complaints::Repository> repo_;
  std::unique_ptr<complaints::ComplaintServiceImpl> service_;
  ChannelPool channels_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace kefu::testing
