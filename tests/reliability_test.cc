// Faults survived, against the real service binaries: the database or a service killed
// under load and restarted, a graceful stop under load, a dependency down, a database
// lock held past the callers' deadlines. Every create carries a request_id and is
// retried until acknowledged, as a client of the system would; afterwards the stored
// rows must be exactly the acknowledged ones: none lost, none doubled.
//
// KEFU_RELIABILITY_RECORDS sets the load (default 1000; `make reliability` runs 10000).
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/probe.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "support/auth.h"
#include "support/system.h"
#include "support/test_env.h"

namespace kefu {
namespace {

namespace cpb = ::kefu::customers::v1;
namespace wo = ::kefu::complaints::v1;
namespace spb = ::kefu::sales::v1;
using ::grpc::StatusCode;

constexpr char kDept[] = "D-REL";
constexpr absl::Duration kCallDeadline = absl::Seconds(3);
constexpr int kClients = 16;

int Records() {
  const char* env = std::getenv("KEFU_RELIABILITY_RECORDS");
  int n = 0;
  return env && absl::SimpleAtoi(env, &n) && n > 0 ? n : 1000;
}

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration deadline = kCallDeadline,
                                         const std::string& roles = "senior_manager") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  testing::Authorize(ctx.get(), "E-REL", roles, kDept);
  return ctx;
}

bool Retryable(StatusCode code) {
  return code == StatusCode::UNAVAILABLE || code == StatusCode::DEADLINE_EXCEEDED ||
         code == StatusCode::ABORTED || code == StatusCode::RESOURCE_EXHAUSTED;
}

// What a load run saw: the acknowledged results by request index, every failed
// attempt by code, and the longest single attempt.
struct LoadReport {
  std::map<int, int64_t> acked;  // index -> id the service returned
  std::map<StatusCode, int> attempt_errors;
  std::vector<std::string> unexpected;  // non-retryable errors
  int gave_up = 0;
  absl::Duration longest_attempt;
  int attempts = 0;

  std::string Describe() const {
    std::string out = absl::StrCat("acked=", acked.size(), " attempts=", attempts, " gave_up=", gave_up,
                                   " longest_attempt=", absl::FormatDuration(longest_attempt), " errors:");
    for (const auto& [code, n] : attempt_errors) absl::StrAppend(&out, " ", static_cast<int>(code), "x", n);
    for (const auto& u : unexpected) absl::StrAppend(&out, "\n  unexpected: ", u);
    return out;
  }
};

