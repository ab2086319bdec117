#include "repository.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kefu/clients/customers_client.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/validation.h"

namespace kefu::complaints {

using db::InList;
using db::Param;
using db::Row;
using db::Session;

namespace {

constexpr char kColumns[] =
    "id, customer_id, channel, type, severity, title, content, product, received_time, first_contact_owner_id, "
    "department_id, handler_id, service_type, contract_id, status, escalation_level, customer_tier, "
    "response_deadline, resolution_deadline, level_deadline, responded_time, resolved_time, closed_time, "
    "sla_paused, pause_reason, resolution_summary, resolution_actions, compensation_minor, compensation_currency, "
    "root_cause, prevention, responsible_staff_id, responsible_department_id, reopen_count, overdue, close_reason, "
    "create_time, update_time, version";

void SetTime(const Row& r, size_t i, google::protobuf::Timestamp* ts) {
  if (!r.IsNull(i)) *ts = ToProtoTime(r.Time(i));
}

pb::WorkOrder FromRow(const Row& r) {
  pb::WorkOrder w;
  w.set_id(r.Int(0));
  w.set_number(WorkOrderNumber(r.Int(0)));
  w.set_customer_id(r.Int(1));
  w.set_channel(static_cast<pb::Channel>(r.Int(2)));
  w.set_type(static_cast<pb::WorkOrderType>(r.Int(3)));
  w.set_severity(static_cast<pb::Severity>(r.Int(4)));
  w.set_title(r.Str(5));
  w.set_content(r.Str(6));
  w.set_product(r.Str(7));
  *w.mutable_received_time() = ToProtoTime(r.Time(8));
  w.set_first_contact_owner_id(r.Str(9));
  w.set_department_id(r.Str(10));
  w.set_handler_id(r.Str(11));
  w.set_service_type(static_cast<pb::ServiceType>(r.Int(12)));
  w.set_contract_id(r.Int(13));
  w.set_status(static_cast<pb::Status>(r.Int(14)));
  w.set_escalation_level(static_cast<pb::EscalationLevel>(r.Int(15)));
  w.set_customer_tier(static_cast<int32_t>(r.Int(16)));
  SetTime(r, 17, w.mutable_response_deadline());
  SetTime(r, 18, w.mutable_resolution_deadline());
  SetTime(r, 19, w.mutable_level_deadline());
  SetTime(r, 20, w.mutable_responded_time());
  SetTime(r, 21, w.mutable_resolved_time());
  SetTime(r, 22, w.mutable_closed_time());
  if (r.IsNull(17)) w.clear_response_deadline();
  if (r.IsNull(18)) w.clear_resolution_deadline();
  if (r.IsNull(19)) w.clear_level_deadline();
  if (r.IsNull(20)) w.clear_responded_time();
  if (r.IsNull(21)) w.clear_resolved_time();
  if (r.IsNull(22)) w.clear_closed_time();
  w.set_sla_paused(r.Int(23) != 0);
  w.set_pause_reason(static_cast<pb::PauseReason>(r.Int(24)));
  auto* res = w.mutable_resolution();
  res->set_summary(r.Str(25));
  for (absl::string_view a : absl::StrSplit(r.Str(26), ',', absl::SkipEmpty())) {
    int n = 0;
    if (absl::SimpleAtoi(a, &n)) res->add_actions(static_cast<pb::ResolutionAction>(n));
  }
  res->mutable_compensation()->set_amount_minor(r.Int(27));
  res->mutable_compensation()->set_currency_code(r.Str(28));
  res->set_root_cause(r.Str(29));
  res->set_prevention(r.Str(30));
  res->set_responsible_staff_id(r.Str(31));
  res->set_responsible_department_id(r.Str(32));
  if (res->ByteSizeLong() == 0) w.clear_resolution();
  w.set_reopen_count(static_cast<int32_t>(r.Int(33)));
  w.set_overdue(r.Int(34) != 0);
  w.set_close_reason(r.Str(35));
  *w.mutable_create_time() = ToProtoTime(r.Time(36));
  *w.mutable_update_time() = ToProtoTime(r.Time(37));
  w.set_version(r.Int(38));
  return w;
}

Param TimeOrNull(bool has, const google::protobuf::Timestamp& ts) {
  if (!has) return Param(nullptr);
  absl::Time t = FromProtoTime(ts);
  if (t == absl::InfiniteFuture()) return Param(nullptr);
  return Param(ToSqlTime(t));
}

Param CheckTime(absl::Time t) { return t == absl::InfiniteFuture() ? Param(nullptr) : Param(ToSqlTime(t)); }

std::string ActionsText(const pb::Resolution& r) {
  std::vector<std::string> parts;
  for (int a : r.actions()) parts.push_back(absl::StrCat(a));
  return absl::StrJoin(parts, ",");
}

// The follow-ups of a page of work orders in one round trip.
absl::Status LoadFollowUps(Session& s, const std::vector<pb::WorkOrder*>& orders) {
  if (orders.empty()) return absl::OkStatus();
  std::map<int64_t, pb::WorkOrder*> by_id;
  std::vector<int64_t> ids;
  for (auto* w : orders) {
    by_id[w->id()] = w;
    ids.push_back(w->id());
  }
  std::vector<Param> params;
  std::string in = InList(params, ids);
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT work_order_id, follow_up_time, staff_id, satisfaction, "
                                                        "note FROM follow_ups WHERE work_order_id IN (", in,
                                                        ") ORDER BY work_order_id, id"),
                                           params));
  for (const auto& r : rows) {
    auto* f = by_id[r.Int(0)]->add_follow_ups();
    *f->mutable_time() = ToProtoTime(r.Time(1));
    f->set_staff_id(r.Str(2));
    f->set_satisfaction(static_cast<int32_t>(r.Int(3)));
    f->set_note(r.Str(4));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::WorkOrder>> Load(Session& s, int64_t id, bool for_update) {
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kColumns, " FROM work_orders WHERE id = ?",
                                                          for_update ? " FOR UPDATE" : ""),
                                             {id}));
  if (!row) return std::optional<pb::WorkOrder>();
  pb::WorkOrder w = FromRow(*row);
  KEFU_RETURN_IF_ERROR(LoadFollowUps(s, {&w}));
  return std::optional<pb::WorkOrder>(std::move(w));
}

