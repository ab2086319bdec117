#include "repository.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kefu/db/settings.h"
#include "kefu/errors.h"
#include "kefu/handler.h"

namespace kefu::performance {

using db::Param;
using db::Row;
using db::Session;

namespace {

std::string Day(absl::CivilDay d) { return absl::FormatCivilTime(d); }

int32_t Bp(int64_t part, int64_t whole) {
  if (whole <= 0) return 0;
  return static_cast<int32_t>(std::min<int64_t>(part * 10000 / whole, 1'000'000));
}

std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ", ?";
  return out;
}

// ---- departments and staff ----

constexpr char kDepartmentColumns[] = "id, name, COALESCE(parent_id, ''), manager_id, create_time";

pb::Department DepartmentFromRow(const Row& r) {
  pb::Department d;
  d.set_id(r.Str(0));
  d.set_name(r.Str(1));
  d.set_parent_id(r.Str(2));
  d.set_manager_id(r.Str(3));
  *d.mutable_create_time() = ToProtoTime(r.Time(4));
  return d;
}

constexpr char kStaffColumns[] =
    "id, employee_number, name, department_id, position, role, COALESCE(superior_id, ''), phone, email, status, "
    "version, create_time, update_time";

pb::Staff StaffFromRow(const Row& r) {
  pb::Staff s;
  s.set_id(r.Str(0));
  s.set_employee_number(r.Str(1));
  s.set_name(r.Str(2));
  s.set_department_id(r.Str(3));
  s.set_position(r.Str(4));
  s.set_role(static_cast<pb::Role>(r.Int(5)));
  s.set_superior_id(r.Str(6));
  s.set_phone(r.Str(7));
  s.set_email(r.Str(8));
  s.set_status(static_cast<pb::StaffStatus>(r.Int(9)));
  s.set_version(r.Int(10));
  *s.mutable_create_time() = ToProtoTime(r.Time(11));
  *s.mutable_update_time() = ToProtoTime(r.Time(12));
  return s;
}

absl::Status LoadStaffChildren(Session& s, pb::Staff& staff) {
  KEFU_ASSIGN_OR_RETURN(auto training,
                        s.Query("SELECT course, COALESCE(completed_on, ''), result FROM staff_training "
                                "WHERE staff_id = ? ORDER BY position",
                                {staff.id()}));
  for (const auto& r : training) {
    auto* t = staff.add_training();
    t->set_course(r.Str(0));
    t->set_completed_on(r.Str(1));
    t->set_result(r.Str(2));
  }
  KEFU_ASSIGN_OR_RETURN(auto history,
                        s.Query("SELECT organization, role_title, COALESCE(from_date, ''), COALESCE(to_date, '') "
                                "FROM staff_work_history WHERE staff_id = ? ORDER BY position",
                                {staff.id()}));
  for (const auto& r : history) {
    auto* h = staff.add_work_history();
    h->set_organization(r.Str(0));
    h->set_position(r.Str(1));
    h->set_from(r.Str(2));
    h->set_to(r.Str(3));
  }
  return absl::OkStatus();
}

absl::Status WriteStaffChildren(Session& s, const pb::Staff& staff) {
  KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM staff_training WHERE staff_id = ?", {staff.id()}).status());
  KEFU_RETURN_IF_ERROR(s.Exec("DELETE FROM staff_work_history WHERE staff_id = ?", {staff.id()}).status());
  for (int i = 0; i < staff.training_size(); ++i) {
    const auto& t = staff.training(i);
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO staff_training (staff_id, position, course, completed_on, result) "
                                "VALUES (?, ?, ?, ?, ?)",
                                {staff.id(), i, t.course(), Param::OrNull(t.completed_on()), t.result()})
                             .status());
  }
  for (int i = 0; i < staff.work_history_size(); ++i) {
    const auto& h = staff.work_history(i);
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO staff_work_history (staff_id, position, organization, role_title, "
                                "from_date, to_date) VALUES (?, ?, ?, ?, ?, ?)",
                                {staff.id(), i, h.organization(), h.position(), Param::OrNull(h.from()),
                                 Param::OrNull(h.to())})
                             .status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<pb::Staff>> LoadStaff(Session& s, const std::string& id, bool for_update) {
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kStaffColumns, " FROM staff WHERE id = ?",
                                                          for_update ? " FOR UPDATE" : ""),
                                             {id}));
  if (!row) return std::optional<pb::Staff>();
  pb::Staff staff = StaffFromRow(*row);
  KEFU_RETURN_IF_ERROR(LoadStaffChildren(s, staff));
  return std::optional<pb::Staff>(std::move(staff));
}

// Refuses references that do not exist, and a superior chain that would loop.
absl::Status CheckStaffReferences(Session& s, const pb::Staff& staff) {
  KEFU_ASSIGN_OR_RETURN(auto dept, s.QueryOne("SELECT id FROM departments WHERE id = ?", {staff.department_id()}));
  if (!dept)
    return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_DEPARTMENT",
                     absl::StrCat("staff.department_id: department ", staff.department_id(), " does not exist"),
                     {{"staff.department_id", "does not exist"}});
  std::string at = staff.superior_id();
  for (int steps = 0; !at.empty(); ++steps) {
    if (at == staff.id() || steps > 64)
      return MakeError(absl::StatusCode::kFailedPrecondition, "REPORTING_CYCLE",
                       "staff.superior_id: the reporting line would loop back to this person",
                       {{"staff.superior_id", "would make a reporting cycle"}});
    KEFU_ASSIGN_OR_RETURN(auto sup, s.QueryOne("SELECT COALESCE(superior_id, '') FROM staff WHERE id = ?", {at}));
    if (!sup) {
      if (at == staff.superior_id())
        return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_STAFF",
                         absl::StrCat("staff.superior_id: staff ", at, " does not exist"),
                         {{"staff.superior_id", "does not exist"}});
      break;
    }
    at = sup->Str(0);
  }
  return absl::OkStatus();
}

// ---- targets ----

constexpr char kTargetColumns[] =
    "id, COALESCE(parent_id, 0), level, subject_id, period, metric, target, actual, exempt, revision_reason, "
    "revision_approved_by, version";

