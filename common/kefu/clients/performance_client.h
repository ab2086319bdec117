#pragma once
// What other services need from `performance`: whether a staff id names a person who
// is on the staff now (owners, handlers and assignees are checked against it).

#include <grpcpp/channel.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kefu/request_context.h"

namespace kefu::clients {

// OK when `staff_id` is active staff, or when performance is not deployed (null
// channel). FAILED_PRECONDITION (reason UNKNOWN_STAFF, naming `field`) when the id is
// unknown or the person has left; UNAVAILABLE when performance cannot answer, since
// assigning work to someone unconfirmed could strand it.
absl::Status RequireActiveStaff(const std::shared_ptr<grpc::Channel>& channel, absl::string_view staff_id,
                                absl::string_view field, absl::Duration timeout, const Caller* caller = nullptr);

}  // namespace kefu::clients
