#include "domain.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kefu/errors.h"
#include "kefu/validation.h"

namespace kefu::contracts {

std::string ContractNumber(int64_t id) { return absl::StrFormat("CT%010d", id); }

std::string FormatDate(absl::CivilDay day) { return absl::FormatCivilTime(day); }

absl::Status ValidateContractFields(const pb::Contract& c, absl::string_view p) {
  Validator v;
  auto f = [&](const char* name) { return absl::StrCat(p, ".", name); };
  if (c.customer_id() <= 0) v.Add(f("customer_id"), "is required");
  v.Merge(CheckText(f("name"), c.name(), kMaxNameChars, true));
  v.Merge(CheckText(f("our_entity"), c.our_entity(), kMaxShortText, false));
  v.Merge(CheckText(f("customer_party"), c.customer_party(), kMaxShortText, false));
  v.Merge(CheckEnum(f("type"), c.type(), pb::ContractType_IsValid, true));
  if (!c.has_amount()) v.Add(f("amount"), "is required");
  else v.Merge(CheckMoney(f("amount"), c.amount(), {.currency = MoneyRules::Currency::kAlways}));
  v.Merge(CheckText(f("template_id"), c.template_id(), 100, false));
  v.Merge(CheckText(f("document_uri"), c.document_uri(), 500, false));
  v.Merge(CheckId(f("owner_id"), c.owner_id(), kMaxIdChars, false));
  v.Merge(CheckId(f("department_id"), c.department_id(), kMaxIdChars, false));
  if (c.sales_project_id() < 0) v.Add(f("sales_project_id"), "must not be negative");
  auto effective = ParseDate(f("effective_date"), c.effective_date());
  auto expiry = ParseDate(f("expiry_date"), c.expiry_date());
  if (!effective.ok()) v.Merge(effective.status());
  if (!expiry.ok()) v.Merge(expiry.status());
  if (effective.ok() && expiry.ok() && *expiry < *effective) v.Add(f("expiry_date"), "must not be before effective_date");
  return v.Finish();
}

namespace {
const std::set<std::string>& UpdatablePaths() {
  static const auto* paths = new std::set<std::string>{"name",         "our_entity",  "customer_party", "type",
                                                       "amount",       "effective_date", "expiry_date",  "template_id",
                                                       "document_uri", "owner_id",    "department_id"};
  return *paths;
}
}  // namespace

std::vector<std::string> UpdatableFields() { return {UpdatablePaths().begin(), UpdatablePaths().end()}; }

absl::Status ValidateUpdateMask(const std::vector<std::string>& paths) {
  if (paths.empty()) return InvalidField("update_mask", "must name at least one field");
  for (const auto& p : paths)
    if (!UpdatablePaths().count(p)) return InvalidField("update_mask", absl::StrCat("'", p, "' is not an updatable field"));
  return absl::OkStatus();
}

pb::Contract ApplyUpdate(const pb::Contract& current, const pb::Contract& patch, const std::vector<std::string>& paths) {
  pb::Contract out = current;
  for (const auto& p : paths) {
    if (p == "name") out.set_name(patch.name());
    else if (p == "our_entity") out.set_our_entity(patch.our_entity());
    else if (p == "customer_party") out.set_customer_party(patch.customer_party());
    else if (p == "type") out.set_type(patch.type());
    else if (p == "amount") *out.mutable_amount() = patch.amount();
    else if (p == "effective_date") out.set_effective_date(patch.effective_date());
    else if (p == "expiry_date") out.set_expiry_date(patch.expiry_date());
    else if (p == "template_id") out.set_template_id(patch.template_id());
    else if (p == "document_uri") out.set_document_uri(patch.document_uri());
    else if (p == "owner_id") out.set_owner_id(patch.owner_id());
    else if (p == "department_id") out.set_department_id(patch.department_id());
  }
  return out;
}

absl::Status ValidateRiskItems(const google::protobuf::RepeatedPtrField<pb::RiskItem>& items) {
  Validator v;
  if (items.size() > kMaxRiskItems) v.Add("risk_items", absl::StrCat("at most ", kMaxRiskItems, " items"));
  for (int i = 0; i < items.size(); ++i) {
    std::string f = absl::StrCat("risk_items[", i, "]");
    v.Merge(CheckText(f + ".clause", items[i].clause(), kMaxShortText, true));
    v.Merge(CheckEnum(f + ".level", items[i].level(), pb::RiskLevel_IsValid, true));
    v.Merge(CheckText(f + ".note", items[i].note(), kMaxNoteChars, false));
  }
  return v.Finish();
}

absl::StatusOr<pb::ContractStatus> NextStatus(pb::ContractStatus current, Action action) {
  pb::ContractStatus from = current, to;
  bool ok = false;
  switch (action) {
    case Action::kSubmit: to = pb::CONTRACT_STATUS_IN_REVIEW; ok = from == pb::CONTRACT_STATUS_DRAFT; break;
    case Action::kApproveAll: to = pb::CONTRACT_STATUS_APPROVED; ok = from == pb::CONTRACT_STATUS_IN_REVIEW; break;
    case Action::kReject: to = pb::CONTRACT_STATUS_DRAFT; ok = from == pb::CONTRACT_STATUS_IN_REVIEW; break;
    case Action::kSign: to = pb::CONTRACT_STATUS_SIGNED; ok = from == pb::CONTRACT_STATUS_APPROVED; break;
    case Action::kActivate: to = pb::CONTRACT_STATUS_ACTIVE; ok = from == pb::CONTRACT_STATUS_SIGNED; break;
    case Action::kTerminate:
      to = pb::CONTRACT_STATUS_TERMINATED;
      ok = from == pb::CONTRACT_STATUS_ACTIVE || from == pb::CONTRACT_STATUS_SIGNED;
      break;
    case Action::kExpire: to = pb::CONTRACT_STATUS_EXPIRED; ok = from == pb::CONTRACT_STATUS_ACTIVE; break;
    case Action::kSupersede: to = pb::CONTRACT_STATUS_SUPERSEDED; ok = from == pb::CONTRACT_STATUS_ACTIVE; break;
    default: return absl::InternalError("unknown action");
  }
  if (!ok) return IllegalTransition(StatusName(from), StatusName(to));
  return to;
}

std::string StatusName(pb::ContractStatus s) {
  switch (s) {
    case pb::CONTRACT_STATUS_DRAFT: return "draft";
    case pb::CONTRACT_STATUS_IN_REVIEW: return "in review";
    case pb::CONTRACT_STATUS_APPROVED: return "approved";
    case pb::CONTRACT_STATUS_SIGNED: return "signed";
    case pb::CONTRACT_STATUS_ACTIVE: return "active";
    case pb::CONTRACT_STATUS_EXPIRED: return "expired";
    case pb::CONTRACT_STATUS_TERMINATED: return "terminated";
    case pb::CONTRACT_STATUS_SUPERSEDED: return "superseded";
    default: return "unspecified";
  }
}

pb::ApprovalRules DefaultApprovalRules() {
  pb::ApprovalRules r;
  auto* manager = r.add_rules();
  manager->set_min_amount_minor(0);
  manager->set_required_role("department_manager");
  auto* senior = r.add_rules();
  senior->set_min_amount_minor(100'000'000);
  senior->set_required_role("senior_manager");
  return r;
}

absl::Status ValidateApprovalRules(const pb::ApprovalRules& rules) {
  Validator v;
  if (rules.rules_size() == 0) v.Add("rules.rules", "needs at least one rule");
  bool has_zero = false;
  for (int i = 0; i < rules.rules_size(); ++i) {
    std::string f = absl::StrCat("rules.rules[", i, "]");
    if (rules.rules(i).min_amount_minor() < 0) v.Add(f + ".min_amount_minor", "must not be negative");
    has_zero |= rules.rules(i).min_amount_minor() == 0;
    v.Merge(CheckId(f + ".required_role", rules.rules(i).required_role(), 32, true));
  }
  if (rules.rules_size() > 0 && !has_zero) v.Add("rules.rules", "one rule must start at amount 0 so every contract is reviewed");
  return v.Finish();
}

std::vector<pb::Approval> RequiredApprovals(const pb::ApprovalRules& rules, int64_t amount_minor) {
  std::vector<pb::ApprovalRule> sorted(rules.rules().begin(), rules.rules().end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.min_amount_minor() < b.min_amount_minor(); });
  std::vector<pb::Approval> steps;
  std::set<std::string> roles;
  for (const auto& r : sorted) {
    if (amount_minor < r.min_amount_minor() || !roles.insert(r.required_role()).second) continue;
    pb::Approval a;
    a.set_required_role(r.required_role());
    steps.push_back(std::move(a));
  }
  return steps;
}

