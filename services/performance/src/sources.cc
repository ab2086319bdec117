#include "sources.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/errors.h"
#include "kefu/time_util.h"

namespace kefu::performance {
namespace {

std::string Why(const grpc::Status& s) { return absl::StrCat("code ", s.error_code(), ": ", s.error_message()); }

}  // namespace

Figures FetchFigures(const Peers& peers, const Subject& subject, absl::Time from, absl::Time to,
                     const std::string& from_day, const std::string& to_day, const Caller& caller) {
  Figures f;
  auto complaints = std::async(std::launch::async, [&]() -> std::pair<std::optional<complaints::v1::Kpis>, std::string> {
    if (!peers.complaints) return {std::nullopt, "not configured"};
    if (DependencyDown(peers.complaints)) return {std::nullopt, kDependencyDown};
    complaints::v1::GetKpisRequest req;
    (subject.department ? req.mutable_department_id() : req.mutable_handler_id())->assign(subject.id);
    *req.mutable_from() = ToProtoTime(from);
    *req.mutable_to() = ToProtoTime(to);
    complaints::v1::Kpis resp;
    auto ctx = NewCallContext(peers.timeout, &caller);
    grpc::Status s = complaints::v1::ComplaintService::NewStub(peers.complaints)->GetKpis(ctx.get(), req, &resp);
    if (!s.ok()) return {std::nullopt, Why(s)};
    return {resp, ""};
  });
  auto portfolio =
      std::async(std::launch::async, [&]() -> std::pair<std::optional<customers::v1::PortfolioStats>, std::string> {
        if (!peers.customers) return {std::nullopt, "not configured"};
        if (DependencyDown(peers.customers)) return {std::nullopt, kDependencyDown};
        customers::v1::GetPortfolioStatsRequest req;
        (subject.department ? req.mutable_department_id() : req.mutable_owner_id())->assign(subject.id);
        *req.mutable_from() = ToProtoTime(from);
        *req.mutable_to() = ToProtoTime(to);
        customers::v1::PortfolioStats resp;
        auto ctx = NewCallContext(peers.timeout, &caller);
        grpc::Status s =
            customers::v1::CustomerService::NewStub(peers.customers)->GetPortfolioStats(ctx.get(), req, &resp);
        if (!s.ok()) return {std::nullopt, Why(s)};
        return {resp, ""};
      });
  auto signing =
      std::async(std::launch::async, [&]() -> std::pair<std::optional<contracts::v1::SigningStats>, std::string> {
        if (!peers.contracts) return {std::nullopt, "not configured"};
        if (DependencyDown(peers.contracts)) return {std::nullopt, kDependencyDown};
        contracts::v1::GetSigningStatsRequest req;
        (subject.department ? req.mutable_department_id() : req.mutable_owner_id())->assign(subject.id);
        req.set_signed_from(from_day);
        req.set_signed_to(to_day);
        contracts::v1::SigningStats resp;
        auto ctx = NewCallContext(peers.timeout, &caller);
        grpc::Status s =
            contracts::v1::ContractService::NewStub(peers.contracts)->GetSigningStats(ctx.get(), req, &resp);
        if (!s.ok()) return {std::nullopt, Why(s)};
        return {resp, ""};
      });
  auto [kpis, kpis_why] = complaints.get();
  auto [stats, stats_why] = portfolio.get();
  auto [signed_stats, signing_why] = signing.get();
  f.complaints = std::move(kpis);
  f.portfolio = std::move(stats);
  f.signing = std::move(signed_stats);
  if (!f.complaints) f.unavailable["complaints"] = kpis_why;
  if (!f.portfolio) f.unavailable["customers"] = stats_why;
  if (!f.signing) f.unavailable["contracts"] = signing_why;
  return f;
}

absl::StatusOr<complaints::v1::QualitySeries> FetchQualitySeries(const Peers& peers,
                                                                 complaints::v1::QualityMeasure measure,
                                                                 const std::string& department_id, absl::Time from,
                                                                 int weeks, const Caller& caller) {
  if (!peers.complaints)
    return MakeError(absl::StatusCode::kFailedPrecondition, "DEPENDENCY_NOT_CONFIGURED",
                     "the complaints service address is not configured");
  if (DependencyDown(peers.complaints))
    return MakeError(absl::StatusCode::kUnavailable, "DEPENDENCY_UNAVAILABLE",
                     absl::StrCat("the complaints service is ", kDependencyDown));
  complaints::v1::GetQualitySeriesRequest req;
  req.set_measure(measure);
  req.set_department_id(department_id);
  *req.mutable_from() = ToProtoTime(from);
  req.set_weeks(weeks);
  complaints::v1::QualitySeries resp;
  auto ctx = NewCallContext(peers.timeout, &caller);
  grpc::Status s = complaints::v1::ComplaintService::NewStub(peers.complaints)->GetQualitySeries(ctx.get(), req, &resp);
  if (!s.ok())
    return MakeError(absl::StatusCode::kUnavailable, "DEPENDENCY_UNAVAILABLE",
                     absl::StrCat("the complaints service could not give the weekly series: ", s.error_message()));
  return resp;
}

}  // namespace kefu::performance
