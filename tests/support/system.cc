#include "support/system.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kefu/probe.h"
#include "support/auth.h"

namespace kefu::testing {
namespace {

// Who calls whom (README "Who calls whom"): the flag and the service it points at.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& Peers() {
  static const auto* peers = new std::map<std::string, std::vector<std::pair<std::string, std::string>>>{
      {"customers",
       {{"complaints_addr", "complaints"}, {"contracts_addr", "contracts"}, {"sales_addr", "sales"},
        {"performance_addr", "performance"}}},
      {"contracts", {{"customers_addr", "customers"}}},
      {"complaints",
       {{"customers_addr", "customers"}, {"contracts_addr", "contracts"}, {"performance_addr", "performance"}}},
      {"sales", {{"customers_addr", "customers"}, {"contracts_addr", "contracts"}}},
      {"performance",
       {{"customers_addr", "customers"}, {"contracts_addr", "contracts"}, {"complaints_addr", "complaints"}}}};
  return *peers;
}

}  // namespace

std::string ServiceBinaries::Binary::addr() const { return absl::StrCat("127.0.0.1:", grpc_port); }

const std::vector<std::string>& ServiceBinaries::Names() {
  static const auto* names =
      new std::vector<std::string>{"customers", "contracts", "complaints", "sales", "performance"};
  return *names;
}

ServiceBinaries::ServiceBinaries(const std::string& schema_prefix,
                                 std::map<std::string, std::vector<std::string>> extra, int db_port)
    : prefix_(schema_prefix), extra_(std::move(extra)), db_port_(db_port == 0 ? SharedDbPort() : db_port) {
  for (const auto& name : Names()) {
    Binary& b = binaries_[name];
    b.name = name;
    b.grpc_port = FreePort();
    b.metrics_port = FreePort();
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    b.channel = grpc::CreateCustomChannel(b.addr(), grpc::InsecureChannelCredentials(), args);
  }
}

ServiceBinaries::~ServiceBinaries() {
  if (!stopped_) Stop(20000);
  for (auto& [name, b] : binaries_)
    if (!b.db.schema.empty()) DropSchema(b.db, db_port_);
}

::testing::AssertionResult ServiceBinaries::Start(absl::Duration timeout) {
  stopped_ = false;
  for (const auto& name : Names()) {
    Binary& b = binaries_[name];
    b.db = CreateSchema(absl::StrCat(prefix_, "_", name), db_port_);
    b.args = {"--listen_host=127.0.0.1", absl::StrCat("--grpc_port=", b.grpc_port),
              absl::StrCat("--metrics_port=", b.metrics_port), absl::StrCat("--db_port=", db_port_),
              absl::StrCat("--db_user=", b.db.user), absl::StrCat("--db_name=", b.db.schema)};
    for (const auto& [flag, peer] : Peers().at(name))
      b.args.push_back(absl::StrCat("--", flag, "=", binaries_[peer].addr()));
    for (const auto& f : SecurityFlags()) b.args.push_back(f);
    for (const auto& e : extra_[name]) b.args.push_back(e);
    Launch(b);
  }
  absl::Time deadline = absl::Now() + timeout;
  for (const auto& name : Names()) {
    auto serving = WaitServing(name, deadline - absl::Now());
    if (!serving) return serving;
  }
  return ::testing::AssertionSuccess();
}

void ServiceBinaries::Launch(Binary& b, const std::vector<std::string>& extra_flags) {
  std::vector<std::string> args = b.args;
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  b.process = std::make_unique<Process>(BuildPath(absl::StrCat("services/", b.name, "/kefu-", b.name)), args,
                                        std::vector<std::string>{"KEFU_DB_PASSWORD=" + b.db.password});
}

::testing::AssertionResult ServiceBinaries::WaitServing(const std::string& name, absl::Duration timeout) {
  Binary& b = binaries_.at(name);
  auto h = probe::WaitForHealth(b.channel, "", probe::HealthState::kServing, timeout);
  if (h.ok() && *h == probe::HealthState::kServing) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << name << " is not SERVING\n" << b.process->Output();
}

void ServiceBinaries::Signal(const std::string& name, int sig) { binaries_.at(name).process->Signal(sig); }

int ServiceBinaries::WaitExit(const std::string& name, int timeout_ms) {
  return binaries_.at(name).process->WaitExit(timeout_ms);
}

::testing::AssertionResult ServiceBinaries::Restart(const std::string& name, absl::Duration timeout) {
  return RestartWith(name, {}, timeout);
}

::testing::AssertionResult ServiceBinaries::RestartWith(const std::string& name,
                                                        const std::vector<std::string>& extra_flags,
                                                        absl::Duration timeout) {
  Binary& b = binaries_.at(name);
  if (b.process) {
    b.process->Signal(SIGKILL);
    b.process->WaitExit(10000);
  }
  Launch(b, extra_flags);
  return WaitServing(name, timeout);
}

std::map<std::string, int> ServiceBinaries::Stop(int timeout_ms) {
  stopped_ = true;
  std::map<std::string, int> codes;
  for (auto& [name, b] : binaries_)
    if (b.process) b.process->Signal(SIGTERM);
  for (auto& [name, b] : binaries_)
    if (b.process) codes[name] = b.process->WaitExit(timeout_ms);
  return codes;
}

}  // namespace kefu::testing
