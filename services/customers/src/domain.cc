#include "domain.h"

#include <algorithm>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kefu/errors.h"
#include "kefu/time_util.h"
#include "kefu/validation.h"

namespace kefu::customers {

std::string CustomerNumber(int64_t id) { return absl::StrFormat("C%08d", id); }

namespace {

void CheckContacts(const pb::Customer& c, absl::string_view prefix, Validator& v) {
  if (static_cast<size_t>(c.contacts_size()) > kMaxContacts)
    v.Add(absl::StrCat(prefix, ".contacts"), absl::StrCat("at most ", kMaxContacts, " contacts"));
  int primaries = 0;
  for (int i = 0; i < c.contacts_size(); ++i) {
    const auto& ct = c.contacts(i);
    std::string p = absl::StrCat(prefix, ".contacts[", i, "]");
    v.Merge(CheckText(absl::StrCat(p, ".name"), ct.name(), kMaxShortText, false));
    v.Merge(CheckPhone(absl::StrCat(p, ".phone"), ct.phone()));
    v.Merge(CheckEmail(absl::StrCat(p, ".email"), ct.email()));
    v.Merge(CheckText(absl::StrCat(p, ".address"), ct.address(), kMaxAddressChars, false));
    v.Merge(CheckText(absl::StrCat(p, ".title"), ct.title(), kMaxShortText, false));
    if (ct.name().empty() && ct.phone().empty() && ct.email().empty())
      v.Add(p, "needs a name, phone or email");
    if (ct.primary()) ++primaries;
  }
  if (primaries > 1) v.Add(absl::StrCat(prefix, ".contacts"), "at most one contact may be primary");
}

void CheckTags(const pb::Customer& c, absl::string_view prefix, Validator& v) {
  if (static_cast<size_t>(c.tags_size()) > kMaxTags)
    v.Add(absl::StrCat(prefix, ".tags"), absl::StrCat("at most ", kMaxTags, " tags"));
  std::set<std::string> seen;
  for (int i = 0; i < c.tags_size(); ++i) {
    std::string f = absl::StrCat(prefix, ".tags[", i, "]");
    v.Merge(CheckText(f, c.tags(i), kMaxTagChars, true));
    if (!seen.insert(c.tags(i)).second) v.Add(f, "duplicate tag");
  }
}

using FieldCheck = void (*)(const pb::Customer&, absl::string_view, Validator&);

// One checker per updatable field; create runs all of them.
const std::vector<std::pair<std::string, FieldCheck>>& FieldChecks() {
  static const auto* checks = new std::vector<std::pair<std::string, FieldCheck>>{
      {"kind",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckEnum(absl::StrCat(p, ".kind"), c.kind(), pb::CustomerKind_IsValid, true));
       }},
      {"name",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckText(absl::StrCat(p, ".name"), c.name(), kMaxNameChars, true));
       }},
      {"contacts", CheckContacts},
      {"industry",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckText(absl::StrCat(p, ".industry"), c.industry(), kMaxShortText, false));
       }},
      {"region",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckText(absl::StrCat(p, ".region"), c.region(), kMaxShortText, false));
       }},
      {"source",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckEnum(absl::StrCat(p, ".source"), c.source(), pb::AcquisitionSource_IsValid,
                           false));
       }},
      {"department_id",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckId(absl::StrCat(p, ".department_id"), c.department_id(), kMaxIdChars, false));
       }},
      {"credit_rating",
       [](const pb::Customer& c, absl::string_view p, Validator& v) {
         v.Merge(CheckEnum(absl::StrCat(p, ".credit_rating"), c.credit_rating(),
                           pb::CreditRating_IsValid, false));
       }},
      {"tags", CheckTags},
  };
  return *checks;
}

}  // namespace

