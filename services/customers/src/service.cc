#include "service.h"

#include <map>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kefu/clients/performance_client.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/request_context.h"
#include "kefu/security/scope.h"
#include "kefu/validation.h"

namespace kefu::customers {

using security::DepartmentScope;

namespace {

// Services and roles that do not serve customers get contact details masked.
void MaskContactsFor(const Caller& caller, pb::Customer* c) {
  if (security::SeesFullContactDetails(caller)) return;
  for (auto& contact : *c->mutable_contacts()) {
    if (!contact.phone().empty()) contact.set_phone(MaskPhone(contact.phone()));
    if (!contact.email().empty()) contact.set_email(MaskEmail(contact.email()));
    if (!contact.address().empty()) contact.set_address(MaskAddress(contact.address()));
  }
}

// OK when the caller may act on the customer: company-wide callers always (no lookup),
// department-scoped ones for their department's customers (security/scope.h).
absl::Status RequireInScope(Repository& repo, const Caller& caller, int64_t id);

// The customer, if the caller's department scope covers it (security/scope.h).
absl::StatusOr<pb::Customer> GetInScope(Repository& repo, int64_t id, const DepartmentScope& scope) {
  auto c = repo.Get(id);
  KEFU_RETURN_IF_ERROR(scope.Hide(c.status()));
  KEFU_RETURN_IF_ERROR(scope.Check(c->department_id()));
  return c;
}

absl::Status RequireInScope(Repository& repo, const Caller& caller, int64_t id) {
  const DepartmentScope scope = DepartmentScope::Of(caller);
  if (scope.company_wide()) return absl::OkStatus();
  return GetInScope(repo, id, scope).status();
}

absl::Status CheckCustomerId(absl::string_view field, int64_t id) {
  if (id <= 0) return id == 0 ? RequiredField(field) : InvalidField(field, "must be positive");
  return absl::OkStatus();
}

// The longest range a statistics call covers: two years.
constexpr int kMaxStatsDays = 731;

}  // namespace

// ---- metrics ----

BusinessMetrics::BusinessMetrics(prometheus::Registry& registry) {
  // Every series exists from the start (at 0), so dashboards and rate() see it at once.
  auto& segments = prometheus::BuildGauge()
                       .Name("kefu_customers_customers")
                       .Help("Customers (not merged) by service tier and lifecycle stage, counted once a minute.")
                       .Register(registry);
  for (int t = pb::TIER_STANDARD; t <= pb::TIER_PLATINUM; ++t)
    for (int st = pb::LIFECYCLE_STAGE_PROSPECT; st <= pb::LIFECYCLE_STAGE_CHURNED; ++st)
      segments_[{t, st}] = &segments.Add({{"tier", TierName(static_cast<pb::Tier>(t))},
                                          {"lifecycle_stage", StageName(static_cast<pb::LifecycleStage>(st))}});
  auto& log = prometheus::BuildCounter()
                  .Name("kefu_customers_log_entries_total")
                  .Help("Customer log entries appended, by category.")
                  .Register(registry);
  for (int c = pb::LOG_CATEGORY_CONSULTATION; c <= pb::LOG_CATEGORY_OTHER; ++c) {
    std::string name = pb::LogCategory_Name(static_cast<pb::LogCategory>(c)).substr(13);  // "LOG_CATEGORY_"
    for (auto& ch : name) ch = static_cast<char>(std::tolower(ch));
    log_by_category_[c] = &log.Add({{"category", name}});
  }
  duplicates_ = &prometheus::BuildCounter()
                     .Name("kefu_customers_duplicates_detected_total")
                     .Help("Customer creations refused as duplicates of existing records.")
                     .Register(registry)
                     .Add({});
  auto& tier = prometheus::BuildCounter()
                   .Name("kefu_customers_tier_changes_total")
                   .Help("Service tier changes by direction.")
                   .Register(registry);
  tier_up_ = &tier.Add({{"direction", "up"}});
  tier_down_ = &tier.Add({{"direction", "down"}});
  auto& retention = prometheus::BuildCounter()
                        .Name("kefu_customers_retention_cases_closed_total")
                        .Help("Retention cases closed, by outcome.")
                        .Register(registry);
  retention_by_outcome_[pb::RETENTION_OUTCOME_RETAINED] = &retention.Add({{"outcome", "retained"}});
  retention_by_outcome_[pb::RETENTION_OUTCOME_PARTIALLY_RETAINED] = &retention.Add({{"outcome", "partially_retained"}});
  retention_by_outcome_[pb::RETENTION_OUTCOME_LOST] = &retention.Add({{"outcome", "lost"}});
  auto& survey = prometheus::BuildCounter()
                     .Name("kefu_customers_survey_results_total")
                     .Help("Satisfaction survey results recorded, by level (1 very dissatisfied .. 5 very satisfied).")
                     .Register(registry);
  for (int l = 1; l <= 5; ++l) survey_by_level_[l] = &survey.Add({{"satisfaction", absl::StrCat(l)}});
}

void BusinessMetrics::LogAppended(pb::LogCategory category) {
  auto it = log_by_category_.find(category);
  if (it != log_by_category_.end()) it->second->Increment();
}
void BusinessMetrics::DuplicateDetected() { duplicates_->Increment(); }
void BusinessMetrics::TierChanged(pb::Tier from, pb::Tier to) { (to > from ? tier_up_ : tier_down_)->Increment(); }
void BusinessMetrics::RetentionClosed(pb::RetentionOutcome outcome) {
  auto it = retention_by_outcome_.find(outcome);
  if (it != retention_by_outcome_.end()) it->second->Increment();
}
void BusinessMetrics::SurveyRecorded(pb::Satisfaction satisfaction) {
  auto it = survey_by_level_.find(satisfaction);
  if (it != survey_by_level_.end()) it->second->Increment();
}
void BusinessMetrics::SetSegments(const std::vector<Repository::SegmentCount>& counts) {
  std::map<std::pair<int, int>, int64_t> fresh;
  for (const auto& c : counts) fresh[{c.tier, c.stage}] += c.count;
  for (auto& [key, gauge] : segments_) {
    auto it = fresh.find(key);
    gauge->Set(it == fresh.end() ? 0 : static_cast<double>(it->second));
  }
}

void CustomerServiceImpl::RefreshMetrics() {
  auto counts = repo_->CountSegments();
  if (counts.ok()) metrics_->SetSegments(*counts);
}

// ---- customers ----

grpc::Status CustomerServiceImpl::CreateCustomer(grpc::ServerContext* ctx, const pb::CreateCustomerRequest* req,
                                                 pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (!req->has_customer()) v.Add("customer", "is required");
    else v.Merge(ValidateCustomerFields(req->customer(), "customer", true));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    pb::Customer c = WithCreateDefaults(req->customer());
    // New customers belong to the creator's department unless a department is given,
    // and a department-scoped creator can only add to their own.
    if (c.department_id().empty()) c.set_department_id(caller.department_id);
    KEFU_RETURN_IF_ERROR(DepartmentScope::Of(caller).Check(c.department_id()));
    auto created = repo_->Create(c, IdempotencyKeyOf(*req), req->allow_duplicates(), caller.ActorOrSystem());
    if (!created.ok()) {
      if (ReasonOf(created.status()) == "DUPLICATE_CUSTOMER") metrics_->DuplicateDetected();
      return created.status();
    }
    *resp = std::move(created).value();
    metrics_->LogAppended(pb::LOG_CATEGORY_ACCOUNT);
    return absl::OkStatus();
  });
}

