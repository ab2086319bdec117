#pragma once
// Test identities: one RSA key pair per test process, made with OpenSSL at first use,
// verifying and signing tokens exactly as the services do. Fixtures give the verifier
// to in-process servers; binary tests pass the key files as flags.

#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "kefu/security/tokens.h"

namespace kefu::testing {

struct TestKeys {
  // Staff tokens (the identity provider's pair) and service tokens (the services' pair).
  std::string private_pem, public_pem, service_private_pem, service_public_pem;
  std::string private_file, public_file, service_private_file, service_public_file;  // in a temp dir
};
const TestKeys& Keys();
std::shared_ptr<const security::TokenVerifier> TestVerifier();
std::shared_ptr<const security::TokenSigner> TestSigner();
std::shared_ptr<const security::TokenVerifier> TestServiceVerifier();
// A service token for "svc:<service>", as a service mints its own.
std::string TestServiceToken(const std::string& service);

// Makes every outgoing call of this process (in-process services calling each other)
// carry a service token signed with the test key. Idempotent.
void UseTestServiceIdentity();

// A token for staff `subject` with comma-separated roles; expires after ttl.
std::string TestToken(const std::string& subject, const std::string& roles,
                      const std::string& department = "", absl::Duration ttl = absl::Hours(1));
// Adds "authorization: Bearer <TestToken(...)>".
void Authorize(grpc::ClientContext* ctx, const std::string& subject, const std::string& roles,
               const std::string& department = "");

// Flags a service binary needs to accept test tokens and call its peers, on loopback
// plaintext.
std::vector<std::string> SecurityFlags();

}  // namespace kefu::testing
