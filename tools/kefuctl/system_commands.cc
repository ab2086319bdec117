// kefuctl health / services: the standard gRPC health and reflection protocols, which
// every kefu server offers, so they work against any service address.

#include <google/protobuf/struct.pb.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
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

// Prints a token for --actor/--roles/--department, signed with --signing_key: for
// development and `make run`, where the key is the local one tools/dev/gen-pki.sh made.
int MintTokenCommand(Invocation& inv) {
  absl::Duration ttl = absl::Hours(8);
  std::string text = inv.Str("ttl");
  if (!text.empty() && (!absl::ParseDuration(text, &ttl) || ttl <= absl::ZeroDuration() || ttl > absl::Hours(24 * 30)))
    inv.UsageError(absl::StrCat("--ttl: '", text, "' is not a duration like 8h (at most 720h)"));
  auto token = MintToken(inv.global(), ttl);
  if (!token.ok()) inv.UsageError(std::string(token.status().message()));
  std::cout << *token << "\n";
  return kExitOk;
}

int Services(Invocation& inv) {
  auto names = kefu::probe::ListServices(
      inv.channel(), inv.global().timeout,
      inv.global().token.empty() ? "" : absl::StrCat("Bearer ", inv.global().token));
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
  r.Add({"token mint", "", "Print a development token (needs --signing_key or $KEFU_SIGNING_KEY)",
         "Signs a token for --actor, --roles and --department, e.g.\n"
         "  export KEFU_TOKEN=$(kefuctl token mint --signing_key .run/pki/jwt-private.pem \\\n"
         "      --actor E2001 --roles agent --department D-EAST)",
         {ValueFlag("ttl", "DURATION", "lifetime, e.g. 8h (default 8h)")}, 0, 0, MintTokenCommand});
}

}  // namespace kefuctl
