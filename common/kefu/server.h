#pragma once
// The one server bootstrap every service uses:
//   - configuration: flags, each also settable as KEFU_<FLAG_NAME> in the environment
//     (command line wins), with per-service defaults for ports and database names;
//   - the database pool, migrations applied at startup (retried until the database
//     answers), and a health loop that keeps grpc.health.v1 NOT_SERVING while the
//     database is unreachable;
//   - security: TLS (or loopback-only plaintext for development), bearer tokens and the
//     role matrix checked before any handler (security/authenticator.h), the audit
//     trail and its ListAuditEntries service (security/audit.h);
//   - server reflection, the metrics interceptor and /metrics;
//   - background tasks (schedulers, metric refreshers) that run while serving;
//   - graceful shutdown on SIGTERM/SIGINT: readiness goes NOT_SERVING, in-flight calls
//     drain until a deadline, then the process exits 0.
// Health service names: "" and each registered service (ready = database up and
// migrated), "readiness" (same), "liveness" (SERVING while the process runs).

#include <grpcpp/server.h>
#include <grpcpp/impl/codegen/service_type.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kefu/admission.h"
#include "kefu/db/db.h"
#include "kefu/metrics.h"
#include "kefu/security/audit.h"
#include "kefu/security/authenticator.h"
#include "kefu/security/tokens.h"
#include "kefu/security/transport.h"
#include "kefu/time_util.h"

namespace google::protobuf {
class ServiceDescriptor;
}

namespace kefu::outbox {
class Relay;
}

namespace kefu {

struct ServiceDefaults {
  std::string name;  // "customers"
  int grpc_port = 0;
  int metrics_port = 0;
};

struct ServerOptions {
  std::string service_name;
  std::string listen_host = "0.0.0.0";
  int grpc_port = 0;     // 0 picks a free port
  int metrics_port = 0;  // 0 picks a free port, -1 disables /metrics
  db::Config db;
  bool migrate = true;
  // Server threads, one per call running: the hard cap behind max_calls_in_flight (and
  // the only one for streams). A thread refused at this cap has already taken the
  // call's request, so refusing there costs nearly as much as answering.
  int max_threads = 1024;
  // Unary calls run at once before new ones are refused in the auth step, before they
  // take a thread (admission.h); <= 0: only max_threads limits them. Most of them wait
  // for one of the pool's connections, so this is the length of that queue: 128 holds
  // about 20 ms of GetCustomer's peak on two cores. At twice the peak offered it kept
  // the answered rate and cut their latency from 207 to 26 ms (p50) and the server's
  // size from 240 to 88 MB against no limit (README, Overload).
  int max_calls_in_flight = 128;
  // gRPC's sync server runs each call on the thread that picked it up and starts a new
  // waiting thread when fewer than min_pollers are left; after the call, the thread
  // exits if max_pollers are already waiting. gRPC's defaults (1 and 2) make a server
  // with 8 calls in flight create and destroy about one thread per call. Keeping up to
  // max_pollers threads makes calls reuse them; 16, the default pool, covers a call
  // on every connection, and costs about 2 MB of stacks (64 grew the resident size by
  // 16% in a soak as they accumulated).
  int min_pollers = 2;
  int max_pollers = 16;
  int max_message_bytes = 4 << 20;
  // Programmatic default is loopback plaintext (in-process tests); the flags default to TLS.
  security::TransportConfig transport = security::TransportConfig::LoopbackPlaintext();
  // Required: every call but health checks carries a token this verifies.
  std::shared_ptr<const security::TokenVerifier> token_verifier;
  // Verifies other services' own tokens; null refuses them.
  std::shared_ptr<const security::TokenVerifier> service_token_verifier;
  absl::Duration health_interval = absl::Seconds(1);
  // After SIGTERM: how long readiness reports NOT_SERVING before the listener closes
  // (lets load balancers stop routing), then how long in-flight calls may take.
  absl::Duration drain_delay = absl::ZeroDuration();
  absl::Duration shutdown_grace = absl::Seconds(10);
  // How long a request id keeps replaying its first result (AIP-155 retries).
  absl::Duration request_id_retention = absl::Hours(24 * 7);
  // Development only: moves the business clock (see Server::clock()).
  absl::Duration clock_offset = absl::ZeroDuration();
};

// Parses flags and the environment for a service binary, initialises logging and blocks
// SIGTERM/SIGINT so Server::Run() can wait for them. Call first thing in main().
ServerOptions ParseServerFlags(int argc, char** argv, const ServiceDefaults& defaults);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  db::Pool& pool() { return *pool_; }
  Metrics& metrics() { return metrics_; }
  const ServerOptions& options() const { return options_; }
  // The clock of the service's rules: the times it stamps, deadlines and sweeps. The
  // system clock, unless --clock_offset moves it; tokens, audit rows and request-id
  // retention always keep real time.
  const Clock* clock() const { return clock_.get(); }

