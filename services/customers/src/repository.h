#pragma once
// All SQL of the customers service. Every method is one transaction (or one read) and
// returns absl::Status; nothing here decides business rules: decisions arrive as
// Change values made by the domain layer.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "domain.h"
#include "kefu/db/db.h"
#include "kefu/time_util.h"

namespace kefu::customers {

// One decided change to a customer, persisted atomically by Repository::Mutate.
struct Change {
  pb::Customer updated;
  bool contacts_changed = false;
  bool tags_changed = false;
  std::vector<pb::LogEntry> log;
  std::optional<pb::TierChange> tier_change;
  struct StageChange {
    pb::LifecycleStage from, to;
    std::string reason, actor;
  };
  std::optional<StageChange> stage_change;
};

struct ListCustomersFilter {
  std::string owner_id, department_id, region, name_prefix, tag;
  pb::Tier tier = pb::TIER_UNSPECIFIED;
  pb::LifecycleStage stage = pb::LIFECYCLE_STAGE_UNSPECIFIED;
};

// Keyset position after the last row of a page.
struct CustomerCursor {
  std::string name;  // used when sorting by name (name_prefix searches)
  int64_t id = 0;
};

template <typename T>
struct Page {
  std::vector<T> items;
  bool more = false;
};

using IdempotencyKey = db::IdempotencyKey;

// The portfolio GetPortfolioStats looks at: customers not merged away, of one owner, one
// department (at most one of the two set) or the whole company; events in [from, to).
struct PortfolioFilter {
  std::string owner_id, department_id;
  absl::Time from, to;
};

struct PortfolioCounts {
  int64_t customers = 0;  // held now
  int64_t acquired = 0;   // created in the range
  int64_t tier_ups = 0, tier_downs = 0;
  int64_t churned = 0;
  // Surveys completed in the range: index i counts results with Satisfaction value i+1.
  std::vector<int64_t> surveys_by_level = std::vector<int64_t>(5, 0);
};

class Repository {
 public:
  Repository(db::Pool* pool, const Clock* clock) : pool_(pool), clock_(clock) {}

  // Whether a tier change also queues a message for complaints' copy of the tiers (in the
  // change's transaction): on when complaints is deployed (customers' --complaints_addr).
  void TellComplaintsOfTierChanges(bool on) { tell_complaints_ = on; }

  absl::StatusOr<pb::Customer> Get(int64_t id);
  // The tier, version and merge mark of a customer, with the department that owns it
  // (for the caller's scope check): one narrow row, no contacts.
  struct TierRow {
    pb::CustomerTier tier;
    std::string department_id;
  };
  absl::StatusOr<TierRow> GetTier(int64_t id);
  // Fails with ALREADY_EXISTS (DUPLICATE_CUSTOMER) when duplicates exist and are not allowed.
  absl::StatusOr<pb::Customer> Create(const pb::Customer& customer, const IdempotencyKey& key,
                                      bool allow_duplicates, const std::string& actor);
  // Stored customers a new record would duplicate, as Create checks them.
  absl::StatusOr<std::vector<pb::DuplicateMatch>> DuplicatesOf(const pb::Customer& customer);
  // Writes the rows in one transaction (each with its creation log entry) and returns
  // them with their ids, in order. Duplicate checks are the caller's.
  absl::StatusOr<std::vector<pb::Customer>> CreateMany(const std::vector<pb::Customer>& rows,
                                                       const std::string& actor);
  using Decide = std::function<absl::StatusOr<Change>(const pb::Customer& current)>;
  // Locks the customer, checks expected_version (0 skips the check), asks `decide`
  // for the change and writes it with version + 1. Idempotent under `key` in `scope`
  // (one per RPC, e.g. "customers.ChangeTier"): a repeat returns the first result
  // without calling `decide`.
  absl::StatusOr<pb::Customer> Mutate(int64_t id, int64_t expected_version, absl::string_view scope,
                                      const IdempotencyKey& key, const Decide& decide);
  absl::StatusOr<Page<pb::Customer>> List(const ListCustomersFilter& filter, int page_size,
                                          const std::optional<CustomerCursor>& after);
  absl::StatusOr<std::vector<pb::DuplicateMatch>> FindDuplicates(const std::string& name,
                                                                 const std::vector<std::string>& phones,
                                                                 const std::vector<std::string>& emails,
                                                                 int64_t exclude_id);
  absl::StatusOr<pb::Customer> Merge(int64_t survivor_id, int64_t duplicate_id,
                                     const std::string& reason, const std::string& actor,
                                     const IdempotencyKey& key);
  absl::StatusOr<pb::TransferPortfolioResponse> TransferPortfolio(const std::string& from, const std::string& to,
                                                                  const std::string& department,
                                                                  const std::string& reason,
                                                                  const std::string& actor,
                                                                  const IdempotencyKey& key);
  absl::StatusOr<Page<pb::TierChange>> ListTierChanges(int64_t customer_id, int page_size,
                                                       int64_t before_id);

