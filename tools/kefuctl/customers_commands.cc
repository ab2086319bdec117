// kefuctl customers ...: every call of kefu.customers.v1.CustomerService.
//
// Handlers only turn flags into a request; calling, paging and printing are shared
// (rpc.h, output.h). Flags named after a Customer field are copied by reflection so
// that create and update stay in step with the proto.

#include <google/protobuf/field_mask.pb.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "commands.h"
#include "csv.h"
#include "enum_names.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/handler.h"
#include "kefu/time_util.h"
#include "output.h"
#include "rpc.h"

namespace kefuctl {
namespace {

namespace pb = ::kefu::customers::v1;
using Stub = pb::CustomerService::Stub;
using google::protobuf::FieldDescriptor;

std::unique_ptr<Stub> NewStub(Invocation& inv) { return pb::CustomerService::NewStub(inv.channel()); }

int64_t CustomerIdArg(const Invocation& inv, size_t i) { return IdArgWithPrefix(inv, i, "C", "customer id"); }

// ---- Customer fields from flags ----

// Flags that map one-to-one onto a Customer field.
struct FieldFlag {
  const char* flag;
  const char* field;
};
// Writable both on create and on update (UpdateCustomerRequest's updatable fields).
constexpr FieldFlag kEditableFields[] = {
    {"name", "name"},         {"kind", "kind"},
    {"industry", "industry"}, {"region", "region"},
    {"department", "department_id"}, {"source", "source"},
    {"credit-rating", "credit_rating"},
};
// Only on create: owner, tier and stage have their own calls afterwards.
constexpr FieldFlag kCreateOnlyFields[] = {{"owner", "owner_id"}, {"tier", "tier"}};

// Copies the flags that were given onto `c` and returns the field names they set.
template <size_t N>
std::vector<std::string> ApplyFieldFlags(const Invocation& inv, const FieldFlag (&flags)[N], pb::Customer* c) {
  std::vector<std::string> set;
  const auto* reflection = c->GetReflection();
  for (const auto& ff : flags) {
    if (!inv.Has(ff.flag)) continue;
    const FieldDescriptor* field = c->GetDescriptor()->FindFieldByName(ff.field);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      reflection->SetEnumValue(c, field, inv.EnumValue(ff.flag));
    } else {
      reflection->SetString(c, field, inv.Str(ff.flag));
    }
    set.push_back(ff.field);
  }
  return set;
}

std::vector<Flag> EditableFieldFlags() {
  return {ValueFlag("name", "TEXT", "customer (company or person) name"),
          EnumFlag<pb::CustomerKind>("kind", "person or organization (org)"),
          ValueFlag("industry", "TEXT", "industry, e.g. 制造业"),
          ValueFlag("region", "TEXT", "sales region, e.g. 华东"),
          ValueFlag("department", "DEPT_ID", "department that serves the customer"),
          EnumFlag<pb::AcquisitionSource>("source", "how the customer came to us"),
          EnumFlag<pb::CreditRating>("credit-rating", "credit rating")};
}

std::vector<Flag> ContactFlags() {
  return {ValueFlag("contact-name", "TEXT", "primary contact's name"),
          ValueFlag("phone", "PHONE", "primary contact's phone"),
          ValueFlag("email", "EMAIL", "primary contact's email"),
          ValueFlag("address", "TEXT", "primary contact's address"),
          ValueFlag("title", "TEXT", "primary contact's job title")};
}

bool HasContactFlags(const Invocation& inv) {
  for (const char* f : {"contact-name", "phone", "email", "address", "title"})
    if (inv.Has(f)) return true;
  return false;
}

// Sets only the contact fields that were given, so update can change one of them.
void ApplyContactFlags(const Invocation& inv, pb::Contact* contact) {
  if (inv.Has("contact-name")) contact->set_name(inv.Str("contact-name"));
  if (inv.Has("phone")) contact->set_phone(inv.Str("phone"));
  if (inv.Has("email")) contact->set_email(inv.Str("email"));
  if (inv.Has("address")) contact->set_address(inv.Str("address"));
  if (inv.Has("title")) contact->set_title(inv.Str("title"));
}

// The shared field flags are optional; create needs some of them.
std::vector<Flag> Required(std::vector<Flag> flags, const std::vector<std::string>& names) {
  for (auto& f : flags)
    if (std::find(names.begin(), names.end(), f.name) != names.end()) f.required = true;
  return flags;
}

// ---- customers ----

int CreateCustomer(Invocation& inv) {
  pb::CreateCustomerRequest req;
  pb::Customer* c = req.mutable_customer();
  ApplyFieldFlags(inv, kEditableFields, c);
  ApplyFieldFlags(inv, kCreateOnlyFields, c);
  if (HasContactFlags(inv)) {
    pb::Contact* contact = c->add_contacts();
    ApplyContactFlags(inv, contact);
    contact->set_primary(true);
  }
  for (const auto& tag : inv.All("tag")) c->add_tags(tag);
  req.set_request_id(inv.Str("request-id"));
  req.set_allow_duplicates(inv.Bool("allow-duplicates"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateCustomer, req);
}

int GetCustomer(Invocation& inv) {
  pb::GetCustomerRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetCustomer, req);
}

int GetCustomerTier(Invocation& inv) {
  pb::GetCustomerTierRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetCustomerTier, req);
}