// Runs `total` calls from kClients threads. call(index) makes one attempt and returns
// its status and the id it produced; a retryable failure is retried (same index, so
// the same request_id) with backoff until `give_up_after` has passed for that index.
LoadReport RunLoad(int total, const std::function<grpc::Status(int, int64_t*)>& call,
                   absl::Duration give_up_after = absl::Seconds(90)) {
  LoadReport report;
  std::mutex mu;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < total; i = next++) {
        absl::Time give_up = absl::Now() + give_up_after;
        absl::Duration backoff = absl::Milliseconds(50);
        while (true) {
          int64_t id = 0;
          absl::Time start = absl::Now();
          grpc::Status s = call(i, &id);
          absl::Duration took = absl::Now() - start;
          std::lock_guard<std::mutex> lock(mu);
          ++report.attempts;
          report.longest_attempt = std::max(report.longest_attempt, took);
          if (s.ok()) {
            report.acked[i] = id;
            break;
          }
          ++report.attempt_errors[s.error_code()];
          if (!Retryable(s.error_code())) {
            report.unexpected.push_back(absl::StrCat(i, ": ", s.error_code(), " ", s.error_message()));
            break;
          }
          if (absl::Now() > give_up) {
            ++report.gave_up;
            break;
          }
          mu.unlock();
          absl::SleepFor(backoff);
          backoff = std::min(backoff * 2, absl::Seconds(1));
          mu.lock();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return report;
}

// Rows of a table whose `column` starts with `prefix`: how many, and how many distinct.
std::pair<int64_t, int64_t> CountRows(const db::Config& config, int port, const std::string& table,
                                      const std::string& column, const std::string& prefix) {
  db::Config c = config;
  c.port = port;
  c.pool_size = 1;
  auto pool = db::Pool::Create(c);
  auto session = pool->Acquire();
  EXPECT_TRUE(session.ok()) << session.status();
  if (!session.ok()) return {-1, -1};
  auto row = session->QueryOne(absl::StrCat("SELECT COUNT(*), COUNT(DISTINCT ", column, ") FROM ", table,
                                            " WHERE ", column, " LIKE ?"),
                               {absl::StrCat(prefix, "%")});
  EXPECT_TRUE(row.ok() && row->has_value());
  if (!row.ok() || !row->has_value()) return {-1, -1};
  return {(*row)->Int(0), (*row)->Int(1)};
}

grpc::Status CreateCustomer(cpb::CustomerService::Stub& stub, const std::string& tag, int i, int64_t* id) {
  cpb::CreateCustomerRequest req;
  req.mutable_customer()->set_kind(cpb::CUSTOMER_KIND_ORGANIZATION);
  req.mutable_customer()->set_name(absl::StrCat(tag, "客户", i));
  req.mutable_customer()->set_department_id(kDept);
  req.set_request_id(absl::StrCat(tag, "-", i));
  cpb::Customer out;
  grpc::Status s = stub.CreateCustomer(Ctx().get(), req, &out);
  *id = out.id();
  return s;
}

// Acknowledged creates are exactly the stored rows, each stored once.
void ExpectExactlyOnce(const LoadReport& report, int total, std::pair<int64_t, int64_t> rows) {
  EXPECT_TRUE(report.unexpected.empty()) << report.Describe();
  EXPECT_EQ(report.gave_up, 0) << report.Describe();
  EXPECT_EQ(static_cast<int>(report.acked.size()), total) << report.Describe();
  std::set<int64_t> ids;
  for (const auto& [i, id] : report.acked) ids.insert(id);
  EXPECT_EQ(ids.size(), report.acked.size()) << "two requests were acknowledged with the same id";
  EXPECT_EQ(rows.first, total) << "stored rows";
  EXPECT_EQ(rows.second, total) << "distinct stored rows (a retry stored twice?)";
}

// Polls health until it reports `want` (or the timeout passes); returns whether it did.
bool HealthBecomes(const std::shared_ptr<grpc::Channel>& channel, probe::HealthState want,
                   absl::Duration timeout) {
  auto h = probe::WaitForHealth(channel, "", want, timeout);
  return h.ok() && *h == want;
}

// Calls started but not yet answered, from the server's own metrics: the sum of
// grpc_server_started_total minus that of grpc_server_handled_total; -1 if unreadable.
int64_t HandlersRunning(int metrics_port) {
  auto text = testing::HttpGet(metrics_port, "/metrics");
  if (!text.ok()) return -1;
  double started = 0, handled = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    double* sum = absl::StartsWith(line, "grpc_server_started_total{") ? &started
                  : absl::StartsWith(line, "grpc_server_handled_total{") ? &handled
                                                                         : nullptr;
    size_t space = line.rfind(' ');
    double value = 0;
    if (sum && space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &value)) *sum += value;
  }
  return static_cast<int64_t>(started - handled);
}

int ThreadCount(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  return -1;
}

const std::vector<std::string> kQuiet = {"--log_level=warn"};

// ---- the database killed mid-load ----

