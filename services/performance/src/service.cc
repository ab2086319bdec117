#include "service.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/validation.h"

namespace kefu::performance {

namespace {

constexpr size_t kMaxIdChars = 64;
constexpr size_t kMaxNameChars = 200;
constexpr size_t kMaxTextChars = 2000;
constexpr int64_t kMaxCount = 1'000'000'000;
constexpr char kPolicySetting[] = "scorecard_policy";

// Amounts default to the plan's currency (CNY for a new plan).
MoneyRules CurrencyOptional() {
  MoneyRules rules;
  rules.currency = MoneyRules::Currency::kOptional;
  return rules;
}

absl::Status CheckPositiveId(absl::string_view field, int64_t id) {
  if (id <= 0) return id == 0 ? RequiredField(field) : InvalidField(field, "must be positive");
  return absl::OkStatus();
}

absl::Status CheckCount(absl::string_view field, int64_t n) {
  if (n < 0 || n > kMaxCount) return InvalidField(field, "must be within 0..1000000000");
  return absl::OkStatus();
}

absl::Status ValidateDepartment(const pb::Department& d) {
  Validator v;
  v.Merge(CheckId("department.id", d.id(), kMaxIdChars, true));
  v.Merge(CheckText("department.name", d.name(), kMaxNameChars, true));
  v.Merge(CheckId("department.parent_id", d.parent_id(), kMaxIdChars, false));
  v.Merge(CheckId("department.manager_id", d.manager_id(), kMaxIdChars, false));
  if (!d.id().empty() && d.id() == d.parent_id()) v.Add("department.parent_id", "must not be the department itself");
  return v.Finish();
}

// Target figures (amounts in minor units, counts): their roll-up sums must not
// overflow, so each is at most 10^15.
constexpr int64_t kMaxTargetFigure = 1'000'000'000'000'000;
void CheckTargetFigure(const std::string& field, int64_t value, Validator& v) {
  if (value < 0) v.Add(field, "must not be negative");
  else if (value > kMaxTargetFigure) v.Add(field, "must be at most 10^15");
}

absl::Status ValidateStaff(const pb::Staff& s) {
  Validator v;
  v.Merge(CheckId("staff.id", s.id(), kMaxIdChars, true));
  v.Merge(CheckId("staff.employee_number", s.employee_number(), kMaxIdChars, true));
  v.Merge(CheckText("staff.name", s.name(), 100, true));
  v.Merge(CheckId("staff.department_id", s.department_id(), kMaxIdChars, true));
  v.Merge(CheckText("staff.position", s.position(), 100, false));
  v.Merge(CheckEnum("staff.role", s.role(), pb::Role_IsValid, true));
  v.Merge(CheckId("staff.superior_id", s.superior_id(), kMaxIdChars, false));
  if (!s.id().empty() && s.id() == s.superior_id()) v.Add("staff.superior_id", "must not be the person themselves");
  if (!s.phone().empty()) v.Merge(CheckPhone("staff.phone", s.phone()));
  if (!s.email().empty()) v.Merge(CheckEmail("staff.email", s.email()));
  v.Merge(CheckEnum("staff.status", s.status(), pb::StaffStatus_IsValid, false));
  if (s.training_size() > 100) v.Add("staff.training", "at most 100 records");
  for (int i = 0; i < s.training_size(); ++i) {
    std::string at = absl::StrCat("staff.training[", i, "]");
    v.Merge(CheckText(at + ".course", s.training(i).course(), kMaxNameChars, true));
    v.Merge(CheckText(at + ".result", s.training(i).result(), kMaxNameChars, false));
    if (!s.training(i).completed_on().empty()) v.Merge(ParseDate(at + ".completed_on", s.training(i).completed_on()).status());
  }
  if (s.work_history_size() > 100) v.Add("staff.work_history", "at most 100 entries");
  for (int i = 0; i < s.work_history_size(); ++i) {
    const auto& h = s.work_history(i);
    std::string at = absl::StrCat("staff.work_history[", i, "]");
    v.Merge(CheckText(at + ".organization", h.organization(), kMaxNameChars, true));
    v.Merge(CheckText(at + ".position", h.position(), 100, false));
    if (!h.from().empty()) v.Merge(ParseDate(at + ".from", h.from()).status());
    if (!h.to().empty()) v.Merge(ParseDate(at + ".to", h.to()).status());
    if (!h.from().empty() && !h.to().empty() && h.to() < h.from()) v.Add(at + ".to", "must not be before from");
  }
  return v.Finish();
}

const std::set<std::string>& StaffUpdatePaths() {
  static const std::set<std::string> paths = {"name",  "department_id", "position", "role",     "superior_id",
                                              "phone", "email",         "status",   "training", "work_history"};
  return paths;
}

pb::Staff ApplyStaffUpdate(const pb::Staff& current, const pb::Staff& input, const std::vector<std::string>& paths) {
  pb::Staff out = current;
  for (const auto& p : paths) {
    if (p == "name") out.set_name(input.name());
    if (p == "department_id") out.set_department_id(input.department_id());
    if (p == "position") out.set_position(input.position());
    if (p == "role") out.set_role(input.role());
    if (p == "superior_id") out.set_superior_id(input.superior_id());
    if (p == "phone") out.set_phone(input.phone());
    if (p == "email") out.set_email(input.email());
    if (p == "status") out.set_status(input.status());
    if (p == "training") *out.mutable_training() = input.training();
    if (p == "work_history") *out.mutable_work_history() = input.work_history();
  }
  return out;
}

// Inclusive day range "from".."to" of a request, at most `max_days` long.
absl::StatusOr<std::pair<absl::CivilDay, absl::CivilDay>> DayRange(absl::string_view from_field,
                                                                   absl::string_view from,
                                                                   absl::string_view to_field, absl::string_view to,
                                                                   int max_days) {
  Validator v;
  auto f = ParseDate(from_field, from);
  auto t = ParseDate(to_field, to);
  v.Merge(f.status());
  v.Merge(t.status());
  if (f.ok() && t.ok() && *t < *f) v.Add(std::string(to_field), "must not be before " + std::string(from_field));
  if (f.ok() && t.ok() && *t - *f >= max_days)
    v.Add(std::string(to_field), absl::StrCat("the range may span at most ", max_days, " days"));
  KEFU_RETURN_IF_ERROR(v.Finish());
  return std::make_pair(*f, *t);
}

std::string MeasureName(pb::QualityMeasure m) {
  return absl::AsciiStrToLower(pb::QualityMeasure_Name(m).substr(sizeof("QUALITY_MEASURE_") - 1));
}

std::vector<ComponentPolicy> FromProto(const pb::ScorecardPolicy& policy) {
  std::vector<ComponentPolicy> out;
  for (const auto& c : policy.components()) out.push_back({c.component(), c.weight(), c.monthly_target()});
  return out;
}

// Maps the gathered figures onto scorecard inputs; a component whose source did not
// answer is unavailable, one with nothing to measure (no plans, no follow-ups) is
// shown with weight 0 and a note.
struct InputWithNote {
  ScoreInput input;
  std::string group;
  std::string note;
};

std::vector<InputWithNote> BuildInputs(const std::vector<ComponentPolicy>& policy, const PlanTotals& plans,
                                       const Figures& figures, double months, int headcount) {
  std::vector<InputWithNote> out;
  for (const auto& c : policy) {
    const ComponentSpec* spec = FindComponent(c.component);
    if (spec == nullptr) continue;
    InputWithNote in;
    in.group = spec->group;
    in.input.component = spec->component;
    in.input.source = spec->source;
    in.input.weight = c.weight;
    in.input.direction = spec->direction;
    in.input.target = ScaledTarget(*spec, c, months, headcount);
    auto unavailable = [&](const std::string& source) {
      in.input.available = false;
      auto it = figures.unavailable.find(source);
      in.note = absl::StrCat(source, " did not answer: ", it == figures.unavailable.end() ? "" : it->second);
    };
    auto nothing_to_measure = [&](absl::string_view why) {
      in.input.weight = 0;
      in.note = absl::StrCat(why, "; not weighted");
    };
    const std::string name = spec->component;
    if (name == "workload") {
      in.input.value = static_cast<double>(plans.actual_count);
      in.note = absl::StrCat(plans.plans, " plans, work recorded within the period");
    } else if (name == "plan_progress") {
      if (plans.target_count == 0) nothing_to_measure("no plans in the period");
      else in.input.value = 100.0 * static_cast<double>(plans.actual_count) / static_cast<double>(plans.target_count);
    } else if (name == "task_execution") {
      if (plans.plans == 0) nothing_to_measure("no plans in the period");
      else {
        in.input.value = 100.0 * plans.plans_minimum_met / plans.plans;
        in.note = absl::StrCat(plans.plans_minimum_met, " of ", plans.plans, " plans reached their minimum");
      }
    } else if (name == "service_revenue" || name == "new_business") {
      if (!figures.signing) unavailable("contracts");
      else {
        int64_t minor = name == "service_revenue" ? figures.signing->service_amount_minor()
                                                  : figures.signing->new_business_amount_minor();
        in.input.value = static_cast<double>(minor) / 100.0;
        in.note = absl::StrCat("signed contracts, ", figures.signing->currency_code(), " in major units");
      }
    } else if (name == "tier_net_change") {
      if (!figures.portfolio) unavailable("customers");
      else {
        in.input.value = static_cast<double>(figures.portfolio->tier_ups() - figures.portfolio->tier_downs());
        in.note = absl::StrCat(figures.portfolio->tier_ups(), " up, ", figures.portfolio->tier_downs(), " down");
      }
    } else if (name == "churned_customers") {
      if (!figures.portfolio) unavailable("customers");
      else in.input.value = static_cast<double>(figures.portfolio->churned());
    } else if (name == "survey_satisfaction") {
      if (!figures.portfolio) unavailable("customers");
      else if (figures.portfolio->survey_results() == 0) nothing_to_measure("no survey results in the period");
      else {
        in.input.value = figures.portfolio->satisfaction_rate_bp() / 100.0;
        in.note = absl::StrCat(figures.portfolio->satisfied(), " of ", figures.portfolio->survey_results(),
                               " surveyed customers satisfied (percent)");
      }
    } else if (name == "follow_up_satisfaction") {
      if (!figures.complaints) unavailable("complaints");
      else if (figures.complaints->follow_up_rate_bp() == 0) nothing_to_measure("no follow-ups in the period");
      else {
        in.input.value = figures.complaints->satisfaction_rate_bp() / 100.0;
        in.note = "satisfied follow-ups (percent)";
      }
    } else if (name == "complaints_handled") {
      if (!figures.complaints) unavailable("complaints");
      else {
        in.input.value = static_cast<double>(figures.complaints->closed());
        in.note = absl::StrCat(figures.complaints->received(), " received, ", figures.complaints->closed(), " closed");
      }
    } else if (name == "overdue_rate") {
      if (!figures.complaints) unavailable("complaints");
      else if (figures.complaints->received() == 0) nothing_to_measure("no work orders in the period");
      else {
        in.input.value = figures.complaints->overdue_rate_bp() / 100.0;
        in.note = absl::StrCat(figures.complaints->overdue(), " overdue (percent of work orders)");
      }
    } else if (name == "escalated") {
      if (!figures.complaints) unavailable("complaints");
      else in.input.value = static_cast<double>(figures.complaints->escalated());
    }
    out.push_back(std::move(in));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- metrics

BusinessMetrics::BusinessMetrics(prometheus::Registry& registry)
    : plan_progress_(prometheus::BuildGauge()
                         .Name("kefu_performance_plan_progress_ratio")
                         .Help("Actual over target count of active plans running today, by department.")
                         .Register(registry)),
      cycle_completion_(prometheus::BuildGauge()
                            .Name("kefu_performance_evaluation_cycle_completion_ratio")
                            .Help("Submitted over assigned ratings of each evaluation cycle.")
                            .Register(registry)) {
  auto& charts = prometheus::BuildGauge()
                     .Name("kefu_performance_control_chart_out_of_control_points")
                     .Help("Out-of-control weeks in the latest control chart computed, by measure.")
                     .Register(registry);
  for (int m = pb::QUALITY_MEASURE_OVERDUE_RATE; m <= pb::QUALITY_MEASURE_TIME_TO_RESOLVE; ++m)
    out_of_control_[m] = &charts.Add({{"measure", MeasureName(static_cast<pb::QualityMeasure>(m))}});
}

void BusinessMetrics::SetPlanProgress(const std::vector<std::pair<std::string, double>>& by_department) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> seen;
  for (const auto& [dept, ratio] : by_department) {
    seen.insert(dept);
    auto& g = plan_gauges_[dept];
    if (g == nullptr) g = &plan_progress_.Add({{"department_id", dept}});
    g->Set(ratio);
  }
  for (auto it = plan_gauges_.begin(); it != plan_gauges_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    plan_progress_.Remove(it->second);
    it = plan_gauges_.erase(it);
  }
}

void BusinessMetrics::SetCycleCompletion(const std::vector<pb::EvaluationCycle>& cycles) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : cycles) {
    auto& g = cycle_gauges_[c.id()];
    if (g == nullptr) g = &cycle_completion_.Add({{"cycle_id", absl::StrCat(c.id())}});
    g->Set(c.completion_bp() / 10000.0);
  }
}

void BusinessMetrics::SetOutOfControl(pb::QualityMeasure measure, int points) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = out_of_control_.find(measure);
  if (it != out_of_control_.end()) it->second->Set(points);
}

