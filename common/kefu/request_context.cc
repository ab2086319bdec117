#include "kefu/request_context.h"


#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kefu/security/authenticator.h"
#include "kefu/security/identity.h"
#include "kefu/validation.h"

namespace kefu {

Caller CallerFrom(const grpc::ServerContext& ctx) {
  Caller c;
  const auto& md = ctx.client_metadata();
  auto rid = md.find(kRequestIdHeader);
  if (rid != md.end()) {
    std::string value(rid->second.data(), rid->second.size());
    // Identifiers only: anything else is dropped rather than trusted into logs or rows.
    if (CheckId("x-request-id", value, 128, false).ok()) c.request_id = std::move(value);
  }
  auto id = security::IdentityOf(md);
  if (!id) return c;
  c.staff_id = std::move(id->staff);
  c.department_id = std::move(id->department);
  c.service = std::move(id->service);
  c.roles = std::move(id->roles);
  c.staff_token = std::move(id->staff_token);
  return c;
}

void Propagate(const Caller& caller, grpc::ClientContext* ctx) {
  std::string token = security::ServiceToken();
  if (!token.empty()) ctx->AddMetadata(security::kAuthorizationHeader, absl::StrCat("Bearer ", token));
  if (!caller.request_id.empty()) ctx->AddMetadata(kRequestIdHeader, caller.request_id);
  if (!caller.staff_token.empty()) ctx->AddMetadata(security::kOnBehalfOfTokenHeader, caller.staff_token);
}

}  // namespace kefu