namespace {

// Keys that make two new rows the same customer (as duplicate detection matches them).
std::vector<std::string> DuplicateKeys(const pb::Customer& c) {
  std::vector<std::string> keys;
  if (c.kind() != pb::CUSTOMER_KIND_PERSON) keys.push_back("n:" + NormalizeName(c.name()));
  for (const auto& ct : c.contacts()) {
    if (!ct.phone().empty()) keys.push_back("p:" + NormalizePhone(ct.phone()));
    if (!ct.email().empty()) keys.push_back("e:" + NormalizeEmail(ct.email()));
  }
  return keys;
}

}  // namespace

grpc::Status CustomerServiceImpl::ImportCustomers(grpc::ServerContext* ctx,
                                                  grpc::ServerReader<pb::ImportCustomersRequest>* reader,
                                                  pb::ImportCustomersResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    pb::ImportOptions options;
    std::vector<pb::Customer> rows;
    pb::ImportCustomersRequest msg;
    for (bool first = true; reader->Read(&msg); first = false) {
      if (first) options = msg.options();
      // Refused as soon as the stream grows past the limit, before it is all in memory.
      if (rows.size() + msg.customers_size() > static_cast<size_t>(kMaxImportRows))
        return MakeError(absl::StatusCode::kInvalidArgument, "IMPORT_TOO_LARGE",
                         absl::StrCat("customers: at most ", kMaxImportRows, " rows per import; split the file"),
                         {{"customers", absl::StrCat("at most ", kMaxImportRows, " rows per import")}});
      for (auto& c : *msg.mutable_customers()) rows.push_back(std::move(c));
    }
    if (options.expected_rows() < 0) return InvalidField("options.expected_rows", "must not be negative");
    if (options.expected_rows() > 0 && rows.size() != static_cast<size_t>(options.expected_rows()))
      return MakeError(absl::StatusCode::kInvalidArgument, "IMPORT_INCOMPLETE",
                       absl::StrCat("customers: ", rows.size(), " rows arrived of the ", options.expected_rows(),
                                    " declared; the stream broke or a message was unreadable, nothing was imported"),
                       {{"customers", absl::StrCat("expected ", options.expected_rows(), " rows")}});
    if (rows.empty()) return RequiredField("customers");
    Caller caller = CallerFrom(*ctx);
    const DepartmentScope scope = DepartmentScope::Of(caller);
    std::map<std::string, int> first_row_with_key;
    std::vector<pb::Customer> to_write;
    std::vector<int> written_rows;
    for (size_t i = 0; i < rows.size(); ++i) {
      auto* r = resp->add_results();
      r->set_row(static_cast<int32_t>(i + 1));
      // As in CreateCustomer: the importer's department by default, and only their own
      // when they are department-scoped.
      if (rows[i].department_id().empty()) rows[i].set_department_id(caller.department_id);
      absl::Status valid = ValidateCustomerFields(rows[i], "customer", true);
      if (valid.ok() && !scope.Check(rows[i].department_id()).ok())
        valid = InvalidField("customer.department_id", "is not your department");
      if (!valid.ok()) {
        r->set_outcome(pb::ImportRowResult::OUTCOME_INVALID);
        for (const auto& v : ViolationsOf(valid)) {
          auto* out = r->add_violations();
          out->set_field(v.field.rfind("customer.", 0) == 0 ? v.field.substr(9) : v.field);
          out->set_description(v.description);
        }
        continue;
      }
      pb::Customer c = WithCreateDefaults(rows[i]);
      bool duplicate = false;
      for (const auto& key : DuplicateKeys(c)) {
        auto [it, fresh] = first_row_with_key.emplace(key, static_cast<int>(i + 1));
        if (!fresh && !options.allow_duplicates()) {
          r->set_duplicate_of_row(it->second);
          duplicate = true;
          break;
        }
      }
      if (!duplicate && !options.allow_duplicates()) {
        KEFU_ASSIGN_OR_RETURN(auto dups, repo_->DuplicatesOf(c));
        for (const auto& d : dups) r->add_duplicate_of_customer_ids(d.customer_id());
        duplicate = !dups.empty();
      }
      if (duplicate) {
        r->set_outcome(pb::ImportRowResult::OUTCOME_DUPLICATE);
        metrics_->DuplicateDetected();
        continue;
      }
      r->set_outcome(pb::ImportRowResult::OUTCOME_VALID);
      to_write.push_back(std::move(c));
      written_rows.push_back(static_cast<int>(i));
    }
    int32_t bad = 0;
    for (const auto& r : resp->results()) {
      if (r.outcome() == pb::ImportRowResult::OUTCOME_INVALID) resp->set_invalid(resp->invalid() + 1);
      if (r.outcome() == pb::ImportRowResult::OUTCOME_DUPLICATE) resp->set_duplicates(resp->duplicates() + 1);
    }
    bad = resp->invalid() + resp->duplicates();
    resp->set_rows(static_cast<int32_t>(rows.size()));
    // Nothing half-imported: one bad row stops the whole import unless asked to skip.
    if (options.validate_only() || (bad > 0 && !options.skip_invalid()) || to_write.empty()) return absl::OkStatus();
    KEFU_ASSIGN_OR_RETURN(auto created, repo_->CreateMany(to_write, caller.ActorOrSystem()));
    for (size_t k = 0; k < created.size(); ++k) {
      auto* r = resp->mutable_results(written_rows[k]);
      r->set_outcome(pb::ImportRowResult::OUTCOME_IMPORTED);
      r->set_customer_id(created[k].id());
      r->set_number(created[k].number());
      metrics_->LogAppended(pb::LOG_CATEGORY_ACCOUNT);
    }
    resp->set_imported(static_cast<int32_t>(created.size()));
    resp->set_committed(true);
    log::Info("customers imported", {{"rows", resp->rows()}, {"imported", resp->imported()}, {"rejected", bad}});
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ExportCustomers(grpc::ServerContext* ctx, const pb::ExportCustomersRequest* req,
                                                  grpc::ServerWriter<pb::Customer>* writer) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckText("region", req->region(), kMaxShortText, false));
    v.Merge(CheckText("tag", req->tag(), kMaxTagChars, false));
    v.Merge(CheckEnum("tier", req->tier(), pb::Tier_IsValid, false));
    v.Merge(CheckEnum("lifecycle_stage", req->lifecycle_stage(), pb::LifecycleStage_IsValid, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    KEFU_ASSIGN_OR_RETURN(std::string department, DepartmentScope::Of(caller).ListDepartment(req->department_id()));
    ListCustomersFilter f{req->owner_id(), department, req->region(), "", req->tag(), req->tier(),
                          req->lifecycle_stage()};
    // Page by page in id order: memory stays flat however many customers match, and a
    // slow reader only holds one page.
    std::optional<CustomerCursor> after;
    for (;;) {
      if (ctx->IsCancelled()) return absl::CancelledError("the client went away");
      KEFU_ASSIGN_OR_RETURN(auto page, repo_->List(f, kMaxPageSize, after));
      for (auto& c : page.items) {
        MaskContactsFor(caller, &c);
        if (!writer->Write(c)) return absl::CancelledError("the client went away");
      }
      if (!page.more || page.items.empty()) return absl::OkStatus();
      after = CustomerCursor{"", page.items.back().id()};
    }
  });
}

