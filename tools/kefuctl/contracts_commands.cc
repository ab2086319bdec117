// kefuctl contracts ...: every call of kefu.contracts.v1.ContractService.

#include <google/protobuf/field_mask.pb.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_cat.h"
#include "commands.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "output.h"
#include "rpc.h"

namespace kefuctl {
namespace {

namespace pb = ::kefu::contracts::v1;
using Stub = pb::ContractService::Stub;

std::unique_ptr<Stub> NewStub(Invocation& inv) { return pb::ContractService::NewStub(inv.channel()); }

int64_t ContractIdArg(const Invocation& inv, size_t i) { return IdArgWithPrefix(inv, i, "CT", "contract id"); }

// Contract fields shared by create and update; returns the field names given.
std::vector<std::string> ApplyContractFlags(const Invocation& inv, pb::Contract* c) {
  std::vector<std::string> set;
  auto str = [&](const char* flag, const char* field, void (pb::Contract::*setter)(const std::string&)) {
    if (inv.Has(flag)) {
      (c->*setter)(inv.Str(flag));
      set.push_back(field);
    }
  };
  str("name", "name", &pb::Contract::set_name);
  str("our-entity", "our_entity", &pb::Contract::set_our_entity);
  str("customer-party", "customer_party", &pb::Contract::set_customer_party);
  str("effective", "effective_date", &pb::Contract::set_effective_date);
  str("expiry", "expiry_date", &pb::Contract::set_expiry_date);
  str("template", "template_id", &pb::Contract::set_template_id);
  str("document", "document_uri", &pb::Contract::set_document_uri);
  str("owner", "owner_id", &pb::Contract::set_owner_id);
  str("department", "department_id", &pb::Contract::set_department_id);
  if (inv.Has("type")) {
    c->set_type(inv.Enum<pb::ContractType>("type"));
    set.push_back("type");
  }
  if (inv.Has("amount")) {
    *c->mutable_amount() = *inv.Money("amount", inv.Str("currency", "CNY"));
    set.push_back("amount");
  }
  return set;
}

std::vector<Flag> ContractFieldFlags() {
  return {ValueFlag("name", "TEXT", "contract name"),
          EnumFlag<pb::ContractType>("type", "sales, service-paid, service-warranty, service-contract, framework, letter-of-intent"),
          ValueFlag("amount", "AMOUNT", "amount, e.g. 120000.00"),
          ValueFlag("currency", "CODE", "ISO 4217 currency of --amount (default CNY)"),
          ValueFlag("effective", "YYYY-MM-DD", "first day covered"),
          ValueFlag("expiry", "YYYY-MM-DD", "last day covered"),
          ValueFlag("our-entity", "TEXT", "our signing entity"),
          ValueFlag("customer-party", "TEXT", "the customer's signing entity"),
          ValueFlag("template", "ID", "template used"),
          ValueFlag("document", "URI", "where the document is kept"),
          ValueFlag("owner", "STAFF_ID", "responsible account manager (default: --actor)"),
          ValueFlag("department", "DEPT_ID", "department")};
}

int Create(Invocation& inv) {
  pb::CreateContractRequest req;
  req.mutable_contract()->set_customer_id(CustomerIdFlag(inv));
  ApplyContractFlags(inv, req.mutable_contract());
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateContract, req);
}

int Get(Invocation& inv) {
  pb::GetContractRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetContract, req);
}

int Update(Invocation& inv) {
  pb::UpdateContractRequest req;
  req.mutable_contract()->set_id(ContractIdArg(inv, 0));
  req.mutable_contract()->set_version(inv.Int("version"));
  for (const auto& f : ApplyContractFlags(inv, req.mutable_contract())) req.mutable_update_mask()->add_paths(f);
  if (req.update_mask().paths_size() == 0) inv.UsageError("give at least one field to change");
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateContract, req);
}

int List(Invocation& inv) {
  pb::ListContractsRequest req;
  req.set_customer_id(CustomerIdFlag(inv));
  req.set_type(inv.Enum<pb::ContractType>("type"));
  req.set_status(inv.Enum<pb::ContractStatus>("status"));
  req.set_expiring_within_days(inv.Int32("expiring-within"));
  req.set_signed_from(inv.Str("signed-from"));
  req.set_signed_to(inv.Str("signed-to"));
  req.set_owner_id(inv.Str("owner"));
  auto stub = NewStub(inv);
  return CallPagedAndPrint(inv, *stub, &Stub::ListContracts, req);
}

