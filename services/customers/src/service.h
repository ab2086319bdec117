#pragma once
// The gRPC adapter of the customers service: validates requests, maps proto <-> domain,
// asks the domain layer for decisions and the repository for storage, and keeps the
// business metrics.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>
#include <mutex>

#include "kefu/customers/v1/customers.grpc.pb.h"
#include "repository.h"
#include "view360.h"

namespace kefu::customers {

class BusinessMetrics {
 public:
  explicit BusinessMetrics(prometheus::Registry& registry);
  void LogAppended(pb::LogCategory category);
  void DuplicateDetected();
  void TierChanged(pb::Tier from, pb::Tier to);
  void RetentionClosed(pb::RetentionOutcome outcome);
  void SurveyRecorded(pb::Satisfaction satisfaction);
  // Replaces the customers-by-segment gauges with a fresh count.
  void SetSegments(const std::vector<Repository::SegmentCount>& counts);

 private:
  std::map<std::pair<int, int>, prometheus::Gauge*> segments_;
  std::map<int, prometheus::Counter*> log_by_category_;
  prometheus::Counter* duplicates_;
  prometheus::Counter* tier_up_;
  prometheus::Counter* tier_down_;
  std::map<int, prometheus::Counter*> retention_by_outcome_;
  std::map<int, prometheus::Counter*> survey_by_level_;
};

class CustomerServiceImpl final : public pb::CustomerService::Service {
 public:
  CustomerServiceImpl(Repository* repo, BusinessMetrics* metrics, const Clock* clock, Peers peers = {})
      : repo_(repo), metrics_(metrics), clock_(clock), peers_(std::move(peers)) {}

  // Refreshes the segment gauges; run periodically by the server.
  void RefreshMetrics();

  grpc::Status CreateCustomer(grpc::ServerContext*, const pb::CreateCustomerRequest*, pb::Customer*) override;
  grpc::Status GetCustomer(grpc::ServerContext*, const pb::GetCustomerRequest*, pb::Customer*) override;
  grpc::Status GetCustomerTier(grpc::ServerContext*, const pb::GetCustomerTierRequest*, pb::CustomerTier*) override;
  grpc::Status UpdateCustomer(grpc::ServerContext*, const pb::UpdateCustomerRequest*, pb::Customer*) override;
  grpc::Status ListCustomers(grpc::ServerContext*, const pb::ListCustomersRequest*, pb::ListCustomersResponse*) override;
  grpc::Status ImportCustomers(grpc::ServerContext*, grpc::ServerReader<pb::ImportCustomersRequest>*,
                               pb::ImportCustomersResponse*) override;
  grpc::Status ExportCustomers(grpc::ServerContext*, const pb::ExportCustomersRequest*,
                               grpc::ServerWriter<pb::Customer>*) override;
  grpc::Status FindDuplicates(grpc::ServerContext*, const pb::FindDuplicatesRequest*, pb::FindDuplicatesResponse*) override;
  grpc::Status MergeCustomers(grpc::ServerContext*, const pb::MergeCustomersRequest*, pb::Customer*) override;
  grpc::Status ReassignOwner(grpc::ServerContext*, const pb::ReassignOwnerRequest*, pb::Customer*) override;
  grpc::Status TransferPortfolio(grpc::ServerContext*, const pb::TransferPortfolioRequest*,
                                 pb::TransferPortfolioResponse*) override;
  grpc::Status ChangeTier(grpc::ServerContext*, const pb::ChangeTierRequest*, pb::Customer*) override;
  grpc::Status ListTierChanges(grpc::ServerContext*, const pb::ListTierChangesRequest*,
                               pb::ListTierChangesResponse*) override;
  grpc::Status ChangeLifecycleStage(grpc::ServerContext*, const pb::ChangeLifecycleStageRequest*,
                                    pb::Customer*) override;
  grpc::Status AppendLogEntry(grpc::ServerContext*, const pb::AppendLogEntryRequest*, pb::LogEntry*) override;
  grpc::Status BatchAppendLogEntries(grpc::ServerContext*, const pb::BatchAppendLogEntriesRequest*,
                                     pb::BatchAppendLogEntriesResponse*) override;
  grpc::Status ListLogEntries(grpc::ServerContext*, const pb::ListLogEntriesRequest*,
                              pb::ListLogEntriesResponse*) override;
  grpc::Status RecordBusinessVolume(grpc::ServerContext*, const pb::RecordBusinessVolumeRequest*,
                                    pb::BusinessVolume*) override;
  grpc::Status ListBusinessVolumes(grpc::ServerContext*, const pb::ListBusinessVolumesRequest*,
                                   pb::ListBusinessVolumesResponse*) override;
  grpc::Status ListVolumeFluctuations(grpc::ServerContext*, const pb::ListVolumeFluctuationsRequest*,
                                      pb::ListVolumeFluctuationsResponse*) override;
  grpc::Status CreateRetentionCase(grpc::ServerContext*, const pb::CreateRetentionCaseRequest*,
                                   pb::RetentionCase*) override;
  grpc::Status GetRetentionCase(grpc::ServerContext*, const pb::GetRetentionCaseRequest*, pb::RetentionCase*) override;
  grpc::Status AddRetentionAction(grpc::ServerContext*, const pb::AddRetentionActionRequest*,
                                  pb::RetentionCase*) override;
  grpc::Status CloseRetentionCase(grpc::ServerContext*, const pb::CloseRetentionCaseRequest*,
                                  pb::RetentionCase*) override;
  grpc::Status ListRetentionCases(grpc::ServerContext*, const pb::ListRetentionCasesRequest*,
                                  pb::ListRetentionCasesResponse*) override;
  grpc::Status SampleSurveys(grpc::ServerContext*, const pb::SampleSurveysRequest*, pb::SampleSurveysResponse*) override;
  grpc::Status RecordSurveyResult(grpc::ServerContext*, const pb::RecordSurveyResultRequest*, pb::Survey*) override;
  grpc::Status ListSurveys(grpc::ServerContext*, const pb::ListSurveysRequest*, pb::ListSurveysResponse*) override;
  grpc::Status GetSurveyStats(grpc::ServerContext*, const pb::GetSurveyStatsRequest*, pb::SurveyStats*) override;
  grpc::Status GetCustomer360(grpc::ServerContext*, const pb::GetCustomer360Request*, pb::Customer360*) override;
  grpc::Status GetPortfolioStats(grpc::ServerContext*, const pb::GetPortfolioStatsRequest*,
                                 pb::PortfolioStats*) override;

 private:
  Repository* repo_;
  BusinessMetrics* metrics_;
  const Clock* clock_;
  Peers peers_;
};

}  // namespace kefu::customers