grpc::Status CustomerServiceImpl::GetCustomer(grpc::ServerContext* ctx, const pb::GetCustomerRequest* req,
                                              pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckCustomerId("customer_id", req->customer_id()));
    Caller caller = CallerFrom(*ctx);
    KEFU_ASSIGN_OR_RETURN(*resp, GetInScope(*repo_, req->customer_id(), DepartmentScope::Of(caller)));
    MaskContactsFor(caller, resp);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::GetCustomerTier(grpc::ServerContext* ctx, const pb::GetCustomerTierRequest* req,
                                                  pb::CustomerTier* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckCustomerId("customer_id", req->customer_id()));
    const DepartmentScope scope = DepartmentScope::Of(CallerFrom(*ctx));
    auto row = repo_->GetTier(req->customer_id());
    KEFU_RETURN_IF_ERROR(scope.Hide(row.status()));
    KEFU_RETURN_IF_ERROR(scope.Check(row->department_id));
    *resp = std::move(row->tier);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::UpdateCustomer(grpc::ServerContext* ctx, const pb::UpdateCustomerRequest* req,
                                                 pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(ValidateUpdate(*req));
    const DepartmentScope scope = DepartmentScope::Of(CallerFrom(*ctx));
    if (!scope.company_wide()) {
      KEFU_RETURN_IF_ERROR(GetInScope(*repo_, req->customer().id(), scope).status());
      // Moving a customer to another department is for managers who see both.
      for (const auto& p : req->update_mask().paths())
        if (p == "department_id") KEFU_RETURN_IF_ERROR(scope.Check(req->customer().department_id()));
    }
    std::vector<std::string> paths(req->update_mask().paths().begin(), req->update_mask().paths().end());
    KEFU_ASSIGN_OR_RETURN(
        *resp, repo_->Mutate(req->customer().id(), req->customer().version(), "customers.UpdateCustomer",
                             IdempotencyKeyOf(*req),
                             [&](const pb::Customer& current) -> absl::StatusOr<Change> {
                               Change ch;
                               ch.updated = ApplyUpdate(current, req->customer(), paths);
                               for (const auto& p : paths) {
                                 ch.contacts_changed |= p == "contacts";
                                 ch.tags_changed |= p == "tags";
                               }
                               return ch;
                             }));
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListCustomers(grpc::ServerContext* ctx, const pb::ListCustomersRequest* req,
                                                pb::ListCustomersResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    v.Merge(CheckText("region", req->region(), kMaxShortText, false));
    v.Merge(CheckText("name_prefix", req->name_prefix(), kMaxNameChars, false));
    v.Merge(CheckText("tag", req->tag(), kMaxTagChars, false));
    v.Merge(CheckEnum("tier", req->tier(), pb::Tier_IsValid, false));
    v.Merge(CheckEnum("lifecycle_stage", req->lifecycle_stage(), pb::LifecycleStage_IsValid, false));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    KEFU_ASSIGN_OR_RETURN(std::string department, DepartmentScope::Of(caller).ListDepartment(req->department_id()));
    ListCustomersFilter f{req->owner_id(), department, req->region(), req->name_prefix(), req->tag(),
                          req->tier(), req->lifecycle_stage()};
    pb::ListCustomersRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    std::optional<CustomerCursor> after;
    if (!req->page_token().empty()) {
      KEFU_ASSIGN_OR_RETURN(auto keys, DecodePageToken(req->page_token(), fp, 2));
      CustomerCursor cur;
      cur.name = keys[0];
      if (!absl::SimpleAtoi(keys[1], &cur.id)) return InvalidField("page_token", "is not a token this list returned");
      after = cur;
    }
    KEFU_ASSIGN_OR_RETURN(auto page, repo_->List(f, EffectivePageSize(req->page_size()), after));
    for (auto& c : page.items) {
      MaskContactsFor(caller, &c);
      *resp->add_customers() = std::move(c);
    }
    if (page.more && resp->customers_size() > 0) {
      const auto& last = resp->customers(resp->customers_size() - 1);
      // The name is only a sort key when searching by prefix.
      resp->set_next_page_token(
          EncodePageToken(fp, {f.name_prefix.empty() ? "" : last.name(), absl::StrCat(last.id())}));
    }
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::FindDuplicates(grpc::ServerContext*, const pb::FindDuplicatesRequest* req,
                                                 pb::FindDuplicatesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckText("name", req->name(), kMaxNameChars, false));
    v.Merge(CheckPhone("phone", req->phone()));
    v.Merge(CheckEmail("email", req->email()));
    if (req->name().empty() && req->phone().empty() && req->email().empty())
      v.Add("name", "one of name, phone or email is required");
    KEFU_RETURN_IF_ERROR(v.Finish());
    std::vector<std::string> phones, emails;
    if (!req->phone().empty()) phones.push_back(req->phone());
    if (!req->email().empty()) emails.push_back(req->email());
    KEFU_ASSIGN_OR_RETURN(auto matches, repo_->FindDuplicates(req->name(), phones, emails, 0));
    for (auto& m : matches) *resp->add_matches() = std::move(m);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::MergeCustomers(grpc::ServerContext* ctx, const pb::MergeCustomersRequest* req,
                                                 pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("survivor_id", req->survivor_id()));
    v.Merge(CheckCustomerId("duplicate_id", req->duplicate_id()));
    if (req->survivor_id() > 0 && req->survivor_id() == req->duplicate_id())
      v.Add("duplicate_id", "must differ from survivor_id");
    v.Merge(CheckText("reason", req->reason(), kMaxReasonChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->survivor_id()));
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->duplicate_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->Merge(req->survivor_id(), req->duplicate_id(), req->reason(),
                                              CallerFrom(*ctx).ActorOrSystem(), IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ReassignOwner(grpc::ServerContext* ctx, const pb::ReassignOwnerRequest* req,
                                                pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    v.Merge(CheckId("new_owner_id", req->new_owner_id(), kMaxIdChars, true));
    v.Merge(CheckId("new_department_id", req->new_department_id(), kMaxIdChars, false));
    v.Merge(CheckText("reason", req->reason(), kMaxReasonChars, false));
    if (req->version() < 0) v.Add("version", "must not be negative");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->customer_id()));
    Caller caller = CallerFrom(*ctx);
    KEFU_RETURN_IF_ERROR(
        clients::RequireActiveStaff(peers_.performance, req->new_owner_id(), "new_owner_id", peers_.timeout, &caller));
    std::string actor = caller.ActorOrSystem();
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(
        *resp, repo_->Mutate(req->customer_id(), req->version(), "customers.ReassignOwner", IdempotencyKeyOf(*req),
                             [&](const pb::Customer& current) -> absl::StatusOr<Change> {
                               if (current.owner_id() == req->new_owner_id() &&
                                   (req->new_department_id().empty() ||
                                    req->new_department_id() == current.department_id()))
                                 return MakeError(absl::StatusCode::kFailedPrecondition, "NO_CHANGE",
                                                  "new_owner_id: the customer already has this owner");
                               Change ch;
                               ch.updated = current;
                               ch.updated.set_owner_id(req->new_owner_id());
                               if (!req->new_department_id().empty())
                                 ch.updated.set_department_id(req->new_department_id());
                               ch.log.push_back(AccountLogEntry(current.id(), actor,
                                                                OwnerChangeText(current.owner_id(), req->new_owner_id()),
                                                                req->reason(), now));
                               return ch;
                             }));
    metrics_->LogAppended(pb::LOG_CATEGORY_ACCOUNT);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::TransferPortfolio(grpc::ServerContext* ctx, const pb::TransferPortfolioRequest* req,
                                                    pb::TransferPortfolioResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckId("from_owner_id", req->from_owner_id(), kMaxIdChars, true));
    v.Merge(CheckId("to_owner_id", req->to_owner_id(), kMaxIdChars, true));
    v.Merge(CheckId("new_department_id", req->new_department_id(), kMaxIdChars, false));
    v.Merge(CheckText("reason", req->reason(), kMaxReasonChars, false));
    if (!req->from_owner_id().empty() && req->from_owner_id() == req->to_owner_id())
      v.Add("to_owner_id", "must differ from from_owner_id");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    KEFU_RETURN_IF_ERROR(
        clients::RequireActiveStaff(peers_.performance, req->to_owner_id(), "to_owner_id", peers_.timeout, &caller));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->TransferPortfolio(req->from_owner_id(), req->to_owner_id(),
                                                          req->new_department_id(), req->reason(),
                                                          caller.ActorOrSystem(), IdempotencyKeyOf(*req)));
    for (int i = 0; i < resp->customer_ids_size(); ++i) metrics_->LogAppended(pb::LOG_CATEGORY_ACCOUNT);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ChangeTier(grpc::ServerContext* ctx, const pb::ChangeTierRequest* req,
                                             pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    v.Merge(CheckEnum("tier", req->tier(), pb::Tier_IsValid, true));
    v.Merge(CheckText("reason", req->reason(), kMaxReasonChars, true));
    if (req->version() < 0) v.Add("version", "must not be negative");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->customer_id()));
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    absl::Time now = clock_->Now();
    // Set by `decide`, which a replay of an earlier request does not call.
    std::optional<pb::Tier> from;
    KEFU_ASSIGN_OR_RETURN(
        *resp, repo_->Mutate(req->customer_id(), req->version(), "customers.ChangeTier", IdempotencyKeyOf(*req),
                             [&](const pb::Customer& current) -> absl::StatusOr<Change> {
                               if (current.tier() == req->tier())
                                 return MakeError(absl::StatusCode::kFailedPrecondition, "NO_CHANGE",
                                                  "tier: the customer already has this tier");
                               from = current.tier();
                               Change ch;
                               ch.updated = current;
                               ch.updated.set_tier(req->tier());
                               pb::TierChange t;
                               t.set_from_tier(current.tier());
                               t.set_to_tier(req->tier());
                               t.set_reason(req->reason());
                               t.set_changed_by(actor);
                               ch.tier_change = t;
                               ch.log.push_back(AccountLogEntry(current.id(), actor,
                                                                TierChangeText(current.tier(), req->tier()),
                                                                req->reason(), now));
                               return ch;
                             }));
    if (from) {
      metrics_->TierChanged(*from, req->tier());
      metrics_->LogAppended(pb::LOG_CATEGORY_ACCOUNT);
    }
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListTierChanges(grpc::ServerContext* ctx, const pb::ListTierChangesRequest* req,
                                                  pb::ListTierChangesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->customer_id()));
    uint64_t fp = Fingerprint(absl::StrCat("tier:", req->customer_id()));
    KEFU_ASSIGN_OR_RETURN(int64_t before, DecodeIdPageToken(req->page_token(), fp));
    KEFU_ASSIGN_OR_RETURN(auto page, repo_->ListTierChanges(req->customer_id(), EffectivePageSize(req->page_size()),
                                                            before));
    for (auto& t : page.items) *resp->add_changes() = std::move(t);
    if (page.more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->changes(resp->changes_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ChangeLifecycleStage(grpc::ServerContext* ctx,
                                                       const pb::ChangeLifecycleStageRequest* req, pb::Customer* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    v.Merge(CheckEnum("stage", req->stage(), pb::LifecycleStage_IsValid, true));
    v.Merge(CheckText("reason", req->reason(), kMaxReasonChars, false));
    if (req->version() < 0) v.Add("version", "must not be negative");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->customer_id()));
    std::string actor = CallerFrom(*ctx).ActorOrSystem();
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(
        *resp, repo_->Mutate(req->customer_id(), req->version(), "customers.ChangeLifecycleStage",
                             IdempotencyKeyOf(*req),
                             [&](const pb::Customer& current) -> absl::StatusOr<Change> {
                               KEFU_RETURN_IF_ERROR(CheckLifecycleTransition(current.lifecycle_stage(), req->stage()));
                               Change ch;
                               ch.updated = current;
                               ch.updated.set_lifecycle_stage(req->stage());
                               ch.stage_change = Change::StageChange{current.lifecycle_stage(), req->stage(),
                                                                     req->reason(), actor};
                               ch.log.push_back(AccountLogEntry(current.id(), actor,
                                                                StageChangeText(current.lifecycle_stage(), req->stage()),
                                                                req->reason(), now));
                               return ch;
                             }));
    metrics_->LogAppended(pb::LOG_CATEGORY_ACCOUNT);
    return absl::OkStatus();
  });
}