absl::Status ValidateCustomerFields(const pb::Customer& c, absl::string_view prefix, bool creating) {
  Validator v;
  for (const auto& [name, check] : FieldChecks()) check(c, prefix, v);
  if (creating) {
    v.Merge(CheckId(absl::StrCat(prefix, ".owner_id"), c.owner_id(), kMaxIdChars, false));
    v.Merge(CheckEnum(absl::StrCat(prefix, ".tier"), c.tier(), pb::Tier_IsValid, false));
    v.Merge(CheckEnum(absl::StrCat(prefix, ".lifecycle_stage"), c.lifecycle_stage(),
                      pb::LifecycleStage_IsValid, false));
  }
  return v.Finish();
}

absl::Status ValidateUpdate(const pb::UpdateCustomerRequest& req) {
  Validator v;
  if (!req.has_customer()) return RequiredField("customer");
  if (req.customer().id() <= 0) v.Add("customer.id", "is required");
  if (req.customer().version() <= 0) v.Add("customer.version", "is required");
  if (req.update_mask().paths_size() == 0) v.Add("update_mask", "must name at least one field");
  for (const auto& path : req.update_mask().paths()) {
    auto it = std::find_if(FieldChecks().begin(), FieldChecks().end(),
                           [&](const auto& fc) { return fc.first == path; });
    if (it == FieldChecks().end()) {
      v.Add("update_mask", absl::StrCat("'", path, "' is not an updatable field"));
      continue;
    }
    it->second(req.customer(), "customer", v);
  }
  v.Merge(CheckRequestId(req.request_id()));
  return v.Finish();
}

absl::Status ValidateLogEntry(const pb::LogEntry& e, absl::string_view prefix) {
  Validator v;
  if (e.customer_id() <= 0) v.Add(absl::StrCat(prefix, ".customer_id"), "is required");
  v.Merge(CheckEnum(absl::StrCat(prefix, ".channel"), e.channel(), pb::Channel_IsValid, true));
  v.Merge(CheckEnum(absl::StrCat(prefix, ".category"), e.category(), pb::LogCategory_IsValid, true));
  v.Merge(CheckEnum(absl::StrCat(prefix, ".satisfaction"), e.satisfaction(),
                    pb::Satisfaction_IsValid, false));
  v.Merge(CheckText(absl::StrCat(prefix, ".description"), e.description(), kMaxLogTextChars, true));
  v.Merge(CheckText(absl::StrCat(prefix, ".resolution"), e.resolution(), kMaxLogTextChars, false));
  v.Merge(CheckText(absl::StrCat(prefix, ".summary"), e.summary(), kMaxSummaryChars, false));
  v.Merge(CheckId(absl::StrCat(prefix, ".staff_id"), e.staff_id(), kMaxIdChars, false));
  v.Merge(CheckId(absl::StrCat(prefix, ".department_id"), e.department_id(), kMaxIdChars, false));
  v.Merge(CheckText(absl::StrCat(prefix, ".reference"), e.reference(), 128, false));
  if (e.has_event_time() && (e.event_time().seconds() < 0 || e.event_time().seconds() > 253402300799))
    v.Add(absl::StrCat(prefix, ".event_time"), "is out of range");
  return v.Finish();
}

absl::Status ValidatePeriod(absl::string_view field, absl::string_view period) {
  int year = 0, month = 0;
  if (period.size() != 7 || period[4] != '-' || !absl::SimpleAtoi(period.substr(0, 4), &year) ||
      !absl::SimpleAtoi(period.substr(5, 2), &month) || year < 1970 || year > 9999 || month < 1 ||
      month > 12)
    return InvalidField(field, "must be a month as YYYY-MM");
  return absl::OkStatus();
}

std::string PreviousPeriod(absl::string_view period) {
  int year = 0, month = 0;
  (void)absl::SimpleAtoi(period.substr(0, 4), &year);
  (void)absl::SimpleAtoi(period.substr(5, 2), &month);
  if (--month == 0) {
    month = 12;
    --year;
  }
  return absl::StrFormat("%04d-%02d", year, month);
}

pb::Customer WithCreateDefaults(pb::Customer c) {
  if (c.tier() == pb::TIER_UNSPECIFIED) c.set_tier(pb::TIER_STANDARD);
  if (c.lifecycle_stage() == pb::LIFECYCLE_STAGE_UNSPECIFIED)
    c.set_lifecycle_stage(pb::LIFECYCLE_STAGE_PROSPECT);
  bool any_primary = false;
  for (const auto& ct : c.contacts()) any_primary |= ct.primary();
  if (!any_primary && c.contacts_size() > 0) c.mutable_contacts(0)->set_primary(true);
  return c;
}

