// Bad input, catalogued (reliability): every unary RPC of the five services, called
// against the real binaries through a generic stub with raw serialized requests (so
// invalid UTF-8 can be sent, which generated setters would refuse), with a senior
// manager's token so that authorization passes. The requests are mutated field by field
// through protobuf reflection, recursing into singular message fields:
//   - the empty request;
//   - every string field 20000 characters long, invalid UTF-8, and each of five SQL
//     metacharacter payloads;
//   - every enum field an unknown number (999);
//   - every int32/int64 field -1 and its maximum (money amounts included);
//   - every date range (from/to, start/end, *_from/*_to, effective/expiry) reversed;
//   - every page token "not-a-token", "%%%" and a well-formed token with a bad checksum.
// Each cell's expected code is written down exactly (kSpecs below, per method and field;
// the methods whose empty request is legitimately OK in kEmptyIsOk; the ranges in
// kRanges). An INVALID_ARGUMENT that a mutated value caused must name the field (in the
// kefu ErrorDetail's field violations or the message). No cell may be UNKNOWN, INTERNAL,
// DATA_LOSS, UNAVAILABLE or DEADLINE_EXCEEDED. Every business table of every schema has
// the same number of rows before and after the sweep: nothing is half-written.
//
// The mutations start from a base request per method that is valid except that it
// refers to records that do not exist (id 4242424242, staff "E-NOBODY", department
// "D-NOBODY"), so the mutated field is the request's only defect and nothing can be
// written; settings updates carry a stale version (ABORTED). Creates without any
// reference start from the empty request.
//
// Explicit cases after the sweep: Chinese text and 4-byte characters in free-text fields
// of valid requests are stored and read back byte-identical; SQL metacharacters in
// names, search prefixes and notes are data, not SQL; the streaming RPCs
// (ImportCustomers, ExportCustomers, WatchAlerts) refuse bad input too. Each counts the
// rows it writes, table by table.
//
// Where a service once did not do what a serious API should, the rule carries a note
// saying what went wrong then, printed with the failure if it comes back.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kefu/common/v1/common.pb.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/db/db.h"
#include "kefu/security/access_policy.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/validation.h"
#include "support/auth.h"
#include "support/system.h"
#include "support/test_env.h"

namespace kefu {
namespace {

namespace cu = customers::v1;
namespace wo = complaints::v1;
namespace ct = contracts::v1;
namespace sa = sales::v1;
namespace pf = performance::v1;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;
using grpc::StatusCode;

// ---------------------------------------------------------------- values

// No record of any service has this id ($N in a base; $M is the next one).
constexpr int64_t kMissing = 4242424242;
const std::string& Oversize() {
  static const auto* s = new std::string(20000, 'x');
  return *s;
}
const std::vector<std::string>& SqlPayloads() {
  static const auto* p = new std::vector<std::string>{"'; DROP TABLE customers; --", "\" OR 1=1 --", "%", "_", "\\"};
  return *p;
}
// Serialized with a placeholder of the same length, then swapped for bytes that are not
// UTF-8 (a lone 0xFF 0xFE, a bad continuation, an encoded surrogate, a stray continuation).
constexpr char kUtf8Placeholder[] = "BADUTF8!";
const std::string& InvalidUtf8() {
  static const auto* s = new std::string("\xff\xfe\xc3\x28\xed\xa0\x80\x80", 8);
  return *s;
}
// A token of the right shape ("k1", fingerprint, key, checksum) whose checksum is wrong.
std::string ForgedPageToken() {
  std::string body = absl::StrCat("k1", std::string(1, '\x1f'), "12345", std::string(1, '\x1f'), "7",
                                  std::string(1, '\x1f'), "0");
  return absl::WebSafeBase64Escape(body);
}
std::vector<std::pair<std::string, std::string>> BadPageTokens() {
  return {{"not-a-token", "not-a-token"}, {"%%%", "%%%"}, {ForgedPageToken(), "forged base64"}};
}
// 2026-03-01 and 2026-02-01 (UTC): a range that ends before it starts.
constexpr int64_t kLaterSeconds = 1772323200;
constexpr int64_t kEarlierSeconds = 1769904000;
constexpr char kLaterDay[] = "2026-03-01";
constexpr char kEarlierDay[] = "2026-02-01";

// ---------------------------------------------------------------- expectations

constexpr StatusCode kOk = StatusCode::OK;
constexpr StatusCode IA = StatusCode::INVALID_ARGUMENT;
constexpr StatusCode NF = StatusCode::NOT_FOUND;
constexpr StatusCode FP = StatusCode::FAILED_PRECONDITION;
constexpr StatusCode AB = StatusCode::ABORTED;
// "What the method's base request gets": the mutation changed nothing that matters.
constexpr StatusCode kBase = static_cast<StatusCode>(-1);

std::string CodeName(StatusCode c) {
  switch (c) {
    case StatusCode::OK: return "OK";
    case StatusCode::CANCELLED: return "CANCELLED";
    case StatusCode::UNKNOWN: return "UNKNOWN";
    case StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case StatusCode::NOT_FOUND: return "NOT_FOUND";
    case StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case StatusCode::ABORTED: return "ABORTED";
    case StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case StatusCode::INTERNAL: return "INTERNAL";
    case StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case StatusCode::DATA_LOSS: return "DATA_LOSS";
    default: return absl::StrCat("code ", static_cast<int>(c));
  }
}

bool Forbidden(StatusCode c) {
  return c == StatusCode::UNKNOWN || c == StatusCode::INTERNAL || c == StatusCode::DATA_LOSS ||
         c == StatusCode::UNAVAILABLE || c == StatusCode::DEADLINE_EXCEEDED;
}

// How a field is validated, and so what each mutation of it must get.
enum class Kind {
  kText,    // free text (CheckText): too long is refused, SQL metacharacters are data
  kId,      // identifier (CheckId, [A-Za-z0-9._:-]): too long and "'%\ are refused, "_" is data
  kFormat,  // a date, month, period, currency, phone, e-mail, time zone, page token: every payload is refused
  kEnum,    // a known enum value is required: 999 is refused
  kNumber,  // -1 and the maximum get `neg` and `max`
  kIgnored, // output-only on this request: whatever it holds, the request gets the base's code
};

struct Rule {
  std::string path;
  Kind kind = Kind::kText;
  StatusCode neg = IA, max = IA;  // kNumber
  // An acceptable value (a SQL payload the field's checks let through) gets this.
  StatusCode accepted = kBase;
  // What went wrong here once (printed with a failure), and where to look.
  std::string note;

