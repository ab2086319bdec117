#include "service.h"

#include <algorithm>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kefu/clients/contracts_client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/clients/performance_client.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/request_context.h"
#include "kefu/security/authenticator.h"
#include "kefu/validation.h"

namespace kefu::complaints {

namespace {

constexpr char kSeniorManagerRole[] = "senior_manager";

absl::Status CheckWorkOrderId(int64_t id) {
  if (id <= 0) return id == 0 ? RequiredField("work_order_id") : InvalidField("work_order_id", "must be positive");
  return absl::OkStatus();
}

absl::Status CheckVersion(int64_t v) {
  return v < 0 ? InvalidField("version", "must not be negative") : absl::OkStatus();
}

// The Monday of the (ISO) week holding `day`.
absl::CivilDay MondayOf(absl::CivilDay day) {
  int since_monday = (static_cast<int>(absl::GetWeekday(day)) - static_cast<int>(absl::Weekday::monday) + 7) % 7;
  return day - since_monday;
}

// "2026-W47": the ISO week starting on `monday`, which belongs to the year of its Thursday.
std::string IsoWeekName(absl::CivilDay monday) {
  absl::CivilDay thursday = monday + 3;
  int week = (absl::GetYearDay(thursday) - 1) / 7 + 1;
  return absl::StrFormat("%04d-W%02d", thursday.year(), week);
}

void SetDeadline(absl::Time t, google::protobuf::Timestamp* ts, bool* has) {
  *has = t != absl::InfiniteFuture();
  if (*has) *ts = ToProtoTime(t);
}

// Writes the clocks' deadlines onto the work order; returns when to check it next.
absl::Time Recompute(pb::WorkOrder& w, const std::vector<HistoryEvent>& history, const Settings& settings,
                     double risk_threshold, absl::Time now) {
  const PolicyRule& rule = settings.policy.Match(ToSeverity(w.severity()), w.customer_tier(), w.type());
  Clocks clocks = ComputeClocks(w, history, rule, settings.calendar, now);
  bool has = false;
  if (!w.has_responded_time()) {
    SetDeadline(clocks.response.deadline, w.mutable_response_deadline(), &has);
    if (!has) w.clear_response_deadline();
  }
  SetDeadline(clocks.resolution.deadline, w.mutable_resolution_deadline(), &has);
  if (!has) w.clear_resolution_deadline();
  absl::Time level_deadline = w.has_level_deadline() ? FromProtoTime(w.level_deadline()) : absl::InfiniteFuture();
  return NextCheckTime(w, clocks, level_deadline, rule, settings.calendar, now, risk_threshold);
}

}  // namespace

// ---- metrics ----

BusinessMetrics::BusinessMetrics(prometheus::Registry& registry)
    : registry_(registry),
      escalations_(prometheus::BuildCounter()
                       .Name("kefu_complaints_escalations_total")
                       .Help("Automatic escalations, by the level escalated to and department.")
                       .Register(registry)),
      breaches_(prometheus::BuildCounter()
                    .Name("kefu_complaints_sla_breaches_total")
                    .Help("Deadlines missed, by deadline (response, resolution) and department.")
                    .Register(registry)) {
  auto& open = prometheus::BuildGauge()
                   .Name("kefu_complaints_open_work_orders")
                   .Help("Open work orders by severity and status.")
                   .Register(registry);
  for (int sev = pb::SEVERITY_MAJOR; sev <= pb::SEVERITY_MINOR; ++sev)
    for (int st = pb::STATUS_NEW; st <= pb::STATUS_FOLLOW_UP; ++st) {
      std::string sev_name = pb::Severity_Name(static_cast<pb::Severity>(sev)).substr(9);
      std::string st_name = pb::Status_Name(static_cast<pb::Status>(st)).substr(7);
      for (auto& c : sev_name) c = static_cast<char>(std::tolower(c));
      for (auto& c : st_name) c = static_cast<char>(std::tolower(c));
      open_[{sev, st}] = &open.Add({{"severity", sev_name}, {"status", st_name}});
    }
  overdue_open_ = &prometheus::BuildGauge()
                       .Name("kefu_complaints_overdue_open_work_orders")
                       .Help("Open work orders that missed a deadline.")
                       .Register(registry)
                       .Add({});
  at_risk_ = &prometheus::BuildGauge()
                  .Name("kefu_complaints_at_risk_work_orders")
                  .Help("Open work orders that used at least 80% of a running deadline.")
                  .Register(registry)
                  .Add({});
  static const prometheus::Histogram::BucketBoundaries kHours{60,    300,   900,    1800,   3600,   7200,
                                                               14400, 28800, 86400, 172800, 259200, 604800};
  respond_seconds_ = &prometheus::BuildHistogram()
                          .Name("kefu_complaints_time_to_respond_seconds")
                          .Help("From receipt to acceptance.")
                          .Register(registry)
                          .Add({}, kHours);
  resolve_seconds_ = &prometheus::BuildHistogram()
                          .Name("kefu_complaints_time_to_resolve_seconds")
                          .Help("From receipt to resolution.")
                          .Register(registry)
                          .Add({}, kHours);
  // With follow_ups_total: follow-up rate = follow-ups / resolutions, rework rate =
  // unsatisfied follow-ups / resolutions.
  resolutions_ = &prometheus::BuildCounter()
                      .Name("kefu_complaints_resolutions_total")
                      .Help("Work orders resolved (a reopened one counts again when resolved again).")
                      .Register(registry)
                      .Add({});
  auto& fu = prometheus::BuildCounter()
                 .Name("kefu_complaints_follow_ups_total")
                 .Help("Follow-up visits by result; unsatisfied ones reopen the work order.")
                 .Register(registry);
  follow_up_satisfied_ = &fu.Add({{"result", "satisfied"}});
  follow_up_unsatisfied_ = &fu.Add({{"result", "unsatisfied"}});
  auto& created = prometheus::BuildCounter()
                      .Name("kefu_complaints_work_orders_created_total")
                      .Help("Work orders received, by type.")
                      .Register(registry);
  for (int t = pb::WORK_ORDER_TYPE_FAULT_REPORT; t <= pb::WORK_ORDER_TYPE_PRAISE; ++t) {
    std::string name = pb::WorkOrderType_Name(static_cast<pb::WorkOrderType>(t)).substr(16);
    for (auto& c : name) c = static_cast<char>(std::tolower(c));
    created_[t] = &created.Add({{"type", name}});
  }
  auto& tiers = prometheus::BuildCounter()
                    .Name("kefu_complaints_tier_lookups_total")
                    .Help("Where new work orders' customer tiers came from: complaints' copy of the tiers, or a "
                          "call to customers (not in the copy, or checked too long ago).")
                    .Register(registry);
  tier_from_copy_ = &tiers.Add({{"source", "copy"}});
  tier_from_customers_ = &tiers.Add({{"source", "customers"}});
}

void BusinessMetrics::Escalated(pb::EscalationLevel to, const std::string& department) {
  escalations_.Add({{"level", to == pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT ? "senior_management" : "department_manager"},
                    {"department", department.empty() ? "none" : department}})
      .Increment();
}
void BusinessMetrics::Breached(const std::string& deadline, const std::string& department) {
  breaches_.Add({{"deadline", deadline}, {"department", department.empty() ? "none" : department}}).Increment();
}
void BusinessMetrics::Responded(double s) { respond_seconds_->Observe(s); }
void BusinessMetrics::Resolved(double s) {
  resolve_seconds_->Observe(s);
  resolutions_->Increment();
}
void BusinessMetrics::FollowUp(bool satisfied) {
  (satisfied ? follow_up_satisfied_ : follow_up_unsatisfied_)->Increment();
}
void BusinessMetrics::Created(pb::WorkOrderType type) {
  if (auto it = created_.find(type); it != created_.end()) it->second->Increment();
}
void BusinessMetrics::TierFrom(bool copy) { (copy ? tier_from_copy_ : tier_from_customers_)->Increment(); }
void BusinessMetrics::SetOpen(const std::vector<Repository::OpenCount>& counts, int64_t overdue, int64_t at_risk) {
  std::map<std::pair<int, int>, int64_t> fresh;
  for (const auto& c : counts) fresh[{c.severity, c.status}] += c.count;
  for (auto& [key, gauge] : open_) gauge->Set(static_cast<double>(fresh[key]));
  overdue_open_->Set(static_cast<double>(overdue));
  at_risk_->Set(static_cast<double>(at_risk));
}

// ---- background work ----

// Every new work order, state change and sweep round computes deadlines from the
// settings, which change a few times a year: read each time, they cost two statements
// and their parsing per call. They are kept for config_.settings_max_age of real time
// (the business clock may stand still or jump): a change saved through this replica
// applies at once, one saved through another replica within that time.

absl::StatusOr<Settings> ComplaintServiceImpl::CurrentSettings() {
  const absl::Time now = absl::Now();
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(settings_mu_);
    if (settings_ && now - settings_read_at_ < config_.settings_max_age) return *settings_;
    generation = settings_generation_;
  }
  KEFU_ASSIGN_OR_RETURN(Settings read, LoadSettings());
  std::lock_guard<std::mutex> lock(settings_mu_);
  // Not kept if a change was saved while it was being read: it may predate the change.
  if (generation == settings_generation_) {
    settings_ = read;
    settings_read_at_ = now;
  }
  return read;
}

