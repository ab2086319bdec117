// complaints: service and complaint work orders with deadlines and automatic escalation.
#include "absl/flags/flag.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/server.h"
#include "repository.h"
#include "service.h"

ABSL_FLAG(std::string, customers_addr, "127.0.0.1:50051", "Address of the customers service.");
ABSL_FLAG(int, customers_timeout_ms, 1000, "Deadline of calls to the customers and contracts services.");
ABSL_FLAG(std::string, contracts_addr, "", "Address of the contracts service (entitlement); empty = not deployed.");
ABSL_FLAG(std::string, performance_addr, "", "Address of the performance service (handlers must be active staff); empty = not checked.");
ABSL_FLAG(absl::Duration, customer_tier_max_age, absl::Hours(1),
          "How long a customer's tier in complaints' copy is used without asking customers again (customers sends "
          "every change, when deployed with --complaints_addr); 0 = no copy, ask customers for every new work order.");
ABSL_FLAG(int, classify_interval_ms, 30000, "How often work orders taken without entitlement are classified.");
ABSL_FLAG(int, sweep_interval_ms, 1000, "How often the escalation sweep looks for due work orders.");
ABSL_FLAG(int, outbox_interval_ms, 1000, "How often undelivered customer-log entries are sent.");
ABSL_FLAG(int, outbox_linger_ms, 50,
          "After a write that queued a message, how long the relay waits for more before sending them.");

const std::vector<kefu::db::Migration>& ComplaintsMigrations();

int main(int argc, char** argv) {
  kefu::ServerOptions options =
      kefu::ParseServerFlags(argc, argv, {.name = "complaints", .grpc_port = 50054, .metrics_port = 9104});
  kefu::Server server(options);
  const kefu::Clock* clock = server.clock();
  kefu::ChannelPool channels;
  auto customers = channels.Get(absl::GetFlag(FLAGS_customers_addr));
  absl::Duration customers_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_customers_timeout_ms));

  kefu::complaints::Repository repo(&server.pool(), clock);
  kefu::complaints::BusinessMetrics metrics(server.metrics().registry());
  kefu::complaints::ServiceConfig config;
  config.customers = customers;
  config.customers_timeout = customers_timeout;
  config.contracts = channels.Get(absl::GetFlag(FLAGS_contracts_addr));
  config.performance = channels.Get(absl::GetFlag(FLAGS_performance_addr));
  config.customer_tier_max_age = absl::GetFlag(FLAGS_customer_tier_max_age);
  absl::TimeZone zone;
  config.zone = absl::LoadTimeZone("Asia/Shanghai", &zone) ? zone : absl::FixedTimeZone(8 * 3600);
  kefu::complaints::ComplaintServiceImpl service(&repo, &metrics, clock, config);
  kefu::outbox::Relay relay(&server.pool(), clock, server.metrics().registry());
  kefu::clients::RegisterCustomerLog(relay, customers, customers_timeout);

  server.AddService(&service, kefu::complaints::v1::ComplaintService::service_full_name());
  server.AddBackgroundTask("escalation-sweep", absl::Milliseconds(absl::GetFlag(FLAGS_sweep_interval_ms)), [&] {
    // Drain what is due in batches; a large backlog is worked off in one tick.
    for (int round = 0; round < 20; ++round) {
      auto n = service.SweepOnce(100);
      if (!n.ok()) {
        kefu::log::Warn("escalation sweep failed", {{"error", n.status().ToString()}});
        return;
      }
      if (*n < 100) return;
    }
  });
  server.AddOutboxRelay(relay, absl::Milliseconds(absl::GetFlag(FLAGS_outbox_interval_ms)),
                        absl::Milliseconds(absl::GetFlag(FLAGS_outbox_linger_ms)));
  server.AddGaugeRefresher([&] { service.RefreshMetrics(); });
  server.AddBackgroundTask("classify", absl::Milliseconds(absl::GetFlag(FLAGS_classify_interval_ms)), [&] {
    auto n = service.ClassifyPending();
    if (!n.ok()) kefu::log::Warn("classification round failed", {{"error", n.status().ToString()}});
  });
  server.OnShutdown([&] { service.StopWatches(); });
  if (absl::Status s = server.Start(ComplaintsMigrations()); !s.ok()) {
    kefu::log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  server.Run();
  return 0;
}
