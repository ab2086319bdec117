#include "repository.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kefu/clients/complaints_client.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/validation.h"

namespace kefu::customers {

using db::InList;
using db::Param;
using db::Row;
using db::Session;

namespace {

// What every read of customers selects. The last column is the row's copy of its
// contacts and tags (migration 0004), read by CustomersFromRows.
constexpr char kCustomerColumns[] =
    "c.id, c.kind, c.name, c.industry, c.region, c.source, c.owner_id, c.department_id, c.tier, "
    "c.lifecycle_stage, c.credit_rating, c.merged_into_id, c.create_time, c.update_time, c.version, "
    "c.contacts_tags";
constexpr size_t kContactsTagsColumn = 15;

// The customer's contacts and tags as customers.contacts_tags keeps them: a Customer
// holding only those two fields. Written wherever the two tables are.
std::string ContactsTagsCopy(const pb::Customer& c) {
  pb::Customer copy;
  *copy.mutable_contacts() = c.contacts();
  *copy.mutable_tags() = c.tags();
  return copy.SerializeAsString();
}

// The kCustomerColumns of a row, without its contacts and tags.
pb::Customer CustomerFromRow(const Row& r) {
  pb::Customer c;
  c.set_id(r.Int(0));
  c.set_number(CustomerNumber(r.Int(0)));
  c.set_kind(static_cast<pb::CustomerKind>(r.Int(1)));
  c.set_name(r.Str(2));
  c.set_industry(r.Str(3));
  c.set_region(r.Str(4));
  c.set_source(static_cast<pb::AcquisitionSource>(r.Int(5)));
  c.set_owner_id(r.Str(6));
  c.set_department_id(r.Str(7));
  c.set_tier(static_cast<pb::Tier>(r.Int(8)));
  c.set_lifecycle_stage(static_cast<pb::LifecycleStage>(r.Int(9)));
  c.set_credit_rating(static_cast<pb::CreditRating>(r.Int(10)));
  c.set_merged_into_id(r.Int(11));
  *c.mutable_create_time() = ToProtoTime(r.Time(12));
  *c.mutable_update_time() = ToProtoTime(r.Time(13));
  c.set_version(r.Int(14));
  return c;
}

// A contact's name, phone, email, address, title and is_primary, from column `at` on.
void AddContactFromRow(const Row& r, size_t at, pb::Customer* c) {
  auto* ct = c->add_contacts();
  ct->set_name(r.Str(at));
  ct->set_phone(r.Str(at + 1));
  ct->set_email(r.Str(at + 2));
  ct->set_address(r.Str(at + 3));
  ct->set_title(r.Str(at + 4));
  ct->set_primary(r.Int(at + 5) != 0);
}

// Fills contacts and tags of the given customers (keyed by id).
absl::Status LoadChildren(Session& s, std::vector<pb::Customer*> customers) {
  if (customers.empty()) return absl::OkStatus();
  std::map<int64_t, pb::Customer*> by_id;
  std::vector<int64_t> ids;
  for (auto* c : customers) {
    by_id[c->id()] = c;
    ids.push_back(c->id());
  }
  // Contacts and tags in one round trip: a page is then two statements, the rows and
  // their children, whatever they have.
  std::vector<Param> params;
  std::string in_contacts = InList(params, ids);
  std::string in_tags = InList(params, ids);
  KEFU_ASSIGN_OR_RETURN(
      auto rows,
      s.Query(absl::StrCat("SELECT 0 AS kind, customer_id, position, name, phone, email, address, title, "
                           "is_primary FROM customer_contacts WHERE customer_id IN (", in_contacts, ") "
                           "UNION ALL SELECT 1, customer_id, 0, tag, '', '', '', '', 0 FROM customer_tags "
                           "WHERE customer_id IN (", in_tags, ") ORDER BY kind, customer_id, position, name"),
              params));
  for (const auto& r : rows) {
    auto it = by_id.find(r.Int(1));
    if (it == by_id.end()) continue;
    if (r.Int(0) == 1) {
      it->second->add_tags(r.Str(3));
      continue;
    }
    AddContactFromRow(r, 3, it->second);
  }
  return absl::OkStatus();
}

// Customers from rows of kCustomerColumns, with their contacts and tags: from each
// row's copy, or, for rows without one, from the two tables in one statement.
absl::StatusOr<std::vector<pb::Customer>> CustomersFromRows(Session& s, const std::vector<Row>& rows) {
  std::vector<pb::Customer> out;
  out.reserve(rows.size());
  std::vector<size_t> without_copy;
  for (const auto& r : rows) {
    out.push_back(CustomerFromRow(r));
    pb::Customer copy;
    if (r.IsNull(kContactsTagsColumn) || !copy.ParseFromString(r.Str(kContactsTagsColumn))) {
      without_copy.push_back(out.size() - 1);
      continue;
    }
    out.back().mutable_contacts()->Swap(copy.mutable_contacts());
    out.back().mutable_tags()->Swap(copy.mutable_tags());
  }
  std::vector<pb::Customer*> from_tables;
  for (size_t i : without_copy) from_tables.push_back(&out[i]);
  KEFU_RETURN_IF_ERROR(LoadChildren(s, from_tables));
  return out;
}

// One customer with its contacts and tags: one row, one statement, on the read path of
// GetCustomer. With `for_update` the row is locked for the transaction's writes (its
// children, when read from the tables, after it).
absl::StatusOr<std::optional<pb::Customer>> ReadCustomer(Session& s, int64_t id, bool for_update = false) {
  static const std::string kRead = absl::StrCat("SELECT ", kCustomerColumns, " FROM customers c WHERE c.id = ?");
  static const std::string kLock = absl::StrCat(kRead, " FOR UPDATE");
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(for_update ? kLock : kRead, {id}));
  if (rows.empty()) return std::optional<pb::Customer>();
  KEFU_ASSIGN_OR_RETURN(auto customers, CustomersFromRows(s, rows));
  return std::optional<pb::Customer>(std::move(customers.front()));
}

absl::StatusOr<std::optional<pb::Customer>> LockCustomer(Session& s, int64_t id) {
  return ReadCustomer(s, id, /*for_update=*/true);
}

// Contacts and tags go in one multi-row INSERT each: a round trip per table, not per row
// (at most kMaxContacts / kMaxTags rows, so a few cached statements per connection).
absl::Status WriteContacts(Session& s, const pb::Customer& c, bool replace) {
  if (replace)
    KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM customer_contacts WHERE customer_id = ?", {c.id()}).status());
  if (c.contacts_size() == 0) return absl::OkStatus();
  std::string sql =
      "INSERT INTO customer_contacts (customer_id, position, name, phone, phone_key, email, email_key, address, "
      "title, is_primary) VALUES ";
  std::vector<Param> params;
  for (int i = 0; i < c.contacts_size(); ++i) {
    const auto& ct = c.contacts(i);
    absl::StrAppend(&sql, i ? ", " : "", "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (Param p : {Param(c.id()), Param(i), Param(ct.name()), Param(ct.phone()), Param(NormalizePhone(ct.phone())),
                    Param(ct.email()), Param(NormalizeEmail(ct.email())), Param(ct.address()), Param(ct.title()),
                    Param(ct.primary())})
      params.push_back(std::move(p));
  }
  return s.Exec(sql, params).status();
}

absl::Status WriteTags(Session& s, const pb::Customer& c, bool replace) {
  if (replace)
    KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM customer_tags WHERE customer_id = ?", {c.id()}).status());
  if (c.tags_size() == 0) return absl::OkStatus();
  std::string sql = "INSERT INTO customer_tags (customer_id, tag) VALUES ";
  std::vector<Param> params;
  for (int i = 0; i < c.tags_size(); ++i) {
    absl::StrAppend(&sql, i ? ", " : "", "(?, ?)");
    params.emplace_back(c.id());
    params.emplace_back(c.tags(i));
  }
  return s.Exec(sql, params).status();
}

constexpr const char* kInsertLog =
    "INSERT INTO customer_log (customer_id, event_time, staff_id, department_id, channel, category, description, "
    "resolution, summary, satisfaction, reference, create_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

