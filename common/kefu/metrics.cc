#include "kefu/metrics.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/support/interceptor.h>

#include <array>
#include <chrono>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/request_context.h"

namespace kefu {

namespace {
constexpr std::array<absl::string_view, 17> kCodeNames = {
    "OK",           "Canceled",           "Unknown",         "InvalidArgument",
    "DeadlineExceeded", "NotFound",       "AlreadyExists",   "PermissionDenied",
    "ResourceExhausted", "FailedPrecondition", "Aborted",    "OutOfRange",
    "Unimplemented", "Internal",          "Unavailable",     "DataLoss",
    "Unauthenticated"};
}  // namespace

struct Metrics::MethodSeries {
  prometheus::Counter* started;
  std::array<prometheus::Counter*, 17> handled;
  prometheus::Histogram* seconds;
  prometheus::Counter* shed;
  std::string service;
  std::string method;
  std::string full_method;
};

absl::string_view GrpcCodeName(int code) {
  if (code < 0 || code >= static_cast<int>(kCodeNames.size())) return "Unknown";
  return kCodeNames[code];
}

absl::string_view GrpcTypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using T = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case T::UNARY: return "unary";
    case T::CLIENT_STREAMING: return "client_stream";
    case T::SERVER_STREAMING: return "server_stream";
    case T::BIDI_STREAMING: return "bidi_stream";
  }
  return "unary";
}

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

namespace {
// The log writer outlives any one Metrics, so the counter it feeds is kept alive with
// its registry for the rest of the process.
std::mutex g_log_dropped_mu;
std::shared_ptr<prometheus::Registry> g_log_dropped_registry;
prometheus::Counter* g_log_dropped = nullptr;

void CountDroppedLogLines(uint64_t n) {
  std::lock_guard<std::mutex> lock(g_log_dropped_mu);
  if (g_log_dropped) g_log_dropped->Increment(static_cast<double>(n));
}
}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      started_(prometheus::BuildCounter()
                   .Name("grpc_server_started_total")
                   .Help("Total number of RPCs started on the server.")
                   .Register(*registry_)),
      handled_(prometheus::BuildCounter()
                   .Name("grpc_server_handled_total")
                   .Help("Total number of RPCs completed on the server, regardless of success or failure.")
                   .Register(*registry_)),
      handling_seconds_(prometheus::BuildHistogram()
                            .Name("grpc_server_handling_seconds")
                            .Help("Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.")
                            .Register(*registry_)),
      db_up_(prometheus::BuildGauge()
                 .Name("kefu_db_up")
                 .Help("1 while the service's database answers its health probe.")
                 .Register(*registry_)
                 .Add({})),
      pool_in_use_(prometheus::BuildGauge()
                       .Name("kefu_db_pool_connections")
                       .Help("Database connections by state.")
                       .Register(*registry_)
                       .Add({{"state", "in_use"}})),
      pool_idle_(prometheus::BuildGauge()
                     .Name("kefu_db_pool_idle_connections")
                     .Help("Idle database connections in the pool.")
                     .Register(*registry_)
                     .Add({})),
      pool_max_(prometheus::BuildGauge()
                    .Name("kefu_db_pool_max_connections")
                    .Help("Configured maximum size of the database pool.")
                    .Register(*registry_)
                    .Add({})),
      acquire_seconds_(prometheus::BuildHistogram()
                           .Name("kefu_db_pool_acquire_seconds")
                           .Help("Time spent waiting for a pooled database connection.")
                           .Register(*registry_)
                           .Add({}, LatencyBuckets())),
      acquire_failures_(prometheus::BuildCounter()
                            .Name("kefu_db_pool_acquire_failures_total")
                            .Help("Connection acquisitions that failed (database down or pool exhausted).")
                            .Register(*registry_)
                            .Add({})),
      tx_retries_(prometheus::BuildCounter()
                      .Name("kefu_db_transaction_retries_total")
                      .Help("Transactions retried after a deadlock or lock-wait timeout.")
                      .Register(*registry_)
                      .Add({})),
      commit_mode_switches_(prometheus::BuildCounter()
                                .Name("kefu_db_commit_mode_switches_total")
                                .Help("Pooled connections switched between commit modes for their next borrower, "
                                      "by the mode switched to (autocommit for plain statements, manual_commit for "
                                      "transactions); each costs a round trip.")
                                .Register(*registry_)),
      to_autocommit_(commit_mode_switches_.Add({{"to", "autocommit"}})),
      to_manual_commit_(commit_mode_switches_.Add({{"to", "manual_commit"}})),
      auth_denied_(prometheus::BuildCounter()
                       .Name("kefu_auth_denied_total")
                       .Help("Calls refused before any handler ran, by method and reason "
                             "(unauthenticated, permission_denied, unknown_method).")
                       .Register(*registry_)),
      shed_(prometheus::BuildCounter()
                .Name("kefu_server_shed_total")
                .Help("Calls refused with RESOURCE_EXHAUSTED before any handler ran because the "
                      "server already had --max_calls_in_flight calls running, by method.")
                .Register(*registry_)) {
  auto& q = prometheus::BuildHistogram()
                .Name("kefu_db_query_duration_seconds")
                .Help("Latency of database statements by operation.")
                .Register(*registry_);
  auto& e = prometheus::BuildCounter()
                .Name("kefu_db_query_errors_total")
                .Help("Database statements that failed, by operation.")
                .Register(*registry_);
  for (std::string op : {"select", "insert", "update", "delete", "other"}) {
    query_seconds_[op] = &q.Add({{"operation", op}}, LatencyBuckets());
    query_errors_[op] = &e.Add({{"operation", op}});
  }
  auto& dropped = prometheus::BuildCounter()
                      .Name("kefu_log_lines_dropped_total")
                      .Help("Log lines dropped because stderr was not keeping up (16 MiB buffered).")
                      .Register(*registry_)
                      .Add({});
  {
    std::lock_guard<std::mutex> lock(g_log_dropped_mu);
    g_log_dropped_registry = registry_;
    g_log_dropped = &dropped;
  }
  log::SetDropObserver(&CountDroppedLogLines);
}

