// libFuzzer target for one kefu service (chosen at compile time: KEFU_FUZZ_<SERVICE>).
//
// LLVMFuzzerInitialize starts the real service in-process, as its main.cc does (same
// repository, service, outbox relay and background tasks; a real clock), on a fresh
// schema of the MariaDB at KEFU_TEST_DB_PORT, listening on 127.0.0.1 in loopback
// plaintext, with its peers (the other services) unset, so dependency calls take their
// "not configured" paths.
//
// Each input: byte 0 picks one of the service's unary methods (index modulo their count,
// in descriptor order); the remaining bytes go out as the raw request payload through
// grpc::GenericStub, so gRPC's parser and then the real handler see arbitrary bytes. The
// caller is a senior_manager (allowed every method).
//
// Oracle: abort() (libFuzzer reports a crash and saves the input) when the call ends in
//   - UNKNOWN, INTERNAL or DATA_LOSS (a payload that does not decode as the request is
//     the client's fault: the server's interceptor turns gRPC's bare INTERNAL for it into
//     INVALID_ARGUMENT, so INTERNAL is never expected);
//   - DEADLINE_EXCEEDED (2 s): a hang.
// Every other status (OK, INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE for a peer that is
// not configured, ...) is a proper answer. Sanitizer reports in the server are crashes.
// KEFU_FUZZ_VERBOSE=1 prints every call's method and status.

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/server.h"
#include "kefu/time_util.h"
#include "support/auth.h"
#include "support/test_env.h"

#if defined(KEFU_FUZZ_CUSTOMERS)
#include "customers/src/repository.h"
#include "customers/src/service.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
const std::vector<kefu::db::Migration>& CustomersMigrations();
#define KEFU_FUZZ_SERVICE "customers"
#elif defined(KEFU_FUZZ_SALES)
#include "kefu/clients/customers_client.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "sales/src/repository.h"
#include "sales/src/service.h"
const std::vector<kefu::db::Migration>& SalesMigrations();
#define KEFU_FUZZ_SERVICE "sales"
#elif defined(KEFU_FUZZ_CONTRACTS)
#include "contracts/src/repository.h"
#include "contracts/src/service.h"
#include "kefu/clients/customers_client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
const std::vector<kefu::db::Migration>& ContractsMigrations();
#define KEFU_FUZZ_SERVICE "contracts"
#elif defined(KEFU_FUZZ_COMPLAINTS)
#include "complaints/src/repository.h"
#include "complaints/src/service.h"
#include "kefu/clients/customers_client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
const std::vector<kefu::db::Migration>& ComplaintsMigrations();
#define KEFU_FUZZ_SERVICE "complaints"
#elif defined(KEFU_FUZZ_PERFORMANCE)
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "performance/src/repository.h"
#include "performance/src/service.h"
const std::vector<kefu::db::Migration>& PerformanceMigrations();
#define KEFU_FUZZ_SERVICE "performance"
#else
#error define one of KEFU_FUZZ_CUSTOMERS, _SALES, _CONTRACTS, _COMPLAINTS, _PERFORMANCE
#endif

