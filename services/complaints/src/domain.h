#pragma once
// Work-order rules that need no database: validation, the lifecycle state machine,
// which SLA clock events the timeline implies, and who may close without satisfaction.
// Deadlines themselves (calendar, clocks, policy, escalation) are in sla.h.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kefu/complaints/v1/complaints.pb.h"
#include "sla.h"

namespace kefu::complaints {

namespace pb = ::kefu::complaints::v1;

inline constexpr size_t kMaxTitleChars = 200;
inline constexpr size_t kMaxContentChars = 5000;
inline constexpr size_t kMaxShortText = 100;
inline constexpr size_t kMaxNoteChars = 1000;
inline constexpr size_t kMaxIdChars = 64;

// "WO0000000012".
std::string WorkOrderNumber(int64_t id);

absl::Status ValidateNewWorkOrder(const pb::WorkOrder& w);
absl::Status ValidateResolution(const pb::Resolution& r);

// What a caller asks the work order to do.
enum class Action {
  kAccept,
  kStartWork,
  kResolve,
  kStartFollowUp,
  kFollowUpSatisfied,
  kFollowUpUnsatisfied,  // reopens
  kCloseWithoutSatisfaction,
};

// new -> accepted -> in progress -> resolved -> follow-up -> closed; an unsatisfied
// follow-up reopens (in progress); resolved or follow-up may be closed without
// satisfaction. Anything else is FAILED_PRECONDITION (ILLEGAL_TRANSITION).
absl::StatusOr<pb::Status> NextStatus(pb::Status current, Action action);
std::string StatusName(pb::Status s);
std::string LevelName(pb::EscalationLevel l);
bool IsOpen(pb::Status s);

// 4 or 5 on the five-level scale.
inline bool IsSatisfied(int satisfaction) { return satisfaction >= 4; }
absl::Status CheckSatisfaction(int satisfaction);

// Proto <-> sla.h vocabulary.
Severity ToSeverity(pb::Severity s);
pb::EscalationLevel ToProtoLevel(EscalationLevel l);
EscalationLevel FromProtoLevel(pb::EscalationLevel l);

// One row of the work order's history, as the SLA clocks need it.
struct HistoryEvent {
  absl::Time at;
  pb::EventKind kind;
};

// The two clocks a work order runs. The response clock runs from receipt until the
// work order is accepted. The resolution clock runs from receipt until resolved,
// stops while paused (waiting on the customer or a third party), runs again when a
// follow-up reopens it, and stops for good when closed.
std::vector<SlaEvent> ResponseClockEvents(absl::Time received, const std::vector<HistoryEvent>& history);
std::vector<SlaEvent> ResolutionClockEvents(absl::Time received, const std::vector<HistoryEvent>& history);

}  // namespace kefu::complaints
