#include "kefu/security/tokens.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <jwt.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "kefu/validation.h"

namespace kefu::security {
namespace {

constexpr absl::Duration kLeeway = absl::Seconds(30);
constexpr size_t kMaxTokenBytes = 8192;
constexpr size_t kMaxCachedTokens = 10000;

struct JwtDeleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", why));
}

// A claim that is either absent or a number; absent gives `fallback`.
absl::StatusOr<long> OptionalNumber(jwt_t* jwt, const char* name, long fallback) {
  errno = 0;
  long v = jwt_get_grant_int(jwt, name);
  if (errno == ENOENT) return fallback;
  if (errno != 0) return Unauthenticated(absl::StrCat(name, " is not a number"));
  return v;
}

// "aud" may be one string or an array of strings (RFC 7519 4.1.3).
bool AudienceMatches(jwt_t* jwt, const std::string& audience) {
  const char* single = jwt_get_grant(jwt, "aud");
  if (single) return audience == single;
  char* json = jwt_get_grants_json(jwt, "aud");
  if (!json) return false;
  google::protobuf::ListValue list;
  bool ok = google::protobuf::util::JsonStringToMessage(json, &list).ok();
  free(json);
  if (!ok) return false;
  for (const auto& v : list.values())
    if (v.kind_case() == google::protobuf::Value::kStringValue && v.string_value() == audience)
      return true;
  return false;
}

}  // namespace

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::shared_ptr<const TokenVerifier>> TokenVerifier::FromPublicKeyPem(
    std::string pem, std::string issuer, std::string audience) {
  if (pem.find("BEGIN PUBLIC KEY") == std::string::npos)
    return absl::InvalidArgumentError("expected a PEM public key (BEGIN PUBLIC KEY)");
  return std::shared_ptr<const TokenVerifier>(
      new TokenVerifier(std::move(pem), std::move(issuer), std::move(audience)));
}

absl::StatusOr<std::shared_ptr<const TokenVerifier>> TokenVerifier::FromPublicKeyFile(
    const std::string& path, std::string issuer, std::string audience) {
  auto pem = ReadSecretFile(path);
  if (!pem.ok()) return pem.status();
  return FromPublicKeyPem(*std::move(pem), std::move(issuer), std::move(audience));
}

absl::StatusOr<Claims> TokenVerifier::Verify(absl::string_view token, absl::Time now) const {
  if (token.empty()) return absl::UnauthenticatedError("missing bearer token");
  if (token.size() > kMaxTokenBytes) return Unauthenticated("too long");
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(token);
    if (it != cache_.end()) {
      if (now > it->second.expires + kLeeway) return Unauthenticated("expired");
      return it->second;
    }
  }
  std::string text(token);
  auto claims = VerifyUncached(text, now);
  if (claims.ok()) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kMaxCachedTokens) cache_.clear();  // crude, but bounded and rare
    cache_.emplace(std::move(text), *claims);
  }
  return claims;
}

bool TokenVerifier::Knows(absl::string_view token) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  return cache_.contains(token);
}

