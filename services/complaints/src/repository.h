#pragma once
// All SQL of the complaints service. Writes are one transaction each; decisions come
// from the caller (domain/workflow), the repository only persists them. Customer-log
// entries go through the transactional outbox in the same transaction.

#include <map>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "domain.h"
#include "kefu/customers/v1/customers.pb.h"
#include "kefu/db/db.h"
#include "kefu/time_util.h"
#include "workflow.h"

namespace kefu::complaints {

struct NewEvent {
  pb::EventKind kind;
  std::string description;
  std::string actor;
  // Also appended to the customer's log (through the outbox).
  bool to_customer_log = true;
};

// One decided change to a work order, persisted atomically.
struct Change {
  pb::WorkOrder updated;
  std::vector<NewEvent> events;
  std::optional<pb::FollowUp> follow_up;
  absl::Time next_check = absl::InfiniteFuture();
  std::vector<AlertToRaise> alerts;
};

struct ListFilter {
  int64_t customer_id = 0;
  pb::Status status = pb::STATUS_UNSPECIFIED;
  pb::Severity severity = pb::SEVERITY_UNSPECIFIED;
  pb::WorkOrderType type = pb::WORK_ORDER_TYPE_UNSPECIFIED;
  std::string handler_id, department_id;
  bool overdue_only = false, open_only = false;
  pb::EscalationLevel level = pb::ESCALATION_LEVEL_UNSPECIFIED;
  std::optional<absl::Time> received_from, received_to;
};

using IdempotencyKey = db::IdempotencyKey;

// The longest series GetQualitySeries returns: two years of weeks.
inline constexpr int kMaxQualityWeeks = 104;

// One week of a quality series as the database adds it up.
struct WeekAggregate {
  int64_t count = 0;    // rows that fell in the week
  int64_t defects = 0;  // of them: overdue work orders, or follow-ups not satisfied
  double sum = 0;       // of the measured value (satisfaction, hours to resolve)
  double stddev = 0;    // sample standard deviation of the value; 0 below two rows
};

struct KpiCounts {
  int64_t received = 0, closed = 0, open = 0, overdue = 0, escalated = 0;
  int64_t resolved = 0, followed_up = 0, satisfied_follow_ups = 0, follow_ups = 0, reopened = 0;
  double seconds_to_respond_sum = 0, seconds_to_resolve_sum = 0;
  int64_t responded = 0;
};

class Repository {
 public:
  Repository(db::Pool* pool, const Clock* clock) : pool_(pool), clock_(clock) {}

  // Settings stored as serialized messages; NOT_FOUND until first saved. A save with a
  // stale version is ABORTED; a retry with the key of a save that succeeded returns that
  // save's result (kefu::IdempotentTransaction).
  absl::StatusOr<pb::DeadlinePolicy> LoadPolicy();
  absl::StatusOr<pb::DeadlinePolicy> SavePolicy(pb::DeadlinePolicy policy, const IdempotencyKey& key);
  absl::StatusOr<pb::BusinessCalendar> LoadCalendar();
  absl::StatusOr<pb::BusinessCalendar> SaveCalendar(pb::BusinessCalendar calendar, const IdempotencyKey& key);

  // `learned_tier`, when given, is a tier just asked of customers: kept in the copy of
  // the tiers in the same transaction.
  absl::StatusOr<pb::WorkOrder> Create(const pb::WorkOrder& w, absl::Time next_check, const IdempotencyKey& key,
                                       const std::string& actor,
                                       const pb::CustomerTierNotice* learned_tier = nullptr);

  // The copy of customers' tiers (migration 0005).
  struct KnownTier {
    int tier = 0;
    int64_t version = 0;
    absl::Time checked_time;
  };
  absl::StatusOr<std::optional<KnownTier>> FindKnownTier(int64_t customer_id);
  // Keeps each customer's newest version (one transaction); an entry no newer than the
  // copy only renews checked_time when it is the same version.
  absl::Status RecordTiers(const std::vector<pb::CustomerTierNotice>& tiers);
  absl::StatusOr<pb::WorkOrder> Get(int64_t id);

  using Decide = std::function<absl::StatusOr<Change>(const pb::WorkOrder& current,
                                                      const std::vector<HistoryEvent>& history)>;
  // Locks the work order, checks expected_version (0 skips), asks `decide`, persists.
  // Idempotent per `scope` (the RPC, e.g. "complaints.AcceptWorkOrder") and `key`: a
  // retry of a change that succeeded returns the work order that change returned,
  // without deciding again (the claim comes before the version check).
  absl::StatusOr<pb::WorkOrder> Mutate(int64_t id, int64_t expected_version, absl::string_view scope,
                                       const IdempotencyKey& key, const Decide& decide);

  // Claims up to `limit` work orders whose next_check_time <= now with SKIP LOCKED (so
  // concurrent sweeps on other replicas take other rows) and applies `decide` to each.
  // A decide that returns NOT_FOUND leaves the row as it is. Returns rows changed.
  absl::StatusOr<int> SweepDue(absl::Time now, int limit, const Decide& decide);

  absl::StatusOr<std::vector<pb::WorkOrder>> List(const ListFilter& filter, int page_size, int64_t after_id,
                                                  bool* more);
  absl::StatusOr<std::vector<pb::TimelineEvent>> Timeline(int64_t id);
  absl::StatusOr<std::vector<HistoryEvent>> History(int64_t id);
  // The histories of many work orders in one round trip; every id has an entry.
  absl::StatusOr<std::map<int64_t, std::vector<HistoryEvent>>> Histories(const std::vector<int64_t>& ids);
  // Open work orders with a running deadline, for the at-risk list.
  absl::StatusOr<std::vector<pb::WorkOrder>> OpenWithDeadlines(const std::string& department_id,
                                                               const std::string& handler_id, int limit);
  absl::StatusOr<std::vector<pb::Alert>> AlertsAfter(int64_t after_id, int limit, int64_t* last_id);
  absl::StatusOr<int64_t> LastAlertId();
  absl::StatusOr<KpiCounts> Kpis(const std::string& department_id, const std::string& handler_id, absl::Time from,
                                 absl::Time to);
  // `measure` per week, week i being [week_starts[i], week_starts[i + 1]): 2 to
  // kMaxQualityWeeks + 1 ascending starts. Returns one entry per week, empty ones zero.
  // Work orders count for their current department and handler (at most one given).
  absl::StatusOr<std::vector<WeekAggregate>> QualitySeries(pb::QualityMeasure measure,
                                                           const std::string& department_id,
                                                           const std::string& handler_id,
                                                           const std::vector<absl::Time>& week_starts);
  // (severity, status, count) of open work orders, for the business metrics.
  struct OpenCount {
    int severity, status;
    int64_t count;
  };
  absl::StatusOr<std::vector<OpenCount>> CountOpen();
  absl::StatusOr<int64_t> CountOverdueOpen();
  absl::StatusOr<std::vector<pb::WorkOrder>> OpenUnclassified(int limit);

 private:
  db::Pool* pool_;
  const Clock* clock_;
};

// The customer-log entry a work-order event writes.
customers::v1::LogEntry CustomerLogEntryFor(const pb::WorkOrder& w, const NewEvent& e, absl::Time at);

}  // namespace kefu::complaints
