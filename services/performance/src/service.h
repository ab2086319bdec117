#pragma once
// The gRPC adapter of the performance service: validation, authorization and mapping
// onto the pure rules (rules.h), the repository and the figures pulled from the other
// services (sources.h); plus the metric refresh the server runs in the background.

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>

#include "absl/time/time.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "kefu/request_context.h"
#include "repository.h"
#include "sources.h"

namespace kefu::performance {

class BusinessMetrics {
 public:
  explicit BusinessMetrics(prometheus::Registry& registry);
  void SetPlanProgress(const std::vector<std::pair<std::string, double>>& by_department);
  void SetCycleCompletion(const std::vector<pb::EvaluationCycle>& cycles);
  void SetOutOfControl(pb::QualityMeasure measure, int points);

 private:
  std::mutex mu_;
  prometheus::Family<prometheus::Gauge>& plan_progress_;
  prometheus::Family<prometheus::Gauge>& cycle_completion_;
  std::map<std::string, prometheus::Gauge*> plan_gauges_;
  std::map<int64_t, prometheus::Gauge*> cycle_gauges_;
  std::map<int, prometheus::Gauge*> out_of_control_;
};

struct ServiceConfig {
  Peers peers;
  // Calendar days (targets, plans, scorecard ranges, chart weeks) are days in this zone.
  absl::TimeZone zone = absl::FixedTimeZone(8 * 3600);
};

class PerformanceServiceImpl final : public pb::PerformanceService::Service {
 public:
  PerformanceServiceImpl(Repository* repo, db::Pool* pool, BusinessMetrics* metrics, const Clock* clock,
                         ServiceConfig config)
      : repo_(repo), pool_(pool), metrics_(metrics), clock_(clock), config_(std::move(config)) {}

  void RefreshMetrics();

  grpc::Status CreateDepartment(grpc::ServerContext*, const pb::CreateDepartmentRequest*, pb::Department*) override;
  grpc::Status GetDepartment(grpc::ServerContext*, const pb::GetDepartmentRequest*, pb::Department*) override;
  grpc::Status ListDepartments(grpc::ServerContext*, const pb::ListDepartmentsRequest*,
                               pb::ListDepartmentsResponse*) override;
  grpc::Status CreateStaff(grpc::ServerContext*, const pb::CreateStaffRequest*, pb::Staff*) override;
  grpc::Status GetStaff(grpc::ServerContext*, const pb::GetStaffRequest*, pb::Staff*) override;
  grpc::Status CheckStaff(grpc::ServerContext*, const pb::CheckStaffRequest*, pb::CheckStaffResponse*) override;
  grpc::Status UpdateStaff(grpc::ServerContext*, const pb::UpdateStaffRequest*, pb::Staff*) override;
  grpc::Status ListStaff(grpc::ServerContext*, const pb::ListStaffRequest*, pb::ListStaffResponse*) override;

  grpc::Status CreateTarget(grpc::ServerContext*, const pb::CreateTargetRequest*, pb::Target*) override;
  grpc::Status GetTarget(grpc::ServerContext*, const pb::GetTargetRequest*, pb::Target*) override;
  grpc::Status ListTargets(grpc::ServerContext*, const pb::ListTargetsRequest*, pb::ListTargetsResponse*) override;
  grpc::Status RecordTargetActual(grpc::ServerContext*, const pb::RecordTargetActualRequest*, pb::Target*) override;
  grpc::Status ReviseTarget(grpc::ServerContext*, const pb::ReviseTargetRequest*, pb::Target*) override;
  grpc::Status CheckTargetRollup(grpc::ServerContext*, const pb::CheckTargetRollupRequest*,
                                 pb::CheckTargetRollupResponse*) override;

  grpc::Status CreatePlan(grpc::ServerContext*, const pb::CreatePlanRequest*, pb::Plan*) override;
  grpc::Status GetPlan(grpc::ServerContext*, const pb::GetPlanRequest*, pb::Plan*) override;
  grpc::Status ListPlans(grpc::ServerContext*, const pb::ListPlansRequest*, pb::ListPlansResponse*) override;
  grpc::Status RecordPlanExecution(grpc::ServerContext*, const pb::RecordPlanExecutionRequest*, pb::Plan*) override;
  grpc::Status CancelPlan(grpc::ServerContext*, const pb::CancelPlanRequest*, pb::Plan*) override;
  grpc::Status GetPlanProgress(grpc::ServerContext*, const pb::GetPlanProgressRequest*, pb::PlanProgress*) override;

  grpc::Status GetScorecard(grpc::ServerContext*, const pb::GetScorecardRequest*, pb::Scorecard*) override;
  grpc::Status GetScorecardPolicy(grpc::ServerContext*, const pb::GetScorecardPolicyRequest*,
                                  pb::ScorecardPolicy*) override;
  grpc::Status UpdateScorecardPolicy(grpc::ServerContext*, const pb::UpdateScorecardPolicyRequest*,
                                     pb::ScorecardPolicy*) override;

  grpc::Status CreateEvaluationCycle(grpc::ServerContext*, const pb::CreateEvaluationCycleRequest*,
                                     pb::EvaluationCycle*) override;
  grpc::Status GetEvaluationCycle(grpc::ServerContext*, const pb::GetEvaluationCycleRequest*,
                                  pb::EvaluationCycle*) override;
  grpc::Status ListEvaluationCycles(grpc::ServerContext*, const pb::ListEvaluationCyclesRequest*,
                                    pb::ListEvaluationCyclesResponse*) override;
  grpc::Status ListMyEvaluationTasks(grpc::ServerContext*, const pb::ListMyEvaluationTasksRequest*,
                                     pb::ListMyEvaluationTasksResponse*) override;
  grpc::Status SubmitRating(grpc::ServerContext*, const pb::SubmitRatingRequest*, pb::SubmitRatingResponse*) override;
  grpc::Status CloseEvaluationCycle(grpc::ServerContext*, const pb::CloseEvaluationCycleRequest*,
                                    pb::EvaluationCycle*) override;
  grpc::Status GetEvaluationResult(grpc::ServerContext*, const pb::GetEvaluationResultRequest*,
                                   pb::EvaluationResult*) override;
  grpc::Status ListEvaluationResults(grpc::ServerContext*, const pb::ListEvaluationResultsRequest*,
                                     pb::ListEvaluationResultsResponse*) override;

  grpc::Status GetControlChart(grpc::ServerContext*, const pb::GetControlChartRequest*, pb::ControlChart*) override;

 private:
  absl::CivilDay Today() const { return absl::ToCivilDay(clock_->Now(), config_.zone); }
  absl::StatusOr<pb::ScorecardPolicy> Policy();

  Repository* repo_;
  db::Pool* pool_;
  BusinessMetrics* metrics_;
  const Clock* clock_;
  ServiceConfig config_;
};

}  // namespace kefu::performance
