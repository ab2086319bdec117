#pragma once
// Who is calling and on behalf of which request, read from call metadata.
// Until token authentication lands the acting staff id travels in x-kefu-actor;
// services read it only through Caller so the source can change in one place.

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kefu {

inline constexpr char kRequestIdHeader[] = "x-request-id";
inline constexpr char kActorHeader[] = "x-kefu-actor";
inline constexpr char kActorDepartmentHeader[] = "x-kefu-department";
// Comma-separated role names: agent, account_manager, department_manager,
// senior_manager, hr, service.
inline constexpr char kActorRolesHeader[] = "x-kefu-roles";

struct Caller {
  std::string staff_id;       // "" when anonymous
  std::string department_id;  // "" when unknown
  std::string request_id;     // for log correlation
  std::vector<std::string> roles;
  bool HasRole(absl::string_view role) const {
    for (const auto& r : roles)
      if (r == role) return true;
    return false;
  }
  // Staff id, or "system" for calls without one (recorded as changed_by).
  std::string ActorOrSystem() const { return staff_id.empty() ? "system" : staff_id; }
};

Caller CallerFrom(const grpc::ServerContext& ctx);

// Copies the caller's identity and request id onto an outgoing call.
void Propagate(const Caller& caller, grpc::ClientContext* ctx);

}  // namespace kefu
