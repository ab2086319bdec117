#pragma once
// What other services need from `contracts`: the service entitlement of a customer on
// a day (complaints classify work orders with it).

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kefu/contracts/v1/contracts.pb.h"
#include "kefu/request_context.h"

namespace kefu::clients {

// `day` is "YYYY-MM-DD". UNAVAILABLE when contracts is not configured or cannot answer.
absl::StatusOr<contracts::v1::Entitlement> CheckEntitlement(const std::shared_ptr<grpc::Channel>& channel,
                                                            int64_t customer_id, const std::string& day,
                                                            absl::Duration timeout, const Caller* caller = nullptr);

}  // namespace kefu::clients
