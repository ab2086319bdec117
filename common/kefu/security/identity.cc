#include "kefu/security/identity.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kefu/log.h"
#include "kefu/security/access_policy.h"

namespace kefu::security {
namespace {

constexpr absl::Duration kLifetime = absl::Minutes(10);
constexpr absl::Duration kRenewBefore = absl::Minutes(2);

struct State {
  std::mutex mu;
  std::string service;
  std::shared_ptr<const TokenSigner> signer;
  std::string token;
  absl::Time expires = absl::InfinitePast();
};
State& Identity() {
  static auto* s = new State;
  return *s;
}

}  // namespace

void SetServiceIdentity(std::string service, std::shared_ptr<const TokenSigner> signer) {
  State& s = Identity();
  std::lock_guard<std::mutex> lock(s.mu);
  s.service = std::move(service);
  s.signer = std::move(signer);
  s.token.clear();
  s.expires = absl::InfinitePast();
}

std::string ServiceToken() {
  State& s = Identity();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.signer) return "";
  absl::Time now = absl::Now();
  if (now + kRenewBefore < s.expires) return s.token;
  Claims claims;
  claims.subject = absl::StrCat(kServiceSubjectPrefix, s.service);
  claims.roles = {kService};
  claims.expires = now + kLifetime;
  auto token = s.signer->Sign(claims, now);
  if (!token.ok()) {
    log::Error("cannot sign the service token", {{"error", token.status().ToString()}});
    return "";
  }
  s.token = *std::move(token);
  s.expires = claims.expires;
  return s.token;
}

}  // namespace kefu::security