  // Appends to the log of the customer (or of the customer it was merged into).
  absl::StatusOr<pb::LogEntry> AppendLog(pb::LogEntry entry, const IdempotencyKey& key);
  // Appends several in one transaction, all or none, each honouring its own request id;
  // the entries come back in the order given. An entry's own error (its customer not
  // found, its request id reused) fails the whole batch, named by `position(i)` when
  // given ("requests[3]: customer 12 not found").
  struct NewLogEntry {
    pb::LogEntry entry;
    IdempotencyKey key;
  };
  absl::StatusOr<std::vector<pb::LogEntry>> AppendLogs(std::vector<NewLogEntry> entries,
                                                       const std::function<std::string(size_t)>& position = nullptr);
  struct LogCursor {
    std::string event_time;
    int64_t id = 0;
  };
  absl::StatusOr<Page<pb::LogEntry>> ListLog(int64_t customer_id, pb::LogCategory category,
                                             std::optional<absl::Time> start,
                                             std::optional<absl::Time> end, int page_size,
                                             const std::optional<LogCursor>& after);

  absl::StatusOr<pb::BusinessVolume> UpsertVolume(const pb::BusinessVolume& volume, const IdempotencyKey& key);
  absl::StatusOr<std::vector<pb::BusinessVolume>> ListVolumes(int64_t customer_id);
  // Months of `period` that moved beyond threshold_bp against the month before.
  absl::StatusOr<Page<pb::VolumeChange>> ListFluctuations(const std::string& period,
                                                          int64_t threshold_bp, int page_size,
                                                          int64_t after_customer_id);

  absl::StatusOr<pb::RetentionCase> CreateRetentionCase(const pb::RetentionCase& rc,
                                                        const IdempotencyKey& key,
                                                        const std::string& actor);
  absl::StatusOr<pb::RetentionCase> GetRetentionCase(int64_t id);
  absl::StatusOr<pb::RetentionCase> AddRetentionAction(int64_t case_id, const pb::RetentionAction& action,
                                                       const IdempotencyKey& key);
  absl::StatusOr<pb::RetentionCase> CloseRetentionCase(int64_t case_id, pb::RetentionOutcome outcome,
                                                       const std::string& note, const std::string& actor,
                                                       const IdempotencyKey& key);
  absl::StatusOr<Page<pb::RetentionCase>> ListRetentionCases(int64_t customer_id, pb::RetentionStatus status,
                                                             const std::string& owner_id, int page_size,
                                                             int64_t before_id);

  struct SampleResult {
    std::vector<pb::Survey> surveys;
    int32_t population = 0;
  };
  absl::StatusOr<SampleResult> SampleSurveys(const std::string& campaign, absl::Time from, absl::Time to,
                                             int32_t sample_size, int64_t seed,
                                             const IdempotencyKey& key);
  // *newly_recorded: this call stored the result (not a retry or a replay).
  absl::StatusOr<pb::Survey> RecordSurveyResult(int64_t survey_id, pb::Satisfaction satisfaction,
                                                const std::string& comment, const std::string& actor,
                                                const IdempotencyKey& key, bool* newly_recorded);
  absl::StatusOr<Page<pb::Survey>> ListSurveys(const std::string& campaign, pb::SurveyStatus status,
                                               int64_t customer_id, int page_size, int64_t after_id);
  absl::StatusOr<pb::SurveyStats> SurveyStats(const std::string& campaign);

  // (tier, stage, count) of unmerged customers, for the business metrics.
  struct SegmentCount {
    int tier, stage;
    int64_t count;
  };
  absl::StatusOr<std::vector<SegmentCount>> CountSegments();

  // GetPortfolioStats: each figure one aggregate statement over the portfolio.
  absl::StatusOr<PortfolioCounts> PortfolioStats(const PortfolioFilter& filter);

 private:
  bool tell_complaints_ = false;
  db::Pool* pool_;
  const Clock* clock_;
};

}  // namespace kefu::customers
