// kefuctl health / services: the standard gRPC health and reflection protocols, which
// every kefu server offers, so they work against any service address.

#include <google/protobuf/struct.pb.h>

#include <iostream>

#include "commands.h"
#include "kefu/probe.h"
#include "output.h"

namespace kefuctl {
namespace {

// probe.h reports failures as absl::Status; the error printer takes the wire form.
int FailWith(const Invocation& inv, const absl::Status& status) {
  return inv.Fail(grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message())));
}

// Exit code 0 only when SERVING, so scripts and probes can use the command directly.
int Health(Invocation& inv) {
  std::string service = inv.Str("service");
  auto state = kefu::probe::CheckHealth(inv.channel(), service, inv.global().timeout);
  if (!state.ok()) return FailWith(inv, state.status());
  const char* name = kefu::probe::HealthStateName(*state);
  if (inv.global().json) {
    google::protobuf::Struct out;
    (*out.mutable_fields())["service"].set_string_value(service);
    (*out.mutable_fields())["status"].set_string_value(name);
    std::cout << ToJson(out);
  } else {
    std::cout << (service.empty() ? "(server)" : service) << ": " << name << "\n";
  }
  return *state == kefu::probe::HealthState::kServing ? kExitOk : kExitRpcError;
}

int Services(Invocation& inv) {
  auto names = kefu::probe::ListServices(inv.channel(), inv.global().timeout);
  if (!names.ok()) return FailWith(inv, names.status());
  if (inv.global().json) {
    google::protobuf::Struct out;
    auto* list = (*out.mutable_fields())["services"].mutable_list_value();
    for (const auto& n : *names) list->add_values()->set_string_value(n);
    std::cout << ToJson(out);
  } else {
    for (const auto& n : *names) std::cout << n << "\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterSystemCommands(Registry& r) {
  r.Add({"health", "", "Check whether a server (or one of its services) is serving",
         "Exits 0 when SERVING, 1 otherwise. Service names: a full name such as\n"
         "kefu.customers.v1.CustomerService, or \"liveness\" / \"readiness\"; none for the server.",
         {ValueFlag("service", "NAME", "service to check (default: the whole server)")}, 0, 0, Health});
  r.Add({"services", "", "List the services a server offers (through gRPC reflection)", "", {}, 0, 0, Services});
}

}  // namespace kefuctl