std::vector<Param> LogParams(pb::LogEntry& e, absl::Time now) {
  if (!e.has_event_time()) *e.mutable_event_time() = ToProtoTime(now);
  *e.mutable_create_time() = ToProtoTime(now);
  return {e.customer_id(), ToSqlTime(FromProtoTime(e.event_time())), e.staff_id(), e.department_id(),
          static_cast<int>(e.channel()), static_cast<int>(e.category()), e.description(), e.resolution(),
          e.summary(), static_cast<int>(e.satisfaction()), e.reference(), ToSqlTime(now)};
}

// A log entry written beside another change; nobody asks for its id, so it costs no
// round trip for LAST_INSERT_ID().
absl::Status InsertLog(Session& s, pb::LogEntry& e, absl::Time now) {
  return s.Exec(kInsertLog, LogParams(e, now)).status();
}

// A log entry appended for its own sake: the caller returns it, id included.
absl::Status InsertLogWithId(Session& s, pb::LogEntry& e, absl::Time now) {
  KEFU_ASSIGN_OR_RETURN(auto r, s.ExecInsert(kInsertLog, LogParams(e, now)));
  e.set_id(r.last_insert_id);
  return absl::OkStatus();
}

pb::LogEntry LogFromRow(const Row& r) {
  pb::LogEntry e;
  e.set_id(r.Int(0));
  e.set_customer_id(r.Int(1));
  *e.mutable_event_time() = ToProtoTime(r.Time(2));
  e.set_staff_id(r.Str(3));
  e.set_department_id(r.Str(4));
  e.set_channel(static_cast<pb::Channel>(r.Int(5)));
  e.set_category(static_cast<pb::LogCategory>(r.Int(6)));
  e.set_description(r.Str(7));
  e.set_resolution(r.Str(8));
  e.set_summary(r.Str(9));
  e.set_satisfaction(static_cast<pb::Satisfaction>(r.Int(10)));
  e.set_reference(r.Str(11));
  *e.mutable_create_time() = ToProtoTime(r.Time(12));
  return e;
}

constexpr char kLogColumns[] =
    "id, customer_id, event_time, staff_id, department_id, channel, category, description, "
    "resolution, summary, satisfaction, reference, create_time";

absl::Status MergedError(const pb::Customer& c) {
  return MakeError(absl::StatusCode::kFailedPrecondition, "CUSTOMER_MERGED",
                   absl::StrCat("customer ", c.id(), " was merged into ", c.merged_into_id()), {},
                   {{"merged_into_id", absl::StrCat(c.merged_into_id())}});
}

// Where each customer's records go now, so that events about a merged record land on
// the survivor: itself, or the customer it was merged into (following merges of
// merges). Customers that do not exist are left out of the map. One statement per hop
// of the merge chains, for the whole batch.
absl::StatusOr<std::map<int64_t, int64_t>> ResolveCustomerIds(Session& s, const std::vector<int64_t>& ids) {
  constexpr int kMaxHops = 8;
  std::map<int64_t, int64_t> merged_into;  // rows read: id -> merged_into_id, 0 for none
  std::vector<int64_t> to_read(ids.begin(), ids.end());
  std::sort(to_read.begin(), to_read.end());
  to_read.erase(std::unique(to_read.begin(), to_read.end()), to_read.end());
  for (int hop = 0; !to_read.empty(); ++hop) {
    if (hop == kMaxHops) return absl::InternalError("merge chain too long");
    std::vector<Param> params;
    std::string list = InList(params, to_read);
    KEFU_ASSIGN_OR_RETURN(auto rows,
                          s.Query(absl::StrCat("SELECT id, merged_into_id FROM customers WHERE id IN (", list, ")"), params));
    std::vector<int64_t> next;
    for (const auto& r : rows) {
      int64_t into = r.IsNull(1) ? 0 : r.Int(1);
      merged_into[r.Int(0)] = into;
      if (into != 0 && !merged_into.count(into)) next.push_back(into);
    }
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    to_read = std::move(next);
  }
  std::map<int64_t, int64_t> resolved;
  for (int64_t id : ids) {
    int64_t at = id;
    for (size_t step = 0; step <= merged_into.size(); ++step) {
      auto row = merged_into.find(at);
      if (row == merged_into.end()) break;  // no such customer
      if (row->second == 0) {
        resolved[id] = at;
        break;
      }
      at = row->second;
    }
  }
  return resolved;
}

absl::StatusOr<int64_t> ResolveCustomerId(Session& s, int64_t id) {
  KEFU_ASSIGN_OR_RETURN(auto resolved, ResolveCustomerIds(s, {id}));
  auto it = resolved.find(id);
  if (it == resolved.end()) return NotFound("customer", absl::StrCat(id));
  return it->second;
}

pb::RetentionAction ActionFromRow(const Row& r) {
  pb::RetentionAction a;
  a.set_id(r.Int(0));
  a.set_type(static_cast<pb::RetentionActionType>(r.Int(1)));
  a.set_description(r.Str(2));
  a.mutable_cost()->set_amount_minor(r.Int(3));
  a.mutable_cost()->set_currency_code(r.Str(4));
  a.set_staff_id(r.Str(5));
  *a.mutable_action_time() = ToProtoTime(r.Time(6));
  return a;
}

constexpr char kCaseColumns[] =
    "id, customer_id, reason, churned, owner_id, status, outcome, outcome_note, total_cost_minor, "
    "currency, open_time, close_time, version";

pb::RetentionCase CaseFromRow(const Row& r) {
  pb::RetentionCase rc;
  rc.set_id(r.Int(0));
  rc.set_customer_id(r.Int(1));
  rc.set_reason(r.Str(2));
  rc.set_churned(r.Int(3) != 0);
  rc.set_owner_id(r.Str(4));
  rc.set_status(static_cast<pb::RetentionStatus>(r.Int(5)));
  rc.set_outcome(static_cast<pb::RetentionOutcome>(r.Int(6)));
  rc.set_outcome_note(r.Str(7));
  rc.mutable_total_cost()->set_amount_minor(r.Int(8));
  rc.mutable_total_cost()->set_currency_code(r.Str(9));
  *rc.mutable_open_time() = ToProtoTime(r.Time(10));
  if (!r.IsNull(11)) *rc.mutable_close_time() = ToProtoTime(r.Time(11));
  rc.set_version(r.Int(12));
  return rc;
}

absl::StatusOr<std::optional<pb::RetentionCase>> LoadCase(Session& s, int64_t id, bool for_update) {
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kCaseColumns,
                                                          " FROM retention_cases WHERE id = ?",
                                                          for_update ? " FOR UPDATE" : ""),
                                             {id}));
  if (!row) return std::optional<pb::RetentionCase>();
  pb::RetentionCase rc = CaseFromRow(*row);
  KEFU_ASSIGN_OR_RETURN(auto actions,
                        s.Query("SELECT id, type, description, cost_minor, currency, staff_id, action_time "
                                "FROM retention_actions WHERE case_id = ? ORDER BY id",
                                {id}));
  for (const auto& a : actions) *rc.add_actions() = ActionFromRow(a);
  return std::optional<pb::RetentionCase>(std::move(rc));
}

constexpr char kSurveyColumns[] =
    "id, campaign, customer_id, status, satisfaction, comment, staff_id, create_time, complete_time";

pb::Survey SurveyFromRow(const Row& r) {
  pb::Survey s;
  s.set_id(r.Int(0));
  s.set_campaign(r.Str(1));
  s.set_customer_id(r.Int(2));
  s.set_status(static_cast<pb::SurveyStatus>(r.Int(3)));
  s.set_satisfaction(static_cast<pb::Satisfaction>(r.Int(4)));
  s.set_comment(r.Str(5));
  s.set_staff_id(r.Str(6));
  *s.mutable_create_time() = ToProtoTime(r.Time(7));
  if (!r.IsNull(8)) *s.mutable_complete_time() = ToProtoTime(r.Time(8));
  return s;
}

pb::BusinessVolume VolumeFromRow(const Row& r, size_t at = 0) {
  pb::BusinessVolume v;
  v.set_customer_id(r.Int(at));
  v.set_period(r.Str(at + 1));
  v.set_volume(r.Int(at + 2));
  v.mutable_revenue()->set_amount_minor(r.Int(at + 3));
  v.mutable_revenue()->set_currency_code(r.Str(at + 4));
  *v.mutable_update_time() = ToProtoTime(r.Time(at + 5));
  return v;
}