pb::Target TargetFromRow(const Row& r) {
  pb::Target t;
  t.set_id(r.Int(0));
  t.set_parent_id(r.Int(1));
  t.set_level(static_cast<pb::TargetLevel>(r.Int(2)));
  t.set_subject_id(r.Str(3));
  t.set_period(r.Str(4));
  t.set_metric(r.Str(5));
  t.set_target(r.Int(6));
  t.set_actual(r.Int(7));
  t.set_achievement_bp(Bp(t.actual(), t.target()));
  t.set_exempt(r.Int(8) != 0);
  t.set_revision_reason(r.Str(9));
  t.set_revision_approved_by(r.Str(10));
  t.set_version(r.Int(11));
  return t;
}

// ---- plans ----

constexpr char kPlanColumns[] =
    "id, title, type, assignee_kind, assignee_id, start_date, end_date, target_count, minimum_count, currency, "
    "planned_cost_minor, content, purpose, actual_count, actual_cost_minor, status, version, create_time";

pb::Plan PlanFromRow(const Row& r) {
  pb::Plan p;
  p.set_id(r.Int(0));
  p.set_title(r.Str(1));
  p.set_type(static_cast<pb::PlanType>(r.Int(2)));
  p.set_assignee_kind(static_cast<pb::AssigneeKind>(r.Int(3)));
  p.set_assignee_id(r.Str(4));
  p.set_start_date(r.Str(5));
  p.set_end_date(r.Str(6));
  p.set_target_count(r.Int(7));
  p.set_minimum_count(r.Int(8));
  p.mutable_planned_cost()->set_currency_code(r.Str(9));
  p.mutable_planned_cost()->set_amount_minor(r.Int(10));
  p.set_content(r.Str(11));
  p.set_purpose(r.Str(12));
  p.set_actual_count(r.Int(13));
  p.mutable_actual_cost()->set_currency_code(r.Str(9));
  p.mutable_actual_cost()->set_amount_minor(r.Int(14));
  p.set_status(static_cast<pb::PlanStatus>(r.Int(15)));
  p.set_version(r.Int(16));
  *p.mutable_create_time() = ToProtoTime(r.Time(17));
  p.set_progress_bp(Bp(p.actual_count(), p.target_count()));
  p.set_minimum_met(p.actual_count() >= p.minimum_count());
  return p;
}

absl::StatusOr<std::optional<pb::Plan>> LoadPlan(Session& s, int64_t id, bool for_update) {
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kPlanColumns, " FROM plans WHERE id = ?",
                                                          for_update ? " FOR UPDATE" : ""),
                                             {id}));
  if (!row) return std::optional<pb::Plan>();
  return std::optional<pb::Plan>(PlanFromRow(*row));
}

// The assignee condition on `plans` for a person or a department (and its staff).
std::string AssigneeClause(pb::AssigneeKind kind, const std::string& assignee_id,
                           const std::vector<std::string>& departments, std::vector<Param>& params) {
  if (kind == pb::ASSIGNEE_KIND_PERSON) {
    params.emplace_back(static_cast<int>(pb::ASSIGNEE_KIND_PERSON));
    params.emplace_back(assignee_id);
    return "(p.assignee_kind = ? AND p.assignee_id = ?)";
  }
  std::string in = Placeholders(departments.size());
  params.emplace_back(static_cast<int>(pb::ASSIGNEE_KIND_DEPARTMENT));
  for (const auto& d : departments) params.emplace_back(d);
  params.emplace_back(static_cast<int>(pb::ASSIGNEE_KIND_PERSON));
  for (const auto& d : departments) params.emplace_back(d);
  return absl::StrCat("((p.assignee_kind = ? AND p.assignee_id IN (", in,
                      ")) OR (p.assignee_kind = ? AND p.assignee_id IN (SELECT id FROM staff WHERE department_id IN (",
                      in, "))))");
}

// ---- evaluation ----

constexpr char kCycleColumns[] =
    "c.id, c.name, c.kind, c.period, c.department_id, c.include_peers, c.include_self, c.status, c.create_time, "
    "c.close_time, (SELECT COUNT(*) FROM evaluation_assignments a WHERE a.cycle_id = c.id), "
    "(SELECT COUNT(*) FROM evaluation_assignments a WHERE a.cycle_id = c.id AND a.score IS NOT NULL)";

pb::EvaluationCycle CycleFromRow(const Row& r) {
  pb::EvaluationCycle c;
  c.set_id(r.Int(0));
  c.set_name(r.Str(1));
  c.set_kind(static_cast<pb::CycleKind>(r.Int(2)));
  c.set_period(r.Str(3));
  c.set_department_id(r.Str(4));
  c.set_include_peers(r.Int(5) != 0);
  c.set_include_self(r.Int(6) != 0);
  c.set_status(static_cast<pb::CycleStatus>(r.Int(7)));
  *c.mutable_create_time() = ToProtoTime(r.Time(8));
  if (!r.IsNull(9)) *c.mutable_close_time() = ToProtoTime(r.Time(9));
  c.set_assignments(static_cast<int32_t>(r.Int(10)));
  c.set_submitted(static_cast<int32_t>(r.Int(11)));
  c.set_completion_bp(Bp(c.submitted(), c.assignments()));
  return c;
}

absl::StatusOr<std::optional<pb::EvaluationCycle>> LoadCycle(Session& s, int64_t id) {
  KEFU_ASSIGN_OR_RETURN(auto row,
                        s.QueryOne(absl::StrCat("SELECT ", kCycleColumns, " FROM evaluation_cycles c WHERE c.id = ?"),
                                   {id}));
  if (!row) return std::optional<pb::EvaluationCycle>();
  return std::optional<pb::EvaluationCycle>(CycleFromRow(*row));
}

Relation ToRule(pb::Relation r) {
  switch (r) {
    case pb::RELATION_SUPERIOR: return Relation::kSuperior;
    case pb::RELATION_SUBORDINATE: return Relation::kSubordinate;
    case pb::RELATION_PEER: return Relation::kPeer;
    default: return Relation::kSelf;
  }
}

pb::Relation FromRule(Relation r) {
  switch (r) {
    case Relation::kSuperior: return pb::RELATION_SUPERIOR;
    case Relation::kSubordinate: return pb::RELATION_SUBORDINATE;
    case Relation::kPeer: return pb::RELATION_PEER;
    case Relation::kSelf: return pb::RELATION_SELF;
  }
  return pb::RELATION_SELF;
}

