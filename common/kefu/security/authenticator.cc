#include "kefu/security/authenticator.h"

#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
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

bool IsIdentifier(absl::string_view value) {
  return !value.empty() && CheckId("identity", value, 64, false).ok();
}

std::vector<std::string> AllowedRoles(const MethodPolicy& policy) {
  std::vector<std::string> out;
  for (const auto& role : AllRoles())
    if (policy.Allows(role)) out.push_back(role);
  return out;
}

}  // namespace

grpc::Status Authenticator::Deny(absl::string_view method, absl::string_view reason,
                                 grpc::Status status) {
  if (on_denied_) on_denied_(method, reason);
  return status;
}

absl::StatusOr<CallIdentity> ResolveIdentity(const Metadata& md, const TokenVerifier& verifier,
                                             absl::Time now) {
  absl::string_view header = Find(md, kAuthorizationHeader);
  absl::string_view token;
  if (absl::StartsWithIgnoreCase(header, "bearer ")) token = header.substr(7);
  KEFU_ASSIGN_OR_RETURN(Claims claims, verifier.Verify(token, now));
  CallIdentity id;
  id.token_roles = claims.roles;
  id.staff = claims.subject;
  id.department = claims.department;
  id.roles = claims.roles;
  bool is_service = false;
  for (const auto& r : claims.roles) is_service = is_service || r == kService;
  if (!is_service) return id;
  id.service = absl::StartsWith(claims.subject, kServiceSubjectPrefix)
                   ? claims.subject.substr(sizeof(kServiceSubjectPrefix) - 1)
                   : claims.subject;
  absl::string_view on_behalf = Find(md, kOnBehalfOfHeader);
  id.staff.clear();  // the service itself, acting for nobody (sweeps, outbox deliveries)
  id.department.clear();
  if (IsIdentifier(on_behalf)) {
    id.staff = std::string(on_behalf);
    absl::string_view dept = Find(md, kOnBehalfOfDepartmentHeader);
    if (IsIdentifier(dept)) id.department = std::string(dept);
    id.roles.clear();
    for (absl::string_view r : absl::StrSplit(Find(md, kOnBehalfOfRolesHeader), ',', absl::SkipEmpty()))
      if (IsIdentifier(r)) id.roles.emplace_back(r);
  }
  return id;
}

namespace {
std::mutex verifier_mu;
std::shared_ptr<const TokenVerifier>& CallVerifier() {
  static auto* v = new std::shared_ptr<const TokenVerifier>;
  return *v;
}
}  // namespace

void SetCallVerifier(std::shared_ptr<const TokenVerifier> verifier) {
  std::lock_guard<std::mutex> lock(verifier_mu);
  CallVerifier() = std::move(verifier);
}

std::optional<CallIdentity> IdentityOf(const Metadata& md) {
  std::shared_ptr<const TokenVerifier> verifier;
  {
    std::lock_guard<std::mutex> lock(verifier_mu);
    verifier = CallVerifier();
  }
  if (!verifier) return std::nullopt;
  auto id = ResolveIdentity(md, *verifier, absl::Now());
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

  auto id = ResolveIdentity(md, *verifier_, now_());
  if (!id.ok())
    return Deny(method, "unauthenticated",
                ToGrpcStatus(MakeError(absl::StatusCode::kUnauthenticated, "UNAUTHENTICATED",
                                       id.status().message())));
  for (const auto& role : id->token_roles)
    if (policy->Allows(role)) return grpc::Status::OK;
  return Deny(method, "permission_denied",
              ToGrpcStatus(MakeError(absl::StatusCode::kPermissionDenied, "ROLE_NOT_ALLOWED",
                                     absl::StrCat("role matrix: ", method, " needs one of: ",
                                                  absl::StrJoin(AllowedRoles(*policy), ", ")))));
}

}  // namespace kefu::security
