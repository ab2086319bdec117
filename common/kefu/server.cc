#include "kefu/server.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <malloc.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/security/identity.h"

ABSL_FLAG(std::string, listen_host, "0.0.0.0", "Address the gRPC and metrics listeners bind to.");
ABSL_FLAG(int, grpc_port, -1, "gRPC port (default: the service's documented port; 0 = any free port).");
ABSL_FLAG(int, metrics_port, -2, "Prometheus /metrics port (default: the service's documented port; 0 = any, -1 = off).");
ABSL_FLAG(std::string, db_host, "127.0.0.1", "MySQL host.");
ABSL_FLAG(int, db_port, 3306, "MySQL port.");
ABSL_FLAG(std::string, db_user, "", "MySQL user (default: kefu_<service>).");
ABSL_FLAG(std::string, db_password, "", "MySQL password (prefer --db_password_file or KEFU_DB_PASSWORD).");
ABSL_FLAG(std::string, db_password_file, "", "File holding the MySQL password (e.g. a mounted Secret).");
ABSL_FLAG(std::string, db_name, "", "MySQL schema (default: kefu_<service>).");
ABSL_FLAG(int, db_pool_size, 16, "Maximum database connections (opened as needed).");
ABSL_FLAG(int, db_acquire_timeout_ms, 5000, "How long a call waits for a free database connection.");
ABSL_FLAG(int, db_lock_wait_timeout_s, 5, "InnoDB lock wait timeout per statement, seconds.");
ABSL_FLAG(bool, migrate, true, "Apply the service's schema migrations at startup.");
ABSL_FLAG(int, max_threads, 1024,
          "Cap on gRPC server threads, so on calls in flight; beyond it calls are refused with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, max_calls_in_flight, 128,
          "Unary calls run at once; beyond it new calls are refused at once with RESOURCE_EXHAUSTED "
          "(\"server overloaded\") before they take a thread (0: no limit but --max_threads).");
ABSL_FLAG(int, min_pollers, 2,
          "Server threads kept waiting for new calls; a call that finds fewer starts another thread.");
ABSL_FLAG(int, max_pollers, 16,
          "Server threads that, after their call, keep waiting for the next one instead of exiting.");
ABSL_FLAG(int, max_message_bytes, 4 << 20, "Largest accepted request message.");
ABSL_FLAG(bool, plaintext, false,
          "Development only: no TLS, and only loopback clients are accepted.");
ABSL_FLAG(std::string, tls_cert_file, "", "PEM certificate this service presents (server, and client for mTLS).");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA that signs peers: verifies the services this one calls, and client certificates.");
ABSL_FLAG(bool, tls_require_client_cert, false, "Mutual TLS: refuse clients without a certificate from --tls_ca_file.");
ABSL_FLAG(std::string, jwt_public_key_file, "", "PEM RSA public key that verifies bearer tokens (required).");
ABSL_FLAG(std::string, jwt_issuer, "kefu", "Required token issuer (iss).");
ABSL_FLAG(std::string, jwt_audience, "kefu", "Required token audience (aud).");
ABSL_FLAG(std::string, service_key_file, "",
          "PEM RSA private key this service signs its own short-lived service tokens with, "
          "for calls to other services (not the staff token key).");
ABSL_FLAG(std::string, service_public_key_file, "",
          "PEM RSA public key that verifies other services' tokens (empty: refuse them).");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warn or error.");
ABSL_FLAG(int, drain_delay_ms, 0, "After SIGTERM, report NOT_SERVING this long before closing the listener.");
ABSL_FLAG(int, shutdown_grace_ms, 10000, "After SIGTERM, how long in-flight calls may still take.");
ABSL_FLAG(int, gauge_refresh_ms, 60000,
          "How often business gauges (open work orders, contracts by status, ...) are counted from the tables.");
ABSL_FLAG(absl::Duration, clock_offset, absl::ZeroDuration(),
          "Development only, needs --plaintext: moves this service's business clock (the times it stamps, "
          "deadlines, sweeps) by this much, e.g. -336h to replay two weeks ago. Tokens and audit keep real time.");
ABSL_FLAG(int, request_id_retention_h, 24 * 7,
          "How long, in hours, a request_id replays its first result before it is forgotten.");

