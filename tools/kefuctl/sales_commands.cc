// kefuctl sales ...: every call of kefu.sales.v1.SalesService.

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "commands.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "output.h"
#include "rpc.h"

namespace kefuctl {
namespace {

namespace pb = ::kefu::sales::v1;
using Stub = pb::SalesService::Stub;

std::unique_ptr<Stub> NewStub(Invocation& inv) { return pb::SalesService::NewStub(inv.channel()); }

int64_t ProjectIdArg(const Invocation& inv, size_t i) { return IdArgWithPrefix(inv, i, "SP", "project id"); }

std::vector<std::string> ApplyProjectFlags(const Invocation& inv, pb::Project* p) {
  std::vector<std::string> set;
  auto str = [&](const char* flag, const char* field, void (pb::Project::*setter)(const std::string&)) {
    if (inv.Has(flag)) {
      (p->*setter)(inv.Str(flag));
      set.push_back(field);
    }
  };
  str("name", "name", &pb::Project::set_name);
  str("owner", "owner_id", &pb::Project::set_owner_id);
  str("department", "department_id", &pb::Project::set_department_id);
  str("goal", "goal", &pb::Project::set_goal);
  str("category", "category", &pb::Project::set_category);
  str("contact", "customer_contact", &pb::Project::set_customer_contact);
  str("signing", "expected_signing_date", &pb::Project::set_expected_signing_date);
  str("schedule", "schedule", &pb::Project::set_schedule);
  const std::string currency = inv.Str("currency", "CNY");
  if (inv.Has("amount")) {
    *p->mutable_estimated_amount() = *inv.Money("amount", currency);
    set.push_back("estimated_amount");
  }
  if (inv.Has("budget")) {
    *p->mutable_expense_budget() = *inv.Money("budget", currency);
    set.push_back("expense_budget");
  }
  if (inv.Has("cost")) {
    *p->mutable_estimated_cost() = *inv.Money("cost", currency);
    set.push_back("estimated_cost");
  }
  if (inv.Has("margin-pct")) {
    p->set_estimated_margin_bp(static_cast<int32_t>(inv.PercentAsBasisPoints("margin-pct")));
    set.push_back("estimated_margin_bp");
  }
  if (inv.Has("team")) {
    for (const auto& m : inv.All("team")) p->add_team(m);
    set.push_back("team");
  }
  return set;
}

std::vector<Flag> ProjectFieldFlags() {
  return {ValueFlag("name", "TEXT", "project name"),
          ValueFlag("owner", "STAFF_ID", "account manager (default: --actor)"),
          ValueFlag("department", "DEPT_ID", "department"),
          RepeatedFlag("team", "STAFF_ID", "team member (repeatable)"),
          ValueFlag("goal", "TEXT", "project goal"),
          ValueFlag("category", "TEXT", "category"),
          ValueFlag("contact", "TEXT", "the customer's contact person"),
          ValueFlag("amount", "AMOUNT", "estimated contract amount, e.g. 880000.00"),
          ValueFlag("currency", "CODE", "currency of the amounts (default CNY)"),
          ValueFlag("margin-pct", "PCT", "estimated gross margin"),
          ValueFlag("budget", "AMOUNT", "sales-expense budget"),
          ValueFlag("cost", "AMOUNT", "estimated cost"),
          ValueFlag("signing", "YYYY-MM-DD", "expected signing date"),
          ValueFlag("schedule", "TEXT", "schedule")};
}

int Create(Invocation& inv) {
  pb::CreateProjectRequest req;
  req.mutable_project()->set_customer_id(CustomerIdFlag(inv));
  ApplyProjectFlags(inv, req.mutable_project());
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateProject, req);
}

int Get(Invocation& inv) {
  pb::GetProjectRequest req;
  req.set_project_id(ProjectIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetProject, req);
}

int Update(Invocation& inv) {
  pb::UpdateProjectRequest req;
  req.mutable_project()->set_id(ProjectIdArg(inv, 0));
  req.mutable_project()->set_version(inv.Int("version"));
  for (const auto& f : ApplyProjectFlags(inv, req.mutable_project())) req.mutable_update_mask()->add_paths(f);
  if (req.update_mask().paths_size() == 0) inv.UsageError("give at least one field to change");
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateProject, req);
}

