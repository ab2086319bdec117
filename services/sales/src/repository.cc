#include "repository.h"

#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "kefu/clients/customers_client.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/validation.h"
#include "kefu/outbox.h"

// The service's migrations (generated from migrations/).
const std::vector<kefu::db::Migration>& SalesMigrations();

namespace kefu::sales {

using db::InList;
using db::Param;
using db::Row;
using db::Session;

namespace {

// The idempotency scope of CreateProject.
constexpr char kCreateScope[] = "sales.create";

constexpr char kColumns[] =
    "id, name, customer_id, owner_id, department_id, goal, category, customer_contact, currency, "
    "estimated_amount_minor, estimated_margin_bp, expense_budget_minor, expected_signing_date, schedule, "
    "estimated_cost_minor, actual_cost_minor, stage, closing_reason, closing_cost_minor, contract_id, create_time, "
    "update_time, close_time, version, customer_check";

void SetMoney(common::v1::Money* m, int64_t minor, const std::string& currency) {
  m->set_amount_minor(minor);
  m->set_currency_code(currency);
}

pb::Project FromRow(const Row& r) {
  pb::Project p;
  p.set_id(r.Int(0));
  p.set_number(ProjectNumber(r.Int(0)));
  p.set_name(r.Str(1));
  p.set_customer_id(r.Int(2));
  p.set_owner_id(r.Str(3));
  p.set_department_id(r.Str(4));
  p.set_goal(r.Str(5));
  p.set_category(r.Str(6));
  p.set_customer_contact(r.Str(7));
  const std::string& cur = r.Str(8);
  SetMoney(p.mutable_estimated_amount(), r.Int(9), cur);
  p.set_estimated_margin_bp(static_cast<int32_t>(r.Int(10)));
  SetMoney(p.mutable_expense_budget(), r.Int(11), cur);
  p.set_expected_signing_date(r.Str(12));
  p.set_schedule(r.Str(13));
  SetMoney(p.mutable_estimated_cost(), r.Int(14), cur);
  SetMoney(p.mutable_actual_cost(), r.Int(15), cur);
  p.set_stage(static_cast<pb::Stage>(r.Int(16)));
  if (!r.Str(17).empty()) {
    p.mutable_closing()->set_reason(r.Str(17));
    SetMoney(p.mutable_closing()->mutable_total_cost(), r.Int(18), cur);
  }
  p.set_contract_id(r.Int(19));
  *p.mutable_create_time() = ToProtoTime(r.Time(20));
  *p.mutable_update_time() = ToProtoTime(r.Time(21));
  if (!r.IsNull(22)) *p.mutable_close_time() = ToProtoTime(r.Time(22));
  p.set_version(r.Int(23));
  p.set_customer_check(static_cast<pb::CustomerCheck>(r.Int(24)));
  return p;
}

// Team and competitors of a page of projects in one round trip each.
absl::Status LoadChildren(Session& s, const std::vector<pb::Project*>& projects) {
  if (projects.empty()) return absl::OkStatus();
  std::map<int64_t, pb::Project*> by_id;
  std::vector<int64_t> ids;
  for (auto* p : projects) {
    by_id[p->id()] = p;
    ids.push_back(p->id());
  }
  std::vector<Param> params;
  std::string in = InList(params, ids);
  KEFU_ASSIGN_OR_RETURN(auto team, s.Query(absl::StrCat("SELECT project_id, staff_id FROM project_team WHERE project_id "
                                                        "IN (", in, ") ORDER BY project_id, staff_id"),
                                           params));
  for (const auto& r : team) by_id[r.Int(0)]->add_team(r.Str(1));
  KEFU_ASSIGN_OR_RETURN(auto comps, s.Query(absl::StrCat("SELECT project_id, name, strengths, weaknesses, price_minor, "
                                                         "price_currency, service_offered FROM competitors WHERE "
                                                         "project_id IN (", in, ") ORDER BY project_id, position"),
                                            params));
  for (const auto& r : comps) {
    auto* c = by_id[r.Int(0)]->add_competitors();
    c->set_name(r.Str(1));
    c->set_strengths(r.Str(2));
    c->set_weaknesses(r.Str(3));
    SetMoney(c->mutable_price(), r.Int(4), r.Str(5));
    c->set_service_offered(r.Str(6));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::Project>> Load(Session& s, int64_t id, bool for_update) {
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kColumns, " FROM projects WHERE id = ?",
                                                          for_update ? " FOR UPDATE" : ""),
                                             {id}));
  if (!row) return std::optional<pb::Project>();
  pb::Project p = FromRow(*row);
  KEFU_RETURN_IF_ERROR(LoadChildren(s, {&p}));
  return std::optional<pb::Project>(std::move(p));
}

absl::Status WriteTeam(Session& s, const pb::Project& p) {
  KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM project_team WHERE project_id = ?", {p.id()}).status());
  for (const auto& m : p.team())
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT IGNORE INTO project_team (project_id, staff_id) VALUES (?, ?)", {p.id(), m}).status());
  return absl::OkStatus();
}

absl::Status WriteCompetitors(Session& s, const pb::Project& p) {
  KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM competitors WHERE project_id = ?", {p.id()}).status());
  for (int i = 0; i < p.competitors_size(); ++i) {
    const auto& c = p.competitors(i);
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO competitors (project_id, position, name, strengths, weaknesses, "
                                "price_minor, price_currency, service_offered) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                {p.id(), i, c.name(), c.strengths(), c.weaknesses(), c.price().amount_minor(),
                                 c.price().currency_code(), c.service_offered()})
                             .status());
  }
  return absl::OkStatus();
}

