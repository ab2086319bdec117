#pragma once
// Authentication and the role matrix, enforced in gRPC's auth step: before a call is
// dispatched to a service, so no handler, interceptor or stream ever sees a refused
// call. Runs on every listener (TLS, or loopback-only plaintext in development).
//
//   1. the method must be in the matrix (access_policy.h); health checks need nothing
//   1b. the server must have room for the call (admission.h)   -> else RESOURCE_EXHAUSTED
//       (checked again, and the place taken, once 2 and 3 have passed)
//   2. the bearer token must verify (tokens.h)          -> else UNAUTHENTICATED
//   3. one of its roles must be allowed for the method  -> else PERMISSION_DENIED
//   4. handlers learn who is calling through CallerFrom(), which resolves the same
//      metadata again with IdentityOf() (answered from the verifier's token cache). gRPC's
//      AuthContext is shared by every call on a connection, so identity is never put there.
// Two kinds of token, with two keys:
//   - staff tokens, signed by the organisation's identity provider; services hold only
//     its public key (--jwt_public_key_file). They may not carry the service role.
//   - service tokens, sub "svc:<service>" and roles ["service"] exactly, signed with the
//     services' own key pair (--service_key_file / --service_public_key_file).
// A service acting for a staff member forwards that member's own token in
// x-kefu-on-behalf-of-token; it is verified like any staff token, so a service can act
// only for someone whose valid token it holds. A bad one fails the call (never a
// silent fall-back to the service acting for nobody).

#include <grpcpp/security/auth_metadata_processor.h>

#include <functional>
#include <map>
#include <optional>
#include <vector>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "kefu/admission.h"
#include "kefu/security/tokens.h"

namespace kefu::security {

inline constexpr char kAuthorizationHeader[] = "authorization";
inline constexpr char kOnBehalfOfTokenHeader[] = "x-kefu-on-behalf-of-token";

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

// Who a call acts as, from its verified token.
struct CallIdentity {
  std::vector<std::string> token_roles;  // what the matrix checks
  // The effective caller: the staff member the token names, or the one a service acts
  // for (x-kefu-on-behalf-of*, trusted only from a service token).
  std::string staff, department;
  std::vector<std::string> roles;
  std::string service;     // the calling service, for service tokens
  std::string staff_token;  // the staff member's own token, forwarded on onward calls
};

struct Verifiers {
  std::shared_ptr<const TokenVerifier> staff;    // required
  std::shared_ptr<const TokenVerifier> service;  // null: service tokens are refused
};
absl::StatusOr<CallIdentity> ResolveIdentity(const Metadata& md, const Verifiers& verifiers, absl::Time now);

// The verifiers CallerFrom() uses; set by the server bootstrap.
void SetCallVerifiers(Verifiers verifiers);
// The identity of a call that passed the Authenticator; nullopt when it carries none.
std::optional<CallIdentity> IdentityOf(const Metadata& md);

class Authenticator final : public grpc::AuthMetadataProcessor {
 public:
  // on_denied(method, reason) counts and logs refusals; reason is "unauthenticated",
  // "permission_denied", "unknown_method" or "overloaded" (admission refused it).
  using DeniedHook = std::function<void(absl::string_view method, absl::string_view reason)>;
  // admission: null admits every call.
  Authenticator(Verifiers verifiers, DeniedHook on_denied, Admission* admission = nullptr,
                std::function<absl::Time()> now = [] { return absl::Now(); })
      : verifiers_(std::move(verifiers)),
        on_denied_(std::move(on_denied)),
        admission_(admission),
        now_(std::move(now)) {}

  // Verification is CPU only (one RSA verify); run inline, not on a thread hop.
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  grpc::Status Deny(absl::string_view method, absl::string_view reason, grpc::Status status);
  grpc::Status Overloaded(absl::string_view method);
  Verifiers verifiers_;
  DeniedHook on_denied_;
  Admission* admission_;
  std::function<absl::Time()> now_;
};

}  // namespace kefu::security