void ComplaintServiceImpl::ForgetSettings() {
  std::lock_guard<std::mutex> lock(settings_mu_);
  settings_.reset();
  ++settings_generation_;
}

absl::StatusOr<Settings> ComplaintServiceImpl::LoadSettings() {
  Settings s{DeadlinePolicy::Defaults(), BusinessCalendar::AlwaysOpen(), 0, 0};
  auto policy = repo_->LoadPolicy();
  if (policy.ok()) {
    KEFU_ASSIGN_OR_RETURN(s.policy, PolicyFromProto(*policy));
    s.policy_version = policy->version();
  } else if (policy.status().code() != absl::StatusCode::kNotFound) {
    return policy.status();
  }
  auto calendar = repo_->LoadCalendar();
  pb::BusinessCalendar cal_proto = calendar.ok() ? *calendar : DefaultCalendarProto();
  if (!calendar.ok() && calendar.status().code() != absl::StatusCode::kNotFound) return calendar.status();
  KEFU_ASSIGN_OR_RETURN(s.calendar, CalendarFromProto(cal_proto));
  s.calendar_version = calendar.ok() ? calendar->version() : 0;
  return s;
}

absl::StatusOr<int> ComplaintServiceImpl::SweepOnce(int limit) {
  KEFU_ASSIGN_OR_RETURN(Settings settings, CurrentSettings());
  absl::Time now = clock_->Now();
  struct Outcome {
    pb::EscalationLevel to;
    std::string department;
    std::vector<std::string> breached;
  };
  std::vector<Outcome> outcomes;
  auto changed = repo_->SweepDue(now, limit, [&](const pb::WorkOrder& w,
                                                 const std::vector<HistoryEvent>& history) -> absl::StatusOr<Change> {
    const PolicyRule& rule = settings.policy.Match(ToSeverity(w.severity()), w.customer_tier(), w.type());
    Clocks clocks = ComputeClocks(w, history, rule, settings.calendar, now);
    absl::Time level_deadline = w.has_level_deadline() ? FromProtoTime(w.level_deadline()) : absl::InfiniteFuture();
    SweepDecision d = DecideSweep(w, clocks, level_deadline, rule, settings.calendar, now, config_.risk_threshold);
    Change ch;
    ch.updated = w;
    Outcome outcome{pb::ESCALATION_LEVEL_UNSPECIFIED, w.department_id(), {}};
    if (d.mark_overdue && !w.overdue()) {
      for (const auto& a : d.alerts)
        if (a.kind == pb::ALERT_KIND_BREACHED) outcome.breached.push_back(a.reason);
    }
    if (d.mark_overdue) ch.updated.set_overdue(true);
    if (d.escalate) {
      ch.updated.set_escalation_level(ToProtoLevel(d.to));
      bool has = false;
      SetDeadline(d.new_level_deadline, ch.updated.mutable_level_deadline(), &has);
      if (!has) ch.updated.clear_level_deadline();
      ch.events.push_back({pb::EVENT_KIND_ESCALATED,
                           absl::StrCat("自动升级至", d.to == EscalationLevel::kSeniorManagement ? "高层管理" : "部门经理",
                                        " escalated to ", LevelName(ToProtoLevel(d.to)), ": ", d.escalation_reason),
                           "system", true});
      outcome.to = ToProtoLevel(d.to);
    }
    ch.alerts = d.alerts;
    level_deadline = ch.updated.has_level_deadline() ? FromProtoTime(ch.updated.level_deadline()) : absl::InfiniteFuture();
    ch.next_check = NextCheckTime(ch.updated, clocks, level_deadline, rule, settings.calendar, now, config_.risk_threshold);
    outcomes.push_back(std::move(outcome));
    return ch;
  });
  if (!changed.ok()) return changed.status();
  // Counted after the commit, so a rolled-back sweep counts nothing.
  for (const auto& o : outcomes) {
    if (o.to != pb::ESCALATION_LEVEL_UNSPECIFIED) metrics_->Escalated(o.to, o.department);
    for (const auto& b : o.breached) metrics_->Breached(b, o.department);
  }
  return changed;
}