namespace kefu {

namespace {

// KEFU_<FLAG> environment variables become flag values before the command line is read.
void ApplyEnvironment() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    std::string env = absl::StrCat("KEFU_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(env.c_str());
    if (!value) continue;
    std::string err;
    if (!flag->ParseFrom(value, &err)) {
      std::fprintf(stderr, "invalid %s: %s\n", env.c_str(), err.c_str());
      std::exit(2);
    }
  }
}

}  // namespace

ServerOptions ParseServerFlags(int argc, char** argv, const ServiceDefaults& defaults) {
  // Debian builds Abseil without NDEBUG, so absl::Mutex (gRPC's lock too) runs its
  // debug-only deadlock detector: a process-wide graph updated under a global lock on
  // every nested lock, which aborts the process on a lock order it merely suspects.
  // Release builds of Abseil leave it off; so do we (the TSan build checks lock order).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ApplyEnvironment();
  absl::ParseCommandLine(argc, argv);

  log::Level level = log::Level::kInfo;
  if (!log::ParseLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "invalid --log_level\n");
    std::exit(2);
  }
  log::Init(defaults.name, level);
  log::StartAsyncWriter();

  ServerOptions o;
  o.service_name = defaults.name;
  o.listen_host = absl::GetFlag(FLAGS_listen_host);
  int gp = absl::GetFlag(FLAGS_grpc_port);
  o.grpc_port = gp == -1 ? defaults.grpc_port : gp;
  int mp = absl::GetFlag(FLAGS_metrics_port);
  o.metrics_port = mp == -2 ? defaults.metrics_port : mp;
  o.db.host = absl::GetFlag(FLAGS_db_host);
  o.db.port = absl::GetFlag(FLAGS_db_port);
  o.db.user = absl::GetFlag(FLAGS_db_user);
  if (o.db.user.empty()) o.db.user = absl::StrCat("kefu_", defaults.name);
  o.db.schema = absl::GetFlag(FLAGS_db_name);
  if (o.db.schema.empty()) o.db.schema = absl::StrCat("kefu_", defaults.name);
  o.db.password = absl::GetFlag(FLAGS_db_password);
  std::string pw_file = absl::GetFlag(FLAGS_db_password_file);
  if (!pw_file.empty()) {
    std::ifstream in(pw_file);
    if (!in) {
      log::Error("cannot read --db_password_file", {{"path", pw_file}});
      std::exit(2);
    }
    std::string pw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    o.db.password = std::string(absl::StripTrailingAsciiWhitespace(pw));
  }
  o.db.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  o.db.acquire_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_db_acquire_timeout_ms));
  o.db.lock_wait_timeout = absl::Seconds(absl::GetFlag(FLAGS_db_lock_wait_timeout_s));
  o.migrate = absl::GetFlag(FLAGS_migrate);
  o.max_threads = absl::GetFlag(FLAGS_max_threads);
  o.max_calls_in_flight = absl::GetFlag(FLAGS_max_calls_in_flight);
  o.min_pollers = std::max(1, absl::GetFlag(FLAGS_min_pollers));
  o.max_pollers = std::max(o.min_pollers, absl::GetFlag(FLAGS_max_pollers));
  o.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  o.drain_delay = absl::Milliseconds(absl::GetFlag(FLAGS_drain_delay_ms));
  o.shutdown_grace = absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms));
  o.request_id_retention = absl::Hours(std::max(1, absl::GetFlag(FLAGS_request_id_retention_h)));

  auto fail = [](absl::string_view what, const absl::Status& s) {
    log::Error(what, {{"error", s.ToString()}});
    std::exit(2);
  };
  security::TransportFiles files;
  files.plaintext = absl::GetFlag(FLAGS_plaintext);
  files.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  files.key_file = absl::GetFlag(FLAGS_tls_key_file);
  files.ca_file = absl::GetFlag(FLAGS_tls_ca_file);
  files.require_client_cert = absl::GetFlag(FLAGS_tls_require_client_cert);
  auto transport = security::LoadTransport(files);
  if (!transport.ok()) fail("invalid TLS configuration", transport.status());
  o.transport = *transport;
  security::SetClientTransport(*transport);
  if (o.transport.plaintext) {
    // gRPC checks the connection's local address, so a plaintext listener on a routable
    // address could be reached through any local forwarder: loopback binds only.
    if (o.listen_host != "127.0.0.1" && o.listen_host != "localhost" && o.listen_host != "::1")
      fail("--plaintext needs --listen_host=127.0.0.1", absl::FailedPreconditionError(o.listen_host));
    log::Warn("plaintext transport: development only, loopback clients only");
  }
  o.clock_offset = absl::GetFlag(FLAGS_clock_offset);
  if (o.clock_offset != absl::ZeroDuration()) {
    // A shifted clock in production would stamp wrong times on real records.
    if (!o.transport.plaintext)
      fail("--clock_offset is for development only (with --plaintext)",
           absl::FailedPreconditionError(absl::FormatDuration(o.clock_offset)));
    log::Warn("business clock shifted: development only", {{"clock_offset", absl::FormatDuration(o.clock_offset)}});
  }

  std::string public_key = absl::GetFlag(FLAGS_jwt_public_key_file);
  if (public_key.empty())
    fail("--jwt_public_key_file is required", absl::FailedPreconditionError("no token verifier"));
  auto verifier = security::TokenVerifier::FromPublicKeyFile(public_key, absl::GetFlag(FLAGS_jwt_issuer),
                                                             absl::GetFlag(FLAGS_jwt_audience));
  if (!verifier.ok()) fail("cannot load --jwt_public_key_file", verifier.status());
  o.token_verifier = *verifier;
  std::string service_public_key = absl::GetFlag(FLAGS_service_public_key_file);
  if (!service_public_key.empty()) {
    auto service_verifier = security::TokenVerifier::FromPublicKeyFile(
        service_public_key, absl::GetFlag(FLAGS_jwt_issuer), absl::GetFlag(FLAGS_jwt_audience));
    if (!service_verifier.ok()) fail("cannot load --service_public_key_file", service_verifier.status());
    o.service_token_verifier = *service_verifier;
  }
  std::string service_key = absl::GetFlag(FLAGS_service_key_file);
  if (!service_key.empty()) {
    auto signer = security::TokenSigner::FromPrivateKeyFile(service_key, absl::GetFlag(FLAGS_jwt_issuer),
                                                            absl::GetFlag(FLAGS_jwt_audience));
    if (!signer.ok()) fail("cannot load --service_key_file", signer.status());
    security::SetServiceIdentity(defaults.name, *signer);
  }

  // Every thread created from here on inherits the blocked set; Run() takes the signals.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return o;
}