  Rule Accepts(StatusCode c) const {
    Rule r = *this;
    r.accepted = c;
    return r;
  }
  Rule Note(std::string n) const {
    Rule r = *this;
    r.note = std::move(n);
    return r;
  }
};
Rule Make(std::string path, Kind kind) {
  Rule r;
  r.path = std::move(path);
  r.kind = kind;
  return r;
}
Rule T(std::string p) { return Make(std::move(p), Kind::kText); }
Rule I(std::string p) { return Make(std::move(p), Kind::kId); }
Rule F(std::string p) { return Make(std::move(p), Kind::kFormat); }
Rule E(std::string p) { return Make(std::move(p), Kind::kEnum); }
Rule O(std::string p) { return Make(std::move(p), Kind::kIgnored); }
Rule Num(std::string p, StatusCode neg, StatusCode max) {
  Rule r = Make(std::move(p), Kind::kNumber);
  r.neg = neg;
  r.max = max;
  return r;
}

struct Spec {
  std::string method;  // "CustomerService/GetCustomer"
  std::string base;    // text format; $N = kMissing, $M = kMissing + 1
  StatusCode base_code;
  std::vector<Rule> rules;
};

// Notes shared by several rows.
const char kLateCustomer[] =
    "the draft must be validated before the customer lookup (contracts service.cc CreateDraftForProject); "
    "it once answered FAILED_PRECONDITION";
const char kLateContract[] =
    "the patch must be validated before the contract is read (contracts service.cc UpdateContract/"
    "RenewContract/AmendContract, Validator::MergePatch); it once answered NOT_FOUND";
const char kLateProject[] =
    "the patch must be validated before the project is read (sales service.cc UpdateProject, "
    "Validator::MergePatch); it once answered NOT_FOUND";
const char kLateStaff[] =
    "the patch must be validated before the staff record is read (performance service.cc UpdateStaff, "
    "Validator::MergePatch); it once answered NOT_FOUND";
const char kUncheckedNote[] =
    "the note must be checked (complaints service.cc StartWork/ResumeSla/StartFollowUp); it once was not";
const char kUnboundedMax[] = "an upper bound must be checked, not only < 0; once it was not";
const char kUncheckedVersion[] =
    "a negative version must be INVALID_ARGUMENT (db/settings.cc SaveSettingBytes); it once was ABORTED";

// Every unary method of the five services. The mutated field is the request's only defect.
const std::vector<Spec>& Specs() {
  static const auto* specs = new std::vector<Spec>{
      // ------------------------------------------------------------ customers
      {"CustomerService/CreateCustomer", "", IA,
       {O("customer.id"), O("customer.number"), E("customer.kind"), T("customer.name"), T("customer.industry"),
        T("customer.region"), E("customer.source"), I("customer.owner_id"), I("customer.department_id"),
        E("customer.tier"), E("customer.lifecycle_stage"), E("customer.credit_rating"), T("customer.tags"),
        O("customer.version"), O("customer.merged_into_id"), I("request_id")}},
      {"CustomerService/GetCustomer", "customer_id: $N", NF, {Num("customer_id", IA, NF)}},
      {"CustomerService/GetCustomerTier", "customer_id: $N", NF, {Num("customer_id", IA, NF)}},
      {"CustomerService/UpdateCustomer",
       R"(customer { id: $N version: 1 kind: CUSTOMER_KIND_PERSON name: "x" }
          update_mask { paths: ["kind", "name", "contacts", "industry", "region", "source", "department_id",
                                "credit_rating", "tags"] })",
       NF,
       {Num("customer.id", IA, NF), O("customer.number"), E("customer.kind"), T("customer.name"),
        T("customer.industry"), T("customer.region"), E("customer.source"), O("customer.owner_id"),
        I("customer.department_id"), O("customer.tier"), O("customer.lifecycle_stage"), E("customer.credit_rating"),
        T("customer.tags"), Num("customer.version", IA, NF), O("customer.merged_into_id"), I("request_id")}},
      {"CustomerService/ListCustomers", "", kOk,
       {Num("page_size", IA, IA), F("page_token"), I("owner_id"), E("tier"), E("lifecycle_stage"), T("region"),
        T("name_prefix"), T("tag"), I("department_id")}},
      {"CustomerService/FindDuplicates", R"(name: "不存在的客户名")", kOk, {T("name"), F("phone"), F("email")}},
      {"CustomerService/MergeCustomers", "survivor_id: $N duplicate_id: $M", NF,
       {Num("survivor_id", IA, NF), Num("duplicate_id", IA, NF), T("reason"), I("request_id")}},
      {"CustomerService/ReassignOwner", R"(customer_id: $N new_owner_id: "E-NOBODY")", FP,
       {Num("customer_id", IA, FP), I("new_owner_id"), I("new_department_id"), T("reason"), Num("version", IA, FP),
        I("request_id")}},
      {"CustomerService/TransferPortfolio", R"(from_owner_id: "E-NOBODY-1" to_owner_id: "E-NOBODY-2")", FP,
       {I("from_owner_id"), I("to_owner_id"), I("new_department_id"), T("reason"), I("request_id")}},
      {"CustomerService/ChangeTier", R"(customer_id: $N tier: TIER_GOLD reason: "x")", NF,
       {Num("customer_id", IA, NF), E("tier"), T("reason"), Num("version", IA, NF), I("request_id")}},
      {"CustomerService/ListTierChanges", "customer_id: $N", NF,
       {Num("customer_id", IA, NF), Num("page_size", IA, IA), F("page_token")}},
      {"CustomerService/ChangeLifecycleStage", "customer_id: $N stage: LIFECYCLE_STAGE_FORMATION", NF,
       {Num("customer_id", IA, NF), E("stage"), T("reason"), Num("version", IA, NF), I("request_id")}},
      {"CustomerService/AppendLogEntry",
       R"(entry { customer_id: $N channel: CHANNEL_PHONE category: LOG_CATEGORY_SERVICE description: "x" })", NF,
       {O("entry.id"), Num("entry.customer_id", IA, NF), I("entry.staff_id"), I("entry.department_id"),
        E("entry.channel"), E("entry.category"), T("entry.description"), T("entry.resolution"), T("entry.summary"),
        E("entry.satisfaction"), T("entry.reference"), I("request_id")}},
      // Its only field is the repeated requests; each is checked as AppendLogEntry is
      // (customers_service_test BatchAppendNamesEveryBadRequest: requests[i].<field>).
      {"CustomerService/BatchAppendLogEntries",
       R"(requests { entry { customer_id: $N channel: CHANNEL_PHONE category: LOG_CATEGORY_SERVICE description: "x" } })",
       NF, {}},
      {"CustomerService/ListLogEntries", "customer_id: $N", NF,
       {Num("customer_id", IA, NF), E("category"), Num("page_size", IA, IA), F("page_token")}},
      {"CustomerService/RecordBusinessVolume", R"(volume { customer_id: $N period: "2026-01" volume: 1 })", NF,
       {Num("volume.customer_id", IA, NF), F("volume.period"), Num("volume.volume", IA, IA),
        F("volume.revenue.currency_code"), Num("volume.revenue.amount_minor", IA, IA), I("request_id")}},
      {"CustomerService/ListBusinessVolumes", "customer_id: $N", NF,
       {Num("customer_id", IA, NF),
        Num("threshold_bp", IA, IA)
            .Note(absl::StrCat(kUnboundedMax, " (customers service.cc ListBusinessVolumes): NOT_FOUND"))}},
      {"CustomerService/ListVolumeFluctuations", R"(period: "2026-01")", kOk,
       {F("period"),
        Num("threshold_bp", IA, IA)
            .Note(absl::StrCat(kUnboundedMax, " (customers service.cc ListVolumeFluctuations): OK")),
        Num("page_size", IA, IA), F("page_token")}},
      {"CustomerService/CreateRetentionCase", R"(customer_id: $N reason: "x")", NF,
       {Num("customer_id", IA, NF), T("reason"), I("owner_id"), I("request_id")}},
      {"CustomerService/GetRetentionCase", "case_id: $N", NF, {Num("case_id", IA, NF)}},
      {"CustomerService/AddRetentionAction",
       R"(case_id: $N action { type: RETENTION_ACTION_TYPE_VISIT description: "x" })", NF,
       {Num("case_id", IA, NF), O("action.id"), E("action.type"), T("action.description"),
        F("action.cost.currency_code"), Num("action.cost.amount_minor", IA, IA), I("action.staff_id"),
        I("request_id")}},
      {"CustomerService/CloseRetentionCase", "case_id: $N outcome: RETENTION_OUTCOME_RETAINED", NF,
       {Num("case_id", IA, NF), E("outcome"), T("note"), I("request_id")}},
      {"CustomerService/ListRetentionCases", "", kOk,
       {Num("customer_id", IA, kBase), E("status"), I("owner_id"), Num("page_size", IA, IA), F("page_token")}},
      // A window in 2001, when nobody was served: the sample is empty and nothing is written.
      {"CustomerService/SampleSurveys",
       R"(campaign: "bad-input" served_from { seconds: 978307200 } served_to { seconds: 980985600 } sample_size: 1)",
       kOk, {T("campaign"), Num("sample_size", IA, IA), Num("seed", kBase, kBase), I("request_id")}},
      {"CustomerService/RecordSurveyResult", "survey_id: $N satisfaction: SATISFACTION_SATISFIED", NF,
       {Num("survey_id", IA, NF), E("satisfaction"), T("comment"), I("request_id")}},
      {"CustomerService/ListSurveys", "", kOk,
       {T("campaign"), E("status"), Num("customer_id", IA, kBase), Num("page_size", IA, IA), F("page_token")}},
      {"CustomerService/GetSurveyStats", R"(campaign: "bad-input")", NF, {T("campaign")}},
      {"CustomerService/GetPortfolioStats", "from { seconds: 1767225600 } to { seconds: 1769904000 }", kOk,
       {I("owner_id"), I("department_id")}},
      {"CustomerService/GetCustomer360", "customer_id: $N", NF,
       {Num("customer_id", IA, NF), Num("recent_log_limit", IA, IA)}},

      // ------------------------------------------------------------ complaints
      {"ComplaintService/CreateWorkOrder",
       R"(work_order { customer_id: $N channel: CHANNEL_PHONE type: WORK_ORDER_TYPE_COMPLAINT
                       severity: SEVERITY_GENERAL content: "x" })",
       FP,
       {O("work_order.id"), O("work_order.number"), Num("work_order.customer_id", IA, FP), E("work_order.channel"),
        E("work_order.type"), E("work_order.severity"), T("work_order.title"), T("work_order.content"),
        T("work_order.product"), O("work_order.first_contact_owner_id"), I("work_order.department_id"),
        I("work_order.handler_id"), O("work_order.service_type"), O("work_order.contract_id"),
        O("work_order.status"), O("work_order.escalation_level"), O("work_order.pause_reason"),
        O("work_order.resolution.summary"), O("work_order.resolution.actions"),
        O("work_order.resolution.compensation.currency_code"),
        O("work_order.resolution.compensation.amount_minor"), O("work_order.resolution.root_cause"),
        O("work_order.resolution.prevention"), O("work_order.resolution.responsible_staff_id"),
        O("work_order.resolution.responsible_department_id"), O("work_order.reopen_count"),
        O("work_order.customer_tier"), O("work_order.close_reason"), O("work_order.version"), I("request_id")}},
      {"ComplaintService/GetWorkOrder", "work_order_id: $N", NF, {Num("work_order_id", IA, NF)}},
      {"ComplaintService/ListWorkOrders", "", kOk,
       {Num("page_size", IA, IA), F("page_token"), Num("customer_id", IA, kBase), E("status"), E("severity"),
        I("handler_id"), I("department_id"), E("escalation_level"), E("type")}},
      {"ComplaintService/AcceptWorkOrder", "work_order_id: $N", NF,
       {Num("work_order_id", IA, NF), Num("version", IA, NF), T("note"), I("request_id")}},
      // handler_id "_" is a well-formed id of nobody: the staff check refuses it.
      {"ComplaintService/AssignWorkOrder", R"(work_order_id: $N department_id: "D-NOBODY")", NF,
       {Num("work_order_id", IA, NF), I("department_id"), I("handler_id").Accepts(FP), T("note"),
        Num("version", IA, NF), I("request_id")}},
      {"ComplaintService/StartWork", "work_order_id: $N", NF,
       {Num("work_order_id", IA, NF), Num("version", IA, NF), T("note").Note(kUncheckedNote), I("request_id")}},
      {"ComplaintService/PauseSla", "work_order_id: $N reason: PAUSE_REASON_WAITING_CUSTOMER", NF,
       {Num("work_order_id", IA, NF), E("reason"), T("note"), Num("version", IA, NF), I("request_id")}},
      {"ComplaintService/ResumeSla", "work_order_id: $N", NF,
       {Num("work_order_id", IA, NF), Num("version", IA, NF), T("note").Note(kUncheckedNote), I("request_id")}},
      {"ComplaintService/ChangeSeverity", R"(work_order_id: $N severity: SEVERITY_MAJOR reason: "x")", NF,
       {Num("work_order_id", IA, NF), E("severity"), T("reason"), Num("version", IA, NF), I("request_id")}},
      {"ComplaintService/AddNote", R"(work_order_id: $N text: "x")", NF,
       {Num("work_order_id", IA, NF), T("text"), I("request_id")}},
      {"ComplaintService/ResolveWorkOrder", R"(work_order_id: $N resolution { summary: "x" })", NF,
       {Num("work_order_id", IA, NF), T("resolution.summary"), E("resolution.actions"),
        F("resolution.compensation.currency_code"), Num("resolution.compensation.amount_minor", IA, IA),
        T("resolution.root_cause"), T("resolution.prevention"), I("resolution.responsible_staff_id"),
        I("resolution.responsible_department_id"), Num("version", IA, NF), I("request_id")}},
      {"ComplaintService/StartFollowUp", "work_order_id: $N", NF,
       {Num("work_order_id", IA, NF), Num("version", IA, NF), T("note").Note(kUncheckedNote), I("request_id")}},
      {"ComplaintService/RecordFollowUp", "work_order_id: $N satisfaction: 5", NF,
       {Num("work_order_id", IA, NF), Num("satisfaction", IA, IA), T("note"), Num("version", IA, NF),
        I("request_id")}},
      {"ComplaintService/CloseWithoutSatisfaction", R"(work_order_id: $N reason: "x")", NF,
       {Num("work_order_id", IA, NF), T("reason"), Num("version", IA, NF), I("request_id")}},
      {"ComplaintService/GetTimeline", "work_order_id: $N", NF, {Num("work_order_id", IA, NF)}},
      {"ComplaintService/ListAtRisk", "", kOk,
       {I("department_id"), I("handler_id"), Num("threshold_bp", IA, IA), Num("page_size", IA, IA)}},
      {"ComplaintService/GetDeadlinePolicy", "", kOk, {}},
      {"ComplaintService/UpdateDeadlinePolicy",
       R"(policy { version: 99
            rules { severity: SEVERITY_MAJOR respond_within_seconds: 3600 resolve_within_seconds: 7200
                    escalation_step_seconds: 3600 }
            rules { severity: SEVERITY_GENERAL respond_within_seconds: 3600 resolve_within_seconds: 7200
                    escalation_step_seconds: 3600 }
            rules { severity: SEVERITY_MINOR respond_within_seconds: 3600 resolve_within_seconds: 7200
                    escalation_step_seconds: 3600 } })",
       AB,
       {Num("policy.version", IA, AB)
            .Note(absl::StrCat(kUncheckedVersion, " (complaints settings.cc PolicyFromProto ignores version)")),
        I("request_id")}},
      {"ComplaintService/GetBusinessCalendar", "", kOk, {}},
      {"ComplaintService/UpdateBusinessCalendar",
       R"(calendar { time_zone: "Asia/Shanghai" version: 99
            weekly_hours { intervals { start_minute: 540 end_minute: 1080 } }
            weekly_hours { intervals { start_minute: 540 end_minute: 1080 } }
            weekly_hours { intervals { start_minute: 540 end_minute: 1080 } }
            weekly_hours { intervals { start_minute: 540 end_minute: 1080 } }
            weekly_hours { intervals { start_minute: 540 end_minute: 1080 } }
            weekly_hours {} weekly_hours {} })",
       AB,
       {F("calendar.time_zone"), F("calendar.holidays"), F("calendar.extra_working_days"),
        Num("calendar.version", IA, AB)
            .Note(absl::StrCat(kUncheckedVersion, " (complaints settings.cc CalendarFromProto ignores version)")),
        I("request_id")}},
      {"ComplaintService/GetKpis", "from { seconds: 1767225600 } to { seconds: 1769904000 }", kOk,
       {I("department_id"), I("handler_id")}},
      {"ComplaintService/GetQualitySeries",
       "measure: QUALITY_MEASURE_OVERDUE_RATE from { seconds: 1767571200 } weeks: 4", kOk,
       {E("measure"), I("department_id"), I("handler_id"), Num("weeks", IA, IA)}},
      // Its only field is the repeated tiers; each entry's fields are checked by
      // complaints_service_test (NewWorkOrdersTakeTheTierFromTheCopy...: tiers[i].<field>).
      {"ComplaintService/RecordCustomerTiers", "tiers { customer_id: $N tier: 2 version: 1 }", kOk, {}},

      // ------------------------------------------------------------ contracts
      {"ContractService/CreateContract",
       R"(contract { customer_id: $N name: "x" type: CONTRACT_TYPE_SALES
                     amount { currency_code: "CNY" amount_minor: 100 }
                     effective_date: "2026-01-01" expiry_date: "2026-12-31" })",
       FP,
       {O("contract.id"), O("contract.number"), T("contract.name"), Num("contract.customer_id", IA, FP),
        T("contract.our_entity"), T("contract.customer_party"), E("contract.type"), F("contract.amount.currency_code"),
        Num("contract.amount.amount_minor", IA, IA), O("contract.signing_date"), F("contract.effective_date"),
        F("contract.expiry_date"), T("contract.template_id"), T("contract.document_uri"),
        Num("contract.sales_project_id", IA, FP), O("contract.status"), O("contract.relation"),
        O("contract.previous_contract_id"), I("contract.owner_id"), I("contract.department_id"),
        O("contract.termination_reason"), O("contract.version"), I("request_id")}},
      {"ContractService/CreateDraftForProject",
       R"(sales_project_id: $N customer_id: $N name: "x" type: CONTRACT_TYPE_SALES)", FP,
       {Num("sales_project_id", IA, FP), Num("customer_id", IA, FP), T("name"), E("type"),
        F("amount.currency_code").Note(kLateCustomer), Num("amount.amount_minor", IA, IA).Note(kLateCustomer),
        I("owner_id"), I("department_id"), I("request_id")}},
      {"ContractService/GetContract", "contract_id: $N", NF, {Num("contract_id", IA, NF)}},
      {"ContractService/UpdateContract",
       R"(contract { id: $N version: 1 name: "服务合同" type: CONTRACT_TYPE_SERVICE_CONTRACT
                     amount { currency_code: "CNY" amount_minor: 100000 }
                     effective_date: "2027-01-01" expiry_date: "2027-12-31" }
          update_mask { paths: ["name", "our_entity", "customer_party", "type", "amount", "effective_date",
                                "expiry_date", "template_id", "document_uri", "owner_id", "department_id"] })",
       NF,
       {Num("contract.id", IA, NF), O("contract.number"), T("contract.name").Note(kLateContract),
        O("contract.customer_id"), T("contract.our_entity").Note(kLateContract),
        T("contract.customer_party").Note(kLateContract), E("contract.type").Note(kLateContract),
        F("contract.amount.currency_code").Note(kLateContract),
        Num("contract.amount.amount_minor", IA, IA).Note(kLateContract), O("contract.signing_date"),
        F("contract.effective_date").Note(kLateContract), F("contract.expiry_date").Note(kLateContract),
        T("contract.template_id").Note(kLateContract), T("contract.document_uri").Note(kLateContract),
        O("contract.sales_project_id"), O("contract.status"), O("contract.relation"),
        O("contract.previous_contract_id"), I("contract.owner_id").Note(kLateContract),
        I("contract.department_id").Note(kLateContract), O("contract.termination_reason"),
        Num("contract.version", IA, NF), I("request_id")}},
      {"ContractService/ListContracts", "", kOk,
       {Num("page_size", IA, IA), F("page_token"), Num("customer_id", IA, kBase), E("type"), E("status"),
        Num("expiring_within_days", IA, IA), F("signed_from"), F("signed_to"), I("owner_id")}},
      {"ContractService/SetRiskAssessment", "contract_id: $N", NF,
       {Num("contract_id", IA, NF), Num("version", IA, NF), I("request_id")}},
      {"ContractService/SubmitForReview", "contract_id: $N", NF,
       {Num("contract_id", IA, NF), Num("version", IA, NF), I("request_id")}},
      {"ContractService/RecordApproval", "contract_id: $N decision: DECISION_PASS", NF,
       {Num("contract_id", IA, NF), E("decision"), T("opinion"), Num("version", IA, NF), I("request_id")}},
      {"ContractService/SignContract", "contract_id: $N", NF,
       {Num("contract_id", IA, NF), F("signing_date"), Num("version", IA, NF), I("request_id")}},
      {"ContractService/ActivateContract", "contract_id: $N", NF,
       {Num("contract_id", IA, NF), Num("version", IA, NF), I("request_id")}},
      {"ContractService/TerminateContract", R"(contract_id: $N reason: "x")", NF,
       {Num("contract_id", IA, NF), T("reason"), Num("version", IA, NF), I("request_id")}},
      {"ContractService/RenewContract", R"(contract_id: $N expiry_date: "2027-12-31")", NF,
       {Num("contract_id", IA, NF), F("effective_date").Note(kLateContract), F("expiry_date"),
        F("amount.currency_code").Note(kLateContract), Num("amount.amount_minor", IA, IA).Note(kLateContract),
        I("request_id")}},
      {"ContractService/AmendContract", R"(contract_id: $N reason: "x"
          amended { name: "x" type: CONTRACT_TYPE_SERVICE_CONTRACT amount { currency_code: "CNY" amount_minor: 100 }
                    effective_date: "2027-01-01" expiry_date: "2027-12-31" })", NF,
       {Num("contract_id", IA, NF), O("amended.id"), O("amended.number"), T("amended.name").Note(kLateContract),
        O("amended.customer_id"), T("amended.our_entity").Note(kLateContract),
        T("amended.customer_party").Note(kLateContract), E("amended.type").Note(kLateContract),
        F("amended.amount.currency_code").Note(kLateContract),
        Num("amended.amount.amount_minor", IA, IA).Note(kLateContract), O("amended.signing_date"),
        F("amended.effective_date").Note(kLateContract), F("amended.expiry_date").Note(kLateContract),
        T("amended.template_id").Note(kLateContract), T("amended.document_uri").Note(kLateContract),
        O("amended.sales_project_id"), O("amended.status"), O("amended.relation"), O("amended.previous_contract_id"),
        I("amended.owner_id").Note(kLateContract), I("amended.department_id").Note(kLateContract),
        O("amended.termination_reason"), O("amended.version"), T("reason"), I("request_id")}},
      {"ContractService/ListContractHistory", "contract_id: $N", NF, {Num("contract_id", IA, NF)}},
      // A customer contracts has never heard of holds no contract: PAID, as for any other.
      {"ContractService/CheckEntitlement", "customer_id: $N", kOk, {Num("customer_id", IA, kBase), F("date")}},
      {"ContractService/GetApprovalRules", "", kOk, {}},
      {"ContractService/UpdateApprovalRules",
       R"(rules { version: 99 rules { min_amount_minor: 0 required_role: "department_manager" } })", AB,
       {Num("rules.version", IA, AB)
            .Note(absl::StrCat(kUncheckedVersion, " (contracts domain.cc ValidateApprovalRules ignores version)")),
        I("request_id")}},
      {"ContractService/GetSigningStats", R"(signed_from: "2026-01-01" signed_to: "2026-01-31")", kOk,
       {I("owner_id"), I("department_id"), F("signed_from"), F("signed_to"), F("currency_code")}},

      // ------------------------------------------------------------ sales
      {"SalesService/CreateProject",
       R"(project { name: "x" customer_id: $N owner_id: "E-NOBODY" goal: "x" customer_contact: "x"
                    estimated_amount { currency_code: "CNY" amount_minor: 100 }
                    expected_signing_date: "2026-12-31" })",
       FP,
       {O("project.id"), O("project.number"), T("project.name"), Num("project.customer_id", IA, FP),
        I("project.owner_id"), I("project.department_id"), I("project.team"), T("project.goal"),
        T("project.category"), T("project.customer_contact"), F("project.estimated_amount.currency_code"),
        Num("project.estimated_amount.amount_minor", IA, IA), Num("project.estimated_margin_bp", kBase, IA),
        F("project.expense_budget.currency_code"), Num("project.expense_budget.amount_minor", IA, IA),
        F("project.expected_signing_date"), T("project.schedule"), F("project.estimated_cost.currency_code"),
        Num("project.estimated_cost.amount_minor", IA, IA), O("project.actual_cost.currency_code"),
        O("project.actual_cost.amount_minor"), O("project.stage"), O("project.probability_bp"),
        O("project.closing.reason"), O("project.closing.total_cost.currency_code"),
        O("project.closing.total_cost.amount_minor"), O("project.contract_id"), O("project.version"),
        O("project.customer_check"), I("request_id")}},
      {"SalesService/GetProject", "project_id: $N", NF, {Num("project_id", IA, NF)}},
      {"SalesService/UpdateProject",
       R"(project { id: $N version: 1 }
          update_mask { paths: ["name", "owner_id", "department_id", "team", "goal", "category",
                                "customer_contact", "estimated_amount", "estimated_margin_bp", "expense_budget",
                                "expected_signing_date", "schedule", "estimated_cost"] })",
       NF,
       {Num("project.id", IA, NF), O("project.number"), T("project.name").Note(kLateProject),
        O("project.customer_id"), I("project.owner_id").Note(kLateProject),
        I("project.department_id").Note(kLateProject), I("project.team").Note(kLateProject),
        T("project.goal").Note(kLateProject), T("project.category").Note(kLateProject),
        T("project.customer_contact").Note(kLateProject),
        F("project.estimated_amount.currency_code").Note(kLateProject),
        Num("project.estimated_amount.amount_minor", IA, IA).Note(kLateProject),
        Num("project.estimated_margin_bp", kBase, IA).Note(kLateProject),
        F("project.expense_budget.currency_code").Note(kLateProject),
        Num("project.expense_budget.amount_minor", IA, IA).Note(kLateProject),
        F("project.expected_signing_date").Note(kLateProject), T("project.schedule").Note(kLateProject),
        F("project.estimated_cost.currency_code").Note(kLateProject),
        Num("project.estimated_cost.amount_minor", IA, IA).Note(kLateProject),
        O("project.actual_cost.currency_code"), O("project.actual_cost.amount_minor"), O("project.stage"),
        O("project.probability_bp"), O("project.closing.reason"), O("project.closing.total_cost.currency_code"),
        O("project.closing.total_cost.amount_minor"), O("project.contract_id"), Num("project.version", IA, NF),
        O("project.customer_check"), I("request_id")}},
      {"SalesService/ListProjects", "", kOk,
       {Num("page_size", IA, IA), F("page_token"), Num("customer_id", IA, kBase), E("stage"), I("owner_id"),
        I("department_id"), E("customer_check")}},
      // Not a closing stage: the closing summary is ignored.
      {"SalesService/ChangeStage", "project_id: $N stage: STAGE_PROPOSAL", NF,
       {Num("project_id", IA, NF), E("stage"), T("reason"), O("closing.reason"),
        O("closing.total_cost.currency_code"), O("closing.total_cost.amount_minor"), Num("version", IA, NF),
        I("request_id")}},
      {"SalesService/ListStageChanges", "project_id: $N", NF, {Num("project_id", IA, NF)}},
      // A bid activity: bid details belong to it, approval details never do.
      {"SalesService/AddActivity", R"(activity { project_id: $N type: ACTIVITY_TYPE_BID purpose: "x" })", NF,
       {O("activity.id"), Num("activity.project_id", IA, NF), E("activity.type"), T("activity.place"),
        I("activity.our_participants"), T("activity.customer_participants"), T("activity.purpose"),
        T("activity.result"), F("activity.cost.currency_code"), Num("activity.cost.amount_minor", IA, IA),
        F("activity.bid.tender_date"), F("activity.bid.bid_date"), I("activity.bid.bid_owner_id"),
        I("activity.approval.approver_id").Accepts(IA), T("activity.approval.opinion").Accepts(IA),
        I("activity.staff_id")
            .Note("staff_id must be checked (sales domain.cc ValidateActivity); it once was not"),
        I("request_id")}},
      {"SalesService/ListActivities", "project_id: $N", NF,
       {Num("project_id", IA, NF), Num("page_size", IA, IA), F("page_token")}},
      {"SalesService/SetCompetitors", "project_id: $N", NF,
       {Num("project_id", IA, NF), Num("version", IA, NF), I("request_id")}},
      {"SalesService/AddActionPlan", R"(plan { project_id: $N period: "2026-01" plan: "x" })", NF,
       {O("plan.id"), Num("plan.project_id", IA, NF), F("plan.period"), T("plan.plan"), T("plan.outcome"),
        T("plan.remedial_plan"), I("request_id")}},
      {"SalesService/UpdateActionPlanOutcome", R"(plan_id: $N outcome: "x")", NF,
       {Num("plan_id", IA, NF), T("outcome"), T("remedial_plan"), I("request_id")}},
      {"SalesService/ListActionPlans", "project_id: $N", NF,
       {Num("project_id", IA, NF)
            .Note("a missing project must be NOT_FOUND (sales service.cc ListActionPlans); it once was an "
                  "empty list")}},
      {"SalesService/GetPipeline", "", kOk,
       {E("group_by"), I("owner_id"), I("department_id"), F("signing_from"), F("signing_to"), F("currency_code")}},
      {"SalesService/GetWinRate", R"(from: "2026-01-01" to: "2026-02-01")", kOk,
       {F("from"), F("to"), I("owner_id"), I("department_id")}},
      {"SalesService/GetForecast", R"(from: "2026-01-01" to: "2026-02-01")", kOk,
       {F("from"), F("to"), F("currency_code")}},
      {"SalesService/GetStageProbabilities", "", kOk, {}},
      {"SalesService/UpdateStageProbabilities",
       R"(probabilities { version: 99
            stages { stage: STAGE_INITIATION probability_bp: 1000 } stages { stage: STAGE_PROPOSAL probability_bp: 2000 }
            stages { stage: STAGE_BIDDING probability_bp: 4000 } stages { stage: STAGE_NEGOTIATION probability_bp: 6000 }
            stages { stage: STAGE_CONTRACT probability_bp: 8000 }
            stages { stage: STAGE_IMPLEMENTATION probability_bp: 9000 }
            stages { stage: STAGE_WON probability_bp: 10000 } stages { stage: STAGE_LOST probability_bp: 0 }
            stages { stage: STAGE_TERMINATED probability_bp: 0 } })",
       AB,
       {Num("probabilities.version", IA, AB)
            .Note(absl::StrCat(kUncheckedVersion, " (sales domain.cc ValidateProbabilities ignores version)")),
        I("request_id")}},

      // ------------------------------------------------------------ performance
      {"PerformanceService/CreateDepartment",
       R"(department { id: "D-BADINPUT" name: "x" parent_id: "D-NOBODY" })", FP,
       {I("department.id"), T("department.name"), I("department.parent_id"), I("department.manager_id"),
        I("request_id")}},
      {"PerformanceService/GetDepartment", R"(department_id: "D-NOBODY")", NF, {I("department_id")}},
      // root_id "_" is a well-formed id of no department.
      {"PerformanceService/ListDepartments", "", kOk, {I("root_id").Accepts(NF)}},
      {"PerformanceService/CreateStaff",
       R"(staff { id: "E-BADINPUT" employee_number: "BI-0001" name: "x" department_id: "D-NOBODY"
                  role: ROLE_AGENT })",
       FP,
       {I("staff.id"), I("staff.employee_number"), T("staff.name"), I("staff.department_id"), T("staff.position"),
        E("staff.role"), I("staff.superior_id"), F("staff.phone"), F("staff.email"), E("staff.status"),
        O("staff.version"), I("request_id")}},
      {"PerformanceService/GetStaff", R"(staff_id: "E-NOBODY")", NF, {I("staff_id")}},
      {"PerformanceService/CheckStaff", R"(staff_ids: "E-NOBODY")", kOk, {I("staff_ids")}},
      {"PerformanceService/UpdateStaff",
       R"(staff { id: "E-NOBODY" version: 1 name: "员工" department_id: "D-NOBODY" role: ROLE_AGENT }
          update_mask { paths: ["name", "department_id", "position", "role", "superior_id", "phone", "email",
                                "status"] })",
       NF,
       {I("staff.id"), O("staff.employee_number"), T("staff.name").Note(kLateStaff),
        I("staff.department_id").Note(kLateStaff), T("staff.position").Note(kLateStaff),
        E("staff.role").Note(kLateStaff), I("staff.superior_id").Note(kLateStaff), F("staff.phone").Note(kLateStaff),
        F("staff.email").Note(kLateStaff), E("staff.status").Note(kLateStaff), Num("staff.version", IA, NF),
        I("request_id")}},
      {"PerformanceService/ListStaff", "", kOk,
       {Num("page_size", IA, IA), F("page_token"), I("department_id"), I("superior_id"), E("status")}},
      {"PerformanceService/CreateTarget",
       R"(target { parent_id: $N level: TARGET_LEVEL_DEPARTMENT subject_id: "D-X" period: "2026"
                   metric: "revenue" target: 1 })",
       FP,
       {O("target.id"), Num("target.parent_id", IA, FP), E("target.level"), T("target.subject_id"),
        F("target.period"), I("target.metric"),
        Num("target.target", IA, IA)
            .Note(absl::StrCat(kUnboundedMax, " (performance service.cc CreateTarget): FAILED_PRECONDITION")),
        Num("target.actual", IA, IA)
            .Note(absl::StrCat(kUnboundedMax, " (performance service.cc CreateTarget): FAILED_PRECONDITION")),
        O("target.achievement_bp"), O("target.revision_reason"), O("target.revision_approved_by"),
        O("target.version"), I("request_id")}},
      {"PerformanceService/GetTarget", "target_id: $N", NF, {Num("target_id", IA, NF)}},
      {"PerformanceService/ListTargets", "", kOk,
       {Num("parent_id", IA, kBase), F("period"), E("level"), T("subject_id"), I("metric"), Num("page_size", IA, IA),
        F("page_token")}},
      {"PerformanceService/RecordTargetActual", "target_id: $N version: 1 actual: 1", NF,
       {Num("target_id", IA, NF), Num("version", IA, NF),
        Num("actual", IA, IA)
            .Note(absl::StrCat(kUnboundedMax, " (performance service.cc RecordTargetActual): NOT_FOUND")),
        I("request_id")}},
      {"PerformanceService/ReviseTarget", R"(target_id: $N version: 1 new_target: 1 reason: "x")", NF,
       {Num("target_id", IA, NF), Num("version", IA, NF),
        Num("new_target", IA, IA).Note(absl::StrCat(kUnboundedMax, " (performance service.cc ReviseTarget): NOT_FOUND")),
        T("reason"), I("request_id")}},
      {"PerformanceService/CheckTargetRollup", "root_id: $N", NF, {Num("root_id", IA, NF)}},
      {"PerformanceService/CreatePlan",
       R"(plan { title: "x" type: PLAN_TYPE_SERVICE assignee_kind: ASSIGNEE_KIND_PERSON assignee_id: "E-NOBODY"
                 start_date: "2026-01-01" end_date: "2026-01-31" target_count: 1 })",
       FP,
       {O("plan.id"), T("plan.title"), E("plan.type"), E("plan.assignee_kind"), I("plan.assignee_id"),
        F("plan.start_date"), F("plan.end_date"), Num("plan.target_count", IA, IA), Num("plan.minimum_count", IA, IA),
        F("plan.planned_cost.currency_code"), Num("plan.planned_cost.amount_minor", IA, IA), T("plan.content"),
        T("plan.purpose"), O("plan.actual_count"), O("plan.actual_cost.currency_code"),
        O("plan.actual_cost.amount_minor"), O("plan.progress_bp"), O("plan.status"), O("plan.version"),
        I("request_id")}},
      {"PerformanceService/GetPlan", "plan_id: $N", NF, {Num("plan_id", IA, NF)}},
      {"PerformanceService/ListPlans", "", kOk,
       {E("assignee_kind"), I("assignee_id"), E("type"), F("from"), F("to"), Num("page_size", IA, IA),
        F("page_token")}},
      {"PerformanceService/RecordPlanExecution", R"(plan_id: $N date: "2026-01-15" count: 1)", NF,
       {Num("plan_id", IA, NF), F("date"), Num("count", IA, IA), F("cost.currency_code"),
        Num("cost.amount_minor", IA, IA), T("note"), I("request_id")}},
      {"PerformanceService/CancelPlan", "plan_id: $N version: 1", NF,
       {Num("plan_id", IA, NF), Num("version", IA, NF), T("reason"), I("request_id")}},
      {"PerformanceService/GetPlanProgress",
       R"(assignee_kind: ASSIGNEE_KIND_PERSON assignee_id: "E-NOBODY" from: "2026-01-01" to: "2026-01-31")", kOk,
       {E("assignee_kind"), I("assignee_id"), F("from"), F("to")}},
      {"PerformanceService/GetScorecard",
       R"(subject_kind: SUBJECT_KIND_PERSON subject_id: "E-NOBODY" from: "2026-01-01" to: "2026-01-31")", NF,
       {E("subject_kind"), I("subject_id"), F("from"), F("to")}},
      {"PerformanceService/GetScorecardPolicy", "", kOk, {}},
      {"PerformanceService/UpdateScorecardPolicy",
       R"(policy { version: 99 components { component: "workload" weight: 1 monthly_target: 1 } })", AB,
       {Num("policy.version", IA, AB), I("request_id")}},
      {"PerformanceService/CreateEvaluationCycle",
       R"(cycle { name: "x" kind: CYCLE_KIND_YEARLY period: "2026" department_id: "D-NOBODY" })", NF,
       {O("cycle.id"), T("cycle.name"), E("cycle.kind"), F("cycle.period"), I("cycle.department_id"),
        O("cycle.status"), O("cycle.assignments"), O("cycle.submitted"), O("cycle.completion_bp"), I("request_id")}},
      {"PerformanceService/GetEvaluationCycle", "cycle_id: $N", NF, {Num("cycle_id", IA, NF)}},
      {"PerformanceService/ListEvaluationCycles", "", kOk,
       {E("status"), Num("page_size", IA, IA), F("page_token")}},
      {"PerformanceService/ListMyEvaluationTasks", "cycle_id: $N", NF, {Num("cycle_id", IA, NF)}},
      {"PerformanceService/SubmitRating", R"(cycle_id: $N ratee_id: "E-NOBODY" score: 3)", NF,
       {Num("cycle_id", IA, NF), I("ratee_id"), Num("score", IA, IA), I("request_id")}},
      {"PerformanceService/CloseEvaluationCycle", "cycle_id: $N", NF, {Num("cycle_id", IA, NF), I("request_id")}},
      {"PerformanceService/GetEvaluationResult", R"(cycle_id: $N staff_id: "E-NOBODY")", NF,
       {Num("cycle_id", IA, NF), I("staff_id")}},
      {"PerformanceService/ListEvaluationResults", "cycle_id: $N", NF, {Num("cycle_id", IA, NF)}},
      {"PerformanceService/GetControlChart", "measure: QUALITY_MEASURE_OVERDUE_RATE", kOk,
       {E("measure"), I("department_id"), F("end_date"), Num("weeks", IA, IA)}},
  };
  return *specs;
}