Metrics::~Metrics() = default;

absl::Status Metrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(process_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

Metrics::MethodSeries* Metrics::CreateSeriesLocked(const std::string& full_method,
                                                   absl::string_view type) {
  auto series = std::make_unique<MethodSeries>();
  // "/pkg.Service/Method"
  absl::string_view fm = full_method;
  if (!fm.empty() && fm[0] == '/') fm.remove_prefix(1);
  auto slash = fm.find('/');
  series->service = std::string(fm.substr(0, slash));
  series->method = slash == absl::string_view::npos ? "" : std::string(fm.substr(slash + 1));
  series->full_method = full_method;
  prometheus::Labels base{{"grpc_service", series->service},
                          {"grpc_method", series->method},
                          {"grpc_type", std::string(type)}};
  series->started = &started_.Add(base);
  for (size_t c = 0; c < kCodeNames.size(); ++c) {
    auto labels = base;
    labels["grpc_code"] = std::string(kCodeNames[c]);
    series->handled[c] = &handled_.Add(labels);
  }
  series->seconds = &handling_seconds_.Add(base, LatencyBuckets());
  series->shed = &shed_.Add({{"grpc_service", series->service}, {"grpc_method", series->method}});
  auto* raw = series.get();
  series_[full_method] = std::move(series);
  return raw;
}

void Metrics::RegisterService(const google::protobuf::ServiceDescriptor* service) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* m = service->method(i);
    std::string type = m->client_streaming() ? (m->server_streaming() ? "bidi_stream" : "client_stream")
                                             : (m->server_streaming() ? "server_stream" : "unary");
    std::string full = absl::StrCat("/", service->full_name(), "/", m->name());
    if (series_.find(full) == series_.end()) CreateSeriesLocked(full, type);
  }
}

Metrics::MethodSeries* Metrics::SeriesFor(absl::string_view full_method,
                                          grpc::experimental::ServerRpcInfo::Type type) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(full_method);
  if (it != series_.end()) return it->second.get();
  return CreateSeriesLocked(std::string(full_method), GrpcTypeName(type));
}

void Metrics::RecordStart(MethodSeries* s) {
  if (collect_calls_) s->started->Increment();
}

void Metrics::RecordEnd(MethodSeries* s, int code, double seconds) {
  if (!collect_calls_) return;
  if (code < 0 || code >= static_cast<int>(kCodeNames.size())) code = 2;
  s->handled[code]->Increment();
  s->seconds->Observe(seconds);
}

void Metrics::SetDatabaseUp(bool up) { db_up_.Set(up ? 1 : 0); }

void Metrics::OnAcquire(absl::Duration wait, bool ok) {
  acquire_seconds_.Observe(absl::ToDoubleSeconds(wait));
  if (!ok) acquire_failures_.Increment();
}

void Metrics::OnStatement(absl::string_view operation, absl::Duration latency, bool ok) {
  auto it = query_seconds_.find(operation);
  if (it == query_seconds_.end()) it = query_seconds_.find("other");
  it->second->Observe(absl::ToDoubleSeconds(latency));
  if (!ok) {
    auto e = query_errors_.find(operation);
    if (e == query_errors_.end()) e = query_errors_.find("other");
    e->second->Increment();
  }
}

void Metrics::OnPoolState(int in_use, int idle, int max) {
  pool_in_use_.Set(in_use);
  pool_idle_.Set(idle);
  pool_max_.Set(max);
}

void Metrics::OnTransactionRetry() { tx_retries_.Increment(); }

void Metrics::OnCommitModeSwitch(bool to_autocommit) {
  (to_autocommit ? to_autocommit_ : to_manual_commit_).Increment();
}