absl::StatusOr<std::vector<HistoryEvent>> LoadHistory(Session& s, int64_t id) {
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT event_time, kind FROM work_order_events WHERE work_order_id = ? "
                                           "ORDER BY event_time, id",
                                           {id}));
  std::vector<HistoryEvent> out;
  for (const auto& r : rows) out.push_back({r.Time(0), static_cast<pb::EventKind>(r.Int(1))});
  return out;
}

// The events of many work orders in one round trip; every id has an entry.
absl::StatusOr<std::map<int64_t, std::vector<HistoryEvent>>> LoadHistories(Session& s, const std::vector<int64_t>& ids) {
  std::map<int64_t, std::vector<HistoryEvent>> out;
  for (int64_t id : ids) out[id];
  if (ids.empty()) return out;
  std::vector<Param> params;
  std::string in = InList(params, ids);
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT work_order_id, event_time, kind FROM work_order_events "
                                                        "WHERE work_order_id IN (", in,
                                                        ") ORDER BY work_order_id, event_time, id"),
                                           params));
  for (const auto& r : rows) out[r.Int(0)].push_back({r.Time(1), static_cast<pb::EventKind>(r.Int(2))});
  return out;
}

// Writes the decided state, events, follow-up, alerts and outbox rows.
absl::Status Persist(Session& s, const pb::WorkOrder& before, Change& change, absl::Time now) {
  pb::WorkOrder& w = change.updated;
  w.set_id(before.id());
  w.set_number(before.number());
  w.set_version(before.version() + 1);
  *w.mutable_create_time() = before.create_time();
  *w.mutable_update_time() = ToProtoTime(now);
  const auto& res = w.resolution();
  KEFU_ASSIGN_OR_RETURN(
      auto updated,
      s.Exec("UPDATE work_orders SET severity = ?, department_id = ?, handler_id = ?, service_type = ?, contract_id = ?, "
             "status = ?, escalation_level = ?, response_deadline = ?, resolution_deadline = ?, "
             // The deadline the work order was last held to outlives the running clock.
             "resolve_due_time = COALESCE(?, resolve_due_time), level_deadline = ?, next_check_time = ?, "
             "responded_time = ?, resolved_time = ?, closed_time = ?, sla_paused = ?, "
             "pause_reason = ?, resolution_summary = ?, resolution_actions = ?, compensation_minor = ?, "
             "compensation_currency = ?, root_cause = ?, prevention = ?, responsible_staff_id = ?, "
             "responsible_department_id = ?, reopen_count = ?, overdue = ?, close_reason = ?, update_time = ?, "
             "version = ? WHERE id = ? AND version = ?",
             {static_cast<int>(w.severity()), w.department_id(), w.handler_id(), static_cast<int>(w.service_type()),
              w.contract_id(), static_cast<int>(w.status()), static_cast<int>(w.escalation_level()),
              TimeOrNull(w.has_response_deadline(), w.response_deadline()),
              TimeOrNull(w.has_resolution_deadline(), w.resolution_deadline()),
              TimeOrNull(w.has_resolution_deadline(), w.resolution_deadline()),
              TimeOrNull(w.has_level_deadline(), w.level_deadline()), CheckTime(change.next_check),
              TimeOrNull(w.has_responded_time(), w.responded_time()),
              TimeOrNull(w.has_resolved_time(), w.resolved_time()), TimeOrNull(w.has_closed_time(), w.closed_time()),
              w.sla_paused(), static_cast<int>(w.pause_reason()), res.summary(), ActionsText(res),
              res.compensation().amount_minor(), res.compensation().currency_code(), res.root_cause(),
              res.prevention(), res.responsible_staff_id(), res.responsible_department_id(), w.reopen_count(),
              w.overdue(), w.close_reason(), ToSqlTime(now), w.version(), w.id(), before.version()}));
  if (updated.affected_rows != 1) return absl::AbortedError("work order changed concurrently; retry");
  // Before the events: their customer-log entries read the latest follow-up.
  if (change.follow_up) {
    const auto& f = *change.follow_up;
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO follow_ups (work_order_id, follow_up_time, staff_id, satisfaction, note) "
                                "VALUES (?, ?, ?, ?, ?)",
                                {w.id(), ToSqlTime(now), f.staff_id(), f.satisfaction(), f.note()})
                             .status());
    *w.add_follow_ups() = f;
    *w.mutable_follow_ups(w.follow_ups_size() - 1)->mutable_time() = ToProtoTime(now);
  }
  for (size_t i = 0; i < change.events.size(); ++i) {
    const NewEvent& e = change.events[i];
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO work_order_events (work_order_id, kind, event_time, actor_id, description, "
                                "status_after, level_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                {w.id(), static_cast<int>(e.kind), ToSqlTime(now), e.actor,
                                 Utf8Prefix(e.description, 2000), static_cast<int>(w.status()),
                                 static_cast<int>(w.escalation_level())})
                             .status());
    // The version this change commits is the work order's alone (the UPDATE above checked
    // the one before it), so version and position name the message once and for all,
    // without a round trip for the event's id.
    if (e.to_customer_log)
      KEFU_RETURN_IF_ERROR(clients::EnqueueCustomerLog(
          s, CustomerLogEntryFor(w, e, now), absl::StrCat("complaints.ev.", w.id(), ".v", w.version(), ".", i), now));
  }
  for (const auto& a : change.alerts) {
    // The unique key makes an alert at most once per work order, kind, level and reason.
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT IGNORE INTO alerts (kind, work_order_id, department_id, handler_id, level, "
                                "reason, alert_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                {static_cast<int>(a.kind), w.id(), w.department_id(), w.handler_id(),
                                 static_cast<int>(w.escalation_level()), a.reason, ToSqlTime(now)})
                             .status());
  }
  return absl::OkStatus();
}

