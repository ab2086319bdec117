#pragma once
// The figures the performance service pulls from the other services, each call with
// its own deadline and all of them at once. A source that does not answer is named
// in `unavailable` with the reason instead of failing the whole request.

#include <grpcpp/channel.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kefu/complaints/v1/complaints.pb.h"
#include "kefu/contracts/v1/contracts.pb.h"
#include "kefu/customers/v1/customers.pb.h"
#include "kefu/request_context.h"

namespace kefu::performance {

struct Peers {
  std::shared_ptr<grpc::Channel> customers, contracts, complaints;
  absl::Duration timeout = absl::Seconds(2);
};

// Whose figures: one staff member (owner / handler) or one department.
struct Subject {
  bool department = false;
  std::string id;
};

struct Figures {
  std::optional<complaints::v1::Kpis> complaints;
  std::optional<customers::v1::PortfolioStats> portfolio;
  std::optional<contracts::v1::SigningStats> signing;
  // source ("complaints", "customers", "contracts") -> why it is missing.
  std::map<std::string, std::string> unavailable;
};

// [from, to) as instants; signing days are the inclusive days from..to_day.
Figures FetchFigures(const Peers& peers, const Subject& subject, absl::Time from, absl::Time to,
                     const std::string& from_day, const std::string& to_day, const Caller& caller);

// A weekly quality series from complaints; UNAVAILABLE-style errors pass through.
absl::StatusOr<complaints::v1::QualitySeries> FetchQualitySeries(const Peers& peers,
                                                                 complaints::v1::QualityMeasure measure,
                                                                 const std::string& department_id, absl::Time from,
                                                                 int weeks, const Caller& caller);

}  // namespace kefu::performance
