#include "view360.h"

#include <future>

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

struct Part {
  bool available = false;
  std::string reason;
};

Part Unavailable(const std::string& reason) { return {false, reason}; }

Part WorkOrders(const Peers& peers, int64_t customer_id, const Caller& caller, v1::Customer360* out) {
  if (!peers.complaints) return Unavailable("not configured");
  if (DependencyDown(peers.complaints)) return Unavailable(kDependencyDown);
  namespace cp = ::kefu::complaints::v1;
  cp::ListWorkOrdersRequest req;
  req.set_customer_id(customer_id);
  req.set_open_only(true);
  req.set_page_size(kPartLimit);
  cp::ListWorkOrdersResponse resp;
  auto ctx = NewCallContext(peers.timeout, &caller);
  grpc::Status s = cp::ComplaintService::NewStub(peers.complaints)->ListWorkOrders(ctx.get(), req, &resp);
  if (!s.ok()) return Unavailable(absl::StrCat(s.error_code(), ": ", s.error_message()));
  for (const auto& w : resp.work_orders()) {
    auto* o = out->add_open_work_orders();
    o->set_id(w.id());
    o->set_number(w.number());
    o->set_type(ShortName<cp::WorkOrderType>(cp::WorkOrderType_Name(w.type()), 16));
    o->set_severity(ShortName<cp::Severity>(cp::Severity_Name(w.severity()), 9));
    o->set_status(ShortName<cp::Status>(cp::Status_Name(w.status()), 7));
    if (w.has_resolution_deadline()) *o->mutable_resolve_deadline() = w.resolution_deadline();
  }
  return {true, ""};
}

Part Contracts(const Peers& peers, int64_t customer_id, const Caller& caller, v1::Customer360* out) {
  if (!peers.contracts) return Unavailable("not configured");
  if (DependencyDown(peers.contracts)) return Unavailable(kDependencyDown);
  namespace ct = ::kefu::contracts::v1;
  ct::ListContractsRequest req;
  req.set_customer_id(customer_id);
  req.set_status(ct::CONTRACT_STATUS_ACTIVE);
  req.set_page_size(kPartLimit);
  ct::ListContractsResponse resp;
  auto ctx = NewCallContext(peers.timeout, &caller);
  grpc::Status s = ct::ContractService::NewStub(peers.contracts)->ListContracts(ctx.get(), req, &resp);
  if (!s.ok()) return Unavailable(absl::StrCat(s.error_code(), ": ", s.error_message()));
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
  return {true, ""};
}

Part Projects(const Peers& peers, int64_t customer_id, const Caller& caller, v1::Customer360* out) {
  if (!peers.sales) return Unavailable("not configured");
  if (DependencyDown(peers.sales)) return Unavailable(kDependencyDown);
  namespace sp = ::kefu::sales::v1;
  sp::ListProjectsRequest req;
  req.set_customer_id(customer_id);
  req.set_open_only(true);
  req.set_page_size(kPartLimit);
  sp::ListProjectsResponse resp;
  auto ctx = NewCallContext(peers.timeout, &caller);
  grpc::Status s = sp::SalesService::NewStub(peers.sales)->ListProjects(ctx.get(), req, &resp);
  if (!s.ok()) return Unavailable(absl::StrCat(s.error_code(), ": ", s.error_message()));
  for (const auto& p : resp.projects()) {
    auto* o = out->add_open_projects();
    o->set_id(p.id());
    o->set_number(p.number());
    o->set_name(p.name());
    o->set_stage(ShortName<sp::Stage>(sp::Stage_Name(p.stage()), 6));
    *o->mutable_estimated_amount() = p.estimated_amount();
  }
  return {true, ""};
}

}  // namespace

void FillFromPeers(const Peers& peers, int64_t customer_id, const Caller& caller, v1::Customer360* view) {
  // Each part fills its own message, merged afterwards: no shared writes across threads.
  v1::Customer360 orders, contracts, projects;
  auto f1 = std::async(std::launch::async, [&] { return WorkOrders(peers, customer_id, caller, &orders); });
  auto f2 = std::async(std::launch::async, [&] { return Contracts(peers, customer_id, caller, &contracts); });
  auto f3 = std::async(std::launch::async, [&] { return Projects(peers, customer_id, caller, &projects); });
  std::pair<const char*, Part> parts[] = {{"complaints", f1.get()}, {"contracts", f2.get()}, {"sales", f3.get()}};
  view->MergeFrom(orders);
  view->MergeFrom(contracts);
  view->MergeFrom(projects);
  for (const auto& [name, part] : parts) {
    auto* p = view->add_parts();
    p->set_part(name);
    p->set_available(part.available);
    p->set_reason(part.reason);
  }
}

}  // namespace kefu::customers