TEST(Reliability, DatabaseKilledMidLoadLosesAndDoublesNothing) {
  testing::PrivateMariaDb mariadb;
  testing::ServiceBinaries system("reldb", {{"customers", kQuiet}, {"complaints", kQuiet}, {"contracts", kQuiet},
                                            {"sales", kQuiet}, {"performance", kQuiet}},
                                  mariadb.port());
  ASSERT_TRUE(system.Start());
  auto& customers = system["customers"];
  const pid_t pid = customers.process->pid();
  auto stub = cpb::CustomerService::NewStub(customers.channel);
  const int total = Records();

  std::atomic<bool> saw_not_serving{false}, back_to_serving{false};
  std::thread chaos([&] {
    // Kill once a quarter of the load is in, keep the database down for 3 s.
    while (CountRows(customers.db, mariadb.port(), "customers", "name", "rdb").first < total / 4)
      absl::SleepFor(absl::Milliseconds(100));
    mariadb.Kill();
    saw_not_serving = HealthBecomes(customers.channel, probe::HealthState::kNotServing, absl::Seconds(10));
    absl::SleepFor(absl::Seconds(3));
    mariadb.Start();
    back_to_serving = HealthBecomes(customers.channel, probe::HealthState::kServing, absl::Seconds(30));
  });
  LoadReport report = RunLoad(total, [&](int i, int64_t* id) { return CreateCustomer(*stub, "rdb", i, id); });
  chaos.join();

  EXPECT_TRUE(saw_not_serving) << "health stayed SERVING with the database down";
  EXPECT_TRUE(back_to_serving) << "not SERVING again after the database came back";
  EXPECT_EQ(customers.process->pid(), pid);
  EXPECT_EQ(customers.process->WaitExit(0), -1) << "customers exited";
  EXPECT_GT(report.attempt_errors[StatusCode::UNAVAILABLE] + report.attempt_errors[StatusCode::DEADLINE_EXCEEDED], 0)
      << "the kill did not hit the load: " << report.Describe();
  // No call outlived its deadline by more than scheduling noise.
  EXPECT_LT(report.longest_attempt, kCallDeadline + absl::Seconds(1)) << report.Describe();
  ExpectExactlyOnce(report, total, CountRows(customers.db, mariadb.port(), "customers", "name", "rdb"));
  std::cout << "[ reliability ] database SIGKILL: " << report.Describe() << "\n";
  for (const auto& [name, code] : system.Stop()) EXPECT_EQ(code, 0) << name;
}

// ---- a service killed mid-load ----

class ReliabilitySystem : public ::testing::Test {
 protected:
  void SetUp() override {
    system_ = std::make_unique<testing::ServiceBinaries>(
        "rel", std::map<std::string, std::vector<std::string>>{
                   {"customers", kQuiet},
                   {"complaints", {"--log_level=warn", "--outbox_interval_ms=100"}},
                   {"contracts", kQuiet},
                   {"sales", {"--log_level=warn", "--outbox_interval_ms=100", "--customer_check_interval_ms=200"}},
                   {"performance", kQuiet}});
    ASSERT_TRUE(system_->Start());
  }
  void TearDown() override {
    for (const auto& [name, code] : system_->Stop()) EXPECT_EQ(code, 0) << name;
  }
  testing::ServiceBinaries::Binary& S(const std::string& name) { return (*system_)[name]; }
  int DbPort() { return testing::SharedDbPort(); }

  std::vector<int64_t> NewCustomers(int n, const std::string& tag) {
    auto stub = cpb::CustomerService::NewStub(S("customers").channel);
    std::vector<int64_t> ids;
    for (int i = 0; i < n; ++i) {
      int64_t id = 0;
      grpc::Status s = CreateCustomer(*stub, tag, i, &id);
      EXPECT_TRUE(s.ok()) << s.error_message();
      ids.push_back(id);
    }
    return ids;
  }

  // Once `table` of service `name` holds `at_least` rows whose `column` starts with
  // `prefix`, SIGKILLs the service and a second later starts it again (same flags,
  // ports and schema); *restarted tells whether it came back SERVING.
  std::thread CrashAndRestartAt(const std::string& name, const std::string& table, const std::string& column,
                                const std::string& prefix, int64_t at_least, std::atomic<bool>* restarted) {
    return std::thread([=] {
      while (CountRows(S(name).db, DbPort(), table, column, prefix).first < at_least)
        absl::SleepFor(absl::Milliseconds(50));
      system_->Signal(name, SIGKILL);
      absl::SleepFor(absl::Seconds(1));
      *restarted = static_cast<bool>(system_->Restart(name));
    });
  }