absl::Status ComplaintServiceImpl::ForEachWithHistory(
    const std::vector<pb::WorkOrder>& orders,
    const std::function<bool(const pb::WorkOrder&, const std::vector<HistoryEvent>&)>& fn) {
  // Histories a few hundred work orders at a time: one round trip per chunk, and a
  // caller that has seen enough stops before the rest are read.
  constexpr size_t kChunk = 256;
  for (size_t from = 0; from < orders.size(); from += kChunk) {
    const size_t to = std::min(orders.size(), from + kChunk);
    std::vector<int64_t> ids;
    for (size_t i = from; i < to; ++i) ids.push_back(orders[i].id());
    KEFU_ASSIGN_OR_RETURN(auto histories, repo_->Histories(ids));
    for (size_t i = from; i < to; ++i)
      if (!fn(orders[i], histories[orders[i].id()])) return absl::OkStatus();
  }
  return absl::OkStatus();
}

void ComplaintServiceImpl::RefreshMetrics() {
  auto open = repo_->CountOpen();
  auto overdue = repo_->CountOverdueOpen();
  if (!open.ok() || !overdue.ok()) return;
  int64_t at_risk = 0;
  auto settings = CurrentSettings();
  auto candidates = repo_->OpenWithDeadlines("", "", 10000);
  if (settings.ok() && candidates.ok()) {
    absl::Time now = clock_->Now();
    absl::Status counted =
        ForEachWithHistory(*candidates, [&](const pb::WorkOrder& w, const std::vector<HistoryEvent>& history) {
          const PolicyRule& rule = settings->policy.Match(ToSeverity(w.severity()), w.customer_tier(), w.type());
          Clocks c = ComputeClocks(w, history, rule, settings->calendar, now);
          if (AtRisk(c.response, config_.risk_threshold) || AtRisk(c.resolution, config_.risk_threshold)) ++at_risk;
          return true;
        });
    // A count cut short is not published: the gauges keep their last complete values.
    if (!counted.ok()) {
      log::Warn("at-risk count failed", {{"error", counted.ToString()}});
      return;
    }
  }
  metrics_->SetOpen(*open, *overdue, at_risk);
}

std::pair<pb::ServiceType, int64_t> ComplaintServiceImpl::Classify(int64_t customer_id, absl::Time received,
                                                                   const Caller* caller) {
  std::string day = absl::FormatCivilTime(absl::ToCivilDay(received, config_.zone));
  auto e = clients::CheckEntitlement(config_.contracts, customer_id, day, config_.customers_timeout, caller);
  if (!e.ok()) {
    if (config_.contracts) log::Warn("entitlement unavailable; work order left unclassified",
                                     {{"customer_id", customer_id}, {"error", e.status().ToString()}});
    return {pb::SERVICE_TYPE_UNCLASSIFIED, 0};
  }
  switch (e->kind()) {
    case contracts::v1::ENTITLEMENT_KIND_CONTRACT: return {pb::SERVICE_TYPE_CONTRACT, e->contract_id()};
    case contracts::v1::ENTITLEMENT_KIND_FREE_WARRANTY: return {pb::SERVICE_TYPE_FREE_WARRANTY, e->contract_id()};
    default: return {pb::SERVICE_TYPE_PAID, 0};
  }
}

absl::StatusOr<int> ComplaintServiceImpl::ClassifyPending(int limit) {
  if (!config_.contracts) return 0;
  KEFU_ASSIGN_OR_RETURN(auto pending, repo_->OpenUnclassified(limit));
  int classified = 0;
  for (const auto& w : pending) {
    auto [type, contract_id] = Classify(w.customer_id(), FromProtoTime(w.received_time()), nullptr);
    if (type == pb::SERVICE_TYPE_UNCLASSIFIED) break;  // contracts still cannot answer
    auto updated = Apply(w.id(), 0, [&](pb::WorkOrder& order, std::vector<NewEvent>& events, auto&) -> absl::Status {
      if (order.service_type() != pb::SERVICE_TYPE_UNCLASSIFIED) return absl::OkStatus();  // someone was faster
      order.set_service_type(type);
      order.set_contract_id(contract_id);
      events.push_back({pb::EVENT_KIND_CLASSIFIED,
                        absl::StrCat("服务类型 service type: ",
                                     type == pb::SERVICE_TYPE_CONTRACT ? "合同服务 contract service"
                                     : type == pb::SERVICE_TYPE_FREE_WARRANTY ? "保修期免费 free under warranty"
                                                                              : "有偿服务 paid"),
                        "system", false});
      return absl::OkStatus();
    });
    if (updated.ok()) ++classified;
  }
  return classified;
}

namespace {
// The work order, if the caller's department scope covers it (security/scope.h).
absl::StatusOr<pb::WorkOrder> GetInScope(Repository& repo, int64_t id, const grpc::ServerContext& ctx) {
  const auto scope = security::DepartmentScope::Of(CallerFrom(ctx));
  auto w = repo.Get(id);
  KEFU_RETURN_IF_ERROR(scope.Hide(w.status()));
  KEFU_RETURN_IF_ERROR(scope.Check(w->department_id()));
  return w;
}
}  // namespace

