#include "rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kefu::performance {

absl::StatusOr<std::vector<RollupViolation>> CheckRollup(const std::vector<TargetNode>& nodes) {
  std::map<int64_t, const TargetNode*> by_id;
  for (const auto& n : nodes) {
    if (n.id <= 0) return absl::InvalidArgumentError("targets: every target needs a positive id");
    if (!by_id.emplace(n.id, &n).second) return absl::InvalidArgumentError(absl::StrCat("targets: id ", n.id, " twice"));
  }
  std::map<int64_t, std::vector<const TargetNode*>> children;
  for (const auto& n : nodes) {
    if (n.parent_id == 0) continue;
    if (!by_id.count(n.parent_id))
      return absl::InvalidArgumentError(absl::StrCat("targets: parent ", n.parent_id, " of ", n.id, " is unknown"));
    children[n.parent_id].push_back(&n);
  }
  // Walking up from every node must end at a root within the tree's size.
  for (const auto& n : nodes) {
    int64_t at = n.id;
    for (size_t steps = 0; at != 0; ++steps) {
      if (steps > nodes.size()) return absl::InvalidArgumentError(absl::StrCat("targets: cycle through ", n.id));
      at = by_id[at]->parent_id;
    }
  }
  std::vector<RollupViolation> out;
  for (const auto& [parent_id, kids] : children) {
    const TargetNode* parent = by_id[parent_id];
    if (parent->exempt) continue;
    int64_t sum = 0;
    for (const auto* k : kids)
      if (!k->exempt) sum += k->target;
    if (sum < parent->target) out.push_back({parent_id, parent->target, sum, parent->target - sum});
  }
  return out;
}

int Period::Months() const {
  switch (kind) {
    case Kind::kYear: return 12;
    case Kind::kHalf: return 6;
    case Kind::kQuarter: return 3;
    case Kind::kMonth: return 1;
  }
  return 1;
}

absl::StatusOr<Period> ParsePeriod(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("period \"", text.size() <= 16 ? text : "…",
                                                   "\" must be YYYY, YYYY-H1/H2, YYYY-Q1..Q4 or YYYY-MM"));
  };
  int year = 0;
  if (text.size() < 4 || !absl::SimpleAtoi(text.substr(0, 4), &year) || year < 1970 || year > 9999) return bad();
  if (text.size() == 4) return Period{Period::Kind::kYear, absl::CivilDay(year, 1, 1), absl::CivilDay(year, 12, 31)};
  if (text.size() != 7 || text[4] != '-') return bad();
  char tag = text[5];
  int n = text[6] - '0';
  auto months = [&](Period::Kind kind, int first_month, int count) {
    absl::CivilMonth start(year, first_month);
    return Period{kind, absl::CivilDay(start), absl::CivilDay(start + count) - 1};
  };
  if (tag == 'H' && (n == 1 || n == 2)) return months(Period::Kind::kHalf, n == 1 ? 1 : 7, 6);
  if (tag == 'Q' && n >= 1 && n <= 4) return months(Period::Kind::kQuarter, 3 * n - 2, 3);
  int month = 0;
  if (absl::SimpleAtoi(text.substr(5, 2), &month) && month >= 1 && month <= 12 && text[5] >= '0' && text[5] <= '1')
    return months(Period::Kind::kMonth, month, 1);
  return bad();
}

std::string ChildTargetProblem(int parent_level, const Period& parent_period, int child_level,
                               const Period& child_period) {
  if (!parent_period.Contains(child_period)) return "its period must lie within its parent's";
  if (child_level < parent_level) return "its level must not be above its parent's";
  if (child_level == parent_level && static_cast<int>(child_period.kind) <= static_cast<int>(parent_period.kind))
    return "at its parent's level it must cover a finer period";
  return "";
}