// The methods whose empty request is legitimately OK: lists and settings reads whose
// every field is an optional filter. Every other empty request is INVALID_ARGUMENT.
const std::map<std::string, std::string>& EmptyIsOk() {
  static const auto* ok = new std::map<std::string, std::string>{
      {"CustomerService/ListCustomers", "every filter optional"},
      {"CustomerService/ListRetentionCases", "every filter optional"},
      {"CustomerService/ListSurveys", "every filter optional"},
      {"ComplaintService/ListWorkOrders", "every filter optional"},
      {"ComplaintService/ListAtRisk", "every filter optional; default threshold"},
      {"ComplaintService/GetDeadlinePolicy", "no fields"},
      {"ComplaintService/GetBusinessCalendar", "no fields"},
      {"ContractService/ListContracts", "every filter optional"},
      {"ContractService/GetApprovalRules", "no fields"},
      {"SalesService/ListProjects", "every filter optional"},
      {"SalesService/GetPipeline", "every filter optional; grouped by stage"},
      {"SalesService/GetStageProbabilities", "no fields"},
      {"PerformanceService/ListDepartments", "root optional"},
      {"PerformanceService/ListStaff", "every filter optional"},
      {"PerformanceService/ListTargets", "every filter optional"},
      {"PerformanceService/ListPlans", "every filter optional"},
      {"PerformanceService/GetScorecardPolicy", "no fields"},
      {"PerformanceService/ListEvaluationCycles", "every filter optional"},
  };
  return *ok;
}

