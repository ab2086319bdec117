// customers: customer records, tiers, lifecycle, the customer log, retention, surveys.
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/server.h"
#include "repository.h"
#include "service.h"

const std::vector<kefu::db::Migration>& CustomersMigrations();

int main(int argc, char** argv) {
  kefu::ServerOptions options =
      kefu::ParseServerFlags(argc, argv, {.name = "customers", .grpc_port = 50051, .metrics_port = 9101});
  kefu::Server server(options);
  const kefu::Clock* clock = kefu::SystemClock::Instance();
  kefu::customers::Repository repo(&server.pool(), clock);
  kefu::customers::BusinessMetrics metrics(server.metrics().registry());
  kefu::customers::CustomerServiceImpl service(&repo, &metrics, clock);
  server.AddService(&service, kefu::customers::v1::CustomerService::service_full_name());
  server.AddBackgroundTask("refresh-metrics", absl::Seconds(15), [&] { service.RefreshMetrics(); });
  if (absl::Status s = server.Start(CustomersMigrations()); !s.ok()) {
    kefu::log::Error("cannot start", {{"error", s.ToString()}});
    return 1;
  }
  server.Run();
  return 0;
}
