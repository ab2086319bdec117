#include "repository.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kefu/clients/customers_client.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/validation.h"

namespace kefu::contracts {

using db::Param;
using db::Row;
using db::Session;

namespace {

constexpr char kColumns[] =
    "id, name, customer_id, our_entity, customer_party, type, amount_minor, currency, signing_date, effective_date, "
    "expiry_date, template_id, document_uri, sales_project_id, status, relation, previous_contract_id, owner_id, "
    "department_id, termination_reason, create_time, update_time, version";

pb::Contract FromRow(const Row& r) {
  pb::Contract c;
  c.set_id(r.Int(0));
  c.set_number(ContractNumber(r.Int(0)));
  c.set_name(r.Str(1));
  c.set_customer_id(r.Int(2));
  c.set_our_entity(r.Str(3));
  c.set_customer_party(r.Str(4));
  c.set_type(static_cast<pb::ContractType>(r.Int(5)));
  c.mutable_amount()->set_amount_minor(r.Int(6));
  c.mutable_amount()->set_currency_code(r.Str(7));
  c.set_signing_date(r.Str(8));
  c.set_effective_date(r.Str(9));
  c.set_expiry_date(r.Str(10));
  c.set_template_id(r.Str(11));
  c.set_document_uri(r.Str(12));
  c.set_sales_project_id(r.Int(13));
  c.set_status(static_cast<pb::ContractStatus>(r.Int(14)));
  c.set_relation(static_cast<pb::Relation>(r.Int(15)));
  c.set_previous_contract_id(r.Int(16));
  c.set_owner_id(r.Str(17));
  c.set_department_id(r.Str(18));
  c.set_termination_reason(r.Str(19));
  *c.mutable_create_time() = ToProtoTime(r.Time(20));
  *c.mutable_update_time() = ToProtoTime(r.Time(21));
  c.set_version(r.Int(22));
  return c;
}

absl::Status LoadChildren(Session& s, pb::Contract& c) {
  KEFU_ASSIGN_OR_RETURN(auto risks, s.Query("SELECT clause, level, note FROM contract_risk_items WHERE contract_id = ? "
                                            "ORDER BY position",
                                            {c.id()}));
  for (const auto& r : risks) {
    auto* item = c.add_risk_items();
    item->set_clause(r.Str(0));
    item->set_level(static_cast<pb::RiskLevel>(r.Int(1)));
    item->set_note(r.Str(2));
  }
  KEFU_ASSIGN_OR_RETURN(auto steps, s.Query("SELECT required_role, decision, approver_id, opinion, decision_time "
                                            "FROM contract_approvals WHERE contract_id = ? ORDER BY step",
                                            {c.id()}));
  for (const auto& r : steps) {
    auto* a = c.add_approvals();
    a->set_required_role(r.Str(0));
    a->set_decision(static_cast<pb::Decision>(r.Int(1)));
    a->set_approver_id(r.Str(2));
    a->set_opinion(r.Str(3));
    if (!r.IsNull(4)) *a->mutable_decision_time() = ToProtoTime(r.Time(4));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::Contract>> Load(Session& s, int64_t id, bool for_update) {
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kColumns, " FROM contracts WHERE id = ?",
                                                          for_update ? " FOR UPDATE" : ""),
                                             {id}));
  if (!row) return std::optional<pb::Contract>();
  pb::Contract c = FromRow(*row);
  KEFU_RETURN_IF_ERROR(LoadChildren(s, c));
  return std::optional<pb::Contract>(std::move(c));
}

Param DateOrNull(const std::string& d) { return d.empty() ? Param(nullptr) : Param(d); }

absl::Status EnqueueLog(Session& s, const pb::Contract& c, const std::string& actor, const std::string& line,
                        absl::Time now, const std::string& unique) {
  customers::v1::LogEntry e;
  e.set_customer_id(c.customer_id());
  *e.mutable_event_time() = ToProtoTime(now);
  e.set_staff_id(actor.empty() ? "system" : actor);
  e.set_department_id(c.department_id());
  e.set_channel(customers::v1::CHANNEL_SYSTEM);
  e.set_category(customers::v1::LOG_CATEGORY_CONTRACT);
  e.set_description(Utf8Prefix(absl::StrCat("合同 ", c.number(), " ", c.name(), ": ", line), 4000));
  e.set_reference(absl::StrCat("contracts/", c.number()));
  return clients::EnqueueCustomerLog(s, e, unique, now);
}

absl::StatusOr<pb::Contract> Insert(Session& s, const pb::Contract& input, absl::Time now) {
  pb::Contract c = input;
  KEFU_ASSIGN_OR_RETURN(
      auto ins, s.ExecInsert("INSERT INTO contracts (name, customer_id, our_entity, customer_party, type, amount_minor, "
                             "currency, signing_date, effective_date, expiry_date, template_id, document_uri, "
                             "sales_project_id, status, relation, previous_contract_id, owner_id, department_id, "
                             "create_time, update_time, version) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                             {c.name(), c.customer_id(), c.our_entity(), c.customer_party(), static_cast<int>(c.type()),
                              c.amount().amount_minor(), c.amount().currency_code(), DateOrNull(c.signing_date()),
                              c.effective_date(), c.expiry_date(), c.template_id(), c.document_uri(),
                              Param::OrNull(c.sales_project_id()), static_cast<int>(c.status()),
                              static_cast<int>(c.relation()), Param::OrNull(c.previous_contract_id()), c.owner_id(),
                              c.department_id(), ToSqlTime(now), ToSqlTime(now)}));
  c.set_id(ins.last_insert_id);
  c.set_number(ContractNumber(c.id()));
  c.set_version(1);
  *c.mutable_create_time() = ToProtoTime(now);
  *c.mutable_update_time() = ToProtoTime(now);
  for (int i = 0; i < c.risk_items_size(); ++i)
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO contract_risk_items (contract_id, position, clause, level, note) "
                                "VALUES (?, ?, ?, ?, ?)",
                                {c.id(), i, c.risk_items(i).clause(), static_cast<int>(c.risk_items(i).level()),
                                 c.risk_items(i).note()})
                             .status());
  c.clear_approvals();
  return c;
}

}  // namespace

