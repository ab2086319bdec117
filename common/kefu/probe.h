#pragma once
// Client side of the standard grpc.health.v1 and server-reflection protocols, for
// kefuctl and the tests. No .proto for either is packaged here, and both messages are
// tiny, so they are encoded by hand over a generic stub.

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kefu::probe {

enum class HealthState { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };
const char* HealthStateName(HealthState s);

absl::StatusOr<HealthState> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service, absl::Duration timeout);

// Polls health until it reports `want` or `timeout` passes, and returns the last answer.
// Each poll waits for the connection: after a failed connect gRPC fails calls fast, and
// in a process with no thread waiting on a call the reconnect is left to its 5-second
// backup poller, so a loop of fail-fast checks can lag a server's start by 5-15 s.
absl::StatusOr<HealthState> WaitForHealth(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& service, HealthState want,
                                          absl::Duration timeout);

// Names of the services the server lists through reflection (which, unlike health,
// needs a caller: pass "Bearer <token>").
absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      absl::Duration timeout,
                                                      const std::string& authorization = "");

}  // namespace kefu::probe