// match_name: organisations are duplicates by name; people share names too often.
// One statement for every key, since Create runs it on each new customer: a part per
// kind of key, each through its index and capped at 20 matches.
absl::StatusOr<std::vector<pb::DuplicateMatch>> FindDuplicatesIn(
    Session& s, bool match_name, const std::string& name, const std::vector<std::string>& phones,
    const std::vector<std::string>& emails, int64_t exclude_id) {
  static constexpr const char* kLabels[] = {"name", "phone", "email"};
  auto keys_of = [](const std::vector<std::string>& values, std::string (*normalize)(absl::string_view)) {
    std::vector<std::string> keys;
    for (const auto& v : values) {
      std::string k = normalize(v);
      if (!k.empty() && std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(std::move(k));
    }
    return keys;
  };
  std::vector<std::string> parts;
  std::vector<Param> params;
  std::string name_key = match_name ? NormalizeName(name) : "";
  if (!name_key.empty()) {
    parts.push_back("(SELECT 0, id, name FROM customers WHERE name_key = ? AND merged_into_id IS NULL LIMIT 20)");
    params.emplace_back(name_key);
  }
  std::vector<std::string> contact_keys[] = {keys_of(phones, NormalizePhone), keys_of(emails, NormalizeEmail)};
  for (int kind = 0; kind < 2; ++kind) {
    if (contact_keys[kind].empty()) continue;
    parts.push_back(absl::StrCat("(SELECT ", kind + 1,
                                 ", c.id, c.name FROM customer_contacts k JOIN customers c ON c.id = k.customer_id "
                                 "WHERE k.", kind == 0 ? "phone_key" : "email_key", " IN (",
                                 InList(params, contact_keys[kind]), ") AND c.merged_into_id IS NULL LIMIT 20)"));
  }
  if (parts.empty()) return std::vector<pb::DuplicateMatch>();
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrJoin(parts, " UNION ALL "), params));
  std::map<int64_t, pb::DuplicateMatch> matches;
  for (int label = 0; label < 3; ++label) {  // matched_on lists name, phone, email in that order
    for (const auto& r : rows) {
      if (r.Int(0) != label || r.Int(1) == exclude_id) continue;
      auto& m = matches[r.Int(1)];
      m.set_customer_id(r.Int(1));
      m.set_number(CustomerNumber(r.Int(1)));
      m.set_name(r.Str(2));
      if (std::find(m.matched_on().begin(), m.matched_on().end(), kLabels[label]) == m.matched_on().end())
        m.add_matched_on(kLabels[label]);
    }
  }
  std::vector<pb::DuplicateMatch> out;
  for (auto& [id, m] : matches) out.push_back(std::move(m));
  return out;
}

absl::Status DuplicateError(const std::vector<pb::DuplicateMatch>& dups) {
  std::vector<std::string> ids;
  for (const auto& d : dups) ids.push_back(absl::StrCat(d.customer_id()));
  return MakeError(absl::StatusCode::kAlreadyExists, "DUPLICATE_CUSTOMER",
                   absl::StrCat("customer: matches existing customers ", absl::StrJoin(ids, ", "),
                                " on name, phone or email; set allow_duplicates to create anyway"),
                   {}, {{"duplicate_ids", absl::StrJoin(ids, ",")}});
}

}  // namespace

// ---- customers ----

absl::StatusOr<pb::Customer> Repository::Get(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto c, ReadCustomer(s, id));
  if (!c) return NotFound("customer", absl::StrCat(id));
  return *c;
}

absl::StatusOr<Repository::TierRow> Repository::GetTier(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(
      auto row, s.QueryOne("SELECT tier, version, merged_into_id, department_id FROM customers WHERE id = ?", {id}));
  if (!row) return NotFound("customer", absl::StrCat(id));
  TierRow t;
  t.tier.set_customer_id(id);
  t.tier.set_tier(static_cast<pb::Tier>(row->Int(0)));
  t.tier.set_version(row->Int(1));
  t.tier.set_merged_into_id(row->Int(2));
  t.department_id = row->Str(3);
  return t;
}

absl::StatusOr<std::vector<pb::DuplicateMatch>> Repository::FindDuplicates(
    const std::string& name, const std::vector<std::string>& phones,
    const std::vector<std::string>& emails, int64_t exclude_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  return FindDuplicatesIn(s, true, name, phones, emails, exclude_id);
}

namespace {

// One new customer with its contacts, tags and the creation entry of its log.
absl::StatusOr<pb::Customer> InsertCustomer(Session& s, const pb::Customer& input, const std::string& actor,
                                            const std::string& log_text, absl::Time now) {
  pb::Customer c = input;
  KEFU_ASSIGN_OR_RETURN(
      auto ins,
      s.ExecInsert("INSERT INTO customers (kind, name, name_key, industry, region, source, owner_id, "
                   "department_id, tier, lifecycle_stage, credit_rating, create_time, update_time, version, "
                   "contacts_tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                   {static_cast<int>(c.kind()), c.name(), NormalizeName(c.name()), c.industry(),
                    c.region(), static_cast<int>(c.source()), c.owner_id(), c.department_id(),
                    static_cast<int>(c.tier()), static_cast<int>(c.lifecycle_stage()),
                    static_cast<int>(c.credit_rating()), ToSqlTime(now), ToSqlTime(now), ContactsTagsCopy(c)}));
  c.set_id(ins.last_insert_id);
  c.set_number(CustomerNumber(c.id()));
  c.set_version(1);
  c.set_merged_into_id(0);
  *c.mutable_create_time() = ToProtoTime(now);
  *c.mutable_update_time() = ToProtoTime(now);
  KEFU_RETURN_IF_ERROR(WriteContacts(s, c, false));
  KEFU_RETURN_IF_ERROR(WriteTags(s, c, false));
  pb::LogEntry e = AccountLogEntry(c.id(), actor, log_text, "", now);
  KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
  return c;
}

void ContactKeys(const pb::Customer& c, std::vector<std::string>* phones, std::vector<std::string>* emails) {
  for (const auto& ct : c.contacts()) {
    if (!ct.phone().empty()) phones->push_back(ct.phone());
    if (!ct.email().empty()) emails->push_back(ct.email());
  }
}

}  // namespace

absl::StatusOr<pb::Customer> Repository::Create(const pb::Customer& input, const IdempotencyKey& key,
                                                bool allow_duplicates, const std::string& actor) {
  std::vector<std::string> phones, emails;
  for (const auto& ct : input.contacts()) {
    if (!ct.phone().empty()) phones.push_back(ct.phone());
    if (!ct.email().empty()) emails.push_back(ct.email());
  }
  int64_t replayed_id = 0;
  absl::Time now = clock_->Now();
  auto created = pool_->InTransaction<pb::Customer>([&](Session& s) -> absl::StatusOr<pb::Customer> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, "customers.create", key.request_id,
                                                              key.fingerprint));
      if (existing) {
        (void)absl::SimpleAtoi(*existing, &replayed_id);
        return pb::Customer();
      }
    }
    // Claimed first: a replay returns the first result even if duplicates appeared since.
    if (!allow_duplicates) {
      KEFU_ASSIGN_OR_RETURN(auto dups, FindDuplicatesIn(s, input.kind() != pb::CUSTOMER_KIND_PERSON, input.name(), phones, emails, 0));
      if (!dups.empty()) return DuplicateError(dups);
    }
    KEFU_ASSIGN_OR_RETURN(pb::Customer c, InsertCustomer(s, input, actor, "客户建档 customer record created", now));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "customers.create", key.request_id, absl::StrCat(c.id())));
    return c;
  });
  if (!created.ok()) return created.status();
  if (replayed_id != 0) return Get(replayed_id);
  return created;
}

absl::StatusOr<std::vector<pb::DuplicateMatch>> Repository::DuplicatesOf(const pb::Customer& c) {
  std::vector<std::string> phones, emails;
  ContactKeys(c, &phones, &emails);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  return FindDuplicatesIn(s, c.kind() != pb::CUSTOMER_KIND_PERSON, c.name(), phones, emails, 0);
}

absl::StatusOr<std::vector<pb::Customer>> Repository::CreateMany(const std::vector<pb::Customer>& rows,
                                                                 const std::string& actor) {
  absl::Time now = clock_->Now();
  return pool_->InTransaction<std::vector<pb::Customer>>(
      [&](Session& s) -> absl::StatusOr<std::vector<pb::Customer>> {
        std::vector<pb::Customer> out;
        out.reserve(rows.size());
        for (const auto& row : rows) {
          KEFU_ASSIGN_OR_RETURN(pb::Customer c, InsertCustomer(s, row, actor, "客户建档 imported", now));
          out.push_back(std::move(c));
        }
        return out;
      });
}