// Every date range of a request (found by name), reversed: INVALID_ARGUMENT naming the
// end of the range, from the base request otherwise unchanged.
struct RangeRule {
  std::string method, to_path;
  StatusCode code;
  std::string note;
};
const std::vector<RangeRule>& Ranges() {
  static const auto* ranges = new std::vector<RangeRule>{
      {"CustomerService/ListLogEntries", "end_time", IA, ""},
      {"CustomerService/SampleSurveys", "served_to", IA, ""},
      {"CustomerService/GetPortfolioStats", "to", IA, ""},
      {"ComplaintService/ListWorkOrders", "received_to", IA, ""},
      {"ComplaintService/GetKpis", "to", IA, ""},
      {"ContractService/CreateContract", "contract.expiry_date", IA, ""},
      {"ContractService/UpdateContract", "contract.expiry_date", IA, kLateContract},
      {"ContractService/ListContracts", "signed_to", IA, ""},
      {"ContractService/RenewContract", "expiry_date", IA, kLateContract},
      {"ContractService/AmendContract", "amended.expiry_date", IA, kLateContract},
      {"ContractService/GetSigningStats", "signed_to", IA, ""},
      {"SalesService/GetPipeline", "signing_to", IA, ""},
      {"SalesService/GetWinRate", "to", IA, ""},
      {"SalesService/GetForecast", "to", IA,
       "from and to must be compared (sales service.cc GetForecast); once they were not"},
      {"PerformanceService/CreatePlan", "plan.end_date", IA, ""},
      {"PerformanceService/ListPlans", "to", IA, ""},
      {"PerformanceService/GetPlanProgress", "to", IA, ""},
      {"PerformanceService/GetScorecard", "to", IA, ""},
  };
  return *ranges;
}

