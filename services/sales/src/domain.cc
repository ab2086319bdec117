#include "domain.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "kefu/errors.h"
#include "kefu/validation.h"

namespace kefu::sales {

std::string ProjectNumber(int64_t id) { return absl::StrFormat("SP%010d", id); }

namespace {

// 10^14 minor units (a trillion yuan): amount x probability stays within BIGINT in SQL.
constexpr int64_t kMaxAmount = 100'000'000'000'000LL;

void CheckAmount(const common::v1::Money& m, const std::string& field, Validator& v, bool currency_optional = false) {
  // Amounts recorded against a project (activity and closing costs) may omit the
  // currency: they are in the project's.
  v.Merge(CheckMoney(field, m,
                     {.max_abs = kMaxAmount,
                      .currency = currency_optional ? MoneyRules::Currency::kOptional : MoneyRules::Currency::kIfAmount}));
}

void CheckDate(const std::string& field, const std::string& text, Validator& v) {
  if (!text.empty()) v.Merge(ParseDate(field, text).status());
}

const std::set<std::string>& UpdatablePaths() {
  static const auto* paths = new std::set<std::string>{
      "name", "owner_id", "department_id", "team", "goal", "category", "customer_contact", "estimated_amount",
      "estimated_margin_bp", "expense_budget", "expected_signing_date", "schedule", "estimated_cost"};
  return *paths;
}

}  // namespace

absl::Status ValidateProjectFields(const pb::Project& p, absl::string_view prefix) {
  Validator v;
  std::string f(prefix);
  v.Merge(CheckText(f + ".name", p.name(), kMaxNameChars, false));
  v.Merge(CheckId(f + ".owner_id", p.owner_id(), kMaxIdChars, false));
  v.Merge(CheckId(f + ".department_id", p.department_id(), kMaxIdChars, false));
  if (p.team_size() > kMaxTeam) v.Add(f + ".team", absl::StrCat("at most ", kMaxTeam, " members"));
  for (int i = 0; i < p.team_size(); ++i) v.Merge(CheckId(absl::StrCat(f, ".team[", i, "]"), p.team(i), kMaxIdChars, true));
  v.Merge(CheckText(f + ".goal", p.goal(), kMaxTextChars, false));
  v.Merge(CheckText(f + ".category", p.category(), 100, false));
  v.Merge(CheckText(f + ".customer_contact", p.customer_contact(), 200, false));
  CheckAmount(p.estimated_amount(), f + ".estimated_amount", v);
  CheckAmount(p.expense_budget(), f + ".expense_budget", v);
  CheckAmount(p.estimated_cost(), f + ".estimated_cost", v);
  if (p.estimated_margin_bp() < -10000 || p.estimated_margin_bp() > 10000)
    v.Add(f + ".estimated_margin_bp", "must be -10000 to 10000");
  CheckDate(f + ".expected_signing_date", p.expected_signing_date(), v);
  v.Merge(CheckText(f + ".schedule", p.schedule(), kMaxTextChars, false));
  for (const auto* m : {&p.expense_budget(), &p.estimated_cost()})
    if (!m->currency_code().empty() && !p.estimated_amount().currency_code().empty() &&
        m->currency_code() != p.estimated_amount().currency_code())
      v.Add(f + ".estimated_amount.currency_code", "all amounts of a project use one currency");
  return v.Finish();
}

absl::Status InitiationCheck(const pb::Project& p) {
  std::vector<Violation> missing;
  auto need = [&](bool ok, const char* field) {
    if (!ok) missing.push_back({absl::StrCat("project.", field), "is required to set up a project"});
  };
  need(!p.name().empty(), "name");
  need(p.customer_id() > 0, "customer_id");
  need(!p.owner_id().empty(), "owner_id");
  need(!p.goal().empty(), "goal");
  need(!p.customer_contact().empty(), "customer_contact");
  need(p.estimated_amount().amount_minor() > 0, "estimated_amount");
  need(!p.expected_signing_date().empty(), "expected_signing_date");
  if (missing.empty()) return absl::OkStatus();
  std::string message = "initiation check failed:";
  for (const auto& m : missing) absl::StrAppend(&message, " ", m.field);
  return MakeError(absl::StatusCode::kInvalidArgument, "INITIATION_CHECK", message, std::move(missing));
}

absl::Status ValidateUpdateMask(const std::vector<std::string>& paths) {
  if (paths.empty()) return InvalidField("update_mask", "must name at least one field");
  for (const auto& p : paths)
    if (!UpdatablePaths().count(p)) return InvalidField("update_mask", absl::StrCat("'", p, "' is not an updatable field"));
  return absl::OkStatus();
}

pb::Project ApplyUpdate(const pb::Project& current, const pb::Project& patch, const std::vector<std::string>& paths) {
  pb::Project out = current;
  for (const auto& p : paths) {
    if (p == "name") out.set_name(patch.name());
    else if (p == "owner_id") out.set_owner_id(patch.owner_id());
    else if (p == "department_id") out.set_department_id(patch.department_id());
    else if (p == "team") *out.mutable_team() = patch.team();
    else if (p == "goal") out.set_goal(patch.goal());
    else if (p == "category") out.set_category(patch.category());
    else if (p == "customer_contact") out.set_customer_contact(patch.customer_contact());
    else if (p == "estimated_amount") *out.mutable_estimated_amount() = patch.estimated_amount();
    else if (p == "estimated_margin_bp") out.set_estimated_margin_bp(patch.estimated_margin_bp());
    else if (p == "expense_budget") *out.mutable_expense_budget() = patch.expense_budget();
    else if (p == "expected_signing_date") out.set_expected_signing_date(patch.expected_signing_date());
    else if (p == "schedule") out.set_schedule(patch.schedule());
    else if (p == "estimated_cost") *out.mutable_estimated_cost() = patch.estimated_cost();
  }
  return out;
}

absl::Status ValidateActivity(const pb::Activity& a) {
  Validator v;
  if (a.project_id() <= 0) v.Add("activity.project_id", "is required");
  v.Merge(CheckEnum("activity.type", a.type(), pb::ActivityType_IsValid, true));
  v.Merge(CheckId("activity.staff_id", a.staff_id(), kMaxIdChars, false));
  v.Merge(CheckText("activity.place", a.place(), 200, false));
  if (a.our_participants_size() > kMaxTeam) v.Add("activity.our_participants", "too many");
  for (int i = 0; i < a.our_participants_size(); ++i)
    v.Merge(CheckId(absl::StrCat("activity.our_participants[", i, "]"), a.our_participants(i), kMaxIdChars, true));
  v.Merge(CheckText("activity.customer_participants", a.customer_participants(), 500, false));
  v.Merge(CheckText("activity.purpose", a.purpose(), kMaxTextChars, true));
  v.Merge(CheckText("activity.result", a.result(), kMaxTextChars, false));
  CheckAmount(a.cost(), "activity.cost", v, true);
  if (a.has_bid()) {
    CheckDate("activity.bid.tender_date", a.bid().tender_date(), v);
    CheckDate("activity.bid.bid_date", a.bid().bid_date(), v);
    v.Merge(CheckId("activity.bid.bid_owner_id", a.bid().bid_owner_id(), kMaxIdChars, false));
    if (a.type() != pb::ACTIVITY_TYPE_BID) v.Add("activity.bid", "only for bid activities");
  }
  if (a.has_approval()) {
    v.Merge(CheckId("activity.approval.approver_id", a.approval().approver_id(), kMaxIdChars, true));
    v.Merge(CheckText("activity.approval.opinion", a.approval().opinion(), kMaxTextChars, false));
    if (a.type() != pb::ACTIVITY_TYPE_APPROVAL) v.Add("activity.approval", "only for approval activities");
  }
  return v.Finish();
}

absl::Status ValidateCompetitors(const google::protobuf::RepeatedPtrField<pb::Competitor>& competitors) {
  Validator v;
  if (competitors.size() > kMaxCompetitors) v.Add("competitors", absl::StrCat("at most ", kMaxCompetitors));
  for (int i = 0; i < competitors.size(); ++i) {
    std::string f = absl::StrCat("competitors[", i, "]");
    v.Merge(CheckText(f + ".name", competitors[i].name(), kMaxNameChars, true));
    v.Merge(CheckText(f + ".strengths", competitors[i].strengths(), kMaxTextChars, false));
    v.Merge(CheckText(f + ".weaknesses", competitors[i].weaknesses(), kMaxTextChars, false));
    v.Merge(CheckText(f + ".service_offered", competitors[i].service_offered(), kMaxTextChars, false));
    CheckAmount(competitors[i].price(), f + ".price", v);
  }
  return v.Finish();
}

absl::Status ValidateClosing(const pb::ClosingSummary& c) {
  Validator v;
  v.Merge(CheckText("closing.reason", c.reason(), kMaxTextChars, true));
  CheckAmount(c.total_cost(), "closing.total_cost", v, true);
  return v.Finish();
}

bool IsClosed(pb::Stage s) {
  return s == pb::STAGE_WON || s == pb::STAGE_LOST || s == pb::STAGE_TERMINATED;
}

bool IsStageChangeAllowed(pb::Stage from, pb::Stage to) {
  if (IsClosed(from) || from == to || to == pb::STAGE_UNSPECIFIED || from == pb::STAGE_UNSPECIFIED) return false;
  if (to == pb::STAGE_LOST || to == pb::STAGE_TERMINATED) return true;
  if (to == pb::STAGE_WON) return from == pb::STAGE_IMPLEMENTATION || from == pb::STAGE_CONTRACT;
  int f = static_cast<int>(from), t = static_cast<int>(to);
  if (t == f + 1 || t == f - 1) return true;
  return from == pb::STAGE_PROPOSAL && to == pb::STAGE_NEGOTIATION;  // no tender
}

absl::Status CheckStageChange(pb::Stage from, pb::Stage to) {
  if (IsStageChangeAllowed(from, to)) return absl::OkStatus();
  return IllegalTransition(StageName(from), StageName(to));
}

std::string StageName(pb::Stage s) {
  switch (s) {
    case pb::STAGE_INITIATION: return "initiation";
    case pb::STAGE_PROPOSAL: return "proposal";
    case pb::STAGE_BIDDING: return "bidding";
    case pb::STAGE_NEGOTIATION: return "negotiation";
    case pb::STAGE_CONTRACT: return "contract";
    case pb::STAGE_IMPLEMENTATION: return "implementation";
    case pb::STAGE_WON: return "won";
    case pb::STAGE_LOST: return "lost";
    case pb::STAGE_TERMINATED: return "terminated";
    default: return "unspecified";
  }
}

int StageRank(pb::Stage s) {
  if (s == pb::STAGE_LOST || s == pb::STAGE_TERMINATED || s == pb::STAGE_UNSPECIFIED) return 0;
  return static_cast<int>(s);  // initiation 1 .. implementation 6, won 7
}

pb::StageProbabilities DefaultProbabilities() {
  pb::StageProbabilities p;
  const std::pair<pb::Stage, int32_t> defaults[] = {
      {pb::STAGE_INITIATION, 1000}, {pb::STAGE_PROPOSAL, 2000},       {pb::STAGE_BIDDING, 4000},
      {pb::STAGE_NEGOTIATION, 6000}, {pb::STAGE_CONTRACT, 8000},      {pb::STAGE_IMPLEMENTATION, 9000},
      {pb::STAGE_WON, 10000},        {pb::STAGE_LOST, 0},             {pb::STAGE_TERMINATED, 0}};
  for (const auto& [stage, bp] : defaults) {
    auto* s = p.add_stages();
    s->set_stage(stage);
    s->set_probability_bp(bp);
  }
  return p;
}

absl::Status ValidateProbabilities(const pb::StageProbabilities& p) {
  Validator v;
  std::set<int> seen;
  for (int i = 0; i < p.stages_size(); ++i) {
    std::string f = absl::StrCat("probabilities.stages[", i, "]");
    v.Merge(CheckEnum(f + ".stage", p.stages(i).stage(), pb::Stage_IsValid, true));
    if (p.stages(i).probability_bp() < 0 || p.stages(i).probability_bp() > 10000) v.Add(f + ".probability_bp", "must be 0 to 10000");
    if (!seen.insert(p.stages(i).stage()).second) v.Add(f + ".stage", "listed twice");
  }
  for (int s = pb::STAGE_INITIATION; s <= pb::STAGE_TERMINATED; ++s)
    if (!seen.count(s)) v.Add("probabilities.stages", absl::StrCat("needs every stage; missing ", StageName(static_cast<pb::Stage>(s))));
  return v.Finish();
}

std::map<int, int32_t> ProbabilityByStage(const pb::StageProbabilities& p) {
  std::map<int, int32_t> out;
  for (const auto& s : p.stages()) out[s.stage()] = s.probability_bp();
  return out;
}

int64_t Weighted(int64_t amount_minor, int32_t probability_bp) {
  return static_cast<int64_t>(static_cast<__int128>(amount_minor) * probability_bp / 10000);
}

}  // namespace kefu::sales