// Replays the first result of an idempotent create, or claims the request id.
template <typename T, typename Load>
absl::StatusOr<std::optional<T>> Replay(Session& s, absl::string_view scope, const IdempotencyKey& key,
                                        const Load& load) {
  if (key.request_id.empty()) return std::optional<T>();
  KEFU_ASSIGN_OR_RETURN(auto existing, db::ClaimRequestId(s, scope, key.request_id, key.fingerprint));
  if (!existing) return std::optional<T>();
  KEFU_ASSIGN_OR_RETURN(T first, load(*existing));
  return std::optional<T>(std::move(first));
}

// RecordPlanExecution used to claim its request ids under "performance.execution"
// without storing a response; a retry of such a request (first sent before responses
// were stored) must not record again. True when the id is there for the same request,
// REQUEST_ID_REUSED when for another. Read only; can go once those ids are purged.
absl::StatusOr<bool> RecordedBeforeResponsesWereStored(Session& s, const IdempotencyKey& key) {
  if (key.request_id.empty()) return false;
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT fingerprint FROM idempotency_keys WHERE scope = ? AND "
                                             "request_id = ?",
                                             {"performance.execution", key.request_id}));
  if (!row) return false;
  if (row->Uint(0) != key.fingerprint)
    return MakeError(absl::StatusCode::kFailedPrecondition, reason::kRequestIdReused,
                     "request_id: was already used for a different request",
                     {{"request_id", "was already used for a different request"}});
  return true;
}

}  // namespace

// ---------------------------------------------------------------- departments

absl::StatusOr<pb::Department> Repository::CreateDepartment(const pb::Department& input, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Department>(
      *pool_, "performance.CreateDepartment", key, [&](Session& s) -> absl::StatusOr<pb::Department> {
        if (!input.parent_id().empty()) {
          KEFU_ASSIGN_OR_RETURN(auto parent,
                                s.QueryOne("SELECT id FROM departments WHERE id = ?", {input.parent_id()}));
          if (!parent)
            return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_DEPARTMENT",
                             absl::StrCat("department.parent_id: department ", input.parent_id(), " does not exist"),
                             {{"department.parent_id", "does not exist"}});
        }
        auto ins =
            s.Exec("INSERT INTO departments (id, name, parent_id, manager_id, create_time) VALUES (?, ?, ?, ?, ?)",
                   {input.id(), input.name(), Param::OrNull(input.parent_id()), input.manager_id(), ToSqlTime(now)});
        if (!ins.ok() && ins.status().code() == absl::StatusCode::kAlreadyExists)
          return MakeError(absl::StatusCode::kAlreadyExists, "DEPARTMENT_EXISTS",
                           absl::StrCat("department.id: department ", input.id(), " already exists"),
                           {{"department.id", "already exists"}});
        KEFU_RETURN_IF_ERROR(ins.status());
        pb::Department d = input;
        *d.mutable_create_time() = ToProtoTime(now);
        return d;
      });
}

absl::StatusOr<pb::Department> Repository::GetDepartment(const std::string& id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row,
                        s.QueryOne(absl::StrCat("SELECT ", kDepartmentColumns, " FROM departments WHERE id = ?"), {id}));
  if (!row) return NotFound("department", id);
  return DepartmentFromRow(*row);
}

absl::StatusOr<std::vector<pb::Department>> Repository::ListDepartments() {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kDepartmentColumns, " FROM departments ORDER BY id")));
  std::vector<pb::Department> out;
  for (const auto& r : rows) out.push_back(DepartmentFromRow(r));
  return out;
}

// ---------------------------------------------------------------- staff

absl::StatusOr<pb::Staff> Repository::CreateStaff(const pb::Staff& input, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return pool_->InTransaction<pb::Staff>([&](Session& s) -> absl::StatusOr<pb::Staff> {
    KEFU_ASSIGN_OR_RETURN(auto replayed, Replay<pb::Staff>(s, "performance.staff", key,
                                                          [&](const std::string& id) -> absl::StatusOr<pb::Staff> {
                                                            KEFU_ASSIGN_OR_RETURN(auto st, LoadStaff(s, id, false));
                                                            if (!st) return NotFound("staff", id);
                                                            return *st;
                                                          }));
    if (replayed) return *replayed;
    KEFU_RETURN_IF_ERROR(CheckStaffReferences(s, input));
    auto ins = s.Exec("INSERT INTO staff (id, employee_number, name, department_id, position, role, superior_id, "
                      "phone, email, status, create_time, update_time, version) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                      {input.id(), input.employee_number(), input.name(), input.department_id(), input.position(),
                       static_cast<int>(input.role()), Param::OrNull(input.superior_id()), input.phone(),
                       input.email(), static_cast<int>(pb::STAFF_STATUS_ACTIVE), ToSqlTime(now), ToSqlTime(now)});
    if (!ins.ok() && ins.status().code() == absl::StatusCode::kAlreadyExists)
      return MakeError(absl::StatusCode::kAlreadyExists, "STAFF_EXISTS",
                       "staff.id or staff.employee_number is already taken",
                       {{"staff.id", "or employee_number already exists"}});
    KEFU_RETURN_IF_ERROR(ins.status());
    pb::Staff staff = input;
    staff.set_status(pb::STAFF_STATUS_ACTIVE);
    staff.set_version(1);
    *staff.mutable_create_time() = ToProtoTime(now);
    *staff.mutable_update_time() = ToProtoTime(now);
    KEFU_RETURN_IF_ERROR(WriteStaffChildren(s, staff));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(db::CompleteRequestId(s, "performance.staff", key.request_id, staff.id()));
    return staff;
  });
}

absl::StatusOr<pb::Staff> Repository::GetStaff(const std::string& id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto staff, LoadStaff(s, id, false));
  if (!staff) return NotFound("staff", id);
  return *staff;
}

absl::StatusOr<std::vector<std::string>> Repository::ActiveStaff(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  if (ids.empty()) return out;
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  std::vector<Param> params{static_cast<int>(pb::STAFF_STATUS_ACTIVE)};
  for (const auto& id : ids) params.emplace_back(id);
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT id FROM staff WHERE status = ? AND id IN (",
                                                        Placeholders(ids.size()), ")"),
                                           params));
  for (const auto& r : rows) out.push_back(r.Str(0));
  return out;
}