// ---------------------------------------------------------------- calls

struct Outcome {
  StatusCode code = StatusCode::OK;
  std::string message;
  std::string reason;               // kefu ErrorDetail reason
  std::vector<std::string> fields;  // kefu ErrorDetail field violations
  std::vector<std::string> responses;
};

Outcome FromStatus(const grpc::Status& s) {
  Outcome o;
  o.code = s.error_code();
  o.message = s.error_message();
  common::v1::StatusDetails rich;
  common::v1::ErrorDetail detail;
  if (!s.error_details().empty() && rich.ParseFromString(s.error_details()) && rich.details_size() > 0 &&
      rich.details(0).UnpackTo(&detail)) {
    o.reason = detail.reason();
    for (const auto& fv : detail.field_violations()) o.fields.push_back(fv.field());
  }
  return o;
}

std::string BufferBytes(const grpc::ByteBuffer& buffer) {
  std::string out;
  std::vector<grpc::Slice> slices;
  if (!buffer.Valid() || !buffer.Dump(&slices).ok()) return out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// "field", "x.field" or "x.field[3]" in a violation, or "field:" in the message.
bool NamesField(const Outcome& o, const std::string& path) {
  std::string leaf = path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
  for (std::string f : o.fields) {
    std::string plain;
    for (size_t i = 0; i < f.size(); ++i) {
      if (f[i] == '[') {
        while (i < f.size() && f[i] != ']') ++i;
        continue;
      }
      plain.push_back(f[i]);
    }
    if (plain == leaf || absl::EndsWith(plain, "." + leaf)) return true;
  }
  return absl::StrContains(o.message, leaf + ":");
}

// ---------------------------------------------------------------- reflection

bool IsWellKnown(const Descriptor* d) { return absl::StartsWith(d->full_name(), "google.protobuf."); }

// A field the sweep mutates: the chain of fields from the request down to it.
struct Leaf {
  std::string path;
  std::vector<const FieldDescriptor*> chain;
  const FieldDescriptor* field() const { return chain.back(); }
};

struct RangePair {
  Leaf from, to;
};

bool RangeNames(const std::string& a, const std::string& b) {
  if (a == "from" && b == "to") return true;
  if (a == "effective_date" && b == "expiry_date") return true;
  if (absl::EndsWith(a, "_from") && absl::EndsWith(b, "_to") &&
      a.substr(0, a.size() - 5) == b.substr(0, b.size() - 3))
    return true;
  if (absl::StartsWith(a, "start_") && absl::StartsWith(b, "end_") && a.substr(6) == b.substr(4)) return true;
  if (absl::EndsWith(a, "_start") && absl::EndsWith(b, "_end") &&
      a.substr(0, a.size() - 6) == b.substr(0, b.size() - 4))
    return true;
  return false;
}

bool IsDateLike(const FieldDescriptor* f) {
  if (f->is_repeated()) return false;
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return true;
  return f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         f->message_type()->full_name() == "google.protobuf.Timestamp";
}

void Walk(const Descriptor* d, const std::string& prefix, const std::vector<const FieldDescriptor*>& chain,
          std::vector<Leaf>* leaves, std::vector<RangePair>* ranges, int depth = 0) {
  if (depth > 5) return;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    std::vector<const FieldDescriptor*> c = chain;
    c.push_back(f);
    std::string path = prefix + f->name();
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (!f->is_repeated() && !IsWellKnown(f->message_type()))
          Walk(f->message_type(), path + ".", c, leaves, ranges, depth + 1);
        break;
      case FieldDescriptor::CPPTYPE_STRING:
      case FieldDescriptor::CPPTYPE_ENUM:
        leaves->push_back({path, c});
        break;
      case FieldDescriptor::CPPTYPE_INT32:
      case FieldDescriptor::CPPTYPE_INT64:
        if (!f->is_repeated()) leaves->push_back({path, c});
        break;
      default:
        break;  // bools and floating point: nothing to get wrong
    }
  }
  for (int i = 0; i < d->field_count(); ++i)
    for (int j = 0; j < d->field_count(); ++j) {
      const FieldDescriptor* a = d->field(i);
      const FieldDescriptor* b = d->field(j);
      if (i == j || !RangeNames(a->name(), b->name()) || !IsDateLike(a) || !IsDateLike(b) ||
          a->cpp_type() != b->cpp_type())
        continue;
      std::vector<const FieldDescriptor*> ca = chain, cb = chain;
      ca.push_back(a);
      cb.push_back(b);
      ranges->push_back({{prefix + a->name(), ca}, {prefix + b->name(), cb}});
    }
}

Message* ParentOf(Message* root, const Leaf& leaf) {
  Message* m = root;
  for (size_t i = 0; i + 1 < leaf.chain.size(); ++i) m = m->GetReflection()->MutableMessage(m, leaf.chain[i]);
  return m;
}

void SetString(Message* root, const Leaf& leaf, const std::string& value) {
  Message* m = ParentOf(root, leaf);
  const auto* r = m->GetReflection();
  if (leaf.field()->is_repeated()) {
    r->ClearField(m, leaf.field());
    r->AddString(m, leaf.field(), value);
  } else {
    r->SetString(m, leaf.field(), value);
  }
}

void SetEnumNumber(Message* root, const Leaf& leaf, int value) {
  Message* m = ParentOf(root, leaf);
  const auto* r = m->GetReflection();
  if (leaf.field()->is_repeated()) {
    r->ClearField(m, leaf.field());
    r->AddEnumValue(m, leaf.field(), value);
  } else {
    r->SetEnumValue(m, leaf.field(), value);
  }
}

void SetNumber(Message* root, const Leaf& leaf, int64_t value) {
  Message* m = ParentOf(root, leaf);
  if (leaf.field()->cpp_type() == FieldDescriptor::CPPTYPE_INT32)
    m->GetReflection()->SetInt32(m, leaf.field(), static_cast<int32_t>(value));
  else
    m->GetReflection()->SetInt64(m, leaf.field(), value);
}

