#pragma once
// Prometheus metrics for every service: the de-facto gRPC server metric names
// (grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds,
// as go-grpc-prometheus names them), the DB pool and query metrics, and the registry that
// each service adds its business metrics to. One server interceptor records the gRPC
// metrics and writes the structured per-call log line.

#include "absl/strings/string_view.h"
#include <grpcpp/support/server_interceptor.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "kefu/admission.h"
#include "kefu/db/db.h"
#include "kefu/process_metrics.h"

namespace google::protobuf {
class ServiceDescriptor;
}

namespace kefu {

// Go-style code names used in the grpc_code label ("OK", "InvalidArgument", ...).
absl::string_view GrpcCodeName(int code);
// "unary", "client_stream", "server_stream", "bidi_stream".
absl::string_view GrpcTypeName(grpc::experimental::ServerRpcInfo::Type type);

// Seconds buckets shared by the latency histograms: 0.5 ms .. 10 s.
const prometheus::Histogram::BucketBoundaries& LatencyBuckets();

class Metrics : public db::Observer {
 public:
  Metrics();
  ~Metrics() override;

  prometheus::Registry& registry() { return *registry_; }
  std::shared_ptr<prometheus::Registry> shared_registry() { return registry_; }

  // Serves /metrics on address ("0.0.0.0:9101"); port 0 picks a free port.
  absl::Status Serve(const std::string& address);
  // The port /metrics listens on, 0 when not serving.
  int port() const;

  // Pre-creates every method x code series at 0, so rate() works from the first scrape.
  void RegisterService(const google::protobuf::ServiceDescriptor* service);

  // Called by the interceptor.
  struct MethodSeries;
  MethodSeries* SeriesFor(absl::string_view full_method,
                          grpc::experimental::ServerRpcInfo::Type type);
  void RecordStart(MethodSeries* series);
  void RecordEnd(MethodSeries* series, int code, double seconds);
  // Off: calls still get their request id, log line and status mapping, but no counter or
  // histogram is updated (a server without /metrics; the bench measures the difference).
  // Set before the server starts.
  void set_collect_calls(bool on) { collect_calls_ = on; }

  // Set by the health loop: 1 while the database answers.
  void SetDatabaseUp(bool up);

  // db::Observer
  void OnAcquire(absl::Duration wait, bool ok) override;
  void OnStatement(absl::string_view operation, absl::Duration latency, bool ok) override;
  void OnPoolState(int in_use, int idle, int max) override;
  void OnTransactionRetry() override;
  void OnCommitModeSwitch(bool to_autocommit) override;

  // A call refused by authentication or the role matrix (security/authenticator.h).
  void RecordDenied(absl::string_view method_path, bool known_method, absl::string_view reason);
  // A call of a known method refused because the server was full (admission.h).
  void RecordShed(absl::string_view method_path);

  // The per-call interceptor: counters and latency, the request id, the call's log line,
  // and, with admission, the call's place in the count of calls in flight.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory(
      Admission* admission = nullptr);

 private:
  MethodSeries* CreateSeriesLocked(const std::string& full_method, absl::string_view type);

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_ = std::make_shared<ProcessCollector>();
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& handling_seconds_;

  prometheus::Gauge& db_up_;
  prometheus::Gauge& pool_in_use_;
  prometheus::Gauge& pool_idle_;
  prometheus::Gauge& pool_max_;
  prometheus::Histogram& acquire_seconds_;
  prometheus::Counter& acquire_failures_;
  prometheus::Counter& tx_retries_;
  prometheus::Family<prometheus::Counter>& commit_mode_switches_;
  prometheus::Counter& to_autocommit_;
  prometheus::Counter& to_manual_commit_;
  prometheus::Family<prometheus::Counter>& auth_denied_;
  prometheus::Family<prometheus::Counter>& shed_;
  std::map<std::string, prometheus::Histogram*, std::less<>> query_seconds_;
  std::map<std::string, prometheus::Counter*, std::less<>> query_errors_;

  bool collect_calls_ = true;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<MethodSeries>, std::less<>> series_;
};

}  // namespace kefu