  // LogReferences once at least `expected` references are there (the outbox relay
  // retries with backoff), or as they are after a minute.
  std::map<std::string, int> LogReferencesOnceThere(const std::vector<int64_t>& customers, size_t expected) {
    absl::Time end = absl::Now() + absl::Seconds(60);
    std::map<std::string, int> refs = LogReferences(customers);
    while (refs.size() < expected && absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(500));
      refs = LogReferences(customers);
    }
    return refs;
  }

  // Log entries per reference ("complaints/WO...") of the customers.
  std::map<std::string, int> LogReferences(const std::vector<int64_t>& customers) {
    auto stub = cpb::CustomerService::NewStub(S("customers").channel);
    std::map<std::string, int> refs;
    for (int64_t c : customers) {
      cpb::ListLogEntriesRequest req;
      req.set_customer_id(c);
      req.set_page_size(200);
      do {
        cpb::ListLogEntriesResponse resp;
        grpc::Status s = stub->ListLogEntries(Ctx().get(), req, &resp);
        EXPECT_TRUE(s.ok()) << s.error_message();
        if (!s.ok()) break;
        for (const auto& e : resp.entries())
          if (!e.reference().empty()) ++refs[e.reference()];
        req.set_page_token(resp.next_page_token());
      } while (!req.page_token().empty());
    }
    return refs;
  }

  static grpc::Status CreateWorkOrder(wo::ComplaintService::Stub& stub, const std::string& tag, int i,
                                      int64_t customer, std::string* number, int64_t* id) {
    wo::CreateWorkOrderRequest req;
    auto* w = req.mutable_work_order();
    w->set_customer_id(customer);
    w->set_channel(wo::CHANNEL_PHONE);
    w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(wo::SEVERITY_MINOR);
    w->set_title(absl::StrCat(tag, "-", i));
    w->set_content("设备报警，需要上门检修");
    w->set_department_id(kDept);
    req.set_request_id(absl::StrCat(tag, "-", i));
    wo::WorkOrder out;
    grpc::Status s = stub.CreateWorkOrder(Ctx().get(), req, &out);
    *id = out.id();
    if (number) *number = out.number();
    return s;
  }

  // A connection of its own holding the customer's row lock (FOR UPDATE) until Release():
  // calls that change the customer wait behind it. Null if it could not be taken.
  struct RowLock {
    std::unique_ptr<db::Pool> pool;
    std::optional<db::Session> session;
    bool Release() { return session && session->ExecRaw("ROLLBACK").ok(); }
  };
  std::unique_ptr<RowLock> LockCustomerRow(int64_t id) {
    db::Config c = S("customers").db;
    c.port = DbPort();
    c.pool_size = 1;
    auto lock = std::make_unique<RowLock>();
    lock->pool = db::Pool::Create(c);
    auto session = lock->pool->Acquire();
    if (!session.ok()) return nullptr;
    lock->session.emplace(std::move(*session));
    if (!lock->session->ExecRaw("START TRANSACTION").ok() ||
        !lock->session->Query("SELECT id FROM customers WHERE id = ? FOR UPDATE", {id}).ok())
      return nullptr;
    return lock;
  }

  std::unique_ptr<testing::ServiceBinaries> system_;
};

TEST_F(ReliabilitySystem, CustomersKilledMidLoadLosesAndDoublesNothing) {
  auto stub = cpb::CustomerService::NewStub(S("customers").channel);
  const int total = Records();
  std::atomic<bool> restarted{false};
  std::thread chaos = CrashAndRestartAt("customers", "customers", "name", "rsk", total / 4, &restarted);
  LoadReport report = RunLoad(total, [&](int i, int64_t* id) { return CreateCustomer(*stub, "rsk", i, id); });
  chaos.join();
  ASSERT_TRUE(restarted);
  EXPECT_GT(report.attempt_errors[StatusCode::UNAVAILABLE], 0) << "the kill did not hit the load";
  EXPECT_LT(report.longest_attempt, kCallDeadline + absl::Seconds(1)) << report.Describe();
  ExpectExactlyOnce(report, total, CountRows(S("customers").db, DbPort(), "customers", "name", "rsk"));
  std::cout << "[ reliability ] customers SIGKILL: " << report.Describe() << "\n";
}

