// kefuctl performance ...: every call of kefu.performance.v1.PerformanceService.

#include <google/protobuf/field_mask.pb.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "commands.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "output.h"
#include "rpc.h"

namespace kefuctl {
namespace {

namespace pb = ::kefu::performance::v1;
using Stub = pb::PerformanceService::Stub;

std::unique_ptr<Stub> NewStub(Invocation& inv) { return pb::PerformanceService::NewStub(inv.channel()); }

int64_t NumberArg(const Invocation& inv, size_t i, absl::string_view what) { return inv.IdArg(i, what); }

// ---- departments and staff ----

int DepartmentCreate(Invocation& inv) {
  pb::CreateDepartmentRequest req;
  auto* d = req.mutable_department();
  d->set_id(inv.args()[0]);
  d->set_name(inv.Str("name"));
  d->set_parent_id(inv.Str("parent"));
  d->set_manager_id(inv.Str("manager"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateDepartment, req);
}

int Departments(Invocation& inv) {
  pb::ListDepartmentsRequest req;
  req.set_root_id(inv.Str("root"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListDepartments, req);
}

// Staff fields shared by create and update; returns the field names given.
std::vector<std::string> ApplyStaffFlags(const Invocation& inv, pb::Staff* s) {
  std::vector<std::string> set;
  auto str = [&](const char* flag, const char* field, void (pb::Staff::*setter)(const std::string&)) {
    if (inv.Has(flag)) {
      (s->*setter)(inv.Str(flag));
      set.push_back(field);
    }
  };
  str("name", "name", &pb::Staff::set_name);
  str("department", "department_id", &pb::Staff::set_department_id);
  str("position", "position", &pb::Staff::set_position);
  str("superior", "superior_id", &pb::Staff::set_superior_id);
  str("phone", "phone", &pb::Staff::set_phone);
  str("email", "email", &pb::Staff::set_email);
  if (inv.Has("role")) {
    s->set_role(inv.Enum<pb::Role>("role"));
    set.push_back("role");
  }
  if (inv.Has("status")) {
    s->set_status(inv.Enum<pb::StaffStatus>("status"));
    set.push_back("status");
  }
  if (inv.Has("training")) {
    // Each --training is "COURSE[:YYYY-MM-DD[:RESULT]]".
    for (const auto& spec : inv.All("training")) {
      std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 2));
      auto* t = s->add_training();
      t->set_course(parts[0]);
      if (parts.size() > 1) t->set_completed_on(parts[1]);
      if (parts.size() > 2) t->set_result(parts[2]);
    }
    set.push_back("training");
  }
  return set;
}

std::vector<Flag> StaffFieldFlags() {
  return {ValueFlag("name", "TEXT", "full name"),
          ValueFlag("department", "DEPT_ID", "department"),
          ValueFlag("position", "TEXT", "position"),
          EnumFlag<pb::Role>("role", "agent, account-manager, department-manager, senior-manager, hr"),
          ValueFlag("superior", "STAFF_ID", "direct superior"),
          ValueFlag("phone", "PHONE", "work phone"),
          ValueFlag("email", "EMAIL", "work email"),
          RepeatedFlag("training", "COURSE[:DATE[:RESULT]]", "a training record (repeat; replaces all on update)")};
}

int StaffCreate(Invocation& inv) {
  pb::CreateStaffRequest req;
  auto* s = req.mutable_staff();
  s->set_id(inv.args()[0]);
  s->set_employee_number(inv.Str("employee-number", inv.args()[0]));
  ApplyStaffFlags(inv, s);
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateStaff, req);
}

int DepartmentGet(Invocation& inv) {
  pb::GetDepartmentRequest req;
  req.set_department_id(inv.args()[0]);
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetDepartment, req);
}

int StaffGet(Invocation& inv) {
  pb::GetStaffRequest req;
  req.set_staff_id(inv.args()[0]);
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetStaff, req);
}

