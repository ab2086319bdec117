#pragma once
// This process's own identity on outgoing calls: a short-lived service token
// (sub "svc:<service>", role "service") minted with the configured signing key and
// renewed before it expires. Without a key, outgoing calls carry no token and peers
// refuse them with UNAUTHENTICATED.

#include <memory>
#include <string>

#include "kefu/security/tokens.h"

namespace kefu::security {

void SetServiceIdentity(std::string service, std::shared_ptr<const TokenSigner> signer);
// "" when no identity is configured or signing failed (logged).
std::string ServiceToken();

}  // namespace kefu::security
