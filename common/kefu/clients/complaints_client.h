#pragma once
// What other services send to `complaints`: customers tells it of tier changes through
// its outbox, for the copy of tiers new work orders are given deadlines by.

#include <grpcpp/channel.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "kefu/db/db.h"
#include "kefu/outbox.h"

namespace kefu::clients {

// Outbox target name for tier changes.
inline constexpr char kCustomerTierTarget[] = "complaints.tiers";

// Queues "customer `customer_id` has `tier` as of record version `version`" in the
// caller's transaction; delivered by the relay.
absl::Status EnqueueCustomerTier(db::Session& session, int64_t customer_id, int tier, int64_t version,
                                 absl::Time now);

// Registers with a service's relay, for kCustomerTierTarget: a round's changes go in one
// RecordCustomerTiers call (the receiver keeps the newest version of each customer, so
// redelivery and reordering are harmless).
void RegisterCustomerTiers(outbox::Relay& relay, std::shared_ptr<grpc::Channel> channel, absl::Duration timeout);

}  // namespace kefu::clients
