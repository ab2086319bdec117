#include "loader.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "kefu/client.h"
#include "kefu/errors.h"
#include "kefu/time_util.h"

namespace kefu::demo {

namespace {

constexpr absl::Duration kCallTimeout = absl::Seconds(10);
constexpr int kAttempts = 4;
constexpr size_t kMaxErrorsKept = 10;

std::string ReasonOf(const grpc::Status& status) { return kefu::ReasonOf(kefu::FromGrpcStatus(status)); }

// Worth another attempt: nothing was decided, the service or database was busy.
bool IsTransient(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return true;
  std::string reason = ReasonOf(status);
  return reason == kefu::reason::kDbUnavailable || reason == kefu::reason::kDbConflict ||
         reason == kefu::reason::kPoolExhausted;
}

// The steps of `path` still to take from `current`. The last occurrence counts, so a
// path that passes a value twice (stable -> decline -> stable) is not walked again
// once finished; a value not on the path means someone else moved the customer, and
// then the loader leaves it alone.
template <typename T>
std::vector<size_t> RemainingSteps(const Path<T>& path, T current) {
  for (size_t i = path.steps.size(); i-- > 0;) {
    if (path.steps[i] != current) continue;
    std::vector<size_t> rest;
    for (size_t j = i + 1; j < path.steps.size(); ++j) rest.push_back(j);
    return rest;
  }
  return {};
}

Caller Acting(const std::string& staff_id, const std::string& department_id, const std::string& request_id) {
  Caller caller;
  caller.staff_id = staff_id;
  caller.department_id = department_id;
  caller.request_id = request_id;
  return caller;
}

// Calls act as the account manager, so the log and the tier history name them.
Caller CallerFor(const CustomerPlan& plan) {
  return Acting(plan.owner.staff_id, plan.owner.department_id, plan.create.request_id());
}

}  // namespace

Loader::Loader(std::shared_ptr<grpc::Channel> channel, const DemoGenerator* generator, absl::Time run_start,
               std::shared_ptr<const security::TokenSigner> signer)
    : stub_(pb::CustomerService::NewStub(channel)),
      signer_(std::move(signer)),
      generator_(generator),
      run_start_(run_start) {}

std::string Loader::TokenFor(const Caller& caller) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& token = tokens_[caller.staff_id];
  if (token.empty()) {
    security::Claims claims;
    // Calls made for no one in particular (the survey campaign) run as the loader.
    claims.subject = caller.staff_id.empty() ? "demo-loader" : caller.staff_id;
    claims.department = caller.department_id;
    // Account managers own the demo customers; the tier and stage history they walk
    // through needs a manager's rights too.
    claims.roles = {"account_manager", "department_manager"};
    claims.expires = absl::Now() + absl::Hours(2);
    auto signed_token = signer_->Sign(claims, absl::Now());
    if (signed_token.ok()) token = *signed_token;
  }
  return token;
}

template <typename Request, typename Response>
grpc::Status Loader::Call(Method<Request, Response> method, const Request& request, Response* response,
                          const Caller& caller) {
  grpc::Status status;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) absl::SleepFor(absl::Milliseconds(100 << attempt));
    response->Clear();
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + kCallTimeout));
    ctx->AddMetadata(kRequestIdHeader, caller.request_id);
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", TokenFor(caller)));
    status = (stub_.get()->*method)(ctx.get(), request, response);
    if (status.ok() || !IsTransient(status)) break;
  }
  return status;
}

bool Loader::IsNew(const google::protobuf::Timestamp& stamped) const {
  // Same host in the intended setup, so service and loader clocks agree.
  return FromProtoTime(stamped) >= run_start_;
}

void Loader::Error(const std::string& what, const grpc::Status& status) {
  stats_.errors++;
  std::lock_guard<std::mutex> lock(mu_);
  if (errors_.size() < kMaxErrorsKept)
    errors_.push_back(absl::StrCat(what, ": ", absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                                   ": ", status.error_message()));
}

std::vector<std::string> Loader::first_errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return errors_;
}

// ---- customers ----

std::optional<pb::Customer> Loader::CreateCustomer(const CustomerPlan& plan) {
  pb::Customer customer;
  if (!CreateOrFind(plan, CallerFor(plan), &customer)) return std::nullopt;
  if (customer.merged_into_id() != 0) {
    // Someone merged the demo record into another; its history lives there now.
    stats_.customers_skipped++;
    return std::nullopt;
  }
  std::lock_guard<std::mutex> lock(mu_);
  owner_of_[customer.id()] = plan.owner;
  return customer;
}

void Loader::CompleteCustomer(const CustomerPlan& plan, pb::Customer customer) {
  const Caller caller = CallerFor(plan);
  // Each part goes on even if an earlier one failed: the errors are reported, and a
  // re-run completes what is missing.
  WalkTiers(plan, caller, &customer);
  WalkStages(plan, caller, &customer);
  AppendLog(plan, caller, customer.id());
  RecordVolumes(plan, caller, customer.id());
  if (plan.retention) LoadRetention(*plan.retention, caller, customer.id());
}

