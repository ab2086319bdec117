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

// Runs a state-changing call's transaction so that a retry with the same request_id
// (and the same body) returns the first call's response without changing anything
// again, even when the first response was lost. The claim is the transaction's first
// statement, so it also comes before any version check: a retry of a call that
// succeeded is not refused as stale. An empty request_id is an ordinary transaction.
template <typename Response>
absl::StatusOr<Response> IdempotentTransaction(
    db::Pool& pool, absl::string_view scope, const db::IdempotencyKey& key,
    const std::function<absl::StatusOr<Response>(db::Session&)>& fn) {
  if (key.request_id.empty()) return pool.InTransaction<Response>(fn);
  return pool.InTransaction<Response>([&](db::Session& session) -> absl::StatusOr<Response> {
    auto stored = db::ClaimRequestResponse(session, scope, key);
    if (!stored.ok()) return stored.status();
    Response response;
    if (stored->has_value()) {
      if (!response.ParseFromString(**stored))
        return absl::InternalError("stored response of an earlier request is unreadable");
      return response;
    }
    auto result = fn(session);
    if (!result.ok()) return result.status();
    absl::Status saved = db::StoreRequestResponse(session, scope, key.request_id,
                                                  result->SerializeAsString());
    if (!saved.ok()) return saved;
    return result;
  });
}

}  // namespace kefu
