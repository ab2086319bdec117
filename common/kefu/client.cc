#include "kefu/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "kefu/security/transport.h"

namespace kefu {

// Calls between kefu services are reads or writes that carry a request_id (every
// state change replays its first result), so any of them may be retried. Only
// UNAVAILABLE is retried: the call did not reach a handler, or the peer is restarting.
// Each attempt stays within the caller's deadline.
constexpr absl::string_view kInternalRetryPolicy = R"json({
  "methodConfig": [{
    "name": [{}],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
})json";

bool DependencyDown(const std::shared_ptr<grpc::Channel>& channel) {
  return channel && channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_TRANSIENT_FAILURE;
}

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
    args.SetServiceConfigJSON(std::string(kInternalRetryPolicy));
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