absl::StatusOr<pb::Staff> Repository::UpdateStaff(const std::string& id, int64_t expected_version,
                                                  const DecideStaff& decide, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Staff>(
      *pool_, "performance.UpdateStaff", key, [&](Session& s) -> absl::StatusOr<pb::Staff> {
        KEFU_ASSIGN_OR_RETURN(auto current, LoadStaff(s, id, true));
        if (!current) return NotFound("staff", id);
        if (expected_version != current->version()) return StaleVersion(expected_version, current->version());
        KEFU_ASSIGN_OR_RETURN(pb::Staff staff, decide(*current));
        staff.set_id(id);
        staff.set_employee_number(current->employee_number());
        staff.set_version(current->version() + 1);
        *staff.mutable_create_time() = current->create_time();
        *staff.mutable_update_time() = ToProtoTime(now);
        KEFU_RETURN_IF_ERROR(CheckStaffReferences(s, staff));
        KEFU_RETURN_IF_ERROR(
            s.Exec("UPDATE staff SET name = ?, department_id = ?, position = ?, role = ?, superior_id = ?, "
                   "phone = ?, email = ?, status = ?, update_time = ?, version = ? WHERE id = ?",
                   {staff.name(), staff.department_id(), staff.position(), static_cast<int>(staff.role()),
                    Param::OrNull(staff.superior_id()), staff.phone(), staff.email(), static_cast<int>(staff.status()),
                    ToSqlTime(now), staff.version(), id})
                .status());
        KEFU_RETURN_IF_ERROR(WriteStaffChildren(s, staff));
        return staff;
      });
}

absl::StatusOr<std::vector<pb::Staff>> Repository::ListStaff(const std::string& department_id,
                                                             const std::string& superior_id, pb::StaffStatus status,
                                                             int page_size, const std::string& after_id, bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kStaffColumns, " FROM staff WHERE id > ?");
  if (!department_id.empty()) {
    sql += " AND department_id = ?";
    params.emplace_back(department_id);
  }
  if (!superior_id.empty()) {
    sql += " AND superior_id = ?";
    params.emplace_back(superior_id);
  }
  if (status != pb::STAFF_STATUS_UNSPECIFIED) {
    sql += " AND status = ?";
    params.emplace_back(static_cast<int>(status));
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.pop_back();
  std::vector<pb::Staff> out;
  for (const auto& r : rows) {
    pb::Staff staff = StaffFromRow(r);
    KEFU_RETURN_IF_ERROR(LoadStaffChildren(s, staff));
    out.push_back(std::move(staff));
  }
  return out;
}

absl::StatusOr<int> Repository::Headcount(const std::vector<std::string>& department_ids) {
  if (department_ids.empty()) return 0;
  std::vector<Param> params{static_cast<int>(pb::STAFF_STATUS_ACTIVE)};
  for (const auto& d : department_ids) params.emplace_back(d);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT COUNT(*) FROM staff WHERE status = ? AND "
                                                          "department_id IN (",
                                                          Placeholders(department_ids.size()), ")"),
                                             params));
  return row ? static_cast<int>(row->Int(0)) : 0;
}

// ---------------------------------------------------------------- targets

absl::StatusOr<pb::Target> Repository::CreateTarget(const pb::Target& input, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return pool_->InTransaction<pb::Target>([&](Session& s) -> absl::StatusOr<pb::Target> {
    auto load = [&](const std::string& id) -> absl::StatusOr<pb::Target> {
      int64_t n = 0;
      (void)absl::SimpleAtoi(id, &n);
      KEFU_ASSIGN_OR_RETURN(auto row,
                            s.QueryOne(absl::StrCat("SELECT ", kTargetColumns, " FROM targets WHERE id = ?"), {n}));
      if (!row) return NotFound("target", id);
      return TargetFromRow(*row);
    };
    KEFU_ASSIGN_OR_RETURN(auto replayed, Replay<pb::Target>(s, "performance.target", key, load));
    if (replayed) return *replayed;
    int64_t root_id = 0;
    if (input.parent_id() != 0) {
      KEFU_ASSIGN_OR_RETURN(auto parent, s.QueryOne("SELECT root_id, level, period FROM targets WHERE id = ? "
                                                    "LOCK IN SHARE MODE",
                                                    {input.parent_id()}));
      if (!parent)
        return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_TARGET",
                         absl::StrCat("target.parent_id: target ", input.parent_id(), " does not exist"),
                         {{"target.parent_id", "does not exist"}});
      KEFU_ASSIGN_OR_RETURN(Period parent_period, ParsePeriod(parent->Str(2)));
      KEFU_ASSIGN_OR_RETURN(Period child_period, ParsePeriod(input.period()));
      std::string problem = ChildTargetProblem(static_cast<int>(parent->Int(1)), parent_period,
                                               static_cast<int>(input.level()), child_period);
      if (!problem.empty())
        return MakeError(absl::StatusCode::kFailedPrecondition, "TARGET_NOT_A_CHILD",
                         absl::StrCat("target: ", problem), {{"target.parent_id", problem}});
      root_id = parent->Int(0);
    }
    KEFU_ASSIGN_OR_RETURN(auto ins, s.ExecInsert("INSERT INTO targets (parent_id, root_id, level, subject_id, period, "
                                                 "metric, target, actual, create_time, update_time, version) "
                                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                                                 {Param::OrNull(input.parent_id()), root_id,
                                                  static_cast<int>(input.level()), input.subject_id(), input.period(),
                                                  input.metric(), input.target(), input.actual(), ToSqlTime(now),
                                                  ToSqlTime(now)}));
    if (root_id == 0) {
      root_id = ins.last_insert_id;
      KEFU_RETURN_IF_ERROR(s.Exec("UPDATE targets SET root_id = ? WHERE id = ?", {root_id, root_id}).status());
    }
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(
          db::CompleteRequestId(s, "performance.target", key.request_id, absl::StrCat(ins.last_insert_id)));
    return load(absl::StrCat(ins.last_insert_id));
  });
}

absl::StatusOr<pb::Target> Repository::GetTarget(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kTargetColumns, " FROM targets WHERE id = ?"), {id}));
  if (!row) return NotFound("target", absl::StrCat(id));
  return TargetFromRow(*row);
}

