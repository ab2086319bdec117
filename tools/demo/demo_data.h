#pragma once
// What the demo loader creates: a deterministic plan per customer, made only from the
// seed, the customer's number and the anchor day, and independent of the service.
//
// Every write in a plan carries a request id derived from the seed and the customer
// number, and follow-up changes (tier, lifecycle) are paths the loader walks from
// wherever the customer is now, so applying the same plan twice changes nothing.

#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "kefu/customers/v1/customers.pb.h"

namespace kefu::demo {

namespace pb = ::kefu::customers::v1;

// A small deterministic random source. The standard distributions are implementation
// defined, so values are derived from the raw engine output instead: the same seed
// gives the same data with any standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  Rng(uint64_t seed, uint64_t stream);

  uint64_t Next() { return engine_(); }
  // Uniform in [0, n); n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1))); }
  // True with probability percent/100.
  bool Percent(int percent) { return static_cast<int>(Below(100)) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[Below(items.size())];
  }
  // Index chosen with the given relative weights.
  size_t Weighted(const std::vector<int>& weights);

 private:
  std::mt19937_64 engine_;
};

struct Owner {
  std::string staff_id;
  std::string department_id;
};

struct LogPlan {
  pb::LogEntry entry;  // customer_id is filled in once the customer exists
  std::string request_id;
};

struct RetentionActionPlan {
  pb::RetentionAction action;
  std::string request_id;
};

struct RetentionPlan {
  std::string reason;
  bool churned = false;
  std::string request_id;
  std::vector<RetentionActionPlan> actions;
  // Unset: the case stays open.
  std::optional<pb::RetentionOutcome> outcome;
  std::string outcome_note;
};

// A path of values with the reason for each step; steps[0] is where the customer
// starts, reasons[i] explains the move from steps[i-1] to steps[i].
template <typename T>
struct Path {
  std::vector<T> steps;
  std::vector<std::string> reasons;
};

struct CustomerPlan {
  int number = 0;  // 1-based position in the demo data set
  Owner owner;
  pb::CreateCustomerRequest create;
  Path<pb::Tier> tiers;
  Path<pb::LifecycleStage> stages;
  std::vector<LogPlan> log;
  std::vector<pb::BusinessVolume> volumes;  // customer_id filled in later
  std::optional<RetentionPlan> retention;
};

struct SurveyPlan {
  std::string campaign;
  std::string request_id;
  absl::Time served_from;
  absl::Time served_to;
  int32_t sample_size = 0;
  int64_t seed = 0;
};

struct SurveyResultPlan {
  bool answered = false;  // some customers never pick up
  pb::Satisfaction satisfaction = pb::SATISFACTION_UNSPECIFIED;
  std::string comment;
};

// The fixed sales organisation: E1001..E1012 in three departments.
const std::vector<Owner>& Owners();

class DemoGenerator {
 public:
  // `anchor` is the start of the demo's "today": events lie in the six months before.
  DemoGenerator(uint64_t seed, absl::Time anchor, absl::TimeZone zone);

  // Plans for customers 1..count. Customer n's plan depends only on the seed, the
  // anchor and customers 1..n-1 (names, phones and emails are kept unique), so
  // loading more customers later extends the same data set.
  std::vector<CustomerPlan> Customers(int count);

  SurveyPlan Survey(int customer_count) const;
  // Whether and how the customer answers the survey; deterministic per customer.
  SurveyResultPlan SurveyAnswer(int64_t customer_id) const;

  std::string RequestId(absl::string_view suffix) const;

 private:
  CustomerPlan Plan(int number);
  std::string UniquePhone(Rng& rng);
  std::string UniqueEmail(Rng& rng, const std::string& local, const std::string& domain);

  uint64_t seed_;
  absl::Time anchor_;
  absl::TimeZone zone_;
  std::set<std::string> names_, phones_, emails_;
};

}  // namespace kefu::demo