Server::Server(ServerOptions options)
    : options_(std::move(options)), admission_(options_.max_calls_in_flight) {
  if (options_.clock_offset == absl::ZeroDuration()) clock_ = std::make_unique<SystemClock>();
  else clock_ = std::make_unique<OffsetClock>(options_.clock_offset);
  // Without /metrics nobody reads them: calls and database statements skip the counting.
  bool collect = options_.metrics_port >= 0;
  metrics_.set_collect_calls(collect);
  pool_ = db::Pool::Create(options_.db, collect ? &metrics_ : nullptr);
  audit_ = std::make_unique<security::AuditLog>(pool_.get(), &metrics_.registry());
  audit_service_ = std::make_unique<security::AuditServiceImpl>(pool_.get());
  AddService(audit_service_.get(), audit::v1::AuditService::service_full_name());
}

Server::~Server() { Shutdown(); }

void Server::LogShedding() {
  // A line per refused call would cost more than the refusal: one line every 10 s at most.
  shed_since_log_.fetch_add(1, std::memory_order_relaxed);
  int64_t now = absl::ToUnixSeconds(absl::Now());
  int64_t last = shed_logged_at_s_.load(std::memory_order_relaxed);
  if (now - last < 10 || !shed_logged_at_s_.compare_exchange_strong(last, now)) return;
  log::Warn("server full: refusing calls",
            {{"refused_since_last_line", shed_since_log_.exchange(0)},
             {"running", admission_.running()},
             {"max_calls_in_flight", admission_.max_in_flight()}});
}

void Server::AddService(grpc::Service* service, const char* full_name) {
  const auto* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(full_name);
  if (!descriptor) {
    log::Error("unknown service", {{"service", full_name}});
    std::abort();
  }
  services_.emplace_back(service, descriptor);
  metrics_.RegisterService(descriptor);
}