pb::Alert AlertFromRow(const Row& r) {
  pb::Alert a;
  a.set_id(r.Int(0));
  a.set_kind(static_cast<pb::AlertKind>(r.Int(1)));
  a.set_work_order_id(r.Int(2));
  a.set_work_order_number(WorkOrderNumber(r.Int(2)));
  a.set_department_id(r.Str(3));
  a.set_handler_id(r.Str(4));
  a.set_level(static_cast<pb::EscalationLevel>(r.Int(5)));
  a.set_reason(r.Str(6));
  *a.mutable_time() = ToProtoTime(r.Time(7));
  return a;
}

}  // namespace

customers::v1::LogEntry CustomerLogEntryFor(const pb::WorkOrder& w, const NewEvent& e, absl::Time at) {
  customers::v1::LogEntry entry;
  entry.set_customer_id(w.customer_id());
  *entry.mutable_event_time() = ToProtoTime(at);
  entry.set_staff_id(e.actor.empty() ? "system" : e.actor);
  entry.set_department_id(w.department_id());
  entry.set_channel(customers::v1::CHANNEL_SYSTEM);
  entry.set_category(w.type() == pb::WORK_ORDER_TYPE_COMPLAINT ? customers::v1::LOG_CATEGORY_COMPLAINT
                     : w.type() == pb::WORK_ORDER_TYPE_CONSULTATION ? customers::v1::LOG_CATEGORY_CONSULTATION
                                                                    : customers::v1::LOG_CATEGORY_SERVICE);
  entry.set_description(Utf8Prefix(absl::StrCat("工单 ", w.number(), " ", e.description), 4000));
  if (e.kind == pb::EVENT_KIND_RESOLVED) entry.set_resolution(Utf8Prefix(w.resolution().summary(), 4000));
  if (e.kind == pb::EVENT_KIND_FOLLOW_UP && w.follow_ups_size() > 0)
    entry.set_satisfaction(static_cast<customers::v1::Satisfaction>(w.follow_ups(w.follow_ups_size() - 1).satisfaction()));
  entry.set_reference(absl::StrCat("complaints/", w.number()));
  return entry;
}

