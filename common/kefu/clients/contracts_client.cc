#include "kefu/clients/contracts_client.h"

#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/errors.h"

namespace kefu::clients {

absl::StatusOr<contracts::v1::Entitlement> CheckEntitlement(const std::shared_ptr<grpc::Channel>& channel,
                                                            int64_t customer_id, const std::string& day,
                                                            absl::Duration timeout, const Caller* caller) {
  if (!channel) return absl::UnavailableError("contracts service is not configured");
  if (DependencyDown(channel)) return absl::UnavailableError(absl::StrCat("contracts service ", kDependencyDown));
  auto ctx = NewCallContext(timeout, caller);
  contracts::v1::CheckEntitlementRequest req;
  req.set_customer_id(customer_id);
  req.set_date(day);
  contracts::v1::Entitlement out;
  grpc::Status s = contracts::v1::ContractService::NewStub(channel)->CheckEntitlement(ctx.get(), req, &out);
  if (!s.ok()) return FromGrpcStatus(s);
  return out;
}

}  // namespace kefu::clients