// Work orders created while complaints is killed and restarted: each is stored once,
// and its outbox entry reaches the customer log exactly once after the restart.
TEST_F(ReliabilitySystem, ComplaintsKilledMidLoadDeliversItsOutboxExactlyOnce) {
  const std::vector<int64_t> customers = NewCustomers(10, "rwo-customer");
  auto stub = wo::ComplaintService::NewStub(S("complaints").channel);
  const int total = std::max(100, Records() / 5);
  std::atomic<bool> restarted{false};
  std::thread chaos = CrashAndRestartAt("complaints", "work_orders", "title", "rwo", total / 4, &restarted);
  std::mutex mu;
  std::map<int, std::string> numbers;
  LoadReport report = RunLoad(total, [&](int i, int64_t* id) {
    std::string number;
    grpc::Status s = CreateWorkOrder(*stub, "rwo", i, customers[i % customers.size()], &number, id);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      numbers[i] = number;
    }
    return s;
  });
  chaos.join();
  ASSERT_TRUE(restarted);
  EXPECT_GT(report.attempt_errors[StatusCode::UNAVAILABLE], 0) << "the kill did not hit the load";
  ExpectExactlyOnce(report, total, CountRows(S("complaints").db, DbPort(), "work_orders", "title", "rwo"));

  // Every work order's creation reaches the customer log once, however many times the
  // relay had to try.
  std::map<std::string, int> refs = LogReferencesOnceThere(customers, numbers.size());
  int missing = 0, doubled = 0;
  for (const auto& [i, number] : numbers) {
    int n = refs[absl::StrCat("complaints/", number)];
    if (n == 0) ++missing;
    if (n > 1) ++doubled;
  }
  EXPECT_EQ(missing, 0) << "work orders missing from the customer log";
  EXPECT_EQ(doubled, 0) << "work orders logged more than once";
  std::cout << "[ reliability ] complaints SIGKILL: " << report.Describe() << ", log entries " << refs.size()
            << "\n";
}

// ---- graceful shutdown under load ----

// SIGTERM while 16 clients create: the process drains and exits 0 within its grace
// period, and no call that reached a handler fails: every create either succeeded or
// was refused before it did anything (UNAVAILABLE or CANCELLED, nothing stored).
TEST_F(ReliabilitySystem, SigtermUnderLoadDrainsInFlightCalls) {
  auto stub = cpb::CustomerService::NewStub(S("customers").channel);
  const int total = std::max(400, Records() / 2);
  std::atomic<bool> terminated{false};
  std::atomic<int> exit_code{-2};
  absl::Duration stop_took;
  std::thread chaos([&] {
    while (CountRows(S("customers").db, DbPort(), "customers", "name", "rst").first < total / 4)
      absl::SleepFor(absl::Milliseconds(50));
    absl::Time start = absl::Now();
    system_->Signal("customers", SIGTERM);
    terminated = true;
    exit_code = system_->WaitExit("customers", 15000);
    stop_took = absl::Now() - start;
  });
  // One attempt per create: what happened to each call is what this test is about.
  std::mutex mu;
  std::map<int, grpc::Status> outcome;
  LoadReport report = RunLoad(
      total,
      [&](int i, int64_t* id) {
        grpc::Status s = CreateCustomer(*stub, "rst", i, id);
        std::lock_guard<std::mutex> lock(mu);
        outcome[i] = s;
        return s.ok() ? s : grpc::Status(StatusCode::INVALID_ARGUMENT, "no retry: " + s.error_message());
      },
      absl::ZeroDuration());
  chaos.join();
  ASSERT_TRUE(terminated);
  EXPECT_EQ(exit_code, 0) << S("customers").process->Output();
  EXPECT_LT(stop_took, absl::Seconds(11)) << "longer than the 10 s grace period";

  int ok = 0, refused = 0;
  std::vector<std::string> other;
  for (const auto& [i, s] : outcome) {
    if (s.ok()) ++ok;
    // UNAVAILABLE: the listener had closed. CANCELLED: the transport had taken the call
    // but no handler had started it (gRPC cancels calls still queued for a thread when
    // the server shuts down). The row count below shows neither did anything.
    else if (s.error_code() == StatusCode::UNAVAILABLE || s.error_code() == StatusCode::CANCELLED) ++refused;
    else other.push_back(absl::StrCat(i, ": ", s.error_code(), " ", s.error_message()));
  }
  EXPECT_TRUE(other.empty()) << "calls failed with something other than a refusal:\n"
                             << absl::StrJoin(other, "\n");
  EXPECT_GT(ok, 0);
  EXPECT_GT(refused, 0) << "the stop did not happen during the load";
  // Refused calls did nothing; succeeded ones are stored.
  EXPECT_EQ(CountRows(S("customers").db, DbPort(), "customers", "name", "rst").first, ok);
  std::cout << "[ reliability ] SIGTERM under load: " << ok << " succeeded, " << refused
            << " refused before starting, stop took " << absl::FormatDuration(stop_took) << "\n";
  ASSERT_TRUE(system_->Restart("customers"));  // for TearDown's clean stop
}

