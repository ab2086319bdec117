#pragma once
// Contract rules that need no database: field validation, calendar dates, the
// lifecycle, which approvals an amount needs and whose turn it is, how an entitlement
// is chosen, and when a contract has expired.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "kefu/contracts/v1/contracts.pb.h"
#include "kefu/validation.h"

namespace kefu::contracts {

namespace pb = ::kefu::contracts::v1;

inline constexpr size_t kMaxNameChars = 200;
inline constexpr size_t kMaxShortText = 200;
inline constexpr size_t kMaxNoteChars = 1000;
inline constexpr size_t kMaxIdChars = 64;
inline constexpr int kMaxRiskItems = 100;

// "CT0000000012".
std::string ContractNumber(int64_t id);

// Dates are "YYYY-MM-DD" (kefu::ParseDate).
std::string FormatDate(absl::CivilDay day);

absl::Status ValidateContractFields(const pb::Contract& c, absl::string_view prefix);
// The fields a client sets on a contract (an update mask's possible paths).
std::vector<std::string> UpdatableFields();
absl::Status ValidateUpdateMask(const std::vector<std::string>& paths);
pb::Contract ApplyUpdate(const pb::Contract& current, const pb::Contract& patch, const std::vector<std::string>& paths);
absl::Status ValidateRiskItems(const google::protobuf::RepeatedPtrField<pb::RiskItem>& items);

enum class Action { kSubmit, kApproveAll, kReject, kSign, kActivate, kTerminate, kExpire, kSupersede };

// draft -> in review -> approved (or rejected back to draft) -> signed -> active ->
// expired / terminated / superseded. Anything else is FAILED_PRECONDITION.
absl::StatusOr<pb::ContractStatus> NextStatus(pb::ContractStatus current, Action action);
std::string StatusName(pb::ContractStatus s);

// The default rules: every contract needs a department manager; from 1,000,000.00
// (100,000,000 minor units) a senior manager as well.
pb::ApprovalRules DefaultApprovalRules();
absl::Status ValidateApprovalRules(const pb::ApprovalRules& rules);
// The approval steps a contract of this amount needs, in order.
std::vector<pb::Approval> RequiredApprovals(const pb::ApprovalRules& rules, int64_t amount_minor);
// Index of the first step without a decision, or -1 when all passed.
int NextPendingStep(const std::vector<pb::Approval>& steps);

// Picks the entitlement from the customer's active service contracts covering the
// day: a service contract beats a warranty; nothing covering means PAID.
pb::Entitlement ChooseEntitlement(const std::vector<pb::Contract>& covering);

// Expired once the expiry day is over: the expiry day itself is still covered.
bool IsExpired(absl::CivilDay expiry, absl::CivilDay today);
// A contract's effective day has come.
bool IsEffective(absl::CivilDay effective, absl::CivilDay today);

}  // namespace kefu::contracts
