#include "kefu/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/time/clock.h"
#include "kefu/security/transport.h"

namespace kefu {

std::shared_ptr<grpc::Channel> ChannelPool::Get(const std::string& target) {
  if (target.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto& ch = channels_[target];
  if (!ch) {
    grpc::ChannelArguments args;
    // Fail fast when a dependency is down, instead of queueing calls behind reconnects.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    ch = grpc::CreateCustomChannel(
        target, security::MakeChannelCredentials(security::ClientTransport()), args);
  }
  return ch;
}

std::unique_ptr<grpc::ClientContext> NewCallContext(absl::Duration timeout, const Caller* caller) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Propagate(caller ? *caller : Caller{}, ctx.get());
  return ctx;
}

}  // namespace kefu