// A day "YYYY-MM-DD" in a string field, midnight UTC in a Timestamp.
void SetDay(Message* root, const Leaf& leaf, const std::string& day, int64_t seconds) {
  if (leaf.field()->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return SetString(root, leaf, day);
  Message* ts = ParentOf(root, leaf)->GetReflection()->MutableMessage(ParentOf(root, leaf), leaf.field());
  const FieldDescriptor* secs = ts->GetDescriptor()->FindFieldByName("seconds");
  const FieldDescriptor* nanos = ts->GetDescriptor()->FindFieldByName("nanos");
  ts->GetReflection()->SetInt64(ts, secs, seconds);
  ts->GetReflection()->SetInt32(ts, nanos, 0);
}

std::string Serialize(const Message& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

std::string Shown(const std::string& value) {
  if (value.size() > 40) return absl::StrCat(value.size(), " x '", absl::CEscape(value.substr(0, 1)), "'");
  return absl::StrCat("\"", absl::CEscape(value), "\"");
}

// ---------------------------------------------------------------- the fixture

using Counts = std::map<std::string, int64_t>;  // "<service>.<table>" -> rows

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    system_ = new testing::ServiceBinaries("badinput");
    ASSERT_TRUE(system_->Start());
    token_ = new std::string(testing::TestToken("S-BADINPUT", "senior_manager", "", absl::Hours(3)));
    pools_ = new std::map<std::string, std::unique_ptr<db::Pool>>();
    for (const auto& name : testing::ServiceBinaries::Names()) (*pools_)[name] = db::Pool::Create((*system_)[name].db);
  }

  static void TearDownTestSuite() {
    delete pools_;
    pools_ = nullptr;
    for (const auto& [name, code] : system_->Stop(15000)) EXPECT_EQ(code, 0) << name;
    delete system_;
    system_ = nullptr;
    delete token_;
  }

  static testing::ServiceBinaries::Binary& Of(const std::string& name) { return (*system_)[name]; }

  static std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(10),
                                                   absl::string_view method = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    // Methods only services may call (customers' tier changes into complaints) get a
    // service token; every other one the senior manager's.
    const security::MethodPolicy* policy = security::PolicyFor(method);
    bool service_only = policy && !policy->Allows(security::kSeniorManager) && policy->Allows(security::kService);
    ctx->AddMetadata("authorization",
                     absl::StrCat("Bearer ", service_only ? testing::TestServiceToken("badinput") : *token_));
    return ctx;
  }

  // One unary call with raw request bytes.
  static Outcome CallUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                           const std::string& bytes) {
    grpc::GenericStub stub(channel);
    auto ctx = Ctx(absl::Seconds(10), method);
    grpc::CompletionQueue cq;
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    auto rpc = stub.PrepareUnaryCall(ctx.get(), method, request, &cq);
    rpc->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    rpc->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    Outcome o = FromStatus(status);
    if (status.ok()) o.responses.push_back(BufferBytes(response));
    return o;
  }

  // Any streaming shape: writes `messages`, half-closes, reads every response.
  static Outcome CallStream(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                            const std::vector<std::string>& messages, absl::Duration timeout) {
    grpc::GenericStub stub(channel);
    auto ctx = Ctx(timeout);
    grpc::CompletionQueue cq;
    auto next = [&cq] {
      void* tag = nullptr;
      bool ok = false;
      return cq.Next(&tag, &ok) && ok;
    };
    std::vector<std::string> responses;
    auto call = stub.PrepareCall(ctx.get(), method, &cq);
    call->StartCall(reinterpret_cast<void*>(1));
    if (next()) {
      bool written = true;
      for (const auto& m : messages) {
        grpc::Slice slice(m);
        grpc::ByteBuffer buffer(&slice, 1);
        call->Write(buffer, reinterpret_cast<void*>(2));
        if (!next()) {
          written = false;
          break;
        }
      }
      if (written) {
        call->WritesDone(reinterpret_cast<void*>(3));
        next();
      }
      for (int i = 0; i < 10000; ++i) {
        grpc::ByteBuffer response;
        call->Read(&response, reinterpret_cast<void*>(4));
        if (!next()) break;
        responses.push_back(BufferBytes(response));
      }
    }
    grpc::Status status;
    call->Finish(&status, reinterpret_cast<void*>(5));
    next();
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
    Outcome o = FromStatus(status);
    o.responses = std::move(responses);
    return o;
  }

  // Rows of every business table of every service's schema. Framework tables (migrations,
  // request ids, outbox, settings, audit trail) change on their own and are left out, as
  // is complaints' copy of customers' tiers: the sweep's valid RecordCustomerTiers calls
  // fill it, as customers' own would.
  static Counts Snapshot() {
    static const std::set<std::string> kFramework = {"audit_log", "idempotency_keys", "schema_migrations", "outbox",
                                                     "service_settings", "customer_tiers"};
    Counts out;
    for (const auto& name : testing::ServiceBinaries::Names()) {
      auto session = (*pools_)[name]->Acquire();
      if (!session.ok()) {
        ADD_FAILURE() << name << ": " << session.status();
        continue;
      }
      auto tables = session->Query(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
          "AND table_type = 'BASE TABLE' ORDER BY table_name");
      if (!tables.ok()) {
        ADD_FAILURE() << name << ": " << tables.status();
        continue;
      }
      for (const auto& row : *tables) {
        std::string table = row.Str(0);
        if (kFramework.count(table)) continue;
        auto n = session->QueryOne(absl::StrCat("SELECT COUNT(*) FROM `", table, "`"));
        if (!n.ok() || !*n) {
          ADD_FAILURE() << name << "." << table << ": " << n.status();
          continue;
        }
        out[absl::StrCat(name, ".", table)] = (*n)->Int(0);
      }
    }
    return out;
  }

  // Every table still exists and changed by exactly `delta` rows (0 where not listed).
  static void ExpectDelta(const Counts& before, const Counts& after, const Counts& delta, const std::string& what) {
    for (const auto& [table, rows] : before) {
      auto it = after.find(table);
      if (it == after.end()) {
        ADD_FAILURE() << what << ": table " << table << " is gone";
        continue;
      }
      auto d = delta.find(table);
      EXPECT_EQ(it->second, rows + (d == delta.end() ? 0 : d->second))
          << what << ": rows of " << table << " (before " << rows << ")";
    }
    for (const auto& [table, rows] : after)
      EXPECT_TRUE(before.count(table)) << what << ": new table " << table << " (" << rows << " rows)";
    for (const auto& [table, rows] : delta) EXPECT_TRUE(before.count(table)) << what << ": no table " << table;
  }

  // Waits for rows that arrive through an outbox (complaints -> customers log).
  static void WaitForRows(const std::string& table, int64_t rows, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      Counts now = Snapshot();
      if (now[table] >= rows) return;
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  static std::shared_ptr<grpc::Channel> ChannelFor(const ServiceDescriptor* service) {
    static const std::map<std::string, std::string> kBinary = {
        {"CustomerService", "customers"}, {"ComplaintService", "complaints"}, {"ContractService", "contracts"},
        {"SalesService", "sales"},        {"PerformanceService", "performance"}};
    return Of(kBinary.at(service->name())).channel;
  }

  static testing::ServiceBinaries* system_;
  static std::string* token_;
  static std::map<std::string, std::unique_ptr<db::Pool>>* pools_;
};
testing::ServiceBinaries* BadInputTest::system_ = nullptr;
std::string* BadInputTest::token_ = nullptr;
std::map<std::string, std::unique_ptr<db::Pool>>* BadInputTest::pools_ = nullptr;

// ---------------------------------------------------------------- the sweep

struct Expect {
  StatusCode code;
  std::string names;  // the field an INVALID_ARGUMENT must name ("" = not checked)
  std::string note;
};

struct Cell {
  std::string method, mutation, field, value, bytes;
  Expect expect;
};

// The expectation of a default row, for a field added to a request after the table was
// written: what a serious API does with it.
Rule DefaultRule(const Leaf& leaf) {
  const FieldDescriptor* f = leaf.field();
  std::string note = "no row in the table for this field: default expectation";
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (f->name() == "request_id") return I(leaf.path).Note(note);
      if (f->name() == "page_token") return F(leaf.path).Note(note);
      return T(leaf.path).Note(note);
    case FieldDescriptor::CPPTYPE_ENUM:
      return E(leaf.path).Note(note);
    default:
      if (absl::EndsWith(f->name(), "_id") || f->name() == "id") return Num(leaf.path, IA, NF).Note(note);
      return Num(leaf.path, IA, IA).Note(note);
  }
}

TEST_F(BadInputTest, EveryRpcRefusesBadInputWithTheCatalogedCode) {
  const std::vector<const ServiceDescriptor*> services = {
      cu::Customer::descriptor()->file()->FindServiceByName("CustomerService"),
      wo::WorkOrder::descriptor()->file()->FindServiceByName("ComplaintService"),
      ct::Contract::descriptor()->file()->FindServiceByName("ContractService"),
      sa::Project::descriptor()->file()->FindServiceByName("SalesService"),
      pf::Staff::descriptor()->file()->FindServiceByName("PerformanceService")};
  std::map<std::string, const Spec*> specs;
  for (const auto& s : Specs()) specs[s.method] = &s;
  std::set<std::string> seen_methods;
  std::map<std::string, std::set<std::string>> seen_paths;  // method -> rule paths used
  std::set<std::pair<std::string, std::string>> seen_ranges;

  const Counts before = Snapshot();
  ASSERT_GT(before.size(), 30u) << "business tables of the five schemas";

  int cells = 0, failed = 0, streaming = 0;
  std::printf("\n%-44s %-13s %-48s %-22s %-20s %s\n", "method", "mutation", "field", "value", "expected", "actual");
  for (const ServiceDescriptor* service : services) {
    ASSERT_NE(service, nullptr);
    auto channel = ChannelFor(service);
    for (int mi = 0; mi < service->method_count(); ++mi) {
      const MethodDescriptor* method = service->method(mi);
      const std::string key = absl::StrCat(service->name(), "/", method->name());
      const std::string path = absl::StrCat("/", service->full_name(), "/", method->name());
      if (method->client_streaming() || method->server_streaming()) {
        ++streaming;  // covered by StreamingRpcsRefuseBadInputToo
        continue;
      }
      seen_methods.insert(key);
      auto sit = specs.find(key);
      if (sit == specs.end()) {
        ADD_FAILURE() << key << " has no row in the bad-input catalogue";
        continue;
      }
      const Spec& spec = *sit->second;
      std::map<std::string, const Rule*> rules;
      for (const auto& r : spec.rules) rules[r.path] = &r;

      const Message* prototype =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(method->input_type());
      ASSERT_NE(prototype, nullptr) << key;
      std::unique_ptr<Message> base(prototype->New());
      std::string text = absl::StrReplaceAll(spec.base, {{"$N", absl::StrCat(kMissing)},
                                                         {"$M", absl::StrCat(kMissing + 1)}});
      ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, base.get())) << key << ": " << text;
      auto resolve = [&](StatusCode c) { return c == kBase ? spec.base_code : c; };

      std::vector<Cell> todo;
      // The empty request.
      {
        auto ok = EmptyIsOk().find(key);
        todo.push_back({key, "empty", "-", "", "",
                        {ok == EmptyIsOk().end() ? IA : kOk, "", ok == EmptyIsOk().end() ? "" : ok->second}});
      }
      std::vector<Leaf> leaves;
      std::vector<RangePair> ranges;
      Walk(method->input_type(), "", {}, &leaves, &ranges);
      for (const Leaf& leaf : leaves) {
        const FieldDescriptor* f = leaf.field();
        auto rit = rules.find(leaf.path);
        Rule rule = rit == rules.end() ? DefaultRule(leaf) : *rit->second;
        if (rit != rules.end()) seen_paths[key].insert(leaf.path);
        bool ignored = rule.kind == Kind::kIgnored;
        auto mutated = [&](const std::function<void(Message*)>& set) {
          std::unique_ptr<Message> m(base->New());
          m->CopyFrom(*base);
          set(m.get());
          return Serialize(*m);
        };
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          if (!ignored && rule.kind != Kind::kText && rule.kind != Kind::kId && rule.kind != Kind::kFormat)
            ADD_FAILURE() << key << " " << leaf.path << ": a string field needs T, I, F or O";
          // Too long.
          todo.push_back({key, "oversize", leaf.path, Shown(Oversize()),
                          mutated([&](Message* m) { SetString(m, leaf, Oversize()); }),
                          {ignored ? spec.base_code : IA, ignored ? "" : leaf.path, rule.note}});
          // Not UTF-8: refused before any handler, whatever the field.
          std::string bytes = mutated([&](Message* m) { SetString(m, leaf, kUtf8Placeholder); });
          size_t at = bytes.find(kUtf8Placeholder);
          ASSERT_NE(at, std::string::npos) << key << " " << leaf.path;
          ASSERT_EQ(bytes.find(kUtf8Placeholder, at + 1), std::string::npos) << key << " " << leaf.path;
          bytes.replace(at, InvalidUtf8().size(), InvalidUtf8());
          todo.push_back({key, "invalid-utf8", leaf.path, Shown(InvalidUtf8()), bytes, {IA, "", ""}});
          // SQL metacharacters.
          for (const auto& payload : SqlPayloads()) {
            bool refused = rule.kind == Kind::kFormat || (rule.kind == Kind::kId && payload != "_");
            Expect e{resolve(rule.accepted), "", rule.note};
            if (ignored) e = {spec.base_code, "", rule.note};
            else if (refused) e = {IA, leaf.path, rule.note};
            todo.push_back({key, "sql", leaf.path, Shown(payload),
                            mutated([&](Message* m) { SetString(m, leaf, payload); }), e});
          }
          if (f->name() == "page_token" && !f->is_repeated())
            for (const auto& [token, shown] : BadPageTokens())
              todo.push_back({key, "page-token", leaf.path, shown,
                              mutated([&](Message* m) { SetString(m, leaf, token); }), {IA, leaf.path, rule.note}});
        } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
          if (!ignored && rule.kind != Kind::kEnum)
            ADD_FAILURE() << key << " " << leaf.path << ": an enum field needs E or O";
          todo.push_back({key, "unknown-enum", leaf.path, "999",
                          mutated([&](Message* m) { SetEnumNumber(m, leaf, 999); }),
                          {ignored ? spec.base_code : IA, ignored ? "" : leaf.path, rule.note}});
        } else {
          if (!ignored && rule.kind != Kind::kNumber)
            ADD_FAILURE() << key << " " << leaf.path << ": a number field needs Num or O";
          bool is32 = f->cpp_type() == FieldDescriptor::CPPTYPE_INT32;
          int64_t max = is32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
          StatusCode neg = ignored ? spec.base_code : resolve(rule.neg);
          StatusCode big = ignored ? spec.base_code : resolve(rule.max);
          todo.push_back({key, "negative", leaf.path, "-1", mutated([&](Message* m) { SetNumber(m, leaf, -1); }),
                          {neg, neg == IA && !ignored ? leaf.path : "", rule.note}});
          todo.push_back({key, "maximum", leaf.path, is32 ? "INT32_MAX" : "INT64_MAX",
                          mutated([&](Message* m) { SetNumber(m, leaf, max); }),
                          {big, big == IA && !ignored ? leaf.path : "", rule.note}});
        }
      }
      for (const RangePair& r : ranges) {
        const RangeRule* rr = nullptr;
        for (const auto& x : Ranges())
          if (x.method == key && x.to_path == r.to.path) rr = &x;
        if (rr) seen_ranges.insert({key, r.to.path});
        Expect e = rr ? Expect{rr->code, rr->code == IA ? r.to.path : "", rr->note}
                      : Expect{IA, r.to.path, "no row in the range table: default expectation"};
        std::unique_ptr<Message> m(base->New());
        m->CopyFrom(*base);
        SetDay(m.get(), r.from, kLaterDay, kLaterSeconds);
        SetDay(m.get(), r.to, kEarlierDay, kEarlierSeconds);
        todo.push_back({key, "reversed", absl::StrCat(r.from.path, ">", r.to.path),
                        absl::StrCat(kLaterDay, ">", kEarlierDay), Serialize(*m), e});
      }

      for (const Cell& c : todo) {
        Outcome got = CallUnary(channel, path, c.bytes);
        ++cells;
        bool ok = got.code == c.expect.code;
        if (ok && c.expect.code == IA && !c.expect.names.empty()) ok = NamesField(got, c.expect.names);
        if (!ok) ++failed;
        std::printf("%-44s %-13s %-48s %-22s %-20s %s%s\n", c.method.c_str(), c.mutation.c_str(), c.field.c_str(),
                    c.value.c_str(), CodeName(c.expect.code).c_str(), CodeName(got.code).c_str(),
                    ok ? "" : "   <-- FAIL");
        std::string where = absl::StrCat(c.method, " ", c.mutation, " ", c.field, "=", c.value);
        std::string detail = absl::StrCat(" | message: ", got.message, " | violations: ",
                                          absl::StrJoin(got.fields, ","),
                                          c.expect.note.empty() ? "" : absl::StrCat(" | note: ", c.expect.note));
        EXPECT_FALSE(Forbidden(got.code)) << where << ": " << CodeName(got.code) << detail;
        EXPECT_EQ(CodeName(got.code), CodeName(c.expect.code)) << where << detail;
        if (got.code == IA && c.expect.code == IA && !c.expect.names.empty()) {
          EXPECT_TRUE(NamesField(got, c.expect.names)) << where << ": the error does not name " << c.expect.names
                                                       << detail;
        }
        if (got.code == IA && c.mutation == "invalid-utf8") {
          EXPECT_EQ(got.reason, "FIELD_INVALID") << where << detail;
        }
      }
    }
  }
  std::printf("%d cells, %d not as catalogued; %d streaming methods covered separately\n", cells, failed, streaming);

  // The catalogue matches the APIs: no row for a method, field or range that is gone.
  for (const auto& s : Specs()) {
    EXPECT_TRUE(seen_methods.count(s.method)) << s.method << " is not a unary method of the APIs any more";
    for (const auto& r : s.rules)
      EXPECT_TRUE(seen_paths[s.method].count(r.path)) << s.method << " has no field " << r.path;
  }
  for (const auto& [method, why] : EmptyIsOk()) EXPECT_TRUE(seen_methods.count(method)) << method;
  for (const auto& r : Ranges())
    EXPECT_TRUE(seen_ranges.count({r.method, r.to_path})) << r.method << " has no range ending in " << r.to_path;
  EXPECT_GE(seen_methods.size(), 115u);
  EXPECT_EQ(streaming, 3);
  EXPECT_GT(cells, 2000);

  // Nothing half-written: every table of every schema still there, with the same rows.
  ExpectDelta(before, Snapshot(), {}, "after the sweep");
}


