#pragma once
// Bearer tokens: RS256-signed JWTs (RFC 7519) carrying who is calling.
//   iss, aud   must match the verifier's configuration
//   exp        required; nbf honoured when present (30 s clock leeway)
//   sub        staff id ("E1001"), or "svc:<service>" for a service's own identity
//   roles      array of role names (see access_policy.h)
//   dept       the caller's department id, for department-scoped access
// Signatures are checked by libjwt with OpenSSL; the algorithm is pinned to RS256 so a
// token cannot choose "none" or an HMAC keyed with the public key.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace kefu::security {

struct Claims {
  std::string subject;
  std::string department;
  std::vector<std::string> roles;
  absl::Time expires = absl::InfinitePast();
};

inline constexpr char kDefaultIssuer[] = "kefu";
inline constexpr char kDefaultAudience[] = "kefu";
inline constexpr char kServiceSubjectPrefix[] = "svc:";

class TokenVerifier {
 public:
  static absl::StatusOr<std::shared_ptr<const TokenVerifier>> FromPublicKeyPem(
      std::string pem, std::string issuer = kDefaultIssuer, std::string audience = kDefaultAudience);
  static absl::StatusOr<std::shared_ptr<const TokenVerifier>> FromPublicKeyFile(
      const std::string& path, std::string issuer = kDefaultIssuer,
      std::string audience = kDefaultAudience);

  // UNAUTHENTICATED with a short reason (never the token itself) when it does not verify.
  // A token verified before is answered from a bounded cache (expiry still checked), so a
  // client reusing its token pays for one RSA verification, not one per call.
  absl::StatusOr<Claims> Verify(absl::string_view token, absl::Time now) const;
  // Whether this token verified here before (and is still cached), whatever its expiry.
  bool Knows(absl::string_view token) const;

 private:
  TokenVerifier(std::string pem, std::string issuer, std::string audience)
      : pem_(std::move(pem)), issuer_(std::move(issuer)), audience_(std::move(audience)) {}
  absl::StatusOr<Claims> VerifyUncached(const std::string& token, absl::Time now) const;
  std::string pem_, issuer_, audience_;
  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, Claims> cache_;
};

class TokenSigner {
 public:
  static absl::StatusOr<std::shared_ptr<const TokenSigner>> FromPrivateKeyPem(
      std::string pem, std::string issuer = kDefaultIssuer, std::string audience = kDefaultAudience);
  static absl::StatusOr<std::shared_ptr<const TokenSigner>> FromPrivateKeyFile(
      const std::string& path, std::string issuer = kDefaultIssuer,
      std::string audience = kDefaultAudience);

  absl::StatusOr<std::string> Sign(const Claims& claims, absl::Time now) const;

 private:
  TokenSigner(std::string pem, std::string issuer, std::string audience)
      : pem_(std::move(pem)), issuer_(std::move(issuer)), audience_(std::move(audience)) {}
  std::string pem_, issuer_, audience_;
};

absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// The token's "sub" without checking anything: only to pick which key verifies it.
std::string PeekSubject(absl::string_view token);

}  // namespace kefu::security