absl::StatusOr<pb::Customer> Repository::Mutate(int64_t id, int64_t expected_version, absl::string_view scope,
                                                const IdempotencyKey& key, const Decide& decide) {
  absl::Time now = clock_->Now();
  // The request id is claimed before the version check: a retry of a change that went
  // through gets its result back instead of ABORTED.
  return IdempotentTransaction<pb::Customer>(*pool_, scope, key, [&](Session& s) -> absl::StatusOr<pb::Customer> {
    KEFU_ASSIGN_OR_RETURN(auto current, LockCustomer(s, id));
    if (!current) return NotFound("customer", absl::StrCat(id));
    if (current->merged_into_id() != 0) return MergedError(*current);
    if (expected_version != 0 && expected_version != current->version())
      return StaleVersion(expected_version, current->version());
    KEFU_ASSIGN_OR_RETURN(Change change, decide(*current));
    pb::Customer& c = change.updated;
    // Contacts and tags change only when the change says so: the tables and the row's
    // copy of them are written together or not at all.
    if (!change.contacts_changed) *c.mutable_contacts() = current->contacts();
    if (!change.tags_changed) *c.mutable_tags() = current->tags();
    c.set_id(id);
    c.set_version(current->version() + 1);
    *c.mutable_create_time() = current->create_time();
    *c.mutable_update_time() = ToProtoTime(now);
    KEFU_RETURN_IF_ERROR(
        s.Exec("UPDATE customers SET kind = ?, name = ?, name_key = ?, industry = ?, region = ?, source = ?, "
               "owner_id = ?, department_id = ?, tier = ?, lifecycle_stage = ?, credit_rating = ?, "
               "update_time = ?, version = ?, contacts_tags = ? WHERE id = ?",
               {static_cast<int>(c.kind()), c.name(), NormalizeName(c.name()), c.industry(), c.region(),
                static_cast<int>(c.source()), c.owner_id(), c.department_id(), static_cast<int>(c.tier()),
                static_cast<int>(c.lifecycle_stage()), static_cast<int>(c.credit_rating()), ToSqlTime(now),
                c.version(), ContactsTagsCopy(c), id})
            .status());
    if (change.contacts_changed) KEFU_RETURN_IF_ERROR(WriteContacts(s, c, true));
    if (change.tags_changed) KEFU_RETURN_IF_ERROR(WriteTags(s, c, true));
    for (auto& e : change.log) {
      e.set_customer_id(id);
      KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
    }
    if (change.tier_change) {
      const auto& t = *change.tier_change;
      KEFU_RETURN_IF_ERROR(
          s.Exec("INSERT INTO tier_changes (customer_id, from_tier, to_tier, reason, changed_by, change_time) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 {id, static_cast<int>(t.from_tier()), static_cast<int>(t.to_tier()), t.reason(),
                  t.changed_by(), ToSqlTime(now)})
              .status());
      if (tell_complaints_)
        KEFU_RETURN_IF_ERROR(clients::EnqueueCustomerTier(s, id, static_cast<int>(c.tier()), c.version(), now));
    }
    if (change.stage_change) {
      const auto& st = *change.stage_change;
      KEFU_RETURN_IF_ERROR(
          s.Exec("INSERT INTO lifecycle_changes (customer_id, from_stage, to_stage, reason, changed_by, "
                 "change_time) VALUES (?, ?, ?, ?, ?, ?)",
                 {id, static_cast<int>(st.from), static_cast<int>(st.to), st.reason, st.actor, ToSqlTime(now)})
              .status());
    }
    return c;
  });
}

absl::StatusOr<Page<pb::Customer>> Repository::List(const ListCustomersFilter& f, int page_size,
                                                    const std::optional<CustomerCursor>& after) {
  std::vector<Param> params;
  std::string sql = absl::StrCat("SELECT ", kCustomerColumns, " FROM customers c");
  if (!f.tag.empty()) {
    sql += " JOIN customer_tags t ON t.customer_id = c.id AND t.tag = ?";
    params.emplace_back(f.tag);
  }
  sql += " WHERE c.merged_into_id IS NULL";
  auto eq = [&](const char* col, Param p) {
    absl::StrAppend(&sql, " AND ", col, " = ?");
    params.push_back(std::move(p));
  };
  if (!f.owner_id.empty()) eq("c.owner_id", f.owner_id);
  if (!f.department_id.empty()) eq("c.department_id", f.department_id);
  if (!f.region.empty()) eq("c.region", f.region);
  if (f.tier != pb::TIER_UNSPECIFIED) eq("c.tier", static_cast<int>(f.tier));
  if (f.stage != pb::LIFECYCLE_STAGE_UNSPECIFIED) eq("c.lifecycle_stage", static_cast<int>(f.stage));
  bool by_name = !f.name_prefix.empty();
  if (by_name) {
    std::string pattern;
    for (char ch : f.name_prefix) {
      if (ch == '%' || ch == '_' || ch == '\\') pattern.push_back('\\');
      pattern.push_back(ch);
    }
    pattern.push_back('%');
    sql += " AND c.name LIKE ?";
    params.emplace_back(pattern);
    if (after) {
      sql += " AND (c.name > ? OR (c.name = ? AND c.id > ?))";
      params.emplace_back(after->name);
      params.emplace_back(after->name);
      params.emplace_back(after->id);
    }
    sql += " ORDER BY c.name, c.id";
  } else {
    if (after) {
      sql += " AND c.id > ?";
      params.emplace_back(after->id);
    }
    sql += " ORDER BY c.id";
  }
  sql += " LIMIT ?";
  params.emplace_back(page_size + 1);

  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  Page<pb::Customer> page;
  page.more = static_cast<int>(rows.size()) > page_size;
  if (page.more) rows.resize(page_size);
  KEFU_ASSIGN_OR_RETURN(page.items, CustomersFromRows(s, rows));
  return page;
}

