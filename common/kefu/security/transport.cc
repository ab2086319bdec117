#include "kefu/security/transport.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "kefu/security/tokens.h"

namespace kefu::security {
namespace {

absl::Status ReadInto(const std::string& path, const char* flag, std::string* out) {
  if (path.empty()) return absl::OkStatus();
  auto text = ReadSecretFile(path);
  if (!text.ok()) return absl::FailedPreconditionError(absl::StrCat(flag, ": ", text.status().message()));
  *out = *std::move(text);
  return absl::OkStatus();
}

std::mutex& ClientMu() {
  static auto* mu = new std::mutex;
  return *mu;
}
TransportConfig& ClientConfig() {
  static auto* config = new TransportConfig(TransportConfig::LoopbackPlaintext());
  return *config;
}

}  // namespace

absl::StatusOr<TransportConfig> LoadTransport(const TransportFiles& files) {
  TransportConfig c;
  c.plaintext = files.plaintext;
  c.require_client_cert = files.require_client_cert;
  if (auto s = ReadInto(files.cert_file, "--tls_cert_file", &c.cert_pem); !s.ok()) return s;
  if (auto s = ReadInto(files.key_file, "--tls_key_file", &c.key_pem); !s.ok()) return s;
  if (auto s = ReadInto(files.ca_file, "--tls_ca_file", &c.ca_pem); !s.ok()) return s;
  if (c.plaintext) return c;
  if (c.cert_pem.empty() || c.key_pem.empty())
    return absl::FailedPreconditionError(
        "TLS needs --tls_cert_file and --tls_key_file (or --plaintext for loopback development)");
  if (c.require_client_cert && c.ca_pem.empty())
    return absl::FailedPreconditionError("--tls_require_client_cert needs --tls_ca_file");
  return c;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TransportConfig& config) {
  if (config.plaintext) return grpc::experimental::LocalServerCredentials(LOCAL_TCP);
  grpc::SslServerCredentialsOptions options(
      config.ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : config.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = config.ca_pem;
  options.pem_key_cert_pairs.push_back({config.key_pem, config.cert_pem});
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TransportConfig& config) {
  // Local credentials refuse a non-loopback target, so a plaintext service never sends
  // its token across the network.
  if (config.plaintext) return grpc::experimental::LocalCredentials(LOCAL_TCP);
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = config.ca_pem;
  if (!config.cert_pem.empty() && !config.key_pem.empty()) {
    options.pem_cert_chain = config.cert_pem;
    options.pem_private_key = config.key_pem;
  }
  return grpc::SslCredentials(options);
}

void SetClientTransport(TransportConfig config) {
  std::lock_guard<std::mutex> lock(ClientMu());
  ClientConfig() = std::move(config);
}

const TransportConfig& ClientTransport() {
  std::lock_guard<std::mutex> lock(ClientMu());
  return ClientConfig();
}

}  // namespace kefu::security
