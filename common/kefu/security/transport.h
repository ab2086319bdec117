#pragma once
// Transport security for every listener and every outgoing channel.
//   TLS (default): the server presents cert/key; with a CA file it also verifies client
//   certificates (mutual TLS between services), required when require_client_cert.
//   Clients verify servers against the same CA and present their certificate when one
//   is configured.
//   Plaintext: development only, and only on loopback: gRPC's local credentials refuse
//   connections from any other address, so a forgotten flag cannot expose a service.
// Certificates are read at startup; rotate by restarting (Kubernetes rolls pods when the
// mounted Secret changes).

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace kefu::security {

struct TransportConfig {
  bool plaintext = false;
  std::string cert_pem, key_pem;  // this process's certificate (server, and client for mTLS)
  std::string ca_pem;             // trusted CA for peers
  bool require_client_cert = false;

  static TransportConfig LoopbackPlaintext() {
    TransportConfig c;
    c.plaintext = true;
    return c;
  }
};

struct TransportFiles {
  bool plaintext = false;
  std::string cert_file, key_file, ca_file;
  bool require_client_cert = false;
};

// Reads the files; FAILED_PRECONDITION naming the missing one when TLS is asked for
// without a certificate, or mTLS without a CA.
absl::StatusOr<TransportConfig> LoadTransport(const TransportFiles& files);

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TransportConfig& config);
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TransportConfig& config);

// The transport outgoing channels use (ChannelPool). Set once at startup; the default
// is loopback plaintext.
void SetClientTransport(TransportConfig config);
const TransportConfig& ClientTransport();

}  // namespace kefu::security
