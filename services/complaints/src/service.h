#pragma once
// The gRPC adapter of the complaints service: validation, caller identity and roles,
// proto mapping, deadline computation through workflow.h, and the escalation sweep,
// outbox relay and metric refresh that the server runs in the background.

#include <grpcpp/channel.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/request_context.h"
#include "repository.h"
#include "settings.h"
#include "kefu/security/scope.h"

namespace kefu::complaints {

class BusinessMetrics {
 public:
  explicit BusinessMetrics(prometheus::Registry& registry);
  void Escalated(pb::EscalationLevel to, const std::string& department);
  void Breached(const std::string& deadline, const std::string& department);
  void Responded(double seconds);
  void Resolved(double seconds);
  void FollowUp(bool satisfied);
  void Created(pb::WorkOrderType type);
  // Where a new work order's tier came from: the copy, or a call to customers.
  void TierFrom(bool copy);
  void SetOpen(const std::vector<Repository::OpenCount>& counts, int64_t overdue, int64_t at_risk);

 private:
  prometheus::Registry& registry_;
  std::map<std::pair<int, int>, prometheus::Gauge*> open_;
  prometheus::Gauge* overdue_open_;
  prometheus::Gauge* at_risk_;
  prometheus::Family<prometheus::Counter>& escalations_;
  prometheus::Family<prometheus::Counter>& breaches_;
  prometheus::Histogram* respond_seconds_;
  prometheus::Histogram* resolve_seconds_;
  prometheus::Counter* resolutions_;
  prometheus::Counter* follow_up_satisfied_;
  prometheus::Counter* follow_up_unsatisfied_;
  std::map<int, prometheus::Counter*> created_;
  prometheus::Counter* tier_from_copy_;
  prometheus::Counter* tier_from_customers_;
};

struct ServiceConfig {
  // Where the customers service answers (tier lookups; the log goes through the outbox).
  std::shared_ptr<grpc::Channel> customers;
  absl::Duration customers_timeout = absl::Seconds(1);
  // Where the contracts service answers entitlement checks; null = not deployed, and
  // work orders stay UNCLASSIFIED until it is.
  std::shared_ptr<grpc::Channel> contracts = nullptr;
  // Where handlers are checked to be active staff; null = performance not deployed.
  std::shared_ptr<grpc::Channel> performance = nullptr;
  // Service days (entitlement dates) are calendar days in this zone.
  absl::TimeZone zone = absl::FixedTimeZone(8 * 3600);
  double risk_threshold = kDefaultRiskThreshold;
  // How often WatchAlerts looks for new alerts.
  absl::Duration watch_poll = absl::Milliseconds(500);
  // How long the deadline policy and calendar are kept between reads: how soon a change
  // saved through another replica applies here (one saved here applies at once).
  absl::Duration settings_max_age = absl::Seconds(1);
  // How long a tier in the copy of customers' tiers is used without asking customers
  // again. Customers sends every tier change (RecordCustomerTiers), so this only bounds
  // how stale the copy can get if that stops (customers deployed without
  // --complaints_addr). Zero: no copy, every new work order asks customers.
  absl::Duration customer_tier_max_age = absl::ZeroDuration();
};

class ComplaintServiceImpl final : public pb::ComplaintService::Service {
 public:
  ComplaintServiceImpl(Repository* repo, BusinessMetrics* metrics, const Clock* clock, ServiceConfig config)
      : repo_(repo), metrics_(metrics), clock_(clock), config_(std::move(config)) {}

  // One round of the escalation sweep: escalations, breaches, at-risk warnings.
  absl::StatusOr<int> SweepOnce(int limit = 100);
  void RefreshMetrics();
  // Classifies up to `limit` open UNCLASSIFIED work orders now that contracts answers;
  // returns how many were classified.
  absl::StatusOr<int> ClassifyPending(int limit = 50);
  // Ends WatchAlerts streams (called on shutdown).
  void StopWatches() { stopping_ = true; }