pb::Customer ApplyUpdate(const pb::Customer& current, const pb::Customer& patch,
                         const std::vector<std::string>& paths) {
  pb::Customer out = current;
  for (const auto& p : paths) {
    if (p == "kind") out.set_kind(patch.kind());
    else if (p == "name") out.set_name(patch.name());
    else if (p == "contacts") *out.mutable_contacts() = patch.contacts();
    else if (p == "industry") out.set_industry(patch.industry());
    else if (p == "region") out.set_region(patch.region());
    else if (p == "source") out.set_source(patch.source());
    else if (p == "department_id") out.set_department_id(patch.department_id());
    else if (p == "credit_rating") out.set_credit_rating(patch.credit_rating());
    else if (p == "tags") *out.mutable_tags() = patch.tags();
  }
  bool any_primary = false;
  for (const auto& ct : out.contacts()) any_primary |= ct.primary();
  if (!any_primary && out.contacts_size() > 0) out.mutable_contacts(0)->set_primary(true);
  return out;
}

bool IsLifecycleTransitionAllowed(pb::LifecycleStage from, pb::LifecycleStage to) {
  using S = pb::LifecycleStage;
  if (from == to || to == S::LIFECYCLE_STAGE_UNSPECIFIED) return false;
  switch (from) {
    case S::LIFECYCLE_STAGE_PROSPECT:
      return to == S::LIFECYCLE_STAGE_FORMATION || to == S::LIFECYCLE_STAGE_CHURNED;
    case S::LIFECYCLE_STAGE_FORMATION:
      return to == S::LIFECYCLE_STAGE_STABLE || to == S::LIFECYCLE_STAGE_DECLINE ||
             to == S::LIFECYCLE_STAGE_CHURNED;
    case S::LIFECYCLE_STAGE_STABLE:
      return to == S::LIFECYCLE_STAGE_DECLINE || to == S::LIFECYCLE_STAGE_CHURNED;
    case S::LIFECYCLE_STAGE_DECLINE:
      return to == S::LIFECYCLE_STAGE_STABLE || to == S::LIFECYCLE_STAGE_CHURNED;
    case S::LIFECYCLE_STAGE_CHURNED:
      return to == S::LIFECYCLE_STAGE_FORMATION;
    default:
      return false;
  }
}

absl::Status CheckLifecycleTransition(pb::LifecycleStage from, pb::LifecycleStage to) {
  if (IsLifecycleTransitionAllowed(from, to)) return absl::OkStatus();
  return IllegalTransition(StageName(from), StageName(to));
}

std::string TierName(pb::Tier t) {
  switch (t) {
    case pb::TIER_STANDARD: return "standard";
    case pb::TIER_SILVER: return "silver";
    case pb::TIER_GOLD: return "gold";
    case pb::TIER_PLATINUM: return "platinum";
    default: return "unspecified";
  }
}

std::string StageName(pb::LifecycleStage s) {
  switch (s) {
    case pb::LIFECYCLE_STAGE_PROSPECT: return "prospect";
    case pb::LIFECYCLE_STAGE_FORMATION: return "formation";
    case pb::LIFECYCLE_STAGE_STABLE: return "stable";
    case pb::LIFECYCLE_STAGE_DECLINE: return "decline";
    case pb::LIFECYCLE_STAGE_CHURNED: return "churned";
    default: return "unspecified";
  }
}

std::string RetentionOutcomeName(pb::RetentionOutcome o) {
  switch (o) {
    case pb::RETENTION_OUTCOME_RETAINED: return "retained";
    case pb::RETENTION_OUTCOME_PARTIALLY_RETAINED: return "partially retained";
    case pb::RETENTION_OUTCOME_LOST: return "lost";
    default: return "unspecified";
  }
}