// ---- log ----

namespace {
// An entry as the caller sent it, made ready to store: the server sets id and
// create_time; the caller's identity fills who and where when the entry does not say.
pb::LogEntry EntryToAppend(const pb::LogEntry& sent, const Caller& caller) {
  pb::LogEntry e = sent;
  e.clear_id();
  e.clear_create_time();
  if (e.staff_id().empty()) e.set_staff_id(caller.ActorOrSystem());
  if (e.department_id().empty()) e.set_department_id(caller.department_id);
  return e;
}

// The most entries one BatchAppendLogEntries writes (one transaction).
constexpr int kMaxLogBatch = 100;
}  // namespace

grpc::Status CustomerServiceImpl::AppendLogEntry(grpc::ServerContext* ctx, const pb::AppendLogEntryRequest* req,
                                                 pb::LogEntry* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (!req->has_entry()) v.Add("entry", "is required");
    else v.Merge(ValidateLogEntry(req->entry(), "entry"));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    const Caller caller = CallerFrom(*ctx);
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, caller, req->entry().customer_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->AppendLog(EntryToAppend(req->entry(), caller), IdempotencyKeyOf(*req)));
    metrics_->LogAppended(resp->category());
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::BatchAppendLogEntries(grpc::ServerContext* ctx,
                                                        const pb::BatchAppendLogEntriesRequest* req,
                                                        pb::BatchAppendLogEntriesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (req->requests_size() == 0) v.Add("requests", "is required");
    if (req->requests_size() > kMaxLogBatch)
      v.Add("requests", absl::StrCat("must be at most ", kMaxLogBatch, " (", req->requests_size(), " given)"));
    std::map<std::string, int> first_with_id;
    for (int i = 0; i < req->requests_size() && i < kMaxLogBatch; ++i) {
      const auto& r = req->requests(i);
      const std::string at = absl::StrCat("requests[", i, "]");
      if (!r.has_entry()) v.Add(at + ".entry", "is required");
      else v.Merge(ValidateLogEntry(r.entry(), at + ".entry"));
      v.Merge(CheckId(at + ".request_id", r.request_id(), 64, false));
      if (r.request_id().empty()) continue;
      auto [first, inserted] = first_with_id.emplace(r.request_id(), i);
      if (!inserted) v.Add(at + ".request_id", absl::StrCat("repeats requests[", first->second, "].request_id"));
    }
    KEFU_RETURN_IF_ERROR(v.Finish());
    const Caller caller = CallerFrom(*ctx);
    auto position = [](size_t i) { return absl::StrCat("requests[", i, "]"); };
    std::vector<Repository::NewLogEntry> entries;
    entries.reserve(req->requests_size());
    std::set<int64_t> in_scope;  // a batch often names one customer many times
    for (int i = 0; i < req->requests_size(); ++i) {
      const auto& r = req->requests(i);
      if (in_scope.insert(r.entry().customer_id()).second)
        KEFU_RETURN_IF_ERROR(AtPosition(position(i), RequireInScope(*repo_, caller, r.entry().customer_id())));
      entries.push_back({EntryToAppend(r.entry(), caller), IdempotencyKeyOf(r)});
    }
    KEFU_ASSIGN_OR_RETURN(auto appended, repo_->AppendLogs(std::move(entries), position));
    for (auto& e : appended) {
      metrics_->LogAppended(e.category());
      *resp->add_entries() = std::move(e);
    }
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListLogEntries(grpc::ServerContext* ctx, const pb::ListLogEntriesRequest* req,
                                                 pb::ListLogEntriesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    v.Merge(CheckEnum("category", req->category(), pb::LogCategory_IsValid, false));
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    if (req->has_start_time() && req->has_end_time() &&
        FromProtoTime(req->start_time()) >= FromProtoTime(req->end_time()))
      v.Add("end_time", "must be after start_time");
    KEFU_RETURN_IF_ERROR(v.Finish());
    const DepartmentScope scope = DepartmentScope::Of(CallerFrom(*ctx));
    if (!scope.company_wide()) KEFU_RETURN_IF_ERROR(GetInScope(*repo_, req->customer_id(), scope).status());
    pb::ListLogEntriesRequest filters = *req;
    filters.clear_page_size();
    filters.clear_page_token();
    uint64_t fp = MessageFingerprint(filters);
    std::optional<Repository::LogCursor> after;
    if (!req->page_token().empty()) {
      KEFU_ASSIGN_OR_RETURN(auto keys, DecodePageToken(req->page_token(), fp, 2));
      Repository::LogCursor cur{keys[0], 0};
      if (!absl::SimpleAtoi(keys[1], &cur.id) || !FromSqlTime(cur.event_time).ok())
        return InvalidField("page_token", "is not a token this list returned");
      after = cur;
    }
    std::optional<absl::Time> start, end;
    if (req->has_start_time()) start = FromProtoTime(req->start_time());
    if (req->has_end_time()) end = FromProtoTime(req->end_time());
    KEFU_ASSIGN_OR_RETURN(auto page, repo_->ListLog(req->customer_id(), req->category(), start, end,
                                                    EffectivePageSize(req->page_size()), after));
    for (auto& e : page.items) *resp->add_entries() = std::move(e);
    if (page.more) {
      const auto& last = resp->entries(resp->entries_size() - 1);
      resp->set_next_page_token(
          EncodePageToken(fp, {ToSqlTime(FromProtoTime(last.event_time())), absl::StrCat(last.id())}));
    }
    return absl::OkStatus();
  });
}

