#pragma once
// All SQL of the contracts service; one transaction per write, decisions from the
// caller. Contract events reach the customer log through the outbox.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "domain.h"
#include "kefu/customers/v1/customers.pb.h"
#include "kefu/db/db.h"
#include "kefu/time_util.h"

namespace kefu::contracts {

using IdempotencyKey = db::IdempotencyKey;

// One decided change to a contract, persisted atomically by Mutate.
struct Change {
  pb::Contract updated;
  bool risk_items_changed = false;
  bool approvals_changed = false;
  // A decision to add to the approval history.
  std::optional<pb::Approval> decision;
  // Customer-log lines (description only; the repository fills the rest).
  std::vector<std::string> log;
};

struct ListFilter {
  int64_t customer_id = 0;
  pb::ContractType type = pb::CONTRACT_TYPE_UNSPECIFIED;
  pb::ContractStatus status = pb::CONTRACT_STATUS_UNSPECIFIED;
  std::optional<absl::CivilDay> expiring_from, expiring_to;  // active only
  std::optional<absl::CivilDay> signed_from, signed_to;
  std::string owner_id;
};

// GetSigningStats: contracts in one of `statuses` with a signing date in [from, to]
// (inclusive) and an amount in `currency`, of one owner, one department (at most one of
// the two set) or the whole company.
struct SigningFilter {
  std::string owner_id, department_id;
  absl::CivilDay from, to;
  std::string currency;
  std::vector<pb::ContractStatus> statuses;
};

struct SigningTotal {
  pb::ContractType type = pb::CONTRACT_TYPE_UNSPECIFIED;
  int64_t count = 0;
  int64_t amount_minor = 0;
};

class Repository {
 public:
  Repository(db::Pool* pool, const Clock* clock) : pool_(pool), clock_(clock) {}

  absl::StatusOr<pb::Contract> Create(const pb::Contract& c, const IdempotencyKey& key, const std::string& actor,
                                      const std::string& log_line);
  // The project's draft if one exists, else a new one (unique per project). A retry with
  // the key's request_id returns the draft as the first call returned it.
  absl::StatusOr<pb::Contract> CreateForProject(const pb::Contract& c, const IdempotencyKey& key,
                                                const std::string& actor);
  absl::StatusOr<pb::Contract> Get(int64_t id);
  using Decide = std::function<absl::StatusOr<Change>(const pb::Contract& current)>;
  // Loads the contract for update, checks the version (0: any), applies decide and
  // persists the change in one transaction. With a request_id in `key` the call is
  // idempotent within `scope` (one per RPC, e.g. "contracts.SignContract"): a retry
  // returns the first call's contract and changes nothing, even with a stale version.
  absl::StatusOr<pb::Contract> Mutate(int64_t id, int64_t expected_version, absl::string_view scope,
                                      const IdempotencyKey& key, const std::string& actor, const Decide& decide);
  absl::StatusOr<std::vector<pb::Contract>> List(const ListFilter& f, int page_size, int64_t after_id, bool* more);
  absl::StatusOr<std::vector<pb::Contract>> History(int64_t id);
  // Saves the approval rules setting if rules.version is current (0 = never saved),
  // else ABORTED; returns them with the new version. Idempotent with a request_id.
  absl::StatusOr<pb::ApprovalRules> SaveApprovalRules(const pb::ApprovalRules& rules, const IdempotencyKey& key);
  // Active service contracts and warranties of the customer covering `day`.
  absl::StatusOr<std::vector<pb::Contract>> Covering(int64_t customer_id, absl::CivilDay day);

  // Claims (SKIP LOCKED) contracts in `status` whose date column is before/at `day`
  // and applies decide; returns how many changed. Used for activation and expiry.
  absl::StatusOr<int> SweepDates(pb::ContractStatus status, const char* date_column, const char* comparison,
                                 absl::CivilDay day, int limit, const std::string& actor, const Decide& decide);

  struct SegmentCount {
    int status, type;
    int64_t count;
  };
  absl::StatusOr<std::vector<SegmentCount>> CountByStatusAndType();
  absl::StatusOr<int64_t> CountExpiring(absl::CivilDay from, absl::CivilDay to);
  // Of those, the ones no renewal has been drafted for (a terminated renewal does not
  // count as one).
  absl::StatusOr<int64_t> CountExpiringWithoutRenewal(absl::CivilDay from, absl::CivilDay to);
  // Count and amount by type; types without a contract are left out.
  absl::StatusOr<std::vector<SigningTotal>> SigningTotals(const SigningFilter& filter);

 private:
  db::Pool* pool_;
  const Clock* clock_;
};

}  // namespace kefu::contracts
