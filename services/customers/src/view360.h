#pragma once
// The parts of the customer 360 view that other services hold: open work orders
// (complaints), active contracts (contracts) and open sales projects (sales). Each is
// asked at the same time, with its own deadline; a part whose service is not configured or
// does not answer is reported unavailable with the reason, and the rest still shows.

#include <grpcpp/channel.h>

#include <memory>

#include "absl/time/time.h"
#include "kefu/customers/v1/customers.pb.h"
#include "kefu/request_context.h"

namespace kefu::customers {

struct Peers {
  std::shared_ptr<grpc::Channel> complaints;
  std::shared_ptr<grpc::Channel> contracts;
  std::shared_ptr<grpc::Channel> sales;
  absl::Duration timeout = absl::Seconds(1);
  // Staff ids of new owners are checked here; null = performance not deployed.
  std::shared_ptr<grpc::Channel> performance = nullptr;
};

void FillFromPeers(const Peers& peers, int64_t customer_id, const Caller& caller, v1::Customer360* view);

}  // namespace kefu::customers
