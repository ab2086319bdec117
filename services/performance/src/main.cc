// performance: staff and departments, targets, plans, scorecards, 360 reviews and
// quality control charts.
#include "absl/flags/flag.h"
#include "kefu/client.h"
#include "kefu/log.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "kefu/server.h"
#include "repository.h"
#include "service.h"

ABSL_FLAG(std::string, customers_addr, "127.0.0.1:50051", "Address of the customers service.");
ABSL_FLAG(std::string, contracts_addr, "127.0.0.1:50053", "Address of the contracts service.");
ABSL_FLAG(std::string, complaints_addr, "127.0.0.1:50054", "Address of the complaints service.");
ABSL_FLAG(int, peers_timeout_ms, 2000, "Deadline of each call to another service for scorecard figures.");
ABSL_FLAG(std::string, time_zone, "Asia/Shanghai", "Time zone whose calendar days periods and weeks are.");

const std::vector<kefu::db::Migration>& PerformanceMigrations();

int main(int argc, char** argv) {
  kefu::ServerOptions options =
      kefu::ParseServerFlags(argc, argv, {.name = "performance", .grpc_port = 50055, .metrics_port = 9105});
  kefu::Server server(options);
  const kefu::Clock* clock = server.clock();
  kefu::ChannelPool channels;
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(absl::GetFlag(FLAGS_time_zone), &zone)) {
    kefu::log::Warn("time zone data missing; using UTC+8", {{"time_zone", absl::GetFlag(FLAGS_time_zone)}});
    zone = absl::FixedTimeZone(8 * 3600);
  }
  kefu::performance::ServiceConfig config;
  config.peers.customers = channels.Get(absl::GetFlag(FLAGS_customers_addr));
  config.peers.contracts = channels.Get(absl::GetFlag(FLAGS_contracts_addr));
  config.peers.complaints = channels.Get(absl::GetFlag(FLAGS_complaints_addr));
  config.peers.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_peers_timeout_ms));
  config.zone = zone;

  kefu::performance::Repository repo(&server.pool(), clock);
  kefu::performance::BusinessMetrics metrics(server.metrics().registry());
  kefu::performance::PerformanceServiceImpl service(&repo, &server.pool(), &metrics, clock, config);
  server.AddService(&service, kefu::performance::v1::PerformanceService::service_full_name());
  server.AddGaugeRefresher([&] { service.RefreshMetrics(); });
  if (absl::Status s = server.Start(PerformanceMigrations()); !s.ok()) {
    kefu::log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  server.Run();
  return 0;
}