// ---- business volume ----

grpc::Status CustomerServiceImpl::RecordBusinessVolume(grpc::ServerContext* ctx, const pb::RecordBusinessVolumeRequest* req,
                                                       pb::BusinessVolume* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (!req->has_volume()) return RequiredField("volume");
    const auto& vol = req->volume();
    v.Merge(CheckCustomerId("volume.customer_id", vol.customer_id()));
    v.Merge(ValidatePeriod("volume.period", vol.period()));
    if (vol.volume() < 0) v.Add("volume.volume", "must not be negative");
    if (vol.volume() > 1'000'000'000'000LL) v.Add("volume.volume", "is out of range");
    v.Merge(CheckMoney("volume.revenue", vol.revenue()));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), vol.customer_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->UpsertVolume(vol, IdempotencyKeyOf(*req)));
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListBusinessVolumes(grpc::ServerContext* ctx, const pb::ListBusinessVolumesRequest* req,
                                                      pb::ListBusinessVolumesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckCustomerId("customer_id", req->customer_id()));
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->customer_id()));
    if (req->threshold_bp() < 0 || req->threshold_bp() > kMaxFluctuationBp)
      return InvalidField("threshold_bp", absl::StrCat("must be 0 to ", kMaxFluctuationBp));
    KEFU_ASSIGN_OR_RETURN(auto volumes, repo_->ListVolumes(req->customer_id()));
    int64_t threshold = req->threshold_bp() == 0 ? kDefaultFluctuationBp : req->threshold_bp();
    for (auto& c : ComputeVolumeChanges(volumes, threshold)) *resp->add_changes() = std::move(c);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListVolumeFluctuations(grpc::ServerContext*,
                                                         const pb::ListVolumeFluctuationsRequest* req,
                                                         pb::ListVolumeFluctuationsResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(ValidatePeriod("period", req->period()));
    if (req->threshold_bp() < 0 || req->threshold_bp() > kMaxFluctuationBp)
      v.Add("threshold_bp", absl::StrCat("must be 0 to ", kMaxFluctuationBp));
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    KEFU_RETURN_IF_ERROR(v.Finish());
    int64_t threshold = req->threshold_bp() == 0 ? kDefaultFluctuationBp : req->threshold_bp();
    uint64_t fp = Fingerprint(absl::StrCat("fluct:", req->period(), ":", threshold));
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    KEFU_ASSIGN_OR_RETURN(auto page, repo_->ListFluctuations(req->period(), threshold,
                                                             EffectivePageSize(req->page_size()), after));
    for (auto& c : page.items) *resp->add_changes() = std::move(c);
    if (page.more)
      resp->set_next_page_token(EncodeIdPageToken(fp, resp->changes(resp->changes_size() - 1).current().customer_id()));
    return absl::OkStatus();
  });
}