absl::StatusOr<pb::Customer> Repository::Merge(int64_t survivor_id, int64_t duplicate_id,
                                               const std::string& reason, const std::string& actor,
                                               const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  std::string t = ToSqlTime(now);
  return IdempotentTransaction<pb::Customer>(*pool_, "customers.MergeCustomers", key,
                                             [&](Session& s) -> absl::StatusOr<pb::Customer> {
    // Lock in id order so two merges of the same pair cannot deadlock.
    int64_t first = std::min(survivor_id, duplicate_id), second = std::max(survivor_id, duplicate_id);
    KEFU_ASSIGN_OR_RETURN(auto a, LockCustomer(s, first));
    KEFU_ASSIGN_OR_RETURN(auto b, LockCustomer(s, second));
    auto& survivor = first == survivor_id ? a : b;
    auto& dup = first == survivor_id ? b : a;
    if (!survivor) return NotFound("customer", absl::StrCat(survivor_id));
    if (!dup) return NotFound("customer", absl::StrCat(duplicate_id));
    if (dup->merged_into_id() == survivor_id) return *survivor;  // a repeat of a finished merge
    if (survivor->merged_into_id() != 0) return MergedError(*survivor);
    if (dup->merged_into_id() != 0) return MergedError(*dup);

    // Contacts the survivor lacks (by phone or email) are appended.
    std::set<std::string> keys;
    for (const auto& ct : survivor->contacts()) {
      if (!ct.phone().empty()) keys.insert("p" + NormalizePhone(ct.phone()));
      if (!ct.email().empty()) keys.insert("e" + NormalizeEmail(ct.email()));
    }
    pb::Customer merged = *survivor;
    for (auto ct : dup->contacts()) {
      bool known = (!ct.phone().empty() && keys.count("p" + NormalizePhone(ct.phone()))) ||
                   (!ct.email().empty() && keys.count("e" + NormalizeEmail(ct.email())));
      if (known || static_cast<size_t>(merged.contacts_size()) >= kMaxContacts) continue;
      ct.set_primary(false);
      *merged.add_contacts() = ct;
    }
    std::set<std::string> tags(merged.tags().begin(), merged.tags().end());
    for (const auto& tag : dup->tags())
      if (tags.insert(tag).second && static_cast<size_t>(merged.tags_size()) < kMaxTags) merged.add_tags(tag);
    KEFU_RETURN_IF_ERROR(WriteContacts(s, merged, true));
    KEFU_RETURN_IF_ERROR(WriteTags(s, merged, true));

    // History moves to the survivor.
    for (const char* table : {"customer_log", "tier_changes", "lifecycle_changes", "retention_cases"}) {
      KEFU_RETURN_IF_ERROR(
          s.Exec(absl::StrCat("UPDATE ", table, " SET customer_id = ? WHERE customer_id = ?"),
                 {survivor_id, duplicate_id})
              .status());
    }
    // A customer is surveyed once per campaign: keep the survivor's survey on a clash.
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE IGNORE surveys SET customer_id = ? WHERE customer_id = ?",
                                {survivor_id, duplicate_id})
                             .status());
    // Business volume of the same month adds up.
    KEFU_ASSIGN_OR_RETURN(auto volumes, s.Query("SELECT period, volume, revenue_minor, currency FROM business_volumes "
                                                "WHERE customer_id = ?",
                                                {duplicate_id}));
    for (const auto& v : volumes) {
      KEFU_RETURN_IF_ERROR(
          s.Exec("INSERT INTO business_volumes (customer_id, period, volume, revenue_minor, currency, update_time) "
                 "VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE volume = volume + VALUES(volume), "
                 "revenue_minor = revenue_minor + VALUES(revenue_minor), update_time = VALUES(update_time)",
                 {survivor_id, v.Str(0), v.Int(1), v.Int(2), v.Str(3), t})
              .status());
    }
    KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM business_volumes WHERE customer_id = ?", {duplicate_id}).status());

    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE customers SET merged_into_id = ?, version = version + 1, update_time = ? "
                                "WHERE id = ?",
                                {survivor_id, t, duplicate_id})
                             .status());
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE customers SET version = version + 1, update_time = ?, contacts_tags = ? "
                                "WHERE id = ?",
                                {t, ContactsTagsCopy(merged), survivor_id})
                             .status());
    pb::LogEntry e = AccountLogEntry(
        survivor_id, actor,
        absl::StrCat("合并客户 merged duplicate ", CustomerNumber(duplicate_id), " (", dup->name(), ") into this record"),
        reason, now);
    KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
    merged.set_version(survivor->version() + 1);
    *merged.mutable_update_time() = ToProtoTime(now);
    return merged;
  });
}

absl::StatusOr<pb::TransferPortfolioResponse> Repository::TransferPortfolio(const std::string& from,
                                                                            const std::string& to,
                                                                            const std::string& department,
                                                                            const std::string& reason,
                                                                            const std::string& actor,
                                                                            const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  using Response = pb::TransferPortfolioResponse;
  return IdempotentTransaction<Response>(*pool_, "customers.TransferPortfolio", key,
                                         [&](Session& s) -> absl::StatusOr<Response> {
    KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id FROM customers WHERE owner_id = ? AND merged_into_id IS NULL "
                                             "ORDER BY id FOR UPDATE",
                                             {from}));
    Response out;
    std::vector<int64_t> ids;
    for (const auto& r : rows) ids.push_back(r.Int(0));
    if (ids.empty()) return out;
    KEFU_RETURN_IF_ERROR(
        s.Exec("UPDATE customers SET owner_id = ?, department_id = IF(? = '', department_id, ?), "
               "version = version + 1, update_time = ? WHERE owner_id = ? AND merged_into_id IS NULL",
               {to, department, department, ToSqlTime(now), from})
            .status());
    for (int64_t id : ids) {
      pb::LogEntry e = AccountLogEntry(id, actor, OwnerChangeText(from, to), reason, now);
      KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
      out.add_customer_ids(id);
    }
    out.set_transferred_count(static_cast<int32_t>(ids.size()));
    return out;
  });
}

absl::StatusOr<Page<pb::TierChange>> Repository::ListTierChanges(int64_t customer_id, int page_size,
                                                                 int64_t before_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto exists, s.QueryOne("SELECT id FROM customers WHERE id = ?", {customer_id}));
  if (!exists) return NotFound("customer", absl::StrCat(customer_id));
  KEFU_ASSIGN_OR_RETURN(
      auto rows, s.Query("SELECT id, customer_id, from_tier, to_tier, reason, changed_by, change_time FROM tier_changes "
                         "WHERE customer_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                         {customer_id, before_id > 0 ? before_id : INT64_MAX, page_size + 1}));
  Page<pb::TierChange> page;
  page.more = static_cast<int>(rows.size()) > page_size;
  if (page.more) rows.resize(page_size);
  for (const auto& r : rows) {
    pb::TierChange t;
    t.set_id(r.Int(0));
    t.set_customer_id(r.Int(1));
    t.set_from_tier(static_cast<pb::Tier>(r.Int(2)));
    t.set_to_tier(static_cast<pb::Tier>(r.Int(3)));
    t.set_reason(r.Str(4));
    t.set_changed_by(r.Str(5));
    *t.mutable_change_time() = ToProtoTime(r.Time(6));
    page.items.push_back(std::move(t));
  }
  return page;
}

// ---- log ----

absl::StatusOr<pb::LogEntry> Repository::AppendLog(pb::LogEntry entry, const IdempotencyKey& key) {
  std::vector<NewLogEntry> one;
  one.push_back({std::move(entry), key});
  KEFU_ASSIGN_OR_RETURN(auto appended, AppendLogs(std::move(one)));
  return std::move(appended.front());
}

absl::StatusOr<std::vector<pb::LogEntry>> Repository::AppendLogs(std::vector<NewLogEntry> entries,
                                                                 const std::function<std::string(size_t)>& position) {
  auto at = [&](size_t i, const absl::Status& s) { return position ? AtPosition(position(i), s) : s; };
  absl::Time now = clock_->Now();
  // Positions whose request id had already been served: their first entry is read back
  // after the commit.
  std::vector<std::pair<size_t, int64_t>> replayed;
  auto result = pool_->InTransaction<std::vector<pb::LogEntry>>(
      [&](Session& s) -> absl::StatusOr<std::vector<pb::LogEntry>> {
        replayed.clear();
        std::vector<pb::LogEntry> out(entries.size());
        std::vector<bool> skip(entries.size(), false);  // replays: nothing to write
        // Claims: the relay's batches are all new, claimed in one go; a batch with any
        // id seen before goes one by one, to find the replays.
        std::vector<const IdempotencyKey*> keys;
        for (const auto& e : entries)
          if (!e.key.request_id.empty()) keys.push_back(&e.key);
        bool all_new = keys.empty();
        if (!all_new) {
          KEFU_ASSIGN_OR_RETURN(all_new, db::ClaimNewRequestIds(s, "customers.log", keys));
        }
        for (size_t i = 0; i < entries.size() && !all_new; ++i) {
          const IdempotencyKey& key = entries[i].key;
          if (key.request_id.empty()) continue;
          auto existing = db::ClaimRequestId(s, "customers.log", key.request_id, key.fingerprint);
          if (existing.status().code() == absl::StatusCode::kFailedPrecondition) return at(i, existing.status());
          KEFU_RETURN_IF_ERROR(existing.status());
          if (*existing) {
            int64_t id = 0;
            (void)absl::SimpleAtoi(**existing, &id);
            replayed.emplace_back(i, id);
            skip[i] = true;
          }
        }
        std::vector<int64_t> customer_ids;
        for (size_t i = 0; i < entries.size(); ++i)
          if (!skip[i]) customer_ids.push_back(entries[i].entry.customer_id());
        KEFU_ASSIGN_OR_RETURN(auto targets, ResolveCustomerIds(s, customer_ids));
        std::vector<std::pair<std::string, std::string>> completed;
        for (size_t i = 0; i < entries.size(); ++i) {
          if (skip[i]) continue;
          auto target = targets.find(entries[i].entry.customer_id());
          if (target == targets.end()) return at(i, NotFound("customer", absl::StrCat(entries[i].entry.customer_id())));
          pb::LogEntry& e = out[i];
          e = entries[i].entry;  // copied: a deadlocked transaction runs again
          e.set_customer_id(target->second);
          KEFU_RETURN_IF_ERROR(InsertLogWithId(s, e, now));
          if (!entries[i].key.request_id.empty()) completed.emplace_back(entries[i].key.request_id, absl::StrCat(e.id()));
        }
        KEFU_RETURN_IF_ERROR(db::CompleteRequestIds(s, "customers.log", completed));
        return out;
      });
  if (!result.ok() || replayed.empty()) return result;
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  for (const auto& [i, id] : replayed) {
    KEFU_ASSIGN_OR_RETURN(auto row,
                          s.QueryOne(absl::StrCat("SELECT ", kLogColumns, " FROM customer_log WHERE id = ?"), {id}));
    if (!row) return absl::InternalError("replayed log entry vanished");
    (*result)[i] = LogFromRow(*row);
  }
  return result;
}

absl::StatusOr<Page<pb::LogEntry>> Repository::ListLog(int64_t customer_id, pb::LogCategory category,
                                                       std::optional<absl::Time> start, std::optional<absl::Time> end,
                                                       int page_size, const std::optional<LogCursor>& after) {
  std::vector<Param> params{customer_id};
  std::string sql = absl::StrCat("SELECT ", kLogColumns, " FROM customer_log WHERE customer_id = ?");
  if (category != pb::LOG_CATEGORY_UNSPECIFIED) {
    sql += " AND category = ?";
    params.emplace_back(static_cast<int>(category));
  }
  if (start) {
    sql += " AND event_time >= ?";
    params.emplace_back(ToSqlTime(*start));
  }
  if (end) {
    sql += " AND event_time < ?";
    params.emplace_back(ToSqlTime(*end));
  }
  if (after) {
    sql += " AND (event_time < ? OR (event_time = ? AND id < ?))";
    params.emplace_back(after->event_time);
    params.emplace_back(after->event_time);
    params.emplace_back(after->id);
  }
  sql += " ORDER BY event_time DESC, id DESC LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto exists, s.QueryOne("SELECT id FROM customers WHERE id = ?", {customer_id}));
  if (!exists) return NotFound("customer", absl::StrCat(customer_id));
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  Page<pb::LogEntry> page;
  page.more = static_cast<int>(rows.size()) > page_size;
  if (page.more) rows.resize(page_size);
  for (const auto& r : rows) page.items.push_back(LogFromRow(r));
  return page;
}

// ---- business volume ----

absl::StatusOr<pb::BusinessVolume> Repository::UpsertVolume(const pb::BusinessVolume& v, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::BusinessVolume>(*pool_, "customers.RecordBusinessVolume", key,
                                                   [&](Session& s) -> absl::StatusOr<pb::BusinessVolume> {
    KEFU_ASSIGN_OR_RETURN(int64_t target, ResolveCustomerId(s, v.customer_id()));
    std::string currency = v.revenue().currency_code().empty() ? "CNY" : v.revenue().currency_code();
    KEFU_RETURN_IF_ERROR(
        s.Exec("INSERT INTO business_volumes (customer_id, period, volume, revenue_minor, currency, update_time) "
               "VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE volume = VALUES(volume), "
               "revenue_minor = IF(?, VALUES(revenue_minor), revenue_minor), "
               "currency = IF(?, VALUES(currency), currency), update_time = VALUES(update_time)",
               {target, v.period(), v.volume(), v.revenue().amount_minor(), currency, ToSqlTime(now),
                v.has_revenue(), v.has_revenue()})
            .status());
    if (!v.has_revenue()) {
      KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT revenue_minor, currency FROM business_volumes "
                                                 "WHERE customer_id = ? AND period = ?",
                                                 {target, v.period()}));
      pb::BusinessVolume out = v;
      out.set_customer_id(target);
      out.mutable_revenue()->set_amount_minor(row ? row->Int(0) : 0);
      out.mutable_revenue()->set_currency_code(row ? row->Str(1) : currency);
      *out.mutable_update_time() = ToProtoTime(now);
      return out;
    }
    pb::BusinessVolume out = v;
    out.set_customer_id(target);
    out.mutable_revenue()->set_currency_code(currency);
    *out.mutable_update_time() = ToProtoTime(now);
    return out;
  });
}

