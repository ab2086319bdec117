#pragma once
// The performance service's pure rules: target roll-up, weighted scorecards that
// explain themselves, 360-degree aggregation that never exposes a subordinate's
// individual rating, and statistical control charts. No database, no proto: the
// service maps its messages onto these types.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace kefu::performance {

// ---- targets ----

// A target in the tree company -> department -> region -> customer -> position ->
// person (and year -> quarter -> month). Amounts in minor units or counts.
struct TargetNode {
  int64_t id = 0;
  int64_t parent_id = 0;  // 0 for a root
  int64_t target = 0;
  int64_t actual = 0;
  // An approved revision exempts the target from scoring and from the roll-up rule.
  bool exempt = false;
};

struct RollupViolation {
  int64_t parent_id;
  int64_t parent_target;
  int64_t children_sum;
  int64_t shortfall;  // parent_target - children_sum
};

// Every parent whose (non-exempt) children's targets add up to less than its own.
// Leaves (no children) are not checked. Fails on cycles or unknown parents.
absl::StatusOr<std::vector<RollupViolation>> CheckRollup(const std::vector<TargetNode>& nodes);

// A target's period: "2026" (year), "2026-H2" (half), "2026-Q4" (quarter) or
// "2026-11" (month), as the inclusive days it covers.
struct Period {
  enum class Kind { kYear = 0, kHalf = 1, kQuarter = 2, kMonth = 3 };
  Kind kind;
  absl::CivilDay first;
  absl::CivilDay last;
  bool Contains(const Period& other) const { return first <= other.first && other.last <= last; }
  // Whole months covered (a month: 1, a quarter: 3).
  int Months() const;
};
absl::StatusOr<Period> ParsePeriod(absl::string_view text);

// Levels in the order company (1) -> department -> region -> customer -> position ->
// person (6), matching the proto enum numbers.
// A child target is either one level below or more (its period within the parent's),
// or the same subject's finer period (same level, strictly finer period within).
// Returns the reason it is not a valid child, or "" when it is.
std::string ChildTargetProblem(int parent_level, const Period& parent_period, int child_level,
                               const Period& child_period);

// ---- scorecards ----

enum class Direction { kHigherIsBetter, kLowerIsBetter };

struct ScoreInput {
  std::string component;   // "service_revenue", "overdue_rate", ...
  std::string source;      // "sales", "complaints", ... (for the explanation)
  double value = 0;
  double target = 0;       // what counts as 100%
  double weight = 0;       // relative; weights need not sum to 1
  Direction direction = Direction::kHigherIsBetter;
  bool available = true;   // false when the source service could not be asked
};

struct ScoreLine {
  std::string component;
  std::string source;
  double value, target, weight;
  // Achievement capped at 120% so one outstanding figure cannot hide the rest.
  double achievement;
  // weight share x achievement x 100.
  double points;
  bool available;
};

struct Scorecard {
  std::vector<ScoreLine> lines;
  // Sum of points over available components, renormalised to their weights: 0..120.
  double total = 0;
  // Components that could not be scored, by name.
  std::vector<std::string> unavailable;
};

inline constexpr double kAchievementCap = 1.2;
absl::StatusOr<Scorecard> ComputeScorecard(const std::vector<ScoreInput>& inputs);

// The configurable part of a component: its weight and what a person achieves in a
// month at 100%.
struct ComponentPolicy {
  std::string component;
  double weight = 0;
  double monthly_target = 0;
};

// The fixed part: which group and source it belongs to, its direction, and whether
// its target scales with the period's length and the headcount (counts and amounts)
// or not (rates and percentages).
struct ComponentSpec {
  const char* component;
  const char* group;
  const char* source;
  Direction direction;
  bool scales;
};
const std::vector<ComponentSpec>& ScorecardComponents();
const ComponentSpec* FindComponent(absl::string_view component);
std::vector<ComponentPolicy> DefaultScorecardPolicy();
// Every component known, named once, weights not negative, targets not negative,
// some weight positive. Errors name "policy.components[i]...".
absl::Status ValidateScorecardPolicy(const std::vector<ComponentPolicy>& policy);

// The target for a subject over `months` months with `headcount` people (1 for a
// person).
double ScaledTarget(const ComponentSpec& spec, const ComponentPolicy& policy, double months, int headcount);

// ---- 360-degree evaluation ----

enum class Relation { kSuperior, kSubordinate, kPeer, kSelf };

struct Rating {
  std::string rater_id;
  Relation relation;  // the rater's relation to the person rated
  int score;          // 1..5
};

// Minimum raters for an aggregate of subordinates (or peers) to be shown.
inline constexpr int kMinAnonymousRaters = 3;

struct RelationAggregate {
  Relation relation;
  int raters = 0;
  // Mean score; nullopt when withheld because too few raters took part.
  std::optional<double> mean;
  bool withheld = false;
};

// Aggregates per relation. Subordinate and peer ratings are only ever aggregated,
// and withheld below kMinAnonymousRaters; superior and self means are shown. The
// overall mean counts only ratings whose relation is shown, so a withheld group cannot
// be inferred from it.
struct Evaluation {
  std::vector<RelationAggregate> by_relation;
  std::optional<double> overall;
};
Evaluation Aggregate(const std::vector<Rating>& ratings);

// ---- control charts ----

struct RatePoint {
  std::string period;  // e.g. "2026-W47"
  int64_t defects = 0;  // e.g. overdue work orders
  int64_t total = 0;    // e.g. work orders due that week
};

struct MeanPoint {
  std::string period;
  double mean = 0;
  int64_t n = 0;
  double stddev = 0;  // sample standard deviation of the subgroup
};

struct ChartPoint {
  std::string period;
  double value;
  double lower_limit;
  double upper_limit;
  bool out_of_control;
};

struct ControlChart {
  double center_line = 0;
  std::vector<ChartPoint> points;
  int out_of_control = 0;
};

// p-chart: centre = total defects / total, limits p ± 3 sqrt(p(1-p)/n_i) clamped to [0, 1].
absl::StatusOr<ControlChart> PChart(const std::vector<RatePoint>& points);
// X-bar chart: centre = weighted grand mean, sigma pooled from the subgroups' standard
// deviations, limits centre ± 3 sigma / sqrt(n_i).
absl::StatusOr<ControlChart> XBarChart(const std::vector<MeanPoint>& points);

}  // namespace kefu::performance
