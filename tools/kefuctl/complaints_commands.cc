// kefuctl complaints ...: every call of kefu.complaints.v1.ComplaintService.

#include <algorithm>
#include <iostream>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "commands.h"
#include "absl/time/clock.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/request_context.h"
#include "output.h"
#include "rpc.h"

namespace kefuctl {
namespace {

namespace pb = ::kefu::complaints::v1;
using Stub = pb::ComplaintService::Stub;

std::unique_ptr<Stub> NewStub(Invocation& inv) { return pb::ComplaintService::NewStub(inv.channel()); }

int64_t WorkOrderIdArg(const Invocation& inv, size_t i) { return IdArgWithPrefix(inv, i, "WO", "work order id"); }

int Create(Invocation& inv) {
  pb::CreateWorkOrderRequest req;
  auto* w = req.mutable_work_order();
  w->set_customer_id(CustomerIdFlag(inv));
  w->set_type(inv.Enum<pb::WorkOrderType>("type"));
  w->set_severity(inv.Enum<pb::Severity>("severity"));
  w->set_channel(inv.Has("channel") ? inv.Enum<pb::Channel>("channel") : pb::CHANNEL_PHONE);
  w->set_title(inv.Str("title"));
  w->set_content(inv.Str("content"));
  w->set_product(inv.Str("product"));
  w->set_department_id(inv.Str("department"));
  w->set_handler_id(inv.Str("handler"));
  if (auto t = inv.Time("received")) *w->mutable_received_time() = *t;
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateWorkOrder, req);
}

int Get(Invocation& inv) {
  pb::GetWorkOrderRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetWorkOrder, req);
}

int List(Invocation& inv) {
  pb::ListWorkOrdersRequest req;
  req.set_customer_id(CustomerIdFlag(inv));
  req.set_status(inv.Enum<pb::Status>("status"));
  req.set_severity(inv.Enum<pb::Severity>("severity"));
  req.set_type(inv.Enum<pb::WorkOrderType>("type"));
  req.set_escalation_level(inv.Enum<pb::EscalationLevel>("level"));
  req.set_handler_id(inv.Str("handler"));
  req.set_department_id(inv.Str("department"));
  req.set_overdue_only(inv.Bool("overdue"));
  req.set_open_only(inv.Bool("open"));
  if (auto t = inv.Time("from")) *req.mutable_received_from() = *t;
  if (auto t = inv.Time("to")) *req.mutable_received_to() = *t;
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListWorkOrders, req);
}

