#pragma once
// Applies demo plans to a running customers service over gRPC.
//
// Re-running is safe: creations carry request ids (a replay returns the first
// result), tier and lifecycle paths are walked from the customer's current value,
// retention actions already on a case and surveys already answered are skipped.
// Counters tell apart what this run wrote from what an earlier run already had.

#include <grpcpp/channel.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "demo_data.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/request_context.h"
#include "kefu/security/tokens.h"

namespace kefu::demo {

struct Counter {
  std::atomic<int> added{0};     // written by this run
  std::atomic<int> existing{0};  // already there from an earlier run
};

struct LoadStats {
  Counter customers;
  std::atomic<int> customers_skipped{0};  // clashed with a foreign record, or merged away
  std::atomic<int> tier_changes{0};
  std::atomic<int> stage_changes{0};
  Counter log_entries;
  std::atomic<int> volumes{0};  // months recorded (an upsert: always "written")
  Counter retention_cases;
  Counter retention_actions;
  std::atomic<int> retention_closed{0};
  Counter surveys_sampled;
  int survey_population = -1;  // -1: not known (the sample was drawn by an earlier run)
  Counter survey_results;
  std::atomic<int> errors{0};
};

class Loader {
 public:
  // Records are "added" when the service stamped them at or after `run_start`.
  // Calls are made as each customer's account manager, with tokens signed by signer.
  Loader(std::shared_ptr<grpc::Channel> channel, const DemoGenerator* generator, absl::Time run_start,
         std::shared_ptr<const security::TokenSigner> signer);

  // Creates the customer (or finds it from an earlier run). Called in plan order, so
  // that on an empty database customer n gets the same id on every load.
  std::optional<pb::Customer> CreateCustomer(const CustomerPlan& plan);
  // Everything around a created customer: tier and lifecycle history, log, business
  // volume, retention. Safe to call from several threads.
  void CompleteCustomer(const CustomerPlan& plan, pb::Customer customer);
  // Samples the survey campaign and records the answers; after all customers.
  void LoadSurvey(const SurveyPlan& plan);

  const LoadStats& stats() const { return stats_; }
  // The first few error messages, for the summary.
  std::vector<std::string> first_errors() const;

 private:
  using Stub = pb::CustomerService::Stub;
  template <typename Request, typename Response>
  using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // One call, retried a few times while the service or its database is briefly
  // unavailable. *response is cleared first, also when the call fails.
  template <typename Request, typename Response>
  grpc::Status Call(Method<Request, Response> method, const Request& request, Response* response,
                    const Caller& caller);

  bool CreateOrFind(const CustomerPlan& plan, const Caller& caller, pb::Customer* customer);
  // Walk the tier / lifecycle path from the customer's current value; *customer
  // follows each change.
  void WalkTiers(const CustomerPlan& plan, const Caller& caller, pb::Customer* customer);
  void WalkStages(const CustomerPlan& plan, const Caller& caller, pb::Customer* customer);
  void AppendLog(const CustomerPlan& plan, const Caller& caller, int64_t customer_id);
  void RecordVolumes(const CustomerPlan& plan, const Caller& caller, int64_t customer_id);
  void LoadRetention(const RetentionPlan& plan, const Caller& caller, int64_t customer_id);

  bool IsNew(const google::protobuf::Timestamp& stamped) const;
  void Error(const std::string& what, const grpc::Status& status);

  std::string TokenFor(const Caller& caller);

  std::unique_ptr<Stub> stub_;
  std::shared_ptr<const security::TokenSigner> signer_;
  std::map<std::string, std::string> tokens_;  // staff id -> token; guarded by mu_
  const DemoGenerator* generator_;
  absl::Time run_start_;
  LoadStats stats_;

  mutable std::mutex mu_;
  std::vector<std::string> errors_;          // guarded by mu_
  std::map<int64_t, Owner> owner_of_;        // customer id -> account manager; guarded by mu_
};

}  // namespace kefu::demo