absl::StatusOr<std::vector<pb::Target>> Repository::ListTargets(const TargetFilter& f, int page_size, int64_t after_id,
                                                                bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kTargetColumns, " FROM targets WHERE id > ?");
  if (f.roots_only) {
    sql += " AND parent_id IS NULL";
  } else if (f.parent_id > 0) {
    sql += " AND parent_id = ?";
    params.emplace_back(f.parent_id);
  }
  if (!f.period.empty()) {
    sql += " AND period = ?";
    params.emplace_back(f.period);
  }
  if (!f.subject_id.empty()) {
    sql += " AND subject_id = ?";
    params.emplace_back(f.subject_id);
  }
  if (!f.metric.empty()) {
    sql += " AND metric = ?";
    params.emplace_back(f.metric);
  }
  if (f.level != pb::TARGET_LEVEL_UNSPECIFIED) {
    sql += " AND level = ?";
    params.emplace_back(static_cast<int>(f.level));
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.pop_back();
  std::vector<pb::Target> out;
  for (const auto& r : rows) out.push_back(TargetFromRow(r));
  return out;
}

absl::StatusOr<pb::Target> Repository::UpdateTarget(int64_t id, int64_t expected_version, const DecideTarget& decide,
                                                    absl::string_view scope, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Target>(*pool_, scope, key, [&](Session& s) -> absl::StatusOr<pb::Target> {
    KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne(absl::StrCat("SELECT ", kTargetColumns,
                                                            " FROM targets WHERE id = ? FOR UPDATE"),
                                               {id}));
    if (!row) return NotFound("target", absl::StrCat(id));
    pb::Target t = TargetFromRow(*row);
    if (expected_version != t.version()) return StaleVersion(expected_version, t.version());
    KEFU_RETURN_IF_ERROR(decide(t));
    t.set_version(t.version() + 1);
    t.set_achievement_bp(Bp(t.actual(), t.target()));
    KEFU_RETURN_IF_ERROR(s.Exec("UPDATE targets SET target = ?, actual = ?, exempt = ?, revision_reason = ?, "
                                "revision_approved_by = ?, update_time = ?, version = ? WHERE id = ?",
                                {t.target(), t.actual(), t.exempt(), t.revision_reason(), t.revision_approved_by(),
                                 ToSqlTime(now), t.version(), id})
                             .status());
    return t;
  });
}

absl::StatusOr<std::vector<pb::Target>> Repository::TargetTree(int64_t root_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto root, s.QueryOne("SELECT root_id FROM targets WHERE id = ?", {root_id}));
  if (!root) return NotFound("target", absl::StrCat(root_id));
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(absl::StrCat("SELECT ", kTargetColumns,
                                                        " FROM targets WHERE root_id = ? ORDER BY id"),
                                           {root->Int(0)}));
  std::vector<pb::Target> all;
  for (const auto& r : rows) all.push_back(TargetFromRow(r));
  // Keep the subtree under root_id (which may be an inner node of its tree).
  std::map<int64_t, std::vector<const pb::Target*>> children;
  const pb::Target* start = nullptr;
  for (const auto& t : all) {
    children[t.parent_id()].push_back(&t);
    if (t.id() == root_id) start = &t;
  }
  std::vector<pb::Target> out;
  if (start == nullptr) return out;
  std::vector<const pb::Target*> stack{start};
  while (!stack.empty()) {
    const pb::Target* t = stack.back();
    stack.pop_back();
    out.push_back(*t);
    for (const auto* c : children[t->id()]) stack.push_back(c);
  }
  return out;
}

// ---------------------------------------------------------------- plans

absl::StatusOr<pb::Plan> Repository::CreatePlan(const pb::Plan& input, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return pool_->InTransaction<pb::Plan>([&](Session& s) -> absl::StatusOr<pb::Plan> {
    auto load = [&](const std::string& id) -> absl::StatusOr<pb::Plan> {
      int64_t n = 0;
      (void)absl::SimpleAtoi(id, &n);
      KEFU_ASSIGN_OR_RETURN(auto p, LoadPlan(s, n, false));
      if (!p) return NotFound("plan", id);
      return *p;
    };
    KEFU_ASSIGN_OR_RETURN(auto replayed, Replay<pb::Plan>(s, "performance.plan", key, load));
    if (replayed) return *replayed;
    const char* exists_sql = input.assignee_kind() == pb::ASSIGNEE_KIND_PERSON
                                 ? "SELECT id FROM staff WHERE id = ?"
                                 : "SELECT id FROM departments WHERE id = ?";
    KEFU_ASSIGN_OR_RETURN(auto assignee, s.QueryOne(exists_sql, {input.assignee_id()}));
    if (!assignee)
      return MakeError(absl::StatusCode::kFailedPrecondition, "UNKNOWN_ASSIGNEE",
                       absl::StrCat("plan.assignee_id: ", input.assignee_id(), " does not exist"),
                       {{"plan.assignee_id", "does not exist"}});
    KEFU_ASSIGN_OR_RETURN(
        auto ins,
        s.ExecInsert("INSERT INTO plans (title, type, assignee_kind, assignee_id, start_date, end_date, target_count, "
                     "minimum_count, currency, planned_cost_minor, content, purpose, status, create_time, update_time, "
                     "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                     {input.title(), static_cast<int>(input.type()), static_cast<int>(input.assignee_kind()),
                      input.assignee_id(), input.start_date(), input.end_date(), input.target_count(),
                      input.minimum_count(), input.planned_cost().currency_code(),
                      input.planned_cost().amount_minor(), input.content(), input.purpose(),
                      static_cast<int>(pb::PLAN_STATUS_ACTIVE), ToSqlTime(now), ToSqlTime(now)}));
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(
          db::CompleteRequestId(s, "performance.plan", key.request_id, absl::StrCat(ins.last_insert_id)));
    return load(absl::StrCat(ins.last_insert_id));
  });
}

absl::StatusOr<pb::Plan> Repository::GetPlan(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto p, LoadPlan(s, id, false));
  if (!p) return NotFound("plan", absl::StrCat(id));
  return *p;
}