template <grpc::Status (Stub::*Method)(grpc::ClientContext*, const pb::WorkOrderActionRequest&, pb::WorkOrder*)>
int Action(Invocation& inv) {
  pb::WorkOrderActionRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_version(inv.Int("version"));
  req.set_note(inv.Str("note"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, Method, req);
}

int Assign(Invocation& inv) {
  pb::AssignWorkOrderRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_department_id(inv.Str("department"));
  req.set_handler_id(inv.Str("handler"));
  req.set_note(inv.Str("note"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::AssignWorkOrder, req);
}

int Pause(Invocation& inv) {
  pb::PauseSlaRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_reason(inv.Enum<pb::PauseReason>("reason"));
  req.set_note(inv.Str("note"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::PauseSla, req);
}

int Severity(Invocation& inv) {
  pb::ChangeSeverityRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_severity(inv.Enum<pb::Severity>("severity"));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ChangeSeverity, req);
}

int Note(Invocation& inv) {
  pb::AddNoteRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_text(inv.Str("text"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::AddNote, req);
}

int Resolve(Invocation& inv) {
  pb::ResolveWorkOrderRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  auto* r = req.mutable_resolution();
  r->set_summary(inv.Str("summary"));
  for (const auto& a : inv.All("action")) {
    std::string name = "RESOLUTION_ACTION_";
    for (char c : a) name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    const auto* v = pb::ResolutionAction_descriptor()->FindValueByName(name);
    if (!v || v->number() == 0)
      inv.UsageError(absl::StrCat("--action '", a, "': one of repair, replace-product, add-service, compensate, "
                                  "improve-service, hold-responsible, explain, other"));
    r->add_actions(static_cast<pb::ResolutionAction>(v->number()));
  }
  if (inv.Has("compensation")) *r->mutable_compensation() = *inv.Money("compensation", inv.Str("currency", "CNY"));
  r->set_root_cause(inv.Str("root-cause"));
  r->set_prevention(inv.Str("prevention"));
  r->set_responsible_staff_id(inv.Str("responsible-staff"));
  r->set_responsible_department_id(inv.Str("responsible-department"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ResolveWorkOrder, req);
}

int FollowUp(Invocation& inv) {
  pb::RecordFollowUpRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_satisfaction(inv.Int32("satisfaction"));
  req.set_note(inv.Str("note"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordFollowUp, req);
}

int Close(Invocation& inv) {
  pb::CloseWithoutSatisfactionRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CloseWithoutSatisfaction, req);
}

int Timeline(Invocation& inv) {
  pb::GetTimelineRequest req;
  req.set_work_order_id(WorkOrderIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetTimeline, req);
}

int AtRisk(Invocation& inv) {
  pb::ListAtRiskRequest req;
  req.set_department_id(inv.Str("department"));
  req.set_handler_id(inv.Str("handler"));
  if (inv.Has("threshold-pct")) req.set_threshold_bp(static_cast<int32_t>(inv.PercentAsBasisPoints("threshold-pct")));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListAtRisk, req);
}

// The alert id a watch stream starts after, from its initial metadata.
std::optional<int64_t> StreamCursor(const grpc::ClientContext& ctx) {
  auto it = ctx.GetServerInitialMetadata().find(kefu::kAlertCursorHeader);
  int64_t cursor = 0;
  if (it != ctx.GetServerInitialMetadata().end() &&
      absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &cursor))
    return cursor;
  return std::nullopt;
}

// Streams until the user presses Ctrl-C. When the stream ends with UNAVAILABLE (the
// server restarting, or shutting down for an update) it watches again after the last
// alert it printed, so no alert is missed or printed twice; it gives up after a minute
// without a stream.
int Watch(Invocation& inv) {
  constexpr absl::Duration kRetryFor = absl::Minutes(1);
  constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
  pb::WatchAlertsRequest req;
  req.set_department_id(inv.Str("department"));
  req.set_handler_id(inv.Str("handler"));
  if (inv.Has("after")) req.set_after_alert_id(inv.Int("after"));
  auto stub = NewStub(inv);
  absl::Time failing_since = absl::InfiniteFuture();
  absl::Duration backoff = absl::Milliseconds(250);
  while (true) {
    auto ctx = inv.NewContext(/*with_deadline=*/false);  // watching is open-ended
    auto reader = stub->WatchAlerts(ctx.get(), req);
    reader->WaitForInitialMetadata();
    if (auto cursor = StreamCursor(*ctx)) {  // the stream is up
      failing_since = absl::InfiniteFuture();
      backoff = absl::Milliseconds(250);
      if (!req.has_after_alert_id()) req.set_after_alert_id(*cursor);
    }
    pb::Alert alert;
    while (reader->Read(&alert)) {
      req.set_after_alert_id(alert.id());
      inv.Print(alert);
      std::cout << std::flush;  // show each alert at once, also when piped
    }
    grpc::Status s = reader->Finish();
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE) return s.ok() ? kExitOk : inv.Fail(s);
    if (failing_since == absl::InfiniteFuture()) failing_since = absl::Now();
    if (absl::Now() - failing_since > kRetryFor) return inv.Fail(s);
    std::cerr << "kefuctl: " << s.error_message() << "; watching again\n";
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, kMaxBackoff);
  }
}

int Policy(Invocation& inv) {
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetDeadlinePolicy, pb::GetDeadlinePolicyRequest());
}

int Calendar(Invocation& inv) {
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetBusinessCalendar, pb::GetBusinessCalendarRequest());
}