bool Loader::CreateOrFind(const CustomerPlan& plan, const Caller& caller, pb::Customer* customer) {
  const std::string label = absl::StrCat("customer ", plan.number, " (", plan.create.customer().name(), ")");
  grpc::Status status = Call(&Stub::CreateCustomer, plan.create, customer, caller);
  if (status.ok()) {
    (IsNew(customer->create_time()) ? stats_.customers.added : stats_.customers.existing)++;
    return true;
  }
  if (ReasonOf(status) != "DUPLICATE_CUSTOMER") {
    Error(label, status);
    return false;
  }
  // The service no longer knows the request id (or the record was made another way)
  // but it may still be this very customer: same name and same primary phone.
  std::string ids = kefu::MetadataOf(kefu::FromGrpcStatus(status), "duplicate_ids");
  const pb::Contact& wanted = plan.create.customer().contacts(0);
  for (absl::string_view text : absl::StrSplit(ids, ',', absl::SkipEmpty())) {
    pb::GetCustomerRequest get;
    int64_t id = 0;
    if (!absl::SimpleAtoi(text, &id)) continue;
    get.set_customer_id(id);
    pb::Customer found;
    if (!Call(&Stub::GetCustomer, get, &found, caller).ok()) continue;
    bool same_phone = false;
    for (const auto& ct : found.contacts()) same_phone |= ct.phone() == wanted.phone();
    if (found.name() == plan.create.customer().name() && same_phone) {
      *customer = found;
      stats_.customers.existing++;
      return true;
    }
  }
  // A different customer already uses the name, phone or email: leave both alone.
  stats_.customers_skipped++;
  Error(label, status);
  return false;
}

void Loader::WalkTiers(const CustomerPlan& plan, const Caller& caller, pb::Customer* customer) {
  for (size_t step : RemainingSteps(plan.tiers, customer->tier())) {
    pb::ChangeTierRequest req;
    req.set_customer_id(customer->id());
    req.set_tier(plan.tiers.steps[step]);
    req.set_reason(plan.tiers.reasons[step]);
    req.set_version(customer->version());
    pb::Customer changed;
    grpc::Status status = Call(&Stub::ChangeTier, req, &changed, caller);
    if (!status.ok()) {
      Error(absl::StrCat("tier change of customer ", plan.number), status);
      return;
    }
    *customer = std::move(changed);
    stats_.tier_changes++;
  }
}

void Loader::WalkStages(const CustomerPlan& plan, const Caller& caller, pb::Customer* customer) {
  for (size_t step : RemainingSteps(plan.stages, customer->lifecycle_stage())) {
    pb::ChangeLifecycleStageRequest req;
    req.set_customer_id(customer->id());
    req.set_stage(plan.stages.steps[step]);
    req.set_reason(plan.stages.reasons[step]);
    req.set_version(customer->version());
    pb::Customer changed;
    grpc::Status status = Call(&Stub::ChangeLifecycleStage, req, &changed, caller);
    if (!status.ok()) {
      Error(absl::StrCat("lifecycle change of customer ", plan.number), status);
      return;
    }
    *customer = std::move(changed);
    stats_.stage_changes++;
  }
}

void Loader::AppendLog(const CustomerPlan& plan, const Caller& caller, int64_t customer_id) {
  for (const auto& lp : plan.log) {
    pb::AppendLogEntryRequest req;
    *req.mutable_entry() = lp.entry;
    req.mutable_entry()->set_customer_id(customer_id);
    req.set_request_id(lp.request_id);
    pb::LogEntry entry;
    grpc::Status status = Call(&Stub::AppendLogEntry, req, &entry, caller);
    if (status.ok()) {
      (IsNew(entry.create_time()) ? stats_.log_entries.added : stats_.log_entries.existing)++;
    } else if (ReasonOf(status) == kefu::reason::kRequestIdReused) {
      // Written by a run with another --as_of day: event times differ, the entry is there.
      stats_.log_entries.existing++;
    } else {
      Error(absl::StrCat("log entry of customer ", plan.number), status);
    }
  }
}

void Loader::RecordVolumes(const CustomerPlan& plan, const Caller& caller, int64_t customer_id) {
  for (const auto& v : plan.volumes) {
    pb::RecordBusinessVolumeRequest req;
    *req.mutable_volume() = v;
    req.mutable_volume()->set_customer_id(customer_id);
    pb::BusinessVolume recorded;
    grpc::Status status = Call(&Stub::RecordBusinessVolume, req, &recorded, caller);
    if (status.ok()) {
      stats_.volumes++;
    } else {
      Error(absl::StrCat("volume ", v.period(), " of customer ", plan.number), status);
    }
  }
}

