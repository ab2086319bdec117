#include "view360.h"

#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "kefu/client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/time_util.h"

namespace kefu::customers {
namespace {

constexpr int kPartLimit = 20;

// "WORK_ORDER_TYPE_FAULT_REPORT" -> "fault_report".
template <typename E>
std::string ShortName(const std::string& full, size_t prefix) {
  return absl::AsciiStrToLower(full.size() > prefix ? full.substr(prefix) : full);
}

namespace cp = ::kefu::complaints::v1;
namespace ct = ::kefu::contracts::v1;
namespace sp = ::kefu::sales::v1;

struct Part {
  bool available = false;
  std::string reason;
};

// One part's call to its service, started at once so that the three are in flight
// together; or, when the service cannot be asked, why not.
template <typename Request, typename Response>
struct PartCall {
  std::optional<PendingCall<Request, Response>> call;
  std::string not_asked;
};

template <typename Response, typename Request, typename Start>
PartCall<Request, Response> Ask(const std::shared_ptr<grpc::Channel>& channel, const Peers& peers,
                                const Caller& caller, Request request, Start start) {
  if (!channel) return {std::nullopt, "not configured"};
  if (DependencyDown(channel)) return {std::nullopt, kDependencyDown};
  return {PendingCall<Request, Response>(NewCallContext(peers.timeout, &caller), std::move(request), std::move(start)),
          ""};
}

// Waits for the part's answer and fills `out` with it (fill(response, out)).
template <typename Request, typename Response, typename Fill>
Part Collect(PartCall<Request, Response>& part, v1::Customer360* out, Fill fill) {
  if (!part.call) return {false, part.not_asked};
  absl::StatusOr<Response> answer = part.call->Wait();
  if (!answer.ok()) return {false, absl::StrCat(static_cast<int>(answer.status().code()), ": ", answer.status().message())};
  fill(*answer, out);
  return {true, ""};
}

void FillWorkOrders(const cp::ListWorkOrdersResponse& resp, v1::Customer360* out) {
  for (const auto& w : resp.work_orders()) {
    auto* o = out->add_open_work_orders();
    o->set_id(w.id());
    o->set_number(w.number());
    o->set_type(ShortName<cp::WorkOrderType>(cp::WorkOrderType_Name(w.type()), 16));
    o->set_severity(ShortName<cp::Severity>(cp::Severity_Name(w.severity()), 9));
    o->set_status(ShortName<cp::Status>(cp::Status_Name(w.status()), 7));
    if (w.has_resolution_deadline()) *o->mutable_resolve_deadline() = w.resolution_deadline();
  }
}

void FillContracts(const ct::ListContractsResponse& resp, v1::Customer360* out) {
  for (const auto& c : resp.contracts()) {
    auto* o = out->add_active_contracts();
    o->set_id(c.id());
    o->set_number(c.number());
    o->set_name(c.name());
    o->set_type(ShortName<ct::ContractType>(ct::ContractType_Name(c.type()), 14));
    o->set_status(ShortName<ct::ContractStatus>(ct::ContractStatus_Name(c.status()), 16));
    absl::CivilDay expiry;
    // Covered through the whole expiry day (company time, UTC+8).
    if (absl::ParseCivilTime(c.expiry_date(), &expiry))
      *o->mutable_expiry_time() =
          ToProtoTime(absl::FromCivil(expiry + 1, absl::FixedTimeZone(8 * 3600)) - absl::Seconds(1));
  }
}

void FillProjects(const sp::ListProjectsResponse& resp, v1::Customer360* out) {
  for (const auto& p : resp.projects()) {
    auto* o = out->add_open_projects();
    o->set_id(p.id());
    o->set_number(p.number());
    o->set_name(p.name());
    o->set_stage(ShortName<sp::Stage>(sp::Stage_Name(p.stage()), 6));
    *o->mutable_estimated_amount() = p.estimated_amount();
  }
}

}  // namespace

void FillFromPeers(const Peers& peers, int64_t customer_id, const Caller& caller, v1::Customer360* view) {
  cp::ListWorkOrdersRequest orders;
  orders.set_customer_id(customer_id);
  orders.set_open_only(true);
  orders.set_page_size(kPartLimit);
  auto orders_call = Ask<cp::ListWorkOrdersResponse>(
      peers.complaints, peers, caller, std::move(orders), [&](auto* ctx, const auto& req, auto* queue) {
        return cp::ComplaintService::NewStub(peers.complaints)->AsyncListWorkOrders(ctx, req, queue);
      });
  ct::ListContractsRequest contracts;
  contracts.set_customer_id(customer_id);
  contracts.set_status(ct::CONTRACT_STATUS_ACTIVE);
  contracts.set_page_size(kPartLimit);
  auto contracts_call = Ask<ct::ListContractsResponse>(
      peers.contracts, peers, caller, std::move(contracts), [&](auto* ctx, const auto& req, auto* queue) {
        return ct::ContractService::NewStub(peers.contracts)->AsyncListContracts(ctx, req, queue);
      });
  sp::ListProjectsRequest projects;
  projects.set_customer_id(customer_id);
  projects.set_open_only(true);
  projects.set_page_size(kPartLimit);
  auto projects_call = Ask<sp::ListProjectsResponse>(
      peers.sales, peers, caller, std::move(projects), [&](auto* ctx, const auto& req, auto* queue) {
        return sp::SalesService::NewStub(peers.sales)->AsyncListProjects(ctx, req, queue);
      });
  std::pair<const char*, Part> parts[] = {{"complaints", Collect(orders_call, view, FillWorkOrders)},
                                          {"contracts", Collect(contracts_call, view, FillContracts)},
                                          {"sales", Collect(projects_call, view, FillProjects)}};
  for (const auto& [name, part] : parts) {
    auto* p = view->add_parts();
    p->set_part(name);
    p->set_available(part.available);
    p->set_reason(part.reason);
  }
}

}  // namespace kefu::customers
