#pragma once
// A real customers service, in-process on its own MariaDB schema, for tests of the
// services that call it. Stop() and Start() again on the same port simulate an outage.

#include <grpcpp/channel.h>
#include <prometheus/registry.h>

#include <memory>

#include "customers/src/repository.h"
#include "customers/src/service.h"
#include "kefu/client.h"
#include "kefu/server.h"

namespace kefu::testing {

class CustomersFixture {
 public:
  // peers: the other services the 360 view asks (none by default).
  explicit CustomersFixture(const Clock* clock, customers::Peers peers = {});
  ~CustomersFixture();
  void Start();
  void Stop();
  // A channel with the production reconnect settings (kefu::ChannelPool).
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  // Creates an organisation customer and returns its id.
  int64_t CreateCustomer(const std::string& name, customers::v1::Tier tier);

 private:
  const Clock* clock_;
  customers::Peers peers_;
  db::Config db_;
  int port_;
  prometheus::Registry registry_;
  std::unique_ptr<customers::BusinessMetrics> metrics_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<customers::Repository> repo_;
  std::unique_ptr<customers::CustomerServiceImpl> service_;
  ChannelPool channels_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace kefu::testing
