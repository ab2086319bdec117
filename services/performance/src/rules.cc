#include "rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

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