int ListCustomers(Invocation& inv) {
  pb::ListCustomersRequest req;
  req.set_owner_id(inv.Str("owner"));
  req.set_tier(inv.Enum<pb::Tier>("tier"));
  req.set_lifecycle_stage(inv.Enum<pb::LifecycleStage>("stage"));
  req.set_region(inv.Str("region"));
  req.set_name_prefix(inv.Str("name-prefix"));
  req.set_tag(inv.Str("tag"));
  req.set_department_id(inv.Str("department"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListCustomers, req);
}

int UpdateCustomer(Invocation& inv) {
  pb::UpdateCustomerRequest req;
  pb::Customer* c = req.mutable_customer();
  c->set_id(CustomerIdArg(inv, 0));
  c->set_version(inv.Int("version"));
  google::protobuf::FieldMask* mask = req.mutable_update_mask();
  for (const auto& path : ApplyFieldFlags(inv, kEditableFields, c)) mask->add_paths(path);
  if (inv.Has("tag") || inv.Bool("clear-tags")) {
    if (inv.Has("tag") && inv.Bool("clear-tags")) inv.UsageError("--tag and --clear-tags exclude each other");
    for (const auto& tag : inv.All("tag")) c->add_tags(tag);
    mask->add_paths("tags");
  }
  auto stub = NewStub(inv);
  if (HasContactFlags(inv)) {
    // Contacts are replaced as a whole. To change a value of the primary contact and
    // keep the other contacts, start from the current list; the version check on the
    // update still refuses the write if the customer changed in between.
    pb::GetCustomerRequest get;
    get.set_customer_id(c->id());
    pb::Customer current;
    if (!CallOnce(inv, *stub, &Stub::GetCustomer, get, &current)) return kExitRpcError;
    *c->mutable_contacts() = current.contacts();
    pb::Contact* primary = nullptr;
    for (auto& contact : *c->mutable_contacts())
      if (contact.primary()) primary = &contact;
    if (primary == nullptr) {
      primary = c->contacts_size() > 0 ? c->mutable_contacts(0) : c->add_contacts();
      primary->set_primary(true);
    }
    ApplyContactFlags(inv, primary);
    mask->add_paths("contacts");
  }
  if (mask->paths_size() == 0)
    inv.UsageError("nothing to update: give at least one field flag (--name, --phone, --tag ...)");
  return CallAndPrint(inv, *stub, &Stub::UpdateCustomer, req);
}

int FindDuplicates(Invocation& inv) {
  pb::FindDuplicatesRequest req;
  req.set_name(inv.Str("name"));
  req.set_phone(inv.Str("phone"));
  req.set_email(inv.Str("email"));
  if (req.name().empty() && req.phone().empty() && req.email().empty())
    inv.UsageError("give at least one of --name, --phone, --email");
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::FindDuplicates, req);
}

int MergeCustomers(Invocation& inv) {
  pb::MergeCustomersRequest req;
  req.set_survivor_id(CustomerIdArg(inv, 0));
  req.set_duplicate_id(CustomerIdArg(inv, 1));
  req.set_reason(inv.Str("reason"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::MergeCustomers, req);
}

int ReassignOwner(Invocation& inv) {
  pb::ReassignOwnerRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_new_owner_id(inv.Str("owner"));
  req.set_new_department_id(inv.Str("department"));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ReassignOwner, req);
}

int TransferPortfolio(Invocation& inv) {
  pb::TransferPortfolioRequest req;
  req.set_from_owner_id(inv.Str("from"));
  req.set_to_owner_id(inv.Str("to"));
  req.set_new_department_id(inv.Str("department"));
  req.set_reason(inv.Str("reason"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::TransferPortfolio, req);
}

int ChangeTier(Invocation& inv) {
  pb::ChangeTierRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_tier(inv.Enum<pb::Tier>("tier"));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ChangeTier, req);
}

int ListTierChanges(Invocation& inv) {
  pb::ListTierChangesRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListTierChanges, req);
}

int ChangeStage(Invocation& inv) {
  pb::ChangeLifecycleStageRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_stage(inv.Enum<pb::LifecycleStage>("stage"));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ChangeLifecycleStage, req);
}

int GetCustomer360(Invocation& inv) {
  pb::GetCustomer360Request req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_recent_log_limit(inv.Int32("log-limit"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetCustomer360, req);
}

// ---- log ----

int AppendLog(Invocation& inv) {
  pb::AppendLogEntryRequest req;
  pb::LogEntry* e = req.mutable_entry();
  e->set_customer_id(CustomerIdArg(inv, 0));
  e->set_category(inv.Enum<pb::LogCategory>("category"));
  e->set_channel(inv.Enum<pb::Channel>("channel"));
  e->set_description(inv.Str("description"));
  e->set_resolution(inv.Str("resolution"));
  e->set_summary(inv.Str("summary"));
  e->set_satisfaction(inv.Enum<pb::Satisfaction>("satisfaction"));
  e->set_staff_id(inv.Str("staff"));
  e->set_reference(inv.Str("reference"));
  if (auto t = inv.Time("time")) *e->mutable_event_time() = *t;
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::AppendLogEntry, req);
}

int ListLog(Invocation& inv) {
  pb::ListLogEntriesRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_category(inv.Enum<pb::LogCategory>("category"));
  if (auto t = inv.Time("since")) *req.mutable_start_time() = *t;
  if (auto t = inv.Time("until")) *req.mutable_end_time() = *t;
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListLogEntries, req);
}

// ---- business volume ----

int RecordVolume(Invocation& inv) {
  pb::RecordBusinessVolumeRequest req;
  pb::BusinessVolume* v = req.mutable_volume();
  v->set_customer_id(CustomerIdArg(inv, 0));
  v->set_period(inv.Str("period"));
  v->set_volume(inv.Int("volume"));
  if (inv.Has("currency") && !inv.Has("revenue")) inv.UsageError("--currency needs --revenue");
  if (auto money = inv.Money("revenue", absl::AsciiStrToUpper(inv.Str("currency", "CNY"))))
    *v->mutable_revenue() = *money;
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordBusinessVolume, req);
}

