// The real kefu-customers binary as a separate process: health, reflection, /metrics,
// structured logs, graceful SIGTERM, NOT_SERVING while the database is down, and
// recovery without a restart once it is back; kefuctl's log import against it.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "kefu/db/db.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/probe.h"
#include "support/test_env.h"
#include "support/auth.h"

namespace kefu {
namespace {

namespace pb = customers::v1;
using probe::HealthState;

class ServiceProcess {
 public:
  ServiceProcess(const db::Config& db, int db_port)
      : grpc_port_(testing::FreePort()), metrics_port_(testing::FreePort()) {
    std::vector<std::string> args{"--listen_host=127.0.0.1", absl::StrCat("--grpc_port=", grpc_port_),
                                  absl::StrCat("--metrics_port=", metrics_port_), absl::StrCat("--db_port=", db_port),
                                  absl::StrCat("--db_user=", db.user), absl::StrCat("--db_name=", db.schema),
                                  "--db_acquire_timeout_ms=1000", "--shutdown_grace_ms=5000"};
    for (auto& f : testing::SecurityFlags()) args.push_back(f);
    process_ = std::make_unique<testing::Process>(
        testing::BuildPath("services/customers/kefu-customers"), args,
        std::vector<std::string>{absl::StrCat("KEFU_DB_PASSWORD=", db.password)});
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_), grpc::InsecureChannelCredentials());
  }
  HealthState Health(const std::string& service = "") {
    auto s = probe::CheckHealth(channel_, service, absl::Seconds(2));
    return s.ok() ? *s : HealthState::kUnknown;
  }
  bool WaitHealth(HealthState want, absl::Duration timeout, const std::string& service = "") {
    auto s = probe::WaitForHealth(channel_, service, want, timeout);
    return s.ok() && *s == want;
  }
  testing::Process& process() { return *process_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }

 private:
  int grpc_port_, metrics_port_;
  std::unique_ptr<testing::Process> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

grpc::Status GetCustomer(const std::shared_ptr<grpc::Channel>& ch, int64_t id, const std::string& request_id = "") {
  auto stub = pb::CustomerService::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!request_id.empty()) ctx.AddMetadata("x-request-id", request_id);
  kefu::testing::Authorize(&ctx, "E1001", "agent,senior_manager");
  pb::GetCustomerRequest req;
  req.set_customer_id(id);
  pb::Customer out;
  return stub->GetCustomer(&ctx, req, &out);
}