// ---- settings ----


absl::StatusOr<pb::DeadlinePolicy> Repository::LoadPolicy() { return db::LoadSetting<pb::DeadlinePolicy>(*pool_, "policy"); }
absl::StatusOr<pb::DeadlinePolicy> Repository::SavePolicy(pb::DeadlinePolicy p, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::DeadlinePolicy>(
      *pool_, "complaints.UpdateDeadlinePolicy", key,
      [&](Session& s) -> absl::StatusOr<pb::DeadlinePolicy> { return db::SaveSetting(s, "policy", p, now); });
}
absl::StatusOr<pb::BusinessCalendar> Repository::LoadCalendar() {
  return db::LoadSetting<pb::BusinessCalendar>(*pool_, "calendar");
}
absl::StatusOr<pb::BusinessCalendar> Repository::SaveCalendar(pb::BusinessCalendar c, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::BusinessCalendar>(
      *pool_, "complaints.UpdateBusinessCalendar", key,
      [&](Session& s) -> absl::StatusOr<pb::BusinessCalendar> { return db::SaveSetting(s, "calendar", c, now); });
}

// ---- work orders ----

namespace {

// One customer's tier into the copy. Assignments run left to right, so version is
// compared before it is raised: an older version changes nothing, the same version
// renews checked_time (confirmed), a newer one replaces the tier.
absl::Status UpsertTier(Session& s, const pb::CustomerTierNotice& t, absl::Time now) {
  return s
      .Exec("INSERT INTO customer_tiers (customer_id, tier, version, checked_time) VALUES (?, ?, ?, ?) "
            "ON DUPLICATE KEY UPDATE tier = IF(VALUES(version) >= version, VALUES(tier), tier), "
            "checked_time = IF(VALUES(version) >= version, VALUES(checked_time), checked_time), "
            "version = GREATEST(version, VALUES(version))",
            {t.customer_id(), t.tier(), t.version(), ToSqlTime(now)})
      .status();
}

}  // namespace