absl::StatusOr<std::vector<pb::BusinessVolume>> Repository::ListVolumes(int64_t customer_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto exists, s.QueryOne("SELECT id FROM customers WHERE id = ?", {customer_id}));
  if (!exists) return NotFound("customer", absl::StrCat(customer_id));
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT customer_id, period, volume, revenue_minor, currency, update_time "
                                           "FROM business_volumes WHERE customer_id = ? ORDER BY period",
                                           {customer_id}));
  std::vector<pb::BusinessVolume> out;
  for (const auto& r : rows) out.push_back(VolumeFromRow(r));
  return out;
}

absl::StatusOr<Page<pb::VolumeChange>> Repository::ListFluctuations(const std::string& period, int64_t threshold_bp,
                                                                    int page_size, int64_t after_customer_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  // Same rule as CompareVolumes: truncated basis points beyond the threshold, or any
  // change from zero.
  KEFU_ASSIGN_OR_RETURN(
      auto rows,
      s.Query("SELECT cur.customer_id, cur.period, cur.volume, cur.revenue_minor, cur.currency, cur.update_time, "
              "prev.customer_id, prev.period, prev.volume, prev.revenue_minor, prev.currency, prev.update_time "
              "FROM business_volumes cur JOIN business_volumes prev "
              "ON prev.customer_id = cur.customer_id AND prev.period = ? "
              "WHERE cur.period = ? AND cur.customer_id > ? AND ("
              " (prev.volume = 0 AND cur.volume <> 0) OR"
              " (prev.volume <> 0 AND ABS(cur.volume - prev.volume) * 10000 DIV ABS(prev.volume) > ?)) "
              "ORDER BY cur.customer_id LIMIT ?",
              {PreviousPeriod(period), period, after_customer_id, threshold_bp, page_size + 1}));
  Page<pb::VolumeChange> page;
  page.more = static_cast<int>(rows.size()) > page_size;
  if (page.more) rows.resize(page_size);
  for (const auto& r : rows) {
    pb::BusinessVolume cur = VolumeFromRow(r, 0), prev = VolumeFromRow(r, 6);
    page.items.push_back(CompareVolumes(cur, &prev, threshold_bp));
  }
  return page;
}

// ---- retention ----

absl::StatusOr<pb::RetentionCase> Repository::CreateRetentionCase(const pb::RetentionCase& rc,
                                                                  const IdempotencyKey& key,
                                                                  const std::string& actor) {
  absl::Time now = clock_->Now();
  int64_t replayed = 0;
  auto result = pool_->InTransaction<pb::RetentionCase>([&](Session& s) -> absl::StatusOr<pb::RetentionCase> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, "customers.retention", key.request_id, key.fingerprint));
      if (existing) {
        (void)absl::SimpleAtoi(*existing, &replayed);
        return pb::RetentionCase();
      }
    }
    KEFU_ASSIGN_OR_RETURN(auto customer, LockCustomer(s, rc.customer_id()));
    if (!customer) return NotFound("customer", absl::StrCat(rc.customer_id()));
    if (customer->merged_into_id() != 0) return MergedError(*customer);
    std::string owner = rc.owner_id().empty() ? customer->owner_id() : rc.owner_id();
    KEFU_ASSIGN_OR_RETURN(
        auto ins, s.ExecInsert("INSERT INTO retention_cases (customer_id, reason, churned, owner_id, status, open_time, version) "
                               "VALUES (?, ?, ?, ?, ?, ?, 1)",
                               {rc.customer_id(), rc.reason(), rc.churned(), owner,
                                static_cast<int>(pb::RETENTION_STATUS_OPEN), ToSqlTime(now)}));
    pb::LogEntry e = AccountLogEntry(rc.customer_id(), actor,
                                     absl::StrCat("客户挽留立案 retention case ", ins.last_insert_id, " opened: ", rc.reason()),
                                     "", now);
    e.set_category(pb::LOG_CATEGORY_RETENTION);
    KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "customers.retention", key.request_id, absl::StrCat(ins.last_insert_id)));
    KEFU_ASSIGN_OR_RETURN(auto loaded, LoadCase(s, ins.last_insert_id, false));
    return *loaded;
  });
  if (!result.ok() || replayed == 0) return result;
  return GetRetentionCase(replayed);
}

absl::StatusOr<pb::RetentionCase> Repository::GetRetentionCase(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rc, LoadCase(s, id, false));
  if (!rc) return NotFound("retention case", absl::StrCat(id));
  return *rc;
}

