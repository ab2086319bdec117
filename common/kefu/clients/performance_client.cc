#include "kefu/clients/performance_client.h"

#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/errors.h"
#include "kefu/performance/v1/performance.grpc.pb.h"

namespace kefu::clients {

absl::Status RequireActiveStaff(const std::shared_ptr<grpc::Channel>& channel, absl::string_view staff_id,
                                absl::string_view field, absl::Duration timeout, const Caller* caller) {
  if (!channel) return absl::OkStatus();
  if (DependencyDown(channel))
    return MakeError(absl::StatusCode::kUnavailable, "DEPENDENCY_UNAVAILABLE",
                     "the performance service cannot confirm the staff member right now; retry");
  performance::v1::CheckStaffRequest req;
  req.add_staff_ids(std::string(staff_id));
  performance::v1::CheckStaffResponse resp;
  auto ctx = NewCallContext(timeout, caller);
  grpc::Status s = performance::v1::PerformanceService::NewStub(channel)->CheckStaff(ctx.get(), req, &resp);
  if (!s.ok())
    return MakeError(absl::StatusCode::kUnavailable, "DEPENDENCY_UNAVAILABLE",
                     "the performance service cannot confirm the staff member right now; retry");
  if (resp.active_ids_size() == 1 && resp.active_ids(0) == staff_id) return absl::OkStatus();
  return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_STAFF",
                   absl::StrCat(field, ": ", staff_id, " is not active staff"),
                   {{std::string(field), "is not active staff"}});
}

}  // namespace kefu::clients