absl::StatusOr<Claims> TokenVerifier::VerifyUncached(const std::string& text, absl::Time now) const {
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(pem_.data()),
                 static_cast<int>(pem_.size())) != 0)
    return Unauthenticated("bad signature");
  JwtPtr jwt(raw);
  // libjwt verifies with the algorithm the token names; only RS256 is accepted, so an
  // "alg":"none" token or an HS256 one keyed with the (public) PEM never passes.
  if (jwt_get_alg(jwt.get()) != JWT_ALG_RS256) return Unauthenticated("algorithm must be RS256");

  const char* iss = jwt_get_grant(jwt.get(), "iss");
  if (!iss || issuer_ != iss) return Unauthenticated("wrong issuer");
  if (!AudienceMatches(jwt.get(), audience_)) return Unauthenticated("wrong audience");

  auto exp = OptionalNumber(jwt.get(), "exp", -1);
  if (!exp.ok()) return exp.status();
  if (*exp < 0) return Unauthenticated("no expiry");
  absl::Time expires = absl::FromUnixSeconds(*exp);
  if (now > expires + kLeeway) return Unauthenticated("expired");
  auto nbf = OptionalNumber(jwt.get(), "nbf", 0);
  if (!nbf.ok()) return nbf.status();
  if (now + kLeeway < absl::FromUnixSeconds(*nbf)) return Unauthenticated("not yet valid");

  Claims claims;
  claims.expires = expires;
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  if (!sub || !*sub) return Unauthenticated("no subject");
  claims.subject = sub;
  if (!CheckId("sub", claims.subject, 64, true).ok()) return Unauthenticated("sub is not an identifier");
  if (const char* dept = jwt_get_grant(jwt.get(), "dept")) claims.department = dept;
  if (!CheckId("dept", claims.department, 64, false).ok()) return Unauthenticated("dept is not an identifier");
  if (char* roles_json = jwt_get_grants_json(jwt.get(), "roles")) {
    google::protobuf::ListValue roles;
    bool ok = google::protobuf::util::JsonStringToMessage(roles_json, &roles).ok();
    free(roles_json);
    if (!ok) return Unauthenticated("roles must be an array of strings");
    for (const auto& r : roles.values()) {
      if (r.kind_case() != google::protobuf::Value::kStringValue)
        return Unauthenticated("roles must be an array of strings");
      if (!CheckId("role", r.string_value(), 32, true).ok()) return Unauthenticated("a role is not an identifier");
      claims.roles.push_back(r.string_value());
    }
  }
  return claims;
}

std::string PeekSubject(absl::string_view token) {
  if (token.empty() || token.size() > kMaxTokenBytes) return "";
  std::string text(token);
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, text.c_str(), nullptr, 0) != 0) return "";
  JwtPtr jwt(raw);
  const char* sub = jwt_get_grant(jwt.get(), "sub");
  return sub ? sub : "";
}

absl::StatusOr<std::shared_ptr<const TokenSigner>> TokenSigner::FromPrivateKeyPem(
    std::string pem, std::string issuer, std::string audience) {
  if (pem.find("PRIVATE KEY") == std::string::npos)
    return absl::InvalidArgumentError("expected a PEM private key");
  return std::shared_ptr<const TokenSigner>(
      new TokenSigner(std::move(pem), std::move(issuer), std::move(audience)));
}

absl::StatusOr<std::shared_ptr<const TokenSigner>> TokenSigner::FromPrivateKeyFile(
    const std::string& path, std::string issuer, std::string audience) {
  auto pem = ReadSecretFile(path);
  if (!pem.ok()) return pem.status();
  return FromPrivateKeyPem(*std::move(pem), std::move(issuer), std::move(audience));
}

absl::StatusOr<std::string> TokenSigner::Sign(const Claims& claims, absl::Time now) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("jwt_new failed");
  JwtPtr jwt(raw);
  google::protobuf::Struct body;
  auto& f = *body.mutable_fields();
  f["iss"].set_string_value(issuer_);
  f["aud"].set_string_value(audience_);
  f["sub"].set_string_value(claims.subject);
  f["iat"].set_number_value(static_cast<double>(absl::ToUnixSeconds(now)));
  f["exp"].set_number_value(static_cast<double>(absl::ToUnixSeconds(claims.expires)));
  if (!claims.department.empty()) f["dept"].set_string_value(claims.department);
  auto* roles = f["roles"].mutable_list_value();
  for (const auto& r : claims.roles) roles->add_values()->set_string_value(r);
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(body, &json).ok())
    return absl::InternalError("cannot encode claims");
  if (jwt_add_grants_json(jwt.get(), json.c_str()) != 0)
    return absl::InternalError("cannot add claims");
  if (jwt_set_alg(jwt.get(), JWT_ALG_RS256, reinterpret_cast<const unsigned char*>(pem_.data()),
                  static_cast<int>(pem_.size())) != 0)
    return absl::InternalError("cannot set the signing key");
  char* out = jwt_encode_str(jwt.get());
  if (!out) return absl::InternalError("cannot sign the token (is the key an RSA private key?)");
  std::string token(out);
  free(out);
  return token;
}

}  // namespace kefu::security
