#include "support/auth.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "kefu/security/identity.h"

namespace kefu::testing {
namespace {

std::string BioString(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

void MakePair(std::string* private_pem, std::string* public_pem) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (!key) std::abort();
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  if (PEM_write_bio_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub, key) != 1)
    std::abort();
  *private_pem = BioString(priv);
  *public_pem = BioString(pub);
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(key);
}

TestKeys MakeKeys() {
  TestKeys k;
  MakePair(&k.private_pem, &k.public_pem);
  MakePair(&k.service_private_pem, &k.service_public_pem);
  char dir[] = "/tmp/kefu-test-keys-XXXXXX";
  if (!mkdtemp(dir)) std::abort();
  k.private_file = absl::StrCat(dir, "/jwt-private.pem");
  k.public_file = absl::StrCat(dir, "/jwt-public.pem");
  k.service_private_file = absl::StrCat(dir, "/service-jwt-private.pem");
  k.service_public_file = absl::StrCat(dir, "/service-jwt-public.pem");
  std::ofstream(k.private_file) << k.private_pem;
  std::ofstream(k.public_file) << k.public_pem;
  std::ofstream(k.service_private_file) << k.service_private_pem;
  std::ofstream(k.service_public_file) << k.service_public_pem;
  static std::string cleanup_dir = dir;
  std::atexit([] {
    for (const char* f : {"/jwt-private.pem", "/jwt-public.pem", "/service-jwt-private.pem", "/service-jwt-public.pem"})
      std::remove((cleanup_dir + f).c_str());
    rmdir(cleanup_dir.c_str());
  });
  return k;
}

}  // namespace

const TestKeys& Keys() {
  static const TestKeys* keys = new TestKeys(MakeKeys());
  return *keys;
}

std::shared_ptr<const security::TokenVerifier> TestVerifier() {
  static auto verifier = *security::TokenVerifier::FromPublicKeyPem(Keys().public_pem);
  return verifier;
}

std::shared_ptr<const security::TokenSigner> TestSigner() {
  static auto signer = *security::TokenSigner::FromPrivateKeyPem(Keys().private_pem);
  return signer;
}

std::shared_ptr<const security::TokenVerifier> TestServiceVerifier() {
  static auto verifier = *security::TokenVerifier::FromPublicKeyPem(Keys().service_public_pem);
  return verifier;
}

namespace {
std::shared_ptr<const security::TokenSigner> TestServiceSigner() {
  static auto signer = *security::TokenSigner::FromPrivateKeyPem(Keys().service_private_pem);
  return signer;
}
}  // namespace

std::string TestServiceToken(const std::string& service) {
  security::Claims c;
  c.subject = absl::StrCat("svc:", service);
  c.roles = {"service"};
  c.expires = absl::Now() + absl::Hours(1);
  return *TestServiceSigner()->Sign(c, absl::Now());
}

void UseTestServiceIdentity() {
  static std::once_flag once;
  std::call_once(once, [] { security::SetServiceIdentity("tests", TestServiceSigner()); });
}

std::string TestToken(const std::string& subject, const std::string& roles,
                      const std::string& department, absl::Duration ttl) {
  security::Claims c;
  c.subject = subject;
  c.department = department;
  for (absl::string_view r : absl::StrSplit(roles, ',', absl::SkipEmpty())) c.roles.emplace_back(r);
  c.expires = absl::Now() + ttl;
  return *TestSigner()->Sign(c, absl::Now());
}

void Authorize(grpc::ClientContext* ctx, const std::string& subject, const std::string& roles,
               const std::string& department) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", TestToken(subject, roles, department)));
}

std::vector<std::string> SecurityFlags() {
  return {"--plaintext", absl::StrCat("--jwt_public_key_file=", Keys().public_file),
          absl::StrCat("--service_key_file=", Keys().service_private_file),
          absl::StrCat("--service_public_key_file=", Keys().service_public_file)};
}

}  // namespace kefu::testing
