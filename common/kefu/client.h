#pragma once
// Calling other kefu services: one shared channel per target (channels multiplex and
// reconnect on their own), and a context factory that always sets a deadline.

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kefu/errors.h"
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

// A unary call started now and collected later, so that a handler asks several services
// at once rather than one after the other, without a thread of its own: gRPC's callback
// threads complete it. The call keeps its context and messages alive until gRPC is done
// with them; dropping it unfinished cancels it.
//
//   PendingCall<Req, Resp> call(NewCallContext(timeout, &caller), std::move(req),
//       [&](auto* context, const auto* request, auto* response, auto done) {
//         Service::NewStub(channel)->async()->Method(context, request, response, std::move(done));
//       });
//   ... other work ...
//   absl::StatusOr<Resp> answer = call.Wait();
template <typename Request, typename Response>
class PendingCall {
 public:
  // An answer known without calling: the dependency is not configured, or it is down.
  explicit PendingCall(absl::Status status) : state_(std::make_shared<State>()) {
    state_->Finish(std::move(status));
  }

  // `start(context, request, response, on_done)` starts the call through the stub's
  // callback interface (`stub->async()->Method(...)`).
  template <typename Start>
  PendingCall(std::unique_ptr<grpc::ClientContext> context, Request request, Start&& start)
      : state_(std::make_shared<State>()) {
    state_->context = std::move(context);
    state_->request = std::move(request);
    std::shared_ptr<State> state = state_;
    std::forward<Start>(start)(state->context.get(), &state->request, &state->response,
                               [state](grpc::Status status) { state->Finish(FromGrpcStatus(status)); });
  }

  PendingCall(PendingCall&&) noexcept = default;
  PendingCall& operator=(PendingCall&&) = delete;
  PendingCall(const PendingCall&) = delete;
  PendingCall& operator=(const PendingCall&) = delete;

  ~PendingCall() {
    if (state_ && state_->context && !state_->Finished()) state_->context->TryCancel();
  }

  // Blocks until the call finishes (within its context's deadline). Call once.
  absl::StatusOr<Response> Wait() {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->finished.wait(lock, [&] { return state_->done; });
    if (!state_->status.ok()) return state_->status;
    return std::move(state_->response);
  }

 private:
  // std::mutex rather than absl::Notification: ThreadSanitizer sees the former, and
  // Debian's Abseil is not instrumented.
  struct State {
    std::unique_ptr<grpc::ClientContext> context;
    Request request;
    Response response;
    std::mutex mu;
    std::condition_variable finished;
    absl::Status status;  // guarded by mu, as is done
    bool done = false;

    void Finish(absl::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
      finished.notify_all();
    }
    bool Finished() {
      std::lock_guard<std::mutex> lock(mu);
      return done;
    }
  };
  std::shared_ptr<State> state_;
};

}  // namespace kefu