// ---- retention ----

grpc::Status CustomerServiceImpl::CreateRetentionCase(grpc::ServerContext* ctx, const pb::CreateRetentionCaseRequest* req,
                                                      pb::RetentionCase* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    v.Merge(CheckText("reason", req->reason(), 1000, true));
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_RETURN_IF_ERROR(RequireInScope(*repo_, CallerFrom(*ctx), req->customer_id()));
    pb::RetentionCase rc;
    rc.set_customer_id(req->customer_id());
    rc.set_reason(req->reason());
    rc.set_churned(req->churned());
    rc.set_owner_id(req->owner_id());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CreateRetentionCase(rc, IdempotencyKeyOf(*req), CallerFrom(*ctx).ActorOrSystem()));
    metrics_->LogAppended(pb::LOG_CATEGORY_RETENTION);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::GetRetentionCase(grpc::ServerContext*, const pb::GetRetentionCaseRequest* req,
                                                   pb::RetentionCase* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckCustomerId("case_id", req->case_id()));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->GetRetentionCase(req->case_id()));
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::AddRetentionAction(grpc::ServerContext* ctx, const pb::AddRetentionActionRequest* req,
                                                     pb::RetentionCase* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("case_id", req->case_id()));
    if (!req->has_action()) {
      v.Add("action", "is required");
    } else {
      v.Merge(CheckEnum("action.type", req->action().type(), pb::RetentionActionType_IsValid, true));
      v.Merge(CheckText("action.description", req->action().description(), 1000, true));
      v.Merge(CheckMoney("action.cost", req->action().cost()));
      v.Merge(CheckId("action.staff_id", req->action().staff_id(), kMaxIdChars, false));
    }
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    pb::RetentionAction a = req->action();
    if (a.staff_id().empty()) a.set_staff_id(CallerFrom(*ctx).ActorOrSystem());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->AddRetentionAction(req->case_id(), a, IdempotencyKeyOf(*req)));
    metrics_->LogAppended(pb::LOG_CATEGORY_RETENTION);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::CloseRetentionCase(grpc::ServerContext* ctx, const pb::CloseRetentionCaseRequest* req,
                                                     pb::RetentionCase* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("case_id", req->case_id()));
    v.Merge(CheckEnum("outcome", req->outcome(), pb::RetentionOutcome_IsValid, true));
    v.Merge(CheckText("note", req->note(), 1000, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->CloseRetentionCase(req->case_id(), req->outcome(), req->note(),
                                                           CallerFrom(*ctx).ActorOrSystem(), IdempotencyKeyOf(*req)));
    metrics_->RetentionClosed(req->outcome());
    metrics_->LogAppended(pb::LOG_CATEGORY_RETENTION);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListRetentionCases(grpc::ServerContext*, const pb::ListRetentionCasesRequest* req,
                                                     pb::ListRetentionCasesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    if (req->customer_id() < 0) v.Add("customer_id", "must not be negative");
    v.Merge(CheckEnum("status", req->status(), pb::RetentionStatus_IsValid, false));
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    KEFU_RETURN_IF_ERROR(v.Finish());
    uint64_t fp = Fingerprint(absl::StrCat("ret:", req->customer_id(), ":", req->status(), ":", req->owner_id()));
    KEFU_ASSIGN_OR_RETURN(int64_t before, DecodeIdPageToken(req->page_token(), fp));
    KEFU_ASSIGN_OR_RETURN(auto page, repo_->ListRetentionCases(req->customer_id(), req->status(), req->owner_id(),
                                                               EffectivePageSize(req->page_size()), before));
    for (auto& c : page.items) *resp->add_cases() = std::move(c);
    if (page.more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->cases(resp->cases_size() - 1).id()));
    return absl::OkStatus();
  });
}