TEST(CustomersBinary, ServesHealthReflectionMetricsLogsAndStopsOnSigterm) {
  db::Config db = testing::CreateSchema("cust_bin");
  ServiceProcess svc(db, testing::SharedDbPort());
  ASSERT_TRUE(svc.WaitHealth(HealthState::kServing, absl::Seconds(20))) << svc.process().Output();
  EXPECT_EQ(svc.Health("liveness"), HealthState::kServing);
  EXPECT_EQ(svc.Health("readiness"), HealthState::kServing);
  EXPECT_EQ(svc.Health("kefu.customers.v1.CustomerService"), HealthState::kServing);

  auto services = probe::ListServices(svc.channel(), absl::Seconds(5), "Bearer " + testing::TestToken("E1001", "agent"));
  ASSERT_TRUE(services.ok()) << services.status();
  for (const char* want : {"kefu.customers.v1.CustomerService", "grpc.health.v1.Health"})
    EXPECT_NE(std::find(services->begin(), services->end(), want), services->end()) << want;

  EXPECT_EQ(GetCustomer(svc.channel(), 424242, "req-abc-123").error_code(), grpc::StatusCode::NOT_FOUND);

  auto metrics = testing::HttpGet(svc.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->find("grpc_server_handled_total{grpc_code=\"NotFound\",grpc_method=\"GetCustomer\","
                          "grpc_service=\"kefu.customers.v1.CustomerService\",grpc_type=\"unary\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->find("grpc_server_started_total{grpc_method=\"GetCustomer\""), std::string::npos);
  EXPECT_NE(metrics->find("grpc_server_handling_seconds_bucket{grpc_method=\"GetCustomer\""), std::string::npos);
  // Series for methods not yet called exist at zero.
  EXPECT_NE(metrics->find("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"MergeCustomers\""),
            std::string::npos);
  EXPECT_NE(metrics->find("kefu_db_up 1"), std::string::npos);
  EXPECT_NE(metrics->find("kefu_db_query_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(metrics->find("kefu_customers_customers{"), std::string::npos);
  // The process itself, read at the scrape.
  for (const char* series : {"\nprocess_resident_memory_bytes ", "\nprocess_cpu_seconds_total ",
                             "\nprocess_open_fds ", "\nkefu_heap_in_use_bytes ", "\nkefu_process_threads "})
    EXPECT_NE(metrics->find(series), std::string::npos) << series;

  svc.process().Signal(SIGTERM);
  EXPECT_EQ(svc.process().WaitExit(15000), 0);
  std::string out = svc.process().Output();
  // One JSON object per line, with method, code, latency and the caller's request id.
  EXPECT_NE(out.find("\"msg\":\"rpc\",\"method\":\"/kefu.customers.v1.CustomerService/GetCustomer\","
                     "\"code\":\"NotFound\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"request_id\":\"req-abc-123\""), std::string::npos);
  EXPECT_NE(out.find("\"msg\":\"stopped\""), std::string::npos);
  // Calls without an id get one, so every log line can be correlated.
  EXPECT_EQ(out.find("\"request_id\":\"\""), std::string::npos);
  testing::DropSchema(db);
}

// An operator appends spreadsheets of past contacts with kefuctl: 150 rows go in two
// calls, and the same file again appends nothing twice. In a file whose row 120 names an
// unknown customer, the first call's 100 rows go in and kefuctl says which rows did not
// and why; the corrected file then appends only the 30 rows that were missing.
TEST(CustomersBinary, KefuctlImportsALogFileOnceInBatches) {
  db::Config db = testing::CreateSchema("cust_bin_log");
  ServiceProcess svc(db, testing::SharedDbPort());
  ASSERT_TRUE(svc.WaitHealth(HealthState::kServing, absl::Seconds(20))) << svc.process().Output();
  auto stub = pb::CustomerService::NewStub(svc.channel());
  pb::CreateCustomerRequest create;
  pb::Customer* c = create.mutable_customer();
  c->set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
  c->set_name("导入日志公司");
  c->set_region("华东");
  c->set_industry("制造业");
  c->set_owner_id("E1001");
  c->set_department_id("D-EAST");
  c->add_contacts()->set_phone("13900007701");
  pb::Customer customer;
  {
    grpc::ClientContext ctx;
    kefu::testing::Authorize(&ctx, "E1001", "senior_manager");
    grpc::Status st = stub->CreateCustomer(&ctx, create, &customer);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  // Rows "<what>第i次, 客户满意" for i = 1..rows; row `unknown_row` names no customer.
  auto write_csv = [&](const std::string& name, const std::string& what, int rows, int unknown_row) {
    std::string path = absl::StrCat(::testing::TempDir(), "/", name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "customer_id,category,channel,time,description\r\n";
    for (int i = 1; i <= rows; ++i)
      out << (i == unknown_row ? int64_t{987654321} : customer.id()) << ",visit,phone,2026-03-01 09:00,"
          << "\"" << what << "第" << i << "次, 客户满意\"\r\n";
    return path;
  };
  auto kefuctl = [&](const std::string& file, int* exit_code) {
    testing::Process p(testing::BuildPath("tools/kefuctl/kefuctl"),
                       {"--plaintext", absl::StrCat("--addr=127.0.0.1:", svc.grpc_port()),
                        absl::StrCat("--token=", testing::TestToken("E1001", "senior_manager")), "customers", "log",
                        "import", file});
    *exit_code = p.WaitExit(30000);
    return p.Output();
  };
  auto pool = db::Pool::Create(db);
  auto count = [&](const std::string& what) -> int64_t {
    auto s = pool->Acquire();
    if (!s.ok()) return -1;
    auto row = s->QueryOne("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND description LIKE ?",
                           {customer.id(), what + "第%"});
    return row.ok() && row->has_value() ? (*row)->Int(0) : -1;
  };

  const std::string visits = write_csv("visits.csv", "回访", 150, 0);
  int code = -1;
  std::string out = kefuctl(visits, &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("150 rows in the customer log"), std::string::npos) << out;
  EXPECT_EQ(count("回访"), 150);
  out = kefuctl(visits, &code);  // the same file again
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(count("回访"), 150);

  out = kefuctl(write_csv("checks.csv", "复查", 130, 120), &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("rows 101-130 not appended"), std::string::npos) << out;
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;
  EXPECT_NE(out.find("requests[19]"), std::string::npos) << out;
  EXPECT_EQ(count("复查"), 100);
  out = kefuctl(write_csv("checks.csv", "复查", 130, 0), &code);  // corrected
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(count("复查"), 130);
  testing::DropSchema(db);
}

TEST(CustomersBinary, NotServingWhileTheDatabaseIsDownThenRecoversOnItsOwn) {
  testing::PrivateMariaDb mariadb;
  db::Config db = mariadb.CreateSchema("cust_down");
  ServiceProcess svc(db, mariadb.port());
  ASSERT_TRUE(svc.WaitHealth(HealthState::kServing, absl::Seconds(20))) << svc.process().Output();

  mariadb.Kill();
  EXPECT_TRUE(svc.WaitHealth(HealthState::kNotServing, absl::Seconds(10)));
  EXPECT_EQ(svc.Health("liveness"), HealthState::kServing);  // alive, just not ready
  absl::Time start = absl::Now();
  EXPECT_EQ(GetCustomer(svc.channel(), 1).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  auto metrics = testing::HttpGet(svc.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("kefu_db_up 0"), std::string::npos);

  mariadb.Start();
  EXPECT_TRUE(svc.WaitHealth(HealthState::kServing, absl::Seconds(20))) << svc.process().Output();
  EXPECT_EQ(GetCustomer(svc.channel(), 1).error_code(), grpc::StatusCode::NOT_FOUND);  // answered by the DB
}

TEST(CustomersBinary, StartsWithoutItsDatabaseAndReportsNotServing) {
  db::Config db;
  db.user = "nobody";
  db.schema = "kefu_missing";
  ServiceProcess svc(db, testing::FreePort());  // nothing listens there
  ASSERT_TRUE(svc.WaitHealth(HealthState::kNotServing, absl::Seconds(20))) << svc.process().Output();
  EXPECT_EQ(svc.Health("liveness"), HealthState::kServing);
  svc.process().Signal(SIGTERM);
  EXPECT_EQ(svc.process().WaitExit(15000), 0);
}

}  // namespace
}  // namespace kefu