// ---- state changes ----

absl::StatusOr<pb::WorkOrder> ComplaintServiceImpl::ApplyAs(const grpc::ServerContext* ctx, absl::string_view rpc,
                                                            const IdempotencyKey& key, int64_t id, int64_t version,
                                                            const Act& act) {
  const auto scope = security::DepartmentScope::Of(CallerFrom(*ctx));
  // Scope first, so a stale version cannot reveal that an out-of-scope id exists.
  if (!scope.company_wide()) KEFU_RETURN_IF_ERROR(GetInScope(*repo_, id, *ctx).status());
  return Apply(id, version, act, &scope, rpc, key);
}

absl::StatusOr<pb::WorkOrder> ComplaintServiceImpl::Apply(int64_t id, int64_t version, const Act& act,
                                                          const security::DepartmentScope* scope,
                                                          absl::string_view rpc, const IdempotencyKey& key) {
  KEFU_ASSIGN_OR_RETURN(Settings settings, CurrentSettings());
  auto decide = [&](const pb::WorkOrder& current, const std::vector<HistoryEvent>& history) -> absl::StatusOr<Change> {
    if (scope) KEFU_RETURN_IF_ERROR(scope->Check(current.department_id()));
    Change ch;
    ch.updated = current;
    KEFU_RETURN_IF_ERROR(act(ch.updated, ch.events, ch.follow_up));
    absl::Time now = clock_->Now();
    std::vector<HistoryEvent> full = history;
    for (const auto& e : ch.events) full.push_back({now, e.kind});
    ch.next_check = Recompute(ch.updated, full, settings, config_.risk_threshold, now);
    return ch;
  };
  auto result = repo_->Mutate(id, version, rpc, key, decide);
  if (scope) KEFU_RETURN_IF_ERROR(scope->Hide(result.status()));
  return result;
}

grpc::Status ComplaintServiceImpl::CreateWorkOrder(grpc::ServerContext* ctx, const pb::CreateWorkOrderRequest* req,
                                                   pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (!req->has_work_order()) v.Add("work_order", "is required");
    else v.Merge(ValidateNewWorkOrder(req->work_order()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    absl::Time now = clock_->Now();
    pb::WorkOrder w = req->work_order();
    if (!w.has_received_time() || FromProtoTime(w.received_time()) > now) *w.mutable_received_time() = ToProtoTime(now);
    w.set_first_contact_owner_id(caller.ActorOrSystem());
    if (w.department_id().empty()) w.set_department_id(caller.department_id);
    KEFU_RETURN_IF_ERROR(security::DepartmentScope::Of(caller).Check(w.department_id()));
    w.set_status(pb::STATUS_NEW);
    // The tier sets the deadlines. It comes from the copy of customers' tiers when that
    // holds the customer, else from customers, whose answer is then kept. If customers
    // cannot answer, the work order is still taken (tier 0 = the policy's catch-all
    // rules); an unknown customer is refused. Contracts is asked for the entitlement
    // while the tier is on its way.
    std::optional<int> known_tier = KnownTier(w.customer_id(), now);
    std::optional<clients::PendingTier> tier_lookup;
    if (!known_tier)
      tier_lookup.emplace(
          clients::StartGetCustomerTier(config_.customers, w.customer_id(), config_.customers_timeout, &caller));
    auto [service_type, contract_id] = Classify(w.customer_id(), FromProtoTime(w.received_time()), &caller);
    std::optional<pb::CustomerTierNotice> learned_tier;
    if (known_tier) {
      w.set_customer_tier(*known_tier);
    } else if (auto answer = tier_lookup->Wait(); answer.ok()) {
      w.set_customer_tier(answer->tier());
      if (config_.customer_tier_max_age > absl::ZeroDuration()) {
        learned_tier.emplace();
        learned_tier->set_customer_id(w.customer_id());
        learned_tier->set_tier(answer->tier());
        learned_tier->set_version(answer->version());
      }
    } else if (answer.status().code() == absl::StatusCode::kNotFound) {
      return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_CUSTOMER",
                       absl::StrCat("work_order.customer_id: customer ", w.customer_id(), " does not exist"),
                       {{"work_order.customer_id", "does not exist"}});
    } else {
      log::Warn("customer tier unavailable; using default deadlines",
                {{"customer_id", w.customer_id()}, {"error", answer.status().ToString()}});
      w.set_customer_tier(0);
    }
    metrics_->TierFrom(known_tier.has_value());
    w.set_service_type(service_type);
    w.set_contract_id(contract_id);
    w.set_escalation_level(ToProtoLevel(InitialLevel(ToSeverity(w.severity()))));
    KEFU_ASSIGN_OR_RETURN(Settings settings, CurrentSettings());
    std::vector<HistoryEvent> history{{FromProtoTime(w.received_time()), pb::EVENT_KIND_CREATED}};
    absl::Time next = Recompute(w, history, settings, config_.risk_threshold, now);
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Create(w, next, IdempotencyKeyOf(*req), caller.ActorOrSystem(),
                                               learned_tier ? &*learned_tier : nullptr));
    metrics_->Created(resp->type());
    return absl::OkStatus();
  });
}

std::optional<int> ComplaintServiceImpl::KnownTier(int64_t customer_id, absl::Time now) {
  if (config_.customer_tier_max_age <= absl::ZeroDuration()) return std::nullopt;
  auto known = repo_->FindKnownTier(customer_id);
  if (!known.ok()) {
    // The copy is a shortcut: without it, customers is asked as before.
    log::Warn("copy of customer tiers unreadable; asking customers",
              {{"customer_id", customer_id}, {"error", known.status().ToString()}});
    return std::nullopt;
  }
  if (!*known || now - (*known)->checked_time >= config_.customer_tier_max_age) return std::nullopt;
  return (*known)->tier;
}

