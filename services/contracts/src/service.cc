#include "service.h"

#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "kefu/clients/customers_client.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/validation.h"

namespace kefu::contracts {

namespace {

absl::Status CheckContractId(int64_t id) {
  if (id <= 0) return id == 0 ? RequiredField("contract_id") : InvalidField("contract_id", "must be positive");
  return absl::OkStatus();
}
absl::Status CheckVersion(int64_t v) { return v < 0 ? InvalidField("version", "must not be negative") : absl::OkStatus(); }

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(c));
  return s;
}

// The longest signing-date range of GetSigningStats (inclusive): two years.
constexpr int kMaxStatsDays = 731;

// Contracts that reached signing: signed and everything after it. Termination only
// happens to signed or active contracts, so terminated ones were signed too.
const std::vector<pb::ContractStatus>& SignedStatuses() {
  static const auto* statuses = new std::vector<pb::ContractStatus>{
      pb::CONTRACT_STATUS_SIGNED, pb::CONTRACT_STATUS_ACTIVE, pb::CONTRACT_STATUS_EXPIRED,
      pb::CONTRACT_STATUS_TERMINATED, pb::CONTRACT_STATUS_SUPERSEDED};
  return *statuses;
}

// Service revenue: service paid per call and service contracts; warranty service is free.
bool IsServiceRevenue(pb::ContractType t) {
  return t == pb::CONTRACT_TYPE_SERVICE_PAID || t == pb::CONTRACT_TYPE_SERVICE_CONTRACT;
}
bool IsNewBusiness(pb::ContractType t) { return t == pb::CONTRACT_TYPE_SALES; }

}  // namespace

// ---- metrics ----

BusinessMetrics::BusinessMetrics(prometheus::Registry& registry)
    : signed_amount_(prometheus::BuildCounter()
                         .Name("kefu_contracts_signed_amount_minor_total")
                         .Help("Amount of signed contracts in minor units, by currency.")
                         .Register(registry)) {
  auto& contracts = prometheus::BuildGauge()
                        .Name("kefu_contracts_contracts")
                        .Help("Contracts by status and type.")
                        .Register(registry);
  for (int st = pb::CONTRACT_STATUS_DRAFT; st <= pb::CONTRACT_STATUS_SUPERSEDED; ++st)
    for (int t = pb::CONTRACT_TYPE_SALES; t <= pb::CONTRACT_TYPE_LETTER_OF_INTENT; ++t)
      contracts_[{st, t}] = &contracts.Add(
          {{"status", Lower(pb::ContractStatus_Name(static_cast<pb::ContractStatus>(st)).substr(16))},
           {"type", Lower(pb::ContractType_Name(static_cast<pb::ContractType>(t)).substr(14))}});
  expiring_ = &prometheus::BuildGauge()
                   .Name("kefu_contracts_expiring_30d")
                   .Help("Active contracts whose expiry day is within the next 30 days.")
                   .Register(registry)
                   .Add({});
  expiring_without_renewal_ = &prometheus::BuildGauge()
                                   .Name("kefu_contracts_expiring_without_renewal_30d")
                                   .Help("Active contracts expiring within 30 days that no renewal has been drafted for.")
                                   .Register(registry)
                                   .Add({});
  expired_ = &prometheus::BuildCounter()
                  .Name("kefu_contracts_expired_total")
                  .Help("Contracts that expired on their own.")
                  .Register(registry)
                  .Add({});
  signed_amount_.Add({{"currency", "CNY"}});
}

void BusinessMetrics::Signed(const common::v1::Money& amount) {
  signed_amount_.Add({{"currency", amount.currency_code()}}).Increment(static_cast<double>(amount.amount_minor()));
}
void BusinessMetrics::Expired() { expired_->Increment(); }
void BusinessMetrics::SetCounts(const std::vector<Repository::SegmentCount>& counts, int64_t expiring_30d,
                                int64_t expiring_without_renewal_30d) {
  std::map<std::pair<int, int>, int64_t> fresh;
  for (const auto& c : counts) fresh[{c.status, c.type}] += c.count;
  for (auto& [key, gauge] : contracts_) gauge->Set(static_cast<double>(fresh[key]));
  expiring_->Set(static_cast<double>(expiring_30d));
  expiring_without_renewal_->Set(static_cast<double>(expiring_without_renewal_30d));
}

