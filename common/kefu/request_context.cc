#include "kefu/request_context.h"

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kefu/validation.h"

namespace kefu {
namespace {
std::string Header(const grpc::ServerContext& ctx, const char* name, size_t max_len) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(name);
  if (it == md.end()) return "";
  std::string value(it->second.data(), it->second.size());
  // Identifiers only: anything else is dropped rather than trusted into logs or rows.
  if (!CheckId("header", value, max_len, false).ok()) return "";
  return value;
}
}  // namespace

Caller CallerFrom(const grpc::ServerContext& ctx) {
  Caller c;
  c.staff_id = Header(ctx, kActorHeader, 64);
  c.department_id = Header(ctx, kActorDepartmentHeader, 64);
  c.request_id = Header(ctx, kRequestIdHeader, 128);
  auto roles = ctx.client_metadata().find(kActorRolesHeader);
  if (roles != ctx.client_metadata().end() && roles->second.size() <= 256) {
    for (absl::string_view role :
         absl::StrSplit(absl::string_view(roles->second.data(), roles->second.size()), ',', absl::SkipEmpty())) {
      if (CheckId("role", role, 32, true).ok()) c.roles.emplace_back(role);
    }
  }
  return c;
}

void Propagate(const Caller& caller, grpc::ClientContext* ctx) {
  if (!caller.staff_id.empty()) ctx->AddMetadata(kActorHeader, caller.staff_id);
  if (!caller.department_id.empty()) ctx->AddMetadata(kActorDepartmentHeader, caller.department_id);
  if (!caller.request_id.empty()) ctx->AddMetadata(kRequestIdHeader, caller.request_id);
  if (!caller.roles.empty()) ctx->AddMetadata(kActorRolesHeader, absl::StrJoin(caller.roles, ","));
}

}  // namespace kefu