absl::Status EnqueueLog(Session& s, const pb::Project& p, const std::string& actor, const std::string& line,
                        absl::Time now, const std::string& unique) {
  customers::v1::LogEntry e;
  e.set_customer_id(p.customer_id());
  *e.mutable_event_time() = ToProtoTime(now);
  e.set_staff_id(actor.empty() ? "system" : actor);
  e.set_department_id(p.department_id());
  e.set_channel(customers::v1::CHANNEL_SYSTEM);
  e.set_category(customers::v1::LOG_CATEGORY_SALES);
  e.set_description(Utf8Prefix(absl::StrCat("销售项目 ", p.number(), " ", p.name(), ": ", line), 4000));
  e.set_reference(absl::StrCat("sales/", p.number()));
  return clients::EnqueueCustomerLog(s, e, unique, now);
}

absl::Status InsertStageChange(Session& s, int64_t project_id, const pb::StageChange& c, absl::Time now) {
  return s.Exec("INSERT INTO stage_changes (project_id, from_stage, to_stage, reason, changed_by, change_time) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                {project_id, static_cast<int>(c.from_stage()), static_cast<int>(c.to_stage()), c.reason(),
                 c.changed_by(), ToSqlTime(now)})
      .status();
}


// An open project's share of pipeline_totals; closed projects have none.
struct PipelineCell {
  std::string currency, owner_id, department_id, signing_month;  // month as "YYYY-MM-01"
  int stage = 0;
  int64_t amount_minor = 0;
  auto Key() const { return std::tie(currency, signing_month, stage, owner_id, department_id); }
};

std::optional<PipelineCell> CellOf(const pb::Project& p) {
  if (p.stage() == pb::STAGE_UNSPECIFIED || IsClosed(p.stage())) return std::nullopt;
  absl::CivilDay day;
  if (!absl::ParseCivilTime(p.expected_signing_date(), &day)) return std::nullopt;
  return PipelineCell{p.estimated_amount().currency_code(), p.owner_id(), p.department_id(),
                      absl::FormatCivilTime(absl::CivilDay(absl::CivilMonth(day))), static_cast<int>(p.stage()),
                      p.estimated_amount().amount_minor()};
}

absl::Status AddToPipeline(Session& s, const PipelineCell& c, int sign) {
  return s.Exec("INSERT INTO pipeline_totals (currency, stage, owner_id, department_id, signing_month, project_count, "
                "amount_minor) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON DUPLICATE KEY UPDATE project_count = project_count + ?, amount_minor = amount_minor + ?",
                {c.currency, c.stage, c.owner_id, c.department_id, c.signing_month, sign, sign * c.amount_minor, sign,
                 sign * c.amount_minor})
      .status();
}

