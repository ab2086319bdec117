#include "auth.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kefu/security/tokens.h"

namespace kefu::bench {

const std::string& Authorization(const std::string& signing_key_file) {
  static const std::string* header = [&] {
    std::string key = signing_key_file;
    if (key.empty() && std::getenv("KEFU_SIGNING_KEY")) key = std::getenv("KEFU_SIGNING_KEY");
    auto signer = kefu::security::TokenSigner::FromPrivateKeyFile(key);
    if (!signer.ok()) {
      std::cerr << "error: --signing_key: " << signer.status().message() << "\n";
      std::exit(2);
    }
    kefu::security::Claims claims;
    claims.subject = "E0001";
    claims.roles = {"senior_manager"};
    claims.expires = absl::Now() + absl::Hours(6);
    auto token = (*signer)->Sign(claims, absl::Now());
    if (!token.ok()) std::exit(2);
    return new std::string(absl::StrCat("Bearer ", *token));
  }();
  return *header;
}

}  // namespace kefu::bench
