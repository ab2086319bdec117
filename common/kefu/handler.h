#pragma once
// Runs an RPC body and turns its absl::Status into the wire status. An escaped
// exception becomes INTERNAL (logged here, never sent to the client), so a handler bug
// cannot take the process down or leak internals.

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "kefu/db/db.h"

namespace kefu {

grpc::Status RunHandler(const std::function<absl::Status()>& body);

// Deterministic fingerprint of a request (map order fixed) for idempotency checks.
uint64_t MessageFingerprint(const google::protobuf::Message& message);

// The idempotency key of a request with a `request_id` field: the id and a
// fingerprint of everything else, so a retry with the same body matches.
template <typename Request>
db::IdempotencyKey IdempotencyKeyOf(const Request& request) {
  db::IdempotencyKey key;
  key.request_id = request.request_id();
  if (key.request_id.empty()) return key;
  Request copy = request;
  copy.clear_request_id();
  key.fingerprint = MessageFingerprint(copy);
  return key;
}

}  // namespace kefu