grpc::Status ComplaintServiceImpl::GetWorkOrder(grpc::ServerContext* ctx, const pb::GetWorkOrderRequest* req,
                                                pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, GetInScope(*repo_, req->work_order_id(), *ctx));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::ListWorkOrders(grpc::ServerContext* ctx, const pb::ListWorkOrdersRequest* req,
                                                  pb::ListWorkOrdersResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    if (req->customer_id() < 0) v.Add("customer_id", "must not be negative");
    v.Merge(CheckEnum("status", req->status(), pb::Status_IsValid, false));
    v.Merge(CheckEnum("severity", req->severity(), pb::Severity_IsValid, false));
    v.Merge(CheckEnum("type", req->type(), pb::WorkOrderType_IsValid, false));
    v.Merge(CheckEnum("escalation_level", req->escalation_level(), pb::EscalationLevel_IsValid, false));
    v.Merge(CheckId("handler_id", req->handler_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    if (req->has_received_from() && req->has_received_to() &&
        FromProtoTime(req->received_from()) >= FromProtoTime(req->received_to()))
      v.Add("received_to", "must be after received_from");
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::ListWorkOrdersRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    ListFilter f;
    f.customer_id = req->customer_id();
    f.status = req->status();
    f.severity = req->severity();
    f.type = req->type();
    f.handler_id = req->handler_id();
    KEFU_ASSIGN_OR_RETURN(f.department_id,
                          security::DepartmentScope::Of(CallerFrom(*ctx)).ListDepartment(req->department_id()));
    f.overdue_only = req->overdue_only();
    f.open_only = req->open_only();
    f.level = req->escalation_level();
    if (req->has_received_from()) f.received_from = FromProtoTime(req->received_from());
    if (req->has_received_to()) f.received_to = FromProtoTime(req->received_to());
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto items, repo_->List(f, EffectivePageSize(req->page_size()), after, &more));
    for (auto& w : items) *resp->add_work_orders() = std::move(w);
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->work_orders(resp->work_orders_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::AcceptWorkOrder(grpc::ServerContext* ctx, const pb::WorkOrderActionRequest* req,
                                                   pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_RETURN_IF_ERROR(CheckVersion(req->version()));
    KEFU_RETURN_IF_ERROR(CheckText("note", req->note(), kMaxNoteChars, false));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    Caller caller = CallerFrom(*ctx);
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.AcceptWorkOrder", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(w.status(), Action::kAccept));
                                         w.set_status(next);
                                         *w.mutable_responded_time() = ToProtoTime(now);
                                         w.clear_response_deadline();
                                         if (w.handler_id().empty()) w.set_handler_id(caller.ActorOrSystem());
                                         events.push_back({pb::EVENT_KIND_ACCEPTED,
                                                           absl::StrCat("已受理 accepted by ", caller.ActorOrSystem(),
                                                                        req->note().empty() ? "" : ": ", req->note()),
                                                           caller.ActorOrSystem(), true});
                                         return absl::OkStatus();
                                       }));
    metrics_->Responded(absl::ToDoubleSeconds(now - FromProtoTime(resp->received_time())));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::AssignWorkOrder(grpc::ServerContext* ctx, const pb::AssignWorkOrderRequest* req,
                                                   pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckWorkOrderId(req->work_order_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckId("handler_id", req->handler_id(), kMaxIdChars, false));
    if (req->department_id().empty() && req->handler_id().empty())
      v.Add("handler_id", "one of department_id or handler_id is required");
    v.Merge(CheckText("note", req->note(), kMaxNoteChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    if (!req->handler_id().empty())
      KEFU_RETURN_IF_ERROR(clients::RequireActiveStaff(config_.performance, req->handler_id(), "handler_id",
                                                       config_.customers_timeout, &caller));
    std::string actor = caller.ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.AssignWorkOrder", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         if (!IsOpen(w.status()))
                                           return MakeError(absl::StatusCode::kFailedPrecondition, "WORK_ORDER_CLOSED",
                                                            absl::StrCat("work order ", w.id(), " is closed"));
                                         if (!req->department_id().empty()) w.set_department_id(req->department_id());
                                         if (!req->handler_id().empty()) w.set_handler_id(req->handler_id());
                                         events.push_back({pb::EVENT_KIND_ASSIGNED,
                                                           absl::StrCat("派单 assigned to ", w.department_id(), "/",
                                                                        w.handler_id(), req->note().empty() ? "" : ": ",
                                                                        req->note()),
                                                           actor, false});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::StartWork(grpc::ServerContext* ctx, const pb::WorkOrderActionRequest* req,
                                             pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_RETURN_IF_ERROR(CheckVersion(req->version()));
    KEFU_RETURN_IF_ERROR(CheckText("note", req->note(), kMaxNoteChars, false));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.StartWork", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(w.status(), Action::kStartWork));
                                         w.set_status(next);
                                         events.push_back({pb::EVENT_KIND_STARTED, "开始处理 work started", actor, false});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::PauseSla(grpc::ServerContext* ctx, const pb::PauseSlaRequest* req,
                                            pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckWorkOrderId(req->work_order_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckEnum("reason", req->reason(), pb::PauseReason_IsValid, true));
    v.Merge(CheckText("note", req->note(), kMaxNoteChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.PauseSla", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         if (w.status() != pb::STATUS_IN_PROGRESS)
                                           return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_IN_PROGRESS",
                                                            "only a work order in progress can wait");
                                         if (w.sla_paused())
                                           return MakeError(absl::StatusCode::kFailedPrecondition, "ALREADY_PAUSED",
                                                            "the deadline clock is already paused");
                                         w.set_sla_paused(true);
                                         w.set_pause_reason(req->reason());
                                         events.push_back({pb::EVENT_KIND_PAUSED,
                                                           absl::StrCat(req->reason() == pb::PAUSE_REASON_WAITING_CUSTOMER
                                                                            ? "等待客户 waiting on the customer"
                                                                            : "等待第三方 waiting on a third party",
                                                                        req->note().empty() ? "" : ": ", req->note()),
                                                           actor, false});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::ResumeSla(grpc::ServerContext* ctx, const pb::WorkOrderActionRequest* req,
                                             pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_RETURN_IF_ERROR(CheckVersion(req->version()));
    KEFU_RETURN_IF_ERROR(CheckText("note", req->note(), kMaxNoteChars, false));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.ResumeSla", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         if (!w.sla_paused())
                                           return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_PAUSED",
                                                            "the deadline clock is not paused");
                                         w.set_sla_paused(false);
                                         w.set_pause_reason(pb::PAUSE_REASON_UNSPECIFIED);
                                         events.push_back({pb::EVENT_KIND_RESUMED, "继续处理 resumed", actor, false});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::ChangeSeverity(grpc::ServerContext* ctx, const pb::ChangeSeverityRequest* req,
                                                  pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckWorkOrderId(req->work_order_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckEnum("severity", req->severity(), pb::Severity_IsValid, true));
    v.Merge(CheckText("reason", req->reason(), kMaxNoteChars, true));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.ChangeSeverity", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         if (!IsOpen(w.status()))
                                           return MakeError(absl::StatusCode::kFailedPrecondition, "WORK_ORDER_CLOSED",
                                                            absl::StrCat("work order ", w.id(), " is closed"));
                                         if (w.severity() == req->severity())
                                           return MakeError(absl::StatusCode::kFailedPrecondition, "NO_CHANGE",
                                                            "severity: the work order already has this severity");
                                         w.set_severity(req->severity());
                                         // A major complaint goes to senior management at once.
                                         if (req->severity() == pb::SEVERITY_MAJOR)
                                           w.set_escalation_level(pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT);
                                         events.push_back({pb::EVENT_KIND_SEVERITY_CHANGED,
                                                           absl::StrCat("严重程度变更 severity changed to ",
                                                                        pb::Severity_Name(req->severity()).substr(9), ": ",
                                                                        req->reason()),
                                                           actor, true});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::AddNote(grpc::ServerContext* ctx, const pb::AddNoteRequest* req,
                                           pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_RETURN_IF_ERROR(CheckText("text", req->text(), kMaxNoteChars, true));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.AddNote", IdempotencyKeyOf(*req),
                                       req->work_order_id(), 0,
                                       [&](pb::WorkOrder&, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         events.push_back({pb::EVENT_KIND_NOTE, req->text(), actor, false});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::ResolveWorkOrder(grpc::ServerContext* ctx, const pb::ResolveWorkOrderRequest* req,
                                                    pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckWorkOrderId(req->work_order_id()));
    v.Merge(CheckVersion(req->version()));
    if (!req->has_resolution()) v.Add("resolution", "is required");
    else v.Merge(ValidateResolution(req->resolution()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.ResolveWorkOrder", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(w.status(), Action::kResolve));
                                         w.set_status(next);
                                         *w.mutable_resolution() = req->resolution();
                                         *w.mutable_resolved_time() = ToProtoTime(now);
                                         w.set_sla_paused(false);
                                         events.push_back({pb::EVENT_KIND_RESOLVED,
                                                           absl::StrCat("已解决 resolved: ", req->resolution().summary()),
                                                           actor, true});
                                         return absl::OkStatus();
                                       }));
    metrics_->Resolved(absl::ToDoubleSeconds(now - FromProtoTime(resp->received_time())));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::StartFollowUp(grpc::ServerContext* ctx, const pb::WorkOrderActionRequest* req,
                                                 pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_RETURN_IF_ERROR(CheckVersion(req->version()));
    KEFU_RETURN_IF_ERROR(CheckText("note", req->note(), kMaxNoteChars, false));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.StartFollowUp", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(w.status(), Action::kStartFollowUp));
                                         w.set_status(next);
                                         events.push_back({pb::EVENT_KIND_FOLLOW_UP_STARTED, "开始回访 follow-up started",
                                                           actor, false});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::RecordFollowUp(grpc::ServerContext* ctx, const pb::RecordFollowUpRequest* req,
                                                  pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckWorkOrderId(req->work_order_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckSatisfaction(req->satisfaction()));
    v.Merge(CheckText("note", req->note(), kMaxNoteChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    absl::Time now = clock_->Now();
    bool satisfied = IsSatisfied(req->satisfaction());
    KEFU_ASSIGN_OR_RETURN(
        *resp, ApplyAs(ctx, "complaints.RecordFollowUp", IdempotencyKeyOf(*req),
                     req->work_order_id(), req->version(),
                     [&](pb::WorkOrder& w, std::vector<NewEvent>& events,
                         std::optional<pb::FollowUp>& follow_up) -> absl::Status {
                       KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(w.status(), satisfied ? Action::kFollowUpSatisfied
                                                                                         : Action::kFollowUpUnsatisfied));
                       pb::FollowUp f;
                       f.set_staff_id(actor);
                       f.set_satisfaction(req->satisfaction());
                       f.set_note(req->note());
                       follow_up = f;
                       w.set_status(next);
                       events.push_back({pb::EVENT_KIND_FOLLOW_UP,
                                         absl::StrCat("回访 follow-up: satisfaction ", req->satisfaction(), "/5",
                                                      req->note().empty() ? "" : ": ", req->note()),
                                         actor, true});
                       if (satisfied) {
                         *w.mutable_closed_time() = ToProtoTime(now);
                         events.push_back({pb::EVENT_KIND_CLOSED, "客户满意，结案 closed: customer satisfied", actor, true});
                       } else {
                         w.set_reopen_count(w.reopen_count() + 1);
                         w.clear_resolved_time();
                         events.push_back({pb::EVENT_KIND_REOPENED, "客户不满意，重新处理 reopened: customer not satisfied",
                                           actor, true});
                       }
                       return absl::OkStatus();
                     }));
    metrics_->FollowUp(satisfied);
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::CloseWithoutSatisfaction(grpc::ServerContext* ctx,
                                                            const pb::CloseWithoutSatisfactionRequest* req,
                                                            pb::WorkOrder* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckWorkOrderId(req->work_order_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckText("reason", req->reason(), 500, true));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    if (!caller.HasRole(kSeniorManagerRole))
      return MakeError(absl::StatusCode::kPermissionDenied, "SENIOR_MANAGER_ONLY",
                       "only a senior manager may close a work order without the customer's satisfaction");
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(*resp, ApplyAs(ctx, "complaints.CloseWithoutSatisfaction", IdempotencyKeyOf(*req),
                                       req->work_order_id(), req->version(),
                                       [&](pb::WorkOrder& w, std::vector<NewEvent>& events, auto&) -> absl::Status {
                                         KEFU_ASSIGN_OR_RETURN(
                                             auto next, NextStatus(w.status(), Action::kCloseWithoutSatisfaction));
                                         w.set_status(next);
                                         w.set_close_reason(req->reason());
                                         *w.mutable_closed_time() = ToProtoTime(now);
                                         events.push_back({pb::EVENT_KIND_CLOSED,
                                                           absl::StrCat("高层结案 closed by senior management: ",
                                                                        req->reason()),
                                                           caller.ActorOrSystem(), true});
                                         return absl::OkStatus();
                                       }));
    return absl::OkStatus();
  });
}

// ---- reads ----

grpc::Status ComplaintServiceImpl::GetTimeline(grpc::ServerContext* ctx, const pb::GetTimelineRequest* req,
                                               pb::Timeline* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckWorkOrderId(req->work_order_id()));
    KEFU_ASSIGN_OR_RETURN(*resp->mutable_work_order(), GetInScope(*repo_, req->work_order_id(), *ctx));
    KEFU_ASSIGN_OR_RETURN(auto events, repo_->Timeline(req->work_order_id()));
    for (auto& e : events) *resp->add_events() = std::move(e);
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::ListAtRisk(grpc::ServerContext* ctx, const pb::ListAtRiskRequest* req,
                                              pb::ListAtRiskResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckId("handler_id", req->handler_id(), kMaxIdChars, false));
    if (req->threshold_bp() < 0 || req->threshold_bp() > 10000) v.Add("threshold_bp", "must be 0 to 10000");
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    KEFU_RETURN_IF_ERROR(v.Finish());
    double threshold = req->threshold_bp() == 0 ? config_.risk_threshold : req->threshold_bp() / 10000.0;
    KEFU_ASSIGN_OR_RETURN(Settings settings, CurrentSettings());
    KEFU_ASSIGN_OR_RETURN(std::string department,
                          security::DepartmentScope::Of(CallerFrom(*ctx)).ListDepartment(req->department_id()));
    KEFU_ASSIGN_OR_RETURN(auto open, repo_->OpenWithDeadlines(department, req->handler_id(), 2000));
    absl::Time now = clock_->Now();
    int limit = EffectivePageSize(req->page_size());
    return ForEachWithHistory(open, [&](const pb::WorkOrder& w, const std::vector<HistoryEvent>& history) {
      const PolicyRule& rule = settings.policy.Match(ToSeverity(w.severity()), w.customer_tier(), w.type());
      Clocks c = ComputeClocks(w, history, rule, settings.calendar, now);
      for (const auto& [name, clock] : {std::pair<const char*, const SlaState*>{"response", &c.response},
                                        std::pair<const char*, const SlaState*>{"resolution", &c.resolution}}) {
        if (!AtRisk(*clock, threshold)) continue;
        auto* item = resp->add_items();
        *item->mutable_work_order() = w;
        item->set_deadline(name);
        item->set_used_bp(static_cast<int32_t>(clock->used_fraction * 10000));
        break;
      }
      return resp->items_size() < limit;
    });
  });
}

grpc::Status ComplaintServiceImpl::WatchAlerts(grpc::ServerContext* ctx, const pb::WatchAlertsRequest* req,
                                               grpc::ServerWriter<pb::Alert>* writer) {
  Validator v;
  v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
  v.Merge(CheckId("handler_id", req->handler_id(), kMaxIdChars, false));
  if (req->after_alert_id() < 0) v.Add("after_alert_id", "must not be negative");
  if (!v.ok()) return ToGrpcStatus(v.Finish());
  // A department-scoped caller watches their own department only.
  auto department = security::DepartmentScope::Of(CallerFrom(*ctx)).ListDepartment(req->department_id());
  if (!department.ok()) return ToGrpcStatus(department.status());
  // Alerts are rows, so every replica streams the same alerts whichever wrote them.
  int64_t cursor = req->after_alert_id();
  if (!req->has_after_alert_id()) {
    auto last = repo_->LastAlertId();
    if (!last.ok()) return ToGrpcStatus(last.status());
    cursor = *last;
  }
  ctx->AddInitialMetadata(kAlertCursorHeader, absl::StrCat(cursor));
  writer->SendInitialMetadata();
  while (!ctx->IsCancelled() && !stopping_) {
    // A stream outlives the check at its start: end it when the token expires.
    if (!security::IdentityOf(ctx->client_metadata()))
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the token expired; watch again with a fresh one");
    constexpr int kBatch = 200;
    int64_t next = cursor;
    auto alerts = repo_->AlertsAfter(cursor, kBatch, &next);
    bool backlog = alerts.ok() && static_cast<int>(alerts->size()) == kBatch;  // a resumed watch catching up
    if (alerts.ok()) {
      for (const auto& a : *alerts) {
        if (!department->empty() && a.department_id() != *department) continue;
        if (!req->handler_id().empty() && a.handler_id() != req->handler_id()) continue;
        if (!writer->Write(a)) return grpc::Status::OK;  // the client went away
      }
      cursor = next;
    }
    if (!backlog) absl::SleepFor(config_.watch_poll);
  }
  if (stopping_)  // UNAVAILABLE tells the watcher to come back (to another replica)
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down; watch again with after_alert_id");
  return grpc::Status::OK;
}

grpc::Status ComplaintServiceImpl::GetDeadlinePolicy(grpc::ServerContext*, const pb::GetDeadlinePolicyRequest*,
                                                     pb::DeadlinePolicy* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_ASSIGN_OR_RETURN(Settings s, LoadSettings());
    *resp = PolicyToProto(s.policy);
    resp->set_version(s.policy_version);
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::UpdateDeadlinePolicy(grpc::ServerContext*, const pb::UpdateDeadlinePolicyRequest* req,
                                                        pb::DeadlinePolicy* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(PolicyFromProto(req->policy()).status());
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SavePolicy(req->policy(), IdempotencyKeyOf(*req)));
    ForgetSettings();
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::GetBusinessCalendar(grpc::ServerContext*, const pb::GetBusinessCalendarRequest*,
                                                       pb::BusinessCalendar* resp) {
  return RunHandler([&]() -> absl::Status {
    auto stored = repo_->LoadCalendar();
    if (stored.ok()) {
      *resp = *stored;
      return absl::OkStatus();
    }
    if (stored.status().code() != absl::StatusCode::kNotFound) return stored.status();
    *resp = DefaultCalendarProto();
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::UpdateBusinessCalendar(grpc::ServerContext*,
                                                          const pb::UpdateBusinessCalendarRequest* req,
                                                          pb::BusinessCalendar* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CalendarFromProto(req->calendar()).status());
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SaveCalendar(req->calendar(), IdempotencyKeyOf(*req)));
    ForgetSettings();
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::GetKpis(grpc::ServerContext*, const pb::GetKpisRequest* req, pb::Kpis* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckId("handler_id", req->handler_id(), kMaxIdChars, false));
    if (!req->has_from()) v.Add("from", "is required");
    if (!req->has_to()) v.Add("to", "is required");
    if (req->has_from() && req->has_to() && FromProtoTime(req->from()) >= FromProtoTime(req->to()))
      v.Add("to", "must be after from");
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(auto k, repo_->Kpis(req->department_id(), req->handler_id(), FromProtoTime(req->from()),
                                              FromProtoTime(req->to())));
    auto bp = [](int64_t num, int64_t den) { return den == 0 ? 0 : static_cast<int32_t>(num * 10000 / den); };
    resp->set_received(static_cast<int32_t>(k.received));
    resp->set_closed(static_cast<int32_t>(k.closed));
    resp->set_open(static_cast<int32_t>(k.open));
    resp->set_overdue(static_cast<int32_t>(k.overdue));
    resp->set_escalated(static_cast<int32_t>(k.escalated));
    // Follow-up rate: resolved work orders that got at least one follow-up visit.
    resp->set_follow_up_rate_bp(bp(k.followed_up, k.resolved));
    resp->set_satisfaction_rate_bp(bp(k.satisfied_follow_ups, k.follow_ups));
    resp->set_rework_rate_bp(bp(k.reopened, k.resolved));
    resp->set_overdue_rate_bp(bp(k.overdue, k.received));
    resp->set_mean_seconds_to_respond(k.responded == 0 ? 0 : k.seconds_to_respond_sum / k.responded);
    resp->set_mean_seconds_to_resolve(k.resolved == 0 ? 0 : k.seconds_to_resolve_sum / k.resolved);
    return absl::OkStatus();
  });
}

grpc::Status ComplaintServiceImpl::GetQualitySeries(grpc::ServerContext*, const pb::GetQualitySeriesRequest* req,
                                                    pb::QualitySeries* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckEnum("measure", req->measure(), pb::QualityMeasure_IsValid, true));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckId("handler_id", req->handler_id(), kMaxIdChars, false));
    if (!req->department_id().empty() && !req->handler_id().empty())
      v.Add("handler_id", "must be empty when department_id is given (at most one of the two)");
    if (!req->has_from()) {
      v.Add("from", "is required");
    } else if (auto year = absl::ToCivilDay(FromProtoTime(req->from()), config_.zone).year();
               year < 1970 || year > 9000) {
      v.Add("from", "must be between the years 1970 and 9000");
    }
    if (req->weeks() < 1 || req->weeks() > kMaxQualityWeeks)
      v.Add("weeks", absl::StrCat("must be 1 to ", kMaxQualityWeeks));
    KEFU_RETURN_IF_ERROR(v.Finish());
    // Weeks run from Monday 00:00 to Monday 00:00 in the service's time zone.
    absl::CivilDay first = MondayOf(absl::ToCivilDay(FromProtoTime(req->from()), config_.zone));
    std::vector<absl::Time> starts;
    for (int i = 0; i <= req->weeks(); ++i) starts.push_back(absl::FromCivil(first + 7 * i, config_.zone));
    KEFU_ASSIGN_OR_RETURN(auto weeks,
                          repo_->QualitySeries(req->measure(), req->department_id(), req->handler_id(), starts));
    resp->set_measure(req->measure());
    for (int i = 0; i < req->weeks(); ++i) {
      const WeekAggregate& a = weeks[i];
      pb::QualityWeek* w = resp->add_weeks();
      w->set_week(IsoWeekName(first + 7 * i));
      *w->mutable_start() = ToProtoTime(starts[i]);
      w->set_total(a.count);
      w->set_defects(a.defects);
      if (req->measure() == pb::QUALITY_MEASURE_OVERDUE_RATE) continue;  // a rate: no mean
      w->set_n(a.count);
      w->set_mean(a.count == 0 ? 0 : a.sum / static_cast<double>(a.count));
      w->set_stddev(a.count < 2 ? 0 : a.stddev);
    }
    return absl::OkStatus();
  });
}

// The most tier changes one RecordCustomerTiers takes (one transaction).
constexpr int kMaxTierBatch = 100;

grpc::Status ComplaintServiceImpl::RecordCustomerTiers(grpc::ServerContext*, const pb::RecordCustomerTiersRequest* req,
                                                       pb::RecordCustomerTiersResponse*) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (req->tiers_size() == 0) v.Add("tiers", "is required");
    if (req->tiers_size() > kMaxTierBatch)
      v.Add("tiers", absl::StrCat("must be at most ", kMaxTierBatch, " (", req->tiers_size(), " given)"));
    for (int i = 0; i < req->tiers_size() && i < kMaxTierBatch; ++i) {
      const auto& t = req->tiers(i);
      const std::string at = absl::StrCat("tiers[", i, "]");
      if (t.customer_id() <= 0) v.Add(at + ".customer_id", t.customer_id() == 0 ? "is required" : "must be positive");
      if (t.tier() < 1 || t.tier() > 4) v.Add(at + ".tier", "must be 1 (standard) to 4 (platinum)");
      if (t.version() <= 0) v.Add(at + ".version", t.version() == 0 ? "is required" : "must be positive");
    }
    KEFU_RETURN_IF_ERROR(v.Finish());
    return repo_->RecordTiers({req->tiers().begin(), req->tiers().end()});
  });
}

}  // namespace kefu::complaints
