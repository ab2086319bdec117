#include "domain.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kefu/errors.h"
#include "kefu/validation.h"

namespace kefu::complaints {

std::string WorkOrderNumber(int64_t id) { return absl::StrFormat("WO%010d", id); }

absl::Status ValidateNewWorkOrder(const pb::WorkOrder& w) {
  Validator v;
  if (w.customer_id() <= 0) v.Add("work_order.customer_id", "is required");
  v.Merge(CheckEnum("work_order.channel", w.channel(), pb::Channel_IsValid, true));
  v.Merge(CheckEnum("work_order.type", w.type(), pb::WorkOrderType_IsValid, true));
  v.Merge(CheckEnum("work_order.severity", w.severity(), pb::Severity_IsValid, true));
  v.Merge(CheckText("work_order.title", w.title(), kMaxTitleChars, false));
  v.Merge(CheckText("work_order.content", w.content(), kMaxContentChars, true));
  v.Merge(CheckText("work_order.product", w.product(), kMaxShortText, false));
  v.Merge(CheckId("work_order.department_id", w.department_id(), kMaxIdChars, false));
  v.Merge(CheckId("work_order.handler_id", w.handler_id(), kMaxIdChars, false));
  if (w.has_received_time() && (w.received_time().seconds() < 0 || w.received_time().seconds() > 253402300799))
    v.Add("work_order.received_time", "is out of range");
  return v.Finish();
}

absl::Status ValidateResolution(const pb::Resolution& r) {
  Validator v;
  v.Merge(CheckText("resolution.summary", r.summary(), kMaxContentChars, true));
  if (r.actions_size() > 8) v.Add("resolution.actions", "at most 8 actions");
  for (int i = 0; i < r.actions_size(); ++i)
    v.Merge(CheckEnum(absl::StrCat("resolution.actions[", i, "]"), r.actions(i), pb::ResolutionAction_IsValid, true));
  v.Merge(CheckMoney("resolution.compensation", r.compensation(), {.max_abs = 1'000'000'000'000LL}));
  v.Merge(CheckText("resolution.root_cause", r.root_cause(), kMaxNoteChars, false));
  v.Merge(CheckText("resolution.prevention", r.prevention(), kMaxNoteChars, false));
  v.Merge(CheckId("resolution.responsible_staff_id", r.responsible_staff_id(), kMaxIdChars, false));
  v.Merge(CheckId("resolution.responsible_department_id", r.responsible_department_id(), kMaxIdChars, false));
  return v.Finish();
}

absl::StatusOr<pb::Status> NextStatus(pb::Status current, Action action) {
  auto illegal = [&](pb::Status to) { return IllegalTransition(StatusName(current), StatusName(to)); };
  switch (action) {
    case Action::kAccept:
      if (current == pb::STATUS_NEW) return pb::STATUS_ACCEPTED;
      return illegal(pb::STATUS_ACCEPTED);
    case Action::kStartWork:
      if (current == pb::STATUS_ACCEPTED) return pb::STATUS_IN_PROGRESS;
      return illegal(pb::STATUS_IN_PROGRESS);
    case Action::kResolve:
      if (current == pb::STATUS_IN_PROGRESS) return pb::STATUS_RESOLVED;
      return illegal(pb::STATUS_RESOLVED);
    case Action::kStartFollowUp:
      if (current == pb::STATUS_RESOLVED) return pb::STATUS_FOLLOW_UP;
      return illegal(pb::STATUS_FOLLOW_UP);
    case Action::kFollowUpSatisfied:
      if (current == pb::STATUS_FOLLOW_UP) return pb::STATUS_CLOSED;
      return illegal(pb::STATUS_CLOSED);
    case Action::kFollowUpUnsatisfied:
      if (current == pb::STATUS_FOLLOW_UP) return pb::STATUS_IN_PROGRESS;
      return illegal(pb::STATUS_IN_PROGRESS);
    case Action::kCloseWithoutSatisfaction:
      if (current == pb::STATUS_RESOLVED || current == pb::STATUS_FOLLOW_UP) return pb::STATUS_CLOSED;
      return illegal(pb::STATUS_CLOSED);
  }
  return absl::InternalError("unknown action");
}

std::string StatusName(pb::Status s) {
  switch (s) {
    case pb::STATUS_NEW: return "new";
    case pb::STATUS_ACCEPTED: return "accepted";
    case pb::STATUS_IN_PROGRESS: return "in progress";
    case pb::STATUS_RESOLVED: return "resolved";
    case pb::STATUS_FOLLOW_UP: return "follow-up";
    case pb::STATUS_CLOSED: return "closed";
    default: return "unspecified";
  }
}

std::string LevelName(pb::EscalationLevel l) {
  switch (l) {
    case pb::ESCALATION_LEVEL_HANDLER: return "handler";
    case pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER: return "department manager";
    case pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT: return "senior management";
    default: return "unspecified";
  }
}

bool IsOpen(pb::Status s) { return s != pb::STATUS_CLOSED && s != pb::STATUS_UNSPECIFIED; }

absl::Status CheckSatisfaction(int satisfaction) {
  if (satisfaction < 1 || satisfaction > 5) return InvalidField("satisfaction", "must be 1 to 5");
  return absl::OkStatus();
}

Severity ToSeverity(pb::Severity s) {
  switch (s) {
    case pb::SEVERITY_MAJOR: return Severity::kMajor;
    case pb::SEVERITY_MINOR: return Severity::kMinor;
    default: return Severity::kGeneral;
  }
}

pb::EscalationLevel ToProtoLevel(EscalationLevel l) {
  switch (l) {
    case EscalationLevel::kHandler: return pb::ESCALATION_LEVEL_HANDLER;
    case EscalationLevel::kDepartmentManager: return pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER;
    case EscalationLevel::kSeniorManagement: return pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT;
  }
  return pb::ESCALATION_LEVEL_HANDLER;
}

EscalationLevel FromProtoLevel(pb::EscalationLevel l) {
  switch (l) {
    case pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER: return EscalationLevel::kDepartmentManager;
    case pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT: return EscalationLevel::kSeniorManagement;
    default: return EscalationLevel::kHandler;
  }
}

std::vector<SlaEvent> ResponseClockEvents(absl::Time received, const std::vector<HistoryEvent>& history) {
  std::vector<SlaEvent> out{{received, SlaEvent::Kind::kStart}};
  for (const auto& e : history) {
    if (e.kind == pb::EVENT_KIND_ACCEPTED || e.kind == pb::EVENT_KIND_CLOSED) {
      out.push_back({e.at, SlaEvent::Kind::kStop});
      break;
    }
  }
  return out;
}

std::vector<SlaEvent> ResolutionClockEvents(absl::Time received, const std::vector<HistoryEvent>& history) {
  std::vector<SlaEvent> out{{received, SlaEvent::Kind::kStart}};
  for (const auto& e : history) {
    switch (e.kind) {
      case pb::EVENT_KIND_PAUSED: out.push_back({e.at, SlaEvent::Kind::kPause}); break;
      case pb::EVENT_KIND_RESUMED: out.push_back({e.at, SlaEvent::Kind::kResume}); break;
      // Resolving pauses the clock rather than stopping it: an unhappy follow-up
      // reopens the work order and the same budget keeps running.
      case pb::EVENT_KIND_RESOLVED: out.push_back({e.at, SlaEvent::Kind::kPause}); break;
      case pb::EVENT_KIND_REOPENED: out.push_back({e.at, SlaEvent::Kind::kResume}); break;
      case pb::EVENT_KIND_CLOSED: out.push_back({e.at, SlaEvent::Kind::kStop}); break;
      default: break;
    }
  }
  return out;
}

}  // namespace kefu::complaints