  // Registers a gRPC service before Start(); full_name is the generated
  // Service::service_full_name(), e.g. "kefu.customers.v1.CustomerService".
  void AddService(grpc::Service* service, const char* full_name);
  // Runs fn every period on its own thread while the server is ready (database up).
  // Returns the task's wake: calling it (from any thread, at any rate, even after the
  // server is gone) runs the task `linger` later instead of at the end of its period;
  // the wait gathers the work of many wakes into one run.
  std::function<void()> AddBackgroundTask(std::string name, absl::Duration period, std::function<void()> fn,
                                          absl::Duration linger = absl::ZeroDuration());
  // Runs the outbox relay as the "outbox" task: every `interval`, and `linger` after a
  // transaction that queued a message commits (outbox::SetEnqueueListener), so that a
  // message leaves about `linger` after its commit rather than at the next tick, and one
  // tick takes the messages of every commit in that time.
  void AddOutboxRelay(outbox::Relay& relay, absl::Duration interval, absl::Duration linger);
  // The task that recomputes the service's business gauges from its tables: once soon
  // after the server is first ready, then every --gauge_refresh_ms (a minute by
  // default). Such counts read every open row, on every replica, so they run seldom.
  void AddGaugeRefresher(std::function<void()> fn);
  // Runs fn when shutdown begins, before in-flight calls are drained: long-lived
  // streams use it to finish instead of holding the shutdown until its deadline.
  void OnShutdown(std::function<void()> fn) { shutdown_hooks_.push_back(std::move(fn)); }

  absl::Status Start(const std::vector<db::Migration>& migrations);
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_.port(); }
  bool ready() const { return ready_.load(); }
  // True once shutdown has begun: a background task that works through a backlog checks
  // it between batches, so that SIGTERM does not wait for the backlog.
  bool stopping() const { return stopping_.load(); }

  // Blocks until SIGTERM or SIGINT, then shuts down gracefully.
  void Run();
  void Shutdown();

 private:
  void HealthLoop();
  void SetReady(bool ready);
  void LogShedding();

  ServerOptions options_;
  std::unique_ptr<Clock> clock_;
  Metrics metrics_;
  Admission admission_;
  std::atomic<int64_t> shed_since_log_{0};
  std::atomic<int64_t> shed_logged_at_s_{0};
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<security::AuditLog> audit_;
  std::unique_ptr<security::AuditServiceImpl> audit_service_;
  std::vector<std::pair<grpc::Service*, const google::protobuf::ServiceDescriptor*>> services_;
  // A task's own wait, shared with its wake (which may outlive the server).
  struct TaskSignal {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
  };
  struct Task {
    std::string name;
    absl::Duration period;
    std::function<void()> fn;
    bool run_when_ready = false;  // first run a second after ready, not a period later
    absl::Duration linger = absl::ZeroDuration();
    std::shared_ptr<TaskSignal> signal = std::make_shared<TaskSignal>();
  };
  std::vector<Task> tasks_;
  std::vector<std::function<void()>> shutdown_hooks_;
  std::vector<std::thread> threads_;
  std::unique_ptr<grpc::Server> server_;
  int grpc_port_ = 0;
  std::vector<db::Migration> migrations_;
  bool migrated_ = false;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool shut_down_ = false;
};

}  // namespace kefu