// Moves a project's share from its cell before the write to its cell after it, in the
// write's transaction. Cells are locked in key order so two writes cannot deadlock.
absl::Status MovePipelineShare(Session& s, const std::optional<PipelineCell>& before,
                               const std::optional<PipelineCell>& after) {
  if (before && after && before->Key() == after->Key()) {
    if (before->amount_minor == after->amount_minor) return absl::OkStatus();
    PipelineCell delta = *after;
    delta.amount_minor -= before->amount_minor;
    // The count is unchanged: add the amount's difference with a count of zero.
    return s.Exec("UPDATE pipeline_totals SET amount_minor = amount_minor + ? WHERE currency = ? AND "
                  "signing_month = ? AND stage = ? AND owner_id = ? AND department_id = ?",
                  {delta.amount_minor, delta.currency, delta.signing_month, delta.stage, delta.owner_id,
                   delta.department_id})
        .status();
  }
  if (before && after && after->Key() < before->Key()) {
    KEFU_RETURN_IF_ERROR(AddToPipeline(s, *after, +1));
    return AddToPipeline(s, *before, -1);
  }
  if (before) KEFU_RETURN_IF_ERROR(AddToPipeline(s, *before, -1));
  if (after) KEFU_RETURN_IF_ERROR(AddToPipeline(s, *after, +1));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<pb::Project> Repository::Create(const pb::Project& input, const IdempotencyKey& key,
                                               const std::string& actor) {
  absl::Time now = clock_->Now();
  int64_t replayed = 0;
  auto created = pool_->InTransaction<pb::Project>([&](Session& s) -> absl::StatusOr<pb::Project> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, kCreateScope, key.request_id, key.fingerprint));
      if (existing) {
        (void)absl::SimpleAtoi(*existing, &replayed);
        return pb::Project();
      }
    }
    pb::Project p = input;
    if (p.customer_check() == pb::CUSTOMER_CHECK_UNSPECIFIED) p.set_customer_check(pb::CUSTOMER_CHECK_CONFIRMED);
    const std::string currency = p.estimated_amount().currency_code();
    KEFU_ASSIGN_OR_RETURN(
        auto ins,
        s.ExecInsert("INSERT INTO projects (name, customer_id, owner_id, department_id, goal, category, "
                     "customer_contact, currency, estimated_amount_minor, estimated_margin_bp, expense_budget_minor, "
                     "expected_signing_date, schedule, estimated_cost_minor, stage, furthest_stage, create_time, "
                     "update_time, version, customer_check) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                     {p.name(), p.customer_id(), p.owner_id(), p.department_id(), p.goal(), p.category(),
                      p.customer_contact(), currency, p.estimated_amount().amount_minor(), p.estimated_margin_bp(),
                      p.expense_budget().amount_minor(), p.expected_signing_date(), p.schedule(),
                      p.estimated_cost().amount_minor(), static_cast<int>(pb::STAGE_INITIATION),
                      StageRank(pb::STAGE_INITIATION), ToSqlTime(now), ToSqlTime(now),
                      static_cast<int>(p.customer_check())}));
    p.set_id(ins.last_insert_id);
    p.set_number(ProjectNumber(p.id()));
    p.set_stage(pb::STAGE_INITIATION);
    p.set_version(1);
    SetMoney(p.mutable_actual_cost(), 0, currency);
    *p.mutable_create_time() = ToProtoTime(now);
    *p.mutable_update_time() = ToProtoTime(now);
    KEFU_RETURN_IF_ERROR(MovePipelineShare(s, std::nullopt, CellOf(p)));
    KEFU_RETURN_IF_ERROR(WriteTeam(s, p));
    KEFU_RETURN_IF_ERROR(WriteCompetitors(s, p));
    pb::StageChange initiation;
    initiation.set_to_stage(pb::STAGE_INITIATION);
    initiation.set_reason("立项 initiated");
    initiation.set_changed_by(actor);
    KEFU_RETURN_IF_ERROR(InsertStageChange(s, p.id(), initiation, now));
    KEFU_RETURN_IF_ERROR(EnqueueLog(s, p, actor, "立项 project initiated", now, absl::StrCat("sales.", p.id(), ".v1")));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, kCreateScope, key.request_id, absl::StrCat(p.id())));
    return p;
  });
  if (!created.ok() || replayed == 0) return created;
  return Get(replayed);
}

absl::StatusOr<std::optional<pb::Project>> Repository::CreatedBy(const IdempotencyKey& key) {
  if (key.request_id.empty()) return std::optional<pb::Project>();
  int64_t id = 0;
  {
    KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
    KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT fingerprint, resource_id FROM idempotency_keys "
                                               "WHERE scope = ? AND request_id = ?",
                                               {kCreateScope, key.request_id}));
    // Unknown, still in flight, or another request's id: Create decides.
    if (!row || row->Uint(0) != key.fingerprint || !absl::SimpleAtoi(row->Str(1), &id) || id <= 0)
      return std::optional<pb::Project>();
  }
  KEFU_ASSIGN_OR_RETURN(auto p, Get(id));
  return std::optional<pb::Project>(std::move(p));
}

absl::StatusOr<pb::Project> Repository::Get(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto p, Load(s, id, false));
  if (!p) return NotFound("project", absl::StrCat(id));
  return *p;
}

