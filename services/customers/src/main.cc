// customers: customer records, tiers, lifecycle, the customer log, retention, surveys.
#include "absl/flags/flag.h"
#include "kefu/client.h"
#include "kefu/clients/complaints_client.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/server.h"
#include "repository.h"
#include "service.h"

ABSL_FLAG(std::string, complaints_addr, "",
          "complaints service, for the 360 view and to tell it of tier changes (empty = not deployed).");
ABSL_FLAG(std::string, contracts_addr, "", "contracts service, for the 360 view (empty = not deployed).");
ABSL_FLAG(std::string, sales_addr, "", "sales service, for the 360 view (empty = not deployed).");
ABSL_FLAG(std::string, performance_addr, "", "performance service, to check new owners are active staff (empty = not checked).");
ABSL_FLAG(int, peer_timeout_ms, 1000, "Deadline of each 360-view call to another service.");
ABSL_FLAG(int, outbox_interval_ms, 1000, "How often undelivered tier changes are sent to complaints.");
ABSL_FLAG(int, outbox_linger_ms, 50,
          "After a write that queued a message, how long the relay waits for more before sending them.");

const std::vector<kefu::db::Migration>& CustomersMigrations();

int main(int argc, char** argv) {
  kefu::ServerOptions options =
      kefu::ParseServerFlags(argc, argv, {.name = "customers", .grpc_port = 50051, .metrics_port = 9101});
  kefu::Server server(options);
  const kefu::Clock* clock = server.clock();
  kefu::customers::Repository repo(&server.pool(), clock);
  kefu::customers::BusinessMetrics metrics(server.metrics().registry());
  kefu::ChannelPool channels;
  kefu::customers::Peers peers{channels.Get(absl::GetFlag(FLAGS_complaints_addr)),
                               channels.Get(absl::GetFlag(FLAGS_contracts_addr)),
                               channels.Get(absl::GetFlag(FLAGS_sales_addr)),
                               absl::Milliseconds(absl::GetFlag(FLAGS_peer_timeout_ms)),
                               channels.Get(absl::GetFlag(FLAGS_performance_addr))};
  kefu::customers::CustomerServiceImpl service(&repo, &metrics, clock, peers);
  server.AddService(&service, kefu::customers::v1::CustomerService::service_full_name());
  // Complaints keeps a copy of the tiers for new work orders; a change reaches it
  // through the outbox, also after complaints was down.
  kefu::outbox::Relay relay(&server.pool(), clock, server.metrics().registry());
  repo.TellComplaintsOfTierChanges(peers.complaints != nullptr);
  kefu::clients::RegisterCustomerTiers(relay, peers.complaints, peers.timeout);
  server.AddOutboxRelay(relay, absl::Milliseconds(absl::GetFlag(FLAGS_outbox_interval_ms)),
                        absl::Milliseconds(absl::GetFlag(FLAGS_outbox_linger_ms)));
  // The segment gauge counts every customer (an index scan: about 0.15 s of the database's
  // CPU at a million rows, on every replica), once a minute by default.
  server.AddGaugeRefresher([&] { service.RefreshMetrics(); });
  if (absl::Status s = server.Start(CustomersMigrations()); !s.ok()) {
    kefu::log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  server.Run();
  return 0;
}