const std::vector<ComponentSpec>& ScorecardComponents() {
  using D = Direction;
  static const std::vector<ComponentSpec> specs = {
      {"workload", "work", "performance", D::kHigherIsBetter, true},
      {"plan_progress", "work", "performance", D::kHigherIsBetter, false},
      {"task_execution", "work", "performance", D::kHigherIsBetter, false},
      {"service_revenue", "service_effectiveness", "contracts", D::kHigherIsBetter, true},
      {"new_business", "service_effectiveness", "contracts", D::kHigherIsBetter, true},
      {"tier_net_change", "service_effectiveness", "customers", D::kHigherIsBetter, true},
      {"churned_customers", "service_effectiveness", "customers", D::kLowerIsBetter, true},
      {"follow_up_satisfaction", "service_effectiveness", "complaints", D::kHigherIsBetter, false},
      {"survey_satisfaction", "service_effectiveness", "customers", D::kHigherIsBetter, false},
      {"complaints_handled", "complaint_handling", "complaints", D::kHigherIsBetter, true},
      {"overdue_rate", "complaint_handling", "complaints", D::kLowerIsBetter, false},
      {"escalated", "complaint_handling", "complaints", D::kLowerIsBetter, true},
  };
  return specs;
}

const ComponentSpec* FindComponent(absl::string_view component) {
  for (const auto& spec : ScorecardComponents())
    if (component == spec.component) return &spec;
  return nullptr;
}

std::vector<ComponentPolicy> DefaultScorecardPolicy() {
  // Percentages are in percent (plan progress 100 = on plan); amounts in yuan.
  return {{"workload", 10, 20},         {"plan_progress", 10, 100},          {"task_execution", 10, 100},
          {"service_revenue", 10, 50000}, {"new_business", 10, 100000},      {"tier_net_change", 5, 1},
          {"churned_customers", 5, 0.5},  {"follow_up_satisfaction", 10, 90}, {"survey_satisfaction", 5, 90},
          {"complaints_handled", 10, 30}, {"overdue_rate", 10, 5},           {"escalated", 5, 1}};
}

absl::Status ValidateScorecardPolicy(const std::vector<ComponentPolicy>& policy) {
  std::set<std::string> seen;
  double total_weight = 0;
  for (size_t i = 0; i < policy.size(); ++i) {
    const auto& c = policy[i];
    std::string at = absl::StrCat("policy.components[", i, "]");
    if (FindComponent(c.component) == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(at, ".component: unknown component \"", c.component, "\""));
    if (!seen.insert(c.component).second)
      return absl::InvalidArgumentError(absl::StrCat(at, ".component: \"", c.component, "\" named twice"));
    if (!(c.weight >= 0) || c.weight > 1000)
      return absl::InvalidArgumentError(absl::StrCat(at, ".weight: must be within 0..1000"));
    if (!(c.monthly_target >= 0) || c.monthly_target > 1e15)
      return absl::InvalidArgumentError(absl::StrCat(at, ".monthly_target: must not be negative"));
    total_weight += c.weight;
  }
  if (total_weight <= 0) return absl::InvalidArgumentError("policy.components: some weight must be positive");
  return absl::OkStatus();
}

double ScaledTarget(const ComponentSpec& spec, const ComponentPolicy& policy, double months, int headcount) {
  if (!spec.scales) return policy.monthly_target;
  return policy.monthly_target * months * std::max(1, headcount);
}

absl::StatusOr<Scorecard> ComputeScorecard(const std::vector<ScoreInput>& inputs) {
  Scorecard card;
  double available_weight = 0;
  for (const auto& in : inputs) {
    if (in.weight < 0) return absl::InvalidArgumentError(absl::StrCat("weights.", in.component, ": must not be negative"));
    if (in.available) available_weight += in.weight;
  }
  for (const auto& in : inputs) {
    ScoreLine line{in.component, in.source, in.value, in.target, in.weight, 0, 0, in.available};
    if (!in.available) {
      card.unavailable.push_back(in.component);
    } else {
      double achievement;
      if (in.direction == Direction::kHigherIsBetter) {
        achievement = in.target <= 0 ? (in.value > 0 ? kAchievementCap : 1.0) : in.value / in.target;
      } else {
        // Lower is better: meeting the target (or better) is 100%, each multiple worse halves it.
        achievement = in.value <= in.target ? 1.0 : (in.target <= 0 ? 0.0 : in.target / in.value);
        if (in.value <= 0 && in.target <= 0) achievement = 1.0;
      }
      line.achievement = std::clamp(achievement, 0.0, kAchievementCap);
      line.points = available_weight > 0 ? in.weight / available_weight * line.achievement * 100.0 : 0;
      card.total += line.points;
    }
    card.lines.push_back(std::move(line));
  }
  return card;
}