int NextPendingStep(const std::vector<pb::Approval>& steps) {
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].decision() != pb::DECISION_PASS) return static_cast<int>(i);
  return -1;
}

pb::Entitlement ChooseEntitlement(const std::vector<pb::Contract>& covering) {
  pb::Entitlement e;
  e.set_kind(pb::ENTITLEMENT_KIND_PAID);
  const pb::Contract* best = nullptr;
  for (const auto& c : covering) {
    if (c.type() == pb::CONTRACT_TYPE_SERVICE_CONTRACT) {
      if (!best || best->type() != pb::CONTRACT_TYPE_SERVICE_CONTRACT || c.expiry_date() > best->expiry_date()) best = &c;
    } else if (c.type() == pb::CONTRACT_TYPE_SERVICE_WARRANTY) {
      if (!best || (best->type() == pb::CONTRACT_TYPE_SERVICE_WARRANTY && c.expiry_date() > best->expiry_date()))
        best = &c;
    }
  }
  if (!best) return e;
  e.set_kind(best->type() == pb::CONTRACT_TYPE_SERVICE_CONTRACT ? pb::ENTITLEMENT_KIND_CONTRACT
                                                                 : pb::ENTITLEMENT_KIND_FREE_WARRANTY);
  e.set_contract_id(best->id());
  e.set_contract_number(best->number());
  e.set_expiry_date(best->expiry_date());
  return e;
}

bool IsExpired(absl::CivilDay expiry, absl::CivilDay today) { return today > expiry; }
bool IsEffective(absl::CivilDay effective, absl::CivilDay today) { return today >= effective; }

}  // namespace kefu::contracts