absl::StatusOr<pb::RetentionCase> Repository::AddRetentionAction(int64_t case_id, const pb::RetentionAction& action,
                                                                 const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  // A repeat returns the case as the first call left it. The scope is the one this call
  // claimed its request ids under before it stored responses: a retry of a request
  // claimed then fails (its stored response is missing) rather than adding the action
  // twice.
  return IdempotentTransaction<pb::RetentionCase>(*pool_, "customers.retention_action", key,
                                                  [&](Session& s) -> absl::StatusOr<pb::RetentionCase> {
    KEFU_ASSIGN_OR_RETURN(auto rc, LoadCase(s, case_id, true));
    if (!rc) return NotFound("retention case", absl::StrCat(case_id));
    if (rc->status() != pb::RETENTION_STATUS_OPEN)
      return MakeError(absl::StatusCode::kFailedPrecondition, "CASE_CLOSED",
                       absl::StrCat("retention case ", case_id, " is closed"));
    std::string currency = action.cost().currency_code().empty() ? rc->total_cost().currency_code()
                                                                  : action.cost().currency_code();
    if (currency != rc->total_cost().currency_code() && rc->actions_size() > 0)
      return InvalidField("action.cost.currency_code",
                          absl::StrCat("must be ", rc->total_cost().currency_code(), " like the case's other costs"));
    KEFU_RETURN_IF_ERROR(
        s.Exec("INSERT INTO retention_actions (case_id, type, description, cost_minor, currency, staff_id, action_time) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)",
               {case_id, static_cast<int>(action.type()), action.description(), action.cost().amount_minor(), currency,
                action.staff_id(),
                ToSqlTime(action.has_action_time() ? FromProtoTime(action.action_time()) : now)})
            .status());
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE retention_cases SET total_cost_minor = total_cost_minor + ?, currency = ?, "
                                "version = version + 1 WHERE id = ?",
                                {action.cost().amount_minor(), currency, case_id})
                             .status());
    pb::LogEntry e = AccountLogEntry(rc->customer_id(), action.staff_id(),
                                     absl::StrCat("挽留措施 retention action: ", action.description()), "", now);
    e.set_category(pb::LOG_CATEGORY_RETENTION);
    KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
    KEFU_ASSIGN_OR_RETURN(auto loaded, LoadCase(s, case_id, false));
    return *loaded;
  });
}

absl::StatusOr<pb::RetentionCase> Repository::CloseRetentionCase(int64_t case_id, pb::RetentionOutcome outcome,
                                                                 const std::string& note, const std::string& actor,
                                                                 const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::RetentionCase>(*pool_, "customers.CloseRetentionCase", key,
                                                  [&](Session& s) -> absl::StatusOr<pb::RetentionCase> {
    KEFU_ASSIGN_OR_RETURN(auto rc, LoadCase(s, case_id, true));
    if (!rc) return NotFound("retention case", absl::StrCat(case_id));
    if (rc->status() != pb::RETENTION_STATUS_OPEN)
      return MakeError(absl::StatusCode::kFailedPrecondition, "CASE_CLOSED",
                       absl::StrCat("retention case ", case_id, " is already closed"));
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE retention_cases SET status = ?, outcome = ?, outcome_note = ?, close_time = ?, "
                                "version = version + 1 WHERE id = ?",
                                {static_cast<int>(pb::RETENTION_STATUS_CLOSED), static_cast<int>(outcome), note,
                                 ToSqlTime(now), case_id})
                             .status());
    pb::LogEntry e = AccountLogEntry(rc->customer_id(), actor,
                                     absl::StrCat("挽留结案 retention case ", case_id, " closed: ",
                                                  RetentionOutcomeName(outcome)),
                                     note, now);
    e.set_category(pb::LOG_CATEGORY_RETENTION);
    KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
    KEFU_ASSIGN_OR_RETURN(auto loaded, LoadCase(s, case_id, false));
    return *loaded;
  });
}

absl::StatusOr<Page<pb::RetentionCase>> Repository::ListRetentionCases(int64_t customer_id, pb::RetentionStatus status,
                                                                       const std::string& owner_id, int page_size,
                                                                       int64_t before_id) {
  std::vector<Param> params;
  std::string sql = absl::StrCat("SELECT ", kCaseColumns, " FROM retention_cases WHERE id < ?");
  params.emplace_back(before_id > 0 ? before_id : INT64_MAX);
  if (customer_id > 0) {
    sql += " AND customer_id = ?";
    params.emplace_back(customer_id);
  }
  if (status != pb::RETENTION_STATUS_UNSPECIFIED) {
    sql += " AND status = ?";
    params.emplace_back(static_cast<int>(status));
  }
  if (!owner_id.empty()) {
    sql += " AND owner_id = ?";
    params.emplace_back(owner_id);
  }
  sql += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  Page<pb::RetentionCase> page;
  page.more = static_cast<int>(rows.size()) > page_size;
  if (page.more) rows.resize(page_size);
  for (const auto& r : rows) {
    KEFU_ASSIGN_OR_RETURN(auto rc, LoadCase(s, r.Int(0), false));
    if (rc) page.items.push_back(std::move(*rc));
  }
  return page;
}

// ---- surveys ----

absl::StatusOr<Repository::SampleResult> Repository::SampleSurveys(const std::string& campaign, absl::Time from,
                                                                   absl::Time to, int32_t sample_size, int64_t seed,
                                                                   const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  std::string replay;
  auto result = pool_->InTransaction<SampleResult>([&](Session& s) -> absl::StatusOr<SampleResult> {
    if (!key.request_id.empty()) {
      KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, "customers.survey_sample", key.request_id, key.fingerprint));
      if (existing) {
        replay = *existing;
        return SampleResult();
      }
    }
    // Served = a consultation, complaint, service or visit entry in the window.
    KEFU_ASSIGN_OR_RETURN(
        auto rows, s.Query("SELECT DISTINCT l.customer_id FROM customer_log l JOIN customers c ON c.id = l.customer_id "
                           "WHERE l.category IN (?, ?, ?, ?) AND l.event_time >= ? AND l.event_time < ? "
                           "AND c.merged_into_id IS NULL AND NOT EXISTS (SELECT 1 FROM surveys v "
                           "WHERE v.campaign = ? AND v.customer_id = l.customer_id) ORDER BY l.customer_id",
                           {static_cast<int>(pb::LOG_CATEGORY_CONSULTATION), static_cast<int>(pb::LOG_CATEGORY_COMPLAINT),
                            static_cast<int>(pb::LOG_CATEGORY_SERVICE), static_cast<int>(pb::LOG_CATEGORY_VISIT),
                            ToSqlTime(from), ToSqlTime(to), campaign}));
    std::vector<int64_t> population;
    for (const auto& r : rows) population.push_back(r.Int(0));
    SampleResult out;
    out.population = static_cast<int32_t>(population.size());
    auto picked = SampleWithSeed(population, static_cast<size_t>(sample_size), seed);
    std::sort(picked.begin(), picked.end());
    for (int64_t customer_id : picked) {
      KEFU_ASSIGN_OR_RETURN(auto ins, s.ExecInsert("INSERT INTO surveys (campaign, customer_id, status, create_time) "
                                                   "VALUES (?, ?, ?, ?)",
                                                   {campaign, customer_id, static_cast<int>(pb::SURVEY_STATUS_PENDING),
                                                    ToSqlTime(now)}));
      pb::Survey sv;
      sv.set_id(ins.last_insert_id);
      sv.set_campaign(campaign);
      sv.set_customer_id(customer_id);
      sv.set_status(pb::SURVEY_STATUS_PENDING);
      *sv.mutable_create_time() = ToProtoTime(now);
      out.surveys.push_back(std::move(sv));
    }
    if (!key.request_id.empty()) {
      std::vector<std::string> ids;
      for (const auto& sv : out.surveys) ids.push_back(absl::StrCat(sv.id()));
      std::string record = absl::StrCat(out.population, ":", out.surveys.empty() ? 0 : out.surveys.front().id(), ":",
                                        out.surveys.empty() ? 0 : out.surveys.back().id());
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "customers.survey_sample", key.request_id, record));
    }
    return out;
  });
  if (!result.ok() || replay.empty()) return result;
  // "population:first_id:last_id" of the first sample.
  std::vector<std::string> parts = absl::StrSplit(replay, ':');
  SampleResult out;
  int64_t first = 0, last = 0;
  if (parts.size() == 3) {
    (void)absl::SimpleAtoi(parts[0], &out.population);
    (void)absl::SimpleAtoi(parts[1], &first);
    (void)absl::SimpleAtoi(parts[2], &last);
  }
  if (first == 0) return out;
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kSurveyColumns, " FROM surveys WHERE campaign = ? "
                                                        "AND id BETWEEN ? AND ? ORDER BY id"),
                                           {campaign, first, last}));
  for (const auto& r : rows) out.surveys.push_back(SurveyFromRow(r));
  return out;
}