// ---- background ----

absl::StatusOr<int> ContractServiceImpl::SweepOnce(int limit) {
  absl::CivilDay today = Today();
  std::vector<pb::Contract> amendments;
  KEFU_ASSIGN_OR_RETURN(
      int activated, repo_->SweepDates(pb::CONTRACT_STATUS_SIGNED, "effective_date", "<=", today, limit, "system",
                                       [&](const pb::Contract& c) -> absl::StatusOr<Change> {
                                         if (c.relation() == pb::RELATION_AMENDMENT) amendments.push_back(c);
                                         Change ch;
                                         ch.updated = c;
                                         KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(c.status(), Action::kActivate));
                                         ch.updated.set_status(next);
                                         ch.log.push_back("合同生效 became active on its effective date");
                                         return ch;
                                       }));
  int expired_count = 0;
  KEFU_ASSIGN_OR_RETURN(
      int expired, repo_->SweepDates(pb::CONTRACT_STATUS_ACTIVE, "expiry_date", "<", today, limit, "system",
                                     [&](const pb::Contract& c) -> absl::StatusOr<Change> {
                                       Change ch;
                                       ch.updated = c;
                                       KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(c.status(), Action::kExpire));
                                       ch.updated.set_status(next);
                                       ch.log.push_back(absl::StrCat("合同到期 expired after ", c.expiry_date()));
                                       ++expired_count;
                                       return ch;
                                     }));
  for (int i = 0; i < expired_count; ++i) metrics_->Expired();
  // Amendments that came into force on their own supersede what they amend, as on
  // ActivateContract.
  for (const auto& a : amendments) SupersedeAmended(a, "system");
  return activated + expired;
}

void ContractServiceImpl::RefreshMetrics() {
  auto counts = repo_->CountByStatusAndType();
  absl::CivilDay today = Today();
  auto expiring = repo_->CountExpiring(today, today + 30);
  auto unrenewed = repo_->CountExpiringWithoutRenewal(today, today + 30);
  if (counts.ok() && expiring.ok() && unrenewed.ok()) metrics_->SetCounts(*counts, *expiring, *unrenewed);
}

absl::StatusOr<pb::ApprovalRules> ContractServiceImpl::Rules() {
  auto stored = db::LoadSetting<pb::ApprovalRules>(*pool_, "approval_rules");
  if (stored.ok()) return stored;
  if (stored.status().code() != absl::StatusCode::kNotFound) return stored.status();
  return DefaultApprovalRules();
}

// ---- create / read / update ----