absl::StatusOr<pb::Contract> Repository::Create(const pb::Contract& input, const IdempotencyKey& key,
                                                const std::string& actor, const std::string& log_line) {
  absl::Time now = clock_->Now();
  int64_t replayed = 0;
  auto created = pool_->InTransaction<pb::Contract>([&](Session& s) -> absl::StatusOr<pb::Contract> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, "contracts.create", key.request_id, key.fingerprint));
      if (existing) {
        (void)absl::SimpleAtoi(*existing, &replayed);
        return pb::Contract();
      }
    }
    KEFU_ASSIGN_OR_RETURN(pb::Contract c, Insert(s, input, now));
    KEFU_RETURN_IF_ERROR(EnqueueLog(s, c, actor, log_line, now, absl::StrCat("contracts.", c.id(), ".v1")));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "contracts.create", key.request_id, absl::StrCat(c.id())));
    return c;
  });
  if (!created.ok() || replayed == 0) return created;
  return Get(replayed);
}

absl::StatusOr<pb::Contract> Repository::CreateForProject(const pb::Contract& input, const IdempotencyKey& key,
                                                          const std::string& actor) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Contract>(
      *pool_, "contracts.CreateDraftForProject", key, [&](Session& s) -> absl::StatusOr<pb::Contract> {
        auto created = Insert(s, input, now);
        if (created.ok()) {
          KEFU_RETURN_IF_ERROR(EnqueueLog(s, *created, actor,
                                          "销售项目赢单，生成合同草稿 draft created for the won sales project", now,
                                          absl::StrCat("contracts.", created->id(), ".v1")));
          return created;
        }
        if (created.status().code() != absl::StatusCode::kAlreadyExists) return created.status();
        // The unique project key says a draft exists: this is a retry. Only the refused
        // statement was undone, so the transaction (and a request id's claim) goes on and
        // the existing draft becomes this call's response.
        KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT id FROM contracts WHERE sales_project_id = ? "
                                                   "LOCK IN SHARE MODE",
                                                   {input.sales_project_id()}));
        if (!row) return created.status();
        KEFU_ASSIGN_OR_RETURN(auto c, Load(s, row->Int(0), false));
        if (!c) return created.status();
        if (c->customer_id() != input.customer_id())
          return MakeError(absl::StatusCode::kFailedPrecondition, "PROJECT_HAS_CONTRACT",
                           absl::StrCat("sales_project_id: project ", input.sales_project_id(),
                                        " already has a contract for another customer"));
        return *c;
      });
}