std::function<void()> Server::AddBackgroundTask(std::string name, absl::Duration period, std::function<void()> fn,
                                                absl::Duration linger) {
  Task task{std::move(name), period, std::move(fn)};
  task.linger = linger;
  std::shared_ptr<TaskSignal> signal = task.signal;
  tasks_.push_back(std::move(task));
  return [signal] {
    {
      std::lock_guard<std::mutex> lock(signal->mu);
      if (signal->woken) return;  // already due: one run takes the work of every wake
      signal->woken = true;
    }
    signal->cv.notify_one();
  };
}

void Server::AddOutboxRelay(outbox::Relay& relay, absl::Duration interval, absl::Duration linger) {
  outbox::SetEnqueueListener(
      AddBackgroundTask("outbox", interval, [this, &relay] { relay.Tick([this] { return stopping(); }); }, linger));
}

void Server::AddGaugeRefresher(std::function<void()> fn) {
  tasks_.push_back({"refresh-metrics", absl::Milliseconds(std::max(1000, absl::GetFlag(FLAGS_gauge_refresh_ms))),
                    std::move(fn), true});
}

void Server::SetReady(bool ready) {
  ready_ = ready;
  if (!server_) return;
  auto* health = server_->GetHealthCheckService();
  if (!health) return;
  health->SetServingStatus("", ready);
  health->SetServingStatus("readiness", ready);
  for (const auto& [svc, desc] : services_) health->SetServingStatus(desc->full_name(), ready);
}

absl::Status Server::Start(const std::vector<db::Migration>& migrations) {
  migrations_ = migrations;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  if (!options_.token_verifier)
    return absl::FailedPreconditionError("no token verifier configured (--jwt_public_key_file)");
  const security::Verifiers verifiers{options_.token_verifier, options_.service_token_verifier};
  security::SetCallVerifiers(verifiers);
  auto credentials = security::MakeServerCredentials(options_.transport);
  credentials->SetAuthMetadataProcessor(std::make_shared<security::Authenticator>(
      verifiers,
      [this](absl::string_view method, absl::string_view reason) {
        if (reason == "overloaded") {
          metrics_.RecordShed(method);
          LogShedding();
          return;
        }
        metrics_.RecordDenied(method, reason != "unknown_method", reason);
        log::Warn("call refused", {{"method", reason == "unknown_method" ? "unknown" : method},
                                   {"reason", reason}});
      },
      &admission_));

  grpc::ServerBuilder builder;
  std::string address = absl::StrCat(options_.listen_host, ":", options_.grpc_port);
  builder.AddListeningPort(address, credentials, &grpc_port_);
  for (const auto& [svc, desc] : services_) builder.RegisterService(svc);
  builder.SetMaxReceiveMessageSize(options_.max_message_bytes);
  grpc::ResourceQuota quota(absl::StrCat("kefu-", options_.service_name));
  quota.SetMaxThreads(options_.max_threads);
  builder.SetResourceQuota(quota);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, options_.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, options_.max_pollers);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(metrics_.InterceptorFactory(&admission_));
  interceptors.push_back(audit_->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  server_ = builder.BuildAndStart();
  if (!server_ || grpc_port_ == 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));

  if (options_.metrics_port >= 0) {
    auto s = metrics_.Serve(absl::StrCat(options_.listen_host, ":", options_.metrics_port));
    if (!s.ok()) {
      server_->Shutdown();
      server_.reset();
      return s;
    }
  }
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus("liveness", true);
  SetReady(false);

  // Request ids (idempotent retries) are kept for the retention, then forgotten, and with
  // them the outbox messages delivered before then: their receivers no longer remember
  // their ids. Both go in batches of 10,000 until none is left.
  tasks_.push_back({"retention-purge", absl::Minutes(10), [this] {
                      const absl::Time before = absl::Now() - options_.request_id_retention;
                      const auto stop = [this] { return stopping_.load(); };
                      auto ids = db::PurgeInBatches(
                          *pool_, 10000,
                          [&](db::Session& s, int64_t limit) { return db::PurgeRequestIds(s, before, limit); }, stop);
                      if (!ids.ok()) log::Warn("request id purge failed", {{"error", ids.status().ToString()}});
                      auto sent = db::PurgeInBatches(
                          *pool_, 10000,
                          [&](db::Session& s, int64_t limit) { return outbox::PurgeDelivered(s, before, limit); },
                          stop);
                      if (!sent.ok())
                        log::Warn("delivered outbox purge failed", {{"error", sent.status().ToString()}});
                    }});
  // A burst of calls (a stall, an overload) runs up to max_threads handlers at once, and
  // glibc keeps what they free in its per-thread arenas: after 1,000 calls at once the
  // server stayed 120 MB larger for good. Handing free pages back every half minute keeps
  // the resident size at what the server uses; with nothing to return it costs next to
  // nothing.
  tasks_.push_back({"memory-trim", absl::Seconds(30), [] {
                      absl::Time start = absl::Now();
                      if (malloc_trim(0) == 1)
                        log::Debug("memory returned to the system",
                                   {{"ms", absl::ToDoubleMilliseconds(absl::Now() - start)}});
                    }});
  threads_.emplace_back([this] { HealthLoop(); });
  for (auto& task : tasks_) {
    threads_.emplace_back([this, &task] {
      TaskSignal& signal = *task.signal;
      std::unique_lock<std::mutex> lock(signal.mu);
      bool first = task.run_when_ready;
      while (!stopping_) {
        const bool woken = signal.cv.wait_for(lock, absl::ToChronoNanoseconds(first ? absl::Seconds(1) : task.period),
                                              [&] { return stopping_.load() || signal.woken; });
        if (stopping_) break;
        if (woken && task.linger > absl::ZeroDuration() &&
            signal.cv.wait_for(lock, absl::ToChronoNanoseconds(task.linger), [this] { return stopping_.load(); }))
          break;
        signal.woken = false;  // wakes from here on call for another run
        if (!ready_) continue;
        first = false;
        lock.unlock();
        try {
          task.fn();
        } catch (const std::exception& e) {
          log::Error("background task failed", {{"task", task.name}, {"error", e.what()}});
        }
        lock.lock();
      }
    });
  }
  log::Info("listening", {{"grpc_port", grpc_port_}, {"metrics_port", metrics_.port()},
                          {"tls", !options_.transport.plaintext},
                          {"db_host", options_.db.host}, {"db_port", options_.db.port},
                          {"db_name", options_.db.schema}});
  return absl::OkStatus();
}

