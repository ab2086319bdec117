#pragma once
// Customer rules that need no database: request validation, the lifecycle state
// machine, the log entries that account changes write, business-volume fluctuation,
// survey sampling and statistics. Unit-tested in tests/customers_domain_test.cc.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kefu/customers/v1/customers.pb.h"

namespace kefu::customers {

namespace pb = ::kefu::customers::v1;

// Field limits (characters).
inline constexpr size_t kMaxNameChars = 200;
inline constexpr size_t kMaxShortText = 100;
inline constexpr size_t kMaxAddressChars = 300;
inline constexpr size_t kMaxReasonChars = 500;
inline constexpr size_t kMaxLogTextChars = 5000;
inline constexpr size_t kMaxSummaryChars = 500;
inline constexpr size_t kMaxContacts = 20;
inline constexpr size_t kMaxTags = 20;
inline constexpr size_t kMaxTagChars = 64;
inline constexpr size_t kMaxIdChars = 64;
// Rows per ImportCustomers call: all are checked before any is written.
inline constexpr int kMaxImportRows = 10000;
inline constexpr int64_t kDefaultFluctuationBp = 3000;
// A change of more than 1000% is not a fluctuation threshold anyone means.
inline constexpr int64_t kMaxFluctuationBp = 100000;

// "C00001234" <-> 1234.
std::string CustomerNumber(int64_t id);

// Validates the writable fields of a customer; `prefix` names the message in errors
// ("customer"). Contacts, tags, enums, lengths and formats are all checked.
absl::Status ValidateCustomerFields(const pb::Customer& c, absl::string_view prefix,
                                    bool creating);
// Same checks restricted to the fields named in an update mask; unknown or read-only
// paths are INVALID_ARGUMENT("update_mask").
absl::Status ValidateUpdate(const pb::UpdateCustomerRequest& req);
absl::Status ValidateLogEntry(const pb::LogEntry& e, absl::string_view prefix);
// "YYYY-MM" with a month 01..12.
absl::Status ValidatePeriod(absl::string_view field, absl::string_view period);
// The month before "YYYY-MM".
std::string PreviousPeriod(absl::string_view period);

// Defaults applied on create: tier STANDARD, stage PROSPECT, the first contact primary.
pb::Customer WithCreateDefaults(pb::Customer c);
// Copies the masked fields of `patch` onto `current`.
pb::Customer ApplyUpdate(const pb::Customer& current, const pb::Customer& patch,
                         const std::vector<std::string>& paths);

// Lifecycle: prospect -> formation -> stable <-> decline -> churned; any stage but
// churned may churn; a churned customer can only be won back into formation.
bool IsLifecycleTransitionAllowed(pb::LifecycleStage from, pb::LifecycleStage to);
absl::Status CheckLifecycleTransition(pb::LifecycleStage from, pb::LifecycleStage to);

// The log entries that account changes write (category ACCOUNT, channel SYSTEM).
pb::LogEntry AccountLogEntry(int64_t customer_id, absl::string_view actor,
                             absl::string_view description, absl::string_view reason,
                             absl::Time when);
std::string OwnerChangeText(absl::string_view from, absl::string_view to);
std::string TierChangeText(pb::Tier from, pb::Tier to);
std::string StageChangeText(pb::LifecycleStage from, pb::LifecycleStage to);
std::string TierName(pb::Tier t);
std::string StageName(pb::LifecycleStage s);
std::string RetentionOutcomeName(pb::RetentionOutcome o);

// Period-over-period change of monthly volumes (sorted by period ascending). A month
// is compared with the calendar month before it only when that month was recorded.
std::vector<pb::VolumeChange> ComputeVolumeChanges(const std::vector<pb::BusinessVolume>& volumes,
                                                   int64_t threshold_bp);
pb::VolumeChange CompareVolumes(const pb::BusinessVolume& current, const pb::BusinessVolume* previous,
                                int64_t threshold_bp);

// Picks `k` distinct elements of `population` uniformly; the same seed and population
// always give the same sample (the population order must be deterministic).
std::vector<int64_t> SampleWithSeed(const std::vector<int64_t>& population, size_t k, int64_t seed);

// Counts per satisfaction level and the satisfaction rate (satisfied + very satisfied).
// counts[i] = completed surveys with Satisfaction value i+1.
pb::SurveyStats ComputeSurveyStats(absl::string_view campaign, int32_t sampled,
                                   const std::vector<int32_t>& counts);

}  // namespace kefu::customers
