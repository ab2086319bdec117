#include "service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/validation.h"

namespace kefu::sales {

namespace {

absl::Status CheckProjectId(int64_t id) {
  if (id <= 0) return id == 0 ? RequiredField("project_id") : InvalidField("project_id", "must be positive");
  return absl::OkStatus();
}

// customers could not answer at all (down, restarting, too slow): the only outcome
// that lets a project be created without the customer check.
bool CustomersCannotAnswer(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded;
}

absl::StatusOr<std::optional<absl::CivilDay>> OptionalDate(const char* field, const std::string& text) {
  if (text.empty()) return std::optional<absl::CivilDay>();
  KEFU_ASSIGN_OR_RETURN(absl::CivilDay d, ParseDate(field, text));
  return std::optional<absl::CivilDay>(d);
}

}  // namespace

outbox::Handler DraftContractHandler(std::shared_ptr<grpc::Channel> contracts, Repository* repo,
                                     absl::Duration timeout) {
  return [contracts, repo, timeout](const std::string&, const std::string& payload) -> absl::Status {
    if (!contracts) return absl::UnavailableError("contracts service is not configured");
    if (DependencyDown(contracts)) return absl::UnavailableError(absl::StrCat("contracts service ", kDependencyDown));
    contracts::v1::CreateDraftForProjectRequest req;
    if (!req.ParseFromString(payload)) return absl::DataLossError("unreadable draft request");
    auto ctx = NewCallContext(timeout);
    contracts::v1::Contract draft;
    grpc::Status s = contracts::v1::ContractService::NewStub(contracts)->CreateDraftForProject(ctx.get(), req, &draft);
    if (!s.ok()) return FromGrpcStatus(s);
    return repo->SetContractId(req.sales_project_id(), draft.id());
  };
}

BusinessMetrics::BusinessMetrics(prometheus::Registry& registry) {
  auto& projects = prometheus::BuildGauge().Name("kefu_sales_open_projects").Help("Open sales projects by stage.").Register(registry);
  auto& amount = prometheus::BuildGauge()
                     .Name("kefu_sales_pipeline_amount_minor")
                     .Help("Estimated amount of open projects by stage, minor units (CNY).")
                     .Register(registry);
  auto& weighted = prometheus::BuildGauge()
                       .Name("kefu_sales_pipeline_weighted_amount_minor")
                       .Help("Probability-weighted amount of open projects by stage, minor units (CNY).")
                       .Register(registry);
  for (int s = pb::STAGE_INITIATION; s <= pb::STAGE_IMPLEMENTATION; ++s) {
    std::string name = StageName(static_cast<pb::Stage>(s));
    projects_[name] = &projects.Add({{"stage", name}});
    amount_[name] = &amount.Add({{"stage", name}});
    weighted_[name] = &weighted.Add({{"stage", name}});
  }
  auto& closed = prometheus::BuildCounter().Name("kefu_sales_projects_closed_total").Help("Projects closed, by result.").Register(registry);
  for (pb::Stage s : {pb::STAGE_WON, pb::STAGE_LOST, pb::STAGE_TERMINATED})
    closed_[s] = &closed.Add({{"result", StageName(s)}});
  created_unchecked_ = &prometheus::BuildCounter()
                            .Name("kefu_sales_projects_created_without_customer_check_total")
                            .Help("Projects created while customers could not confirm their customer.")
                            .Register(registry)
                            .Add({});
  awaiting_check_ = &prometheus::BuildGauge()
                         .Name("kefu_sales_projects_awaiting_customer_check")
                         .Help("Projects whose customer customers has not confirmed yet (checked again in the background).")
                         .Register(registry)
                         .Add({});
  open_customer_not_found_ = &prometheus::BuildGauge()
                                  .Name("kefu_sales_open_projects_customer_not_found")
                                  .Help("Open projects whose customer the background check found does not exist.")
                                  .Register(registry)
                                  .Add({});
}

void BusinessMetrics::CreatedUnchecked() { created_unchecked_->Increment(); }

void BusinessMetrics::SetCustomerChecks(const CustomerCheckCounts& counts) {
  awaiting_check_->Set(static_cast<double>(counts.pending));
  open_customer_not_found_->Set(static_cast<double>(counts.open_not_found));
}

void BusinessMetrics::Closed(pb::Stage stage) {
  if (auto it = closed_.find(stage); it != closed_.end()) it->second->Increment();
}

void BusinessMetrics::SetPipeline(const std::vector<pb::PipelineRow>& rows) {
  for (auto& [name, g] : projects_) g->Set(0);
  for (auto& [name, g] : amount_) g->Set(0);
  for (auto& [name, g] : weighted_) g->Set(0);
  for (const auto& r : rows) {
    if (auto it = projects_.find(r.key()); it != projects_.end()) it->second->Set(static_cast<double>(r.count()));
    if (auto it = amount_.find(r.key()); it != amount_.end()) it->second->Set(static_cast<double>(r.amount_minor()));
    if (auto it = weighted_.find(r.key()); it != weighted_.end())
      it->second->Set(static_cast<double>(r.weighted_amount_minor()));
  }
}

void SalesServiceImpl::RefreshMetrics() {
  auto probs = Probabilities();
  if (!probs.ok()) return;
  PipelineFilter f;
  auto rows = repo_->Pipeline(pb::GROUP_BY_STAGE, f, ProbabilityByStage(*probs));
  if (rows.ok()) metrics_->SetPipeline(*rows);
  auto checks = repo_->CountCustomerChecks();
  if (checks.ok()) metrics_->SetCustomerChecks(*checks);
}

absl::StatusOr<int> SalesServiceImpl::SweepPendingCustomerChecks(int limit) {
  KEFU_ASSIGN_OR_RETURN(auto pending, repo_->PendingCustomerChecks(limit));
  // One question per customer and round; UNSPECIFIED: no answer this round.
  std::map<int64_t, pb::CustomerCheck> answers;
  int changed = 0;
  for (const auto& p : pending) {
    auto answer = answers.find(p.customer_id);
    if (answer == answers.end()) {
      auto tier = clients::GetCustomerTier(config_.customers, p.customer_id, config_.customers_timeout);
      pb::CustomerCheck check = pb::CUSTOMER_CHECK_UNSPECIFIED;
      if (tier.ok()) {
        check = pb::CUSTOMER_CHECK_CONFIRMED;
      } else if (tier.status().code() == absl::StatusCode::kNotFound) {
        check = pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND;
      } else if (CustomersCannotAnswer(tier.status())) {
        break;  // still down: the rest wait for the next round, one failed call per round
      } else {
        log::Warn("customer check failed; the project stays pending",
                  {{"project_id", p.project_id}, {"customer_id", p.customer_id}, {"error", tier.status().ToString()}});
      }
      answer = answers.emplace(p.customer_id, check).first;
    }
    if (answer->second == pb::CUSTOMER_CHECK_UNSPECIFIED) continue;
    KEFU_ASSIGN_OR_RETURN(bool resolved, repo_->ResolveCustomerCheck(p.project_id, answer->second));
    if (!resolved) continue;  // another replica recorded it first
    ++changed;
    if (answer->second == pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND)
      log::Warn("sales project's customer does not exist; project kept, marked CUSTOMER_NOT_FOUND",
                {{"project_id", p.project_id}, {"project_number", ProjectNumber(p.project_id)},
                 {"customer_id", p.customer_id}});
  }
  return changed;
}

absl::StatusOr<pb::StageProbabilities> SalesServiceImpl::Probabilities() {
  auto stored = db::LoadSetting<pb::StageProbabilities>(*pool_, kStageProbabilitiesSetting);
  if (stored.ok()) return stored;
  if (stored.status().code() != absl::StatusCode::kNotFound) return stored.status();
  return DefaultProbabilities();
}

grpc::Status SalesServiceImpl::CreateProject(grpc::ServerContext* ctx, const pb::CreateProjectRequest* req,
                                             pb::Project* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_project()) return RequiredField("project");
    Caller caller = CallerFrom(*ctx);
    pb::Project p = req->project();
    if (p.owner_id().empty()) p.set_owner_id(caller.staff_id);
    if (p.estimated_amount().currency_code().empty()) p.mutable_estimated_amount()->set_currency_code("CNY");
    Validator v;
    v.Merge(ValidateProjectFields(p, "project"));
    v.Merge(ValidateCompetitors(p.competitors()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(InitiationCheck(p));
    const IdempotencyKey key = IdempotencyKeyOf(*req);
    // A retry of a create that went through is answered from the database, whatever
    // customers would say now.
    KEFU_ASSIGN_OR_RETURN(auto replayed, repo_->CreatedBy(key));
    if (replayed) {
      *resp = std::move(*replayed);
    } else {
      KEFU_ASSIGN_OR_RETURN(pb::CustomerCheck check, CheckCustomer(p.customer_id(), caller));
      p.set_customer_check(check);
      KEFU_ASSIGN_OR_RETURN(*resp, repo_->Create(p, key, caller.ActorOrSystem()));
      if (check == pb::CUSTOMER_CHECK_PENDING && resp->customer_check() == pb::CUSTOMER_CHECK_PENDING)
        metrics_->CreatedUnchecked();
    }
    KEFU_ASSIGN_OR_RETURN(auto probs, Probabilities());
    resp->set_probability_bp(ProbabilityByStage(probs)[resp->stage()]);
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::CustomerCheck> SalesServiceImpl::CheckCustomer(int64_t customer_id, const Caller& caller) {
  // Not configured at all is a deployment error, not an outage: refused as before.
  if (!config_.customers) {
    KEFU_RETURN_IF_ERROR(clients::RequireCustomer(config_.customers, customer_id, "project.customer_id",
                                                  config_.customers_timeout, &caller));
    return pb::CUSTOMER_CHECK_CONFIRMED;
  }
  auto tier = clients::GetCustomerTier(config_.customers, customer_id, config_.customers_timeout, &caller);
  if (tier.ok()) return pb::CUSTOMER_CHECK_CONFIRMED;
  if (CustomersCannotAnswer(tier.status())) {
    log::Warn("customers cannot confirm the customer; creating the project pending the customer check",
              {{"customer_id", customer_id}, {"error", tier.status().ToString()}});
    return pb::CUSTOMER_CHECK_PENDING;
  }
  // The rest as RequireCustomer reports them: an unknown customer is refused at once;
  // any other failure (customers answered, but not with the customer) is not an
  // outage, so it does not degrade.
  if (tier.status().code() == absl::StatusCode::kNotFound)
    return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_CUSTOMER",
                     absl::StrCat("project.customer_id: customer ", customer_id, " does not exist"),
                     {{"project.customer_id", "does not exist"}});
  return MakeError(absl::StatusCode::kUnavailable, "DEPENDENCY_UNAVAILABLE",
                   "the customers service cannot confirm the customer right now; retry");
}

grpc::Status SalesServiceImpl::GetProject(grpc::ServerContext*, const pb::GetProjectRequest* req, pb::Project* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckProjectId(req->project_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Get(req->project_id()));
    KEFU_ASSIGN_OR_RETURN(auto probs, Probabilities());
    resp->set_probability_bp(ProbabilityByStage(probs)[resp->stage()]);
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::UpdateProject(grpc::ServerContext* ctx, const pb::UpdateProjectRequest* req,
                                             pb::Project* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_project()) return RequiredField("project");
    Validator v;
    if (req->project().id() <= 0) v.Add("project.id", "is required");
    if (req->project().version() <= 0) v.Add("project.version", "is required");
    std::vector<std::string> paths(req->update_mask().paths().begin(), req->update_mask().paths().end());
    v.Merge(ValidateUpdateMask(paths));
    v.MergePatch(ValidateProjectFields(req->project(), "project"), "project", paths);
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->project().id(), req->project().version(), actor,
                                               "sales.UpdateProject", IdempotencyKeyOf(*req),
                                               [&](const pb::Project& current) -> absl::StatusOr<Change> {
                                                 if (IsClosed(current.stage()))
                                                   return MakeError(absl::StatusCode::kFailedPrecondition,
                                                                    "PROJECT_CLOSED", "a closed project cannot change");
                                                 Change ch;
                                                 ch.updated = ApplyUpdate(current, req->project(), paths);
                                                 if (ch.updated.estimated_amount().currency_code() !=
                                                     current.estimated_amount().currency_code())
                                                   return InvalidField("project.estimated_amount.currency_code",
                                                                       "cannot change after initiation");
                                                 KEFU_RETURN_IF_ERROR(ValidateProjectFields(ch.updated, "project"));
                                                 KEFU_RETURN_IF_ERROR(InitiationCheck(ch.updated));
                                                 for (const auto& p : paths) ch.team_changed |= p == "team";
                                                 return ch;
                                               }));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::ListProjects(grpc::ServerContext*, const pb::ListProjectsRequest* req,
                                            pb::ListProjectsResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    if (req->customer_id() < 0) v.Add("customer_id", "must not be negative");
    v.Merge(CheckEnum("stage", req->stage(), pb::Stage_IsValid, false));
    v.Merge(CheckEnum("customer_check", req->customer_check(), pb::CustomerCheck_IsValid, false));
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::ListProjectsRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    ListFilter f{req->customer_id(), req->stage(), req->owner_id(), req->department_id(), req->open_only(),
                 req->customer_check()};
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto items, repo_->List(f, EffectivePageSize(req->page_size()), after, &more));
    KEFU_ASSIGN_OR_RETURN(auto probs, Probabilities());
    auto by_stage = ProbabilityByStage(probs);
    for (auto& p : items) {
      p.set_probability_bp(by_stage[p.stage()]);
      *resp->add_projects() = std::move(p);
    }
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->projects(resp->projects_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::ChangeStage(grpc::ServerContext* ctx, const pb::ChangeStageRequest* req,
                                           pb::Project* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckProjectId(req->project_id()));
    v.Merge(CheckEnum("stage", req->stage(), pb::Stage_IsValid, true));
    v.Merge(CheckText("reason", req->reason(), kMaxTextChars, false));
    if (req->version() < 0) v.Add("version", "must not be negative");
    if (IsClosed(req->stage())) {
      if (!req->has_closing()) v.Add("closing", "a closing summary is required to close a project");
      else v.Merge(ValidateClosing(req->closing()));
    }
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(
        *resp, repo_->Mutate(req->project_id(), req->version(), actor, "sales.ChangeStage", IdempotencyKeyOf(*req),
                             [&](const pb::Project& current) -> absl::StatusOr<Change> {
                               // A project whose customer turned out not to exist moves no
                               // further (a win would ask contracts for a draft for nobody).
                               if (current.customer_check() == pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND &&
                                   req->stage() != pb::STAGE_LOST && req->stage() != pb::STAGE_TERMINATED)
                                 return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_CUSTOMER",
                                                  "the project's customer does not exist; it can only be lost or "
                                                  "terminated");
                               KEFU_RETURN_IF_ERROR(CheckStageChange(current.stage(), req->stage()));
                               Change ch;
                               ch.updated = current;
                               ch.updated.set_stage(req->stage());
                               if (IsClosed(req->stage())) {
                                 *ch.updated.mutable_closing() = req->closing();
                                 ch.updated.mutable_closing()->mutable_total_cost()->set_currency_code(
                                     current.estimated_amount().currency_code());
                               }
                               pb::StageChange sc;
                               sc.set_from_stage(current.stage());
                               sc.set_to_stage(req->stage());
                               sc.set_reason(req->reason());
                               sc.set_changed_by(actor);
                               ch.stage_change = sc;
                               ch.log.push_back(absl::StrCat("阶段变更 stage ", StageName(current.stage()), " -> ",
                                                             StageName(req->stage()),
                                                             req->reason().empty() ? "" : ": ", req->reason()));
                               if (req->stage() == pb::STAGE_WON) {
                                 contracts::v1::CreateDraftForProjectRequest draft;
                                 draft.set_sales_project_id(current.id());
                                 draft.set_customer_id(current.customer_id());
                                 draft.set_name(current.name());
                                 draft.set_type(contracts::v1::CONTRACT_TYPE_SALES);
                                 *draft.mutable_amount() = current.estimated_amount();
                                 draft.set_owner_id(current.owner_id());
                                 draft.set_department_id(current.department_id());
                                 ch.draft_request = draft;
                               }
                               return ch;
                             }));
    if (IsClosed(resp->stage())) metrics_->Closed(resp->stage());
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::ListStageChanges(grpc::ServerContext*, const pb::ListStageChangesRequest* req,
                                                pb::ListStageChangesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckProjectId(req->project_id()));
    KEFU_ASSIGN_OR_RETURN(auto changes, repo_->StageChanges(req->project_id()));
    for (auto& c : changes) *resp->add_changes() = std::move(c);
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::AddActivity(grpc::ServerContext* ctx, const pb::AddActivityRequest* req,
                                           pb::Activity* resp) {
  return RunHandler([&]() -> absl::Status {
    if (!req->has_activity()) return RequiredField("activity");
    Validator v;
    v.Merge(ValidateActivity(req->activity()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->AddActivity(req->activity(), IdempotencyKeyOf(*req), CallerFrom(*ctx).ActorOrSystem()));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::ListActivities(grpc::ServerContext*, const pb::ListActivitiesRequest* req,
                                              pb::ListActivitiesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckProjectId(req->project_id()));
    KEFU_RETURN_IF_ERROR(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    uint64_t fp = Fingerprint(absl::StrCat("activities:", req->project_id()));
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto items, repo_->ListActivities(req->project_id(), EffectivePageSize(req->page_size()), after,
                                                            &more));
    for (auto& a : items) *resp->add_activities() = std::move(a);
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->activities(resp->activities_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::SetCompetitors(grpc::ServerContext* ctx, const pb::SetCompetitorsRequest* req,
                                              pb::Project* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckProjectId(req->project_id()));
    v.Merge(ValidateCompetitors(req->competitors()));
    if (req->version() < 0) v.Add("version", "must not be negative");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->project_id(), req->version(), actor,
                                               "sales.SetCompetitors", IdempotencyKeyOf(*req),
                                               [&](const pb::Project& current) -> absl::StatusOr<Change> {
                                                 Change ch;
                                                 ch.updated = current;
                                                 *ch.updated.mutable_competitors() = req->competitors();
                                                 ch.competitors_changed = true;
                                                 return ch;
                                               }));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::AddActionPlan(grpc::ServerContext*, const pb::AddActionPlanRequest* req,
                                             pb::ActionPlan* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    const auto& p = req->plan();
    v.Merge(CheckProjectId(p.project_id()));
    int y = 0, m = 0;
    if (p.period().size() != 7 || p.period()[4] != '-' || !absl::SimpleAtoi(p.period().substr(0, 4), &y) ||
        !absl::SimpleAtoi(p.period().substr(5, 2), &m) || m < 1 || m > 12)
      v.Add("plan.period", "must be a month as YYYY-MM");
    v.Merge(CheckText("plan.plan", p.plan(), 2000, true));
    v.Merge(CheckText("plan.outcome", p.outcome(), 2000, false));
    v.Merge(CheckText("plan.remedial_plan", p.remedial_plan(), 2000, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->AddActionPlan(p, IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::UpdateActionPlanOutcome(grpc::ServerContext*, const pb::UpdateActionPlanOutcomeRequest* req,
                                                       pb::ActionPlan* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (req->plan_id() <= 0) v.Add("plan_id", "is required");
    v.Merge(CheckText("outcome", req->outcome(), 2000, true));
    v.Merge(CheckText("remedial_plan", req->remedial_plan(), 2000, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->UpdateActionPlanOutcome(req->plan_id(), req->outcome(), req->remedial_plan(),
                                                                IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::ListActionPlans(grpc::ServerContext*, const pb::ListActionPlansRequest* req,
                                               pb::ListActionPlansResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckProjectId(req->project_id()));
    KEFU_RETURN_IF_ERROR(repo_->Get(req->project_id()).status());  // NOT_FOUND, not an empty list
    KEFU_ASSIGN_OR_RETURN(auto plans, repo_->ListActionPlans(req->project_id()));
    for (auto& p : plans) *resp->add_plans() = std::move(p);
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::GetPipeline(grpc::ServerContext*, const pb::GetPipelineRequest* req, pb::Pipeline* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckEnum("group_by", req->group_by(), pb::GroupBy_IsValid, false));
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckCurrency("currency_code", req->currency_code()));
    auto from = OptionalDate("signing_from", req->signing_from());
    auto to = OptionalDate("signing_to", req->signing_to());
    if (!from.ok()) v.Merge(from.status());
    if (!to.ok()) v.Merge(to.status());
    if (from.ok() && to.ok() && *from && *to && **to < **from) v.Add("signing_to", "must not be before signing_from");
    KEFU_RETURN_IF_ERROR(v.Finish());
    PipelineFilter f;
    f.owner_id = req->owner_id();
    f.department_id = req->department_id();
    f.currency = req->currency_code().empty() ? "CNY" : req->currency_code();
    if (!req->signing_from().empty()) f.signing_from = req->signing_from();
    if (!req->signing_to().empty()) f.signing_to = req->signing_to();
    KEFU_ASSIGN_OR_RETURN(auto probs, Probabilities());
    KEFU_ASSIGN_OR_RETURN(auto rows, repo_->Pipeline(req->group_by(), f, ProbabilityByStage(probs)));
    auto* total = resp->mutable_total();
    total->set_key("total");
    for (auto& r : rows) {
      total->set_count(total->count() + r.count());
      total->set_amount_minor(total->amount_minor() + r.amount_minor());
      total->set_weighted_amount_minor(total->weighted_amount_minor() + r.weighted_amount_minor());
      *resp->add_rows() = std::move(r);
    }
    resp->set_currency_code(f.currency);
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::GetWinRate(grpc::ServerContext*, const pb::GetWinRateRequest* req, pb::WinRate* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    auto from = OptionalDate("from", req->from());
    auto to = OptionalDate("to", req->to());
    if (!from.ok()) v.Merge(from.status());
    else if (!*from) v.Add("from", "is required");
    if (!to.ok()) v.Merge(to.status());
    else if (!*to) v.Add("to", "is required");
    if (from.ok() && to.ok() && *from && *to && **to <= **from) v.Add("to", "must be after from");
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(auto closed, repo_->WinRate(**from, **to, req->owner_id(), req->department_id()));
    resp->set_won(closed.won);
    resp->set_lost(closed.lost);
    resp->set_terminated(closed.terminated);
    int64_t decided = closed.won + closed.lost + closed.terminated;
    resp->set_win_rate_bp(decided == 0 ? 0 : static_cast<int32_t>(closed.won * 10000 / decided));
    for (const auto& [stage, ra] : closed.reached_advanced) {
      auto* c = resp->add_conversions();
      c->set_stage(static_cast<pb::Stage>(stage));
      c->set_reached(ra.first);
      c->set_advanced(ra.second);
      c->set_conversion_bp(ra.first == 0 ? 0 : static_cast<int32_t>(ra.second * 10000 / ra.first));
    }
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::GetForecast(grpc::ServerContext*, const pb::GetForecastRequest* req, pb::Forecast* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    auto from = OptionalDate("from", req->from());
    auto to = OptionalDate("to", req->to());
    if (!from.ok()) v.Merge(from.status());
    else if (!*from) v.Add("from", "is required");
    if (!to.ok()) v.Merge(to.status());
    else if (!*to) v.Add("to", "is required");
    if (from.ok() && to.ok() && *from && *to && **to < **from) v.Add("to", "must not be before from");
    v.Merge(CheckCurrency("currency_code", req->currency_code()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    PipelineFilter f;
    f.currency = req->currency_code().empty() ? "CNY" : req->currency_code();
    f.signing_from = req->from();
    f.signing_to = req->to();
    KEFU_ASSIGN_OR_RETURN(auto probs, Probabilities());
    KEFU_ASSIGN_OR_RETURN(auto rows, repo_->Pipeline(pb::GROUP_BY_STAGE, f, ProbabilityByStage(probs)));
    for (const auto& r : rows) {
      resp->set_open_projects(resp->open_projects() + r.count());
      resp->set_amount_minor(resp->amount_minor() + r.amount_minor());
      resp->set_weighted_amount_minor(resp->weighted_amount_minor() + r.weighted_amount_minor());
    }
    resp->set_currency_code(f.currency);
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::GetStageProbabilities(grpc::ServerContext*, const pb::GetStageProbabilitiesRequest*,
                                                     pb::StageProbabilities* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_ASSIGN_OR_RETURN(*resp, Probabilities());
    return absl::OkStatus();
  });
}

grpc::Status SalesServiceImpl::UpdateStageProbabilities(grpc::ServerContext*, const pb::UpdateStageProbabilitiesRequest* req,
                                                        pb::StageProbabilities* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(ValidateProbabilities(req->probabilities()));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SaveStageProbabilities(req->probabilities(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

}  // namespace kefu::sales
