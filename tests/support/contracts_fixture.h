#pragma once
// A real contracts service, in-process on its own MariaDB schema. Stop() and Start()
// again on the same port simulate an outage.

#include <grpcpp/channel.h>
#include <prometheus/registry.h>

#include <memory>

#include "contracts/src/repository.h"
#include "contracts/src/service.h"
#include "kefu/server.h"

namespace kefu::testing {

class ContractsFixture {
 public:
  // port 0 picks a free port.
  ContractsFixture(const Clock* clock, std::shared_ptr<grpc::Channel> customers, int port = 0);
  ~ContractsFixture();
  void Start();
  void Stop();
  int port() const { return port_; }
  contracts::ContractServiceImpl* service() { return service_.get(); }

 private:
  const Clock* clock_;
  std::shared_ptr<grpc::Channel> customers_;
  db::Config db_;
  int port_;
  prometheus::Registry registry_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<contracts::Repository> repo_;
  std::unique_ptr<contracts::BusinessMetrics> metrics_;
  std::unique_ptr<contracts::ContractServiceImpl> service_;
};

}  // namespace kefu::testing