namespace {
// "/pkg.Service/Method" -> {"pkg.Service", "Method"}; {"unknown", "unknown"} otherwise.
std::pair<std::string, std::string> SplitMethodPath(absl::string_view method_path) {
  absl::string_view path = absl::StripPrefix(method_path, "/");
  size_t slash = path.find('/');
  if (slash == absl::string_view::npos) return {"unknown", "unknown"};
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}
}  // namespace

void Metrics::RecordDenied(absl::string_view method_path, bool known_method, absl::string_view reason) {
  // Label values come only from the access matrix, never from what a client sent.
  auto [service, method] =
      known_method ? SplitMethodPath(method_path) : std::pair<std::string, std::string>{"unknown", "unknown"};
  std::lock_guard<std::mutex> lock(mu_);
  auth_denied_.Add({{"grpc_service", service}, {"grpc_method", method}, {"reason", std::string(reason)}})
      .Increment();
}

void Metrics::RecordShed(absl::string_view method_path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(method_path);  // every registered method has its series at 0
  if (it != series_.end()) {
    it->second->shed->Increment();
    return;
  }
  auto [service, method] = SplitMethodPath(method_path);
  shed_.Add({{"grpc_service", service}, {"grpc_method", method}}).Increment();
}

namespace {

using grpc::experimental::InterceptionHookPoints;

std::string NewRequestId() {
  thread_local absl::BitGen gen;
  return absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
}

class CallInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallInterceptor(Metrics* metrics, Admission* admission, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        info_(info),
        series_(metrics->SeriesFor(info->method(), info->type())),
        start_(std::chrono::steady_clock::now()) {
    if (admission && info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY && !IsProbe())
      running_ = Admission::Running(admission);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      metrics_->RecordStart(series_);
      auto* md = methods->GetRecvInitialMetadata();
      auto it = md->find(kRequestIdHeader);
      if (it != md->end() && it->second.size() <= 128) {
        request_id_.assign(it->second.data(), it->second.size());
      } else {
        // Every call gets an id for its log line; the handler sees it as if sent.
        if (it != md->end()) md->erase(it);
        request_id_ = NewRequestId();
        md->emplace(grpc::string_ref(kRequestIdHeader), grpc::string_ref(request_id_));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kRequestIdHeader, request_id_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (methods->GetRecvMessage() != nullptr) received_message_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // gRPC answers a request it cannot parse (e.g. invalid UTF-8 in a string field)
      // with a bare INTERNAL before any handler runs; that is the client's fault. (A
      // client stream's unreadable message just ends the stream for the handler: see
      // ImportOptions.expected_rows.)
      if (status.error_code() == grpc::StatusCode::INTERNAL && status.error_message().empty() &&
          !received_message_ &&
          (info_->type() == grpc::experimental::ServerRpcInfo::Type::UNARY ||
           info_->type() == grpc::experimental::ServerRpcInfo::Type::SERVER_STREAMING)) {
        status = ToGrpcStatus(MakeError(absl::StatusCode::kInvalidArgument, reason::kFieldInvalid,
                                        "request: could not be parsed; string fields must be valid UTF-8"));
        methods->ModifySendStatus(status);
      }
      double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
      int code = static_cast<int>(status.error_code());
      metrics_->RecordEnd(series_, code, seconds);
      bool server_fault = code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
                          code == grpc::StatusCode::UNAVAILABLE ||
                          code == grpc::StatusCode::DATA_LOSS;
      // Probes arrive every few seconds from Kubernetes; their lines would drown the rest.
      log::Level level = server_fault ? log::Level::kWarn : IsProbe() ? log::Level::kDebug : log::Level::kInfo;
      if (log::Enabled(level)) {
        log::Write(level, "rpc",
                   {{"method", series_->full_method},
                    {"code", GrpcCodeName(code)},
                    {"latency_ms", seconds * 1000.0},
                    {"request_id", request_id_},
                    {"error", status.error_message()}});
      }
    }
    methods->Proceed();
  }

 private:
  // Health checks and reflection: not the service's own calls.
  bool IsProbe() const {
    return series_->service == "grpc.health.v1.Health" || series_->service.rfind("grpc.reflection.", 0) == 0;
  }

  Metrics* metrics_;
  grpc::experimental::ServerRpcInfo* info_;
  Metrics::MethodSeries* series_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
  bool received_message_ = false;
  Admission::Running running_;  // held until the call ends (the interceptor dies with it)
};

class CallInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  CallInterceptorFactory(Metrics* metrics, Admission* admission) : metrics_(metrics), admission_(admission) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallInterceptor(metrics_, admission_, info);
  }

 private:
  Metrics* metrics_;
  Admission* admission_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Metrics::InterceptorFactory(
    Admission* admission) {
  return std::make_unique<CallInterceptorFactory>(this, admission);
}

}  // namespace kefu