absl::StatusOr<pb::Project> Repository::Mutate(int64_t id, int64_t expected_version, const std::string& actor,
                                               absl::string_view scope, const IdempotencyKey& key,
                                               const Decide& decide) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Project>(*pool_, scope, key, [&](Session& s) -> absl::StatusOr<pb::Project> {
    KEFU_ASSIGN_OR_RETURN(auto current, Load(s, id, true));
    if (!current) return NotFound("project", absl::StrCat(id));
    if (expected_version != 0 && expected_version != current->version())
      return StaleVersion(expected_version, current->version());
    KEFU_ASSIGN_OR_RETURN(Change ch, decide(*current));
    pb::Project& p = ch.updated;
    p.set_id(id);
    p.set_number(current->number());
    p.set_version(current->version() + 1);
    *p.mutable_create_time() = current->create_time();
    *p.mutable_update_time() = ToProtoTime(now);
    if (IsClosed(p.stage()) && !IsClosed(current->stage())) *p.mutable_close_time() = ToProtoTime(now);
    const std::string& currency = p.estimated_amount().currency_code();
    KEFU_RETURN_IF_ERROR(
        s.Exec("UPDATE projects SET name = ?, owner_id = ?, department_id = ?, goal = ?, category = ?, "
               "customer_contact = ?, currency = ?, estimated_amount_minor = ?, estimated_margin_bp = ?, "
               "expense_budget_minor = ?, expected_signing_date = ?, schedule = ?, estimated_cost_minor = ?, stage = ?, "
               "furthest_stage = GREATEST(furthest_stage, ?), closing_reason = ?, closing_cost_minor = ?, "
               "update_time = ?, close_time = ?, version = ? WHERE id = ?",
               {p.name(), p.owner_id(), p.department_id(), p.goal(), p.category(), p.customer_contact(), currency,
                p.estimated_amount().amount_minor(), p.estimated_margin_bp(), p.expense_budget().amount_minor(),
                p.expected_signing_date(), p.schedule(), p.estimated_cost().amount_minor(), static_cast<int>(p.stage()),
                StageRank(p.stage()), p.closing().reason(), p.closing().total_cost().amount_minor(), ToSqlTime(now),
                p.has_close_time() ? Param(ToSqlTime(FromProtoTime(p.close_time()))) : Param(nullptr), p.version(), id})
            .status());
    KEFU_RETURN_IF_ERROR(MovePipelineShare(s, CellOf(*current), CellOf(p)));
    if (ch.team_changed) KEFU_RETURN_IF_ERROR(WriteTeam(s, p));
    if (ch.competitors_changed) KEFU_RETURN_IF_ERROR(WriteCompetitors(s, p));
    if (ch.stage_change) KEFU_RETURN_IF_ERROR(InsertStageChange(s, id, *ch.stage_change, now));
    for (size_t i = 0; i < ch.log.size(); ++i)
      KEFU_RETURN_IF_ERROR(EnqueueLog(s, p, actor, ch.log[i], now, absl::StrCat("sales.", id, ".v", p.version(), ".", i)));
    if (ch.draft_request)
      KEFU_RETURN_IF_ERROR(outbox::Enqueue(s, kDraftContractTarget, absl::StrCat("sales.win.", id), *ch.draft_request, now));
    return p;
  });
}

absl::StatusOr<std::vector<pb::Project>> Repository::List(const ListFilter& f, int page_size, int64_t after_id,
                                                          bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM projects WHERE id > ?");
  if (f.customer_id > 0) {
    sql += " AND customer_id = ?";
    params.emplace_back(f.customer_id);
  }
  if (f.stage != pb::STAGE_UNSPECIFIED) {
    sql += " AND stage = ?";
    params.emplace_back(static_cast<int>(f.stage));
  }
  if (!f.owner_id.empty()) {
    sql += " AND owner_id = ?";
    params.emplace_back(f.owner_id);
  }
  if (!f.department_id.empty()) {
    sql += " AND department_id = ?";
    params.emplace_back(f.department_id);
  }
  if (f.customer_check != pb::CUSTOMER_CHECK_UNSPECIFIED) {
    sql += " AND customer_check = ?";
    params.emplace_back(static_cast<int>(f.customer_check));
  }
  if (f.open_only) sql += " AND stage < 7";
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.resize(page_size);
  std::vector<pb::Project> out;
  for (const auto& r : rows) out.push_back(FromRow(r));
  std::vector<pb::Project*> page;
  for (auto& p : out) page.push_back(&p);
  KEFU_RETURN_IF_ERROR(LoadChildren(s, page));
  return out;
}

