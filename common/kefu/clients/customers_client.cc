#include "kefu/clients/customers_client.h"

#include "kefu/client.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "kefu/errors.h"

namespace kefu::clients {

namespace pb = ::kefu::customers::v1;

PendingTier StartGetCustomerTier(const std::shared_ptr<grpc::Channel>& channel, int64_t customer_id,
                                 absl::Duration timeout, const Caller* caller) {
  if (!channel) return PendingTier(PendingTier::Call(absl::UnavailableError("customers service is not configured")));
  if (DependencyDown(channel))
    return PendingTier(PendingTier::Call(absl::UnavailableError(absl::StrCat("customers service ", kDependencyDown))));
  // A fact the calling service needs for itself (deadlines, existence), asked as the
  // service: the staff member's department scope does not limit it.
  Caller self;
  if (caller) self.request_id = caller->request_id;
  pb::GetCustomerTierRequest req;
  req.set_customer_id(customer_id);
  return PendingTier(PendingTier::Call(
      NewCallContext(timeout, &self), std::move(req),
      [&](grpc::ClientContext* context, const pb::GetCustomerTierRequest& request, grpc::CompletionQueue* queue) {
        return pb::CustomerService::NewStub(channel)->AsyncGetCustomerTier(context, request, queue);
      }));
}

absl::StatusOr<pb::CustomerTier> PendingTier::Wait() { return call_.Wait(); }

// Waiting at once costs what a blocking call does: the thread polls the call's own queue.
absl::StatusOr<int> GetCustomerTier(const std::shared_ptr<grpc::Channel>& channel, int64_t customer_id,
                                    absl::Duration timeout, const Caller* caller) {
  KEFU_ASSIGN_OR_RETURN(pb::CustomerTier answer, StartGetCustomerTier(channel, customer_id, timeout, caller).Wait());
  return static_cast<int>(answer.tier());
}

absl::Status RequireCustomer(const std::shared_ptr<grpc::Channel>& channel, int64_t customer_id,
                             absl::string_view field, absl::Duration timeout, const Caller* caller) {
  auto tier = GetCustomerTier(channel, customer_id, timeout, caller);
  if (tier.ok()) return absl::OkStatus();
  if (tier.status().code() == absl::StatusCode::kNotFound)
    return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_CUSTOMER",
                     absl::StrCat(field, ": customer ", customer_id, " does not exist"),
                     {{std::string(field), "does not exist"}});
  return MakeError(absl::StatusCode::kUnavailable, "DEPENDENCY_UNAVAILABLE",
                   "the customers service cannot confirm the customer right now; retry");
}

absl::Status EnqueueCustomerLog(db::Session& session, const pb::LogEntry& entry, absl::string_view request_id,
                                absl::Time now) {
  return outbox::Enqueue(session, kCustomerLogTarget, request_id, entry, now);
}

outbox::Handler CustomerLogHandler(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout) {
  return [channel, timeout](const std::string& request_id, const std::string& payload) -> absl::Status {
    if (!channel) return absl::UnavailableError("customers service is not configured");
    if (DependencyDown(channel)) return absl::UnavailableError(absl::StrCat("customers service ", kDependencyDown));
    pb::AppendLogEntryRequest req;
    if (!req.mutable_entry()->ParseFromString(payload))
      return absl::DataLossError("unreadable customer-log outbox payload");
    req.set_request_id(request_id);
    auto ctx = NewCallContext(timeout);
    pb::LogEntry out;
    return FromGrpcStatus(pb::CustomerService::NewStub(channel)->AppendLogEntry(ctx.get(), req, &out));
  };
}

outbox::BatchHandler CustomerLogBatchHandler(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout) {
  return [channel, timeout](const std::vector<outbox::Message>& messages) -> absl::Status {
    if (!channel) return absl::UnavailableError("customers service is not configured");
    if (DependencyDown(channel)) return absl::UnavailableError(absl::StrCat("customers service ", kDependencyDown));
    pb::BatchAppendLogEntriesRequest req;
    for (const auto& m : messages) {
      auto* r = req.add_requests();
      if (!r->mutable_entry()->ParseFromString(m.payload))
        return absl::DataLossError(absl::StrCat("unreadable customer-log outbox payload ", m.request_id));
      r->set_request_id(m.request_id);
    }
    // One transaction of up to 50 appends: a deadline made for one would time out under
    // load, and every message of the batch would back off though customers kept them.
    auto ctx = NewCallContext(timeout * static_cast<double>(1 + messages.size() / 10));
    pb::BatchAppendLogEntriesResponse out;
    return FromGrpcStatus(pb::CustomerService::NewStub(channel)->BatchAppendLogEntries(ctx.get(), req, &out));
  };
}

void RegisterCustomerLog(outbox::Relay& relay, std::shared_ptr<grpc::Channel> channel, absl::Duration timeout) {
  relay.Register(kCustomerLogTarget, CustomerLogHandler(channel, timeout), CustomerLogBatchHandler(channel, timeout));
}

}  // namespace kefu::clients
