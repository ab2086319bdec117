#pragma once
// One error vocabulary for every service: domain and storage code return absl::Status
// built with these helpers, and the RPC layer turns them into grpc::Status with a
// machine-readable kefu.common.v1.ErrorDetail in the rich-status trailer.

#include "absl/strings/string_view.h"
#include <grpcpp/support/status.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kefu {

// Stable reason codes shared across services.
namespace reason {
inline constexpr absl::string_view kFieldInvalid = "FIELD_INVALID";
inline constexpr absl::string_view kFieldRequired = "FIELD_REQUIRED";
inline constexpr absl::string_view kNotFound = "NOT_FOUND";
inline constexpr absl::string_view kStaleVersion = "STALE_VERSION";
inline constexpr absl::string_view kIllegalTransition = "ILLEGAL_TRANSITION";
inline constexpr absl::string_view kAlreadyExists = "ALREADY_EXISTS";
inline constexpr absl::string_view kRequestIdReused = "REQUEST_ID_REUSED";
inline constexpr absl::string_view kDbUnavailable = "DATABASE_UNAVAILABLE";
inline constexpr absl::string_view kDbConflict = "DATABASE_CONFLICT";
inline constexpr absl::string_view kDbError = "DATABASE_ERROR";
inline constexpr absl::string_view kPoolExhausted = "POOL_EXHAUSTED";
inline constexpr absl::string_view kInternal = "INTERNAL";
}  // namespace reason

struct Violation {
  std::string field;
  std::string description;
};

// Builds a status carrying a reason, optional field violations and metadata.
absl::Status MakeError(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                       std::vector<Violation> violations = {},
                       std::vector<std::pair<std::string, std::string>> metadata = {});

// INVALID_ARGUMENT naming the field: "customer.phone: must be 5 to 20 digits".
absl::Status InvalidField(absl::string_view field, absl::string_view description);
// INVALID_ARGUMENT "<field>: is required".
absl::Status RequiredField(absl::string_view field);
absl::Status NotFound(absl::string_view what, absl::string_view id);
absl::Status StaleVersion(int64_t given, int64_t current);
absl::Status IllegalTransition(absl::string_view from, absl::string_view to);

// The same error about one element of a batch: the message and every violation's field
// prefixed with `position` ("requests[3]: ...", "requests[3].entry.description"), code,
// reason and metadata kept, and metadata "position" added. OK stays OK.
absl::Status AtPosition(absl::string_view position, const absl::Status& status);

// The reason recorded on a status made by MakeError, or "" when none.
std::string ReasonOf(const absl::Status& status);
// The field violations recorded on a status made by MakeError.
std::vector<Violation> ViolationsOf(const absl::Status& status);
// The metadata value for key on a status made by MakeError, or "".
std::string MetadataOf(const absl::Status& status, absl::string_view key);

// Converts to the wire status. INTERNAL and UNKNOWN messages are replaced by a generic
// text: internals stay in the server log, never in the response.
grpc::Status ToGrpcStatus(const absl::Status& status);
// The reverse, for clients: keeps code and message and restores reason and metadata.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Collects several field problems and reports them as one INVALID_ARGUMENT.
class Validator {
 public:
  void Add(std::string field, std::string description) {
    violations_.push_back({std::move(field), std::move(description)});
  }
  void Merge(const absl::Status& status);
  // Merges what a whole-record validator said about an update's patch, keeping only
  // the fields the update mask names (paths relative to `prefix`, e.g. "contract").
  // A patch is checked before the stored record is read, so a bad value is
  // INVALID_ARGUMENT whatever is stored (AIP-193); fields outside the mask, and rules
  // that need the stored record, are checked again on the merged record.
  void MergePatch(const absl::Status& status, absl::string_view prefix,
                  const std::vector<std::string>& mask_paths);
  bool ok() const { return violations_.empty(); }
  absl::Status Finish() const;

 private:
  std::vector<Violation> violations_;
};

}  // namespace kefu

// Returns from the enclosing function when expr yields a non-OK status.
#define KEFU_RETURN_IF_ERROR(expr)              \
  do {                                          \
    ::absl::Status kefu_status_ = (expr);       \
    if (!kefu_status_.ok()) return kefu_status_; \
  } while (0)

#define KEFU_CONCAT_INNER(a, b) a##b
#define KEFU_CONCAT(a, b) KEFU_CONCAT_INNER(a, b)
// KEFU_ASSIGN_OR_RETURN(auto x, StatusOrExpr());
#define KEFU_ASSIGN_OR_RETURN(lhs, expr) \
  KEFU_ASSIGN_OR_RETURN_IMPL(KEFU_CONCAT(kefu_statusor_, __LINE__), lhs, expr)
#define KEFU_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