absl::StatusOr<std::vector<pb::StageChange>> Repository::StageChanges(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto exists, s.QueryOne("SELECT id FROM projects WHERE id = ?", {id}));
  if (!exists) return NotFound("project", absl::StrCat(id));
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT from_stage, to_stage, reason, changed_by, change_time FROM stage_changes "
                                           "WHERE project_id = ? ORDER BY id",
                                           {id}));
  std::vector<pb::StageChange> out;
  for (const auto& r : rows) {
    pb::StageChange c;
    c.set_from_stage(static_cast<pb::Stage>(r.Int(0)));
    c.set_to_stage(static_cast<pb::Stage>(r.Int(1)));
    c.set_reason(r.Str(2));
    c.set_changed_by(r.Str(3));
    *c.mutable_change_time() = ToProtoTime(r.Time(4));
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<pb::Activity> Repository::AddActivity(const pb::Activity& input, const IdempotencyKey& key,
                                                     const std::string& actor) {
  absl::Time now = clock_->Now();
  int64_t replayed = 0;
  auto added = pool_->InTransaction<pb::Activity>([&](Session& s) -> absl::StatusOr<pb::Activity> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, "sales.activity", key.request_id, key.fingerprint));
      if (existing) {
        (void)absl::SimpleAtoi(*existing, &replayed);
        return pb::Activity();
      }
    }
    KEFU_ASSIGN_OR_RETURN(auto project, Load(s, input.project_id(), true));
    if (!project) return NotFound("project", absl::StrCat(input.project_id()));
    if (IsClosed(project->stage()))
      return MakeError(absl::StatusCode::kFailedPrecondition, "PROJECT_CLOSED",
                       absl::StrCat("project ", project->number(), " is ", StageName(project->stage())));
    if (input.cost().amount_minor() > 0 && !input.cost().currency_code().empty() &&
        input.cost().currency_code() != project->estimated_amount().currency_code())
      return InvalidField("activity.cost.currency_code", "must be the project's currency");
    pb::Activity a = input;
    if (!a.has_time()) *a.mutable_time() = ToProtoTime(now);
    if (a.staff_id().empty()) a.set_staff_id(actor);
    a.mutable_cost()->set_currency_code(project->estimated_amount().currency_code());
    pb::Activity details;  // bid and approval details stored as one small message
    if (a.has_bid()) *details.mutable_bid() = a.bid();
    if (a.has_approval()) *details.mutable_approval() = a.approval();
    KEFU_ASSIGN_OR_RETURN(
        auto ins, s.ExecInsert("INSERT INTO activities (project_id, type, activity_time, place, our_participants, "
                               "customer_participants, purpose, result, cost_minor, details, staff_id) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               {a.project_id(), static_cast<int>(a.type()), ToSqlTime(FromProtoTime(a.time())), a.place(),
                                absl::StrJoin(a.our_participants(), ","), a.customer_participants(), a.purpose(),
                                a.result(), a.cost().amount_minor(), details.SerializeAsString(), a.staff_id()}));
    a.set_id(ins.last_insert_id);
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE projects SET actual_cost_minor = actual_cost_minor + ?, version = version + 1, "
                                "update_time = ? WHERE id = ?",
                                {a.cost().amount_minor(), ToSqlTime(now), a.project_id()})
                             .status());
    KEFU_RETURN_IF_ERROR(EnqueueLog(s, *project, actor,
                                    absl::StrCat(pb::ActivityType_Name(a.type()).substr(14), ": ", a.purpose(),
                                                 a.result().empty() ? "" : " → ", a.result()),
                                    now, absl::StrCat("sales.activity.", a.id())));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "sales.activity", key.request_id, absl::StrCat(a.id())));
    return a;
  });
  if (!added.ok() || replayed == 0) return added;
  bool more = false;
  KEFU_ASSIGN_OR_RETURN(auto list, ListActivities(input.project_id(), 500, replayed - 1, &more));
  for (auto& a : list)
    if (a.id() == replayed) return a;
  return absl::InternalError("replayed activity vanished");
}

