// All service binaries together, as `make run` starts them: each becomes SERVING,
// lists its API through reflection, exports its business metrics, and stops cleanly
// on SIGTERM.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kefu/probe.h"
#include "support/test_env.h"
#include "support/auth.h"

namespace kefu {
namespace {

struct Binary {
  std::string name;
  std::string api;     // full service name
  std::string metric;  // one business metric it must export
  int grpc_port = testing::FreePort();
  int metrics_port = testing::FreePort();
  db::Config db;
  std::unique_ptr<testing::Process> process;
  std::shared_ptr<grpc::Channel> channel;
};

TEST(SystemBinaries, EveryServiceServesItsApiMetricsAndStopsCleanly) {
  std::vector<Binary> services(5);
  const char* specs[5][3] = {{"customers", "kefu.customers.v1.CustomerService", "kefu_customers_customers{"},
                             {"contracts", "kefu.contracts.v1.ContractService", "kefu_contracts_expiring_30d"},
                             {"complaints", "kefu.complaints.v1.ComplaintService", "kefu_complaints_open_work_orders{"},
                             {"sales", "kefu.sales.v1.SalesService", "kefu_sales_open_projects{"},
                             {"performance", "kefu.performance.v1.PerformanceService",
                              "kefu_performance_control_chart_out_of_control_points{"}};
  for (int i = 0; i < 5; ++i) {
    services[i].name = specs[i][0];
    services[i].api = specs[i][1];
    services[i].metric = specs[i][2];
  }
  std::string customers_addr = absl::StrCat("--customers_addr=127.0.0.1:", services[0].grpc_port);
  std::string contracts_addr = absl::StrCat("--contracts_addr=127.0.0.1:", services[1].grpc_port);
  for (auto& s : services) {
    s.db = testing::CreateSchema(absl::StrCat("sys_", s.name));
    std::vector<std::string> args{"--listen_host=127.0.0.1", absl::StrCat("--grpc_port=", s.grpc_port),
                                  absl::StrCat("--metrics_port=", s.metrics_port),
                                  absl::StrCat("--db_port=", testing::SharedDbPort()), absl::StrCat("--db_user=", s.db.user),
                                  absl::StrCat("--db_name=", s.db.schema)};
    for (auto& f : testing::SecurityFlags()) args.push_back(f);
    if (s.name != "customers") args.push_back(customers_addr);
    if (s.name == "complaints" || s.name == "sales" || s.name == "performance") args.push_back(contracts_addr);
    if (s.name == "performance") args.push_back(absl::StrCat("--complaints_addr=127.0.0.1:", services[2].grpc_port));
    s.process = std::make_unique<testing::Process>(testing::BuildPath(absl::StrCat("services/", s.name, "/kefu-", s.name)),
                                                   args, std::vector<std::string>{"KEFU_DB_PASSWORD=" + s.db.password});
    s.channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", s.grpc_port), grpc::InsecureChannelCredentials());
  }
  for (auto& s : services) {
    bool serving = false;
    for (int i = 0; i < 200 && !serving; ++i) {
      auto h = probe::CheckHealth(s.channel, "", absl::Seconds(1));
      serving = h.ok() && *h == probe::HealthState::kServing;
      if (!serving) absl::SleepFor(absl::Milliseconds(100));
    }
    ASSERT_TRUE(serving) << s.name << "\n" << s.process->Output();
    auto list = probe::ListServices(s.channel, absl::Seconds(5), "Bearer " + testing::TestToken("E1001", "agent"));
    ASSERT_TRUE(list.ok()) << s.name;
    EXPECT_NE(std::find(list->begin(), list->end(), s.api), list->end()) << s.name;
    auto metrics = testing::HttpGet(s.metrics_port, "/metrics");
    ASSERT_TRUE(metrics.ok()) << s.name;
    EXPECT_NE(metrics->find("grpc_server_handled_total{grpc_code=\"OK\""), std::string::npos) << s.name;
    EXPECT_NE(metrics->find("kefu_db_up 1"), std::string::npos) << s.name;
    EXPECT_NE(metrics->find(s.metric), std::string::npos) << s.name << " lacks " << s.metric;
  }
  for (auto& s : services) s.process->Signal(SIGTERM);
  for (auto& s : services) EXPECT_EQ(s.process->WaitExit(15000), 0) << s.name << "\n" << s.process->Output();
  for (auto& s : services) testing::DropSchema(s.db);
}

}  // namespace
}  // namespace kefu