// ---- surveys ----

grpc::Status CustomerServiceImpl::SampleSurveys(grpc::ServerContext*, const pb::SampleSurveysRequest* req,
                                                pb::SampleSurveysResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckText("campaign", req->campaign(), 100, true));
    if (!req->has_served_from()) v.Add("served_from", "is required");
    if (!req->has_served_to()) v.Add("served_to", "is required");
    if (req->has_served_from() && req->has_served_to() &&
        FromProtoTime(req->served_from()) >= FromProtoTime(req->served_to()))
      v.Add("served_to", "must be after served_from");
    if (req->sample_size() < 1 || req->sample_size() > 10000) v.Add("sample_size", "must be 1 to 10000");
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    KEFU_ASSIGN_OR_RETURN(auto result, repo_->SampleSurveys(req->campaign(), FromProtoTime(req->served_from()),
                                                            FromProtoTime(req->served_to()), req->sample_size(),
                                                            req->seed(), IdempotencyKeyOf(*req)));
    for (auto& s : result.surveys) *resp->add_surveys() = std::move(s);
    resp->set_population(result.population);
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::RecordSurveyResult(grpc::ServerContext* ctx, const pb::RecordSurveyResultRequest* req,
                                                     pb::Survey* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("survey_id", req->survey_id()));
    v.Merge(CheckEnum("satisfaction", req->satisfaction(), pb::Satisfaction_IsValid, true));
    v.Merge(CheckText("comment", req->comment(), 1000, false));
    v.Merge(CheckRequestId(req->request_id()));
    KEFU_RETURN_IF_ERROR(v.Finish());
    bool newly_recorded = false;
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->RecordSurveyResult(req->survey_id(), req->satisfaction(), req->comment(),
                                                           CallerFrom(*ctx).ActorOrSystem(), IdempotencyKeyOf(*req),
                                                           &newly_recorded));
    if (newly_recorded) {
      metrics_->SurveyRecorded(req->satisfaction());
      metrics_->LogAppended(pb::LOG_CATEGORY_SURVEY);
    }
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::ListSurveys(grpc::ServerContext*, const pb::ListSurveysRequest* req,
                                              pb::ListSurveysResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckText("campaign", req->campaign(), 100, false));
    v.Merge(CheckEnum("status", req->status(), pb::SurveyStatus_IsValid, false));
    if (req->customer_id() < 0) v.Add("customer_id", "must not be negative");
    v.Merge(CheckPageSize("page_size", req->page_size(), kMaxPageSize));
    KEFU_RETURN_IF_ERROR(v.Finish());
    uint64_t fp = Fingerprint(absl::StrCat("survey:", req->campaign(), ":", req->status(), ":", req->customer_id()));
    KEFU_ASSIGN_OR_RETURN(int64_t after, DecodeIdPageToken(req->page_token(), fp));
    KEFU_ASSIGN_OR_RETURN(auto page, repo_->ListSurveys(req->campaign(), req->status(), req->customer_id(),
                                                        EffectivePageSize(req->page_size()), after));
    for (auto& s : page.items) *resp->add_surveys() = std::move(s);
    if (page.more) resp->set_next_page_token(EncodeIdPageToken(fp, resp->surveys(resp->surveys_size() - 1).id()));
    return absl::OkStatus();
  });
}