int StaffUpdate(Invocation& inv) {
  pb::UpdateStaffRequest req;
  req.mutable_staff()->set_id(inv.args()[0]);
  req.mutable_staff()->set_version(inv.Int("version"));
  for (const auto& f : ApplyStaffFlags(inv, req.mutable_staff())) req.mutable_update_mask()->add_paths(f);
  if (req.update_mask().paths_size() == 0) inv.UsageError("give at least one field to change");
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateStaff, req);
}

int StaffList(Invocation& inv) {
  pb::ListStaffRequest req;
  req.set_department_id(inv.Str("department"));
  req.set_superior_id(inv.Str("superior"));
  req.set_status(inv.Enum<pb::StaffStatus>("status"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListStaff, req);
}

int StaffCheck(Invocation& inv) {
  pb::CheckStaffRequest req;
  for (const auto& id : inv.args()) req.add_staff_ids(id);
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CheckStaff, req);
}

// ---- targets ----

int TargetCreate(Invocation& inv) {
  pb::CreateTargetRequest req;
  auto* t = req.mutable_target();
  t->set_parent_id(inv.Int("parent"));
  t->set_level(inv.Enum<pb::TargetLevel>("level"));
  t->set_subject_id(inv.Str("subject"));
  t->set_period(inv.Str("period"));
  t->set_metric(inv.Str("metric"));
  t->set_target(inv.Int("target"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateTarget, req);
}

int TargetGet(Invocation& inv) {
  pb::GetTargetRequest req;
  req.set_target_id(NumberArg(inv, 0, "target id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetTarget, req);
}

int TargetList(Invocation& inv) {
  pb::ListTargetsRequest req;
  req.set_parent_id(inv.Int("parent"));
  req.set_roots_only(inv.Bool("roots"));
  req.set_period(inv.Str("period"));
  req.set_level(inv.Enum<pb::TargetLevel>("level"));
  req.set_subject_id(inv.Str("subject"));
  req.set_metric(inv.Str("metric"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListTargets, req);
}

int TargetActual(Invocation& inv) {
  pb::RecordTargetActualRequest req;
  req.set_target_id(NumberArg(inv, 0, "target id"));
  req.set_version(inv.Int("version"));
  req.set_actual(inv.Int("actual"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordTargetActual, req);
}

int TargetRevise(Invocation& inv) {
  pb::ReviseTargetRequest req;
  req.set_target_id(NumberArg(inv, 0, "target id"));
  req.set_version(inv.Int("version"));
  req.set_new_target(inv.Int("target"));
  req.set_reason(inv.Str("reason"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ReviseTarget, req);
}

int TargetRollup(Invocation& inv) {
  pb::CheckTargetRollupRequest req;
  req.set_root_id(NumberArg(inv, 0, "target id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CheckTargetRollup, req);
}

// ---- plans ----

// Exactly one of --person and --department.
void Assignee(const Invocation& inv, pb::AssigneeKind* kind, std::string* id) {
  if (inv.Has("department") == inv.Has("person")) inv.UsageError("give exactly one of --person and --department");
  *kind = inv.Has("department") ? pb::ASSIGNEE_KIND_DEPARTMENT : pb::ASSIGNEE_KIND_PERSON;
  *id = inv.Has("department") ? inv.Str("department") : inv.Str("person");
}


int PlanCreate(Invocation& inv) {
  pb::CreatePlanRequest req;
  auto* p = req.mutable_plan();
  p->set_title(inv.Str("title"));
  p->set_type(inv.Enum<pb::PlanType>("type"));
  pb::AssigneeKind kind;
  Assignee(inv, &kind, p->mutable_assignee_id());
  p->set_assignee_kind(kind);
  p->set_start_date(inv.Str("from"));
  p->set_end_date(inv.Str("to"));
  p->set_target_count(inv.Int("target"));
  p->set_minimum_count(inv.Int("minimum"));
  if (auto cost = inv.Money("cost", inv.Str("currency", "CNY"))) *p->mutable_planned_cost() = *cost;
  p->set_content(inv.Str("content"));
  p->set_purpose(inv.Str("purpose"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreatePlan, req);
}

int PlanGet(Invocation& inv) {
  pb::GetPlanRequest req;
  req.set_plan_id(NumberArg(inv, 0, "plan id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetPlan, req);
}

int PlanList(Invocation& inv) {
  pb::ListPlansRequest req;
  if (inv.Has("person") || inv.Has("department")) {
    pb::AssigneeKind kind;
    Assignee(inv, &kind, req.mutable_assignee_id());
    req.set_assignee_kind(kind);
  }
  req.set_type(inv.Enum<pb::PlanType>("type"));
  req.set_from(inv.Str("from"));
  req.set_to(inv.Str("to"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListPlans, req);
}

int PlanRecord(Invocation& inv) {
  pb::RecordPlanExecutionRequest req;
  req.set_plan_id(NumberArg(inv, 0, "plan id"));
  req.set_date(inv.Str("date"));
  req.set_count(inv.Int("count"));
  if (auto cost = inv.Money("cost", inv.Str("currency", ""))) *req.mutable_cost() = *cost;
  req.set_note(inv.Str("note"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordPlanExecution, req);
}

int PlanCancel(Invocation& inv) {
  pb::CancelPlanRequest req;
  req.set_plan_id(NumberArg(inv, 0, "plan id"));
  req.set_version(inv.Int("version"));
  req.set_reason(inv.Str("reason"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CancelPlan, req);
}

int PlanProgress(Invocation& inv) {
  pb::GetPlanProgressRequest req;
  pb::AssigneeKind kind;
  Assignee(inv, &kind, req.mutable_assignee_id());
  req.set_assignee_kind(kind);
  req.set_from(inv.Str("from"));
  req.set_to(inv.Str("to"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetPlanProgress, req);
}

// ---- scorecards ----

int Scorecard(Invocation& inv) {
  pb::GetScorecardRequest req;
  pb::AssigneeKind kind;
  Assignee(inv, &kind, req.mutable_subject_id());
  req.set_subject_kind(kind == pb::ASSIGNEE_KIND_DEPARTMENT ? pb::SUBJECT_KIND_DEPARTMENT : pb::SUBJECT_KIND_PERSON);
  req.set_from(inv.Str("from"));
  req.set_to(inv.Str("to"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetScorecard, req);
}

int Policy(Invocation& inv) {
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetScorecardPolicy, pb::GetScorecardPolicyRequest());
}

int SetWeights(Invocation& inv) {
  auto stub = NewStub(inv);
  pb::ScorecardPolicy policy;
  if (!CallOnce(inv, *stub, &Stub::GetScorecardPolicy, pb::GetScorecardPolicyRequest(), &policy)) return kExitRpcError;
  // Each --weight is "COMPONENT=WEIGHT[:MONTHLY_TARGET]".
  for (const auto& spec : inv.All("weight")) {
    std::vector<std::string> kv = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    std::vector<std::string> parts = kv.size() == 2 ? absl::StrSplit(kv[1], ':') : std::vector<std::string>{};
    double weight = 0, target = 0;
    if (kv.size() != 2 || parts.empty() || !absl::SimpleAtod(parts[0], &weight) ||
        (parts.size() > 1 && !absl::SimpleAtod(parts[1], &target)))
      inv.UsageError(absl::StrCat("--weight '", spec, "': expected COMPONENT=WEIGHT[:MONTHLY_TARGET]"));
    pb::ScorecardComponentPolicy* found = nullptr;
    for (auto& c : *policy.mutable_components())
      if (c.component() == kv[0]) found = &c;
    if (found == nullptr) {
      found = policy.add_components();
      found->set_component(kv[0]);
    }
    found->set_weight(weight);
    if (parts.size() > 1) found->set_monthly_target(target);
  }
  pb::UpdateScorecardPolicyRequest req;
  *req.mutable_policy() = policy;
  return CallAndPrint(inv, *stub, &Stub::UpdateScorecardPolicy, req);
}

// ---- 360 evaluation ----

int CycleCreate(Invocation& inv) {
  pb::CreateEvaluationCycleRequest req;
  auto* c = req.mutable_cycle();
  c->set_name(inv.Str("name"));
  c->set_kind(inv.Enum<pb::CycleKind>("kind"));
  c->set_period(inv.Str("period"));
  c->set_department_id(inv.Str("department"));
  c->set_include_peers(inv.Bool("peers"));
  c->set_include_self(inv.Bool("self"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateEvaluationCycle, req);
}

int CycleGet(Invocation& inv) {
  pb::GetEvaluationCycleRequest req;
  req.set_cycle_id(NumberArg(inv, 0, "cycle id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetEvaluationCycle, req);
}

int CycleList(Invocation& inv) {
  pb::ListEvaluationCyclesRequest req;
  req.set_status(inv.Enum<pb::CycleStatus>("status"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListEvaluationCycles, req);
}

int Tasks(Invocation& inv) {
  pb::ListMyEvaluationTasksRequest req;
  req.set_cycle_id(NumberArg(inv, 0, "cycle id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListMyEvaluationTasks, req);
}

int Rate(Invocation& inv) {
  pb::SubmitRatingRequest req;
  req.set_cycle_id(NumberArg(inv, 0, "cycle id"));
  req.set_ratee_id(inv.Str("staff"));
  req.set_score(inv.Int32("score"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::SubmitRating, req);
}

int CycleClose(Invocation& inv) {
  pb::CloseEvaluationCycleRequest req;
  req.set_cycle_id(NumberArg(inv, 0, "cycle id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CloseEvaluationCycle, req);
}

int Results(Invocation& inv) {
  auto stub = NewStub(inv);
  if (inv.Has("staff")) {
    pb::GetEvaluationResultRequest req;
    req.set_cycle_id(NumberArg(inv, 0, "cycle id"));
    req.set_staff_id(inv.Str("staff"));
    return CallAndPrint(inv, *stub, &Stub::GetEvaluationResult, req);
  }
  pb::ListEvaluationResultsRequest req;
  req.set_cycle_id(NumberArg(inv, 0, "cycle id"));
  return CallAndPrint(inv, *stub, &Stub::ListEvaluationResults, req);
}

// ---- control charts ----

int Chart(Invocation& inv) {
  pb::GetControlChartRequest req;
  req.set_measure(inv.Enum<pb::QualityMeasure>("measure"));
  req.set_department_id(inv.Str("department"));
  req.set_end_date(inv.Str("end"));
  req.set_weeks(inv.Int32("weeks"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetControlChart, req);
}

}  // namespace

void RegisterPerformanceCommands(Registry& r) {
  RegisterTable(pb::Department::descriptor(),
                {{"ID", "id"}, {"NAME", "name", 24}, {"PARENT", "parent_id"}, {"MANAGER", "manager_id"}});
  RegisterTable(pb::Staff::descriptor(), {{"ID", "id"},
                                          {"NAME", "name", 16},
                                          {"DEPARTMENT", "department_id"},
                                          {"POSITION", "position", 16},
                                          {"ROLE", "role"},
                                          {"SUPERIOR", "superior_id"},
                                          {"STATUS", "status"}});
  RegisterTable(pb::Target::descriptor(), {{"ID", "id"},
                                           {"PARENT", "parent_id"},
                                           {"LEVEL", "level"},
                                           {"SUBJECT", "subject_id"},
                                           {"PERIOD", "period"},
                                           {"METRIC", "metric"},
                                           {"TARGET", "target"},
                                           {"ACTUAL", "actual"},
                                           {"ACHIEVED_BP", "achievement_bp"},
                                           {"EXEMPT", "exempt"}});
  RegisterTable(pb::Plan::descriptor(), {{"ID", "id"},
                                         {"TITLE", "title", 20},
                                         {"TYPE", "type"},
                                         {"ASSIGNEE", "assignee_id"},
                                         {"FROM", "start_date"},
                                         {"TO", "end_date"},
                                         {"TARGET", "target_count"},
                                         {"ACTUAL", "actual_count"},
                                         {"PROGRESS_BP", "progress_bp"},
                                         {"STATUS", "status"}});
  RegisterTable(pb::ScorecardLine::descriptor(), {{"COMPONENT", "component"},
                                                  {"SOURCE", "source"},
                                                  {"VALUE", "value"},
                                                  {"TARGET", "target"},
                                                  {"WEIGHT", "weight"},
                                                  {"ACHIEVED", "achievement"},
                                                  {"POINTS", "points"},
                                                  {"OK", "available"},
                                                  {"NOTE", "note", 36}});
  RegisterTable(pb::EvaluationCycle::descriptor(), {{"ID", "id"},
                                                    {"NAME", "name", 24},
                                                    {"KIND", "kind"},
                                                    {"PERIOD", "period"},
                                                    {"STATUS", "status"},
                                                    {"ASSIGNED", "assignments"},
                                                    {"SUBMITTED", "submitted"}});
  RegisterTable(pb::EvaluationTask::descriptor(),
                {{"RATEE", "ratee_id"}, {"RELATION", "relation"}, {"SUBMITTED", "submitted"}});
  RegisterTable(pb::ControlChartPoint::descriptor(), {{"WEEK", "week"},
                                                      {"VALUE", "value"},
                                                      {"LCL", "lower_limit"},
                                                      {"UCL", "upper_limit"},
                                                      {"N", "n"},
                                                      {"OUT", "out_of_control"}});
  r.AddGroup({"performance", "staff, departments, targets, plans, scorecards, 360 reviews, control charts",
              "KEFU_PERFORMANCE_ADDR", "127.0.0.1:50055"});
  const Flag version = RequiredFlag("version", "N", "current version; refused if it changed");
  const Flag request_id = ValueFlag("request-id", "ID", "idempotency key: a retry with the same id returns the first result");
  const Flag person = ValueFlag("person", "STAFF_ID", "a staff member");
  const Flag department = ValueFlag("department", "DEPT_ID", "a department");

  r.Add({"performance department-create", "ID", "Create a department (needs --roles hr or senior_manager)", "",
         {RequiredFlag("name", "TEXT", "name"), ValueFlag("parent", "DEPT_ID", "parent department"),
          ValueFlag("manager", "STAFF_ID", "its manager")},
         1, 1, DepartmentCreate});
  r.Add({"performance department-get", "ID", "Show a department", "", {}, 1, 1, DepartmentGet});
  r.Add({"performance departments", "", "Departments, parents before children", "",
         {ValueFlag("root", "DEPT_ID", "only this department and those under it")}, 0, 0, Departments});
  std::vector<Flag> staff_create = StaffFieldFlags();
  staff_create.push_back(ValueFlag("employee-number", "NUMBER", "employee number (default: the id)"));
  staff_create.push_back(request_id);
  r.Add({"performance staff-create", "STAFF_ID", "Create a staff profile (needs --roles hr or senior_manager)",
         "Needs --name, --department and --role.", staff_create, 1, 1, StaffCreate});
  r.Add({"performance staff-get", "STAFF_ID", "Show a staff profile", "", {}, 1, 1, StaffGet});
  std::vector<Flag> staff_update = StaffFieldFlags();
  staff_update.push_back(EnumFlag<pb::StaffStatus>("status", "active or left"));
  staff_update.insert(staff_update.begin(), version);
  r.Add({"performance staff-update", "STAFF_ID", "Change a staff profile (needs --roles hr or senior_manager)",
         "Only the fields given change.", staff_update, 1, 1, StaffUpdate});
  r.Add({"performance staff-list", "", "Staff, filtered", "",
         Concat({{ValueFlag("department", "DEPT_ID", "in this department"),
                  ValueFlag("superior", "STAFF_ID", "reporting to"), EnumFlag<pb::StaffStatus>("status", "active or left")},
                 PagingFlags()}),
         0, 0, StaffList});
  r.Add({"performance staff-check", "STAFF_ID...", "Which staff ids exist and are active", "", {}, 1, 500, StaffCheck});

  r.Add({"performance target-create", "", "Set a target (needs --roles department_manager or senior_manager)",
         "A child is a lower level, or the same level over a finer period, within its parent's period.",
         {ValueFlag("parent", "TARGET_ID", "the parent target (none for a root)"),
          EnumFlag<pb::TargetLevel>("level", "company, department, region, customer, position, person", true),
          ValueFlag("subject", "ID", "department, region, customer, position or staff id"),
          RequiredFlag("period", "PERIOD", "2027, 2027-H1, 2027-Q1 or 2027-03"),
          RequiredFlag("metric", "NAME", "what is counted, e.g. revenue"), RequiredFlag("target", "N", "the figure"),
          request_id},
         0, 0, TargetCreate});
  r.Add({"performance target-get", "TARGET_ID", "Show a target", "", {}, 1, 1, TargetGet});
  r.Add({"performance target-list", "", "Targets, filtered", "",
         Concat({{ValueFlag("parent", "TARGET_ID", "children of"), BoolFlag("roots", "only roots"),
                  ValueFlag("period", "PERIOD", "for this period"), EnumFlag<pb::TargetLevel>("level", "at this level"),
                  ValueFlag("subject", "ID", "for this subject"), ValueFlag("metric", "NAME", "of this metric")},
                 PagingFlags()}),
         0, 0, TargetList});
  r.Add({"performance target-actual", "TARGET_ID", "Record the actual figure", "",
         {RequiredFlag("actual", "N", "the actual figure"), version}, 1, 1, TargetActual});
  r.Add({"performance target-revise", "TARGET_ID", "Approve a revision; the target is then exempt from scoring", "",
         {RequiredFlag("target", "N", "the new figure"), RequiredFlag("reason", "TEXT", "why"), version}, 1, 1,
         TargetRevise});
  r.Add({"performance target-rollup", "TARGET_ID", "Parents whose children add up to less than their own", "", {}, 1,
         1, TargetRollup});

  r.Add({"performance plan-create", "", "Create a work plan for a person or a department", "",
         {RequiredFlag("title", "TEXT", "title"),
          EnumFlag<pb::PlanType>("type", "customer-visit, discount, customer-activity, service, publicity, suggestion",
                                 true),
          person, department, RequiredFlag("from", "YYYY-MM-DD", "first day"),
          RequiredFlag("to", "YYYY-MM-DD", "last day"), RequiredFlag("target", "N", "target count"),
          ValueFlag("minimum", "N", "minimum count"), ValueFlag("cost", "AMOUNT", "planned cost"),
          ValueFlag("currency", "CODE", "currency (default CNY)"), ValueFlag("content", "TEXT", "content"),
          ValueFlag("purpose", "TEXT", "purpose"), request_id},
         0, 0, PlanCreate});
  r.Add({"performance plan-get", "PLAN_ID", "Show a plan with its progress", "", {}, 1, 1, PlanGet});
  r.Add({"performance plan-list", "", "Plans, filtered", "",
         Concat({{person, department, EnumFlag<pb::PlanType>("type", "of this type"),
                  ValueFlag("from", "YYYY-MM-DD", "overlapping from"), ValueFlag("to", "YYYY-MM-DD", "overlapping to")},
                 PagingFlags()}),
         0, 0, PlanList});
  r.Add({"performance plan-record", "PLAN_ID", "Record work done against a plan", "",
         {RequiredFlag("date", "YYYY-MM-DD", "the day"), ValueFlag("count", "N", "how many (visits, activities...)"),
          ValueFlag("cost", "AMOUNT", "what it cost"), ValueFlag("currency", "CODE", "the plan's currency"),
          ValueFlag("note", "TEXT", "note"), request_id},
         1, 1, PlanRecord});
  r.Add({"performance plan-cancel", "PLAN_ID", "Cancel a plan", "", {ValueFlag("reason", "TEXT", "why"), version}, 1, 1,
         PlanCancel});
  r.Add({"performance plan-progress", "", "Actual vs target of a person's or department's plans, by month", "",
         {person, department, RequiredFlag("from", "YYYY-MM-DD", "first day"),
          RequiredFlag("to", "YYYY-MM-DD", "last day")},
         0, 0, PlanProgress});

  r.Add({"performance scorecard", "", "Scorecard of a person or department, with each component explained",
         "Figures come from complaints, customers and contracts; components whose source is down are listed as "
         "unavailable.",
         {person, department, RequiredFlag("from", "YYYY-MM-DD", "first day"),
          RequiredFlag("to", "YYYY-MM-DD", "last day")},
         0, 0, Scorecard});
  r.Add({"performance policy", "", "The scorecard weights and monthly targets in force", "", {}, 0, 0, Policy});
  r.Add({"performance set-weights", "", "Change scorecard weights (needs --roles senior_manager or hr)", "",
         {RepeatedFlag("weight", "COMPONENT=WEIGHT[:MONTHLY_TARGET]", "e.g. new_business=20:150000")}, 0, 0,
         SetWeights});

  r.Add({"performance cycle-create", "", "Open a 360 evaluation cycle (needs --roles hr or senior_manager)",
         "Raters are assigned from the reporting lines at this moment.",
         {RequiredFlag("name", "TEXT", "name"), EnumFlag<pb::CycleKind>("kind", "quarterly, half-yearly, yearly", true),
          RequiredFlag("period", "PERIOD", "2027-Q1, 2027-H1 or 2027"),
          ValueFlag("department", "DEPT_ID", "only this department and those under it"),
          BoolFlag("peers", "peers rate each other too"), BoolFlag("self", "everyone rates themselves too"),
          request_id},
         0, 0, CycleCreate});
  r.Add({"performance cycle-get", "CYCLE_ID", "Show a cycle and its completion", "", {}, 1, 1, CycleGet});
  r.Add({"performance cycles", "", "Evaluation cycles", "",
         Concat({{EnumFlag<pb::CycleStatus>("status", "open or closed")}, PagingFlags()}), 0, 0, CycleList});
  r.Add({"performance tasks", "CYCLE_ID", "Whom the --actor is asked to rate", "", {}, 1, 1, Tasks});
  r.Add({"performance rate", "CYCLE_ID", "Rate a person as the --actor (1..5); the answer shows progress only", "",
         {RequiredFlag("staff", "STAFF_ID", "whom"), RequiredFlag("score", "1..5", "the rating")}, 1, 1, Rate});
  r.Add({"performance cycle-close", "CYCLE_ID", "Close a cycle and publish its aggregates", "", {}, 1, 1, CycleClose});
  r.Add({"performance results", "CYCLE_ID", "Published results of a closed cycle (aggregates only)", "",
         {ValueFlag("staff", "STAFF_ID", "only this person")}, 1, 1, Results});

  r.Add({"performance chart", "", "Weekly control chart of a service-quality measure", "",
         {EnumFlag<pb::QualityMeasure>("measure", "overdue-rate, satisfaction, time-to-resolve", true),
          ValueFlag("department", "DEPT_ID", "only this department"),
          ValueFlag("end", "YYYY-MM-DD", "a day in the last week (default today)"),
          ValueFlag("weeks", "N", "4..104 (default 12)")},
         0, 0, Chart});
}

}  // namespace kefuctl