absl::StatusOr<pb::Contract> Repository::Get(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto c, Load(s, id, false));
  if (!c) return NotFound("contract", absl::StrCat(id));
  return *c;
}

namespace {

absl::Status Persist(Session& s, const pb::Contract& before, Change& ch, const std::string& actor, absl::Time now) {
  pb::Contract& c = ch.updated;
  c.set_id(before.id());
  c.set_number(before.number());
  c.set_version(before.version() + 1);
  *c.mutable_create_time() = before.create_time();
  *c.mutable_update_time() = ToProtoTime(now);
  KEFU_ASSIGN_OR_RETURN(
      auto updated,
      s.Exec("UPDATE contracts SET name = ?, our_entity = ?, customer_party = ?, type = ?, amount_minor = ?, "
             "currency = ?, signing_date = ?, effective_date = ?, expiry_date = ?, template_id = ?, document_uri = ?, "
             "status = ?, owner_id = ?, department_id = ?, termination_reason = ?, update_time = ?, version = ? "
             "WHERE id = ? AND version = ?",
             {c.name(), c.our_entity(), c.customer_party(), static_cast<int>(c.type()), c.amount().amount_minor(),
              c.amount().currency_code(), DateOrNull(c.signing_date()), c.effective_date(), c.expiry_date(),
              c.template_id(), c.document_uri(), static_cast<int>(c.status()), c.owner_id(), c.department_id(),
              c.termination_reason(), ToSqlTime(now), c.version(), c.id(), before.version()}));
  if (updated.affected_rows != 1) return absl::AbortedError("contract changed concurrently; retry");
  if (ch.risk_items_changed) {
    KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM contract_risk_items WHERE contract_id = ?", {c.id()}).status());
    for (int i = 0; i < c.risk_items_size(); ++i)
      KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO contract_risk_items (contract_id, position, clause, level, note) "
                                  "VALUES (?, ?, ?, ?, ?)",
                                  {c.id(), i, c.risk_items(i).clause(), static_cast<int>(c.risk_items(i).level()),
                                   c.risk_items(i).note()})
                               .status());
  }
  if (ch.approvals_changed) {
    KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM contract_approvals WHERE contract_id = ?", {c.id()}).status());
    for (int i = 0; i < c.approvals_size(); ++i) {
      const auto& a = c.approvals(i);
      KEFU_RETURN_IF_ERROR(
          s.Exec("INSERT INTO contract_approvals (contract_id, step, required_role, decision, approver_id, opinion, "
                 "decision_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 {c.id(), i, a.required_role(), static_cast<int>(a.decision()), a.approver_id(), a.opinion(),
                  a.has_decision_time() ? Param(ToSqlTime(FromProtoTime(a.decision_time()))) : Param(nullptr)})
              .status());
    }
  }
  if (ch.decision) {
    const auto& a = *ch.decision;
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO contract_approval_history (contract_id, required_role, decision, "
                                "approver_id, opinion, decision_time) VALUES (?, ?, ?, ?, ?, ?)",
                                {c.id(), a.required_role(), static_cast<int>(a.decision()), a.approver_id(),
                                 a.opinion(), ToSqlTime(now)})
                             .status());
  }
  for (size_t i = 0; i < ch.log.size(); ++i)
    KEFU_RETURN_IF_ERROR(EnqueueLog(s, c, actor, ch.log[i], now, absl::StrCat("contracts.", c.id(), ".v", c.version(),
                                                                              ".", i)));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<pb::Contract> Repository::Mutate(int64_t id, int64_t expected_version, absl::string_view scope,
                                                const IdempotencyKey& key, const std::string& actor,
                                                const Decide& decide) {
  return IdempotentTransaction<pb::Contract>(*pool_, scope, key, [&](Session& s) -> absl::StatusOr<pb::Contract> {
    KEFU_ASSIGN_OR_RETURN(auto current, Load(s, id, true));
    if (!current) return NotFound("contract", absl::StrCat(id));
    if (expected_version != 0 && expected_version != current->version())
      return StaleVersion(expected_version, current->version());
    KEFU_ASSIGN_OR_RETURN(Change ch, decide(*current));
    KEFU_RETURN_IF_ERROR(Persist(s, *current, ch, actor, clock_->Now()));
    return ch.updated;
  });
}