  grpc::Status CreateWorkOrder(grpc::ServerContext*, const pb::CreateWorkOrderRequest*, pb::WorkOrder*) override;
  grpc::Status GetWorkOrder(grpc::ServerContext*, const pb::GetWorkOrderRequest*, pb::WorkOrder*) override;
  grpc::Status ListWorkOrders(grpc::ServerContext*, const pb::ListWorkOrdersRequest*, pb::ListWorkOrdersResponse*) override;
  grpc::Status AcceptWorkOrder(grpc::ServerContext*, const pb::WorkOrderActionRequest*, pb::WorkOrder*) override;
  grpc::Status AssignWorkOrder(grpc::ServerContext*, const pb::AssignWorkOrderRequest*, pb::WorkOrder*) override;
  grpc::Status StartWork(grpc::ServerContext*, const pb::WorkOrderActionRequest*, pb::WorkOrder*) override;
  grpc::Status PauseSla(grpc::ServerContext*, const pb::PauseSlaRequest*, pb::WorkOrder*) override;
  grpc::Status ResumeSla(grpc::ServerContext*, const pb::WorkOrderActionRequest*, pb::WorkOrder*) override;
  grpc::Status ChangeSeverity(grpc::ServerContext*, const pb::ChangeSeverityRequest*, pb::WorkOrder*) override;
  grpc::Status AddNote(grpc::ServerContext*, const pb::AddNoteRequest*, pb::WorkOrder*) override;
  grpc::Status ResolveWorkOrder(grpc::ServerContext*, const pb::ResolveWorkOrderRequest*, pb::WorkOrder*) override;
  grpc::Status StartFollowUp(grpc::ServerContext*, const pb::WorkOrderActionRequest*, pb::WorkOrder*) override;
  grpc::Status RecordFollowUp(grpc::ServerContext*, const pb::RecordFollowUpRequest*, pb::WorkOrder*) override;
  grpc::Status CloseWithoutSatisfaction(grpc::ServerContext*, const pb::CloseWithoutSatisfactionRequest*,
                                        pb::WorkOrder*) override;
  grpc::Status GetTimeline(grpc::ServerContext*, const pb::GetTimelineRequest*, pb::Timeline*) override;
  grpc::Status ListAtRisk(grpc::ServerContext*, const pb::ListAtRiskRequest*, pb::ListAtRiskResponse*) override;
  grpc::Status WatchAlerts(grpc::ServerContext*, const pb::WatchAlertsRequest*, grpc::ServerWriter<pb::Alert>*) override;
  grpc::Status GetDeadlinePolicy(grpc::ServerContext*, const pb::GetDeadlinePolicyRequest*, pb::DeadlinePolicy*) override;
  grpc::Status UpdateDeadlinePolicy(grpc::ServerContext*, const pb::UpdateDeadlinePolicyRequest*,
                                    pb::DeadlinePolicy*) override;
  grpc::Status GetBusinessCalendar(grpc::ServerContext*, const pb::GetBusinessCalendarRequest*,
                                   pb::BusinessCalendar*) override;
  grpc::Status UpdateBusinessCalendar(grpc::ServerContext*, const pb::UpdateBusinessCalendarRequest*,
                                      pb::BusinessCalendar*) override;
  grpc::Status GetKpis(grpc::ServerContext*, const pb::GetKpisRequest*, pb::Kpis*) override;
  grpc::Status GetQualitySeries(grpc::ServerContext*, const pb::GetQualitySeriesRequest*,
                                pb::QualitySeries*) override;
  grpc::Status RecordCustomerTiers(grpc::ServerContext*, const pb::RecordCustomerTiersRequest*,
                                   pb::RecordCustomerTiersResponse*) override;

 private:
  // Calls fn with each work order and its history, in order, until fn returns false.
  absl::Status ForEachWithHistory(const std::vector<pb::WorkOrder>& orders,
                                  const std::function<bool(const pb::WorkOrder&, const std::vector<HistoryEvent>&)>& fn);
  // A state change on one work order: `act` edits the copy and names its events;
  // deadlines, next check and overdue are then recomputed from the full history.
  using Act = std::function<absl::Status(pb::WorkOrder& w, std::vector<NewEvent>& events,
                                         std::optional<pb::FollowUp>& follow_up)>;
  // scope: the caller's department scope (security/scope.h); nullptr for the service's
  // own changes (sweeps, classification). rpc and key make the change idempotent
  // (AIP-155): rpc names it, e.g. "complaints.AcceptWorkOrder"; an empty key (the
  // service's own changes) is an ordinary change.
  absl::StatusOr<pb::WorkOrder> Apply(int64_t id, int64_t version, const Act& act,
                                      const security::DepartmentScope* scope = nullptr, absl::string_view rpc = "",
                                      const IdempotencyKey& key = {});
  // Apply on behalf of the calling staff member, within their department scope; a retry
  // with the request's key returns the first call's work order.
  absl::StatusOr<pb::WorkOrder> ApplyAs(const grpc::ServerContext* ctx, absl::string_view rpc,
                                        const IdempotencyKey& key, int64_t id, int64_t version, const Act& act);
  // The policy and calendar as stored now: what the settings RPCs show.
  absl::StatusOr<Settings> LoadSettings();
  // The same, kept for up to config_.settings_max_age: what the deadline computations of
  // every new work order, state change and sweep use (see service.cc).
  absl::StatusOr<Settings> CurrentSettings();
  // After this replica saved a change: the next CurrentSettings reads it.
  void ForgetSettings();
  // Service type and covering contract from entitlement; UNCLASSIFIED when contracts
  // cannot answer.
  std::pair<pb::ServiceType, int64_t> Classify(int64_t customer_id, absl::Time received, const Caller* caller);
  // The customer's tier from the copy, if it holds one checked within
  // customer_tier_max_age; nullopt: ask customers.
  std::optional<int> KnownTier(int64_t customer_id, absl::Time now);

  Repository* repo_;
  BusinessMetrics* metrics_;
  const Clock* clock_;
  ServiceConfig config_;
  std::atomic<bool> stopping_{false};
  std::mutex settings_mu_;
  std::optional<Settings> settings_;
  absl::Time settings_read_at_;
  uint64_t settings_generation_ = 0;  // moved by ForgetSettings
};

}  // namespace kefu::complaints
