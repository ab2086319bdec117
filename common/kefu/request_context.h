#pragma once
// Who is calling and on behalf of which request. The identity comes from the verified
// bearer token (security/authenticator.h puts it in the call's AuthContext); services
// read it only through Caller.

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace kefu {

inline constexpr char kRequestIdHeader[] = "x-request-id";
// Initial metadata of complaints' WatchAlerts: the alert id the stream starts after.
inline constexpr char kAlertCursorHeader[] = "kefu-alert-cursor";

struct Caller {
  std::string staff_id;       // "" when anonymous
  std::string department_id;  // "" when unknown
  std::string request_id;     // for log correlation
  std::vector<std::string> roles;  // agent, account_manager, ... (security/access_policy.h)
  std::string service;  // set when another kefu service is calling ("complaints")
  // The staff member's own bearer token, forwarded when this service calls another on
  // their behalf (never logged or stored).
  std::string staff_token;
  bool HasRole(absl::string_view role) const {
    for (const auto& r : roles)
      if (r == role) return true;
    return false;
  }
  // Staff id, or "system" for calls without one (recorded as changed_by).
  std::string ActorOrSystem() const { return staff_id.empty() ? "system" : staff_id; }
};

Caller CallerFrom(const grpc::ServerContext& ctx);

// Prepares an outgoing call: this service's own token, the request id, and the caller
// as the staff member the call is made on behalf of.
void Propagate(const Caller& caller, grpc::ClientContext* ctx);

}  // namespace kefu