int ListVolumes(Invocation& inv) {
  pb::ListBusinessVolumesRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_threshold_bp(inv.PercentAsBasisPoints("threshold-pct"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListBusinessVolumes, req);
}

int ListFluctuations(Invocation& inv) {
  pb::ListVolumeFluctuationsRequest req;
  req.set_period(inv.Str("period"));
  req.set_threshold_bp(inv.PercentAsBasisPoints("threshold-pct"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListVolumeFluctuations, req);
}

// ---- retention ----

int OpenRetentionCase(Invocation& inv) {
  pb::CreateRetentionCaseRequest req;
  req.set_customer_id(CustomerIdArg(inv, 0));
  req.set_reason(inv.Str("reason"));
  req.set_churned(inv.Bool("churned"));
  req.set_owner_id(inv.Str("owner"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateRetentionCase, req);
}

int GetRetentionCase(Invocation& inv) {
  pb::GetRetentionCaseRequest req;
  req.set_case_id(inv.IdArg(0, "case id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetRetentionCase, req);
}

int AddRetentionAction(Invocation& inv) {
  pb::AddRetentionActionRequest req;
  req.set_case_id(inv.IdArg(0, "case id"));
  pb::RetentionAction* a = req.mutable_action();
  a->set_type(inv.Enum<pb::RetentionActionType>("type"));
  a->set_description(inv.Str("description"));
  a->set_staff_id(inv.Str("staff"));
  if (inv.Has("currency") && !inv.Has("cost")) inv.UsageError("--currency needs --cost");
  if (auto money = inv.Money("cost", absl::AsciiStrToUpper(inv.Str("currency", "CNY")))) *a->mutable_cost() = *money;
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::AddRetentionAction, req);
}

int CloseRetentionCase(Invocation& inv) {
  pb::CloseRetentionCaseRequest req;
  req.set_case_id(inv.IdArg(0, "case id"));
  req.set_outcome(inv.Enum<pb::RetentionOutcome>("outcome"));
  req.set_note(inv.Str("note"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CloseRetentionCase, req);
}

int ListRetentionCases(Invocation& inv) {
  pb::ListRetentionCasesRequest req;
  if (inv.Has("customer")) {
    int64_t id = inv.Int("customer");
    if (id <= 0) inv.UsageError("--customer must be a positive customer id");
    req.set_customer_id(id);
  }
  req.set_status(inv.Enum<pb::RetentionStatus>("status"));
  req.set_owner_id(inv.Str("owner"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListRetentionCases, req);
}

// ---- surveys ----

int SampleSurveys(Invocation& inv) {
  pb::SampleSurveysRequest req;
  req.set_campaign(inv.Str("campaign"));
  *req.mutable_served_from() = *inv.Time("from");
  *req.mutable_served_to() = *inv.Time("to");
  req.set_sample_size(inv.Int32("size"));
  req.set_seed(inv.Int("seed"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::SampleSurveys, req);
}

int RecordSurvey(Invocation& inv) {
  pb::RecordSurveyResultRequest req;
  req.set_survey_id(inv.IdArg(0, "survey id"));
  req.set_satisfaction(inv.Enum<pb::Satisfaction>("satisfaction"));
  req.set_comment(inv.Str("comment"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordSurveyResult, req);
}

int ListSurveys(Invocation& inv) {
  pb::ListSurveysRequest req;
  req.set_campaign(inv.Str("campaign"));
  req.set_status(inv.Enum<pb::SurveyStatus>("status"));
  if (inv.Has("customer")) {
    int64_t id = inv.Int("customer");
    if (id <= 0) inv.UsageError("--customer must be a positive customer id");
    req.set_customer_id(id);
  }
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListSurveys, req);
}

int SurveyStats(Invocation& inv) {
  pb::GetSurveyStatsRequest req;
  req.set_campaign(inv.Str("campaign"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetSurveyStats, req);
}

// ---- statistics ----

// ---- bulk import and export (CSV) ----

// The CSV columns, by header name, in the order export writes them. Import takes any
// order and any subset that includes name.
constexpr const char* kCsvColumns[] = {"name",   "kind",  "tier",  "region",  "industry", "owner",
                                       "department", "contact", "phone", "email", "address", "tags"};

// One CSV record as a Customer; errors name the row and the column.
absl::StatusOr<pb::Customer> CustomerFromCsv(const std::vector<std::string>& header, const csv::Record& rec,
                                             int row) {
  pb::Customer c;
  c.set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
  pb::Contact contact;
  auto set_enum = [&](const google::protobuf::EnumDescriptor* type, const std::string& column,
                      const std::string& value, const std::function<void(int)>& set) -> absl::Status {
    auto parsed = ParseEnumValue(type, value);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("row ", row, ", ", column, ": ", parsed.status().message()));
    set(*parsed);
    return absl::OkStatus();
  };
  for (size_t i = 0; i < header.size() && i < rec.size(); ++i) {
    const std::string& col = header[i];
    std::string v(absl::StripAsciiWhitespace(rec[i]));
    if (v.empty()) continue;
    if (col == "name") c.set_name(v);
    else if (col == "kind") {
      auto st = set_enum(pb::CustomerKind_descriptor(), col, v, [&](int n) { c.set_kind(static_cast<pb::CustomerKind>(n)); });
      if (!st.ok()) return st;
    } else if (col == "tier") {
      auto st = set_enum(pb::Tier_descriptor(), col, v, [&](int n) { c.set_tier(static_cast<pb::Tier>(n)); });
      if (!st.ok()) return st;
    } else if (col == "region") c.set_region(v);
    else if (col == "industry") c.set_industry(v);
    else if (col == "owner") c.set_owner_id(v);
    else if (col == "department") c.set_department_id(v);
    else if (col == "contact") contact.set_name(v);
    else if (col == "phone") contact.set_phone(v);
    else if (col == "email") contact.set_email(v);
    else if (col == "address") contact.set_address(v);
    else if (col == "tags") {
      for (absl::string_view t : absl::StrSplit(v, ';', absl::SkipWhitespace()))
        c.add_tags(std::string(absl::StripAsciiWhitespace(t)));
    }
  }
  if (rec.size() > header.size())
    return absl::InvalidArgumentError(absl::StrCat("row ", row, ": ", rec.size(), " fields but ", header.size(), " columns"));
  if (!contact.name().empty() || !contact.phone().empty() || !contact.email().empty() || !contact.address().empty()) {
    contact.set_primary(true);
    *c.add_contacts() = contact;
  }
  return c;
}

csv::Record CustomerToCsv(const pb::Customer& c) {
  pb::Contact primary = c.contacts_size() > 0 ? c.contacts(0) : pb::Contact();
  for (const auto& ct : c.contacts())
    if (ct.primary()) primary = ct;
  return {c.name(),
          ShortEnumName(pb::CustomerKind_descriptor(), c.kind()),
          ShortEnumName(pb::Tier_descriptor(), c.tier()),
          c.region(),
          c.industry(),
          c.owner_id(),
          c.department_id(),
          primary.name(),
          primary.phone(),
          primary.email(),
          primary.address(),
          absl::StrJoin(c.tags(), ";")};
}

constexpr int kImportChunk = 500;

// The whole of a file argument ("-" is stdin).
std::string ReadInput(Invocation& inv, const std::string& path) {
  std::stringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) inv.UsageError(absl::StrCat(path, ": cannot be read"));
    text << in.rdbuf();
  }
  return text.str();
}

// A CSV file's records, the header row first; usage errors name the file.
std::vector<csv::Record> ReadCsv(Invocation& inv, const std::string& path, absl::string_view text) {
  auto records = csv::Parse(text);
  if (!records.ok()) inv.UsageError(absl::StrCat(path, ": ", records.status().message()));
  if (records->empty()) inv.UsageError(absl::StrCat(path, ": no header row"));
  return *std::move(records);
}

// The header row's column names, lower-cased; a name not in `known` is a usage error.
std::vector<std::string> CsvHeader(Invocation& inv, const std::string& path, const csv::Record& row,
                                   absl::Span<const char* const> known) {
  std::vector<std::string> header;
  for (const auto& h : row) {
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(h));
    if (std::find(known.begin(), known.end(), name) == known.end())
      inv.UsageError(absl::StrCat(path, ": unknown column '", h, "'; columns are ", absl::StrJoin(known, ",")));
    header.push_back(name);
  }
  return header;
}

int ImportCustomers(Invocation& inv) {
  std::string path = inv.args()[0];
  std::string text = ReadInput(inv, path);
  std::vector<csv::Record> records = ReadCsv(inv, path, text);
  std::vector<std::string> header = CsvHeader(inv, path, records[0], kCsvColumns);
  if (std::find(header.begin(), header.end(), "name") == header.end()) inv.UsageError(path + ": a name column is needed");
  std::vector<pb::Customer> rows;
  for (size_t i = 1; i < records.size(); ++i) {
    auto c = CustomerFromCsv(header, records[i], static_cast<int>(i));
    if (!c.ok()) inv.UsageError(std::string(c.status().message()));
    rows.push_back(std::move(*c));
  }

  auto stub = NewStub(inv);
  auto ctx = inv.NewContext();
  // A whole file is one call: allow it minutes, not the per-call default.
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::max(std::chrono::seconds(300), std::chrono::seconds(absl::ToInt64Seconds(inv.global().timeout))));
  pb::ImportCustomersResponse resp;
  auto writer = stub->ImportCustomers(ctx.get(), &resp);
  pb::ImportCustomersRequest msg;
  msg.mutable_options()->set_skip_invalid(inv.Bool("skip-invalid"));
  msg.mutable_options()->set_allow_duplicates(inv.Bool("allow-duplicates"));
  msg.mutable_options()->set_validate_only(inv.Bool("validate-only"));
  msg.mutable_options()->set_expected_rows(static_cast<int32_t>(rows.size()));
  const bool progress = !inv.global().json && rows.size() > static_cast<size_t>(kImportChunk);
  for (size_t sent = 0; sent < rows.size() || sent == 0;) {
    for (size_t k = 0; k < static_cast<size_t>(kImportChunk) && sent < rows.size(); ++k) *msg.add_customers() = rows[sent++];
    if (!writer->Write(msg)) break;  // the server ended the call; Finish says why
    msg.Clear();
    if (progress) std::cerr << "\rsent " << sent << "/" << rows.size() << " rows" << std::flush;
    if (rows.empty()) break;
  }
  if (progress) std::cerr << "\n";
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return inv.Fail(status);
  if (inv.global().json) return inv.Print(resp);
  std::cout << resp.rows() << " rows: " << resp.imported() << " imported, " << resp.invalid() << " invalid, "
            << resp.duplicates() << " duplicates" << (resp.committed() ? "" : "; nothing was written") << "\n";
  for (const auto& r : resp.results()) {
    if (r.outcome() != pb::ImportRowResult::OUTCOME_INVALID && r.outcome() != pb::ImportRowResult::OUTCOME_DUPLICATE)
      continue;
    std::vector<std::string> why;
    for (const auto& v : r.violations()) why.push_back(absl::StrCat(v.field(), ": ", v.description()));
    if (r.duplicate_of_row() > 0) why.push_back(absl::StrCat("same customer as row ", r.duplicate_of_row()));
    if (r.duplicate_of_customer_ids_size() > 0)
      why.push_back(absl::StrCat("looks like stored customer ", absl::StrJoin(r.duplicate_of_customer_ids(), ", ")));
    std::cout << "  row " << r.row() << ": " << absl::StrJoin(why, "; ") << "\n";
  }
  bool rejected = resp.invalid() + resp.duplicates() > 0;
  // Scripts can tell a file that did not (or would not) go in whole.
  return rejected && !resp.committed() ? kExitRpcError : kExitOk;
}

// ---- log import (CSV) ----

// The columns `customers log import` reads, by header name, in any order.
constexpr const char* kLogCsvColumns[] = {"customer_id", "category",     "channel", "time",
                                          "description", "resolution",   "summary", "satisfaction",
                                          "staff",       "reference",    "request_id"};
// Entries per BatchAppendLogEntries call (the most one call takes).
constexpr int kLogImportBatch = 100;

// One CSV record as an append request; errors name the row and the column.
absl::StatusOr<pb::AppendLogEntryRequest> LogEntryFromCsv(const std::vector<std::string>& header,
                                                          const csv::Record& rec, int row) {
  if (rec.size() > header.size())
    return absl::InvalidArgumentError(absl::StrCat("row ", row, ": ", rec.size(), " fields but ", header.size(), " columns"));
  pb::AppendLogEntryRequest req;
  pb::LogEntry* e = req.mutable_entry();
  auto bad = [&](const std::string& column, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("row ", row, ", ", column, ": ", why));
  };
  for (size_t i = 0; i < rec.size(); ++i) {
    const std::string& col = header[i];
    std::string v(absl::StripAsciiWhitespace(rec[i]));
    if (v.empty()) continue;
    auto set_enum = [&](const google::protobuf::EnumDescriptor* type, const std::function<void(int)>& set) {
      auto parsed = ParseEnumValue(type, v);
      if (!parsed.ok()) return bad(col, parsed.status().message());
      set(*parsed);
      return absl::OkStatus();
    };
    absl::Status st;
    if (col == "customer_id") {
      int64_t id = 0;
      if (!absl::SimpleAtoi(v, &id) || id <= 0) return bad(col, absl::StrCat("'", v, "' is not a customer id"));
      e->set_customer_id(id);
    } else if (col == "category") {
      st = set_enum(pb::LogCategory_descriptor(), [&](int n) { e->set_category(static_cast<pb::LogCategory>(n)); });
    } else if (col == "channel") {
      st = set_enum(pb::Channel_descriptor(), [&](int n) { e->set_channel(static_cast<pb::Channel>(n)); });
    } else if (col == "satisfaction") {
      st = set_enum(pb::Satisfaction_descriptor(), [&](int n) { e->set_satisfaction(static_cast<pb::Satisfaction>(n)); });
    } else if (col == "time") {
      auto t = ParseTimeText(v);
      if (!t) return bad(col, absl::StrCat("'", v, "' is not a time; use RFC 3339 or a local date (2026-10-01)"));
      *e->mutable_event_time() = kefu::ToProtoTime(*t);
    } else if (col == "description") e->set_description(v);
    else if (col == "resolution") e->set_resolution(v);
    else if (col == "summary") e->set_summary(v);
    else if (col == "staff") e->set_staff_id(v);
    else if (col == "reference") e->set_reference(v);
    else if (col == "request_id") req.set_request_id(v);
    if (!st.ok()) return st;
  }
  return req;
}

int ImportLog(Invocation& inv) {
  std::string path = inv.args()[0];
  std::string text = ReadInput(inv, path);
  std::vector<csv::Record> records = ReadCsv(inv, path, text);
  std::vector<std::string> header = CsvHeader(inv, path, records[0], kLogCsvColumns);
  for (const char* needed : {"customer_id", "category", "channel", "description"})
    if (std::find(header.begin(), header.end(), needed) == header.end())
      inv.UsageError(absl::StrCat(path, ": a ", needed, " column is needed"));
  // A row without a request_id gets one drawn from its own content (and how many equal
  // rows came before it in the file), so importing the file again, or a corrected copy
  // with rows moved, added or fixed, appends no row twice.
  const std::string prefix = inv.Str("request-id-prefix", "log-import");
  if (prefix.empty() || prefix.size() > 32 ||
      !std::all_of(prefix.begin(), prefix.end(), [](char ch) {
        return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == ':' || ch == '-';
      }))
    inv.UsageError("--request-id-prefix: 1 to 32 letters, digits and . _ : -");
  std::vector<pb::AppendLogEntryRequest> rows;
  std::map<uint64_t, int> seen;
  for (size_t i = 1; i < records.size(); ++i) {
    auto req = LogEntryFromCsv(header, records[i], static_cast<int>(i));
    if (!req.ok()) inv.UsageError(std::string(req.status().message()));
    if (req->request_id().empty()) {
      const uint64_t content = kefu::MessageFingerprint(req->entry());
      req->set_request_id(absl::StrCat(prefix, ".", absl::Hex(content, absl::kZeroPad16), ".", seen[content]++));
    }
    rows.push_back(*std::move(req));
  }
  if (rows.empty()) inv.UsageError(path + ": no rows after the header");

  auto stub = NewStub(inv);
  pb::BatchAppendLogEntriesResponse all;
  const bool progress = !inv.global().json && rows.size() > static_cast<size_t>(kLogImportBatch);
  for (size_t first = 0; first < rows.size(); first += kLogImportBatch) {
    pb::BatchAppendLogEntriesRequest req;
    const size_t end = std::min(rows.size(), first + kLogImportBatch);
    for (size_t i = first; i < end; ++i) *req.add_requests() = rows[i];
    pb::BatchAppendLogEntriesResponse resp;
    if (!CallOnce(inv, *stub, &Stub::BatchAppendLogEntries, req, &resp)) {
      if (progress) std::cerr << "\n";
      std::cerr << "rows " << first + 1 << "-" << end << " not appended (requests[i] above is row " << first + 1
                << " + i); the rows before them are. Fix the file and import it again: no row is appended twice.\n";
      return kExitRpcError;
    }
    for (auto& e : *resp.mutable_entries()) *all.add_entries() = std::move(e);
    if (progress) std::cerr << "\rsent " << end << "/" << rows.size() << " rows" << std::flush;
  }
  if (progress) std::cerr << "\n";
  if (inv.global().json) return inv.Print(all);
  std::cout << rows.size() << " rows in the customer log (rows an earlier import appended were not appended again)\n";
  return kExitOk;
}

int ExportCustomers(Invocation& inv) {
  pb::ExportCustomersRequest req;
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  req.set_region(inv.Str("region"));
  req.set_tag(inv.Str("tag"));
  req.set_tier(inv.Enum<pb::Tier>("tier"));
  req.set_lifecycle_stage(inv.Enum<pb::LifecycleStage>("stage"));
  std::ofstream file;
  std::string path = inv.Str("output", "-");
  if (path != "-") {
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file) inv.UsageError(absl::StrCat("--output ", path, ": cannot be written"));
  }
  std::ostream& out = path == "-" ? std::cout : file;
  auto stub = NewStub(inv);
  auto ctx = inv.NewContext();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  auto reader = stub->ExportCustomers(ctx.get(), req);
  out << csv::FormatRecord(csv::Record(std::begin(kCsvColumns), std::end(kCsvColumns))) << "\r\n";
  pb::Customer c;
  int64_t n = 0;
  while (reader->Read(&c)) {
    out << csv::FormatRecord(CustomerToCsv(c)) << "\r\n";
    if (++n % 1000 == 0 && path != "-") std::cerr << "\rexported " << n << " customers" << std::flush;
  }
  grpc::Status status = reader->Finish();
  if (path != "-") std::cerr << "\rexported " << n << " customers to " << path << "\n";
  return status.ok() ? kExitOk : inv.Fail(status);
}

int PortfolioStats(Invocation& inv) {
  pb::GetPortfolioStatsRequest req;
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  if (auto t = inv.Time("from")) *req.mutable_from() = *t;
  if (auto t = inv.Time("to")) *req.mutable_to() = *t;
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetPortfolioStats, req);
}