int Risks(Invocation& inv) {
  pb::SetRiskAssessmentRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  req.set_version(inv.Int("version"));
  // Each --risk is "LEVEL:CLAUSE:NOTE", e.g. "high:第7条 违约责任:违约金比例过高".
  for (const auto& spec : inv.All("risk")) {
    std::vector<std::string> parts = absl::StrSplit(spec, absl::MaxSplits(':', 2));
    if (parts.size() < 2) inv.UsageError(absl::StrCat("--risk '", spec, "': expected LEVEL:CLAUSE[:NOTE]"));
    auto* item = req.add_risk_items();
    const auto* level = pb::RiskLevel_descriptor()->FindValueByName("RISK_LEVEL_" + absl::AsciiStrToUpper(parts[0]));
    if (!level) inv.UsageError(absl::StrCat("--risk '", spec, "': level must be low, medium or high"));
    item->set_level(static_cast<pb::RiskLevel>(level->number()));
    item->set_clause(parts[1]);
    if (parts.size() == 3) item->set_note(parts[2]);
  }
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::SetRiskAssessment, req);
}

template <grpc::Status (Stub::*Method)(grpc::ClientContext*, const pb::ContractActionRequest&, pb::Contract*)>
int Action(Invocation& inv) {
  pb::ContractActionRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, Method, req);
}