pb::LogEntry AccountLogEntry(int64_t customer_id, absl::string_view actor,
                             absl::string_view description, absl::string_view reason,
                             absl::Time when) {
  pb::LogEntry e;
  e.set_customer_id(customer_id);
  e.set_staff_id(std::string(actor));
  e.set_channel(pb::CHANNEL_SYSTEM);
  e.set_category(pb::LOG_CATEGORY_ACCOUNT);
  e.set_description(std::string(description));
  e.set_summary(std::string(reason));
  *e.mutable_event_time() = ToProtoTime(when);
  return e;
}

std::string OwnerChangeText(absl::string_view from, absl::string_view to) {
  return absl::StrCat("客户经理变更 owner changed: ", from.empty() ? "(none)" : from, " -> ", to);
}

std::string TierChangeText(pb::Tier from, pb::Tier to) {
  return absl::StrCat("服务等级变更 tier changed: ", TierName(from), " -> ", TierName(to));
}

std::string StageChangeText(pb::LifecycleStage from, pb::LifecycleStage to) {
  return absl::StrCat("生命周期变更 lifecycle stage changed: ", StageName(from), " -> ", StageName(to));
}

pb::VolumeChange CompareVolumes(const pb::BusinessVolume& current, const pb::BusinessVolume* previous,
                                int64_t threshold_bp) {
  pb::VolumeChange vc;
  *vc.mutable_current() = current;
  if (!previous) return vc;
  vc.set_has_previous(true);
  vc.set_previous_volume(previous->volume());
  int64_t prev = previous->volume();
  int64_t delta = current.volume() - prev;
  if (prev == 0) {
    // From nothing to something is an unbounded rise; report it as +100% per unit step.
    vc.set_change_bp(delta == 0 ? 0 : (delta > 0 ? 10000 : -10000));
    vc.set_flagged(delta != 0);
    return vc;
  }
  // Basis points, rounded toward zero; computed in long double to avoid overflow.
  long double bp = static_cast<long double>(delta) * 10000.0L / static_cast<long double>(prev);
  vc.set_change_bp(static_cast<int64_t>(bp));
  int64_t mag = vc.change_bp() < 0 ? -vc.change_bp() : vc.change_bp();
  vc.set_flagged(mag > threshold_bp);
  return vc;
}

std::vector<pb::VolumeChange> ComputeVolumeChanges(const std::vector<pb::BusinessVolume>& volumes,
                                                   int64_t threshold_bp) {
  std::vector<pb::VolumeChange> out;
  for (size_t i = 0; i < volumes.size(); ++i) {
    const pb::BusinessVolume* prev = nullptr;
    if (i > 0 && volumes[i - 1].period() == PreviousPeriod(volumes[i].period())) prev = &volumes[i - 1];
    out.push_back(CompareVolumes(volumes[i], prev, threshold_bp));
  }
  return out;
}

std::vector<int64_t> SampleWithSeed(const std::vector<int64_t>& population, size_t k, int64_t seed) {
  std::vector<int64_t> pool = population;
  if (k >= pool.size()) return pool;
  // Partial Fisher-Yates with a fixed engine: reproducible on every platform.
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  for (size_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<size_t> pick(i, pool.size() - 1);
    std::swap(pool[i], pool[pick(rng)]);
  }
  pool.resize(k);
  return pool;
}

pb::SurveyStats ComputeSurveyStats(absl::string_view campaign, int32_t sampled,
                                   const std::vector<int32_t>& counts) {
  pb::SurveyStats s;
  s.set_campaign(std::string(campaign));
  s.set_sampled(sampled);
  int64_t completed = 0, satisfied = 0;
  for (size_t level = 1; level <= 5; ++level) {
    int32_t n = level <= counts.size() ? counts[level - 1] : 0;
    s.add_by_satisfaction(n);
    completed += n;
    if (level >= pb::SATISFACTION_SATISFIED) satisfied += n;
  }
  s.set_completed(static_cast<int32_t>(completed));
  s.set_satisfaction_rate_bp(completed == 0 ? 0 : static_cast<int32_t>(satisfied * 10000 / completed));
  return s;
}

}  // namespace kefu::customers