// ---- tables ----

void RegisterCustomerTables() {
  RegisterTable(pb::Customer::descriptor(), {{"ID", "id"},
                                             {"NUMBER", "number"},
                                             {"NAME", "name", 28},
                                             {"KIND", "kind"},
                                             {"TIER", "tier"},
                                             {"STAGE", "lifecycle_stage"},
                                             {"OWNER", "owner_id"},
                                             {"DEPT", "department_id"},
                                             {"REGION", "region"}});
  RegisterTable(pb::DuplicateMatch::descriptor(),
                {{"ID", "customer_id"}, {"NUMBER", "number"}, {"NAME", "name", 40}, {"MATCHED ON", "matched_on"}});
  RegisterTable(pb::TierChange::descriptor(), {{"ID", "id"},
                                               {"TIME", "change_time"},
                                               {"FROM", "from_tier"},
                                               {"TO", "to_tier"},
                                               {"BY", "changed_by"},
                                               {"REASON", "reason", 40}});
  RegisterTable(pb::LogEntry::descriptor(), {{"ID", "id"},
                                             {"TIME", "event_time"},
                                             {"CATEGORY", "category"},
                                             {"CHANNEL", "channel"},
                                             {"STAFF", "staff_id"},
                                             {"SATISFACTION", "satisfaction"},
                                             {"DESCRIPTION", "description", 44}});
  RegisterTable(pb::VolumeChange::descriptor(),
                {{"CUSTOMER", "current.customer_id"},
                 {"PERIOD", "current.period"},
                 {"VOLUME", "current.volume"},
                 {"PREVIOUS", "previous_volume", 0,
                  // Without a recorded previous month there is nothing to compare with.
                  [](const google::protobuf::Message& m) {
                    const auto& vc = static_cast<const pb::VolumeChange&>(m);
                    return vc.has_previous() ? absl::StrCat(vc.previous_volume()) : std::string("-");
                  }},
                 {"CHANGE", "change_bp", 0,
                  [](const google::protobuf::Message& m) {
                    const auto& vc = static_cast<const pb::VolumeChange&>(m);
                    if (!vc.has_previous()) return std::string("-");
                    int64_t bp = vc.change_bp();
                    uint64_t mag = bp < 0 ? 0 - static_cast<uint64_t>(bp) : static_cast<uint64_t>(bp);
                    return absl::StrCat(bp < 0 ? "-" : "+", mag / 100, ".", mag % 100 / 10, "%");
                  }},
                 {"FLAGGED", "flagged", 0,
                  [](const google::protobuf::Message& m) {
                    return static_cast<const pb::VolumeChange&>(m).flagged() ? std::string("!!") : std::string();
                  }},
                 {"REVENUE", "current.revenue"}});
  RegisterTable(pb::RetentionCase::descriptor(), {{"ID", "id"},
                                                  {"CUSTOMER", "customer_id"},
                                                  {"STATUS", "status"},
                                                  {"OUTCOME", "outcome"},
                                                  {"CHURNED", "churned"},
                                                  {"OWNER", "owner_id"},
                                                  {"ACTIONS", "actions"},
                                                  {"COST", "total_cost"},
                                                  {"OPENED", "open_time"},
                                                  {"REASON", "reason", 30}});
  RegisterTable(pb::Survey::descriptor(), {{"ID", "id"},
                                           {"CAMPAIGN", "campaign", 20},
                                           {"CUSTOMER", "customer_id"},
                                           {"STATUS", "status"},
                                           {"SATISFACTION", "satisfaction"},
                                           {"STAFF", "staff_id"},
                                           {"COMPLETED", "complete_time"},
                                           {"COMMENT", "comment", 30}});
  RegisterTable(pb::PartStatus::descriptor(), {{"PART", "part"}, {"AVAILABLE", "available"}, {"REASON", "reason"}});
  RegisterTable(pb::WorkOrderSummary::descriptor(), {{"ID", "id"},
                                                     {"NUMBER", "number"},
                                                     {"TYPE", "type"},
                                                     {"SEVERITY", "severity"},
                                                     {"STATUS", "status"},
                                                     {"DEADLINE", "resolve_deadline"}});
  RegisterTable(pb::ContractSummary::descriptor(), {{"ID", "id"},
                                                    {"NUMBER", "number"},
                                                    {"NAME", "name", 30},
                                                    {"TYPE", "type"},
                                                    {"STATUS", "status"},
                                                    {"EXPIRES", "expiry_time"}});
  RegisterTable(pb::ProjectSummary::descriptor(), {{"ID", "id"},
                                                   {"NUMBER", "number"},
                                                   {"NAME", "name", 30},
                                                   {"STAGE", "stage"},
                                                   {"AMOUNT", "estimated_amount"}});
}

}  // namespace

