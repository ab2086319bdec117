// contracts: review and approval, lifecycle, expiry and service entitlement.
#include "absl/flags/flag.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/server.h"
#include "repository.h"
#include "service.h"

ABSL_FLAG(std::string, customers_addr, "127.0.0.1:50051", "Address of the customers service.");
ABSL_FLAG(int, customers_timeout_ms, 1000, "Deadline of calls to the customers service.");
ABSL_FLAG(int, sweep_interval_ms, 60000, "How often contracts are activated and expired by date.");
ABSL_FLAG(int, outbox_interval_ms, 1000, "How often undelivered customer-log entries are sent.");
ABSL_FLAG(int, outbox_linger_ms, 50,
          "After a write that queued a message, how long the relay waits for more before sending them.");
ABSL_FLAG(std::string, time_zone, "Asia/Shanghai", "Time zone whose calendar days contract dates are.");

const std::vector<kefu::db::Migration>& ContractsMigrations();

int main(int argc, char** argv) {
  kefu::ServerOptions options =
      kefu::ParseServerFlags(argc, argv, {.name = "contracts", .grpc_port = 50053, .metrics_port = 9103});
  kefu::Server server(options);
  const kefu::Clock* clock = server.clock();
  kefu::ChannelPool channels;
  auto customers = channels.Get(absl::GetFlag(FLAGS_customers_addr));
  absl::Duration customers_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_customers_timeout_ms));
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(absl::GetFlag(FLAGS_time_zone), &zone)) {
    kefu::log::Warn("time zone data missing; using UTC+8", {{"time_zone", absl::GetFlag(FLAGS_time_zone)}});
    zone = absl::FixedTimeZone(8 * 3600);
  }

  kefu::contracts::Repository repo(&server.pool(), clock);
  kefu::contracts::BusinessMetrics metrics(server.metrics().registry());
  kefu::contracts::ContractServiceImpl service(&repo, &server.pool(), &metrics, clock,
                                               {customers, customers_timeout, zone});
  kefu::outbox::Relay relay(&server.pool(), clock, server.metrics().registry());
  kefu::clients::RegisterCustomerLog(relay, customers, customers_timeout);

  server.AddService(&service, kefu::contracts::v1::ContractService::service_full_name());
  server.AddBackgroundTask("date-sweep", absl::Milliseconds(absl::GetFlag(FLAGS_sweep_interval_ms)), [&] {
    for (int round = 0; round < 20; ++round) {
      auto n = service.SweepOnce(100);
      if (!n.ok()) {
        kefu::log::Warn("contract date sweep failed", {{"error", n.status().ToString()}});
        return;
      }
      if (*n == 0) return;
    }
  });
  server.AddOutboxRelay(relay, absl::Milliseconds(absl::GetFlag(FLAGS_outbox_interval_ms)),
                        absl::Milliseconds(absl::GetFlag(FLAGS_outbox_linger_ms)));
  server.AddGaugeRefresher([&] { service.RefreshMetrics(); });
  if (absl::Status s = server.Start(ContractsMigrations()); !s.ok()) {
    kefu::log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  server.Run();
  return 0;
}