int Approve(Invocation& inv, pb::Decision decision) {
  pb::RecordApprovalRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  req.set_decision(decision);
  req.set_opinion(inv.Str("opinion"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RecordApproval, req);
}

int Sign(Invocation& inv) {
  pb::SignContractRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  req.set_signing_date(inv.Str("date"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::SignContract, req);
}

int Terminate(Invocation& inv) {
  pb::TerminateContractRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  req.set_reason(inv.Str("reason"));
  req.set_version(inv.Int("version"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::TerminateContract, req);
}

int Renew(Invocation& inv) {
  pb::RenewContractRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  req.set_effective_date(inv.Str("effective"));
  req.set_expiry_date(inv.Str("expiry"));
  if (inv.Has("amount")) *req.mutable_amount() = *inv.Money("amount", inv.Str("currency", "CNY"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::RenewContract, req);
}

int Amend(Invocation& inv) {
  auto stub = NewStub(inv);
  pb::GetContractRequest get;
  get.set_contract_id(ContractIdArg(inv, 0));
  pb::Contract current;
  if (!CallOnce(inv, *stub, &Stub::GetContract, get, &current)) return kExitRpcError;
  pb::AmendContractRequest req;
  req.set_contract_id(current.id());
  *req.mutable_amended() = current;  // the amendment starts as a copy, changed by the flags
  ApplyContractFlags(inv, req.mutable_amended());
  req.set_reason(inv.Str("reason"));
  req.set_request_id(inv.Str("request-id"));
  return CallAndPrint(inv, *stub, &Stub::AmendContract, req);
}

int History(Invocation& inv) {
  pb::ListContractHistoryRequest req;
  req.set_contract_id(ContractIdArg(inv, 0));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::ListContractHistory, req);
}

int Entitlement(Invocation& inv) {
  pb::CheckEntitlementRequest req;
  req.set_customer_id(CustomerIdFlag(inv));
  if (req.customer_id() == 0) inv.UsageError("--customer is required");
  req.set_date(inv.Str("date"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CheckEntitlement, req);
}

int SigningStats(Invocation& inv) {
  pb::GetSigningStatsRequest req;
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  req.set_signed_from(inv.Str("from"));
  req.set_signed_to(inv.Str("to"));
  req.set_currency_code(inv.Str("currency"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetSigningStats, req);
}

int Rules(Invocation& inv) {
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::GetApprovalRules, pb::GetApprovalRulesRequest());
}

int SetRules(Invocation& inv) {
  pb::UpdateApprovalRulesRequest req;
  ReadJsonFile(inv, req.mutable_rules());
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::UpdateApprovalRules, req);
}

// What sales does on a win, by hand: one draft per project (a repeat returns it).
int DraftForProject(Invocation& inv) {
  pb::CreateDraftForProjectRequest req;
  req.set_sales_project_id(ParseId(inv, inv.Str("project"), "SP", "--project"));
  req.set_customer_id(CustomerIdFlag(inv));
  req.set_name(inv.Str("name"));
  req.set_type(inv.Enum<pb::ContractType>("type"));
  if (inv.Has("amount")) *req.mutable_amount() = *inv.Money("amount", inv.Str("currency", "CNY"));
  req.set_owner_id(inv.Str("owner"));
  req.set_department_id(inv.Str("department"));
  req.set_request_id(inv.Str("request-id"));
  auto stub = NewStub(inv);
  return CallAndPrint(inv, *stub, &Stub::CreateDraftForProject, req);
}

}  // namespace

void RegisterContractCommands(Registry& r) {
  RegisterTable(pb::Contract::descriptor(), {{"ID", "id"},
                                             {"NUMBER", "number"},
                                             {"NAME", "name", 24},
                                             {"TYPE", "type"},
                                             {"STATUS", "status"},
                                             {"CUSTOMER", "customer_id"},
                                             {"AMOUNT", "amount"},
                                             {"EFFECTIVE", "effective_date"},
                                             {"EXPIRY", "expiry_date"}});
  RegisterTable(pb::Approval::descriptor(),
                {{"ROLE", "required_role"}, {"DECISION", "decision"}, {"BY", "approver_id"}, {"OPINION", "opinion", 30}});
  RegisterTable(pb::RiskItem::descriptor(), {{"LEVEL", "level"}, {"CLAUSE", "clause", 30}, {"NOTE", "note", 40}});
  RegisterTable(pb::SigningStatsRow::descriptor(),
                {{"TYPE", "type"}, {"COUNT", "count"}, {"AMOUNT (MINOR UNITS)", "amount_minor"}});
  r.AddGroup({"contracts", "contracts, review and approval, lifecycle, expiry, entitlement", "KEFU_CONTRACTS_ADDR",
              "127.0.0.1:50053"});
  const Flag version = ValueFlag("version", "N", "current version of the contract; refused if it changed");
  const Flag request_id = ValueFlag("request-id", "ID", "idempotency key: a retry with the same id returns the first result");

  std::vector<Flag> create_flags = ContractFieldFlags();
  create_flags.insert(create_flags.begin(), RequiredFlag("customer", "ID", "the customer (C00001234 or 1234)"));
  create_flags.push_back(request_id);
  r.Add({"contracts create", "", "Draft a contract for a customer", "Needs --name, --type, --amount, --effective and --expiry.",
         create_flags, 0, 0, Create});
  r.Add({"contracts get", "ID", "Show a contract with its risks and approvals", "", {}, 1, 1, Get});
  std::vector<Flag> update_flags = ContractFieldFlags();
  update_flags.insert(update_flags.begin(), RequiredFlag("version", "N", "current version; refused if it changed"));
  r.Add({"contracts update", "ID", "Change a draft", "Only the fields given change.", update_flags, 1, 1, Update});
  r.Add({"contracts list", "", "Contracts, filtered", "",
         Concat({{ValueFlag("customer", "ID", "of this customer"), EnumFlag<pb::ContractType>("type", "of this type"),
                  EnumFlag<pb::ContractStatus>("status", "in this status"),
                  ValueFlag("expiring-within", "DAYS", "active contracts whose expiry day is within DAYS"),
                  ValueFlag("signed-from", "YYYY-MM-DD", "signed on or after"),
                  ValueFlag("signed-to", "YYYY-MM-DD", "signed on or before"), ValueFlag("owner", "STAFF_ID", "owned by")},
                 PagingFlags()}),
         0, 0, List});
  r.Add({"contracts risks", "ID", "Replace the clause-by-clause risk assessment", "",
         {RepeatedFlag("risk", "LEVEL:CLAUSE[:NOTE]", "one risk item, e.g. \"high:第7条 违约责任:违约金过高\""), version},
         1, 1, Risks});
  r.Add({"contracts submit", "ID", "Submit a draft for review", "The approval rules decide the steps.", {version}, 1, 1,
         Action<&Stub::SubmitForReview>});
  r.Add({"contracts approve", "ID", "Approve the next review step (needs its role: --roles)", "",
         {ValueFlag("opinion", "TEXT", "opinion"), version}, 1, 1, [](Invocation& inv) { return Approve(inv, pb::DECISION_PASS); }});
  r.Add({"contracts reject", "ID", "Reject the contract back to draft (needs the step's role: --roles)", "",
         {RequiredFlag("opinion", "TEXT", "why"), version}, 1, 1, [](Invocation& inv) { return Approve(inv, pb::DECISION_REJECT); }});
  r.Add({"contracts sign", "ID", "Sign an approved contract", "",
         {ValueFlag("date", "YYYY-MM-DD", "signing day (default today)"), version}, 1, 1, Sign});
  r.Add({"contracts activate", "ID", "Activate a signed contract whose effective day has come", "", {version}, 1, 1,
         Action<&Stub::ActivateContract>});
  r.Add({"contracts terminate", "ID", "Terminate a signed or active contract", "",
         {RequiredFlag("reason", "TEXT", "why"), version}, 1, 1, Terminate});
  r.Add({"contracts renew", "ID", "Draft the renewal of an active or expired contract", "",
         {RequiredFlag("expiry", "YYYY-MM-DD", "last day of the renewal"),
          ValueFlag("effective", "YYYY-MM-DD", "first day (default: the day after the old expiry)"),
          ValueFlag("amount", "AMOUNT", "new amount"), ValueFlag("currency", "CODE", "currency (default CNY)"), request_id},
         1, 1, Renew});
  std::vector<Flag> amend_flags = ContractFieldFlags();
  amend_flags.insert(amend_flags.begin(), RequiredFlag("reason", "TEXT", "why it is amended"));
  amend_flags.push_back(request_id);
  r.Add({"contracts amend", "ID", "Draft an amendment of a signed or active contract",
         "The amendment copies the contract and changes the fields given; it supersedes the contract once active.",
         amend_flags, 1, 1, Amend});
  r.Add({"contracts history", "ID", "The contract with its renewals and amendments", "", {}, 1, 1, History});
  r.Add({"contracts entitlement", "", "Does a customer hold a service contract or warranty on a day?", "",
         {RequiredFlag("customer", "ID", "the customer"), ValueFlag("date", "YYYY-MM-DD", "the day (default today)")}, 0, 0,
         Entitlement});
  r.Add({"contracts rules", "", "The approval rules in force", "", {}, 0, 0, Rules});
  r.Add({"contracts rules-set", "", "Replace the approval rules (needs --roles senior_manager)",
         "  kefuctl --json contracts rules > r.json   # edit, keep \"version\"\n"
         "  kefuctl contracts rules-set --file r.json",
         {JsonFileFlag("the approval rules")}, 0, 0, SetRules});
  r.Add({"contracts draft-for-project", "", "The draft contract of a won sales project (sales asks for it on a win)",
         "One draft per project: asking again returns the same draft.",
         {RequiredFlag("project", "ID", "the won sales project (SP... or its number)"),
          RequiredFlag("customer", "ID", "its customer"), RequiredFlag("name", "TEXT", "contract name"),
          EnumFlag<pb::ContractType>("type", "contract type"), ValueFlag("amount", "AMOUNT", "amount"),
          ValueFlag("currency", "CODE", "its currency (default CNY)"), ValueFlag("owner", "STAFF_ID", "owner"),
          ValueFlag("department", "DEPT_ID", "department"), ValueFlag("request-id", "ID", "idempotency key")},
         0, 0, DraftForProject});
  r.Add({"contracts signing-stats", "", "Contracts signed in a period by type, service revenue and new business",
         "Counts contracts that were signed (also those active, expired, terminated or superseded\n"
         "since) with a signing day in [--from, --to], at most two years, in one currency.\n"
         "Give --owner or --department, or neither for the whole company.",
         {RequiredFlag("from", "YYYY-MM-DD", "signed on or after"),
          RequiredFlag("to", "YYYY-MM-DD", "signed on or before"), ValueFlag("owner", "STAFF_ID", "owned by"),
          ValueFlag("department", "DEPT_ID", "of this department"),
          ValueFlag("currency", "CODE", "currency (default CNY)")},
         0, 0, SigningStats});
}

}  // namespace kefuctl