absl::StatusOr<pb::Survey> Repository::RecordSurveyResult(int64_t survey_id, pb::Satisfaction satisfaction,
                                                          const std::string& comment, const std::string& actor,
                                                          const IdempotencyKey& key, bool* newly_recorded) {
  absl::Time now = clock_->Now();
  *newly_recorded = false;
  return IdempotentTransaction<pb::Survey>(*pool_, "customers.RecordSurveyResult", key,
                                           [&](Session& s) -> absl::StatusOr<pb::Survey> {
    KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kSurveyColumns, " FROM surveys WHERE id = ? FOR UPDATE"),
                                               {survey_id}));
    if (!row) return NotFound("survey", absl::StrCat(survey_id));
    pb::Survey sv = SurveyFromRow(*row);
    if (sv.status() == pb::SURVEY_STATUS_COMPLETED) {
      if (sv.satisfaction() == satisfaction && sv.comment() == comment) return sv;  // a retry
      return MakeError(absl::StatusCode::kFailedPrecondition, "SURVEY_COMPLETED",
                       absl::StrCat("survey ", survey_id, " already has a result"));
    }
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE surveys SET status = ?, satisfaction = ?, comment = ?, staff_id = ?, "
                                "complete_time = ? WHERE id = ?",
                                {static_cast<int>(pb::SURVEY_STATUS_COMPLETED), static_cast<int>(satisfaction), comment,
                                 actor, ToSqlTime(now), survey_id})
                             .status());
    KEFU_ASSIGN_OR_RETURN(int64_t target, ResolveCustomerId(s, sv.customer_id()));
    pb::LogEntry e;
    e.set_customer_id(target);
    e.set_staff_id(actor);
    e.set_channel(pb::CHANNEL_PHONE);
    e.set_category(pb::LOG_CATEGORY_SURVEY);
    e.set_description(absl::StrCat("满意度回访 satisfaction survey (", sv.campaign(), ")"));
    e.set_summary(Utf8Prefix(comment, 400));
    e.set_satisfaction(satisfaction);
    e.set_reference(absl::StrCat("surveys/", survey_id));
    KEFU_RETURN_IF_ERROR(InsertLog(s, e, now));
    *newly_recorded = true;
    sv.set_status(pb::SURVEY_STATUS_COMPLETED);
    sv.set_satisfaction(satisfaction);
    sv.set_comment(comment);
    sv.set_staff_id(actor);
    *sv.mutable_complete_time() = ToProtoTime(now);
    return sv;
  });
}

absl::StatusOr<Page<pb::Survey>> Repository::ListSurveys(const std::string& campaign, pb::SurveyStatus status,
                                                         int64_t customer_id, int page_size, int64_t after_id) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kSurveyColumns, " FROM surveys WHERE id > ?");
  if (!campaign.empty()) {
    sql += " AND campaign = ?";
    params.emplace_back(campaign);
  }
  if (status != pb::SURVEY_STATUS_UNSPECIFIED) {
    sql += " AND status = ?";
    params.emplace_back(static_cast<int>(status));
  }
  if (customer_id > 0) {
    sql += " AND customer_id = ?";
    params.emplace_back(customer_id);
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  Page<pb::Survey> page;
  page.more = static_cast<int>(rows.size()) > page_size;
  if (page.more) rows.resize(page_size);
  for (const auto& r : rows) page.items.push_back(SurveyFromRow(r));
  return page;
}

absl::StatusOr<pb::SurveyStats> Repository::SurveyStats(const std::string& campaign) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT status, satisfaction, COUNT(*) FROM surveys WHERE campaign = ? "
                                           "GROUP BY status, satisfaction",
                                           {campaign}));
  if (rows.empty()) return NotFound("survey campaign", campaign);
  int32_t sampled = 0;
  std::vector<int32_t> counts(5, 0);
  for (const auto& r : rows) {
    sampled += static_cast<int32_t>(r.Int(2));
    int level = static_cast<int>(r.Int(1));
    if (r.Int(0) == pb::SURVEY_STATUS_COMPLETED && level >= 1 && level <= 5)
      counts[level - 1] += static_cast<int32_t>(r.Int(2));
  }
  return ComputeSurveyStats(campaign, sampled, counts);
}

absl::StatusOr<std::vector<Repository::SegmentCount>> Repository::CountSegments() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT tier, lifecycle_stage, COUNT(*) FROM customers "
                                           "WHERE merged_into_id IS NULL GROUP BY tier, lifecycle_stage"));
  std::vector<SegmentCount> out;
  for (const auto& r : rows)
    out.push_back({static_cast<int>(r.Int(0)), static_cast<int>(r.Int(1)), r.Int(2)});
  return out;
}

// ---- portfolio statistics ----

absl::StatusOr<PortfolioCounts> Repository::PortfolioStats(const PortfolioFilter& f) {
  // The portfolio: customers (alias c) held now by the owner or department. History
  // rows of a merged duplicate were moved to the survivor, so they count for it.
  std::string portfolio = "c.merged_into_id IS NULL";
  std::vector<Param> holder;
  if (!f.owner_id.empty()) {
    portfolio += " AND c.owner_id = ?";
    holder.emplace_back(f.owner_id);
  } else if (!f.department_id.empty()) {
    portfolio += " AND c.department_id = ?";
    holder.emplace_back(f.department_id);
  }
  // The statement's own parameters, then the holder's.
  auto params = [&](std::vector<Param> own) {
    own.insert(own.end(), holder.begin(), holder.end());
    return own;
  };
  const std::string from = ToSqlTime(f.from), to = ToSqlTime(f.to);
  PortfolioCounts out;
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(
      auto held, s.QueryOne(absl::StrCat("SELECT COUNT(*), SUM(c.create_time >= ? AND c.create_time < ?) "
                                         "FROM customers c WHERE ", portfolio),
                            params({from, to})));
  if (held) {
    out.customers = held->Int(0);
    out.acquired = held->Int(1);
  }
  // Tiers are ordered: a higher number is a higher tier (standard < ... < platinum).
  KEFU_ASSIGN_OR_RETURN(
      auto tiers, s.QueryOne(absl::StrCat("SELECT SUM(t.to_tier > t.from_tier), SUM(t.to_tier < t.from_tier) "
                                          "FROM tier_changes t JOIN customers c ON c.id = t.customer_id "
                                          "WHERE t.change_time >= ? AND t.change_time < ? AND ", portfolio),
                             params({from, to})));
  if (tiers) {
    out.tier_ups = tiers->Int(0);
    out.tier_downs = tiers->Int(1);
  }
  KEFU_ASSIGN_OR_RETURN(
      auto churn, s.QueryOne(absl::StrCat("SELECT COUNT(*) FROM lifecycle_changes l "
                                          "JOIN customers c ON c.id = l.customer_id "
                                          "WHERE l.to_stage = ? AND l.change_time >= ? AND l.change_time < ? AND ",
                                          portfolio),
                             params({static_cast<int>(pb::LIFECYCLE_STAGE_CHURNED), from, to})));
  if (churn) out.churned = churn->Int(0);
  KEFU_ASSIGN_OR_RETURN(
      auto levels, s.Query(absl::StrCat("SELECT v.satisfaction, COUNT(*) FROM surveys v "
                                        "JOIN customers c ON c.id = v.customer_id "
                                        "WHERE v.status = ? AND v.complete_time >= ? AND v.complete_time < ? AND ",
                                        portfolio, " GROUP BY v.satisfaction"),
                           params({static_cast<int>(pb::SURVEY_STATUS_COMPLETED), from, to})));
  for (const auto& r : levels) {
    int64_t level = r.Int(0);
    if (level >= 1 && level <= 5) out.surveys_by_level[level - 1] = r.Int(1);
  }
  return out;
}

}  // namespace kefu::customers