void Server::HealthLoop() {
  bool last_ready = false;
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    lock.unlock();
    absl::Status db = pool_->Ping();
    if (db.ok() && !migrated_) {
      if (!options_.migrate) {
        migrated_ = true;
      } else {
        absl::Status m = db::ApplyMigrations(*pool_, migrations_);
        if (m.ok()) {
          migrated_ = true;
        } else {
          log::Error("migrations not applied", {{"error", m.ToString()}});
          db = m;
        }
      }
    }
    metrics_.SetDatabaseUp(db.ok());
    bool ready = db.ok() && migrated_ && !stopping_;
    lock.lock();
    if (stopping_) break;
    if (ready != last_ready) {
      SetReady(ready);
      if (ready) log::Info("serving");
      else log::Warn("not serving", {{"reason", db.ToString()}});
      last_ready = ready;
    }
    stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.health_interval),
                      [this] { return stopping_.load(); });
  }
}

void Server::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  log::Info("shutting down", {{"signal", sig}});
  Shutdown();
  log::Info("stopped");
  log::Flush();
}

void Server::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  for (auto& task : tasks_) {
    { std::lock_guard<std::mutex> lock(task.signal->mu); }  // a task between its check and its wait sees stopping_
    task.signal->cv.notify_all();
  }
  if (server_) {
    // Readiness first, so load balancers stop sending before the listener closes.
    SetReady(false);
    for (auto& hook : shutdown_hooks_) hook();
    if (options_.drain_delay > absl::ZeroDuration()) absl::SleepFor(options_.drain_delay);
    server_->Shutdown(absl::ToChronoTime(absl::Now() + options_.shutdown_grace));
  }
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  if (server_) server_->Wait();
  if (audit_) audit_->Stop();  // flushes the rows of the calls just drained
}

}  // namespace kefu