absl::StatusOr<std::vector<pb::Plan>> Repository::ListPlans(const PlanFilter& f, int page_size, int64_t after_id,
                                                            bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kPlanColumns, " FROM plans WHERE id > ?");
  if (f.assignee_kind != pb::ASSIGNEE_KIND_UNSPECIFIED) {
    sql += " AND assignee_kind = ?";
    params.emplace_back(static_cast<int>(f.assignee_kind));
  }
  if (!f.assignee_id.empty()) {
    sql += " AND assignee_id = ?";
    params.emplace_back(f.assignee_id);
  }
  if (f.type != pb::PLAN_TYPE_UNSPECIFIED) {
    sql += " AND type = ?";
    params.emplace_back(static_cast<int>(f.type));
  }
  if (f.from) {
    sql += " AND end_date >= ?";
    params.emplace_back(Day(*f.from));
  }
  if (f.to) {
    sql += " AND start_date <= ?";
    params.emplace_back(Day(*f.to));
  }
  sql += " ORDER BY id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.pop_back();
  std::vector<pb::Plan> out;
  for (const auto& r : rows) out.push_back(PlanFromRow(r));
  return out;
}

absl::StatusOr<pb::Plan> Repository::RecordExecution(int64_t plan_id, absl::CivilDay day, int64_t count,
                                                     int64_t cost_minor, const std::string& note,
                                                     const std::string& actor, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Plan>(
      *pool_, "performance.RecordPlanExecution", key, [&](Session& s) -> absl::StatusOr<pb::Plan> {
        KEFU_ASSIGN_OR_RETURN(auto plan, LoadPlan(s, plan_id, true));
        if (!plan) return NotFound("plan", absl::StrCat(plan_id));
        KEFU_ASSIGN_OR_RETURN(bool recorded, RecordedBeforeResponsesWereStored(s, key));
        if (recorded) return *plan;  // already recorded: the plan as it stands
        if (plan->status() != pb::PLAN_STATUS_ACTIVE)
          return MakeError(absl::StatusCode::kFailedPrecondition, "PLAN_CANCELLED", "the plan was cancelled");
        std::string d = Day(day);
        if (d < plan->start_date() || d > plan->end_date())
          return MakeError(
              absl::StatusCode::kFailedPrecondition, "OUTSIDE_PLAN_PERIOD",
              absl::StrCat("date: ", d, " is outside the plan's period ", plan->start_date(), "..", plan->end_date()),
              {{"date", "is outside the plan's period"}});
        KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO plan_executions (plan_id, day, count, cost_minor, note, recorded_by, "
                                    "create_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                    {plan_id, d, count, cost_minor, note, actor, ToSqlTime(now)})
                                 .status());
        KEFU_RETURN_IF_ERROR(s.Exec("UPDATE plans SET actual_count = actual_count + ?, actual_cost_minor = "
                                    "actual_cost_minor + ?, update_time = ?, version = version + 1 WHERE id = ?",
                                    {count, cost_minor, ToSqlTime(now), plan_id})
                                 .status());
        KEFU_ASSIGN_OR_RETURN(auto updated, LoadPlan(s, plan_id, false));
        return *updated;
      });
}

absl::StatusOr<pb::Plan> Repository::CancelPlan(int64_t id, int64_t expected_version, const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::Plan>(
      *pool_, "performance.CancelPlan", key, [&](Session& s) -> absl::StatusOr<pb::Plan> {
        KEFU_ASSIGN_OR_RETURN(auto plan, LoadPlan(s, id, true));
        if (!plan) return NotFound("plan", absl::StrCat(id));
        if (expected_version != plan->version()) return StaleVersion(expected_version, plan->version());
        if (plan->status() != pb::PLAN_STATUS_ACTIVE)
          return MakeError(absl::StatusCode::kFailedPrecondition, "PLAN_CANCELLED", "the plan is already cancelled");
        KEFU_RETURN_IF_ERROR(s.Exec("UPDATE plans SET status = ?, update_time = ?, version = version + 1 WHERE id = ?",
                                    {static_cast<int>(pb::PLAN_STATUS_CANCELLED), ToSqlTime(now), id})
                                 .status());
        KEFU_ASSIGN_OR_RETURN(auto updated, LoadPlan(s, id, false));
        return *updated;
      });
}

absl::StatusOr<PlanTotals> Repository::Totals(pb::AssigneeKind kind, const std::string& assignee_id,
                                              const std::vector<std::string>& departments, absl::CivilDay from,
                                              absl::CivilDay to) {
  PlanTotals totals;
  if (kind == pb::ASSIGNEE_KIND_DEPARTMENT && departments.empty()) return totals;
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  // Plan-level figures: plans overlapping the range, executions within it.
  std::vector<Param> params{Day(from), Day(to)};
  std::string assignee = AssigneeClause(kind, assignee_id, departments, params);
  params.emplace_back(static_cast<int>(pb::PLAN_STATUS_ACTIVE));
  params.emplace_back(Day(to));
  params.emplace_back(Day(from));
  KEFU_ASSIGN_OR_RETURN(
      auto plans,
      s.Query(absl::StrCat("SELECT p.target_count, p.minimum_count, p.planned_cost_minor, "
                           "COALESCE(SUM(e.count), 0), COALESCE(SUM(e.cost_minor), 0) FROM plans p "
                           "LEFT JOIN plan_executions e ON e.plan_id = p.id AND e.day BETWEEN ? AND ? WHERE ",
                           assignee, " AND p.status = ? AND p.start_date <= ? AND p.end_date >= ? GROUP BY p.id, "
                           "p.target_count, p.minimum_count, p.planned_cost_minor"),
              params));
  for (const auto& r : plans) {
    ++totals.plans;
    totals.target_count += r.Int(0);
    totals.planned_cost_minor += r.Int(2);
    totals.actual_count += r.Int(3);
    totals.actual_cost_minor += r.Int(4);
    if (r.Int(3) >= r.Int(1)) ++totals.plans_minimum_met;
  }
  std::vector<Param> month_params{Day(from), Day(to)};
  std::string month_assignee = AssigneeClause(kind, assignee_id, departments, month_params);
  month_params.emplace_back(static_cast<int>(pb::PLAN_STATUS_ACTIVE));
  KEFU_ASSIGN_OR_RETURN(
      auto months,
      s.Query(absl::StrCat("SELECT DATE_FORMAT(e.day, '%Y-%m') AS m, SUM(e.count), SUM(e.cost_minor) "
                           "FROM plan_executions e JOIN plans p ON p.id = e.plan_id WHERE e.day BETWEEN ? AND ? AND ",
                           month_assignee, " AND p.status = ? GROUP BY m ORDER BY m"),
              month_params));
  for (const auto& r : months) {
    pb::PlanProgressPeriod period;
    period.set_period(r.Str(0));
    period.set_actual_count(r.Int(1));
    period.set_actual_cost_minor(r.Int(2));
    totals.periods.push_back(std::move(period));
  }
  return totals;
}