// ---- a dependency down ----

// customers stopped: work orders and sales projects are still taken (default deadlines;
// the customer check pending), and once customers is back the projects are confirmed
// and each creation reaches the customer log exactly once.
TEST_F(ReliabilitySystem, WorkOrdersAndProjectsAreTakenWhileCustomersIsDownAndLoggedAfter) {
  const std::vector<int64_t> customers = NewCustomers(3, "rdd-customer");
  system_->Signal("customers", SIGTERM);
  ASSERT_EQ(system_->WaitExit("customers"), 0);

  auto complaints = wo::ComplaintService::NewStub(S("complaints").channel);
  std::vector<std::string> references;
  // Reported: the first call of each service finds customers gone; later ones skip it.
  std::vector<absl::Duration> work_order_latency, project_latency;
  for (int i = 0; i < 12; ++i) {
    std::string number;
    int64_t id = 0;
    const absl::Time start = absl::Now();
    grpc::Status s = CreateWorkOrder(*complaints, "rdd", i, customers[i % 3], &number, &id);
    work_order_latency.push_back(absl::Now() - start);
    ASSERT_TRUE(s.ok()) << s.error_message();
    references.push_back(absl::StrCat("complaints/", number));
  }
  auto sales = spb::SalesService::NewStub(S("sales").channel);
  std::vector<int64_t> projects;
  for (int i = 0; i < 6; ++i) {
    spb::CreateProjectRequest req;
    auto* p = req.mutable_project();
    p->set_name(absl::StrCat("停机期间立项-", i));
    p->set_customer_id(customers[i % 3]);
    p->set_owner_id("E-REL");
    p->set_department_id(kDept);
    p->set_goal("扩容呼叫中心");
    p->set_customer_contact("王经理");
    p->mutable_estimated_amount()->set_currency_code("CNY");
    p->mutable_estimated_amount()->set_amount_minor(500'000'00);
    p->set_expected_signing_date("2027-06-30");
    req.set_request_id(absl::StrCat("rdd-project-", i));
    spb::Project out;
    const absl::Time start = absl::Now();
    grpc::Status s = sales->CreateProject(Ctx().get(), req, &out);
    project_latency.push_back(absl::Now() - start);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(out.customer_check(), spb::CUSTOMER_CHECK_PENDING);
    projects.push_back(out.id());
    references.push_back(absl::StrCat("sales/", out.number()));
  }

  auto first_and_slowest_after = [](const std::vector<absl::Duration>& d) {
    return absl::StrCat(absl::FormatDuration(d.front()), " first, ",
                        absl::FormatDuration(*std::max_element(d.begin() + 1, d.end())), " at most after");
  };
  std::cout << "[ reliability ] customers down: 12 work orders taken (" << first_and_slowest_after(work_order_latency)
            << "), 6 sales projects taken (" << first_and_slowest_after(project_latency) << ")\n";
  ASSERT_TRUE(system_->Restart("customers"));
  std::map<std::string, int> refs = LogReferencesOnceThere(customers, references.size());
  for (const auto& reference : references) EXPECT_EQ(refs[reference], 1) << reference;
  for (int64_t id : projects) {
    spb::GetProjectRequest get;
    get.set_project_id(id);
    spb::Project p;
    for (int i = 0; i < 100 && p.customer_check() != spb::CUSTOMER_CHECK_CONFIRMED; ++i) {
      if (i > 0) absl::SleepFor(absl::Milliseconds(100));
      grpc::Status s = sales->GetProject(Ctx().get(), get, &p);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
    EXPECT_EQ(p.customer_check(), spb::CUSTOMER_CHECK_CONFIRMED) << id;
  }
}

// ---- a slow database ----

// A row lock held by someone else: calls that need it end with DEADLINE_EXCEEDED at
// their deadline, the server's threads come back once the lock is released, and the
// pool serves again.
TEST_F(ReliabilitySystem, HeldLockEndsCallsAtTheirDeadlineAndThePoolRecovers) {
  auto stub = cpb::CustomerService::NewStub(S("customers").channel);
  int64_t id = 0;
  ASSERT_TRUE(CreateCustomer(*stub, "rlk", 0, &id).ok());
  const pid_t pid = S("customers").process->pid();
  const int threads_before = ThreadCount(pid);

  auto lock = LockCustomerRow(id);
  ASSERT_TRUE(lock);

  std::vector<std::thread> callers;
  std::atomic<int> deadline_exceeded{0};
  std::atomic<int64_t> worst_overrun_ms{0};
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      cpb::ChangeTierRequest req;
      req.set_customer_id(id);
      req.set_tier(t % 2 ? cpb::TIER_GOLD : cpb::TIER_SILVER);
      req.set_reason("held lock");
      cpb::Customer out;
      absl::Time start = absl::Now();
      grpc::Status s = stub->ChangeTier(Ctx(absl::Seconds(1)).get(), req, &out);
      int64_t overrun = absl::ToInt64Milliseconds(absl::Now() - start - absl::Seconds(1));
      if (s.error_code() == StatusCode::DEADLINE_EXCEEDED) ++deadline_exceeded;
      int64_t prev = worst_overrun_ms.load();
      while (overrun > prev && !worst_overrun_ms.compare_exchange_weak(prev, overrun)) {
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(deadline_exceeded, 8);
  EXPECT_LT(worst_overrun_ms, 500) << "a call outlived its deadline";
  ASSERT_TRUE(lock->Release());

  // Handlers stuck behind the lock give up at the lock-wait timeout: soon no handler is
  // running, and the server answers at once. The threads that ran them stay to wait for
  // the next calls (--max_pollers), so there are at most one more per call made.
  const int metrics_port = S("customers").metrics_port;
  absl::Time end = absl::Now() + absl::Seconds(15);
  int64_t running = HandlersRunning(metrics_port);
  while (running != 0 && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(200));
    running = HandlersRunning(metrics_port);
  }
  // Judged on the sample that ended the wait, so that no unrelated call (a health
  // probe) caught by a second scrape can make it flaky.
  EXPECT_EQ(running, 0) << "handlers still running after the lock was released";
  EXPECT_LE(ThreadCount(pid), threads_before + 8 + 2) << "threads leaked";
  cpb::GetCustomerRequest get;
  get.set_customer_id(id);
  cpb::Customer out;
  grpc::Status s = stub->GetCustomer(Ctx(absl::Seconds(2)).get(), get, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  cpb::ChangeTierRequest change;
  change.set_customer_id(id);
  change.set_tier(cpb::TIER_PLATINUM);
  change.set_reason("lock released");
  change.set_version(out.version());
  s = stub->ChangeTier(Ctx(absl::Seconds(2)).get(), change, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
}


// ---- overload ----

// The value of the series of a per-method counter (kefu_server_shed_total,
// grpc_server_started_total) for method, 0 when absent.
double MethodCounter(int metrics_port, absl::string_view metric, absl::string_view method) {
  auto text = testing::HttpGet(metrics_port, "/metrics");
  if (!text.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::StartsWith(line, absl::StrCat(metric, "{")) ||
        !absl::StrContains(line, absl::StrCat("grpc_method=\"", method, "\"")))
      continue;
    double value = 0;
    size_t space = line.rfind(' ');
    if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &value)) return value;
  }
  return 0;
}

