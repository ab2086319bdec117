#pragma once
// Calling other kefu services: one shared channel per target (channels multiplex and
// reconnect on their own), and a context factory that always sets a deadline.

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/time/time.h"
#include "kefu/request_context.h"

namespace kefu {

class ChannelPool {
 public:
  // Empty target: nullptr (the dependency is not configured).
  std::shared_ptr<grpc::Channel> Get(const std::string& target);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

// Whether the dependency behind `channel` is down: its last connection attempt failed and
// gRPC is waiting to reconnect (it does so on its own, within the channel's 2 s maximum
// reconnect backoff). A call made now would only fail after its retries' backoff, so
// callers with a degraded path take it at once instead.
bool DependencyDown(const std::shared_ptr<grpc::Channel>& channel);
inline constexpr char kDependencyDown[] = "down, reconnecting";

// A client context with a deadline, carrying the caller's identity and request id.
std::unique_ptr<grpc::ClientContext> NewCallContext(absl::Duration timeout,
                                                    const Caller* caller = nullptr);

}  // namespace kefu
