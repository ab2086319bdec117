#include "kefu/security/authenticator.h"

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kefu/errors.h"
#include "kefu/security/access_policy.h"
#include "kefu/validation.h"

namespace kefu::security {
namespace {

absl::string_view Find(const Metadata& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end()) return {};
  return absl::string_view(it->second.data(), it->second.size());
}


std::vector<std::string> AllowedRoles(const MethodPolicy& policy) {
  std::vector<std::string> out;
  for (const auto& role : AllRoles())
    if (policy.Allows(role)) out.push_back(role);
  return out;
}

}  // namespace

grpc::Status Authenticator::Overloaded(absl::string_view method) {
  return Deny(method, "overloaded",
              ToGrpcStatus(MakeError(
                  absl::StatusCode::kResourceExhausted, "SERVER_OVERLOADED",
                  absl::StrCat("server overloaded: ", admission_->running() + admission_->pending(),
                               " calls in flight (--max_calls_in_flight ", admission_->max_in_flight(),
                               "); retry with backoff"))));
}

grpc::Status Authenticator::Deny(absl::string_view method, absl::string_view reason,
                                 grpc::Status status) {
  if (on_denied_) on_denied_(method, reason);
  return status;
}

absl::StatusOr<CallIdentity> ResolveIdentity(const Metadata& md, const Verifiers& verifiers, absl::Time now) {
  absl::string_view header = Find(md, kAuthorizationHeader);
  absl::string_view token;
  if (absl::StartsWithIgnoreCase(header, "bearer ")) token = header.substr(7);
  CallIdentity id;
  // The subject picks the key that verifies the token. Reading it decodes the token
  // (base64 and JSON), which a token either key verified before needs not.
  bool service_token;
  if (verifiers.service && verifiers.service->Knows(token))
    service_token = true;
  else if (verifiers.staff && verifiers.staff->Knows(token))
    service_token = false;
  else
    service_token = absl::StartsWith(PeekSubject(token), kServiceSubjectPrefix);
  if (!service_token) {
    KEFU_ASSIGN_OR_RETURN(Claims claims, verifiers.staff->Verify(token, now));
    for (const auto& r : claims.roles)
      if (r == kService) return absl::UnauthenticatedError("invalid token: a staff token cannot hold the service role");
    id.token_roles = claims.roles;
    id.staff = claims.subject;
    id.department = claims.department;
    id.roles = std::move(claims.roles);
    id.staff_token = std::string(token);
    return id;
  }
  if (!verifiers.service) return absl::UnauthenticatedError("invalid token: service tokens are not accepted here");
  KEFU_ASSIGN_OR_RETURN(Claims service, verifiers.service->Verify(token, now));
  if (service.roles != std::vector<std::string>{kService})
    return absl::UnauthenticatedError("invalid token: a service token holds exactly the service role");
  id.token_roles = service.roles;
  id.service = service.subject.substr(sizeof(kServiceSubjectPrefix) - 1);
  auto on_behalf = md.find(kOnBehalfOfTokenHeader);
  if (on_behalf == md.end()) {
    id.roles = service.roles;  // the service itself, acting for nobody (sweeps, outbox deliveries)
    return id;
  }
  absl::string_view staff_token(on_behalf->second.data(), on_behalf->second.size());
  auto staff = verifiers.staff->Verify(staff_token, now);
  if (!staff.ok())
    return absl::UnauthenticatedError(absl::StrCat("on-behalf-of token: ", staff.status().message()));
  for (const auto& r : staff->roles)
    if (r == kService) return absl::UnauthenticatedError("on-behalf-of token: cannot hold the service role");
  id.staff = staff->subject;
  id.department = staff->department;
  id.roles = staff->roles;
  id.staff_token = std::string(staff_token);
  return id;
}

namespace {
std::mutex verifier_mu;
Verifiers& CallVerifiers() {
  static auto* v = new Verifiers;
  return *v;
}
}  // namespace

void SetCallVerifiers(Verifiers verifiers) {
  std::lock_guard<std::mutex> lock(verifier_mu);
  CallVerifiers() = std::move(verifiers);
}

std::optional<CallIdentity> IdentityOf(const Metadata& md) {
  Verifiers verifiers;
  {
    std::lock_guard<std::mutex> lock(verifier_mu);
    verifiers = CallVerifiers();
  }
  if (!verifiers.staff) return std::nullopt;
  auto id = ResolveIdentity(md, verifiers, absl::Now());
  if (!id.ok()) return std::nullopt;
  return *std::move(id);
}

grpc::Status Authenticator::Process(const InputMetadata& md, grpc::AuthContext* /*context*/,
                                    OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) {
  absl::string_view method = Find(md, ":path");
  const MethodPolicy* policy = PolicyFor(method);
  if (!policy)
    return Deny(method, "unknown_method",
                ToGrpcStatus(MakeError(absl::StatusCode::kPermissionDenied, "METHOD_NOT_ALLOWED",
                                       "this method is not open to any caller")));
  if (policy->access == Access::kPublic) return grpc::Status::OK;
  // Checked before the token, so that a refusal under overload costs as little as
  // possible; the place is taken only once the call has passed every check.
  if (admission_ && !admission_->HasRoom()) return Overloaded(method);

  auto id = ResolveIdentity(md, verifiers_, now_());
  if (!id.ok())
    return Deny(method, "unauthenticated",
                ToGrpcStatus(MakeError(absl::StatusCode::kUnauthenticated, "UNAUTHENTICATED",
                                       id.status().message())));
  for (const auto& role : id->token_roles) {
    if (!policy->Allows(role)) continue;
    if (admission_ && !admission_->Admit()) return Overloaded(method);
    return grpc::Status::OK;
  }
  return Deny(method, "permission_denied",
              ToGrpcStatus(MakeError(absl::StatusCode::kPermissionDenied, "ROLE_NOT_ALLOWED",
                                     absl::StrCat("role matrix: ", method, " needs one of: ",
                                                  absl::StrJoin(AllowedRoles(*policy), ", ")))));
}

}  // namespace kefu::security