absl::StatusOr<int> Repository::SweepDates(pb::ContractStatus status, const char* date_column, const char* comparison,
                                           absl::CivilDay day, int limit, const std::string& actor,
                                           const Decide& decide) {
  // READ COMMITTED: the claim locks the rows it takes, not the gaps around them (db::Isolation).
  return pool_->InTransaction<int>(db::Isolation::kReadCommitted, [&](Session& s) -> absl::StatusOr<int> {
    KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kColumns, " FROM contracts WHERE status = ? AND ",
                                                          date_column, " ", comparison, " ? ORDER BY ", date_column,
                                                          " LIMIT ? FOR UPDATE SKIP LOCKED"),
                                             {static_cast<int>(status), FormatDate(day), limit}));
    int changed = 0;
    for (const auto& r : rows) {
      pb::Contract c = FromRow(r);
      KEFU_RETURN_IF_ERROR(LoadChildren(s, c));
      KEFU_ASSIGN_OR_RETURN(Change ch, decide(c));
      KEFU_RETURN_IF_ERROR(Persist(s, c, ch, actor, clock_->Now()));
      ++changed;
    }
    return changed;
  });
}

absl::StatusOr<std::vector<pb::Contract>> Repository::List(const ListFilter& f, int page_size, int64_t after_id,
                                                           bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM contracts WHERE id > ?");
  auto eq = [&](const char* col, Param p) {
    absl::StrAppend(&sql, " AND ", col, " = ?");
    params.push_back(std::move(p));
  };
  if (f.customer_id > 0) eq("customer_id", f.customer_id);
  if (f.type != pb::CONTRACT_TYPE_UNSPECIFIED) eq("type", static_cast<int>(f.type));
  if (f.status != pb::CONTRACT_STATUS_UNSPECIFIED) eq("status", static_cast<int>(f.status));
  if (!f.owner_id.empty()) eq("owner_id", f.owner_id);
  if (f.expiring_from) {
    sql += " AND status = ? AND expiry_date BETWEEN ? AND ?";
    params.emplace_back(static_cast<int>(pb::CONTRACT_STATUS_ACTIVE));
    params.emplace_back(FormatDate(*f.expiring_from));
    params.emplace_back(FormatDate(*f.expiring_to));
  }
  if (f.signed_from) {
    sql += " AND signing_date >= ?";
    params.emplace_back(FormatDate(*f.signed_from));
  }
  if (f.signed_to) {
    sql += " AND signing_date <= ?";
    params.emplace_back(FormatDate(*f.signed_to));
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.resize(page_size);
  std::vector<pb::Contract> out;
  for (const auto& r : rows) {
    out.push_back(FromRow(r));
    KEFU_RETURN_IF_ERROR(LoadChildren(s, out.back()));
  }
  return out;
}

absl::StatusOr<std::vector<pb::Contract>> Repository::History(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  // Walk back to the original, then forward through every successor.
  int64_t root = id;
  for (int hop = 0; hop < 100; ++hop) {
    KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT previous_contract_id FROM contracts WHERE id = ?", {root}));
    if (!row) return NotFound("contract", absl::StrCat(id));
    if (row->IsNull(0)) break;
    root = row->Int(0);
  }
  std::vector<pb::Contract> chain;
  std::vector<int64_t> frontier{root};
  while (!frontier.empty() && chain.size() < 500) {
    int64_t next = frontier.back();
    frontier.pop_back();
    KEFU_ASSIGN_OR_RETURN(auto c, Load(s, next, false));
    if (!c) continue;
    chain.push_back(*c);
    KEFU_ASSIGN_OR_RETURN(auto kids, s.Query("SELECT id FROM contracts WHERE previous_contract_id = ? ORDER BY id DESC",
                                             {next}));
    for (const auto& k : kids) frontier.push_back(k.Int(0));
  }
  std::sort(chain.begin(), chain.end(), [](const auto& a, const auto& b) { return a.id() < b.id(); });
  return chain;
}

// Saved inside the idempotent transaction, so the request id's claim and stored
// response commit with the rules.
absl::StatusOr<pb::ApprovalRules> Repository::SaveApprovalRules(const pb::ApprovalRules& rules,
                                                                const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::ApprovalRules>(
      *pool_, "contracts.UpdateApprovalRules", key, [&](Session& s) -> absl::StatusOr<pb::ApprovalRules> {
        return db::SaveSetting(s, "approval_rules", rules, now);
      });
}

absl::StatusOr<std::vector<pb::Contract>> Repository::Covering(int64_t customer_id, absl::CivilDay day) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  std::string d = FormatDate(day);
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kColumns, " FROM contracts WHERE customer_id = ? "
                                                        "AND status = ? AND type IN (?, ?) AND expiry_date >= ? "
                                                        "AND effective_date <= ? LIMIT 20"),
                                           {customer_id, static_cast<int>(pb::CONTRACT_STATUS_ACTIVE),
                                            static_cast<int>(pb::CONTRACT_TYPE_SERVICE_WARRANTY),
                                            static_cast<int>(pb::CONTRACT_TYPE_SERVICE_CONTRACT), d, d}));
  std::vector<pb::Contract> out;
  for (const auto& r : rows) out.push_back(FromRow(r));
  return out;
}

