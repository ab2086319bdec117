#pragma once
// Runs an RPC body and turns its absl::Status into the wire status. An escaped
// exception becomes INTERNAL (logged here, never sent to the client), so a handler bug
// cannot take the process down or leak internals.

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <functional>

#include "absl/status/status.h"

namespace kefu {

grpc::Status RunHandler(const std::function<absl::Status()>& body);

// Deterministic fingerprint of a request (map order fixed) for idempotency checks.
uint64_t MessageFingerprint(const google::protobuf::Message& message);

}  // namespace kefu