absl::StatusOr<pb::WorkOrder> Repository::Create(const pb::WorkOrder& input, absl::Time next_check,
                                                 const IdempotencyKey& key, const std::string& actor,
                                                 const pb::CustomerTierNotice* learned_tier) {
  absl::Time now = clock_->Now();
  int64_t replayed = 0;
  auto created = pool_->InTransaction<pb::WorkOrder>([&](Session& s) -> absl::StatusOr<pb::WorkOrder> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, "complaints.create", key.request_id, key.fingerprint));
      if (existing) {
        (void)absl::SimpleAtoi(*existing, &replayed);
        return pb::WorkOrder();
      }
    }
    pb::WorkOrder w = input;
    KEFU_ASSIGN_OR_RETURN(
        auto ins,
        s.ExecInsert("INSERT INTO work_orders (customer_id, channel, type, severity, title, content, product, "
                     "received_time, first_contact_owner_id, department_id, handler_id, service_type, contract_id, "
                     "status, escalation_level, customer_tier, response_deadline, resolution_deadline, "
                     "resolve_due_time, level_deadline, next_check_time, overdue, resolution_summary, create_time, "
                     "update_time, version) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, 1)",
                     {w.customer_id(), static_cast<int>(w.channel()), static_cast<int>(w.type()),
                      static_cast<int>(w.severity()), w.title(), w.content(), w.product(),
                      ToSqlTime(FromProtoTime(w.received_time())), w.first_contact_owner_id(), w.department_id(),
                      w.handler_id(), static_cast<int>(w.service_type()), w.contract_id(),
                      static_cast<int>(w.status()), static_cast<int>(w.escalation_level()), w.customer_tier(),
                      TimeOrNull(w.has_response_deadline(), w.response_deadline()),
                      TimeOrNull(w.has_resolution_deadline(), w.resolution_deadline()),
                      TimeOrNull(w.has_resolution_deadline(), w.resolution_deadline()),
                      TimeOrNull(w.has_level_deadline(), w.level_deadline()), CheckTime(next_check), w.overdue(),
                      ToSqlTime(now), ToSqlTime(now)}));
    w.set_id(ins.last_insert_id);
    w.set_number(WorkOrderNumber(w.id()));
    w.set_version(1);
    *w.mutable_create_time() = ToProtoTime(now);
    *w.mutable_update_time() = ToProtoTime(now);
    NewEvent created{pb::EVENT_KIND_CREATED,
                     absl::StrCat("受理登记 received: ", w.title().empty() ? Utf8Prefix(w.content(), 120) : w.title()),
                     actor, true};
    KEFU_RETURN_IF_ERROR(
        s.Exec("INSERT INTO work_order_events (work_order_id, kind, event_time, actor_id, description, "
               "status_after, level_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
               {w.id(), static_cast<int>(pb::EVENT_KIND_CREATED), ToSqlTime(FromProtoTime(w.received_time())),
                actor, Utf8Prefix(created.description, 2000), static_cast<int>(w.status()),
                static_cast<int>(w.escalation_level())})
            .status());
    // A work order has one creation event, so its id names the message (no round trip
    // for the event's id, which later events use).
    KEFU_RETURN_IF_ERROR(clients::EnqueueCustomerLog(s, CustomerLogEntryFor(w, created, FromProtoTime(w.received_time())),
                                                     absl::StrCat("complaints.created.", w.id()), now));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "complaints.create", key.request_id, absl::StrCat(w.id())));
    if (learned_tier) KEFU_RETURN_IF_ERROR(UpsertTier(s, *learned_tier, now));
    return w;
  });
  if (!created.ok() || replayed == 0) return created;
  return Get(replayed);
}

absl::StatusOr<std::optional<Repository::KnownTier>> Repository::FindKnownTier(int64_t customer_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row,
                        s.QueryOne("SELECT tier, version, checked_time FROM customer_tiers WHERE customer_id = ?",
                                   {customer_id}));
  if (!row) return std::optional<KnownTier>();
  return std::optional<KnownTier>(KnownTier{static_cast<int>(row->Int(0)), row->Int(1), row->Time(2)});
}

absl::Status Repository::RecordTiers(const std::vector<pb::CustomerTierNotice>& tiers) {
  absl::Time now = clock_->Now();
  return pool_->InTransaction<bool>([&](Session& s) -> absl::StatusOr<bool> {
                 for (const auto& t : tiers) KEFU_RETURN_IF_ERROR(UpsertTier(s, t, now));
                 return true;
               })
      .status();
}

absl::StatusOr<pb::WorkOrder> Repository::Get(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto w, Load(s, id, false));
  if (!w) return NotFound("work order", absl::StrCat(id));
  return *w;
}

absl::StatusOr<pb::WorkOrder> Repository::Mutate(int64_t id, int64_t expected_version, absl::string_view scope,
                                                 const IdempotencyKey& key, const Decide& decide) {
  return IdempotentTransaction<pb::WorkOrder>(*pool_, scope, key, [&](Session& s) -> absl::StatusOr<pb::WorkOrder> {
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(auto current, Load(s, id, true));
    if (!current) return NotFound("work order", absl::StrCat(id));
    if (expected_version != 0 && expected_version != current->version())
      return StaleVersion(expected_version, current->version());
    KEFU_ASSIGN_OR_RETURN(auto history, LoadHistory(s, id));
    KEFU_ASSIGN_OR_RETURN(Change change, decide(*current, history));
    KEFU_RETURN_IF_ERROR(Persist(s, *current, change, now));
    return change.updated;
  });
}

