#pragma once
// What other services need from `customers`, in one place: the customer's tier (for
// deadlines and priorities) and appending to the customer log through the outbox.

#include <grpcpp/channel.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kefu/client.h"
#include "kefu/customers/v1/customers.pb.h"
#include "kefu/outbox.h"
#include "kefu/request_context.h"

namespace kefu::clients {

// Outbox target name for customer-log entries.
inline constexpr char kCustomerLogTarget[] = "customers.log";

// The customer's tier number (1 standard .. 4 platinum), by customers' GetCustomerTier:
// the tier alone, no personal data. NOT_FOUND when the customer does not exist;
// UNAVAILABLE / DEADLINE_EXCEEDED when customers cannot answer.
absl::StatusOr<int> GetCustomerTier(const std::shared_ptr<grpc::Channel>& channel, int64_t customer_id,
                                    absl::Duration timeout, const Caller* caller = nullptr);

// GetCustomerTier started now and answered by Wait(), for a handler that asks another
// service in the meantime: complaints asks contracts for the entitlement while the tier
// is on its way, so a new work order waits for the slower of the two, not for both.
class PendingTier {
 public:
  // The customer's tier with the record version it was read at.
  absl::StatusOr<customers::v1::CustomerTier> Wait();

 private:
  friend PendingTier StartGetCustomerTier(const std::shared_ptr<grpc::Channel>&, int64_t, absl::Duration,
                                          const Caller*);
  using Call = PendingCall<customers::v1::GetCustomerTierRequest, customers::v1::CustomerTier>;
  explicit PendingTier(Call call) : call_(std::move(call)) {}
  Call call_;
};
PendingTier StartGetCustomerTier(const std::shared_ptr<grpc::Channel>& channel, int64_t customer_id,
                                 absl::Duration timeout, const Caller* caller = nullptr);

// OK when the customer exists. FAILED_PRECONDITION (reason UNKNOWN_CUSTOMER, naming
// `field`) when it does not; UNAVAILABLE when customers cannot answer, since the
// caller cannot go on without knowing.
absl::Status RequireCustomer(const std::shared_ptr<grpc::Channel>& channel, int64_t customer_id,
                             absl::string_view field, absl::Duration timeout, const Caller* caller = nullptr);

// Queues a customer-log entry in the caller's transaction; delivered by the relay.
absl::Status EnqueueCustomerLog(db::Session& session, const customers::v1::LogEntry& entry,
                                absl::string_view request_id, absl::Time now);

// The relay handler that appends queued entries via AppendLogEntry (idempotent on
// the outbox request id).
outbox::Handler CustomerLogHandler(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);
// The same for a round's entries at once, via BatchAppendLogEntries: one call and one
// transaction in customers for up to 50, where one each kept the log minutes behind a
// busy complaints service.
outbox::BatchHandler CustomerLogBatchHandler(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);
// Registers both with a service's relay, for kCustomerLogTarget.
void RegisterCustomerLog(outbox::Relay& relay, std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);

}  // namespace kefu::clients