// ---------------------------------------------------------------- explicit valid requests

// Chinese text and 4-byte characters (emoji, CJK extension B) in the free-text fields of
// valid requests are stored and read back byte for byte, also at the length limits and
// where a service shortens a text for a log line.
TEST_F(BadInputTest, ChineseAndFourByteTextIsStoredAndReadBackByteIdentical) {
  const Counts before = Snapshot();
  auto customers = cu::CustomerService::NewStub(Of("customers").channel);
  auto complaints = wo::ComplaintService::NewStub(Of("complaints").channel);
  auto performance = pf::PerformanceService::NewStub(Of("performance").channel);

  // A customer with its contact and tag.
  cu::CreateCustomerRequest create;
  auto* c = create.mutable_customer();
  c->set_kind(cu::CUSTOMER_KIND_PERSON);
  c->set_name("客户😀𠮷 王小明");
  c->set_industry("制造业😀");
  c->set_region("华东𠮷");
  auto* contact = c->add_contacts();
  contact->set_name("张三😀");
  contact->set_address("上海市浦东新区𠮷野家路1号😀");
  contact->set_title("采购经理𠮷");
  c->add_tags("重点客户😀");
  create.set_allow_duplicates(true);
  cu::Customer created;
  grpc::Status s = customers->CreateCustomer(Ctx().get(), create, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  cu::GetCustomerRequest get;
  get.set_customer_id(created.id());
  cu::Customer read;
  s = customers->GetCustomer(Ctx().get(), get, &read);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(read.name(), c->name());
  EXPECT_EQ(read.industry(), c->industry());
  EXPECT_EQ(read.region(), c->region());
  ASSERT_EQ(read.contacts_size(), 1);
  EXPECT_EQ(read.contacts(0).name(), contact->name());
  EXPECT_EQ(read.contacts(0).address(), contact->address());
  EXPECT_EQ(read.contacts(0).title(), contact->title());
  ASSERT_EQ(read.tags_size(), 1);
  EXPECT_EQ(read.tags(0), "重点客户😀");

  // Two organisations whose names differ only in a 4-byte character are two customers,
  // not duplicates of each other, and a prefix search tells them apart.
  std::vector<std::string> lookalikes = {"𠮷野家餐饮有限公司", "𩸽野家餐饮有限公司"};
  std::vector<int64_t> lookalike_ids;
  for (const auto& name : lookalikes) {
    cu::CreateCustomerRequest org;
    org.mutable_customer()->set_kind(cu::CUSTOMER_KIND_ORGANIZATION);
    org.mutable_customer()->set_name(name);
    cu::Customer out;
    s = customers->CreateCustomer(Ctx().get(), org, &out);
    EXPECT_TRUE(s.ok()) << name << ": " << CodeName(s.error_code()) << " " << s.error_message()
                        << " (a duplicate only if the collation weighs every 4-byte character the same)";
    if (s.ok()) lookalike_ids.push_back(out.id());
  }
  cu::ListCustomersRequest by_prefix;
  by_prefix.set_name_prefix("𠮷野家");
  cu::ListCustomersResponse page;
  s = customers->ListCustomers(Ctx().get(), by_prefix, &page);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> names;
  for (const auto& x : page.customers()) names.push_back(x.name());
  EXPECT_EQ(names, std::vector<std::string>{"𠮷野家餐饮有限公司"}) << absl::StrJoin(names, " | ");

  // A log entry.
  cu::AppendLogEntryRequest append;
  auto* e = append.mutable_entry();
  e->set_customer_id(created.id());
  e->set_channel(cu::CHANNEL_PHONE);
  e->set_category(cu::LOG_CATEGORY_SERVICE);
  e->set_description("客户来电😀：空调不制冷，𠮷野家门店");
  e->set_resolution("已派工程师上门😀");
  e->set_summary("摘要𠮷");
  cu::LogEntry appended;
  s = customers->AppendLogEntry(Ctx().get(), append, &appended);
  ASSERT_TRUE(s.ok()) << s.error_message();
  cu::ListLogEntriesRequest list_log;
  list_log.set_customer_id(created.id());
  cu::ListLogEntriesResponse log;
  s = customers->ListLogEntries(Ctx().get(), list_log, &log);
  ASSERT_TRUE(s.ok()) << s.error_message();
  bool found = false;
  for (const auto& entry : log.entries()) {
    if (entry.id() != appended.id()) continue;
    found = true;
    EXPECT_EQ(entry.description(), e->description());
    EXPECT_EQ(entry.resolution(), e->resolution());
    EXPECT_EQ(entry.summary(), e->summary());
  }
  EXPECT_TRUE(found) << log.DebugString();

  // A work order and its notes, the longest note included (1000 characters).
  wo::CreateWorkOrderRequest order;
  auto* w = order.mutable_work_order();
  w->set_customer_id(created.id());
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_COMPLAINT);
  w->set_severity(wo::SEVERITY_GENERAL);
  w->set_title("投诉😀𠮷");
  w->set_content("空调安装后漏水😀，客户要求𠮷野家门店赔偿。");
  w->set_product("空调𠮷");
  wo::WorkOrder opened;
  s = complaints->CreateWorkOrder(Ctx().get(), order, &opened);
  ASSERT_TRUE(s.ok()) << s.error_message();
  wo::GetWorkOrderRequest get_order;
  get_order.set_work_order_id(opened.id());
  wo::WorkOrder reread;
  s = complaints->GetWorkOrder(Ctx().get(), get_order, &reread);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(reread.title(), w->title());
  EXPECT_EQ(reread.content(), w->content());
  EXPECT_EQ(reread.product(), w->product());
  std::string long_note;
  for (int i = 0; i < 999; ++i) long_note += "注";
  long_note += "😀";  // 1000 characters, 3001 bytes
  for (const std::string& text : {std::string("备注😀𠮷"), long_note}) {
    wo::AddNoteRequest note;
    note.set_work_order_id(opened.id());
    note.set_text(text);
    wo::WorkOrder noted;
    s = complaints->AddNote(Ctx().get(), note, &noted);
    EXPECT_TRUE(s.ok()) << text.size() << "-byte note: " << CodeName(s.error_code()) << " " << s.error_message()
                        << " (complaints repository.cc Persist stores description.substr(0, 2000): bytes, not characters)";
  }
  wo::GetTimelineRequest timeline_req;
  timeline_req.set_work_order_id(opened.id());
  wo::Timeline timeline;
  s = complaints->GetTimeline(Ctx().get(), timeline_req, &timeline);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> notes;
  for (const auto& ev : timeline.events())
    if (ev.kind() == wo::EVENT_KIND_NOTE) notes.push_back(ev.description());
  EXPECT_EQ(notes, (std::vector<std::string>{"备注😀𠮷", long_note}));

  // Without a title the timeline shows the start of the content: cut on a character
  // boundary, never inside one (byte 120 falls inside the 39th "诉").
  wo::CreateWorkOrderRequest untitled = order;
  untitled.mutable_work_order()->clear_title();
  std::string content = "😀";
  for (int i = 0; i < 40; ++i) content += "诉";
  untitled.mutable_work_order()->set_content(content);
  wo::WorkOrder opened2;
  s = complaints->CreateWorkOrder(Ctx().get(), untitled, &opened2);
  EXPECT_TRUE(s.ok()) << CodeName(s.error_code()) << " " << s.error_message()
                      << " (complaints repository.cc Create: content().substr(0, 120) cuts a character in half)";
  if (s.ok()) {
    get_order.set_work_order_id(opened2.id());
    s = complaints->GetWorkOrder(Ctx().get(), get_order, &reread);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(reread.content(), content);
    timeline_req.set_work_order_id(opened2.id());
    s = complaints->GetTimeline(Ctx().get(), timeline_req, &timeline);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_GE(timeline.events_size(), 1);
    EXPECT_TRUE(IsValidUtf8(timeline.events(0).description())) << absl::CEscape(timeline.events(0).description());
  }

  // A department.
  pf::CreateDepartmentRequest dept;
  dept.mutable_department()->set_id("D-UNICODE-1");
  dept.mutable_department()->set_name("华东服务部😀𠮷");
  pf::Department made;
  s = performance->CreateDepartment(Ctx().get(), dept, &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  pf::GetDepartmentRequest get_dept;
  get_dept.set_department_id("D-UNICODE-1");
  pf::Department got_dept;
  s = performance->GetDepartment(Ctx().get(), get_dept, &got_dept);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got_dept.name(), "华东服务部😀𠮷");

  // Written: three customers with one contact and one tag; their three creation entries,
  // the appended one and the two work orders' (through the complaints outbox); two work
  // orders with three events (created, two notes) and one (created); one department.
  WaitForRows("customers.customer_log", before.at("customers.customer_log") + 6, absl::Seconds(20));
  ExpectDelta(before, Snapshot(),
              {{"customers.customers", 3},
               {"customers.customer_contacts", 1},
               {"customers.customer_tags", 1},
               {"customers.customer_log", 6},
               {"complaints.work_orders", 2},
               {"complaints.work_order_events", 4},
               {"performance.departments", 1}},
              "Chinese and 4-byte text");
}