int List(Invocation& inv) {
  pb::ListProjectsRequest req;
  req.set_customer_id(CustomerIdFlag(inv));
  req.set_stage(inv.Enum<pb::Stage>("stage"));
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  req.set_open_only(inv.Bool("open"));
  req.set_customer_check(inv.Enum<pb::CustomerCheck>("customer-check"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListProjects, req);
}

int Stage(Invocation& inv) {
  pb::ChangeStageRequest req;
  req.set_project_id(ProjectIdArg(inv, 0));
  req.set_stage(inv.Enum<pb::Stage>("stage"));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  if (inv.Has("summary")) {
    req.mutable_closing()->set_reason(inv.Str("summary"));
    if (inv.Has("total-cost")) *req.mutable_closing()->mutable_total_cost() = *inv.Money("total-cost", "");
  }
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ChangeStage, req);
}

int Stages(Invocation& inv) {
  pb::ListStageChangesRequest req;
  req.set_project_id(ProjectIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListStageChanges, req);
}

int AddActivity(Invocation& inv) {
  pb::AddActivityRequest req;
  auto* a = req.mutable_activity();
  a->set_project_id(ProjectIdArg(inv, 0));
  a->set_type(inv.Enum<pb::ActivityType>("type"));
  if (auto t = inv.Time("time")) *a->mutable_time() = *t;
  a->set_place(inv.Str("place"));
  for (const auto& m : inv.All("with")) a->add_our_participants(m);
  a->set_customer_participants(inv.Str("customer-side"));
  a->set_purpose(inv.Str("purpose"));
  a->set_result(inv.Str("result"));
  if (inv.Has("cost")) *a->mutable_cost() = *inv.Money("cost", "");
  if (inv.Has("tender-date") || inv.Has("bid-date") || inv.Has("bid-result")) {
    auto* bid = a->mutable_bid();
    bid->set_tender_date(inv.Str("tender-date"));
    bid->set_bid_date(inv.Str("bid-date"));
    std::string result = inv.Str("bid-result");
    if (!result.empty() && result != "won" && result != "lost") inv.UsageError("--bid-result must be won or lost");
    bid->set_decided(!result.empty());
    bid->set_won(result == "won");
  }
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::AddActivity, req);
}

int Activities(Invocation& inv) {
  pb::ListActivitiesRequest req;
  req.set_project_id(ProjectIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListActivities, req);
}

int Competitors(Invocation& inv) {
  pb::SetCompetitorsRequest req;
  req.set_project_id(ProjectIdArg(inv, 0));
  req.set_version(inv.Int("version"));
  // Each --competitor is "NAME|STRENGTHS|WEAKNESSES".
  for (const auto& spec : inv.All("competitor")) {
    std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits('|', 2));
    auto* c = req.add_competitors();
    c->set_name(parts[0]);
    if (parts.size() > 1) c->set_strengths(parts[1]);
    if (parts.size() > 2) c->set_weaknesses(parts[2]);
  }
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::SetCompetitors, req);
}

int PlanAdd(Invocation& inv) {
  pb::AddActionPlanRequest req;
  req.mutable_plan()->set_project_id(ProjectIdArg(inv, 0));
  req.mutable_plan()->set_period(inv.Str("period"));
  req.mutable_plan()->set_plan(inv.Str("plan"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::AddActionPlan, req);
}

int PlanOutcome(Invocation& inv) {
  pb::UpdateActionPlanOutcomeRequest req;
  req.set_plan_id(ParseId(inv, inv.args()[0], "", "plan id"));
  req.set_outcome(inv.Str("outcome"));
  req.set_remedial_plan(inv.Str("remedial"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateActionPlanOutcome, req);
}

int Plans(Invocation& inv) {
  pb::ListActionPlansRequest req;
  req.set_project_id(ProjectIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListActionPlans, req);
}

int Probabilities(Invocation& inv) {
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetStageProbabilities, pb::GetStageProbabilitiesRequest());
}

int SetProbabilities(Invocation& inv) {
  pb::UpdateStageProbabilitiesRequest req;
  ReadJsonFile(inv, req.mutable_probabilities());
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateStageProbabilities, req);
}