int SetPolicy(Invocation& inv) {
  pb::UpdateDeadlinePolicyRequest req;
  ReadJsonFile(inv, req.mutable_policy());
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateDeadlinePolicy, req);
}

int SetCalendar(Invocation& inv) {
  pb::UpdateBusinessCalendarRequest req;
  ReadJsonFile(inv, req.mutable_calendar());
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateBusinessCalendar, req);
}

int Kpis(Invocation& inv) {
  pb::GetKpisRequest req;
  req.set_department_id(inv.Str("department"));
  req.set_handler_id(inv.Str("handler"));
  if (auto t = inv.Time("from")) *req.mutable_from() = *t;
  if (auto t = inv.Time("to")) *req.mutable_to() = *t;
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetKpis, req);
}

int Quality(Invocation& inv) {
  pb::GetQualitySeriesRequest req;
  req.set_measure(inv.Enum<pb::QualityMeasure>("measure"));
  req.set_department_id(inv.Str("department"));
  req.set_handler_id(inv.Str("handler"));
  if (auto t = inv.Time("from")) *req.mutable_from() = *t;
  req.set_weeks(inv.Int32("weeks", 12));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetQualitySeries, req);
}

int RecordTier(Invocation& inv) {
  pb::RecordCustomerTiersRequest req;
  auto* t = req.add_tiers();
  t->set_customer_id(IdArgWithPrefix(inv, 0, "C", "customer id"));
  t->set_tier(inv.Int32("tier"));
  t->set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordCustomerTiers, req);
}

}  // namespace