absl::StatusOr<std::vector<pb::Activity>> Repository::ListActivities(int64_t project_id, int page_size, int64_t after_id,
                                                                     bool* more) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto project, s.QueryOne("SELECT currency FROM projects WHERE id = ?", {project_id}));
  if (!project) return NotFound("project", absl::StrCat(project_id));
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id, project_id, type, activity_time, place, our_participants, "
                                           "customer_participants, purpose, result, cost_minor, details, staff_id "
                                           "FROM activities WHERE project_id = ? AND id > ? ORDER BY id LIMIT ?",
                                           {project_id, after_id, page_size + 1}));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.resize(page_size);
  std::vector<pb::Activity> out;
  for (const auto& r : rows) {
    pb::Activity a;
    if (!r.IsNull(10)) a.ParseFromString(r.Str(10));
    a.set_id(r.Int(0));
    a.set_project_id(r.Int(1));
    a.set_type(static_cast<pb::ActivityType>(r.Int(2)));
    *a.mutable_time() = ToProtoTime(r.Time(3));
    a.set_place(r.Str(4));
    for (absl::string_view m : absl::StrSplit(r.Str(5), ',', absl::SkipEmpty())) a.add_our_participants(std::string(m));
    a.set_customer_participants(r.Str(6));
    a.set_purpose(r.Str(7));
    a.set_result(r.Str(8));
    SetMoney(a.mutable_cost(), r.Int(9), project->Str(0));
    a.set_staff_id(r.Str(11));
    out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<pb::ActionPlan> Repository::AddActionPlan(const pb::ActionPlan& plan, const IdempotencyKey& key) {
  return IdempotentTransaction<pb::ActionPlan>(
      *pool_, "sales.AddActionPlan", key, [&](Session& s) -> absl::StatusOr<pb::ActionPlan> {
        KEFU_ASSIGN_OR_RETURN(auto project, s.QueryOne("SELECT stage FROM projects WHERE id = ?", {plan.project_id()}));
        if (!project) return NotFound("project", absl::StrCat(plan.project_id()));
        KEFU_ASSIGN_OR_RETURN(auto ins, s.ExecInsert("INSERT INTO action_plans (project_id, period, plan, outcome, remedial_plan) "
                                                     "VALUES (?, ?, ?, ?, ?)",
                                                     {plan.project_id(), plan.period(), plan.plan(), plan.outcome(),
                                                      plan.remedial_plan()}));
        pb::ActionPlan out = plan;
        out.set_id(ins.last_insert_id);
        return out;
      });
}

absl::StatusOr<pb::ActionPlan> Repository::UpdateActionPlanOutcome(int64_t plan_id, const std::string& outcome,
                                                                   const std::string& remedial,
                                                                   const IdempotencyKey& key) {
  return IdempotentTransaction<pb::ActionPlan>(
      *pool_, "sales.UpdateActionPlanOutcome", key, [&](Session& s) -> absl::StatusOr<pb::ActionPlan> {
        KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT id, project_id, period, plan FROM action_plans WHERE id = ? FOR UPDATE",
                                                   {plan_id}));
        if (!row) return NotFound("action plan", absl::StrCat(plan_id));
        KEFU_RETURN_IF_ERROR(s.Exec("UPDATE action_plans SET outcome = ?, remedial_plan = ? WHERE id = ?",
                                    {outcome, remedial, plan_id})
                                 .status());
        pb::ActionPlan p;
        p.set_id(row->Int(0));
        p.set_project_id(row->Int(1));
        p.set_period(row->Str(2));
        p.set_plan(row->Str(3));
        p.set_outcome(outcome);
        p.set_remedial_plan(remedial);
        return p;
      });
}

absl::StatusOr<std::vector<pb::ActionPlan>> Repository::ListActionPlans(int64_t project_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id, project_id, period, plan, outcome, remedial_plan FROM action_plans "
                                           "WHERE project_id = ? ORDER BY period, id",
                                           {project_id}));
  std::vector<pb::ActionPlan> out;
  for (const auto& r : rows) {
    pb::ActionPlan p;
    p.set_id(r.Int(0));
    p.set_project_id(r.Int(1));
    p.set_period(r.Str(2));
    p.set_plan(r.Str(3));
    p.set_outcome(r.Str(4));
    p.set_remedial_plan(r.Str(5));
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<pb::StageProbabilities> Repository::SaveStageProbabilities(const pb::StageProbabilities& p,
                                                                          const IdempotencyKey& key) {
  // Saved in the transaction that claims the request id.
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::StageProbabilities>(
      *pool_, "sales.UpdateStageProbabilities", key, [&](Session& s) -> absl::StatusOr<pb::StageProbabilities> {
        return db::SaveSetting(s, kStageProbabilitiesSetting, p, now);
      });
}

absl::StatusOr<std::vector<PendingCustomerCheck>> Repository::PendingCustomerChecks(int limit) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id, customer_id FROM projects WHERE customer_check = ? "
                                           "ORDER BY id LIMIT ?",
                                           {static_cast<int>(pb::CUSTOMER_CHECK_PENDING), limit}));
  std::vector<PendingCustomerCheck> out;
  for (const auto& r : rows) out.push_back({r.Int(0), r.Int(1)});
  return out;
}

absl::StatusOr<bool> Repository::ResolveCustomerCheck(int64_t project_id, pb::CustomerCheck check) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  // Conditional: of two replicas answering the same project, one changes it.
  KEFU_ASSIGN_OR_RETURN(auto r, s.Exec("UPDATE projects SET customer_check = ? WHERE id = ? AND customer_check = ?",
                                       {static_cast<int>(check), project_id,
                                        static_cast<int>(pb::CUSTOMER_CHECK_PENDING)}));
  return r.affected_rows == 1;
}

