#include "kefu/clients/complaints_client.h"

#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/errors.h"

namespace kefu::clients {

namespace pb = ::kefu::complaints::v1;

absl::Status EnqueueCustomerTier(db::Session& session, int64_t customer_id, int tier, int64_t version,
                                 absl::Time now) {
  pb::CustomerTierNotice notice;
  notice.set_customer_id(customer_id);
  notice.set_tier(tier);
  notice.set_version(version);
  return outbox::Enqueue(session, kCustomerTierTarget, absl::StrCat("customers.tier.", customer_id, ".", version),
                         notice, now);
}

namespace {

absl::Status SendTiers(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout,
                       const std::vector<outbox::Message>& messages) {
  if (!channel) return absl::UnavailableError("complaints service is not configured");
  if (DependencyDown(channel)) return absl::UnavailableError(absl::StrCat("complaints service ", kDependencyDown));
  pb::RecordCustomerTiersRequest req;
  for (const auto& m : messages)
    if (!req.add_tiers()->ParseFromString(m.payload))
      return absl::DataLossError(absl::StrCat("unreadable tier outbox payload ", m.request_id));
  auto ctx = NewCallContext(timeout);
  pb::RecordCustomerTiersResponse out;
  return FromGrpcStatus(pb::ComplaintService::NewStub(channel)->RecordCustomerTiers(ctx.get(), req, &out));
}

}  // namespace

void RegisterCustomerTiers(outbox::Relay& relay, std::shared_ptr<grpc::Channel> channel, absl::Duration timeout) {
  relay.Register(
      kCustomerTierTarget,
      [channel, timeout](const std::string& request_id, const std::string& payload) {
        return SendTiers(channel, timeout, {{request_id, payload}});
      },
      [channel, timeout](const std::vector<outbox::Message>& messages) { return SendTiers(channel, timeout, messages); });
}

}  // namespace kefu::clients