void PerformanceServiceImpl::RefreshMetrics() {
  if (auto progress = repo_->ProgressByDepartment(Today()); progress.ok()) metrics_->SetPlanProgress(*progress);
  bool more = false;
  if (auto cycles = repo_->ListCycles(pb::CYCLE_STATUS_UNSPECIFIED, 200, 0, &more); cycles.ok())
    metrics_->SetCycleCompletion(*cycles);
}

// ---------------------------------------------------------------- departments and staff

grpc::Status PerformanceServiceImpl::CreateDepartment(grpc::ServerContext* ctx, const pb::CreateDepartmentRequest* req,
                                                      pb::Department* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(ValidateDepartment(req->department()));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreateDepartment(req->department(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetDepartment(grpc::ServerContext*, const pb::GetDepartmentRequest* req,
                                                   pb::Department* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckId("department_id", req->department_id(), kMaxIdChars, true));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->GetDepartment(req->department_id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListDepartments(grpc::ServerContext*, const pb::ListDepartmentsRequest* req,
                                                     pb::ListDepartmentsResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckId("root_id", req->root_id(), kMaxIdChars, false));
    KEFU_ASSIGN_OR_RETURN(auto all, repo_->ListDepartments());
    std::map<std::string, std::vector<const pb::Department*>> children;
    bool root_found = req->root_id().empty();
    for (const auto& d : all) {
      children[d.parent_id()].push_back(&d);
      if (d.id() == req->root_id()) root_found = true;
    }
    if (!root_found) return NotFound("department", req->root_id());
    // Depth-first from the roots (or the requested department), parents first.
    std::vector<const pb::Department*> stack;
    if (req->root_id().empty()) {
      auto& roots = children[""];
      stack.assign(roots.rbegin(), roots.rend());
    } else {
      for (const auto& d : all)
        if (d.id() == req->root_id()) stack.push_back(&d);
    }
    while (!stack.empty()) {
      const pb::Department* d = stack.back();
      stack.pop_back();
      *resp->add_departments() = *d;
      auto& kids = children[d->id()];
      for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.push_back(*it);
    }
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::CreateStaff(grpc::ServerContext* ctx, const pb::CreateStaffRequest* req,
                                                 pb::Staff* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(ValidateStaff(req->staff()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreateStaff(req->staff(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetStaff(grpc::ServerContext*, const pb::GetStaffRequest* req, pb::Staff* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckId("staff_id", req->staff_id(), kMaxIdChars, true));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->GetStaff(req->staff_id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::CheckStaff(grpc::ServerContext*, const pb::CheckStaffRequest* req,
                                                pb::CheckStaffResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (req->staff_ids_size() == 0) v.Add("staff_ids", "is required");
    if (req->staff_ids_size() > 500) v.Add("staff_ids", "at most 500 ids");
    for (int i = 0; i < req->staff_ids_size() && i < 500; ++i)
      v.Merge(CheckId(absl::StrCat("staff_ids[", i, "]"), req->staff_ids(i), kMaxIdChars, true));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::vector<std::string> ids(req->staff_ids().begin(), req->staff_ids().end());
    KEFU_ASSIGN_OR_RETURN(auto active, repo_->ActiveStaff(ids));
    std::set<std::string> active_set(active.begin(), active.end());
    std::set<std::string> seen;
    for (const auto& id : ids) {
      if (!seen.insert(id).second) continue;
      (active_set.count(id) ? resp->add_active_ids() : resp->add_unknown_or_inactive_ids())->assign(id);
    }
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::UpdateStaff(grpc::ServerContext* ctx, const pb::UpdateStaffRequest* req,
                                                 pb::Staff* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_staff()) return RequiredField("staff");
    Validator v;
    v.Merge(CheckId("staff.id", req->staff().id(), kMaxIdChars, true));
    if (req->staff().version() <= 0) v.Add("staff.version", "is required");
    std::vector<std::string> paths(req->update_mask().paths().begin(), req->update_mask().paths().end());
    if (paths.empty()) v.Add("update_mask", "name at least one field");
    for (const auto& p : paths)
      if (!StaffUpdatePaths().count(p)) v.Add("update_mask", absl::StrCat("\"", p, "\" cannot be updated"));
    v.MergePatch(ValidateStaff(req->staff()), "staff", paths);
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->UpdateStaff(req->staff().id(), req->staff().version(),
                                                    [&](const pb::Staff& current) -> absl::StatusOr<pb::Staff> {
                                                      pb::Staff updated =
                                                          ApplyStaffUpdate(current, req->staff(), paths);
                                                      if (updated.status() == pb::STAFF_STATUS_UNSPECIFIED)
                                                        updated.set_status(current.status());
                                                      KEFU_RETURN_IF_ERROR(ValidateStaff(updated));
                                                      return updated;
                                                    },
                                                    IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListStaff(grpc::ServerContext*, const pb::ListStaffRequest* req,
                                               pb::ListStaffResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckId("superior_id", req->superior_id(), kMaxIdChars, false));
    v.Merge(CheckEnum("status", req->status(), pb::StaffStatus_IsValid, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::ListStaffRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    std::string after;
    if (!req->page_token().empty()) {
      KEFU_ASSIGN_OR_RETURN(auto keys, DecodePageToken(req->page_token(), fp, 1));
      after = keys[0];
    }
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto staff, repo_->ListStaff(req->department_id(), req->superior_id(), req->status(),
                                                       EffectivePageSize(req->page_size()), after, &more));
    for (auto& s : staff) *resp->add_staff() = std::move(s);
    if (more) resp->set_next_page_token(EncodePageToken(fp, {resp->staff(resp->staff_size() - 1).id()}));
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------- targets

grpc::Status PerformanceServiceImpl::CreateTarget(grpc::ServerContext* ctx, const pb::CreateTargetRequest* req,
                                                  pb::Target* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_target()) return RequiredField("target");
    const pb::Target& t = req->target();
    Validator v;
    if (t.parent_id() < 0) v.Add("target.parent_id", "must not be negative");
    v.Merge(CheckEnum("target.level", t.level(), pb::TargetLevel_IsValid, true));
    if (t.level() == pb::TARGET_LEVEL_COMPANY && !t.subject_id().empty())
      v.Add("target.subject_id", "must be empty for the company");
    if (t.level() > pb::TARGET_LEVEL_COMPANY) v.Merge(CheckText("target.subject_id", t.subject_id(), kMaxIdChars, true));
    if (auto p = ParsePeriod(t.period()); !p.ok()) v.Add("target.period", std::string(p.status().message()));
    v.Merge(CheckId("target.metric", t.metric(), kMaxIdChars, true));
    CheckTargetFigure("target.target", t.target(), v);
    CheckTargetFigure("target.actual", t.actual(), v);
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreateTarget(t, IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetTarget(grpc::ServerContext*, const pb::GetTargetRequest* req,
                                               pb::Target* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckPositiveId("target_id", req->target_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->GetTarget(req->target_id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListTargets(grpc::ServerContext*, const pb::ListTargetsRequest* req,
                                                 pb::ListTargetsResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    if (req->parent_id() < 0) v.Add("parent_id", "must not be negative");
    if (req->roots_only() && req->parent_id() > 0) v.Add("roots_only", "cannot be combined with parent_id");
    if (!req->period().empty())
      if (auto p = ParsePeriod(req->period()); !p.ok()) v.Add("period", std::string(p.status().message()));
    v.Merge(CheckEnum("level", req->level(), pb::TargetLevel_IsValid, false));
    v.Merge(CheckText("subject_id", req->subject_id(), kMaxIdChars, false));
    v.Merge(CheckId("metric", req->metric(), kMaxIdChars, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::ListTargetsRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    TargetFilter f{req->parent_id(), req->roots_only(), req->period(), req->subject_id(), req->metric(), req->level()};
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto targets, repo_->ListTargets(f, EffectivePageSize(req->page_size()), after, &more));
    for (auto& t : targets) *resp->add_targets() = std::move(t);
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->targets(resp->targets_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::RecordTargetActual(grpc::ServerContext* ctx,
                                                        const pb::RecordTargetActualRequest* req, pb::Target* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("target_id", req->target_id()));
    if (req->version() <= 0) v.Add("version", "is required");
    CheckTargetFigure("actual", req->actual(), v);
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    auto record = [&](pb::Target& t) {
      t.set_actual(req->actual());
      return absl::OkStatus();
    };
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->UpdateTarget(req->target_id(), req->version(), record,
                                                     "performance.RecordTargetActual", IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ReviseTarget(grpc::ServerContext* ctx, const pb::ReviseTargetRequest* req,
                                                  pb::Target* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("target_id", req->target_id()));
    if (req->version() <= 0) v.Add("version", "is required");
    CheckTargetFigure("new_target", req->new_target(), v);
    v.Merge(CheckText("reason", req->reason(), 500, true));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    auto revise = [&](pb::Target& t) {
      t.set_target(req->new_target());
      t.set_exempt(true);
      t.set_revision_reason(req->reason());
      t.set_revision_approved_by(caller.ActorOrSystem());
      return absl::OkStatus();
    };
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->UpdateTarget(req->target_id(), req->version(), revise,
                                                     "performance.ReviseTarget", IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::CheckTargetRollup(grpc::ServerContext*, const pb::CheckTargetRollupRequest* req,
                                                       pb::CheckTargetRollupResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckPositiveId("root_id", req->root_id()));
    KEFU_ASSIGN_OR_RETURN(auto tree, repo_->TargetTree(req->root_id()));
    std::vector<TargetNode> nodes;
    for (const auto& t : tree)
      nodes.push_back({t.id(), t.id() == req->root_id() ? 0 : t.parent_id(), t.target(), t.actual(), t.exempt()});
    KEFU_ASSIGN_OR_RETURN(auto violations, CheckRollup(nodes));
    resp->set_targets_checked(static_cast<int32_t>(nodes.size()));
    for (const auto& v : violations) {
      auto* out = resp->add_violations();
      out->set_parent_id(v.parent_id);
      out->set_parent_target(v.parent_target);
      out->set_children_sum(v.children_sum);
      out->set_shortfall(v.shortfall);
    }
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------- plans

grpc::Status PerformanceServiceImpl::CreatePlan(grpc::ServerContext*, const pb::CreatePlanRequest* req,
                                                pb::Plan* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_plan()) return RequiredField("plan");
    pb::Plan p = req->plan();
    Validator v;
    v.Merge(CheckText("plan.title", p.title(), kMaxNameChars, true));
    v.Merge(CheckEnum("plan.type", p.type(), pb::PlanType_IsValid, true));
    v.Merge(CheckEnum("plan.assignee_kind", p.assignee_kind(), pb::AssigneeKind_IsValid, true));
    v.Merge(CheckId("plan.assignee_id", p.assignee_id(), kMaxIdChars, true));
    auto range = DayRange("plan.start_date", p.start_date(), "plan.end_date", p.end_date(), 366);
    v.Merge(range.status());
    v.Merge(CheckCount("plan.target_count", p.target_count()));
    v.Merge(CheckCount("plan.minimum_count", p.minimum_count()));
    if (p.target_count() == 0) v.Add("plan.target_count", "must be positive");
    if (p.minimum_count() > p.target_count()) v.Add("plan.minimum_count", "must not exceed target_count");
    v.Merge(CheckMoney("plan.planned_cost", p.planned_cost(), CurrencyOptional()));
    v.Merge(CheckText("plan.content", p.content(), kMaxTextChars, false));
    v.Merge(CheckText("plan.purpose", p.purpose(), 1000, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    if (p.planned_cost().currency_code().empty()) p.mutable_planned_cost()->set_currency_code("CNY");
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreatePlan(p, IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetPlan(grpc::ServerContext*, const pb::GetPlanRequest* req, pb::Plan* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckPositiveId("plan_id", req->plan_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->GetPlan(req->plan_id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListPlans(grpc::ServerContext*, const pb::ListPlansRequest* req,
                                               pb::ListPlansResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    v.Merge(CheckEnum("assignee_kind", req->assignee_kind(), pb::AssigneeKind_IsValid, false));
    v.Merge(CheckId("assignee_id", req->assignee_id(), kMaxIdChars, false));
    v.Merge(CheckEnum("type", req->type(), pb::PlanType_IsValid, false));
    std::optional<absl::CivilDay> from, to;
    if (!req->from().empty()) {
      auto d = ParseDate("from", req->from());
      v.Merge(d.status());
      if (d.ok()) from = *d;
    }
    if (!req->to().empty()) {
      auto d = ParseDate("to", req->to());
      v.Merge(d.status());
      if (d.ok()) to = *d;
    }
    if (from && to && *to < *from) v.Add("to", "must not be before from");
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::ListPlansRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    PlanFilter f{req->assignee_kind(), req->assignee_id(), req->type(), from, to};
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto plans, repo_->ListPlans(f, EffectivePageSize(req->page_size()), after, &more));
    for (auto& p : plans) *resp->add_plans() = std::move(p);
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->plans(resp->plans_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::RecordPlanExecution(grpc::ServerContext* ctx,
                                                         const pb::RecordPlanExecutionRequest* req, pb::Plan* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("plan_id", req->plan_id()));
    auto day = ParseDate("date", req->date());
    v.Merge(day.status());
    v.Merge(CheckCount("count", req->count()));
    v.Merge(CheckMoney("cost", req->cost(), CurrencyOptional()));
    if (req->count() == 0 && req->cost().amount_minor() == 0) v.Add("count", "count or cost must be positive");
    v.Merge(CheckText("note", req->note(), 1000, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(pb::Plan plan, repo_->GetPlan(req->plan_id()));
    if (!req->cost().currency_code().empty() && req->cost().currency_code() != plan.planned_cost().currency_code())
      return InvalidField("cost.currency_code", absl::StrCat("must be the plan's currency ",
                                                             plan.planned_cost().currency_code()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->RecordExecution(req->plan_id(), *day, req->count(), req->cost().amount_minor(),
                                                        req->note(), CallerFrom(*ctx).ActorOrSystem(),
                                                        IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::CancelPlan(grpc::ServerContext*, const pb::CancelPlanRequest* req,
                                                pb::Plan* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("plan_id", req->plan_id()));
    if (req->version() <= 0) v.Add("version", "is required");
    v.Merge(CheckText("reason", req->reason(), 500, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CancelPlan(req->plan_id(), req->version(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetPlanProgress(grpc::ServerContext*, const pb::GetPlanProgressRequest* req,
                                                     pb::PlanProgress* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckEnum("assignee_kind", req->assignee_kind(), pb::AssigneeKind_IsValid, true));
    v.Merge(CheckId("assignee_id", req->assignee_id(), kMaxIdChars, true));
    auto range = DayRange("from", req->from(), "to", req->to(), 731);
    v.Merge(range.status());
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(auto totals, repo_->Totals(req->assignee_kind(), req->assignee_id(), {req->assignee_id()},
                                                     range->first, range->second));
    resp->set_plans(totals.plans);
    resp->set_target_count(totals.target_count);
    resp->set_actual_count(totals.actual_count);
    resp->set_progress_bp(totals.target_count > 0
                              ? static_cast<int32_t>(std::min<int64_t>(totals.actual_count * 10000 / totals.target_count,
                                                                       1'000'000))
                              : 0);
    resp->set_plans_minimum_met(totals.plans_minimum_met);
    resp->set_planned_cost_minor(totals.planned_cost_minor);
    resp->set_actual_cost_minor(totals.actual_cost_minor);
    for (auto& p : totals.periods) *resp->add_periods() = std::move(p);
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------- scorecards

absl::StatusOr<pb::ScorecardPolicy> PerformanceServiceImpl::Policy() {
  auto stored = db::LoadSetting<pb::ScorecardPolicy>(*pool_, kPolicySetting);
  if (stored.ok() || stored.status().code() != absl::StatusCode::kNotFound) return stored;
  pb::ScorecardPolicy policy;
  for (const auto& c : DefaultScorecardPolicy()) {
    auto* out = policy.add_components();
    out->set_component(c.component);
    out->set_weight(c.weight);
    out->set_monthly_target(c.monthly_target);
  }
  return policy;
}

grpc::Status PerformanceServiceImpl::GetScorecard(grpc::ServerContext* ctx, const pb::GetScorecardRequest* req,
                                                  pb::Scorecard* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckEnum("subject_kind", req->subject_kind(), pb::SubjectKind_IsValid, true));
    v.Merge(CheckId("subject_id", req->subject_id(), kMaxIdChars, true));
    auto range = DayRange("from", req->from(), "to", req->to(), 366);
    v.Merge(range.status());
    KEFU_RETURN_IF_ERROR(v.Finish());
    bool department = req->subject_kind() == pb::SUBJECT_KIND_DEPARTMENT;
    int headcount = 1;
    if (department) {
      KEFU_RETURN_IF_ERROR(repo_->GetDepartment(req->subject_id()).status());
      KEFU_ASSIGN_OR_RETURN(headcount, repo_->Headcount({req->subject_id()}));
    } else {
      KEFU_RETURN_IF_ERROR(repo_->GetStaff(req->subject_id()).status());
    }
    KEFU_ASSIGN_OR_RETURN(pb::ScorecardPolicy policy, Policy());
    auto [from, to] = *range;
    KEFU_ASSIGN_OR_RETURN(PlanTotals plans,
                          repo_->Totals(department ? pb::ASSIGNEE_KIND_DEPARTMENT : pb::ASSIGNEE_KIND_PERSON,
                                        req->subject_id(), {req->subject_id()}, from, to));
    Figures figures = FetchFigures(config_.peers, {department, req->subject_id()},
                                   absl::FromCivil(from, config_.zone), absl::FromCivil(to + 1, config_.zone),
                                   absl::FormatCivilTime(from), absl::FormatCivilTime(to), CallerFrom(*ctx));
    double months = static_cast<double>(to - from + 1) / (365.25 / 12);
    auto inputs = BuildInputs(FromProto(policy), plans, figures, months, headcount);
    std::vector<ScoreInput> score_inputs;
    for (const auto& in : inputs) score_inputs.push_back(in.input);
    KEFU_ASSIGN_OR_RETURN(Scorecard card, ComputeScorecard(score_inputs));
    resp->set_subject_kind(req->subject_kind());
    resp->set_subject_id(req->subject_id());
    resp->set_from(req->from());
    resp->set_to(req->to());
    resp->set_policy_version(policy.version());
    for (size_t i = 0; i < card.lines.size(); ++i) {
      const ScoreLine& l = card.lines[i];
      auto* out = resp->add_lines();
      out->set_component(l.component);
      out->set_group(inputs[i].group);
      out->set_source(l.source);
      out->set_value(l.value);
      out->set_target(l.target);
      out->set_weight(l.weight);
      out->set_achievement(l.achievement);
      out->set_points(l.points);
      out->set_available(l.available);
      out->set_note(inputs[i].note);
    }
    resp->set_total(card.total);
    for (const auto& u : card.unavailable) resp->add_unavailable(u);
    if (!figures.unavailable.empty())
      log::Warn("scorecard computed without some sources", {{"subject_id", req->subject_id()},
                                                            {"missing", absl::StrCat(figures.unavailable.size())}});
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetScorecardPolicy(grpc::ServerContext*, const pb::GetScorecardPolicyRequest*,
                                                        pb::ScorecardPolicy* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_ASSIGN_OR_RETURN(*resp, Policy());
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::UpdateScorecardPolicy(grpc::ServerContext* ctx,
                                                           const pb::UpdateScorecardPolicyRequest* req,
                                                           pb::ScorecardPolicy* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_policy()) return RequiredField("policy");
    if (req->policy().version() < 0) return InvalidField("policy.version", "must not be negative");
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    if (absl::Status s = ValidateScorecardPolicy(FromProto(req->policy())); !s.ok()) {
      // The rules say "<field>: <what is wrong>"; name the field in the gRPC error.
      std::string message(s.message());
      size_t colon = message.find(": ");
      if (colon == std::string::npos) return InvalidField("policy.components", message);
      return InvalidField(message.substr(0, colon), message.substr(colon + 2));
    }
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SavePolicy(kPolicySetting, req->policy(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------- 360 evaluation

grpc::Status PerformanceServiceImpl::CreateEvaluationCycle(grpc::ServerContext* ctx,
                                                           const pb::CreateEvaluationCycleRequest* req,
                                                           pb::EvaluationCycle* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_cycle()) return RequiredField("cycle");
    const pb::EvaluationCycle& c = req->cycle();
    Validator v;
    v.Merge(CheckText("cycle.name", c.name(), kMaxNameChars, true));
    v.Merge(CheckEnum("cycle.kind", c.kind(), pb::CycleKind_IsValid, true));
    auto period = ParsePeriod(c.period());
    if (!period.ok()) {
      v.Add("cycle.period", std::string(period.status().message()));
    } else {
      Period::Kind want = c.kind() == pb::CYCLE_KIND_QUARTERLY     ? Period::Kind::kQuarter
                          : c.kind() == pb::CYCLE_KIND_HALF_YEARLY ? Period::Kind::kHalf
                                                                   : Period::Kind::kYear;
      if (c.kind() != pb::CYCLE_KIND_UNSPECIFIED && period->kind != want)
        v.Add("cycle.period", "must match the kind: YYYY-Qn quarterly, YYYY-Hn half-yearly, YYYY yearly");
    }
    v.Merge(CheckId("cycle.department_id", c.department_id(), kMaxIdChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    // Reporting lines now: who is in scope, their superiors and their peers.
    std::vector<pb::Staff> staff;
    for (std::string after;;) {
      bool more = false;
      KEFU_ASSIGN_OR_RETURN(auto page, repo_->ListStaff("", "", pb::STAFF_STATUS_ACTIVE, kMaxPageSize, after, &more));
      for (auto& s : page) staff.push_back(std::move(s));
      if (!more || staff.empty()) break;
      after = staff.back().id();
    }
    std::set<std::string> in_scope;
    if (c.department_id().empty()) {
      for (const auto& s : staff) in_scope.insert(s.id());
    } else {
      KEFU_RETURN_IF_ERROR(repo_->GetDepartment(c.department_id()).status());
      KEFU_ASSIGN_OR_RETURN(auto departments, repo_->ListDepartments());
      std::set<std::string> subtree{c.department_id()};
      for (bool grew = true; grew;) {
        grew = false;
        for (const auto& d : departments)
          if (subtree.count(d.parent_id()) && subtree.insert(d.id()).second) grew = true;
      }
      for (const auto& s : staff)
        if (subtree.count(s.department_id())) in_scope.insert(s.id());
    }
    std::vector<Repository::Assignment> assignments;
    std::map<std::string, std::vector<std::string>> reports;
    for (const auto& s : staff)
      if (in_scope.count(s.id()) && in_scope.count(s.superior_id())) reports[s.superior_id()].push_back(s.id());
    for (const auto& [superior, subordinates] : reports) {
      for (const auto& sub : subordinates) {
        assignments.push_back({superior, sub, pb::RELATION_SUPERIOR});
        assignments.push_back({sub, superior, pb::RELATION_SUBORDINATE});
        if (c.include_peers())
          for (const auto& peer : subordinates)
            if (peer != sub) assignments.push_back({peer, sub, pb::RELATION_PEER});
      }
    }
    if (c.include_self())
      for (const auto& id : in_scope) assignments.push_back({id, id, pb::RELATION_SELF});
    if (assignments.empty())
      return MakeError(absl::StatusCode::kFailedPrecondition, "NOBODY_TO_EVALUATE",
                       "cycle.department_id: no reporting lines in scope, so nobody would rate anybody",
                       {{"cycle.department_id", "has no reporting lines"}});
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreateCycle(c, assignments, IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetEvaluationCycle(grpc::ServerContext*, const pb::GetEvaluationCycleRequest* req,
                                                        pb::EvaluationCycle* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckPositiveId("cycle_id", req->cycle_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->GetCycle(req->cycle_id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListEvaluationCycles(grpc::ServerContext*,
                                                          const pb::ListEvaluationCyclesRequest* req,
                                                          pb::ListEvaluationCyclesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    v.Merge(CheckEnum("status", req->status(), pb::CycleStatus_IsValid, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::ListEvaluationCyclesRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto cycles,
                          repo_->ListCycles(req->status(), EffectivePageSize(req->page_size()), after, &more));
    for (auto& c : cycles) *resp->add_cycles() = std::move(c);
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->cycles(resp->cycles_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListMyEvaluationTasks(grpc::ServerContext* ctx,
                                                           const pb::ListMyEvaluationTasksRequest* req,
                                                           pb::ListMyEvaluationTasksResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckPositiveId("cycle_id", req->cycle_id()));
    Caller caller = CallerFrom(*ctx);
    if (caller.staff_id.empty())
      return MakeError(absl::StatusCode::kUnauthenticated, "IDENTITY_REQUIRED",
                       "evaluation tasks are per person: the call must say who is asking");
    KEFU_RETURN_IF_ERROR(repo_->GetCycle(req->cycle_id()).status());
    KEFU_ASSIGN_OR_RETURN(auto tasks, repo_->TasksOf(req->cycle_id(), caller.staff_id));
    for (auto& t : tasks) *resp->add_tasks() = std::move(t);
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::SubmitRating(grpc::ServerContext* ctx, const pb::SubmitRatingRequest* req,
                                                  pb::SubmitRatingResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("cycle_id", req->cycle_id()));
    v.Merge(CheckId("ratee_id", req->ratee_id(), kMaxIdChars, true));
    if (req->score() < 1 || req->score() > 5) v.Add("score", "must be within 1..5");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    if (caller.staff_id.empty())
      return MakeError(absl::StatusCode::kUnauthenticated, "IDENTITY_REQUIRED",
                       "a rating must come from an identified rater");
    // The answer carries progress only (see Repository::SubmitRating).
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SubmitRating(req->cycle_id(), caller.staff_id, req->ratee_id(), req->score(),
                                                     IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::CloseEvaluationCycle(grpc::ServerContext* ctx,
                                                          const pb::CloseEvaluationCycleRequest* req,
                                                          pb::EvaluationCycle* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("cycle_id", req->cycle_id()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CloseCycle(req->cycle_id(), Aggregate, IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::GetEvaluationResult(grpc::ServerContext*,
                                                         const pb::GetEvaluationResultRequest* req,
                                                         pb::EvaluationResult* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPositiveId("cycle_id", req->cycle_id()));
    v.Merge(CheckId("staff_id", req->staff_id(), kMaxIdChars, true));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(auto cycle, repo_->GetCycle(req->cycle_id()));
    if (cycle.status() != pb::CYCLE_STATUS_CLOSED)
      return MakeError(absl::StatusCode::kFailedPrecondition, "CYCLE_OPEN",
                       "results are published when the cycle closes");
    KEFU_ASSIGN_OR_RETURN(auto results, repo_->Results(req->cycle_id(), req->staff_id()));
    if (results.empty()) return NotFound("evaluation result", req->staff_id());
    *resp = std::move(results[0]);
    return absl::OkStatus();
  });
}

grpc::Status PerformanceServiceImpl::ListEvaluationResults(grpc::ServerContext*,
                                                           const pb::ListEvaluationResultsRequest* req,
                                                           pb::ListEvaluationResultsResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckPositiveId("cycle_id", req->cycle_id()));
    KEFU_ASSIGN_OR_RETURN(auto cycle, repo_->GetCycle(req->cycle_id()));
    if (cycle.status() != pb::CYCLE_STATUS_CLOSED)
      return MakeError(absl::StatusCode::kFailedPrecondition, "CYCLE_OPEN",
                       "results are published when the cycle closes");
    KEFU_ASSIGN_OR_RETURN(auto results, repo_->Results(req->cycle_id(), ""));
    for (auto& r : results) *resp->add_results() = std::move(r);
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------- control charts

grpc::Status PerformanceServiceImpl::GetControlChart(grpc::ServerContext* ctx, const pb::GetControlChartRequest* req,
                                                     pb::ControlChart* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckEnum("measure", req->measure(), pb::QualityMeasure_IsValid, true));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    absl::CivilDay end = Today();
    if (!req->end_date().empty()) {
      auto d = ParseDate("end_date", req->end_date());
      v.Merge(d.status());
      if (d.ok()) end = *d;
    }
    int weeks = req->weeks() == 0 ? 12 : req->weeks();
    if (weeks < 4 || weeks > 104) v.Add("weeks", "must be within 4..104");
    KEFU_RETURN_IF_ERROR(v.Finish());
    // Monday of the end day's ISO week, then back to the first week of the series.
    int since_monday = (static_cast<int>(absl::GetWeekday(end)) - static_cast<int>(absl::Weekday::monday) + 7) % 7;
    absl::CivilDay first_monday = end - since_monday - 7 * (weeks - 1);
    namespace cp = ::kefu::complaints::v1;
    auto measure = static_cast<cp::QualityMeasure>(static_cast<int>(req->measure()));
    KEFU_ASSIGN_OR_RETURN(auto series, FetchQualitySeries(config_.peers, measure, req->department_id(),
                                                          absl::FromCivil(first_monday, config_.zone), weeks,
                                                          CallerFrom(*ctx)));
    ControlChart chart;
    std::vector<int64_t> sizes;
    if (req->measure() == pb::QUALITY_MEASURE_OVERDUE_RATE) {
      std::vector<RatePoint> points;
      for (const auto& w : series.weeks()) {
        points.push_back({w.week(), w.defects(), w.total()});
        sizes.push_back(w.total());
      }
      KEFU_ASSIGN_OR_RETURN(chart, PChart(points));
      resp->set_chart_type("p");
    } else {
      std::vector<MeanPoint> points;
      for (const auto& w : series.weeks()) {
        points.push_back({w.week(), w.mean(), w.n(), w.stddev()});
        sizes.push_back(w.n());
      }
      KEFU_ASSIGN_OR_RETURN(chart, XBarChart(points));
      resp->set_chart_type("xbar");
    }
    resp->set_measure(req->measure());
    resp->set_center_line(chart.center_line);
    resp->set_out_of_control(chart.out_of_control);
    int empty = 0;
    for (size_t i = 0; i < chart.points.size(); ++i) {
      const ChartPoint& p = chart.points[i];
      auto* out = resp->add_points();
      out->set_week(p.period);
      out->set_value(p.value);
      out->set_lower_limit(p.lower_limit);
      out->set_upper_limit(p.upper_limit);
      out->set_out_of_control(p.out_of_control);
      out->set_n(sizes[i]);
      if (sizes[i] == 0) ++empty;
    }
    resp->set_empty_weeks(empty);
    metrics_->SetOutOfControl(req->measure(), chart.out_of_control);
    return absl::OkStatus();
  });
}

}  // namespace kefu::performance