absl::StatusOr<CustomerCheckCounts> Repository::CountCustomerChecks() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT SUM(customer_check = ?), SUM(customer_check = ? AND stage < 7) "
                                             "FROM projects WHERE customer_check IN (?, ?)",
                                             {static_cast<int>(pb::CUSTOMER_CHECK_PENDING),
                                              static_cast<int>(pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND),
                                              static_cast<int>(pb::CUSTOMER_CHECK_PENDING),
                                              static_cast<int>(pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND)}));
  CustomerCheckCounts c;
  if (row) {
    c.pending = row->Int(0);
    c.open_not_found = row->Int(1);
  }
  return c;
}

absl::Status Repository::SetContractId(int64_t project_id, int64_t contract_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  return s.Exec("UPDATE projects SET contract_id = ? WHERE id = ?", {contract_id, project_id}).status();
}

absl::StatusOr<std::vector<pb::PipelineRow>> Repository::Pipeline(pb::GroupBy group_by, const PipelineFilter& f,
                                                                  const std::map<int, int32_t>& probability) {
  // Whole months come from pipeline_totals; the days of a month the range cuts through
  // come from projects, through the (stage, currency, expected_signing_date) index.
  std::optional<absl::CivilDay> from, to;
  absl::CivilDay day;
  if (f.signing_from && absl::ParseCivilTime(*f.signing_from, &day)) from = day;
  if (f.signing_to && absl::ParseCivilTime(*f.signing_to, &day)) to = day;
  std::optional<absl::CivilMonth> first_whole, last_whole;
  if (from) first_whole = absl::CivilDay(absl::CivilMonth(*from)) == *from ? absl::CivilMonth(*from)
                                                                         : absl::CivilMonth(*from) + 1;
  if (to) last_whole = absl::CivilMonth(*to + 1) != absl::CivilMonth(*to) ? absl::CivilMonth(*to)
                                                                        : absl::CivilMonth(*to) - 1;
  std::vector<std::pair<absl::CivilDay, absl::CivilDay>> partial_days;
  if (from && to && absl::CivilMonth(*from) == absl::CivilMonth(*to)) {
    if (*first_whole > *last_whole) partial_days.emplace_back(*from, *to);
  } else {
    if (from && absl::CivilMonth(*from) != *first_whole)
      partial_days.emplace_back(*from, absl::CivilDay(absl::CivilMonth(*from) + 1) - 1);
    if (to && absl::CivilMonth(*to) != *last_whole) partial_days.emplace_back(absl::CivilDay(absl::CivilMonth(*to)), *to);
  }
  bool whole_months = !(first_whole && last_whole && *first_whole > *last_whole);

  const char* totals_key = "stage";
  const char* projects_key = "stage";
  switch (group_by) {
    case pb::GROUP_BY_OWNER: totals_key = projects_key = "owner_id"; break;
    case pb::GROUP_BY_DEPARTMENT: totals_key = projects_key = "department_id"; break;
    case pb::GROUP_BY_SIGNING_MONTH:
      totals_key = "DATE_FORMAT(signing_month, '%Y-%m')";
      projects_key = "DATE_FORMAT(expected_signing_date, '%Y-%m')";
      break;
    default: break;
  }
  auto filters = [&](std::string* sql, std::vector<Param>* params) {
    if (!f.owner_id.empty()) {
      *sql += " AND owner_id = ?";
      params->emplace_back(f.owner_id);
    }
    if (!f.department_id.empty()) {
      *sql += " AND department_id = ?";
      params->emplace_back(f.department_id);
    }
  };
  // Ids compare as the columns do (case-insensitively): one row per owner or department
  // whichever source spelled it, shown as first seen, in that order of comparison.
  struct Cells {
    std::string shown;
    std::map<int, std::pair<int64_t, int64_t>> by_stage;  // stage -> (count, amount)
  };
  std::map<std::string, Cells> cells;
  auto add = [&](const std::vector<Row>& rows) {
    for (const auto& r : rows) {
      Cells& c = cells[absl::AsciiStrToLower(r.Str(0))];
      if (c.shown.empty()) c.shown = r.Str(0);
      auto& cell = c.by_stage[static_cast<int>(r.Int(1))];
      cell.first += r.Int(2);
      cell.second += r.Int(3);
    }
  };
  // One snapshot for both sources: a project moved between a whole month and a cut one
  // meanwhile is counted once.
  auto read = [&](Session& s) -> absl::StatusOr<bool> {
    cells.clear();
    if (whole_months) {
      std::vector<Param> params{f.currency};
      std::string sql = absl::StrCat("SELECT ", totals_key, ", stage, SUM(project_count), SUM(amount_minor) "
                                     "FROM pipeline_totals WHERE currency = ?");
      if (first_whole) {
        sql += " AND signing_month >= ?";
        params.emplace_back(absl::FormatCivilTime(absl::CivilDay(*first_whole)));
      }
      if (last_whole) {
        sql += " AND signing_month <= ?";
        params.emplace_back(absl::FormatCivilTime(absl::CivilDay(*last_whole)));
      }
      filters(&sql, &params);
      absl::StrAppend(&sql, " GROUP BY ", totals_key, ", stage");
      KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
      add(rows);
    }
    for (const auto& [lo, hi] : partial_days) {
      // stage IN (...) rather than BETWEEN: one range per stage keeps the currency and
      // date parts of the index usable.
      std::vector<Param> params{f.currency, absl::FormatCivilTime(lo), absl::FormatCivilTime(hi)};
      std::string sql = absl::StrCat("SELECT ", projects_key, ", stage, COUNT(*), SUM(estimated_amount_minor) "
                                     "FROM projects WHERE stage IN (1, 2, 3, 4, 5, 6) AND currency = ? "
                                     "AND expected_signing_date BETWEEN ? AND ?");
      filters(&sql, &params);
      absl::StrAppend(&sql, " GROUP BY ", projects_key, ", stage");
      KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
      add(rows);
    }
    return true;
  };
  KEFU_RETURN_IF_ERROR(pool_->InTransaction<bool>(read).status());

  // Weighted per stage within a row: the stage's amount x its probability, rounded down.
  std::vector<pb::PipelineRow> out;
  for (const auto& [key, c] : cells) {
    pb::PipelineRow row;
    for (const auto& [stage, sums] : c.by_stage) {
      if (sums.first == 0) continue;  // cells emptied by later writes
      auto it = probability.find(stage);
      int64_t p = it == probability.end() ? 0 : it->second;
      row.set_count(row.count() + sums.first);
      row.set_amount_minor(row.amount_minor() + sums.second);
      row.set_weighted_amount_minor(row.weighted_amount_minor() +
                                    static_cast<int64_t>(static_cast<__int128>(sums.second) * p / 10000));
    }
    if (row.count() == 0) continue;
    bool by_stage = group_by == pb::GROUP_BY_STAGE || group_by == pb::GROUP_BY_UNSPECIFIED;
    int stage = 0;
    row.set_key(by_stage && absl::SimpleAtoi(key, &stage) ? StageName(static_cast<pb::Stage>(stage)) : c.shown);
    out.push_back(std::move(row));
  }
  return out;
}