int Pipeline(Invocation& inv) {
  pb::GetPipelineRequest req;
  std::string by = inv.Str("by", "stage");
  if (by == "stage") req.set_group_by(pb::GROUP_BY_STAGE);
  else if (by == "owner") req.set_group_by(pb::GROUP_BY_OWNER);
  else if (by == "department") req.set_group_by(pb::GROUP_BY_DEPARTMENT);
  else if (by == "month") req.set_group_by(pb::GROUP_BY_SIGNING_MONTH);
  else inv.UsageError("--by must be stage, owner, department or month");
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  req.set_signing_from(inv.Str("from"));
  req.set_signing_to(inv.Str("to"));
  req.set_currency_code(inv.Str("currency"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetPipeline, req);
}

int WinRate(Invocation& inv) {
  pb::GetWinRateRequest req;
  req.set_from(inv.Str("from"));
  req.set_to(inv.Str("to"));
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetWinRate, req);
}

int Forecast(Invocation& inv) {
  pb::GetForecastRequest req;
  req.set_from(inv.Str("from"));
  req.set_to(inv.Str("to"));
  req.set_currency_code(inv.Str("currency"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetForecast, req);
}

}  // namespace

void RegisterSalesCommands(Registry& r) {
  RegisterTable(pb::Project::descriptor(), {{"ID", "id"},
                                            {"NUMBER", "number"},
                                            {"NAME", "name", 26},
                                            {"STAGE", "stage"},
                                            {"CUSTOMER", "customer_id"},
                                            {"OWNER", "owner_id"},
                                            {"AMOUNT", "estimated_amount"},
                                            {"SIGNING", "expected_signing_date"},
                                            {"CUSTOMER CHECK", "customer_check"}});
  RegisterTable(pb::Activity::descriptor(),
                {{"ID", "id"}, {"TYPE", "type"}, {"TIME", "time"}, {"PURPOSE", "purpose", 24}, {"RESULT", "result", 24},
                 {"COST", "cost"}});
  RegisterTable(pb::StageChange::descriptor(), {{"FROM", "from_stage"},
                                                {"TO", "to_stage"},
                                                {"BY", "changed_by"},
                                                {"TIME", "change_time"},
                                                {"REASON", "reason", 30}});
  RegisterTable(pb::PipelineRow::descriptor(),
                {{"KEY", "key"}, {"COUNT", "count"}, {"AMOUNT", "amount_minor"}, {"WEIGHTED", "weighted_amount_minor"}});
  RegisterTable(pb::Competitor::descriptor(),
                {{"NAME", "name", 20}, {"STRENGTHS", "strengths", 24}, {"WEAKNESSES", "weaknesses", 24}});
  r.AddGroup({"sales", "sales projects, stages, activities, competitors, pipeline", "KEFU_SALES_ADDR", "127.0.0.1:50052"});
  const Flag version = ValueFlag("version", "N", "current version of the project; refused if it changed");
  const Flag request_id = ValueFlag("request-id", "ID", "idempotency key: a retry with the same id returns the first result");

  std::vector<Flag> create_flags = ProjectFieldFlags();
  create_flags.insert(create_flags.begin(), RequiredFlag("customer", "ID", "the customer (C00001234 or 1234)"));
  create_flags.push_back(request_id);
  r.Add({"sales create", "", "Set up (立项) a sales project",
         "The initiation check needs --name, --customer, --owner, --goal, --contact, --amount and --signing.",
         create_flags, 0, 0, Create});
  r.Add({"sales get", "ID", "Show a project", "", {}, 1, 1, Get});
  std::vector<Flag> update_flags = ProjectFieldFlags();
  update_flags.insert(update_flags.begin(), RequiredFlag("version", "N", "current version; refused if it changed"));
  r.Add({"sales update", "ID", "Change an open project", "Only the fields given change.", update_flags, 1, 1, Update});
  r.Add({"sales list", "", "Projects, filtered", "",
         Concat({{ValueFlag("customer", "ID", "of this customer"), EnumFlag<pb::Stage>("stage", "in this stage"),
                  ValueFlag("owner", "STAFF_ID", "owned by"), ValueFlag("department", "DEPT_ID", "of this department"),
                  BoolFlag("open", "only open projects"),
                  EnumFlag<pb::CustomerCheck>("customer-check",
                                              "whose customer is confirmed, pending (customers was down) or "
                                              "customer_not_found")},
                 PagingFlags()}),
         0, 0, List});
  r.Add({"sales stage", "ID", "Move a project to another stage",
         "initiation -> proposal -> bidding -> negotiation -> contract -> implementation -> won;\n"
         "any open stage may go to lost or terminated; closing needs --summary. Winning asks contracts for a draft.",
         {EnumFlag<pb::Stage>("stage", "the new stage", true), ValueFlag("reason", "TEXT", "why"),
          ValueFlag("summary", "TEXT", "closing summary: why it was won, lost or terminated"),
          ValueFlag("total-cost", "AMOUNT", "total cost spent (closing)"), version},
         1, 1, Stage});
  r.Add({"sales stages", "ID", "The project's stage moves", "", {}, 1, 1, Stages});
  r.Add({"sales activity add", "ID", "Record an activity (visit, bid, negotiation ...)", "",
         {EnumFlag<pb::ActivityType>("type", "kind of activity", true), RequiredFlag("purpose", "TEXT", "purpose"),
          ValueFlag("result", "TEXT", "result"), ValueFlag("place", "TEXT", "where"),
          ValueFlag("time", "TIME", "when (default now)"), RepeatedFlag("with", "STAFF_ID", "our participant (repeatable)"),
          ValueFlag("customer-side", "TEXT", "the customer's participants"),
          ValueFlag("cost", "AMOUNT", "cost, in the project's currency"),
          ValueFlag("tender-date", "YYYY-MM-DD", "bids: tender date"), ValueFlag("bid-date", "YYYY-MM-DD", "bids: our bid date"),
          ValueFlag("bid-result", "won|lost", "bids: the outcome, when decided"), request_id},
         1, 1, AddActivity});
  r.Add({"sales activity list", "ID", "A project's activities", "", PagingFlags(), 1, 1, Activities});
  r.Add({"sales competitors", "ID", "Replace the project's competitor list", "",
         {RepeatedFlag("competitor", "NAME|STRENGTHS|WEAKNESSES", "one competitor (repeatable)"), version}, 1, 1,
         Competitors});
  r.Add({"sales plan add", "ID", "Record the project's action plan for a month", "",
         {RequiredFlag("period", "YYYY-MM", "the month"), RequiredFlag("plan", "TEXT", "what will be done"),
          ValueFlag("request-id", "ID", "idempotency key")},
         1, 1, PlanAdd});
  r.Add({"sales plan outcome", "PLAN_ID", "Record how a month's action plan went", "",
         {RequiredFlag("outcome", "TEXT", "what happened"), ValueFlag("remedial", "TEXT", "the remedial plan, if any")}, 1,
         1, PlanOutcome});
  r.Add({"sales plan list", "ID", "The project's monthly action plans", "", {}, 1, 1, Plans});
  r.Add({"sales probabilities", "", "The win probability of each stage, used for weighted amounts", "", {}, 0, 0,
         Probabilities});
  r.Add({"sales probabilities-set", "", "Replace the stage probabilities (needs --roles senior_manager)",
         "  kefuctl --json sales probabilities > p.json   # edit, keep \"version\"\n"
         "  kefuctl sales probabilities-set --file p.json",
         {JsonFileFlag("the stage probabilities")}, 0, 0, SetProbabilities});
  r.Add({"sales pipeline", "", "Count, amount and weighted amount of open projects", "",
         {ValueFlag("by", "stage|owner|department|month", "grouping (default stage)"),
          ValueFlag("owner", "STAFF_ID", "only this owner"), ValueFlag("department", "DEPT_ID", "only this department"),
          ValueFlag("from", "YYYY-MM-DD", "expected signing from"), ValueFlag("to", "YYYY-MM-DD", "expected signing to"),
          ValueFlag("currency", "CODE", "currency (default CNY)")},
         0, 0, Pipeline});
  r.Add({"sales winrate", "", "Win rate and stage conversion of projects closed in a period", "",
         {RequiredFlag("from", "YYYY-MM-DD", "closed on or after"), RequiredFlag("to", "YYYY-MM-DD", "closed before"),
          ValueFlag("owner", "STAFF_ID", "only this owner"), ValueFlag("department", "DEPT_ID", "only this department")},
         0, 0, WinRate});
  r.Add({"sales forecast", "", "Weighted amount of open projects expected to sign in a period", "",
         {RequiredFlag("from", "YYYY-MM-DD", "from"), RequiredFlag("to", "YYYY-MM-DD", "to"),
          ValueFlag("currency", "CODE", "currency (default CNY)")},
         0, 0, Forecast});
}

}  // namespace kefuctl
