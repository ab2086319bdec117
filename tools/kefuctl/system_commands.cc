// kefuctl health / services / audit: the standard gRPC health and reflection protocols
// and kefu's audit trail, which every kefu server offers, so they work against any
// service address.

#include <google/protobuf/struct.pb.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "commands.h"
#include "kefu/audit/v1/audit.grpc.pb.h"
#include "kefu/probe.h"
#include "output.h"
#include "rpc.h"

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

int Audit(Invocation& inv) {
  kefu::audit::v1::ListAuditEntriesRequest req;
  req.set_actor(inv.Str("actor"));
  req.set_method(inv.Str("method"));
  req.set_record_id(inv.Str("record"));
  if (auto t = inv.Time("from")) *req.mutable_from_time() = *t;
  if (auto t = inv.Time("to")) *req.mutable_to_time() = *t;
  auto stub = kefu::audit::v1::AuditService::NewStub(inv.channel());
  return CallPagedAndPrint(inv, *stub, &kefu::audit::v1::AuditService::Stub::ListAuditEntries, req);
}

}  // namespace

void RegisterSystemCommands(Registry& r) {
  RegisterTable(kefu::audit::v1::AuditEntry::descriptor(), {{"TIME", "time"},
                                                            {"ACTOR", "actor"},
                                                            {"ROLES", "actor_roles"},
                                                            {"VIA", "via_service"},
                                                            {"METHOD", "method", 60},
                                                            {"KIND", "kind"},
                                                            {"RECORD", "record_id"}});
  r.Add({"health", "", "Check whether a server (or one of its services) is serving",
         "Exits 0 when SERVING, 1 otherwise. Service names: a full name such as\n"
         "kefu.customers.v1.CustomerService, or \"liveness\" / \"readiness\"; none for the server.",
         {ValueFlag("service", "NAME", "service to check (default: the whole server)")}, 0, 0, Health});
  r.Add({"services", "", "List the services a server offers (through gRPC reflection)", "", {}, 0, 0, Services});
  r.Add({"audit", "", "The audit trail of one service: writes and personal-data reads (needs --roles senior_manager)",
         "Each service keeps its own; pick it with --addr (default: customers), e.g.\n"
         "  kefuctl --addr 127.0.0.1:50054 audit --method ResolveWorkOrder --from 2026-12-01",
         Concat({{ValueFlag("actor", "STAFF_ID", "by this person"),
                  ValueFlag("method", "NAME", "this method (full or its last part, e.g. UpdateCustomer)"),
                  ValueFlag("record", "ID", "on this record"), ValueFlag("from", "TIME", "from (inclusive)"),
                  ValueFlag("to", "TIME", "before")},
                 PagingFlags()}),
         0, 0, Audit});
  r.Add({"token mint", "", "Print a development token (needs --signing_key or $KEFU_SIGNING_KEY)",
         "Signs a token for --actor, --roles and --department, e.g.\n"
         "  export KEFU_TOKEN=$(kefuctl token mint --signing_key .run/pki/jwt-private.pem \\\n"
         "      --actor E2001 --roles agent --department D-EAST)",
         {ValueFlag("ttl", "DURATION", "lifetime, e.g. 8h (default 8h)")}, 0, 0, MintTokenCommand});
}

}  // namespace kefuctl
