#include "test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

#ifndef KEFU_SOURCE_DIR
#error KEFU_SOURCE_DIR must be defined
#endif
#ifndef KEFU_BINARY_DIR
#error KEFU_BINARY_DIR must be defined
#endif

namespace kefu::testing {

namespace {

std::string RandomSuffix() {
  std::random_device rd;
  return absl::StrCat(absl::Hex(rd() % 0xFFFFFF), getpid());
}

void Run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
    std::abort();
  }
}

std::string Script() { return SourcePath("tools/dev/mariadb.sh"); }

}  // namespace

std::string BuildPath(const std::string& relative) { return absl::StrCat(KEFU_BINARY_DIR, "/", relative); }
std::string SourcePath(const std::string& relative) { return absl::StrCat(KEFU_SOURCE_DIR, "/", relative); }

int SharedDbPort() {
  const char* port = std::getenv("KEFU_TEST_DB_PORT");
  if (!port) {
    std::fprintf(stderr, "KEFU_TEST_DB_PORT is not set: run this test through ctest (make test)\n");
    std::abort();
  }
  return std::atoi(port);
}

db::Config CreateSchema(const std::string& prefix, int port) {
  if (port == 0) port = SharedDbPort();
  db::Config admin;
  admin.port = port;
  admin.user = "kefu_admin";
  admin.pool_size = 1;
  auto pool = db::Pool::Create(admin);
  db::Config c;
  c.port = port;
  c.schema = absl::StrCat(prefix, "_", RandomSuffix());
  c.user = c.schema.substr(0, 32);
  c.password = "test-pw";
  c.pool_size = 8;
  c.acquire_timeout = absl::Seconds(3);
  auto s = pool->Acquire();
  if (!s.ok()) {
    std::fprintf(stderr, "cannot reach test MariaDB on %d: %s\n", port, s.status().ToString().c_str());
    std::abort();
  }
  for (const std::string& sql :
       {absl::StrCat("CREATE DATABASE `", c.schema, "` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
        absl::StrCat("CREATE USER '", c.user, "'@'127.0.0.1' IDENTIFIED BY '", c.password, "'"),
        absl::StrCat("GRANT ALL ON `", c.schema, "`.* TO '", c.user, "'@'127.0.0.1'")}) {
    auto r = s->ExecRaw(sql);
    if (!r.ok()) {
      std::fprintf(stderr, "%s: %s\n", sql.c_str(), r.ToString().c_str());
      std::abort();
    }
  }
  return c;
}

void DropSchema(const db::Config& config, int port) {
  if (port == 0) port = config.port;
  db::Config admin;
  admin.port = port;
  admin.user = "kefu_admin";
  admin.pool_size = 1;
  auto pool = db::Pool::Create(admin);
  auto s = pool->Acquire();
  if (!s.ok()) return;
  (void)s->ExecRaw(absl::StrCat("DROP DATABASE IF EXISTS `", config.schema, "`"));
  (void)s->ExecRaw(absl::StrCat("DROP USER IF EXISTS '", config.user, "'@'127.0.0.1'"));
}

PrivateMariaDb::PrivateMariaDb() : port_(FreePort()) {
  char tmpl[] = "/tmp/kefu-mariadb-XXXXXX";
  dir_ = mkdtemp(tmpl);
  Start();
}

PrivateMariaDb::~PrivateMariaDb() {
  Stop();
  Run(absl::StrCat("rm -rf '", dir_, "'"));
}

void PrivateMariaDb::Start() { Run(absl::StrCat(Script(), " start '", dir_, "' ", port_, " >/dev/null")); }
void PrivateMariaDb::Kill() { Run(absl::StrCat(Script(), " kill '", dir_, "'")); }
void PrivateMariaDb::Stop() { Run(absl::StrCat(Script(), " stop '", dir_, "'")); }

namespace {

// Binds 127.0.0.1:port (0: any) and closes again; the port bound, or 0 when taken.
int TryBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int bound = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    bound = ntohs(addr.sin_port);
  }
  close(fd);
  return bound;
}

// The lowest port the kernel hands out as the source of an outgoing connection.
int EphemeralLow() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  range >> low;
  return low;
}

}  // namespace

// From below the kernel's ephemeral range: a port from bind(0) is an ephemeral one, and
// between picking it and the service binding it, any outgoing connection (a pool opening
// its connections, a client reconnecting) can take it as its source port. Ports handed
// out in this process are not handed out again.
int FreePort() {
  static std::mutex mu;
  static std::set<int> handed_out;
  static std::mt19937 rng(std::random_device{}() ^ static_cast<unsigned>(getpid()));
  std::lock_guard<std::mutex> lock(mu);
  constexpr int kLowest = 10000;
  int below = EphemeralLow();
  if (below - kLowest >= 1000) {
    std::uniform_int_distribution<int> pick(kLowest, below - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      int port = pick(rng);
      if (handed_out.count(port) || TryBind(port) != port) continue;
      handed_out.insert(port);
      return port;
    }
  }
  int port = TryBind(0);
  handed_out.insert(port);
  return port;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", port));
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return absl::UnavailableError("short write");
  }
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  auto body = resp.find("\r\n\r\n");
  if (body == std::string::npos) return absl::DataLossError("no HTTP body");
  if (resp.rfind("HTTP/1.1 200", 0) != 0 && resp.rfind("HTTP/1.0 200", 0) != 0)
    return absl::UnavailableError(resp.substr(0, resp.find("\r\n")));
  return resp.substr(body + 4);
}

Process::Process(const std::string& binary, const std::vector<std::string>& args,
                 const std::vector<std::string>& env) {
  char tmpl[] = "/tmp/kefu-proc-XXXXXX";
  int log_fd = mkstemp(tmpl);
  log_path_ = tmpl;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(log_fd, STDERR_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    // The test runner may block signals; the child needs the defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(log_fd);
}

Process::~Process() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(log_path_.c_str());
}

void Process::Signal(int sig) {
  if (!exited_) kill(pid_, sig);
}

int Process::WaitExit(int timeout_ms) {
  if (exited_) return exit_code_;
  absl::Time deadline = absl::Now() + absl::Milliseconds(timeout_ms);
  while (absl::Now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return exit_code_;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return -1;
}

std::string Process::Output() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kefu::testing
