#pragma once
// All SQL of the sales service; one transaction per write. Customer-log entries and
// draft-contract requests leave through the outbox in the same transaction.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "domain.h"
#include "kefu/contracts/v1/contracts.pb.h"
#include "kefu/db/db.h"
#include "kefu/time_util.h"

namespace kefu::sales {

inline constexpr char kDraftContractTarget[] = "contracts.draft";
// The service setting holding the stage probabilities.
inline constexpr char kStageProbabilitiesSetting[] = "stage_probabilities";

using IdempotencyKey = db::IdempotencyKey;

struct Change {
  pb::Project updated;
  bool team_changed = false;
  bool competitors_changed = false;
  std::optional<pb::StageChange> stage_change;
  std::vector<std::string> log;
  // Asks contracts for the project's draft (a won project).
  std::optional<contracts::v1::CreateDraftForProjectRequest> draft_request;
};

struct ListFilter {
  int64_t customer_id = 0;
  pb::Stage stage = pb::STAGE_UNSPECIFIED;
  std::string owner_id, department_id;
  bool open_only = false;
  pb::CustomerCheck customer_check = pb::CUSTOMER_CHECK_UNSPECIFIED;
};

// A project whose customer customers could not confirm at creation.
struct PendingCustomerCheck {
  int64_t project_id = 0;
  int64_t customer_id = 0;
};

struct CustomerCheckCounts {
  int64_t pending = 0;
  // Open projects whose customer the background check found does not exist.
  int64_t open_not_found = 0;
};

struct PipelineFilter {
  std::string owner_id, department_id, currency = "CNY";
  std::optional<std::string> signing_from, signing_to;
};

class Repository {
 public:
  Repository(db::Pool* pool, const Clock* clock) : pool_(pool), clock_(clock) {}

  // Stores p with p.customer_check() (CONFIRMED when unset), idempotent under `key`.
  absl::StatusOr<pb::Project> Create(const pb::Project& p, const IdempotencyKey& key, const std::string& actor);
  // The project an earlier CreateProject with this request id and the same request
  // created, if there is one (so a retry is answered without asking customers again).
  absl::StatusOr<std::optional<pb::Project>> CreatedBy(const IdempotencyKey& key);
  absl::StatusOr<pb::Project> Get(int64_t id);
  using Decide = std::function<absl::StatusOr<Change>(const pb::Project& current)>;
  // One transaction per change of a project, idempotent under `key` within `scope`
  // (the RPC, e.g. "sales.ChangeStage"): a retry returns the first call's project.
  absl::StatusOr<pb::Project> Mutate(int64_t id, int64_t expected_version, const std::string& actor,
                                     absl::string_view scope, const IdempotencyKey& key, const Decide& decide);
  absl::StatusOr<std::vector<pb::Project>> List(const ListFilter& f, int page_size, int64_t after_id, bool* more);
  absl::StatusOr<std::vector<pb::StageChange>> StageChanges(int64_t id);

  absl::StatusOr<pb::Activity> AddActivity(const pb::Activity& a, const IdempotencyKey& key, const std::string& actor);
  absl::StatusOr<std::vector<pb::Activity>> ListActivities(int64_t project_id, int page_size, int64_t after_id,
                                                           bool* more);
  absl::StatusOr<pb::ActionPlan> AddActionPlan(const pb::ActionPlan& plan, const IdempotencyKey& key);
  absl::StatusOr<pb::ActionPlan> UpdateActionPlanOutcome(int64_t plan_id, const std::string& outcome,
                                                         const std::string& remedial, const IdempotencyKey& key);
  absl::StatusOr<std::vector<pb::ActionPlan>> ListActionPlans(int64_t project_id);

  // Saves the stage probabilities (the "stage_probabilities" setting) if p.version() is
  // current (0 = never saved), else ABORTED; returns them with the new version.
  absl::StatusOr<pb::StageProbabilities> SaveStageProbabilities(const pb::StageProbabilities& p,
                                                                const IdempotencyKey& key);

  // Up to `limit` projects awaiting the customer check, oldest first. Read without
  // locks: ResolveCustomerCheck decides which replica records the answer.
  absl::StatusOr<std::vector<PendingCustomerCheck>> PendingCustomerChecks(int limit);
  // Sets the customer check of a project that is still PENDING; false when it no
  // longer is (another replica was first). Like SetContractId, not a user edit: the
  // version stays.
  absl::StatusOr<bool> ResolveCustomerCheck(int64_t project_id, pb::CustomerCheck check);
  absl::StatusOr<CustomerCheckCounts> CountCustomerChecks();

  // Records the contract the draft request created.
  absl::Status SetContractId(int64_t project_id, int64_t contract_id);

  // Open projects by group_by: whole months from pipeline_totals (kept by Create and
  // Mutate), the days of a month the signing range cuts through from projects. Weighted
  // amounts are rounded down per stage within a row.
  absl::StatusOr<std::vector<pb::PipelineRow>> Pipeline(pb::GroupBy group_by, const PipelineFilter& f,
                                                        const std::map<int, int32_t>& probability);
  // Counts pipeline_totals again from projects, in one transaction, with the statements
  // of the migration that created it: corrects what writes that did not move the totals
  // left behind (replicas of an older version during a rolling upgrade). Project writes
  // wait for it (about 0.15 s at a million projects).
  absl::Status RecountPipeline();
  struct Closed {
    int64_t won = 0, lost = 0, terminated = 0;
    std::map<int, std::pair<int64_t, int64_t>> reached_advanced;  // stage -> (reached, advanced)
  };
  absl::StatusOr<Closed> WinRate(absl::CivilDay from, absl::CivilDay to, const std::string& owner,
                                 const std::string& department);

 private:
  db::Pool* pool_;
  const Clock* clock_;
};

}  // namespace kefu::sales
