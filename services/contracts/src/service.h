#pragma once
// The gRPC adapter of the contracts service, plus the activation/expiry sweep and
// metric refresh the server runs in the background.

#include <grpcpp/channel.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <map>

#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/request_context.h"
#include "repository.h"

namespace kefu::contracts {

class BusinessMetrics {
 public:
  explicit BusinessMetrics(prometheus::Registry& registry);
  void Signed(const common::v1::Money& amount);
  void Expired();
  void SetCounts(const std::vector<Repository::SegmentCount>& counts, int64_t expiring_30d,
                 int64_t expiring_without_renewal_30d);

 private:
  prometheus::Family<prometheus::Counter>& signed_amount_;
  std::map<std::pair<int, int>, prometheus::Gauge*> contracts_;
  prometheus::Gauge* expiring_;
  prometheus::Gauge* expiring_without_renewal_;
  prometheus::Counter* expired_;
};

struct ServiceConfig {
  std::shared_ptr<grpc::Channel> customers;
  absl::Duration customers_timeout = absl::Seconds(1);
  // Contract dates are days in this zone.
  absl::TimeZone zone = absl::FixedTimeZone(8 * 3600);
};

class ContractServiceImpl final : public pb::ContractService::Service {
 public:
  ContractServiceImpl(Repository* repo, db::Pool* pool, BusinessMetrics* metrics, const Clock* clock,
                      ServiceConfig config)
      : repo_(repo), pool_(pool), metrics_(metrics), clock_(clock), config_(std::move(config)) {}

  // Activates signed contracts whose effective day has come and expires active ones
  // whose expiry day is over. Safe to run on several replicas at once.
  absl::StatusOr<int> SweepOnce(int limit = 100);
  void RefreshMetrics();

  grpc::Status CreateContract(grpc::ServerContext*, const pb::CreateContractRequest*, pb::Contract*) override;
  grpc::Status CreateDraftForProject(grpc::ServerContext*, const pb::CreateDraftForProjectRequest*, pb::Contract*) override;
  grpc::Status GetContract(grpc::ServerContext*, const pb::GetContractRequest*, pb::Contract*) override;
  grpc::Status UpdateContract(grpc::ServerContext*, const pb::UpdateContractRequest*, pb::Contract*) override;
  grpc::Status ListContracts(grpc::ServerContext*, const pb::ListContractsRequest*, pb::ListContractsResponse*) override;
  grpc::Status SetRiskAssessment(grpc::ServerContext*, const pb::SetRiskAssessmentRequest*, pb::Contract*) override;
  grpc::Status SubmitForReview(grpc::ServerContext*, const pb::ContractActionRequest*, pb::Contract*) override;
  grpc::Status RecordApproval(grpc::ServerContext*, const pb::RecordApprovalRequest*, pb::Contract*) override;
  grpc::Status SignContract(grpc::ServerContext*, const pb::SignContractRequest*, pb::Contract*) override;
  grpc::Status ActivateContract(grpc::ServerContext*, const pb::ContractActionRequest*, pb::Contract*) override;
  grpc::Status TerminateContract(grpc::ServerContext*, const pb::TerminateContractRequest*, pb::Contract*) override;
  grpc::Status RenewContract(grpc::ServerContext*, const pb::RenewContractRequest*, pb::Contract*) override;
  grpc::Status AmendContract(grpc::ServerContext*, const pb::AmendContractRequest*, pb::Contract*) override;
  grpc::Status ListContractHistory(grpc::ServerContext*, const pb::ListContractHistoryRequest*,
                                   pb::ListContractHistoryResponse*) override;
  grpc::Status CheckEntitlement(grpc::ServerContext*, const pb::CheckEntitlementRequest*, pb::Entitlement*) override;
  grpc::Status GetApprovalRules(grpc::ServerContext*, const pb::GetApprovalRulesRequest*, pb::ApprovalRules*) override;
  grpc::Status GetSigningStats(grpc::ServerContext*, const pb::GetSigningStatsRequest*, pb::SigningStats*) override;
  grpc::Status UpdateApprovalRules(grpc::ServerContext*, const pb::UpdateApprovalRulesRequest*,
                                   pb::ApprovalRules*) override;

 private:
  absl::CivilDay Today() const { return absl::ToCivilDay(clock_->Now(), config_.zone); }
  absl::StatusOr<pb::ApprovalRules> Rules();
  // Activates one signed contract (and supersedes what it amends); idempotent with a
  // request_id in key.
  absl::StatusOr<pb::Contract> Activate(int64_t id, int64_t version, const IdempotencyKey& key,
                                        const std::string& actor);
  // Marks the contract an active amendment amends as superseded (a no-op otherwise).
  void SupersedeAmended(const pb::Contract& active, const std::string& actor);

  Repository* repo_;
  db::Pool* pool_;
  BusinessMetrics* metrics_;
  const Clock* clock_;
  ServiceConfig config_;
};

}  // namespace kefu::contracts
