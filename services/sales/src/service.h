#pragma once
// The gRPC adapter of the sales service.

#include <grpcpp/channel.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>

#include "kefu/db/db.h"
#include "kefu/outbox.h"
#include "kefu/request_context.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "repository.h"

namespace kefu::sales {

class BusinessMetrics {
 public:
  explicit BusinessMetrics(prometheus::Registry& registry);
  void Closed(pb::Stage stage);
  void SetPipeline(const std::vector<pb::PipelineRow>& by_stage);
  // A project created without the customer check (customers could not answer).
  void CreatedUnchecked();
  void SetCustomerChecks(const CustomerCheckCounts& counts);

 private:
  std::map<std::string, prometheus::Gauge*> projects_, amount_, weighted_;
  std::map<int, prometheus::Counter*> closed_;
  prometheus::Counter* created_unchecked_;
  prometheus::Gauge* awaiting_check_;
  prometheus::Gauge* open_customer_not_found_;
};

struct ServiceConfig {
  std::shared_ptr<grpc::Channel> customers;
  absl::Duration customers_timeout = absl::Seconds(1);
  absl::TimeZone zone = absl::FixedTimeZone(8 * 3600);
};

// Delivers a won project's draft-contract request to contracts, which keeps one draft
// per project (so a redelivery returns the same draft), and records the draft's id on
// the project.
outbox::Handler DraftContractHandler(std::shared_ptr<grpc::Channel> contracts, Repository* repo,
                                     absl::Duration timeout);

class SalesServiceImpl final : public pb::SalesService::Service {
 public:
  SalesServiceImpl(Repository* repo, db::Pool* pool, BusinessMetrics* metrics, const Clock* clock, ServiceConfig config)
      : repo_(repo), pool_(pool), metrics_(metrics), clock_(clock), config_(std::move(config)) {}

  void RefreshMetrics();

  // Asks customers again about up to `limit` projects awaiting the customer check,
  // oldest first: the customer exists -> CONFIRMED; it does not -> CUSTOMER_NOT_FOUND
  // (logged as a warning, nothing deleted); customers still cannot answer -> the round
  // stops and they stay PENDING. Returns how many projects changed.
  absl::StatusOr<int> SweepPendingCustomerChecks(int limit = 100);

  grpc::Status CreateProject(grpc::ServerContext*, const pb::CreateProjectRequest*, pb::Project*) override;
  grpc::Status GetProject(grpc::ServerContext*, const pb::GetProjectRequest*, pb::Project*) override;
  grpc::Status UpdateProject(grpc::ServerContext*, const pb::UpdateProjectRequest*, pb::Project*) override;
  grpc::Status ListProjects(grpc::ServerContext*, const pb::ListProjectsRequest*, pb::ListProjectsResponse*) override;
  grpc::Status ChangeStage(grpc::ServerContext*, const pb::ChangeStageRequest*, pb::Project*) override;
  grpc::Status ListStageChanges(grpc::ServerContext*, const pb::ListStageChangesRequest*,
                                pb::ListStageChangesResponse*) override;
  grpc::Status AddActivity(grpc::ServerContext*, const pb::AddActivityRequest*, pb::Activity*) override;
  grpc::Status ListActivities(grpc::ServerContext*, const pb::ListActivitiesRequest*, pb::ListActivitiesResponse*) override;
  grpc::Status SetCompetitors(grpc::ServerContext*, const pb::SetCompetitorsRequest*, pb::Project*) override;
  grpc::Status AddActionPlan(grpc::ServerContext*, const pb::AddActionPlanRequest*, pb::ActionPlan*) override;
  grpc::Status UpdateActionPlanOutcome(grpc::ServerContext*, const pb::UpdateActionPlanOutcomeRequest*,
                                       pb::ActionPlan*) override;
  grpc::Status ListActionPlans(grpc::ServerContext*, const pb::ListActionPlansRequest*,
                               pb::ListActionPlansResponse*) override;
  grpc::Status GetPipeline(grpc::ServerContext*, const pb::GetPipelineRequest*, pb::Pipeline*) override;
  grpc::Status GetWinRate(grpc::ServerContext*, const pb::GetWinRateRequest*, pb::WinRate*) override;
  grpc::Status GetForecast(grpc::ServerContext*, const pb::GetForecastRequest*, pb::Forecast*) override;
  grpc::Status GetStageProbabilities(grpc::ServerContext*, const pb::GetStageProbabilitiesRequest*,
                                     pb::StageProbabilities*) override;
  grpc::Status UpdateStageProbabilities(grpc::ServerContext*, const pb::UpdateStageProbabilitiesRequest*,
                                        pb::StageProbabilities*) override;

 private:
  absl::StatusOr<pb::StageProbabilities> Probabilities();
  // CONFIRMED, or PENDING when customers cannot answer (UNAVAILABLE, DEADLINE_EXCEEDED);
  // FAILED_PRECONDITION (UNKNOWN_CUSTOMER) for a customer that does not exist.
  absl::StatusOr<pb::CustomerCheck> CheckCustomer(int64_t customer_id, const Caller& caller);

  Repository* repo_;
  db::Pool* pool_;
  BusinessMetrics* metrics_;
  const Clock* clock_;
  ServiceConfig config_;
};

}  // namespace kefu::sales
