// All service binaries together, as `make run` starts them: each becomes SERVING,
// lists its API through reflection, exports its business metrics, and stops cleanly
// on SIGTERM.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "kefu/probe.h"
#include "support/test_env.h"
#include "support/auth.h"
#include "support/system.h"

namespace kefu {
namespace {

TEST(SystemBinaries, EveryServiceServesItsApiMetricsAndStopsCleanly) {
  // service -> its API and one business metric it must export
  const std::map<std::string, std::pair<std::string, std::string>> specs = {
      {"customers", {"kefu.customers.v1.CustomerService", "kefu_customers_customers{"}},
      {"contracts", {"kefu.contracts.v1.ContractService", "kefu_contracts_expiring_30d"}},
      {"complaints", {"kefu.complaints.v1.ComplaintService", "kefu_complaints_open_work_orders{"}},
      {"sales", {"kefu.sales.v1.SalesService", "kefu_sales_open_projects{"}},
      {"performance", {"kefu.performance.v1.PerformanceService", "kefu_performance_control_chart_out_of_control_points{"}}};
  testing::ServiceBinaries system("sys");
  ASSERT_TRUE(system.Start());
  for (const auto& [name, spec] : specs) {
    auto& s = system[name];
    const auto& [api, metric] = spec;
    auto list = probe::ListServices(s.channel, absl::Seconds(5), "Bearer " + testing::TestToken("E1001", "agent"));
    ASSERT_TRUE(list.ok()) << name;
    EXPECT_NE(std::find(list->begin(), list->end(), api), list->end()) << name;
    auto metrics = testing::HttpGet(s.metrics_port, "/metrics");
    ASSERT_TRUE(metrics.ok()) << name;
    EXPECT_NE(metrics->find("grpc_server_handled_total{grpc_code=\"OK\""), std::string::npos) << name;
    EXPECT_NE(metrics->find("kefu_db_up 1"), std::string::npos) << name;
    EXPECT_NE(metrics->find(metric), std::string::npos) << name << " lacks " << metric;
  }
  for (const auto& [name, code] : system.Stop(15000)) EXPECT_EQ(code, 0) << name << "\n" << system[name].process->Output();
}

}  // namespace
}  // namespace kefu