grpc::Status ContractServiceImpl::CreateContract(grpc::ServerContext* ctx, const pb::CreateContractRequest* req,
                                                 pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (!req->has_contract()) v.Add("contract", "is required");
    else v.Merge(ValidateContractFields(req->contract(), "contract"));
    if (req->has_contract()) v.Merge(ValidateRiskItems(req->contract().risk_items()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    KEFU_RETURN_IF_ERROR(clients::RequireCustomer(config_.customers, req->contract().customer_id(), "contract.customer_id", config_.customers_timeout, &caller));
    pb::Contract c = req->contract();
    c.set_status(pb::CONTRACT_STATUS_DRAFT);
    c.set_relation(pb::RELATION_ORIGINAL);
    c.clear_previous_contract_id();
    c.clear_signing_date();
    c.clear_termination_reason();
    if (c.owner_id().empty()) c.set_owner_id(caller.ActorOrSystem());
    if (c.department_id().empty()) c.set_department_id(caller.department_id);
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Create(c, IdempotencyKeyOf(*req), caller.ActorOrSystem(), "起草合同 draft created"));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::CreateDraftForProject(grpc::ServerContext* ctx,
                                                        const pb::CreateDraftForProjectRequest* req, pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (req->sales_project_id() <= 0) v.Add("sales_project_id", "is required");
    if (req->customer_id() <= 0) v.Add("customer_id", "is required");
    v.Merge(CheckText("name", req->name(), kMaxNameChars, true));
    v.Merge(CheckEnum("type", req->type(), pb::ContractType_IsValid, true));
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    absl::CivilDay today = Today();
    pb::Contract c;
    c.set_sales_project_id(req->sales_project_id());
    c.set_customer_id(req->customer_id());
    c.set_name(req->name());
    c.set_type(req->type());
    *c.mutable_amount() = req->amount();
    if (c.amount().currency_code().empty()) c.mutable_amount()->set_currency_code("CNY");
    c.set_effective_date(FormatDate(today));
    c.set_expiry_date(FormatDate(absl::CivilDay(today.year() + 1, today.month(), today.day()) - 1));
    c.set_owner_id(req->owner_id().empty() ? caller.ActorOrSystem() : req->owner_id());
    c.set_department_id(req->department_id());
    c.set_status(pb::CONTRACT_STATUS_DRAFT);
    c.set_relation(pb::RELATION_ORIGINAL);
    KEFU_RETURN_IF_ERROR(ValidateContractFields(c, "draft"));
    KEFU_RETURN_IF_ERROR(clients::RequireCustomer(config_.customers, req->customer_id(), "customer_id",
                                                 config_.customers_timeout, &caller));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreateForProject(c, IdempotencyKeyOf(*req), caller.ActorOrSystem()));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::GetContract(grpc::ServerContext*, const pb::GetContractRequest* req,
                                              pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckContractId(req->contract_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Get(req->contract_id()));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::UpdateContract(grpc::ServerContext* ctx, const pb::UpdateContractRequest* req,
                                                 pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (!req->has_contract()) return RequiredField("contract");
    if (req->contract().id() <= 0) v.Add("contract.id", "is required");
    if (req->contract().version() <= 0) v.Add("contract.version", "is required");
    std::vector<std::string> paths(req->update_mask().paths().begin(), req->update_mask().paths().end());
    v.Merge(ValidateUpdateMask(paths));
    v.MergePatch(ValidateContractFields(req->contract(), "contract"), "contract", paths);
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->contract().id(), req->contract().version(), "contracts.UpdateContract",
                                               IdempotencyKeyOf(*req), actor,
                                               [&](const pb::Contract& current) -> absl::StatusOr<Change> {
                                                 if (current.status() != pb::CONTRACT_STATUS_DRAFT)
                                                   return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_DRAFT",
                                                                    "only a draft can be edited; amend it instead");
                                                 Change ch;
                                                 ch.updated = ApplyUpdate(current, req->contract(), paths);
                                                 KEFU_RETURN_IF_ERROR(ValidateContractFields(ch.updated, "contract"));
                                                 return ch;
                                               }));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::ListContracts(grpc::ServerContext*, const pb::ListContractsRequest* req,
                                                pb::ListContractsResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    if (req->customer_id() < 0) v.Add("customer_id", "must not be negative");
    v.Merge(CheckEnum("type", req->type(), pb::ContractType_IsValid, false));
    v.Merge(CheckEnum("status", req->status(), pb::ContractStatus_IsValid, false));
    if (req->expiring_within_days() < 0 || req->expiring_within_days() > 3650)
      v.Add("expiring_within_days", "must be 0 to 3650");
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    ListFilter f;
    if (!req->signed_from().empty()) {
      auto d = ParseDate("signed_from", req->signed_from());
      if (d.ok()) f.signed_from = *d;
      else v.Merge(d.status());
    }
    if (!req->signed_to().empty()) {
      auto d = ParseDate("signed_to", req->signed_to());
      if (d.ok()) f.signed_to = *d;
      else v.Merge(d.status());
    }
    if (f.signed_from && f.signed_to && *f.signed_to < *f.signed_from) v.Add("signed_to", "must not be before signed_from");
    KEFU_RETURN_IF_ERROR(v.Finish());
    f.customer_id = req->customer_id();
    f.type = req->type();
    f.status = req->status();
    f.owner_id = req->owner_id();
    if (req->expiring_within_days() > 0) {
      f.expiring_from = Today();
      f.expiring_to = Today() + req->expiring_within_days();
    }
    pb::ListContractsRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    bool more = false;
    KEFU_ASSIGN_OR_RETURN(auto items, repo_->List(f, EffectivePageSize(req->page_size()), after, &more));
    for (auto& c : items) *resp->add_contracts() = std::move(c);
    if (more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->contracts(resp->contracts_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::SetRiskAssessment(grpc::ServerContext* ctx, const pb::SetRiskAssessmentRequest* req,
                                                    pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckContractId(req->contract_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(ValidateRiskItems(req->risk_items()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->contract_id(), req->version(), "contracts.SetRiskAssessment",
                                               IdempotencyKeyOf(*req), actor,
                                               [&](const pb::Contract& current) -> absl::StatusOr<Change> {
                                                 if (current.status() != pb::CONTRACT_STATUS_DRAFT &&
                                                     current.status() != pb::CONTRACT_STATUS_IN_REVIEW)
                                                   return MakeError(absl::StatusCode::kFailedPrecondition,
                                                                    "REVIEW_CLOSED",
                                                                    "risks are assessed before approval");
                                                 Change ch;
                                                 ch.updated = current;
                                                 *ch.updated.mutable_risk_items() = req->risk_items();
                                                 ch.risk_items_changed = true;
                                                 return ch;
                                               }));
    return absl::OkStatus();
  });
}

// ---- review and lifecycle ----

grpc::Status ContractServiceImpl::SubmitForReview(grpc::ServerContext* ctx, const pb::ContractActionRequest* req,
                                                  pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckContractId(req->contract_id()));
    KEFU_RETURN_IF_ERROR(CheckVersion(req->version()));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    KEFU_ASSIGN_OR_RETURN(pb::ApprovalRules rules, Rules());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->contract_id(), req->version(), "contracts.SubmitForReview",
                                               IdempotencyKeyOf(*req), actor,
                                               [&](const pb::Contract& current) -> absl::StatusOr<Change> {
                                                 Change ch;
                                                 ch.updated = current;
                                                 KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(current.status(), Action::kSubmit));
                                                 ch.updated.set_status(next);
                                                 ch.updated.clear_approvals();
                                                 for (auto& step : RequiredApprovals(rules, current.amount().amount_minor()))
                                                   *ch.updated.add_approvals() = std::move(step);
                                                 ch.approvals_changed = true;
                                                 ch.log.push_back("提交评审 submitted for review");
                                                 return ch;
                                               }));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::RecordApproval(grpc::ServerContext* ctx, const pb::RecordApprovalRequest* req,
                                                 pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckContractId(req->contract_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckEnum("decision", req->decision(), pb::Decision_IsValid, true));
    v.Merge(CheckText("opinion", req->opinion(), kMaxNoteChars, req->decision() == pb::DECISION_REJECT));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(
        *resp, repo_->Mutate(req->contract_id(), req->version(), "contracts.RecordApproval",
                             IdempotencyKeyOf(*req), caller.ActorOrSystem(),
                             [&](const pb::Contract& current) -> absl::StatusOr<Change> {
                               if (current.status() != pb::CONTRACT_STATUS_IN_REVIEW)
                                 return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_IN_REVIEW",
                                                  absl::StrCat("contract is ", StatusName(current.status()),
                                                               ", not in review"));
                               std::vector<pb::Approval> steps(current.approvals().begin(), current.approvals().end());
                               int step = NextPendingStep(steps);
                               if (step < 0) return absl::InternalError("in review without a pending approval");
                               const std::string& role = steps[step].required_role();
                               if (!caller.HasRole(role))
                                 return MakeError(absl::StatusCode::kPermissionDenied, "APPROVER_ROLE_REQUIRED",
                                                  absl::StrCat("this approval step needs the ", role, " role"));
                               Change ch;
                               ch.updated = current;
                               auto* a = ch.updated.mutable_approvals(step);
                               a->set_decision(req->decision());
                               a->set_approver_id(caller.ActorOrSystem());
                               a->set_opinion(req->opinion());
                               *a->mutable_decision_time() = ToProtoTime(now);
                               ch.decision = *a;
                               ch.approvals_changed = true;
                               if (req->decision() == pb::DECISION_REJECT) {
                                 KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(current.status(), Action::kReject));
                                 ch.updated.set_status(next);
                                 ch.updated.clear_approvals();  // a new round starts on the next submit
                                 ch.log.push_back(absl::StrCat("评审驳回 rejected by ", role, ": ", req->opinion()));
                               } else {
                                 ch.log.push_back(absl::StrCat("评审通过 approved by ", role));
                                 std::vector<pb::Approval> after(ch.updated.approvals().begin(),
                                                                 ch.updated.approvals().end());
                                 if (NextPendingStep(after) < 0) {
                                   KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(current.status(), Action::kApproveAll));
                                   ch.updated.set_status(next);
                                 }
                               }
                               return ch;
                             }));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::SignContract(grpc::ServerContext* ctx, const pb::SignContractRequest* req,
                                               pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckContractId(req->contract_id()));
    v.Merge(CheckVersion(req->version()));
    absl::CivilDay signing = Today();
    if (!req->signing_date().empty()) {
      auto d = ParseDate("signing_date", req->signing_date());
      if (d.ok()) signing = *d;
      else v.Merge(d.status());
      if (d.ok() && *d > Today()) v.Add("signing_date", "must not be in the future");
    }
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->contract_id(), req->version(), "contracts.SignContract",
                                               IdempotencyKeyOf(*req), actor,
                                               [&](const pb::Contract& current) -> absl::StatusOr<Change> {
                                                 if (current.status() == pb::CONTRACT_STATUS_DRAFT ||
                                                     current.status() == pb::CONTRACT_STATUS_IN_REVIEW)
                                                   return MakeError(absl::StatusCode::kFailedPrecondition,
                                                                    "APPROVAL_PENDING",
                                                                    "a contract is signed only after every approval passed");
                                                 Change ch;
                                                 ch.updated = current;
                                                 KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(current.status(), Action::kSign));
                                                 ch.updated.set_status(next);
                                                 ch.updated.set_signing_date(FormatDate(signing));
                                                 ch.log.push_back(absl::StrCat("合同签订 signed on ", FormatDate(signing)));
                                                 return ch;
                                               }));
    metrics_->Signed(resp->amount());
    return absl::OkStatus();
  });
}