absl::StatusOr<std::vector<Repository::SegmentCount>> Repository::CountByStatusAndType() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT status, type, COUNT(*) FROM contracts GROUP BY status, type"));
  std::vector<SegmentCount> out;
  for (const auto& r : rows) out.push_back({static_cast<int>(r.Int(0)), static_cast<int>(r.Int(1)), r.Int(2)});
  return out;
}

absl::StatusOr<int64_t> Repository::CountExpiring(absl::CivilDay from, absl::CivilDay to) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT COUNT(*) FROM contracts WHERE status = ? AND expiry_date BETWEEN ? AND ?",
                                             {static_cast<int>(pb::CONTRACT_STATUS_ACTIVE), FormatDate(from),
                                              FormatDate(to)}));
  return row ? row->Int(0) : 0;
}

absl::StatusOr<int64_t> Repository::CountExpiringWithoutRenewal(absl::CivilDay from, absl::CivilDay to) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(
      auto row, s.QueryOne("SELECT COUNT(*) FROM contracts c WHERE c.status = ? AND c.expiry_date BETWEEN ? AND ? "
                           "AND NOT EXISTS (SELECT 1 FROM contracts r WHERE r.previous_contract_id = c.id "
                           "AND r.relation = ? AND r.status <> ?)",
                           {static_cast<int>(pb::CONTRACT_STATUS_ACTIVE), FormatDate(from), FormatDate(to),
                            static_cast<int>(pb::RELATION_RENEWAL), static_cast<int>(pb::CONTRACT_STATUS_TERMINATED)}));
  return row ? row->Int(0) : 0;
}

absl::StatusOr<std::vector<SigningTotal>> Repository::SigningTotals(const SigningFilter& f) {
  std::vector<Param> params{FormatDate(f.from), FormatDate(f.to), f.currency};
  std::string sql =
      "SELECT type, COUNT(*), SUM(amount_minor) FROM contracts WHERE signing_date BETWEEN ? AND ? AND currency = ?";
  if (!f.statuses.empty()) {
    sql += " AND status IN (";
    for (size_t i = 0; i < f.statuses.size(); ++i) {
      sql += i == 0 ? "?" : ", ?";
      params.emplace_back(static_cast<int>(f.statuses[i]));
    }
    sql += ")";
  }
  if (!f.owner_id.empty()) {
    sql += " AND owner_id = ?";
    params.emplace_back(f.owner_id);
  } else if (!f.department_id.empty()) {
    sql += " AND department_id = ?";
    params.emplace_back(f.department_id);
  }
  sql += " GROUP BY type ORDER BY type";
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  std::vector<SigningTotal> out;
  for (const auto& r : rows) out.push_back({static_cast<pb::ContractType>(r.Int(0)), r.Int(1), r.Int(2)});
  return out;
}

}  // namespace kefu::contracts