absl::StatusOr<int> Repository::SweepDue(absl::Time now, int limit, const Decide& decide) {
  // READ COMMITTED: the claim locks the due rows only, not the gaps where new work orders'
  // next checks go (db::Isolation).
  return pool_->InTransaction<int>(db::Isolation::kReadCommitted, [&](Session& s) -> absl::StatusOr<int> {
    // SKIP LOCKED: rows another replica is sweeping right now are left to it.
    KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kColumns, " FROM work_orders "
                                                          "WHERE next_check_time <= ? ORDER BY next_check_time "
                                                          "LIMIT ? FOR UPDATE SKIP LOCKED"),
                                             {ToSqlTime(now), limit}));
    std::vector<pb::WorkOrder> due;
    for (const auto& r : rows) due.push_back(FromRow(r));
    std::vector<pb::WorkOrder*> page;
    std::vector<int64_t> ids;
    for (auto& w : due) {
      page.push_back(&w);
      ids.push_back(w.id());
    }
    KEFU_RETURN_IF_ERROR(LoadFollowUps(s, page));
    KEFU_ASSIGN_OR_RETURN(auto histories, LoadHistories(s, ids));
    int changed = 0;
    for (const auto& w : due) {
      auto change = decide(w, histories[w.id()]);
      if (!change.ok()) {
        if (change.status().code() == absl::StatusCode::kNotFound) continue;
        return change.status();
      }
      KEFU_RETURN_IF_ERROR(Persist(s, w, *change, now));
      ++changed;
    }
    return changed;
  });
}

absl::StatusOr<std::vector<pb::WorkOrder>> Repository::List(const ListFilter& f, int page_size, int64_t after_id,
                                                            bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM work_orders WHERE id > ?");
  auto eq = [&](const char* col, Param p) {
    absl::StrAppend(&sql, " AND ", col, " = ?");
    params.push_back(std::move(p));
  };
  if (f.customer_id > 0) eq("customer_id", f.customer_id);
  if (f.status != pb::STATUS_UNSPECIFIED) eq("status", static_cast<int>(f.status));
  if (f.severity != pb::SEVERITY_UNSPECIFIED) eq("severity", static_cast<int>(f.severity));
  if (f.type != pb::WORK_ORDER_TYPE_UNSPECIFIED) eq("type", static_cast<int>(f.type));
  if (!f.handler_id.empty()) eq("handler_id", f.handler_id);
  if (!f.department_id.empty()) eq("department_id", f.department_id);
  if (f.level != pb::ESCALATION_LEVEL_UNSPECIFIED) eq("escalation_level", static_cast<int>(f.level));
  if (f.overdue_only) sql += " AND overdue = 1 AND status <> 6";
  if (f.open_only) sql += " AND status <> 6";
  if (f.received_from) {
    sql += " AND received_time >= ?";
    params.emplace_back(ToSqlTime(*f.received_from));
  }
  if (f.received_to) {
    sql += " AND received_time < ?";
    params.emplace_back(ToSqlTime(*f.received_to));
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.resize(page_size);
  std::vector<pb::WorkOrder> out;
  for (const auto& r : rows) out.push_back(FromRow(r));
  std::vector<pb::WorkOrder*> page;
  for (auto& w : out) page.push_back(&w);
  KEFU_RETURN_IF_ERROR(LoadFollowUps(s, page));
  return out;
}

absl::StatusOr<std::vector<pb::TimelineEvent>> Repository::Timeline(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id, kind, event_time, actor_id, description, status_after, level_after "
                                           "FROM work_order_events WHERE work_order_id = ? ORDER BY event_time, id",
                                           {id}));
  std::vector<pb::TimelineEvent> out;
  for (const auto& r : rows) {
    pb::TimelineEvent e;
    e.set_id(r.Int(0));
    e.set_kind(static_cast<pb::EventKind>(r.Int(1)));
    *e.mutable_time() = ToProtoTime(r.Time(2));
    e.set_actor_id(r.Str(3));
    e.set_description(r.Str(4));
    e.set_status_after(static_cast<pb::Status>(r.Int(5)));
    e.set_level_after(static_cast<pb::EscalationLevel>(r.Int(6)));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<HistoryEvent>> Repository::History(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  return LoadHistory(s, id);
}

absl::StatusOr<std::map<int64_t, std::vector<HistoryEvent>>> Repository::Histories(const std::vector<int64_t>& ids) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  return LoadHistories(s, ids);
}