absl::StatusOr<std::vector<std::pair<std::string, double>>> Repository::ProgressByDepartment(absl::CivilDay today) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(
      auto rows,
      s.Query("SELECT CASE WHEN p.assignee_kind = ? THEN p.assignee_id ELSE st.department_id END AS dept, "
              "SUM(LEAST(p.actual_count, p.target_count)), SUM(p.target_count) FROM plans p "
              "LEFT JOIN staff st ON p.assignee_kind = ? AND st.id = p.assignee_id "
              "WHERE p.status = ? AND p.start_date <= ? AND p.end_date >= ? GROUP BY dept",
              {static_cast<int>(pb::ASSIGNEE_KIND_DEPARTMENT), static_cast<int>(pb::ASSIGNEE_KIND_PERSON),
               static_cast<int>(pb::PLAN_STATUS_ACTIVE), Day(today), Day(today)}));
  std::vector<std::pair<std::string, double>> out;
  for (const auto& r : rows) {
    if (r.Str(0).empty()) continue;
    double target = r.Double(2);
    out.emplace_back(r.Str(0), target > 0 ? r.Double(1) / target : 0.0);
  }
  return out;
}

// ---------------------------------------------------------------- scorecard policy

absl::StatusOr<pb::ScorecardPolicy> Repository::SavePolicy(const std::string& name, const pb::ScorecardPolicy& policy,
                                                           const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  // Saved in the transaction that claims the request id.
  return IdempotentTransaction<pb::ScorecardPolicy>(
      *pool_, "performance.UpdateScorecardPolicy", key, [&](Session& s) -> absl::StatusOr<pb::ScorecardPolicy> {
        return db::SaveSetting(s, name, policy, now);
      });
}

// ---------------------------------------------------------------- evaluation

absl::StatusOr<pb::EvaluationCycle> Repository::CreateCycle(const pb::EvaluationCycle& input,
                                                            const std::vector<Assignment>& assignments,
                                                            const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return pool_->InTransaction<pb::EvaluationCycle>([&](Session& s) -> absl::StatusOr<pb::EvaluationCycle> {
    auto load = [&](const std::string& id) -> absl::StatusOr<pb::EvaluationCycle> {
      int64_t n = 0;
      (void)absl::SimpleAtoi(id, &n);
      KEFU_ASSIGN_OR_RETURN(auto c, LoadCycle(s, n));
      if (!c) return NotFound("evaluation cycle", id);
      return *c;
    };
    KEFU_ASSIGN_OR_RETURN(auto replayed, Replay<pb::EvaluationCycle>(s, "performance.cycle", key, load));
    if (replayed) return *replayed;
    KEFU_ASSIGN_OR_RETURN(auto ins, s.ExecInsert("INSERT INTO evaluation_cycles (name, kind, period, department_id, "
                                                 "include_peers, include_self, status, create_time) "
                                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                                 {input.name(), static_cast<int>(input.kind()), input.period(),
                                                  input.department_id(), input.include_peers(), input.include_self(),
                                                  static_cast<int>(pb::CYCLE_STATUS_OPEN), ToSqlTime(now)}));
    for (const auto& a : assignments)
      KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO evaluation_assignments (cycle_id, rater_id, ratee_id, relation) "
                                  "VALUES (?, ?, ?, ?)",
                                  {ins.last_insert_id, a.rater_id, a.ratee_id, static_cast<int>(a.relation)})
                               .status());
    if (!key.request_id.empty())
      KEFU_RETURN_IF_ERROR(
          db::CompleteRequestId(s, "performance.cycle", key.request_id, absl::StrCat(ins.last_insert_id)));
    return load(absl::StrCat(ins.last_insert_id));
  });
}

absl::StatusOr<pb::EvaluationCycle> Repository::GetCycle(int64_t id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto c, LoadCycle(s, id));
  if (!c) return NotFound("evaluation cycle", absl::StrCat(id));
  return *c;
}

absl::StatusOr<std::vector<pb::EvaluationCycle>> Repository::ListCycles(pb::CycleStatus status, int page_size,
                                                                       int64_t after_id, bool* more) {
  std::vector<Param> params{after_id};
  std::string sql = absl::StrCat("SELECT ", kCycleColumns, " FROM evaluation_cycles c WHERE c.id > ?");
  if (status != pb::CYCLE_STATUS_UNSPECIFIED) {
    sql += " AND c.status = ?";
    params.emplace_back(static_cast<int>(status));
  }
  sql += " ORDER BY c.id LIMIT ?";
  params.emplace_back(page_size + 1);
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  *more = static_cast<int>(rows.size()) > page_size;
  if (*more) rows.pop_back();
  std::vector<pb::EvaluationCycle> out;
  for (const auto& r : rows) out.push_back(CycleFromRow(r));
  return out;
}

absl::StatusOr<std::vector<pb::EvaluationTask>> Repository::TasksOf(int64_t cycle_id, const std::string& rater_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT ratee_id, relation, score IS NOT NULL FROM evaluation_assignments "
                                           "WHERE cycle_id = ? AND rater_id = ? ORDER BY ratee_id",
                                           {cycle_id, rater_id}));
  std::vector<pb::EvaluationTask> out;
  for (const auto& r : rows) {
    pb::EvaluationTask t;
    t.set_ratee_id(r.Str(0));
    t.set_relation(static_cast<pb::Relation>(r.Int(1)));
    t.set_submitted(r.Int(2) != 0);
    out.push_back(std::move(t));
  }
  return out;
}