absl::Status Repository::RecountPipeline() {
  std::vector<std::string> statements;
  for (const auto& m : SalesMigrations())
    if (absl::StrContains(m.name, "pipeline_totals"))
      for (auto& st : db::SplitSqlStatements(m.sql))
        if (absl::StartsWith(st, "DELETE") || absl::StartsWith(st, "INSERT")) statements.push_back(std::move(st));
  if (statements.size() != 2) return absl::InternalError("the pipeline_totals migration has no DELETE and INSERT");
  return pool_
      ->InTransaction<bool>([&](Session& s) -> absl::StatusOr<bool> {
        for (const auto& st : statements) KEFU_RETURN_IF_ERROR(s.Exec(st).status());
        return true;
      })
      .status();
}

absl::StatusOr<Repository::Closed> Repository::WinRate(absl::CivilDay from, absl::CivilDay to, const std::string& owner,
                                                       const std::string& department) {
  std::vector<Param> params{absl::FormatCivilTime(from), absl::FormatCivilTime(to)};
  std::string where = "close_time >= ? AND close_time < ?";
  if (!owner.empty()) {
    where += " AND owner_id = ?";
    params.emplace_back(owner);
  }
  if (!department.empty()) {
    where += " AND department_id = ?";
    params.emplace_back(department);
  }
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  std::string sql = absl::StrCat("SELECT SUM(stage = 7), SUM(stage = 8), SUM(stage = 9)");
  for (int st = pb::STAGE_INITIATION; st <= pb::STAGE_IMPLEMENTATION; ++st)
    absl::StrAppend(&sql, ", SUM(furthest_stage >= ", st, "), SUM(furthest_stage > ", st, ")");
  absl::StrAppend(&sql, " FROM projects WHERE ", where);
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(sql, params));
  Closed c;
  if (!row) return c;
  c.won = row->Int(0);
  c.lost = row->Int(1);
  c.terminated = row->Int(2);
  for (int st = pb::STAGE_INITIATION, col = 3; st <= pb::STAGE_IMPLEMENTATION; ++st, col += 2)
    c.reached_advanced[st] = {row->Int(col), row->Int(col + 1)};
  return c;
}

}  // namespace kefu::sales