absl::StatusOr<std::vector<pb::WorkOrder>> Repository::OpenWithDeadlines(const std::string& department_id,
                                                                         const std::string& handler_id, int limit) {
  std::vector<Param> params;
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM work_orders WHERE next_check_time IS NOT NULL");
  if (!department_id.empty()) {
    sql += " AND department_id = ?";
    params.emplace_back(department_id);
  }
  if (!handler_id.empty()) {
    sql += " AND handler_id = ?";
    params.emplace_back(handler_id);
  }
  sql += " ORDER BY next_check_time LIMIT ?";
  params.emplace_back(limit);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  std::vector<pb::WorkOrder> out;
  for (const auto& r : rows) out.push_back(FromRow(r));
  return out;
}

absl::StatusOr<std::vector<pb::Alert>> Repository::AlertsAfter(int64_t after_id, int limit, int64_t* last_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id, kind, work_order_id, department_id, handler_id, level, reason, "
                                           "alert_time FROM alerts WHERE id > ? ORDER BY id LIMIT ?",
                                           {after_id, limit}));
  std::vector<pb::Alert> out;
  *last_id = after_id;
  for (const auto& r : rows) {
    out.push_back(AlertFromRow(r));
    *last_id = r.Int(0);
  }
  return out;
}

absl::StatusOr<int64_t> Repository::LastAlertId() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT COALESCE(MAX(id), 0) FROM alerts"));
  return row ? row->Int(0) : 0;
}

absl::StatusOr<KpiCounts> Repository::Kpis(const std::string& department_id, const std::string& handler_id,
                                           absl::Time from, absl::Time to) {
  std::vector<Param> params{ToSqlTime(from), ToSqlTime(to)};
  std::string where = "w.received_time >= ? AND w.received_time < ?";
  if (!department_id.empty()) {
    where += " AND w.department_id = ?";
    params.emplace_back(department_id);
  }
  if (!handler_id.empty()) {
    where += " AND w.handler_id = ?";
    params.emplace_back(handler_id);
  }
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(
      auto row,
      s.QueryOne(absl::StrCat(
                     "SELECT COUNT(*), SUM(w.status = 6), SUM(w.status <> 6), SUM(w.overdue), "
                     "SUM(w.escalation_level > 1), SUM(w.resolved_time IS NOT NULL), "
                     "SUM(EXISTS (SELECT 1 FROM follow_ups f WHERE f.work_order_id = w.id)), SUM(w.reopen_count > 0), "
                     "SUM(TIMESTAMPDIFF(MICROSECOND, w.received_time, w.responded_time)) / 1e6, "
                     "SUM(TIMESTAMPDIFF(MICROSECOND, w.received_time, w.resolved_time)) / 1e6, "
                     "SUM(w.responded_time IS NOT NULL) FROM work_orders w WHERE ",
                     where),
                 params));
  KpiCounts k;
  if (row) {
    k.received = row->Int(0);
    k.closed = row->Int(1);
    k.open = row->Int(2);
    k.overdue = row->Int(3);
    k.escalated = row->Int(4);
    k.resolved = row->Int(5);
    k.followed_up = row->Int(6);
    k.reopened = row->Int(7);
    k.seconds_to_respond_sum = row->Double(8);
    k.seconds_to_resolve_sum = row->Double(9);
    k.responded = row->Int(10);
  }
  KEFU_ASSIGN_OR_RETURN(auto fu, s.QueryOne(absl::StrCat("SELECT COUNT(*), SUM(f.satisfaction >= 4) FROM follow_ups f "
                                                         "JOIN work_orders w ON w.id = f.work_order_id WHERE ",
                                                         where),
                                            params));
  if (fu) {
    k.follow_ups = fu->Int(0);
    k.satisfied_follow_ups = fu->Int(1);
  }
  return k;
}