absl::StatusOr<pb::Contract> ContractServiceImpl::Activate(int64_t id, int64_t version, const IdempotencyKey& key,
                                                           const std::string& actor) {
  absl::CivilDay today = Today();
  auto decide = [&](const pb::Contract& current) -> absl::StatusOr<Change> {
    KEFU_ASSIGN_OR_RETURN(auto effective, ParseDate("effective_date", current.effective_date()));
    if (current.status() == pb::CONTRACT_STATUS_SIGNED && !IsEffective(effective, today))
      return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_YET_EFFECTIVE",
                       absl::StrCat("the contract takes effect on ", current.effective_date()));
    Change ch;
    ch.updated = current;
    KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(current.status(), Action::kActivate));
    ch.updated.set_status(next);
    ch.log.push_back("合同生效 became active");
    return ch;
  };
  KEFU_ASSIGN_OR_RETURN(pb::Contract active,
                        repo_->Mutate(id, version, "contracts.ActivateContract", key, actor, decide));
  SupersedeAmended(active, actor);
  return active;
}

void ContractServiceImpl::SupersedeAmended(const pb::Contract& active, const std::string& actor) {
  if (active.relation() == pb::RELATION_AMENDMENT && active.previous_contract_id() > 0) {
    // The amended contract stops counting once its amendment is in force.
    auto superseded = repo_->Mutate(active.previous_contract_id(), 0, "contracts.SupersedeAmended", IdempotencyKey(),
                                    actor, [&](const pb::Contract& previous) -> absl::StatusOr<Change> {
                                      Change ch;
                                      ch.updated = previous;
                                      KEFU_ASSIGN_OR_RETURN(auto next, NextStatus(previous.status(), Action::kSupersede));
                                      ch.updated.set_status(next);
                                      ch.log.push_back(absl::StrCat("被变更合同取代 superseded by ", active.number()));
                                      return ch;
                                    });
    if (!superseded.ok() && superseded.status().code() != absl::StatusCode::kFailedPrecondition)
      log::Warn("amended contract not superseded", {{"contract_id", active.previous_contract_id()},
                                                    {"error", superseded.status().ToString()}});
  }
}