grpc::Status CustomerServiceImpl::GetSurveyStats(grpc::ServerContext*, const pb::GetSurveyStatsRequest* req,
                                                 pb::SurveyStats* resp) {
  return RunHandler([&]() -> absl::Status {
    KEFU_RETURN_IF_ERROR(CheckText("campaign", req->campaign(), 100, true));
    KEFU_ASSIGN_OR_RETURN(*resp, repo_->SurveyStats(req->campaign()));
    return absl::OkStatus();
  });
}

// ---- 360 ----

grpc::Status CustomerServiceImpl::GetCustomer360(grpc::ServerContext* ctx, const pb::GetCustomer360Request* req,
                                                 pb::Customer360* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckCustomerId("customer_id", req->customer_id()));
    if (req->recent_log_limit() < 0 || req->recent_log_limit() > 50) v.Add("recent_log_limit", "must be 0 to 50");
    KEFU_RETURN_IF_ERROR(v.Finish());
    Caller caller = CallerFrom(*ctx);
    KEFU_ASSIGN_OR_RETURN(*resp->mutable_customer(),
                          GetInScope(*repo_, req->customer_id(), DepartmentScope::Of(caller)));
    MaskContactsFor(caller, resp->mutable_customer());
    int limit = req->recent_log_limit() == 0 ? 10 : req->recent_log_limit();
    KEFU_ASSIGN_OR_RETURN(auto log, repo_->ListLog(req->customer_id(), pb::LOG_CATEGORY_UNSPECIFIED, std::nullopt,
                                                   std::nullopt, limit, std::nullopt));
    for (auto& e : log.items) *resp->add_recent_log_entries() = std::move(e);
    FillFromPeers(peers_, req->customer_id(), caller, resp);
    return absl::OkStatus();
  });
}

// ---- statistics ----

grpc::Status CustomerServiceImpl::GetPortfolioStats(grpc::ServerContext*, const pb::GetPortfolioStatsRequest* req,
                                                    pb::PortfolioStats* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckId("owner_id", req->owner_id(), kMaxIdChars, false));
    v.Merge(CheckId("department_id", req->department_id(), kMaxIdChars, false));
    if (!req->owner_id().empty() && !req->department_id().empty())
      v.Add("department_id", "must be empty when owner_id is given (at most one of the two)");
    if (!req->has_from()) v.Add("from", "is required");
    if (!req->has_to()) v.Add("to", "is required");
    if (req->has_from() && req->has_to()) {
      absl::Time from = FromProtoTime(req->from()), to = FromProtoTime(req->to());
      if (to <= from) v.Add("to", "must be after from");
      else if (to - from > absl::Hours(24 * kMaxStatsDays))
        v.Add("to", absl::StrCat("must be at most ", kMaxStatsDays, " days after from"));
    }
    KEFU_RETURN_IF_ERROR(v.Finish());
    PortfolioFilter f{req->owner_id(), req->department_id(), FromProtoTime(req->from()), FromProtoTime(req->to())};
    KEFU_ASSIGN_OR_RETURN(PortfolioCounts counts, repo_->PortfolioStats(f));
    resp->set_customers(counts.customers);
    resp->set_acquired(counts.acquired);
    resp->set_tier_ups(counts.tier_ups);
    resp->set_tier_downs(counts.tier_downs);
    resp->set_churned(counts.churned);
    int64_t results = 0, satisfied = 0, level_sum = 0;
    for (int level = pb::SATISFACTION_VERY_DISSATISFIED; level <= pb::SATISFACTION_VERY_SATISFIED; ++level) {
      int64_t n = counts.surveys_by_level[level - 1];
      results += n;
      level_sum += n * level;
      if (level >= pb::SATISFACTION_SATISFIED) satisfied += n;
    }
    resp->set_survey_results(results);
    resp->set_satisfied(satisfied);
    resp->set_satisfaction_rate_bp(results == 0 ? 0 : static_cast<int32_t>(satisfied * 10000 / results));
    resp->set_mean_satisfaction(results == 0 ? 0 : static_cast<double>(level_sum) / static_cast<double>(results));
    return absl::OkStatus();
  });
}

}  // namespace kefu::customers
