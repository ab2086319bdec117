#pragma once
// All SQL of the performance service; one transaction per write.
//
// Idempotency: each write takes the IdempotencyKey of its request. The creates that
// claim it with db::ClaimRequestId answer a retry with the resource they created; the
// other writes run in kefu::IdempotentTransaction under a scope per RPC
// ("performance.<Rpc>") and answer a retry with the stored first response.
//
// Ratings: the only statements that read evaluation_assignments.score aggregate it
// (Ratings() feeds the rules' Aggregate at close, which keeps only per-relation
// aggregates); no method returns a score next to its rater.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "kefu/db/db.h"
#include "kefu/performance/v1/performance.pb.h"
#include "kefu/time_util.h"
#include "rules.h"

namespace kefu::performance {

namespace pb = ::kefu::performance::v1;
using IdempotencyKey = db::IdempotencyKey;

struct PlanFilter {
  pb::AssigneeKind assignee_kind = pb::ASSIGNEE_KIND_UNSPECIFIED;
  std::string assignee_id;
  pb::PlanType type = pb::PLAN_TYPE_UNSPECIFIED;
  std::optional<absl::CivilDay> from, to;
};

struct TargetFilter {
  int64_t parent_id = 0;
  bool roots_only = false;
  std::string period, subject_id, metric;
  pb::TargetLevel level = pb::TARGET_LEVEL_UNSPECIFIED;
};

// Plans and executions of a person (their own plans) or a department (its plans and
// its staff's), for progress and scorecards.
struct PlanTotals {
  int32_t plans = 0;
  int64_t target_count = 0;
  int64_t actual_count = 0;
  int32_t plans_minimum_met = 0;
  int64_t planned_cost_minor = 0;
  int64_t actual_cost_minor = 0;
  std::vector<pb::PlanProgressPeriod> periods;
};

class Repository {
 public:
  Repository(db::Pool* pool, const Clock* clock) : pool_(pool), clock_(clock) {}

  // ---- departments and staff ----
  absl::StatusOr<pb::Department> CreateDepartment(const pb::Department& d, const IdempotencyKey& key);
  absl::StatusOr<pb::Department> GetDepartment(const std::string& id);
  absl::StatusOr<std::vector<pb::Department>> ListDepartments();
  absl::StatusOr<pb::Staff> CreateStaff(const pb::Staff& s, const IdempotencyKey& key);
  absl::StatusOr<pb::Staff> GetStaff(const std::string& id);
  // Ids among `ids` that exist with status ACTIVE.
  absl::StatusOr<std::vector<std::string>> ActiveStaff(const std::vector<std::string>& ids);
  using DecideStaff = std::function<absl::StatusOr<pb::Staff>(const pb::Staff& current)>;
  absl::StatusOr<pb::Staff> UpdateStaff(const std::string& id, int64_t expected_version, const DecideStaff& decide,
                                        const IdempotencyKey& key);
  absl::StatusOr<std::vector<pb::Staff>> ListStaff(const std::string& department_id, const std::string& superior_id,
                                                   pb::StaffStatus status, int page_size, const std::string& after_id,
                                                   bool* more);
  // Active staff of a department and all departments under it.
  absl::StatusOr<int> Headcount(const std::vector<std::string>& department_ids);

  // ---- targets ----
  absl::StatusOr<pb::Target> CreateTarget(const pb::Target& t, const IdempotencyKey& key);
  absl::StatusOr<pb::Target> GetTarget(int64_t id);
  absl::StatusOr<std::vector<pb::Target>> ListTargets(const TargetFilter& f, int page_size, int64_t after_id,
                                                      bool* more);
  using DecideTarget = std::function<absl::Status(pb::Target& target)>;
  // `scope` names the RPC ("performance.ReviseTarget") the key belongs to.
  absl::StatusOr<pb::Target> UpdateTarget(int64_t id, int64_t expected_version, const DecideTarget& decide,
                                          absl::string_view scope, const IdempotencyKey& key);
  // Every target of the tree `root_id` belongs to (root included).
  absl::StatusOr<std::vector<pb::Target>> TargetTree(int64_t root_id);

  // ---- plans ----
  absl::StatusOr<pb::Plan> CreatePlan(const pb::Plan& p, const IdempotencyKey& key);
  absl::StatusOr<pb::Plan> GetPlan(int64_t id);
  absl::StatusOr<std::vector<pb::Plan>> ListPlans(const PlanFilter& f, int page_size, int64_t after_id, bool* more);
  absl::StatusOr<pb::Plan> RecordExecution(int64_t plan_id, absl::CivilDay day, int64_t count, int64_t cost_minor,
                                           const std::string& note, const std::string& actor,
                                           const IdempotencyKey& key);
  absl::StatusOr<pb::Plan> CancelPlan(int64_t id, int64_t expected_version, const IdempotencyKey& key);
  // Plans overlapping [from, to] of a person or of a department (its plans and those
  // of its active staff); executions counted only within [from, to].
  absl::StatusOr<PlanTotals> Totals(pb::AssigneeKind kind, const std::string& assignee_id,
                                    const std::vector<std::string>& departments, absl::CivilDay from,
                                    absl::CivilDay to);
  // Mean progress of active plans overlapping today, per department (by assignee's
  // department), for the plan-progress gauge.
  absl::StatusOr<std::vector<std::pair<std::string, double>>> ProgressByDepartment(absl::CivilDay today);

  // ---- scorecard policy ----
  // Saves the policy as the setting `name` if policy.version() is the stored version
  // (0 = never saved; ABORTED otherwise); returns it with its new version.
  absl::StatusOr<pb::ScorecardPolicy> SavePolicy(const std::string& name, const pb::ScorecardPolicy& policy,
                                                 const IdempotencyKey& key);

  // ---- 360 evaluation ----
  struct Assignment {
    std::string rater_id, ratee_id;
    pb::Relation relation;
  };
  absl::StatusOr<pb::EvaluationCycle> CreateCycle(const pb::EvaluationCycle& c,
                                                  const std::vector<Assignment>& assignments,
                                                  const IdempotencyKey& key);
  absl::StatusOr<pb::EvaluationCycle> GetCycle(int64_t id);
  absl::StatusOr<std::vector<pb::EvaluationCycle>> ListCycles(pb::CycleStatus status, int page_size,
                                                             int64_t after_id, bool* more);
  absl::StatusOr<std::vector<pb::EvaluationTask>> TasksOf(int64_t cycle_id, const std::string& rater_id);
  // Records (or replaces) the rater's score while the cycle is open. NOT_FOUND when
  // the rater has no such assignment, FAILED_PRECONDITION when the cycle is closed.
  // Answers with the cycle's progress only.
  absl::StatusOr<pb::SubmitRatingResponse> SubmitRating(int64_t cycle_id, const std::string& rater_id,
                                                        const std::string& ratee_id, int score,
                                                        const IdempotencyKey& key);
  // Closes the cycle and stores the aggregates computed by `aggregate` from each
  // ratee's ratings, in one transaction; closing twice is FAILED_PRECONDITION.
  using AggregateFn = std::function<Evaluation(const std::vector<Rating>& ratings)>;
  absl::StatusOr<pb::EvaluationCycle> CloseCycle(int64_t id, const AggregateFn& aggregate, const IdempotencyKey& key);
  absl::StatusOr<std::vector<pb::EvaluationResult>> Results(int64_t cycle_id, const std::string& staff_id);
  // Completion of open cycles, for the gauge.
  absl::StatusOr<std::vector<pb::EvaluationCycle>> OpenCycles();

 private:
  db::Pool* pool_;
  const Clock* clock_;
};

}  // namespace kefu::performance