absl::StatusOr<pb::SubmitRatingResponse> Repository::SubmitRating(int64_t cycle_id, const std::string& rater_id,
                                                                  const std::string& ratee_id, int score,
                                                                  const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::SubmitRatingResponse>(
      *pool_, "performance.SubmitRating", key, [&](Session& s) -> absl::StatusOr<pb::SubmitRatingResponse> {
        KEFU_ASSIGN_OR_RETURN(
            auto cycle, s.QueryOne("SELECT status FROM evaluation_cycles WHERE id = ? LOCK IN SHARE MODE", {cycle_id}));
        if (!cycle) return NotFound("evaluation cycle", absl::StrCat(cycle_id));
        if (cycle->Int(0) != pb::CYCLE_STATUS_OPEN)
          return MakeError(absl::StatusCode::kFailedPrecondition, "CYCLE_CLOSED", "the evaluation cycle is closed");
        KEFU_ASSIGN_OR_RETURN(auto upd, s.Exec("UPDATE evaluation_assignments SET score = ?, submit_time = ? "
                                               "WHERE cycle_id = ? AND rater_id = ? AND ratee_id = ?",
                                               {score, ToSqlTime(now), cycle_id, rater_id, ratee_id}));
        if (upd.affected_rows == 0) {
          KEFU_ASSIGN_OR_RETURN(auto exists, s.QueryOne("SELECT 1 FROM evaluation_assignments WHERE cycle_id = ? AND "
                                                        "rater_id = ? AND ratee_id = ?",
                                                        {cycle_id, rater_id, ratee_id}));
          if (!exists)
            return MakeError(absl::StatusCode::kFailedPrecondition, "NOT_ASSIGNED",
                             "ratee_id: you are not asked to rate this person in this cycle",
                             {{"ratee_id", "is not one of your evaluation tasks"}});
        }
        KEFU_ASSIGN_OR_RETURN(auto c, LoadCycle(s, cycle_id));
        // The answer (also what a retry gets back) carries progress only: never the score,
        // so nothing downstream of this call (logs, proxies, client caches) holds an
        // individual rating.
        pb::SubmitRatingResponse progress;
        progress.set_cycle_id(c->id());
        progress.set_submitted(c->submitted());
        progress.set_assignments(c->assignments());
        return progress;
      });
}

absl::StatusOr<pb::EvaluationCycle> Repository::CloseCycle(int64_t id, const AggregateFn& aggregate,
                                                           const IdempotencyKey& key) {
  absl::Time now = clock_->Now();
  return IdempotentTransaction<pb::EvaluationCycle>(
      *pool_, "performance.CloseEvaluationCycle", key, [&](Session& s) -> absl::StatusOr<pb::EvaluationCycle> {
        KEFU_ASSIGN_OR_RETURN(auto cycle,
                              s.QueryOne("SELECT status FROM evaluation_cycles WHERE id = ? FOR UPDATE", {id}));
        if (!cycle) return NotFound("evaluation cycle", absl::StrCat(id));
        if (cycle->Int(0) != pb::CYCLE_STATUS_OPEN)
          return MakeError(absl::StatusCode::kFailedPrecondition, "CYCLE_CLOSED",
                           "the evaluation cycle is already closed");
        // Raters are reduced to opaque positions here: the aggregate needs to count
        // distinct raters, not to know who they are.
        KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT ratee_id, relation, score FROM evaluation_assignments "
                                                 "WHERE cycle_id = ? AND score IS NOT NULL ORDER BY ratee_id",
                                                 {id}));
        std::map<std::string, std::vector<Rating>> by_ratee;
        for (const auto& r : rows) {
          auto& list = by_ratee[r.Str(0)];
          list.push_back(
              {absl::StrCat(list.size()), ToRule(static_cast<pb::Relation>(r.Int(1))), static_cast<int>(r.Int(2))});
        }
        KEFU_ASSIGN_OR_RETURN(auto ratees,
                              s.Query("SELECT DISTINCT ratee_id FROM evaluation_assignments WHERE cycle_id = ?", {id}));
        for (const auto& r : ratees) by_ratee.try_emplace(r.Str(0));
        for (const auto& [ratee, ratings] : by_ratee) {
          Evaluation e = aggregate(ratings);
          for (const auto& agg : e.by_relation) {
            if (agg.raters == 0) continue;
            KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO evaluation_results (cycle_id, staff_id, relation, raters, mean, "
                                        "withheld) VALUES (?, ?, ?, ?, ?, ?)",
                                        {id, ratee, static_cast<int>(FromRule(agg.relation)), agg.raters,
                                         agg.mean ? Param(*agg.mean) : Param(nullptr), agg.withheld})
                                     .status());
          }
        }
        KEFU_RETURN_IF_ERROR(s.Exec("UPDATE evaluation_cycles SET status = ?, close_time = ? WHERE id = ?",
                                    {static_cast<int>(pb::CYCLE_STATUS_CLOSED), ToSqlTime(now), id})
                                 .status());
        KEFU_ASSIGN_OR_RETURN(auto c, LoadCycle(s, id));
        return *c;
      });
}

absl::StatusOr<std::vector<pb::EvaluationResult>> Repository::Results(int64_t cycle_id, const std::string& staff_id) {
  KEFU_ASSIGN_OR_RETURN(Session s, pool_->Acquire());
  std::vector<Param> params{cycle_id};
  std::string sql = "SELECT staff_id, relation, raters, mean, withheld FROM evaluation_results WHERE cycle_id = ?";
  if (!staff_id.empty()) {
    sql += " AND staff_id = ?";
    params.emplace_back(staff_id);
  }
  sql += " ORDER BY staff_id, relation";
  KEFU_ASSIGN_OR_RETURN(auto rows, s.Query(sql, params));
  std::vector<pb::EvaluationResult> out;
  for (const auto& r : rows) {
    if (out.empty() || out.back().staff_id() != r.Str(0)) {
      pb::EvaluationResult result;
      result.set_cycle_id(cycle_id);
      result.set_staff_id(r.Str(0));
      out.push_back(std::move(result));
    }
    auto* rel = out.back().add_by_relation();
    rel->set_relation(static_cast<pb::Relation>(r.Int(1)));
    rel->set_raters(static_cast<int32_t>(r.Int(2)));
    rel->set_withheld(r.Int(4) != 0);
    if (!r.IsNull(3)) rel->set_mean(r.Double(3));
  }
  // The overall mean weighs each shown relation by its ratings, as the rules do at
  // close (one rating per rater and ratee); withheld groups stay out of it.
  for (auto& result : out) {
    double sum = 0;
    int count = 0;
    for (const auto& rel : result.by_relation())
      if (rel.has_mean()) {
        sum += rel.mean() * rel.raters();
        count += rel.raters();
      }
    if (count > 0) result.set_overall(sum / count);
  }
  return out;
}

absl::StatusOr<std::vector<pb::EvaluationCycle>> Repository::OpenCycles() {
  bool more = false;
  return ListCycles(pb::CYCLE_STATUS_OPEN, 1000, 0, &more);
}

}  // namespace kefu::performance