// SQL metacharacters in names, search prefixes and notes of valid requests are stored
// and returned verbatim; a prefix search treats % _ and \ as characters; every table is
// still there afterwards.
TEST_F(BadInputTest, SqlMetacharactersAreDataNotSql) {
  const Counts before = Snapshot();
  auto customers = cu::CustomerService::NewStub(Of("customers").channel);
  auto complaints = wo::ComplaintService::NewStub(Of("complaints").channel);
  std::map<std::string, int64_t> id_of;
  for (const auto& payload : SqlPayloads()) {
    cu::CreateCustomerRequest create;
    create.mutable_customer()->set_kind(cu::CUSTOMER_KIND_ORGANIZATION);
    create.mutable_customer()->set_name(payload + "测试客户");
    create.set_allow_duplicates(true);
    cu::Customer out;
    grpc::Status s = customers->CreateCustomer(Ctx().get(), create, &out);
    ASSERT_TRUE(s.ok()) << absl::CEscape(payload) << ": " << s.error_message();
    id_of[payload] = out.id();
    cu::GetCustomerRequest get;
    get.set_customer_id(out.id());
    cu::Customer read;
    s = customers->GetCustomer(Ctx().get(), get, &read);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(read.name(), payload + "测试客户");
  }
  for (const auto& payload : SqlPayloads()) {
    // The prefix matches its own customer and nothing that does not start with it.
    cu::ListCustomersRequest list;
    list.set_name_prefix(payload);
    list.set_page_size(500);
    cu::ListCustomersResponse page;
    grpc::Status s = customers->ListCustomers(Ctx().get(), list, &page);
    ASSERT_TRUE(s.ok()) << absl::CEscape(payload) << ": " << s.error_message();
    bool own = false;
    for (const auto& x : page.customers()) {
      EXPECT_TRUE(absl::StartsWith(x.name(), payload)) << "prefix " << absl::CEscape(payload) << " matched "
                                                       << absl::CEscape(x.name());
      own |= x.id() == id_of[payload];
    }
    EXPECT_TRUE(own) << absl::CEscape(payload);
    // Duplicate search by the exact name finds it.
    cu::FindDuplicatesRequest dup;
    dup.set_name(payload + "测试客户");
    cu::FindDuplicatesResponse matches;
    s = customers->FindDuplicates(Ctx().get(), dup, &matches);
    ASSERT_TRUE(s.ok()) << s.error_message();
    bool matched = false;
    for (const auto& m : matches.matches()) matched |= m.customer_id() == id_of[payload];
    EXPECT_TRUE(matched) << absl::CEscape(payload) << ": " << matches.DebugString();
    // Filters that hold them find nothing, and fail nothing.
    cu::ListCustomersRequest by_region;
    by_region.set_region(payload);
    s = customers->ListCustomers(Ctx().get(), by_region, &page);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(page.customers_size(), 0);
  }

  // Notes on a work order come back verbatim and in order.
  wo::CreateWorkOrderRequest order;
  auto* w = order.mutable_work_order();
  w->set_customer_id(id_of[SqlPayloads()[0]]);
  w->set_channel(wo::CHANNEL_EMAIL);
  w->set_type(wo::WORK_ORDER_TYPE_CONSULTATION);
  w->set_severity(wo::SEVERITY_MINOR);
  w->set_title("SQL 元字符");
  w->set_content("' OR '1'='1");
  wo::WorkOrder opened;
  grpc::Status s = complaints->CreateWorkOrder(Ctx().get(), order, &opened);
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (const auto& payload : SqlPayloads()) {
    wo::AddNoteRequest note;
    note.set_work_order_id(opened.id());
    note.set_text(payload);
    wo::WorkOrder noted;
    s = complaints->AddNote(Ctx().get(), note, &noted);
    EXPECT_TRUE(s.ok()) << absl::CEscape(payload) << ": " << s.error_message();
  }
  wo::GetTimelineRequest timeline_req;
  timeline_req.set_work_order_id(opened.id());
  wo::Timeline timeline;
  s = complaints->GetTimeline(Ctx().get(), timeline_req, &timeline);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> notes;
  for (const auto& ev : timeline.events())
    if (ev.kind() == wo::EVENT_KIND_NOTE) notes.push_back(ev.description());
  EXPECT_EQ(notes, SqlPayloads());
  EXPECT_EQ(timeline.work_order().content(), "' OR '1'='1");

  // Five customers with their creation entries, and the work order's (through the
  // outbox); one work order with six events. Every table still exists.
  WaitForRows("customers.customer_log", before.at("customers.customer_log") + 6, absl::Seconds(20));
  ExpectDelta(before, Snapshot(),
              {{"customers.customers", 5},
               {"customers.customer_log", 6},
               {"complaints.work_orders", 1},
               {"complaints.work_order_events", 6}},
              "SQL metacharacters");
}

// The streaming RPCs: bad input is refused like in a unary call, and a corrupt message
// in the middle of an import is not taken for the end of the file.
TEST_F(BadInputTest, StreamingRpcsRefuseBadInputToo) {
  const Counts before = Snapshot();
  struct Case {
    std::string what, method;
    std::vector<std::string> messages;
    StatusCode code;
    std::string names, note;
  };
  auto with_utf8 = [](const Message& m, const std::string& placeholder_field) {
    std::string bytes = Serialize(m);
    size_t at = bytes.find(kUtf8Placeholder);
    EXPECT_NE(at, std::string::npos) << placeholder_field;
    if (at != std::string::npos) bytes.replace(at, InvalidUtf8().size(), InvalidUtf8());
    return bytes;
  };
  const char kStreamUtf8[] =
      "the metrics interceptor must turn an unparsable request into INVALID_ARGUMENT for server "
      "streams too (common metrics.cc CallInterceptor); it once answered INTERNAL";
  std::vector<Case> cases;
  {
    cu::ExportCustomersRequest r;
    r.set_tier(static_cast<cu::Tier>(999));
    cases.push_back({"unknown tier", "/kefu.customers.v1.CustomerService/ExportCustomers", {Serialize(r)}, IA, "tier", ""});
    r.Clear();
    r.set_owner_id(Oversize());
    cases.push_back({"oversize owner_id", "/kefu.customers.v1.CustomerService/ExportCustomers", {Serialize(r)}, IA,
                     "owner_id", ""});
    r.Clear();
    r.set_region("'; DROP TABLE customers; --");
    cases.push_back({"SQL in region", "/kefu.customers.v1.CustomerService/ExportCustomers", {Serialize(r)}, kOk, "", ""});
    r.Clear();
    r.set_region(kUtf8Placeholder);
    cases.push_back({"invalid UTF-8 region", "/kefu.customers.v1.CustomerService/ExportCustomers",
                     {with_utf8(r, "region")}, IA, "", kStreamUtf8});
  }
  {
    wo::WatchAlertsRequest r;
    r.set_department_id(Oversize());
    cases.push_back({"oversize department_id", "/kefu.complaints.v1.ComplaintService/WatchAlerts", {Serialize(r)}, IA,
                     "department_id", ""});
    r.Clear();
    r.set_handler_id("'; DROP TABLE customers; --");
    cases.push_back({"SQL in handler_id", "/kefu.complaints.v1.ComplaintService/WatchAlerts", {Serialize(r)}, IA,
                     "handler_id", ""});
    r.Clear();
    r.set_department_id(kUtf8Placeholder);
    cases.push_back({"invalid UTF-8 department_id", "/kefu.complaints.v1.ComplaintService/WatchAlerts",
                     {with_utf8(r, "department_id")}, IA, "", kStreamUtf8});
    r.Clear();
    r.set_after_alert_id(-1);
    cases.push_back({"negative after_alert_id", "/kefu.complaints.v1.ComplaintService/WatchAlerts", {Serialize(r)}, IA,
                     "after_alert_id", ""});
  }
  for (const auto& c : cases) {
    Outcome got = CallStream(Of(absl::StrContains(c.method, "Complaint") ? "complaints" : "customers").channel,
                             c.method, c.messages, absl::Seconds(5));
    std::printf("%-44s %-28s %-20s %s\n", c.method.c_str(), c.what.c_str(), CodeName(c.code).c_str(),
                CodeName(got.code).c_str());
    std::string detail = absl::StrCat(c.method, " ", c.what, " | message: ", got.message,
                                      c.note.empty() ? "" : absl::StrCat(" | note: ", c.note));
    EXPECT_FALSE(Forbidden(got.code)) << CodeName(got.code) << " " << detail;
    EXPECT_EQ(CodeName(got.code), CodeName(c.code)) << detail;
    if (got.code == IA && !c.names.empty()) {
      EXPECT_TRUE(NamesField(got, c.names)) << detail;
    }
  }

  // An import with a row too long: the call succeeds, the row is reported invalid with its
  // field, and nothing is written.
  const std::string import = "/kefu.customers.v1.CustomerService/ImportCustomers";
  {
    cu::ImportCustomersRequest r;
    auto* row = r.add_customers();
    row->set_kind(cu::CUSTOMER_KIND_PERSON);
    row->set_name(Oversize());
    Outcome got = CallStream(Of("customers").channel, import, {Serialize(r)}, absl::Seconds(10));
    ASSERT_EQ(got.code, kOk) << got.message;
    ASSERT_EQ(got.responses.size(), 1u);
    cu::ImportCustomersResponse resp;
    ASSERT_TRUE(resp.ParseFromString(got.responses[0]));
    EXPECT_FALSE(resp.committed());
    ASSERT_EQ(resp.results_size(), 1);
    EXPECT_EQ(resp.results(0).outcome(), cu::ImportRowResult::OUTCOME_INVALID);
    ASSERT_GE(resp.results(0).violations_size(), 1);
    EXPECT_EQ(resp.results(0).violations(0).field(), "name");
  }
  // A valid first message, then one that is not a message at all (invalid UTF-8): the
  // import must fail as a whole rather than import the rows it read before. gRPC ends
  // the handler's stream at the unreadable message as if the client had finished, so
  // the client declares how many rows it sends (as kefuctl does).
  {
    cu::ImportCustomersRequest first;
    first.mutable_options()->set_expected_rows(2);
    auto* row = first.add_customers();
    row->set_kind(cu::CUSTOMER_KIND_PERSON);
    row->set_name("流式导入测试");
    cu::ImportCustomersRequest second;
    second.add_customers()->set_name(kUtf8Placeholder);
    second.mutable_customers(0)->set_kind(cu::CUSTOMER_KIND_PERSON);
    Outcome got = CallStream(Of("customers").channel, import, {Serialize(first), with_utf8(second, "name")},
                             absl::Seconds(10));
    std::printf("%-44s %-28s %-20s %s\n", import.c_str(), "corrupt 2nd message", "INVALID_ARGUMENT",
                CodeName(got.code).c_str());
    EXPECT_EQ(CodeName(got.code), CodeName(IA))
        << "an import that declared 2 rows and got 1 must write nothing: " << got.message;
  }
  ExpectDelta(before, Snapshot(), {}, "streaming bad input");
}

}  // namespace
}  // namespace kefu