Evaluation Aggregate(const std::vector<Rating>& ratings) {
  Evaluation e;
  double shown_sum = 0;
  int shown_count = 0;
  for (Relation rel : {Relation::kSuperior, Relation::kSubordinate, Relation::kPeer, Relation::kSelf}) {
    RelationAggregate agg{rel, 0, std::nullopt, false};
    std::set<std::string> raters;
    double sum = 0;
    int count = 0;
    for (const auto& r : ratings) {
      if (r.relation != rel || r.score < 1 || r.score > 5) continue;
      raters.insert(r.rater_id);
      sum += r.score;
      ++count;
    }
    agg.raters = static_cast<int>(raters.size());
    bool anonymous = rel == Relation::kSubordinate || rel == Relation::kPeer;
    if (count == 0) {
      e.by_relation.push_back(agg);
      continue;
    }
    if (anonymous && agg.raters < kMinAnonymousRaters) {
      agg.withheld = true;
    } else {
      agg.mean = sum / count;
      shown_sum += sum;
      shown_count += count;
    }
    e.by_relation.push_back(agg);
  }
  if (shown_count > 0) e.overall = shown_sum / shown_count;
  return e;
}

absl::StatusOr<ControlChart> PChart(const std::vector<RatePoint>& points) {
  if (points.empty()) return absl::InvalidArgumentError("points: at least one period is needed");
  int64_t defects = 0, total = 0;
  for (const auto& p : points) {
    if (p.total < 0 || p.defects < 0 || p.defects > p.total)
      return absl::InvalidArgumentError(absl::StrCat("points[", p.period, "]: defects must be within 0..total"));
    defects += p.defects;
    total += p.total;
  }
  ControlChart chart;
  chart.center_line = total == 0 ? 0 : static_cast<double>(defects) / static_cast<double>(total);
  double p = chart.center_line;
  for (const auto& pt : points) {
    ChartPoint cp{pt.period, 0, 0, 0, false};
    if (pt.total > 0) {
      cp.value = static_cast<double>(pt.defects) / static_cast<double>(pt.total);
      double spread = 3 * std::sqrt(p * (1 - p) / static_cast<double>(pt.total));
      cp.lower_limit = std::max(0.0, p - spread);
      cp.upper_limit = std::min(1.0, p + spread);
      cp.out_of_control = cp.value > cp.upper_limit || cp.value < cp.lower_limit;
    } else {
      cp.lower_limit = cp.upper_limit = p;  // no data that week: nothing to flag
    }
    if (cp.out_of_control) ++chart.out_of_control;
    chart.points.push_back(cp);
  }
  return chart;
}

absl::StatusOr<ControlChart> XBarChart(const std::vector<MeanPoint>& points) {
  if (points.empty()) return absl::InvalidArgumentError("points: at least one period is needed");
  double weighted = 0, pooled_num = 0;
  int64_t n_total = 0, dof = 0;
  for (const auto& p : points) {
    if (p.n < 0 || p.stddev < 0) return absl::InvalidArgumentError(absl::StrCat("points[", p.period, "]: n and stddev must not be negative"));
    weighted += p.mean * static_cast<double>(p.n);
    n_total += p.n;
    if (p.n > 1) {
      pooled_num += static_cast<double>(p.n - 1) * p.stddev * p.stddev;
      dof += p.n - 1;
    }
  }
  ControlChart chart;
  chart.center_line = n_total == 0 ? 0 : weighted / static_cast<double>(n_total);
  double sigma = dof == 0 ? 0 : std::sqrt(pooled_num / static_cast<double>(dof));
  for (const auto& pt : points) {
    ChartPoint cp{pt.period, pt.mean, chart.center_line, chart.center_line, false};
    if (pt.n > 0) {
      double spread = 3 * sigma / std::sqrt(static_cast<double>(pt.n));
      cp.lower_limit = chart.center_line - spread;
      cp.upper_limit = chart.center_line + spread;
      cp.out_of_control = pt.mean > cp.upper_limit || pt.mean < cp.lower_limit;
    }
    if (cp.out_of_control) ++chart.out_of_control;
    chart.points.push_back(cp);
  }
  return chart;
}

}  // namespace kefu::performance
