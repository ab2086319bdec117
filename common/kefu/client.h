#pragma once
// Calling other kefu services: one shared channel per target (channels multiplex and
// reconnect on their own), and a context factory that always sets a deadline.

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_unary_call.h>

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
// at once rather than one after the other. It uses the stub's completion-queue interface
// with a queue of its own, which the waiting thread polls itself, as a blocking call
// does: no other thread touches the call's messages, and none is started for it.
// Dropping an unfinished call cancels it and waits for gRPC to let go of it.
//
//   PendingCall<Req, Resp> call(NewCallContext(timeout, &caller), std::move(req),
//       [&](grpc::ClientContext* context, const Req& request, grpc::CompletionQueue* queue) {
//         return Service::NewStub(channel)->AsyncMethod(context, request, queue);
//       });
//   ... other work ...
//   absl::StatusOr<Resp> answer = call.Wait();
template <typename Request, typename Response>
class PendingCall {
 public:
  // An answer known without calling: the dependency is not configured, or it is down.
  explicit PendingCall(absl::Status status) : early_(std::move(status)) {}

  // `start(context, request, queue)` starts the call and returns its response reader
  // (`stub->AsyncMethod(context, request, queue)`).
  template <typename Start>
  PendingCall(std::unique_ptr<grpc::ClientContext> context, Request request, Start&& start)
      : call_(std::make_unique<Call>()) {
    call_->context = std::move(context);
    call_->request = std::move(request);
    call_->reader = std::forward<Start>(start)(call_->context.get(), call_->request, &call_->queue);
    call_->reader->Finish(&call_->response, &call_->status, call_.get());
  }

  PendingCall(PendingCall&&) noexcept = default;
  PendingCall& operator=(PendingCall&&) = delete;
  PendingCall(const PendingCall&) = delete;
  PendingCall& operator=(const PendingCall&) = delete;

  ~PendingCall() {
    if (!call_) return;
    if (!call_->finished) {
      call_->context->TryCancel();
      call_->AwaitFinish();
    }
    call_->queue.Shutdown();
    void* tag;
    bool ok;
    while (call_->queue.Next(&tag, &ok)) {
    }
  }

  // Blocks until the call finishes (within its context's deadline). Call once.
  absl::StatusOr<Response> Wait() {
    if (!call_) return early_;
    call_->AwaitFinish();
    if (!call_->status.ok()) return FromGrpcStatus(call_->status);
    return std::move(call_->response);
  }

 private:
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    grpc::CompletionQueue queue;
    Request request;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
    Response response;
    grpc::Status status;
    bool finished = false;

    // The only tag on the queue is Finish's, which always comes back.
    void AwaitFinish() {
      void* tag;
      bool ok;
      if (!finished && queue.Next(&tag, &ok)) finished = true;
    }
  };
  absl::Status early_;
  std::unique_ptr<Call> call_;
};

}  // namespace kefu