absl::StatusOr<std::vector<WeekAggregate>> Repository::QualitySeries(pb::QualityMeasure measure,
                                                                     const std::string& department_id,
                                                                     const std::string& handler_id,
                                                                     const std::vector<absl::Time>& week_starts) {
  if (week_starts.size() < 2 || week_starts.size() > static_cast<size_t>(kMaxQualityWeeks) + 1)
    return absl::InternalError("QualitySeries: 1 to kMaxQualityWeeks weeks");
  const size_t weeks = week_starts.size() - 1;
  // Per measure: the time that places a row in a week, what makes the row a defect, the
  // measured value and where the rows come from. Satisfied is 4 or 5 (IsSatisfied).
  struct Shape {
    const char* at;
    const char* defect;
    const char* value;
    const char* rows;
  };
  Shape shape;
  switch (measure) {
    case pb::QUALITY_MEASURE_OVERDUE_RATE:
      shape = {"w.resolve_due_time", "w.overdue", "0", "work_orders w"};
      break;
    case pb::QUALITY_MEASURE_SATISFACTION:
      shape = {"f.follow_up_time", "f.satisfaction < 4", "f.satisfaction",
               department_id.empty() && handler_id.empty()
                   ? "follow_ups f"
                   : "follow_ups f JOIN work_orders w ON w.id = f.work_order_id"};
      break;
    case pb::QUALITY_MEASURE_TIME_TO_RESOLVE:
      shape = {"w.resolved_time", "w.overdue", "TIMESTAMPDIFF(MICROSECOND, w.received_time, w.resolved_time) / 3600e6",
               "work_orders w"};
      break;
    default:
      return absl::InternalError("QualitySeries: unknown measure");
  }
  const char* at = shape.at;
  // The week of a row: INTERVAL(x, s1, s2, ...) is the number of ascending s_i <= x, so
  // with the week starts as microseconds since the epoch it is 1 + the week's index.
  // Unused places are filled past the last start, so every series length shares one
  // prepared statement.
  std::vector<Param> params;
  std::string week = absl::StrCat("INTERVAL(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ", at, ")");
  const int64_t end = absl::ToUnixMicros(week_starts.back());
  for (size_t i = 0; i <= static_cast<size_t>(kMaxQualityWeeks); ++i) {
    week += ", ?";
    params.emplace_back(i < week_starts.size() ? absl::ToUnixMicros(week_starts[i])
                                               : end + static_cast<int64_t>(i - weeks));
  }
  week += ")";
  std::string sql = absl::StrCat("SELECT ", week, " AS wk, COUNT(*), SUM(", shape.defect, "), SUM(", shape.value,
                                 "), STDDEV_SAMP(", shape.value, ") FROM ", shape.rows, " WHERE ", at, " >= ? AND ",
                                 at, " < ?");
  params.emplace_back(ToSqlTime(week_starts.front()));
  params.emplace_back(ToSqlTime(week_starts.back()));
  if (!department_id.empty()) {
    sql += " AND w.department_id = ?";
    params.emplace_back(department_id);
  } else if (!handler_id.empty()) {
    sql += " AND w.handler_id = ?";
    params.emplace_back(handler_id);
  }
  sql += " GROUP BY wk ORDER BY NULL";  // at most kMaxQualityWeeks groups; no sorting needed
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto result, s.Query(sql, params));
  std::vector<WeekAggregate> out(weeks);
  for (const auto& r : result) {
    int64_t i = r.Int(0) - 1;
    if (i < 0 || i >= static_cast<int64_t>(weeks)) continue;
    out[i] = {r.Int(1), r.Int(2), r.Double(3), r.IsNull(4) ? 0 : r.Double(4)};
  }
  return out;
}

absl::StatusOr<std::vector<Repository::OpenCount>> Repository::CountOpen() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT severity, status, COUNT(*) FROM work_orders WHERE status <> 6 "
                                           "GROUP BY severity, status"));
  std::vector<OpenCount> out;
  for (const auto& r : rows) out.push_back({static_cast<int>(r.Int(0)), static_cast<int>(r.Int(1)), r.Int(2)});
  return out;
}

absl::StatusOr<std::vector<pb::WorkOrder>> Repository::OpenUnclassified(int limit) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kColumns, " FROM work_orders WHERE service_type = ? "
                                                        "AND status <> ? ORDER BY id LIMIT ?"),
                                           {static_cast<int>(pb::SERVICE_TYPE_UNCLASSIFIED),
                                            static_cast<int>(pb::STATUS_CLOSED), limit}));
  std::vector<pb::WorkOrder> out;
  for (const auto& r : rows) out.push_back(FromRow(r));
  return out;
}

absl::StatusOr<int64_t> Repository::CountOverdueOpen() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT COUNT(*) FROM work_orders WHERE overdue = 1 AND status <> 6"));
  return row ? row->Int(0) : 0;
}

}  // namespace kefu::complaints
