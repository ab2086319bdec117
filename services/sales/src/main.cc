// sales: sales-project tracking through its stages, activities and the pipeline.
#include "absl/flags/flag.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/server.h"
#include "repository.h"
#include "service.h"

ABSL_FLAG(std::string, customers_addr, "127.0.0.1:50051", "Address of the customers service.");
ABSL_FLAG(std::string, contracts_addr, "127.0.0.1:50053", "Address of the contracts service (drafts for won projects).");
ABSL_FLAG(int, call_timeout_ms, 1000, "Deadline of calls to other services.");
ABSL_FLAG(int, outbox_interval_ms, 1000, "How often undelivered log entries and draft requests are sent.");
ABSL_FLAG(int, outbox_linger_ms, 50,
          "After a write that queued a message, how long the relay waits for more before sending them.");
ABSL_FLAG(int, pipeline_recount_interval_s, 3600,
          "How often the pipeline totals are counted again from the projects (see RecountPipeline).");
ABSL_FLAG(int, customer_check_interval_ms, 30000,
          "How often projects created while customers could not confirm their customer are checked again.");

const std::vector<kefu::db::Migration>& SalesMigrations();

int main(int argc, char** argv) {
  kefu::ServerOptions options =
      kefu::ParseServerFlags(argc, argv, {.name = "sales", .grpc_port = 50052, .metrics_port = 9102});
  kefu::Server server(options);
  const kefu::Clock* clock = server.clock();
  kefu::ChannelPool channels;
  auto customers = channels.Get(absl::GetFlag(FLAGS_customers_addr));
  auto contracts = channels.Get(absl::GetFlag(FLAGS_contracts_addr));
  absl::Duration timeout = absl::Milliseconds(absl::GetFlag(FLAGS_call_timeout_ms));

  kefu::sales::Repository repo(&server.pool(), clock);
  kefu::sales::BusinessMetrics metrics(server.metrics().registry());
  kefu::sales::SalesServiceImpl service(&repo, &server.pool(), &metrics, clock, {customers, timeout});
  kefu::outbox::Relay relay(&server.pool(), clock, server.metrics().registry());
  kefu::clients::RegisterCustomerLog(relay, customers, timeout);
  // A won project's draft contract: contracts keeps one draft per project, so a
  // redelivery returns the same draft, whose id is then recorded on the project.
  relay.Register(kefu::sales::kDraftContractTarget, kefu::sales::DraftContractHandler(contracts, &repo, timeout));

  server.AddService(&service, kefu::sales::v1::SalesService::service_full_name());
  server.AddOutboxRelay(relay, absl::Milliseconds(absl::GetFlag(FLAGS_outbox_interval_ms)),
                        absl::Milliseconds(absl::GetFlag(FLAGS_outbox_linger_ms)));
  // Projects created while customers was down: confirmed (or found to have no
  // customer) once it answers again; a round stops at the first call it cannot answer.
  server.AddBackgroundTask("customer-check", absl::Milliseconds(absl::GetFlag(FLAGS_customer_check_interval_ms)), [&] {
    for (int round = 0; round < 20; ++round) {
      auto n = service.SweepPendingCustomerChecks(100);
      if (!n.ok()) {
        kefu::log::Warn("customer check sweep failed", {{"error", n.status().ToString()}});
        return;
      }
      if (*n == 0) return;
    }
  });
  server.AddGaugeRefresher([&] { service.RefreshMetrics(); });
  server.AddBackgroundTask("pipeline-recount", absl::Seconds(absl::GetFlag(FLAGS_pipeline_recount_interval_s)), [&] {
    if (absl::Status st = repo.RecountPipeline(); !st.ok())
      kefu::log::Warn("pipeline recount failed", {{"error", st.ToString()}});
  });
  if (absl::Status s = server.Start(SalesMigrations()); !s.ok()) {
    kefu::log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  server.Run();
  return 0;
}
