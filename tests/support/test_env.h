#pragma once
// Test support: a real MariaDB for every storage test, real processes for binary tests.
//
// CTest starts one MariaDB for the whole run (fixture "mariadb", see tests/CMakeLists.txt)
// and passes its port in KEFU_TEST_DB_PORT; each test suite gets a fresh schema and
// user on it, so suites run in parallel without seeing each other's rows. Tests that
// kill the database start a private instance instead.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kefu/db/db.h"

namespace kefu::testing {

// Port of the shared test MariaDB; aborts the test binary when unset.
int SharedDbPort();

// Creates schema + user "<prefix>_<random>" on the MariaDB at port and returns a
// config for it (pool size 8). Dropped by DropSchema.
db::Config CreateSchema(const std::string& prefix, int port = 0);
void DropSchema(const db::Config& config, int port = 0);

// A MariaDB of the test's own in a temp directory (for crash and restart tests).
class PrivateMariaDb {
 public:
  PrivateMariaDb();
  ~PrivateMariaDb();
  int port() const { return port_; }
  void Start();
  void Kill();  // SIGKILL
  void Stop();
  db::Config CreateSchema(const std::string& prefix) { return testing::CreateSchema(prefix, port_); }

 private:
  std::string dir_;
  int port_;
};

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int FreePort();

// Body of GET http://127.0.0.1:port/path, or an error.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

// A child process with stderr captured to a file.
class Process {
 public:
  Process(const std::string& binary, const std::vector<std::string>& args,
          const std::vector<std::string>& env = {});
  ~Process();
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Exit code, or -1 on timeout / killed by a signal. Signals to an exited process are
  // dropped (its pid may be another process's by then).
  int WaitExit(int timeout_ms);
  std::string Output() const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  bool exited_ = false;
  int exit_code_ = -1;
};

// Path of a built binary relative to the build tree (passed in by CMake).
std::string BuildPath(const std::string& relative);
// Path of a file in the source tree.
std::string SourcePath(const std::string& relative);

}  // namespace kefu::testing