void Loader::LoadRetention(const RetentionPlan& plan, const Caller& caller, int64_t customer_id) {
  pb::CreateRetentionCaseRequest create;
  create.set_customer_id(customer_id);
  create.set_reason(plan.reason);
  create.set_churned(plan.churned);
  create.set_request_id(plan.request_id);
  pb::RetentionCase rc;
  grpc::Status status = Call(&Stub::CreateRetentionCase, create, &rc, caller);
  if (!status.ok()) {
    Error(absl::StrCat("retention case of customer ", customer_id), status);
    return;
  }
  (IsNew(rc.open_time()) ? stats_.retention_cases.added : stats_.retention_cases.existing)++;

  for (const auto& ap : plan.actions) {
    bool present = false;
    for (const auto& a : rc.actions())
      present |= a.type() == ap.action.type() && a.description() == ap.action.description();
    if (present) {
      stats_.retention_actions.existing++;
      continue;
    }
    // Actions are only added to open cases; a case someone closed stays as it is.
    if (rc.status() != pb::RETENTION_STATUS_OPEN) break;
    pb::AddRetentionActionRequest req;
    req.set_case_id(rc.id());
    *req.mutable_action() = ap.action;
    req.set_request_id(ap.request_id);
    status = Call(&Stub::AddRetentionAction, req, &rc, caller);
    if (!status.ok()) {
      Error(absl::StrCat("retention action on case ", rc.id()), status);
      return;
    }
    stats_.retention_actions.added++;
  }

  if (plan.outcome && rc.status() == pb::RETENTION_STATUS_OPEN) {
    pb::CloseRetentionCaseRequest close;
    close.set_case_id(rc.id());
    close.set_outcome(*plan.outcome);
    close.set_note(plan.outcome_note);
    status = Call(&Stub::CloseRetentionCase, close, &rc, caller);
    if (!status.ok()) {
      Error(absl::StrCat("closing retention case ", rc.id()), status);
      return;
    }
    stats_.retention_closed++;
  }
}

// ---- survey ----

void Loader::LoadSurvey(const SurveyPlan& plan) {
  Caller caller = Acting("", "", plan.request_id);
  pb::SampleSurveysRequest sample;
  sample.set_campaign(plan.campaign);
  *sample.mutable_served_from() = ToProtoTime(plan.served_from);
  *sample.mutable_served_to() = ToProtoTime(plan.served_to);
  sample.set_sample_size(plan.sample_size);
  sample.set_seed(plan.seed);
  sample.set_request_id(plan.request_id);
  pb::SampleSurveysResponse sampled;
  grpc::Status status = Call(&Stub::SampleSurveys, sample, &sampled, caller);
  const bool sampled_now = status.ok();
  if (sampled_now) {
    stats_.survey_population = sampled.population();
    for (const auto& s : sampled.surveys())
      (IsNew(s.create_time()) ? stats_.surveys_sampled.added : stats_.surveys_sampled.existing)++;
  } else if (ReasonOf(status) != kefu::reason::kRequestIdReused) {
    // REQUEST_ID_REUSED: this month's campaign was sampled on another day; answer it.
    Error(absl::StrCat("sampling survey campaign ", plan.campaign), status);
    return;
  }

  // Answer the campaign's surveys; the account manager makes the follow-up call.
  pb::ListSurveysRequest list;
  list.set_campaign(plan.campaign);
  list.set_page_size(500);
  std::vector<pb::Survey> surveys;
  for (;;) {
    pb::ListSurveysResponse page;
    status = Call(&Stub::ListSurveys, list, &page, caller);
    if (!status.ok()) {
      Error(absl::StrCat("listing surveys of ", plan.campaign), status);
      return;
    }
    surveys.insert(surveys.end(), page.surveys().begin(), page.surveys().end());
    if (page.next_page_token().empty()) break;
    list.set_page_token(page.next_page_token());
  }
  if (!sampled_now) stats_.surveys_sampled.existing += static_cast<int>(surveys.size());

  for (const auto& s : surveys) {
    SurveyResultPlan answer = generator_->SurveyAnswer(s.customer_id());
    if (!answer.answered) continue;
    if (s.status() == pb::SURVEY_STATUS_COMPLETED) {
      stats_.survey_results.existing++;
      continue;
    }
    Caller agent = caller;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = owner_of_.find(s.customer_id());
      if (it != owner_of_.end()) agent = Acting(it->second.staff_id, it->second.department_id, plan.request_id);
    }
    pb::RecordSurveyResultRequest req;
    req.set_survey_id(s.id());
    req.set_satisfaction(answer.satisfaction);
    req.set_comment(answer.comment);
    pb::Survey recorded;
    status = Call(&Stub::RecordSurveyResult, req, &recorded, agent);
    if (status.ok()) {
      stats_.survey_results.added++;
    } else {
      Error(absl::StrCat("survey ", s.id(), " result"), status);
    }
  }
}

}  // namespace kefu::demo