void RegisterComplaintCommands(Registry& r) {
  RegisterTable(pb::WorkOrder::descriptor(), {{"ID", "id"},
                                              {"NUMBER", "number"},
                                              {"TYPE", "type"},
                                              {"SEVERITY", "severity"},
                                              {"STATUS", "status"},
                                              {"LEVEL", "escalation_level"},
                                              {"CUSTOMER", "customer_id"},
                                              {"HANDLER", "handler_id"},
                                              {"RESPOND BY", "response_deadline"},
                                              {"RESOLVE BY", "resolution_deadline"},
                                              {"OVERDUE", "overdue"}});
  RegisterTable(pb::TimelineEvent::descriptor(), {{"TIME", "time"},
                                                  {"EVENT", "kind"},
                                                  {"BY", "actor_id"},
                                                  {"STATUS", "status_after"},
                                                  {"DESCRIPTION", "description", 60}});
  RegisterTable(pb::AtRisk::descriptor(), {{"ID", "work_order.id"},
                                           {"NUMBER", "work_order.number"},
                                           {"DEADLINE", "deadline"},
                                           {"USED BP", "used_bp"},
                                           {"HANDLER", "work_order.handler_id"}});
  RegisterTable(pb::PolicyRule::descriptor(), {{"SEVERITY", "severity"},
                                               {"TIER", "customer_tier"},
                                               {"TYPE", "type"},
                                               {"RESPOND S", "respond_within_seconds"},
                                               {"RESOLVE S", "resolve_within_seconds"},
                                               {"24X7", "around_the_clock"}});
  RegisterTable(pb::FollowUp::descriptor(),
                {{"TIME", "time"}, {"BY", "staff_id"}, {"SATISFACTION", "satisfaction"}, {"NOTE", "note", 40}});
  RegisterTable(pb::QualityWeek::descriptor(), {{"WEEK", "week"},
                                                {"START", "start"},
                                                {"TOTAL", "total"},
                                                {"DEFECTS", "defects"},
                                                {"N", "n"},
                                                {"MEAN", "mean"},
                                                {"STDDEV", "stddev"}});
  r.AddGroup({"complaints", "service and complaint work orders, deadlines, escalation, alerts, KPIs",
              "KEFU_COMPLAINTS_ADDR", "127.0.0.1:50054"});
  const Flag version = ValueFlag("version", "N", "current version of the work order; refused if it changed");
  const Flag note = ValueFlag("note", "TEXT", "note for the timeline");
  r.Add({"complaints create", "", "Take a work order (you stay responsible for it until it closes)", "",
         {RequiredFlag("customer", "ID", "the customer (C00001234 or 1234)"),
          EnumFlag<pb::WorkOrderType>("type", "fault-report, service-request, complaint, consultation, ...", true),
          EnumFlag<pb::Severity>("severity", "major, general or minor", true),
          EnumFlag<pb::Channel>("channel", "how it came in (default phone)"), ValueFlag("title", "TEXT", "short title"),
          RequiredFlag("content", "TEXT", "what the customer said"), ValueFlag("product", "TEXT", "product concerned"),
          ValueFlag("department", "DEPT_ID", "handling department"), ValueFlag("handler", "STAFF_ID", "handler"),
          ValueFlag("received", "TIME", "when it was received (default now)"),
          ValueFlag("request-id", "ID", "idempotency key")},
         0, 0, Create});
  r.Add({"complaints get", "ID", "Show a work order", "", {}, 1, 1, Get});
  r.Add({"complaints list", "", "Work orders, filtered", "",
         Concat({{ValueFlag("customer", "ID", "of this customer"), EnumFlag<pb::Status>("status", "in this status"),
                  EnumFlag<pb::Severity>("severity", "of this severity"), EnumFlag<pb::WorkOrderType>("type", "of this type"),
                  EnumFlag<pb::EscalationLevel>("level", "at this escalation level"),
                  ValueFlag("handler", "STAFF_ID", "handled by"), ValueFlag("department", "DEPT_ID", "of this department"),
                  BoolFlag("overdue", "only overdue open ones"), BoolFlag("open", "only open ones"),
                  ValueFlag("from", "TIME", "received from"), ValueFlag("to", "TIME", "received before")},
                 PagingFlags()}),
         0, 0, List});
  r.Add({"complaints accept", "ID", "Accept a new work order (first response)", "", {note, version}, 1, 1,
         Action<&Stub::AcceptWorkOrder>});
  r.Add({"complaints assign", "ID", "Hand it to a department and/or handler", "",
         {ValueFlag("department", "DEPT_ID", "department"), ValueFlag("handler", "STAFF_ID", "handler"), note, version}, 1,
         1, Assign});
  r.Add({"complaints start", "ID", "Start work on an accepted work order", "", {note, version}, 1, 1,
         Action<&Stub::StartWork>});
  r.Add({"complaints pause", "ID", "Stop the deadline clock while waiting", "",
         {EnumFlag<pb::PauseReason>("reason", "waiting-customer or waiting-third-party", true), note, version}, 1, 1,
         Pause});
  r.Add({"complaints resume", "ID", "Restart the deadline clock", "", {note, version}, 1, 1, Action<&Stub::ResumeSla>});
  r.Add({"complaints severity", "ID", "Change the severity; deadlines are recomputed", "",
         {EnumFlag<pb::Severity>("severity", "new severity", true), RequiredFlag("reason", "TEXT", "why"), version}, 1, 1,
         Severity});
  r.Add({"complaints note", "ID", "Add a note to the timeline", "", {RequiredFlag("text", "TEXT", "the note")}, 1, 1, Note});
  r.Add({"complaints resolve", "ID", "Record the resolution", "",
         {RequiredFlag("summary", "TEXT", "what was done"), RepeatedFlag("action", "NAME", "repair, compensate, ... (repeatable)"),
          ValueFlag("compensation", "AMOUNT", "compensation paid"), ValueFlag("currency", "CODE", "its currency (default CNY)"),
          ValueFlag("root-cause", "TEXT", "root cause"), ValueFlag("prevention", "TEXT", "prevention measures"),
          ValueFlag("responsible-staff", "STAFF_ID", "who was responsible"),
          ValueFlag("responsible-department", "DEPT_ID", "which department was responsible"), version},
         1, 1, Resolve});
  r.Add({"complaints follow-up-start", "ID", "Start the follow-up (回访)", "", {note, version}, 1, 1,
         Action<&Stub::StartFollowUp>});
  r.Add({"complaints follow-up", "ID", "Record the customer's satisfaction; 1-3 reopens, 4-5 closes", "",
         {RequiredFlag("satisfaction", "1..5", "the customer's satisfaction"), note, version}, 1, 1, FollowUp});
  r.Add({"complaints close", "ID", "Close without the customer's satisfaction (needs --roles senior_manager)", "",
         {RequiredFlag("reason", "TEXT", "why"), version}, 1, 1, Close});
  r.Add({"complaints timeline", "ID", "Every event of the work order, for the front desk", "", {}, 1, 1, Timeline});
  r.Add({"complaints at-risk", "", "Open work orders that used most of a deadline", "",
         {ValueFlag("department", "DEPT_ID", "only this department"), ValueFlag("handler", "STAFF_ID", "only this handler"),
          ValueFlag("threshold-pct", "PCT", "share of the deadline used (default 80)")},
         0, 0, AtRisk});
  r.Add({"complaints watch", "", "Print escalations, breaches and warnings as they happen (Ctrl-C to stop)", "",
         {ValueFlag("department", "DEPT_ID", "only this department"), ValueFlag("handler", "STAFF_ID", "only this handler"),
          ValueFlag("after", "ALERT_ID", "first the alerts after this one (resume a watch)")},
         0, 0, Watch});
  r.Add({"complaints policy", "", "The deadline policy in force", "", {}, 0, 0, Policy});
  r.Add({"complaints calendar", "", "The business calendar in force", "", {}, 0, 0, Calendar});
  r.Add({"complaints policy-set", "", "Replace the deadline policy (needs --roles senior_manager)",
         "Open work orders keep their deadlines; new ones and severity changes use the new rules.\n"
         "  kefuctl --json complaints policy > p.json   # edit, keep \"version\"\n"
         "  kefuctl complaints policy-set --file p.json",
         {JsonFileFlag("the deadline policy")}, 0, 0, SetPolicy});
  r.Add({"complaints calendar-set", "", "Replace the business calendar (needs --roles senior_manager)",
         "  kefuctl --json complaints calendar > c.json   # edit, keep \"version\"\n"
         "  kefuctl complaints calendar-set --file c.json",
         {JsonFileFlag("the business calendar")}, 0, 0, SetCalendar});
  r.Add({"complaints kpis", "", "Follow-up, satisfaction, rework and overdue rates, response and resolution times", "",
         {RequiredFlag("from", "TIME", "received from"), RequiredFlag("to", "TIME", "received before"),
          ValueFlag("department", "DEPT_ID", "only this department"), ValueFlag("handler", "STAFF_ID", "only this handler")},
         0, 0, Kpis});
  r.Add({"complaints quality", "", "A weekly quality series for control charts (every week, zeros when empty)",
         "overdue-rate: work orders due that week (TOTAL) and those overdue (DEFECTS);\n"
         "satisfaction: follow-ups recorded that week (N, MEAN, STDDEV of 1..5; DEFECTS scored 1..3);\n"
         "time-to-resolve: work orders resolved that week (N, MEAN, STDDEV of hours; DEFECTS overdue).\n"
         "Weeks start on Monday 00:00 (Asia/Shanghai); --from is rounded down to its Monday.",
         {EnumFlag<pb::QualityMeasure>("measure", "what to measure", true),
          RequiredFlag("from", "TIME", "a time in the first week"),
          ValueFlag("weeks", "N", "number of weeks, 1..104 (default 12)"),
          ValueFlag("department", "DEPT_ID", "only this department"),
          ValueFlag("handler", "STAFF_ID", "only this handler")},
         0, 0, Quality});
  r.Add({"complaints record-tier", "CUSTOMER_ID", "Tell complaints' copy of the tiers a customer's tier (services only)",
         "What customers sends on every tier change; needs a service token. Kept only if VERSION\n"
         "(the customer record's version) is no older than the copy's.",
         {RequiredFlag("tier", "N", "1 standard, 2 silver, 3 gold, 4 platinum"),
          RequiredFlag("version", "N", "the customer record's version")},
         1, 1, RecordTier});
}

}  // namespace kefuctl