grpc::Status ContractServiceImpl::ActivateContract(grpc::ServerContext* ctx, const pb::ContractActionRequest* req,
                                                   pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckContractId(req->contract_id()));
    KEFU_RETURN_IF_ERROR(CheckVersion(req->version()));
    KEFU_RETURN_IF_ERROR(CheckRequestId(req->request_id()));
    // A replay runs SupersedeAmended again; the amended contract is superseded by then,
    // so that changes nothing.
    KEFU_ASSIGN_OR_RETURN(*resp, Activate(req->contract_id(), req->version(), IdempotencyKeyOf(*req),
                                          CallerFrom(*ctx).ActorOrSystem()));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::TerminateContract(grpc::ServerContext* ctx, const pb::TerminateContractRequest* req,
                                                    pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckContractId(req->contract_id()));
    v.Merge(CheckVersion(req->version()));
    v.Merge(CheckText("reason", req->reason(), 500, true));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Mutate(req->contract_id(), req->version(), "contracts.TerminateContract",
                                               IdempotencyKeyOf(*req), actor,
                                               [&](const pb::Contract& current) -> absl::StatusOr<Change> {
                                                 Change ch;
                                                 ch.updated = current;
                                                 KEFU_ASSIGN_OR_RETURN(auto next,
                                                                       NextStatus(current.status(), Action::kTerminate));
                                                 ch.updated.set_status(next);
                                                 ch.updated.set_termination_reason(req->reason());
                                                 ch.log.push_back(absl::StrCat("合同终止 terminated: ", req->reason()));
                                                 return ch;
                                               }));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::RenewContract(grpc::ServerContext* ctx, const pb::RenewContractRequest* req,
                                                pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckContractId(req->contract_id()));
    v.Merge(CheckRequestId(req->request_id()));
    {
      // What the request sets, checked before the source contract is read.
      pb::Contract given;
      given.set_effective_date(req->effective_date());
      given.set_expiry_date(req->expiry_date());
      std::vector<std::string> set{"expiry_date"};
      if (!req->effective_date().empty()) set.push_back("effective_date");
      if (req->has_amount()) {
        *given.mutable_amount() = req->amount();
        set.push_back("amount");
      }
      v.MergePatch(ValidateContractFields(given, "renewal"), "renewal", set);
    }
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(pb::Contract source, repo_->Get(req->contract_id()));
    if (source.status() != pb::CONTRACT_STATUS_ACTIVE && source.status() != pb::CONTRACT_STATUS_EXPIRED)
      return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_RENEWABLE",
                       "only an active or expired contract can be renewed");
    pb::Contract renewal = source;
    renewal.clear_id();
    renewal.clear_number();
    renewal.clear_signing_date();
    renewal.clear_sales_project_id();
    renewal.clear_approvals();
    renewal.clear_termination_reason();
    renewal.set_status(pb::CONTRACT_STATUS_DRAFT);
    renewal.set_relation(pb::RELATION_RENEWAL);
    renewal.set_previous_contract_id(source.id());
    KEFU_ASSIGN_OR_RETURN(auto source_expiry, ParseDate("expiry_date", source.expiry_date()));
    renewal.set_effective_date(req->effective_date().empty() ? FormatDate(source_expiry + 1) : req->effective_date());
    renewal.set_expiry_date(req->expiry_date());
    if (req->has_amount()) *renewal.mutable_amount() = req->amount();
    KEFU_RETURN_IF_ERROR(ValidateContractFields(renewal, "renewal"));
    Caller caller = CallerFrom(*ctx);
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Create(renewal, IdempotencyKeyOf(*req), caller.ActorOrSystem(),
                                               absl::StrCat("续签草稿 renewal drafted for ", source.number())));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::AmendContract(grpc::ServerContext* ctx, const pb::AmendContractRequest* req,
                                                pb::Contract* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckContractId(req->contract_id()));
    v.Merge(CheckText("reason", req->reason(), 500, true));
    v.Merge(CheckRequestId(req->request_id()));
    if (!req->has_amended()) v.Add("amended", "is required");
    else v.MergePatch(ValidateContractFields(req->amended(), "amended"), "amended", UpdatableFields());
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(pb::Contract source, repo_->Get(req->contract_id()));
    if (source.status() != pb::CONTRACT_STATUS_SIGNED && source.status() != pb::CONTRACT_STATUS_ACTIVE)
      return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_AMENDABLE",
                       "only a signed or active contract can be amended");
    pb::Contract amended = req->amended();
    amended.set_customer_id(source.customer_id());
    amended.clear_id();
    amended.clear_number();
    amended.clear_signing_date();
    amended.clear_sales_project_id();
    amended.clear_approvals();
    amended.set_status(pb::CONTRACT_STATUS_DRAFT);
    amended.set_relation(pb::RELATION_AMENDMENT);
    amended.set_previous_contract_id(source.id());
    KEFU_RETURN_IF_ERROR(ValidateContractFields(amended, "amended"));
    Caller caller = CallerFrom(*ctx);
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Create(amended, IdempotencyKeyOf(*req), caller.ActorOrSystem(),
                                               absl::StrCat("合同变更草稿 amendment drafted for ", source.number(), ": ",
                                                            req->reason())));
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::ListContractHistory(grpc::ServerContext*, const pb::ListContractHistoryRequest* req,
                                                      pb::ListContractHistoryResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckContractId(req->contract_id()));
    KEFU_ASSIGN_OR_RETURN(auto chain, repo_->History(req->contract_id()));
    for (auto& c : chain) *resp->add_contracts() = std::move(c);
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::CheckEntitlement(grpc::ServerContext*, const pb::CheckEntitlementRequest* req,
                                                   pb::Entitlement* resp) {
  return RunHandler([&]() -> absl::Status {
    if (req->customer_id() <= 0) return RequiredField("customer_id");
    absl::CivilDay day = Today();
    if (!req->date().empty()) {
      KEFU_ASSIGN_OR_RETURN(day, ParseDate("date", req->date()));
    }
    KEFU_ASSIGN_OR_RETURN(auto covering, repo_->Covering(req->customer_id(), day));
    *resp = ChooseEntitlement(covering);
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::GetApprovalRules(grpc::ServerContext*, const pb::GetApprovalRulesRequest*,
                                                   pb::ApprovalRules* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_ASSIGN_OR_RETURN(*resp, Rules());
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::GetSigningStats(grpc::ServerContext*, const pb::GetSigningStatsRequest* req,
                                                  pb::SigningStats* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    if (!req->owner_id().empty() && !req->department_id().empty())
      v.Add("department_id", "must be empty when owner_id is given (at most one of the two)");
    v.Merge(CheckCurrency("currency_code", req->currency_code()));
    auto day = [&](const char* field, const std::string& text) -> std::optional<absl::CivilDay> {
      if (text.empty()) {
        v.Add(field, "is required");
        return std::nullopt;
      }
      auto parsed = ParseDate(field, text);
      if (!parsed.ok()) {
        v.Merge(parsed.status());
        return std::nullopt;
      }
      return *parsed;
    };
    std::optional<absl::CivilDay> from = day("signed_from", req->signed_from());
    std::optional<absl::CivilDay> to = day("signed_to", req->signed_to());
    if (from && to) {
      if (*to < *from) v.Add("signed_to", "must not be before signed_from");
      else if (*to - *from + 1 > kMaxStatsDays)
        v.Add("signed_to", absl::StrCat("the range must be at most ", kMaxStatsDays, " days"));
    }
    KEFU_RETURN_IF_ERROR(v.Finish());
    SigningFilter f;
    f.owner_id = req->owner_id();
    f.department_id = req->department_id();
    f.from = *from;
    f.to = *to;
    f.currency = req->currency_code().empty() ? "CNY" : req->currency_code();
    f.statuses = SignedStatuses();
    KEFU_ASSIGN_OR_RETURN(auto totals, repo_->SigningTotals(f));
    std::map<int, SigningTotal> by_type;
    for (const auto& t : totals) by_type[t.type] = t;
    // Every type in enum order, zeros included.
    int64_t service = 0, new_business = 0;
    for (int t = pb::CONTRACT_TYPE_SALES; t <= pb::ContractType_MAX; ++t) {
      if (!pb::ContractType_IsValid(t)) continue;
      auto type = static_cast<pb::ContractType>(t);
      SigningTotal total = by_type.count(t) ? by_type[t] : SigningTotal{type, 0, 0};
      pb::SigningStatsRow* row = resp->add_rows();
      row->set_type(type);
      row->set_count(total.count);
      row->set_amount_minor(total.amount_minor);
      if (IsServiceRevenue(type)) service += total.amount_minor;
      if (IsNewBusiness(type)) new_business += total.amount_minor;
    }
    resp->set_service_amount_minor(service);
    resp->set_new_business_amount_minor(new_business);
    resp->set_currency_code(f.currency);
    return absl::OkStatus();
  });
}

grpc::Status ContractServiceImpl::UpdateApprovalRules(grpc::ServerContext*, const pb::UpdateApprovalRulesRequest* req,
                                                      pb::ApprovalRules* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(ValidateApprovalRules(req->rules()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SaveApprovalRules(req->rules(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

}  // namespace kefu::contracts