void RegisterCustomerCommands(Registry& r) {
  RegisterCustomerTables();
  r.AddGroup({"customers", "customer records, tiers, lifecycle, log, business volume, retention, surveys",
              "KEFU_CUSTOMERS_ADDR", "127.0.0.1:50051"});

  const std::vector<Flag> paging = PagingFlags();
  const Flag version = ValueFlag("version", "N", "current version of the customer; refused if it changed");
  const Flag request_id = ValueFlag("request-id", "ID", "idempotency key: a retry with the same id returns the first result");

  // ---- customers ----
  r.Add({"customers create", "", "Create a customer",
         "The customer gets one primary contact from --contact-name/--phone/--email/--address.\n"
         "Refused with ALREADY_EXISTS when a customer with the same name, phone or email exists,\n"
         "unless --allow-duplicates is given.",
         Concat({Required(EditableFieldFlags(), {"name", "kind"}), ContactFlags(),
                 {ValueFlag("owner", "STAFF_ID", "account manager"), EnumFlag<pb::Tier>("tier", "service tier"),
                  RepeatedFlag("tag", "TAG", "a tag"), request_id,
                  BoolFlag("allow-duplicates", "create even if it looks like an existing customer")}}),
         0, 0, CreateCustomer});
  r.Add({"customers get", "ID", "Show one customer", "", {}, 1, 1, GetCustomer});
  r.Add({"customers import", "FILE.csv", "Import customers from CSV (- reads stdin)",
         "Columns (header row, any order): name,kind,tier,region,industry,owner,department,contact,phone,email,"
         "address,tags (tags separated by ';'). Every row is checked first; one bad or duplicate row imports "
         "nothing unless --skip-invalid. Prints each rejected row.",
         {BoolFlag("skip-invalid", "import the good rows and report the others"),
          BoolFlag("allow-duplicates", "import rows that look like stored customers"),
          BoolFlag("validate-only", "check and report, write nothing")},
         1, 1, ImportCustomers});
  r.Add({"customers export", "", "Export customers as CSV (the columns import reads)", "",
         {ValueFlag("output", "FILE", "write here instead of stdout (shows progress)"),
          ValueFlag("owner", "STAFF_ID", "owned by"), ValueFlag("department", "DEPT_ID", "of this department"),
          ValueFlag("region", "TEXT", "in this region"), ValueFlag("tag", "TAG", "with this tag"),
          EnumFlag<pb::Tier>("tier", "of this tier"), EnumFlag<pb::LifecycleStage>("stage", "at this lifecycle stage")},
         0, 0, ExportCustomers});
  r.Add({"customers list", "", "Search customers (merged records are never listed)", "",
         Concat({{ValueFlag("owner", "STAFF_ID", "account manager"), EnumFlag<pb::Tier>("tier", "service tier"),
                  EnumFlag<pb::LifecycleStage>("stage", "lifecycle stage"), ValueFlag("region", "TEXT", "region"),
                  ValueFlag("name-prefix", "TEXT", "names starting with this (sorted by name)"),
                  ValueFlag("tag", "TAG", "customers with this tag"),
                  ValueFlag("department", "DEPT_ID", "serving department")},
                 paging}),
         0, 0, ListCustomers});
  r.Add({"customers update", "ID", "Change fields of a customer",
         "Only the fields given are changed (they form the update mask). Contact flags change\n"
         "the primary contact and keep the others. --tag replaces all tags. Owner, tier and\n"
         "stage have their own commands (reassign, tier, stage).",
         Concat({{RequiredFlag("version", "N", "current version of the customer; refused if it changed")},
                 EditableFieldFlags(), ContactFlags(),
                 {RepeatedFlag("tag", "TAG", "the new tags (replace the current ones)"),
                  BoolFlag("clear-tags", "remove all tags")}}),
         1, 1, UpdateCustomer});
  r.Add({"customers duplicates", "", "Find customers sharing a name, phone or email", "",
         {ValueFlag("name", "TEXT", "name"), ValueFlag("phone", "PHONE", "phone"), ValueFlag("email", "EMAIL", "email")},
         0, 0, FindDuplicates});
  r.Add({"customers merge", "SURVIVOR DUPLICATE", "Merge a duplicate customer into the survivor",
         "Contacts, tags, log, volumes, retention cases and surveys move to the survivor;\n"
         "the duplicate becomes read-only.",
         {RequiredFlag("reason", "TEXT", "why they are the same customer")}, 2, 2, MergeCustomers});
  r.Add({"customers reassign", "ID", "Hand a customer to another account manager", "",
         {RequiredFlag("owner", "STAFF_ID", "new account manager"),
          ValueFlag("department", "DEPT_ID", "new department (unchanged if not given)"),
          ValueFlag("reason", "TEXT", "reason, written to the customer log"), version},
         1, 1, ReassignOwner});
  r.Add({"customers transfer", "", "Hand every customer of one account manager to another", "Safe to repeat.",
         {RequiredFlag("from", "STAFF_ID", "current account manager"),
          RequiredFlag("to", "STAFF_ID", "new account manager"),
          ValueFlag("department", "DEPT_ID", "new department (unchanged if not given)"),
          ValueFlag("reason", "TEXT", "reason, written to each customer's log")},
         0, 0, TransferPortfolio});
  r.Add({"customers tier", "ID", "Move a customer to another service tier", "",
         {EnumFlag<pb::Tier>("tier", "new tier", true), RequiredFlag("reason", "TEXT", "why"), version}, 1, 1,
         ChangeTier});
  r.Add({"customers get-tier", "ID", "Show a customer's service tier alone (no personal data, not audited)", "", {},
         1, 1, GetCustomerTier});
  r.Add({"customers tier-history", "ID", "A customer's tier changes, newest first", "", paging, 1, 1,
         ListTierChanges});
  r.Add({"customers stage", "ID", "Move a customer along its lifecycle",
         "prospect -> formation -> stable <-> decline -> churned; any stage may churn;\n"
         "a churned customer can only be won back into formation.",
         {EnumFlag<pb::LifecycleStage>("stage", "new stage", true), ValueFlag("reason", "TEXT", "why"), version}, 1,
         1, ChangeStage});
  r.Add({"customers 360", "ID", "The customer with recent log and what other services hold", "",
         {ValueFlag("log-limit", "N", "recent log entries to include, 1..50 (default 10)")}, 1, 1, GetCustomer360});

  // ---- log ----
  r.Add({"customers log add", "ID", "Append an entry to the customer log", "The log is append-only.",
         {EnumFlag<pb::LogCategory>("category", "what it was about", true),
          EnumFlag<pb::Channel>("channel", "where it happened", true),
          RequiredFlag("description", "TEXT", "what happened"), ValueFlag("resolution", "TEXT", "how it was resolved"),
          ValueFlag("summary", "TEXT", "short summary"),
          EnumFlag<pb::Satisfaction>("satisfaction", "customer satisfaction, 1..5 or a name"),
          ValueFlag("time", "TIME", "when it happened (default: now)"),
          ValueFlag("staff", "STAFF_ID", "who handled it (default: --actor)"),
          ValueFlag("reference", "TEXT", "what it refers to elsewhere, e.g. complaints/WO2026000012"), request_id},
         1, 1, AppendLog});
  r.Add({"customers log import", "FILE.csv", "Append log entries from CSV (- reads stdin)",
         "Columns (header row, any order): customer_id,category,channel,description (required) and time,"
         "resolution,summary,satisfaction,staff,reference,request_id. Sent 100 rows to a call, each call all or "
         "nothing. A row without request_id gets one drawn from its content: importing the file again, or a "
         "corrected copy, appends no row twice.",
         {ValueFlag("request-id-prefix", "TEXT", "start of the drawn request ids (default log-import)")},
         1, 1, ImportLog});
  r.Add({"customers log list", "ID", "A customer's log, newest first", "",
         Concat({{EnumFlag<pb::LogCategory>("category", "only this category"),
                  ValueFlag("since", "TIME", "from this time (inclusive)"),
                  ValueFlag("until", "TIME", "up to this time (exclusive)")},
                 paging}),
         1, 1, ListLog});

  // ---- business volume ----
  r.Add({"customers volume record", "ID", "Record (or correct) a customer's volume for one month", "",
         {RequiredFlag("period", "YYYY-MM", "the month"), RequiredFlag("volume", "N", "units of business"),
          ValueFlag("revenue", "AMOUNT", "revenue, e.g. 123.45"),
          ValueFlag("currency", "CODE", "ISO 4217 currency of --revenue (default CNY)")},
         1, 1, RecordVolume});
  r.Add({"customers volume list", "ID", "A customer's monthly volumes with the change against the month before",
         "", {ValueFlag("threshold-pct", "PCT", "flag changes beyond this percentage (default 30)")}, 1, 1,
         ListVolumes});
  r.Add({"customers volume fluctuations", "", "Customers whose volume moved beyond a threshold in a month", "",
         Concat({{RequiredFlag("period", "YYYY-MM", "the month"),
                  ValueFlag("threshold-pct", "PCT", "percentage (default 30)")},
                 paging}),
         0, 0, ListFluctuations});

  // ---- retention ----
  r.Add({"customers retention open", "ID", "Open a retention case for a customer at risk (or lost)", "",
         {RequiredFlag("reason", "TEXT", "why the customer is at risk"),
          BoolFlag("churned", "the customer has already left"),
          ValueFlag("owner", "STAFF_ID", "who handles the case (default: the account manager)"), request_id},
         1, 1, OpenRetentionCase});
  r.Add({"customers retention get", "CASE", "Show a retention case with its actions", "", {}, 1, 1,
         GetRetentionCase});
  r.Add({"customers retention action", "CASE", "Record a retention action", "",
         {EnumFlag<pb::RetentionActionType>("type", "kind of action", true),
          RequiredFlag("description", "TEXT", "what was done"), ValueFlag("cost", "AMOUNT", "cost, e.g. 100.00"),
          ValueFlag("currency", "CODE", "ISO 4217 currency of --cost (default CNY)"),
          ValueFlag("staff", "STAFF_ID", "who did it (default: --actor)"), request_id},
         1, 1, AddRetentionAction});
  r.Add({"customers retention close", "CASE", "Close a retention case with its outcome", "",
         {EnumFlag<pb::RetentionOutcome>("outcome", "result", true), ValueFlag("note", "TEXT", "closing note")}, 1, 1,
         CloseRetentionCase});
  r.Add({"customers retention list", "", "Retention cases, newest first", "",
         Concat({{ValueFlag("customer", "ID", "of this customer"),
                  EnumFlag<pb::RetentionStatus>("status", "open or closed"),
                  ValueFlag("owner", "STAFF_ID", "handled by")},
                 paging}),
         0, 0, ListRetentionCases});

  // ---- surveys ----
  r.Add({"customers survey sample", "", "Sample customers served in a window for a satisfaction survey",
         "Same seed and population give the same sample.",
         {RequiredFlag("campaign", "NAME", "campaign, e.g. \"2026-11 回访\""),
          RequiredFlag("from", "TIME", "served from (inclusive)"), RequiredFlag("to", "TIME", "served until (exclusive)"),
          RequiredFlag("size", "N", "sample size, 1..10000"), ValueFlag("seed", "N", "random seed (default 0)"),
          request_id},
         0, 0, SampleSurveys});
  r.Add({"customers survey record", "ID", "Record the result of a survey", "",
         {EnumFlag<pb::Satisfaction>("satisfaction", "1 (very dissatisfied) .. 5 (very satisfied)", true),
          ValueFlag("comment", "TEXT", "what the customer said")},
         1, 1, RecordSurvey});
  r.Add({"customers survey list", "", "Surveys of a campaign", "",
         Concat({{ValueFlag("campaign", "NAME", "campaign"),
                  EnumFlag<pb::SurveyStatus>("status", "pending or completed"),
                  ValueFlag("customer", "ID", "of this customer")},
                 paging}),
         0, 0, ListSurveys});
  r.Add({"customers survey stats", "", "Results of a campaign by satisfaction level", "",
         {RequiredFlag("campaign", "NAME", "campaign")}, 0, 0, SurveyStats});

  // ---- statistics ----
  r.Add({"customers portfolio", "", "Portfolio figures of an account manager, a department or the company",
         "Customers held now; acquisitions, tier ups and downs, churn and survey results in\n"
         "[--from, --to), at most two years. Give --owner or --department, or neither for the\n"
         "whole company.",
         {RequiredFlag("from", "TIME", "from (inclusive)"), RequiredFlag("to", "TIME", "until (exclusive)"),
          ValueFlag("owner", "STAFF_ID", "account manager"), ValueFlag("department", "DEPT_ID", "department")},
         0, 0, PortfolioStats});
}

}  // namespace kefuctl
