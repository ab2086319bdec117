#pragma once
// The five service binaries wired to each other as `make run` wires them, each on a
// schema of its own on the shared test MariaDB, on loopback plaintext with the test
// token keys (support/auth.h). For tests of the whole system as real processes.

#include <grpcpp/channel.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "kefu/db/db.h"
#include "support/test_env.h"

namespace kefu::testing {

class ServiceBinaries {
 public:
  struct Binary {
    std::string name;
    int grpc_port = 0;
    int metrics_port = 0;
    db::Config db;
    std::unique_ptr<Process> process;
    std::shared_ptr<grpc::Channel> channel;  // plaintext, quick reconnects
    std::vector<std::string> args;            // as launched, without RestartWith's extras
    std::string addr() const;
  };

  // The service names, in start order.
  static const std::vector<std::string>& Names();

  // schema_prefix names the schemas; extra adds flags per service (faster sweeps...);
  // db_port 0 is the shared test MariaDB, else a private one (PrivateMariaDb).
  explicit ServiceBinaries(const std::string& schema_prefix,
                           std::map<std::string, std::vector<std::string>> extra = {},
                           int db_port = 0);
  ~ServiceBinaries();  // kills what still runs, drops the schemas

  // Starts every binary and waits until each is SERVING.
  ::testing::AssertionResult Start(absl::Duration timeout = absl::Seconds(30));
  // SIGTERM to all, then each one's exit code (-1 on timeout).
  std::map<std::string, int> Stop(int timeout_ms = 20000);

  // One service: a signal to it (SIGKILL: crash; SIGTERM: graceful stop), its exit code
  // (-1 on timeout or when killed), and a start of the same binary with the same flags,
  // ports and schema, waiting until it is SERVING.
  void Signal(const std::string& name, int sig);
  int WaitExit(const std::string& name, int timeout_ms = 20000);
  ::testing::AssertionResult Restart(const std::string& name,
                                     absl::Duration timeout = absl::Seconds(30));
  // The same with extra flags for this run only (the next Restart drops them).
  ::testing::AssertionResult RestartWith(const std::string& name, const std::vector<std::string>& extra_flags,
                                         absl::Duration timeout = absl::Seconds(30));
  // Waits until the service's health is SERVING.
  ::testing::AssertionResult WaitServing(const std::string& name, absl::Duration timeout);

  Binary& operator[](const std::string& name) { return binaries_.at(name); }

 private:
  std::string prefix_;
  std::map<std::string, std::vector<std::string>> extra_;
  void Launch(Binary& b, const std::vector<std::string>& extra_flags = {});

  std::map<std::string, Binary> binaries_;
  int db_port_;
  bool stopped_ = true;
};

}  // namespace kefu::testing