// A server with --max_calls_in_flight calls running refuses the next ones at once with
// RESOURCE_EXHAUSTED (SERVER_OVERLOADED), before a handler runs, counts them, still
// answers health checks, and serves again as soon as a call ends.
TEST_F(ReliabilitySystem, FullServerRefusesNewCallsAtOnceAndServesAgain) {
  ASSERT_TRUE(system_->RestartWith("customers", {"--max_calls_in_flight=3"}));
  auto stub = cpb::CustomerService::NewStub(S("customers").channel);
  int64_t id = 0;
  ASSERT_TRUE(CreateCustomer(*stub, "full", 0, &id).ok());
  const int metrics_port = S("customers").metrics_port;

  // Calls refused for their token take no place: right after more of them than the
  // limit, a valid call is served.
  for (int i = 0; i < 6; ++i) {
    grpc::ClientContext bad;
    bad.AddMetadata("authorization", "Bearer not-a-token");
    cpb::GetCustomerRequest req;
    req.set_customer_id(id);
    cpb::Customer ignored;
    EXPECT_EQ(stub->GetCustomer(&bad, req, &ignored).error_code(), StatusCode::UNAUTHENTICATED);
  }
  {
    cpb::GetCustomerRequest req;
    req.set_customer_id(id);
    cpb::Customer got;
    grpc::Status s = stub->GetCustomer(Ctx().get(), req, &got);
    EXPECT_TRUE(s.ok()) << "a valid call after refused ones: " << s.error_message();
  }

  // Three calls that wait on a row lock held here fill the server; each sets another
  // tier, so that all three succeed whatever order they run in.
  auto lock = LockCustomerRow(id);
  ASSERT_TRUE(lock);
  std::vector<std::thread> blocked;
  const cpb::Tier tiers[] = {cpb::TIER_SILVER, cpb::TIER_GOLD, cpb::TIER_PLATINUM};
  std::vector<grpc::Status> blocked_status(3);
  for (int t = 0; t < 3; ++t) {
    blocked.emplace_back([&, t] {
      cpb::ChangeTierRequest req;
      req.set_customer_id(id);
      req.set_tier(tiers[t]);
      req.set_reason("fills the server");
      cpb::Customer out;
      blocked_status[t] = stub->ChangeTier(Ctx(absl::Seconds(20)).get(), req, &out);
    });
  }
  absl::Time end = absl::Now() + absl::Seconds(4);
  int64_t running = HandlersRunning(metrics_port);
  while (running < 3 && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(20));
    running = HandlersRunning(metrics_port);
  }
  ASSERT_GE(running, 3);

  cpb::GetCustomerRequest get;
  get.set_customer_id(id);
  cpb::Customer out;
  grpc::Status refused = stub->GetCustomer(Ctx(absl::Seconds(3)).get(), get, &out);
  EXPECT_EQ(refused.error_code(), StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  // gRPC's auth step passes on a refusal's code and message, not its details.
  EXPECT_TRUE(absl::StartsWith(refused.error_message(), "server overloaded: ")) << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "--max_calls_in_flight 3")) << refused.error_message();
  int64_t not_created = 0;
  grpc::Status refused_write = CreateCustomer(*stub, "full-refused", 0, &not_created);
  EXPECT_EQ(refused_write.error_code(), StatusCode::RESOURCE_EXHAUSTED) << refused_write.error_message();
  EXPECT_EQ(MethodCounter(metrics_port, "kefu_server_shed_total", "GetCustomer"), 1);
  EXPECT_EQ(MethodCounter(metrics_port, "kefu_server_shed_total", "CreateCustomer"), 1);
  // Refused before any handler: neither was started (each had been once, before).
  EXPECT_EQ(MethodCounter(metrics_port, "grpc_server_started_total", "GetCustomer"), 1);
  EXPECT_EQ(MethodCounter(metrics_port, "grpc_server_started_total", "CreateCustomer"), 1);
  auto health = probe::CheckHealth(S("customers").channel, "", absl::Seconds(2));
  EXPECT_TRUE(health.ok() && *health == probe::HealthState::kServing)
      << "health checks must pass while the server is full";

  ASSERT_TRUE(lock->Release());
  for (auto& t : blocked) t.join();
  for (const auto& s : blocked_status) EXPECT_TRUE(s.ok()) << s.error_message();
  grpc::Status served = stub->GetCustomer(Ctx(absl::Seconds(3)).get(), get, &out);
  EXPECT_TRUE(served.ok()) << served.error_message();
  EXPECT_EQ(out.version(), 4) << "created, then three tier changes";
}
}  // namespace
}  // namespace kefu