namespace {

// Everything lives for the whole process (never destroyed: libFuzzer may exit from any
// thread); the server is shut down at exit.
struct Harness {
  kefu::db::Config db;
  std::unique_ptr<kefu::Server> server;
  std::vector<std::shared_ptr<void>> keep;  // repository, service, metrics, relay
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::vector<std::string> methods;  // "/pkg.Service/Method", unary only, descriptor order
  std::vector<const google::protobuf::Descriptor*> inputs;
  std::string authorization;  // "Bearer <senior_manager token>", made once
};
Harness* h = nullptr;

template <typename T>
T* Keep(std::shared_ptr<T> p) {
  h->keep.push_back(p);
  return p.get();
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_%s: %s\n", KEFU_FUZZ_SERVICE, what.c_str());
  std::abort();
}

// Constructs the service on h->server as its main.cc does; returns its migrations and
// the full name of its gRPC service.
const std::vector<kefu::db::Migration>& BuildService(const char** full_name) {
  kefu::Server& server = *h->server;
  const kefu::Clock* clock = kefu::SystemClock::Instance();
  [[maybe_unused]] const absl::Duration peer_timeout = absl::Seconds(1);
  [[maybe_unused]] const absl::TimeZone zone = absl::FixedTimeZone(8 * 3600);
#if defined(KEFU_FUZZ_CUSTOMERS)
  namespace svc = kefu::customers;
  auto* repo = Keep(std::make_shared<svc::Repository>(&server.pool(), clock));
  auto* metrics = Keep(std::make_shared<svc::BusinessMetrics>(server.metrics().registry()));
  auto* service = Keep(std::make_shared<svc::CustomerServiceImpl>(repo, metrics, clock, svc::Peers{}));
  *full_name = svc::v1::CustomerService::service_full_name();
  server.AddService(service, *full_name);
  server.AddBackgroundTask("refresh-metrics", absl::Seconds(15), [service] { service->RefreshMetrics(); });
  return CustomersMigrations();
#elif defined(KEFU_FUZZ_SALES)
  namespace svc = kefu::sales;
  auto* repo = Keep(std::make_shared<svc::Repository>(&server.pool(), clock));
  auto* metrics = Keep(std::make_shared<svc::BusinessMetrics>(server.metrics().registry()));
  auto* service = Keep(std::make_shared<svc::SalesServiceImpl>(repo, &server.pool(), metrics, clock,
                                                               svc::ServiceConfig{nullptr, peer_timeout, zone}));
  auto* relay = Keep(std::make_shared<kefu::outbox::Relay>(&server.pool(), clock, server.metrics().registry()));
  kefu::clients::RegisterCustomerLog(*relay, nullptr, peer_timeout);
  relay->Register(svc::kDraftContractTarget, svc::DraftContractHandler(nullptr, repo, peer_timeout));
  *full_name = svc::v1::SalesService::service_full_name();
  server.AddService(service, *full_name);
  server.AddBackgroundTask("outbox", absl::Seconds(1), [relay] {
    (void)relay->DeliverDue();
    (void)relay->Pending();
  });
  server.AddBackgroundTask("refresh-metrics", absl::Seconds(15), [service] { service->RefreshMetrics(); });
  return SalesMigrations();
#elif defined(KEFU_FUZZ_CONTRACTS)
  namespace svc = kefu::contracts;
  auto* repo = Keep(std::make_shared<svc::Repository>(&server.pool(), clock));
  auto* metrics = Keep(std::make_shared<svc::BusinessMetrics>(server.metrics().registry()));
  auto* service = Keep(std::make_shared<svc::ContractServiceImpl>(repo, &server.pool(), metrics, clock,
                                                                  svc::ServiceConfig{nullptr, peer_timeout, zone}));
  auto* relay = Keep(std::make_shared<kefu::outbox::Relay>(&server.pool(), clock, server.metrics().registry()));
  kefu::clients::RegisterCustomerLog(*relay, nullptr, peer_timeout);
  *full_name = svc::v1::ContractService::service_full_name();
  server.AddService(service, *full_name);
  server.AddBackgroundTask("date-sweep", absl::Seconds(1), [service] { (void)service->SweepOnce(100); });
  server.AddBackgroundTask("outbox", absl::Seconds(1), [relay] {
    (void)relay->DeliverDue();
    (void)relay->Pending();
  });
  server.AddBackgroundTask("refresh-metrics", absl::Seconds(15), [service] { service->RefreshMetrics(); });
  return ContractsMigrations();
#elif defined(KEFU_FUZZ_COMPLAINTS)
  namespace svc = kefu::complaints;
  auto* repo = Keep(std::make_shared<svc::Repository>(&server.pool(), clock));
  auto* metrics = Keep(std::make_shared<svc::BusinessMetrics>(server.metrics().registry()));
  svc::ServiceConfig config;
  config.customers = nullptr;
  config.customers_timeout = peer_timeout;
  config.contracts = nullptr;
  config.performance = nullptr;
  config.zone = zone;
  auto* service = Keep(std::make_shared<svc::ComplaintServiceImpl>(repo, metrics, clock, config));
  auto* relay = Keep(std::make_shared<kefu::outbox::Relay>(&server.pool(), clock, server.metrics().registry()));
  kefu::clients::RegisterCustomerLog(*relay, nullptr, peer_timeout);
  *full_name = svc::v1::ComplaintService::service_full_name();
  server.AddService(service, *full_name);
  server.AddBackgroundTask("escalation-sweep", absl::Seconds(1), [service] { (void)service->SweepOnce(100); });
  server.AddBackgroundTask("outbox", absl::Seconds(1), [relay] {
    (void)relay->DeliverDue();
    (void)relay->Pending();
  });
  server.AddBackgroundTask("refresh-metrics", absl::Seconds(15), [service] { service->RefreshMetrics(); });
  server.AddBackgroundTask("classify", absl::Seconds(30), [service] { (void)service->ClassifyPending(); });
  server.OnShutdown([service] { service->StopWatches(); });
  return ComplaintsMigrations();
#elif defined(KEFU_FUZZ_PERFORMANCE)
  namespace svc = kefu::performance;
  auto* repo = Keep(std::make_shared<svc::Repository>(&server.pool(), clock));
  auto* metrics = Keep(std::make_shared<svc::BusinessMetrics>(server.metrics().registry()));
  svc::ServiceConfig config;  // peers unset: scorecards name every source as missing
  config.peers.timeout = peer_timeout;
  config.zone = zone;
  auto* service = Keep(std::make_shared<svc::PerformanceServiceImpl>(repo, &server.pool(), metrics, clock, config));
  *full_name = svc::v1::PerformanceService::service_full_name();
  server.AddService(service, *full_name);
  server.AddBackgroundTask("refresh-metrics", absl::Seconds(15), [service] { service->RefreshMetrics(); });
  return PerformanceMigrations();
#endif
}

void ShutdownAtExit() {
  if (h && h->server) h->server->Shutdown();
  if (h) kefu::testing::DropSchema(h->db);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (!std::getenv("KEFU_TEST_DB_PORT"))
    Fail("KEFU_TEST_DB_PORT is not set: run it through tools/dev/fuzz.sh, or start a MariaDB "
         "(tools/dev/mariadb.sh start DIR PORT) and export its port");
  // Only errors: one log line per call would drown libFuzzer's output. Protobuf's own
  // parse warnings (invalid UTF-8 in a string field) are expected here and dropped.
  kefu::log::Init(KEFU_FUZZ_SERVICE, kefu::log::Level::kError);
  google::protobuf::SetLogHandler(nullptr);

  h = new Harness;
  h->db = kefu::testing::CreateSchema(absl::StrCat("fuzz_", KEFU_FUZZ_SERVICE));
  kefu::ServerOptions o;
  o.service_name = KEFU_FUZZ_SERVICE;
  o.listen_host = "127.0.0.1";
  o.grpc_port = kefu::testing::FreePort();
  o.metrics_port = -1;
  o.db = h->db;
  o.health_interval = absl::Milliseconds(100);
  o.shutdown_grace = absl::Seconds(2);
  o.token_verifier = kefu::testing::TestVerifier();
  o.service_token_verifier = kefu::testing::TestServiceVerifier();
  kefu::testing::UseTestServiceIdentity();
  h->server = std::make_unique<kefu::Server>(o);
  const char* full_name = nullptr;
  const auto& migrations = BuildService(&full_name);
  if (absl::Status s = h->server->Start(migrations); !s.ok()) Fail(absl::StrCat("cannot start: ", s.ToString()));
  for (int i = 0; i < 600 && !h->server->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
  if (!h->server->ready()) Fail("the service did not become ready within 30 s");

  const auto* descriptor = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(full_name);
  if (!descriptor) Fail(absl::StrCat("no descriptor for ", full_name));
  for (int i = 0; i < descriptor->method_count(); ++i) {
    const auto* m = descriptor->method(i);
    if (m->client_streaming() || m->server_streaming()) continue;
    h->methods.push_back(absl::StrCat("/", descriptor->full_name(), "/", m->name()));
    h->inputs.push_back(m->input_type());
  }
  if (h->methods.empty()) Fail("no unary methods");

  h->channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", h->server->grpc_port()),
                                   grpc::InsecureChannelCredentials());
  if (!h->channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10)))
    Fail("cannot connect to the in-process server");
  h->stub = std::make_unique<grpc::GenericStub>(h->channel);
  h->authorization =
      absl::StrCat("Bearer ", kefu::testing::TestToken("E1001", "senior_manager", "", absl::Hours(24 * 7)));
  std::fprintf(stderr, "fuzz_%s: %s on 127.0.0.1:%d, schema %s, %zu unary methods\n", KEFU_FUZZ_SERVICE,
               full_name, h->server->grpc_port(), h->db.schema.c_str(), h->methods.size());
  std::atexit(ShutdownAtExit);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t index = data[0] % h->methods.size();
  const std::string& method = h->methods[index];
  const char* payload = reinterpret_cast<const char*>(data + 1);
  const size_t payload_size = size - 1;

  // Does the payload decode as the request message? (If not, gRPC's parser rejects it
  // before any handler runs.) Only for the report.
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(h->inputs[index]);
  std::unique_ptr<google::protobuf::Message> request(prototype->New());
  const bool parses = request->ParseFromArray(payload, static_cast<int>(payload_size));

  grpc::Slice slice(payload, payload_size);
  grpc::ByteBuffer send(&slice, 1);
  grpc::ByteBuffer receive;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  ctx.AddMetadata("authorization", h->authorization);

  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  h->stub->UnaryCall(&ctx, method, grpc::StubOptions(), &send, &receive, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_one();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }

  const grpc::StatusCode code = status.error_code();
  static const bool verbose = std::getenv("KEFU_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "%s -> %d %s%s\n", method.c_str(), static_cast<int>(code), status.error_message().c_str(),
                 parses ? "" : " (payload does not parse)");
  const bool bad = code == grpc::StatusCode::UNKNOWN || code == grpc::StatusCode::DATA_LOSS ||
                   code == grpc::StatusCode::DEADLINE_EXCEEDED || code == grpc::StatusCode::INTERNAL;
  if (bad) {
    std::string text = parses ? request->ShortDebugString() : "(does not parse)";
    if (text.size() > 2000) text.resize(2000);
    std::fprintf(stderr,
                 "fuzz_%s: %s answered status %d (%s): %s\n  request (%zu bytes): %s\n  as text: %s\n",
                 KEFU_FUZZ_SERVICE, method.c_str(), static_cast<int>(code),
                 code == grpc::StatusCode::DEADLINE_EXCEEDED ? "a hang: no answer within 2 s" : "server error",
                 status.error_message().c_str(), payload_size,
                 absl::CEscape(absl::string_view(payload, std::min<size_t>(payload_size, 512))).c_str(), text.c_str());
    std::abort();
  }
  return 0;
}
