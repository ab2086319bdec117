// The main business flows end to end, against the five real service binaries wired to
// each other as `make run` wires them (fast sweeps so that "on its own" happens within
// seconds), each on its own MariaDB schema, called only over gRPC.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "kefu/probe.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/time_util.h"
#include "support/test_env.h"
#include "support/auth.h"
#include "support/system.h"

namespace kefu {
namespace {

namespace cpb = ::kefu::customers::v1;
namespace ctr = ::kefu::contracts::v1;
namespace wo = ::kefu::complaints::v1;
namespace spb = ::kefu::sales::v1;
namespace ppb = ::kefu::performance::v1;
using ::grpc::StatusCode;

// The flows' staff, customers and work orders belong to D-FLOW, the quarter close's to D-Q.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& actor, const std::string& roles = "",
                                         const std::string& department = "D-FLOW") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  kefu::testing::Authorize(ctx.get(), actor, roles.empty() ? "senior_manager" : roles, department);
  return ctx;
}

// Polls `done` until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(30)) {
  absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(200));
  }
  return done();
}

std::string Today() { return absl::FormatCivilTime(absl::ToCivilDay(absl::Now(), absl::FixedTimeZone(8 * 3600))); }

class SystemFlows : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Sweeps and outboxes every fraction of a second, so the flows run in seconds.
    system_ = new testing::ServiceBinaries(
        "flow", {{"contracts", {"--sweep_interval_ms=300", "--outbox_interval_ms=200", "--log_level=warn"}},
                 {"complaints", {"--sweep_interval_ms=200", "--outbox_interval_ms=200", "--log_level=warn"}},
                 {"sales", {"--outbox_interval_ms=200", "--log_level=warn"}},
                 {"customers", {"--log_level=warn"}},
                 {"performance", {"--log_level=warn"}}});
    ASSERT_TRUE(system_->Start());
    SeedStaff();
  }
  static void TearDownTestSuite() {
    for (const auto& [name, code] : system_->Stop(20000))
      EXPECT_EQ(code, 0) << name << "\n" << (*system_)[name].process->Output();
    delete system_;
  }
  static testing::ServiceBinaries::Binary& S(const std::string& name) { return (*system_)[name]; }

  static auto Customers() { return cpb::CustomerService::NewStub(S("customers").channel); }
  static auto Contracts() { return ctr::ContractService::NewStub(S("contracts").channel); }
  static auto Complaints() { return wo::ComplaintService::NewStub(S("complaints").channel); }
  static auto Sales() { return spb::SalesService::NewStub(S("sales").channel); }
  static auto Performance() { return ppb::PerformanceService::NewStub(S("performance").channel); }

  static void SeedStaff() {
    auto perf = Performance();
    ppb::CreateDepartmentRequest dept;
    dept.mutable_department()->set_id("D-FLOW");
    dept.mutable_department()->set_name("华东服务部");
    ppb::Department d;
    ASSERT_TRUE(perf->CreateDepartment(Ctx("H1", "hr").get(), dept, &d).ok());
    for (const char* id : {"MGR", "AM1", "AM2", "AG1"}) {
      ppb::CreateStaffRequest req;
      auto* s = req.mutable_staff();
      s->set_id(id);
      s->set_employee_number(absl::StrCat("EMP-", id));
      s->set_name(absl::StrCat("员工", id));
      s->set_department_id("D-FLOW");
      s->set_role(std::string(id) == "MGR" ? ppb::ROLE_DEPARTMENT_MANAGER : ppb::ROLE_ACCOUNT_MANAGER);
      if (std::string(id) != "MGR") s->set_superior_id("MGR");
      ppb::Staff out;
      grpc::Status st = perf->CreateStaff(Ctx("H1", "hr").get(), req, &out);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
  }

  // D-Q: QL leads Q1, Q2 and Q3; Q4 reports to Q3.
  static void SeedQuarterStaff() {
    auto perf = Performance();
    ppb::CreateDepartmentRequest dept;
    dept.mutable_department()->set_id("D-Q");
    dept.mutable_department()->set_name("宁波服务站");
    ppb::Department d;
    ASSERT_TRUE(perf->CreateDepartment(Ctx("H1", "hr", "D-Q").get(), dept, &d).ok());
    for (const auto& [id, superior] : std::vector<std::pair<std::string, std::string>>{
             {"QL", ""}, {"Q1", "QL"}, {"Q2", "QL"}, {"Q3", "QL"}, {"Q4", "Q3"}}) {
      ppb::CreateStaffRequest req;
      auto* s = req.mutable_staff();
      s->set_id(id);
      s->set_employee_number(absl::StrCat("EMP-", id));
      s->set_name(absl::StrCat("员工", id));
      s->set_department_id("D-Q");
      s->set_role(superior.empty() ? ppb::ROLE_DEPARTMENT_MANAGER : ppb::ROLE_AGENT);
      s->set_superior_id(superior);
      ppb::Staff out;
      grpc::Status st = perf->CreateStaff(Ctx("H1", "hr", "D-Q").get(), req, &out);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
  }

  static int64_t NewCustomer(const std::string& name, cpb::Tier tier, const std::string& owner,
                             const std::string& department = "D-FLOW") {
    cpb::CreateCustomerRequest req;
    req.mutable_customer()->set_kind(cpb::CUSTOMER_KIND_ORGANIZATION);
    req.mutable_customer()->set_name(name);
    req.mutable_customer()->set_tier(tier);
    req.mutable_customer()->set_owner_id(owner);
    req.mutable_customer()->set_department_id(department);
    cpb::Customer out;
    grpc::Status s = Customers()->CreateCustomer(Ctx(owner, "", department).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.id();
  }

  static std::vector<cpb::LogEntry> Log(int64_t customer) {
    cpb::ListLogEntriesRequest req;
    req.set_customer_id(customer);
    req.set_page_size(200);
    cpb::ListLogEntriesResponse resp;
    EXPECT_TRUE(Customers()->ListLogEntries(Ctx("AG1").get(), req, &resp).ok());
    return {resp.entries().begin(), resp.entries().end()};
  }

  static std::string Metrics(const std::string& name) {
    auto m = testing::HttpGet(S(name).metrics_port, "/metrics");
    return m.ok() ? *m : "";
  }

  static testing::ServiceBinaries* system_;
};

testing::ServiceBinaries* SystemFlows::system_ = nullptr;

// Flow 1: a customer calls with a fault; the work order gets its deadlines from the
// tier, escalates on its own, is resolved, followed up, reopened, and closed.
TEST_F(SystemFlows, AFaultIsTakenEscalatedResolvedReopenedAndClosed) {
  int64_t customer = NewCustomer("杭州远景制造有限公司", cpb::TIER_GOLD, "AM1");
  auto complaints = Complaints();
  wo::CreateWorkOrderRequest create;
  auto* w = create.mutable_work_order();
  w->set_customer_id(customer);
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
  w->set_severity(wo::SEVERITY_GENERAL);
  w->set_content("生产线控制柜报警，设备停机");
  w->set_department_id("D-FLOW");
  w->set_handler_id("AG1");
  // Reported three days ago and never answered: the response deadline is long gone.
  *w->mutable_received_time() = ToProtoTime(absl::Now() - absl::Hours(72));
  create.set_request_id("flow1-fault");
  wo::WorkOrder order;
  grpc::Status st = complaints->CreateWorkOrder(Ctx("AG1", "agent").get(), create, &order);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(order.customer_tier(), static_cast<int>(cpb::TIER_GOLD));
  EXPECT_EQ(order.service_type(), wo::SERVICE_TYPE_PAID);  // no contract, no warranty
  EXPECT_TRUE(order.has_response_deadline());

  wo::GetWorkOrderRequest get;
  get.set_work_order_id(order.id());
  ASSERT_TRUE(Eventually([&] {
    return complaints->GetWorkOrder(Ctx("AG1").get(), get, &order).ok() &&
           order.escalation_level() >= wo::ESCALATION_LEVEL_DEPARTMENT_MANAGER;
  })) << "the sweep never escalated it";
  EXPECT_TRUE(order.overdue());

  auto act = [&](auto method, const std::string& who, const std::string& roles) {
    wo::WorkOrderActionRequest r;
    r.set_work_order_id(order.id());
    grpc::Status s = (complaints.get()->*method)(Ctx(who, roles).get(), r, &order);
    EXPECT_TRUE(s.ok()) << s.error_message();
  };
  act(&wo::ComplaintService::Stub::AcceptWorkOrder, "AG1", "agent");
  act(&wo::ComplaintService::Stub::StartWork, "AG1", "agent");
  wo::ResolveWorkOrderRequest resolve;
  resolve.set_work_order_id(order.id());
  resolve.mutable_resolution()->set_summary("更换控制柜电源模块");
  resolve.mutable_resolution()->add_actions(wo::RESOLUTION_ACTION_REPAIR);
  resolve.mutable_resolution()->set_root_cause("电源模块老化");
  ASSERT_TRUE(complaints->ResolveWorkOrder(Ctx("AG1", "agent").get(), resolve, &order).ok());
  act(&wo::ComplaintService::Stub::StartFollowUp, "AG1", "agent");
  wo::RecordFollowUpRequest follow;
  follow.set_work_order_id(order.id());
  follow.set_satisfaction(2);
  follow.set_note("两天后再次报警");
  ASSERT_TRUE(complaints->RecordFollowUp(Ctx("AG1", "agent").get(), follow, &order).ok());
  EXPECT_EQ(order.status(), wo::STATUS_IN_PROGRESS);  // reopened
  EXPECT_EQ(order.reopen_count(), 1);
  ASSERT_TRUE(complaints->ResolveWorkOrder(Ctx("AG1", "agent").get(), resolve, &order).ok());
  act(&wo::ComplaintService::Stub::StartFollowUp, "AG1", "agent");
  follow.set_satisfaction(5);
  follow.set_note("运行稳定，很满意");
  ASSERT_TRUE(complaints->RecordFollowUp(Ctx("AG1", "agent").get(), follow, &order).ok());
  EXPECT_EQ(order.status(), wo::STATUS_CLOSED);

  // Every step is in the timeline and, through the outbox, in the customer's log.
  wo::GetTimelineRequest timeline_req;
  timeline_req.set_work_order_id(order.id());
  wo::Timeline timeline;
  ASSERT_TRUE(complaints->GetTimeline(Ctx("AG1").get(), timeline_req, &timeline).ok());
  EXPECT_GE(timeline.events_size(), 9);
  const std::string reference = "complaints/" + order.number();
  int logged = 0;
  bool satisfied_logged = false;
  ASSERT_TRUE(Eventually([&] {
    logged = 0;
    for (const auto& e : Log(customer)) {
      if (e.reference() != reference) continue;
      ++logged;
      EXPECT_EQ(e.category(), cpb::LOG_CATEGORY_SERVICE);  // a fault report is service work
      satisfied_logged |= e.satisfaction() == cpb::SATISFACTION_VERY_SATISFIED;
    }
    return logged >= 9 && satisfied_logged;
  })) << "the customer log has " << logged << " entries of " << reference;
  std::string metrics = Metrics("complaints");
  EXPECT_NE(metrics.find("kefu_complaints_escalations_total{department=\"D-FLOW\",level=\"department_manager\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("kefu_complaints_follow_ups_total"), std::string::npos);
}

// A tier change in customers reaches complaints' copy of the tiers through customers'
// outbox: the next work order is held to the new tier's deadlines without complaints
// asking customers.
TEST_F(SystemFlows, ATierChangeReachesComplaintsForTheNextWorkOrders) {
  int64_t customer = NewCustomer("温州恒达电气有限公司", cpb::TIER_STANDARD, "AM1");
  auto complaints = Complaints();
  auto new_work_order = [&] {
    wo::CreateWorkOrderRequest create;
    auto* w = create.mutable_work_order();
    w->set_customer_id(customer);
    w->set_channel(wo::CHANNEL_PHONE);
    w->set_type(wo::WORK_ORDER_TYPE_CONSULTATION);
    w->set_severity(wo::SEVERITY_MINOR);
    w->set_content("咨询保修范围");
    w->set_department_id("D-TIER");
    wo::WorkOrder order;
    grpc::Status st = complaints->CreateWorkOrder(Ctx("S-TIER", "senior_manager", "D-TIER").get(), create, &order);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return order;
  };
  EXPECT_EQ(new_work_order().customer_tier(), static_cast<int>(cpb::TIER_STANDARD));

  cpb::ChangeTierRequest change;
  change.set_customer_id(customer);
  change.set_tier(cpb::TIER_PLATINUM);
  change.set_reason("签订年度框架协议");
  cpb::Customer changed;
  ASSERT_TRUE(Customers()->ChangeTier(Ctx("S-TIER").get(), change, &changed).ok());
  wo::WorkOrder order;
  ASSERT_TRUE(Eventually([&] {
    order = new_work_order();
    return order.customer_tier() == static_cast<int>(cpb::TIER_PLATINUM);
  }, absl::Seconds(10))) << "complaints still gives tier " << order.customer_tier();
  EXPECT_NE(Metrics("customers").find("kefu_outbox_delivered_total{target=\"complaints.tiers\"}"), std::string::npos);
  EXPECT_NE(Metrics("complaints").find("kefu_complaints_tier_lookups_total{source=\"copy\"}"), std::string::npos);
}

// Flow 2: a sales project is won; its draft contract is reviewed, signed and becomes
// active on its own; from then on the customer's faults are contract service; an
// older contract expires on its own.
TEST_F(SystemFlows, AWonProjectBecomesAnActiveContractThatEntitlesService) {
  int64_t customer = NewCustomer("宁波海联物流集团", cpb::TIER_SILVER, "AM1");
  auto sales = Sales();
  spb::CreateProjectRequest create;
  auto* p = create.mutable_project();
  p->set_name("全国服务网点运维外包");
  p->set_customer_id(customer);
  p->set_owner_id("AM1");
  p->set_department_id("D-FLOW");
  p->set_goal("三年运维外包");
  p->set_customer_contact("物流部张总");
  p->mutable_estimated_amount()->set_currency_code("CNY");
  p->mutable_estimated_amount()->set_amount_minor(88'000'000);
  p->set_expected_signing_date(Today());
  spb::Project project;
  grpc::Status st = sales->CreateProject(Ctx("AM1", "account_manager").get(), create, &project);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto move = [&](spb::Stage stage, const std::string& summary = "") {
    spb::ChangeStageRequest req;
    req.set_project_id(project.id());
    req.set_stage(stage);
    if (!summary.empty()) {
      req.mutable_closing()->set_reason(summary);
      req.mutable_closing()->mutable_total_cost()->set_amount_minor(1'500'000);
    }
    grpc::Status s = sales->ChangeStage(Ctx("AM1", "account_manager").get(), req, &project);
    ASSERT_TRUE(s.ok()) << s.error_message();
  };
  move(spb::STAGE_PROPOSAL);
  spb::AddActivityRequest visit;
  visit.mutable_activity()->set_project_id(project.id());
  visit.mutable_activity()->set_type(spb::ACTIVITY_TYPE_VISIT);
  visit.mutable_activity()->set_purpose("现场调研网点分布");
  visit.mutable_activity()->set_result("客户认可方案");
  spb::Activity activity;
  st = sales->AddActivity(Ctx("AM1", "account_manager").get(), visit, &activity);
  ASSERT_TRUE(st.ok()) << st.error_message();
  move(spb::STAGE_BIDDING);
  spb::SetCompetitorsRequest competitors;
  competitors.set_project_id(project.id());
  competitors.add_competitors()->set_name("某外资服务商");
  st = sales->SetCompetitors(Ctx("AM1", "account_manager").get(), competitors, &project);
  ASSERT_TRUE(st.ok()) << st.error_message();
  move(spb::STAGE_NEGOTIATION);
  move(spb::STAGE_CONTRACT);
  move(spb::STAGE_WON, "网点覆盖与响应时间优于对手");

  // The draft arrives in contracts through the sales outbox.
  auto contracts = Contracts();
  ctr::Contract draft;
  ASSERT_TRUE(Eventually([&] {
    ctr::ListContractsRequest list;
    list.set_customer_id(customer);
    ctr::ListContractsResponse resp;
    if (!contracts->ListContracts(Ctx("AM1").get(), list, &resp).ok() || resp.contracts_size() == 0) return false;
    draft = resp.contracts(0);
    return true;
  })) << "no draft contract for the won project";
  EXPECT_EQ(draft.sales_project_id(), project.id());
  EXPECT_EQ(draft.status(), ctr::CONTRACT_STATUS_DRAFT);

  // The contract desk makes it a service contract, then review, approval, signing.
  ctr::UpdateContractRequest update;
  *update.mutable_contract() = draft;
  update.mutable_contract()->set_type(ctr::CONTRACT_TYPE_SERVICE_CONTRACT);
  update.mutable_update_mask()->add_paths("type");
  ASSERT_TRUE(contracts->UpdateContract(Ctx("AM1").get(), update, &draft).ok());
  ctr::ContractActionRequest submit;
  submit.set_contract_id(draft.id());
  ASSERT_TRUE(contracts->SubmitForReview(Ctx("AM1").get(), submit, &draft).ok());
  ctr::RecordApprovalRequest approve;
  approve.set_contract_id(draft.id());
  approve.set_decision(ctr::DECISION_PASS);
  approve.set_opinion("同意");
  EXPECT_EQ(contracts->RecordApproval(Ctx("AG1", "agent").get(), approve, &draft).error_code(),
            StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(contracts->RecordApproval(Ctx("MGR", "department_manager").get(), approve, &draft).ok());
  ctr::SignContractRequest sign;
  sign.set_contract_id(draft.id());
  st = contracts->SignContract(Ctx("AM1").get(), sign, &draft);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ctr::GetContractRequest get;
  get.set_contract_id(draft.id());
  ASSERT_TRUE(Eventually([&] {
    return contracts->GetContract(Ctx("AM1").get(), get, &draft).ok() && draft.status() == ctr::CONTRACT_STATUS_ACTIVE;
  })) << "the signed contract did not become active on its effective day";

  wo::CreateWorkOrderRequest fault;
  auto* w = fault.mutable_work_order();
  w->set_customer_id(customer);
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
  w->set_severity(wo::SEVERITY_MINOR);
  w->set_content("分拣线扫码枪失灵");
  w->set_department_id("D-FLOW");
  wo::WorkOrder order;
  ASSERT_TRUE(Complaints()->CreateWorkOrder(Ctx("AG1", "agent").get(), fault, &order).ok());
  EXPECT_EQ(order.service_type(), wo::SERVICE_TYPE_CONTRACT);
  EXPECT_EQ(order.contract_id(), draft.id());

  // Last year's warranty, signed long ago, expires on its own.
  ctr::CreateContractRequest old;
  auto* c = old.mutable_contract();
  c->set_customer_id(customer);
  c->set_name("上一年度保修");
  c->set_type(ctr::CONTRACT_TYPE_SERVICE_WARRANTY);
  c->mutable_amount()->set_currency_code("CNY");
  c->mutable_amount()->set_amount_minor(0);
  absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::FixedTimeZone(8 * 3600));
  c->set_effective_date(absl::FormatCivilTime(today - 400));
  c->set_expiry_date(absl::FormatCivilTime(today - 35));
  ctr::Contract expiring;
  st = contracts->CreateContract(Ctx("AM1").get(), old, &expiring);
  ASSERT_TRUE(st.ok()) << st.error_message();
  submit.set_contract_id(expiring.id());
  ASSERT_TRUE(contracts->SubmitForReview(Ctx("AM1").get(), submit, &expiring).ok());
  approve.set_contract_id(expiring.id());
  ASSERT_TRUE(contracts->RecordApproval(Ctx("MGR", "department_manager").get(), approve, &expiring).ok());
  sign.set_contract_id(expiring.id());
  sign.set_signing_date(absl::FormatCivilTime(today - 401));
  st = contracts->SignContract(Ctx("AM1").get(), sign, &expiring);
  ASSERT_TRUE(st.ok()) << st.error_message();
  get.set_contract_id(expiring.id());
  ASSERT_TRUE(Eventually([&] {
    return contracts->GetContract(Ctx("AM1").get(), get, &expiring).ok() &&
           expiring.status() == ctr::CONTRACT_STATUS_EXPIRED;
  })) << "the old warranty never expired";

  // The whole story is in the customer's log.
  ASSERT_TRUE(Eventually([&] {
    int sales_entries = 0, contract_entries = 0;
    for (const auto& e : Log(customer)) {
      sales_entries += e.category() == cpb::LOG_CATEGORY_SALES;
      contract_entries += e.description().find("合同") != std::string::npos;
    }
    return sales_entries >= 5 && contract_entries >= 3;
  }));
}

// Flow 3: an account manager leaves; the customers go to a colleague who sees their
// whole history, and nobody can hand work to the person who left.
TEST_F(SystemFlows, AnAccountManagerLeavesAndTheNewOwnerSeesTheHistory) {
  int64_t first = NewCustomer("苏州恒达精密", cpb::TIER_GOLD, "AM2");
  int64_t second = NewCustomer("无锡新材科技", cpb::TIER_STANDARD, "AM2");
  auto customers = Customers();
  cpb::AppendLogEntryRequest visit;
  visit.mutable_entry()->set_customer_id(first);
  visit.mutable_entry()->set_category(cpb::LOG_CATEGORY_VISIT);
  visit.mutable_entry()->set_channel(cpb::CHANNEL_VISIT);
  visit.mutable_entry()->set_description("拜访采购部，确认明年续约意向");
  cpb::LogEntry entry;
  grpc::Status st = customers->AppendLogEntry(Ctx("AM2").get(), visit, &entry);
  ASSERT_TRUE(st.ok()) << st.error_message();

  auto perf = Performance();
  ppb::GetStaffRequest get;
  get.set_staff_id("AM2");
  ppb::UpdateStaffRequest leave;
  ASSERT_TRUE(perf->GetStaff(Ctx("H1").get(), get, leave.mutable_staff()).ok());
  leave.mutable_staff()->set_status(ppb::STAFF_STATUS_LEFT);
  leave.mutable_update_mask()->add_paths("status");
  ppb::Staff left;
  ASSERT_TRUE(perf->UpdateStaff(Ctx("H1", "hr").get(), leave, &left).ok());

  cpb::TransferPortfolioRequest transfer;
  transfer.set_from_owner_id("AM2");
  transfer.set_to_owner_id("AM1");
  transfer.set_reason("客户经理离职，客户移交");
  cpb::TransferPortfolioResponse moved;
  st = customers->TransferPortfolio(Ctx("MGR", "department_manager").get(), transfer, &moved);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(moved.transferred_count(), 2);
  // Handing them back to the person who left is refused.
  transfer.set_from_owner_id("AM1");
  transfer.set_to_owner_id("AM2");
  EXPECT_EQ(customers->TransferPortfolio(Ctx("MGR", "department_manager").get(), transfer, &moved).error_code(),
            StatusCode::FAILED_PRECONDITION);

  cpb::ListCustomersRequest mine;
  mine.set_owner_id("AM1");
  mine.set_page_size(100);
  cpb::ListCustomersResponse list;
  ASSERT_TRUE(customers->ListCustomers(Ctx("AM1").get(), mine, &list).ok());
  int found = 0;
  for (const auto& c : list.customers()) found += c.id() == first || c.id() == second;
  EXPECT_EQ(found, 2);
  auto history = Log(first);
  bool saw_visit = false, saw_transfer = false;
  for (const auto& e : history) {
    saw_visit |= e.description().find("确认明年续约意向") != std::string::npos;
    saw_transfer |= e.description().find("AM1") != std::string::npos;
  }
  EXPECT_TRUE(saw_visit);
  EXPECT_TRUE(saw_transfer);
}

// Flow 4 (part): a scorecard over the live system pulls every source, and the 360
// view of a customer shows work orders, contracts and projects from the others.
TEST_F(SystemFlows, ScorecardAndCustomer360DrawOnEveryService) {
  ppb::GetScorecardRequest req;
  req.set_subject_kind(ppb::SUBJECT_KIND_DEPARTMENT);
  req.set_subject_id("D-FLOW");
  absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::FixedTimeZone(8 * 3600));
  req.set_from(absl::FormatCivilTime(today - 30));
  req.set_to(absl::FormatCivilTime(today));
  ppb::Scorecard card;
  grpc::Status st = Performance()->GetScorecard(Ctx("MGR", "department_manager").get(), req, &card);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(card.unavailable().empty());
  EXPECT_EQ(card.lines_size(), 12);

  int64_t customer = NewCustomer("上海360视图客户", cpb::TIER_PLATINUM, "AM1");
  wo::CreateWorkOrderRequest create;
  auto* w = create.mutable_work_order();
  w->set_customer_id(customer);
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_CONSULTATION);
  w->set_severity(wo::SEVERITY_MINOR);
  w->set_content("咨询延保政策");
  w->set_department_id("D-FLOW");
  wo::WorkOrder order;
  ASSERT_TRUE(Complaints()->CreateWorkOrder(Ctx("AG1", "agent").get(), create, &order).ok());
  cpb::GetCustomer360Request view_req;
  view_req.set_customer_id(customer);
  cpb::Customer360 view;
  ASSERT_TRUE(Customers()->GetCustomer360(Ctx("AM1").get(), view_req, &view).ok());
  EXPECT_EQ(view.open_work_orders_size(), 1);
  for (const auto& part : view.parts()) EXPECT_TRUE(part.available()) << part.part() << ": " << part.reason();
}

// Flow 4: a quarter closes. Seven past weeks of service are replayed by running
// complaints with its clock moved back a week at a time (--clock_offset), then this
// week's unhappy customers; the control chart flags this week, the scorecard pulls the
// quarter's figures from the services, the actuals are recorded against the targets, and
// a 360 cycle runs with the raters kept anonymous.
TEST_F(SystemFlows, AQuarterClosesWithTargetsScorecardA360CycleAndAControlChart) {
  SeedQuarterStaff();
  const std::string today = Today();
  int64_t customer = NewCustomer("宁波港湾物流", cpb::TIER_STANDARD, "QL", "D-Q");
  auto serve = [&](int satisfaction) {
    auto complaints = Complaints();
    wo::CreateWorkOrderRequest create;
    auto* w = create.mutable_work_order();
    w->set_customer_id(customer);
    w->set_channel(wo::CHANNEL_PHONE);
    w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(wo::SEVERITY_GENERAL);
    w->set_content("叉车调度终端无法登录");
    w->set_department_id("D-Q");
    w->set_handler_id("Q1");
    wo::WorkOrder order;
    grpc::Status s = complaints->CreateWorkOrder(Ctx("Q1", "agent", "D-Q").get(), create, &order);
    ASSERT_TRUE(s.ok()) << s.error_message();
    auto act = [&](auto method) {
      wo::WorkOrderActionRequest r;
      r.set_work_order_id(order.id());
      grpc::Status as = (complaints.get()->*method)(Ctx("Q1", "agent", "D-Q").get(), r, &order);
      ASSERT_TRUE(as.ok()) << as.error_message();
    };
    act(&wo::ComplaintService::Stub::AcceptWorkOrder);
    act(&wo::ComplaintService::Stub::StartWork);
    wo::ResolveWorkOrderRequest resolve;
    resolve.set_work_order_id(order.id());
    resolve.mutable_resolution()->set_summary("重置终端账号");
    resolve.mutable_resolution()->add_actions(wo::RESOLUTION_ACTION_REPAIR);
    s = complaints->ResolveWorkOrder(Ctx("Q1", "agent", "D-Q").get(), resolve, &order);
    ASSERT_TRUE(s.ok()) << s.error_message();
    act(&wo::ComplaintService::Stub::StartFollowUp);
    wo::RecordFollowUpRequest follow;
    follow.set_work_order_id(order.id());
    follow.set_satisfaction(satisfaction);
    follow.set_note("季度回访");
    s = complaints->RecordFollowUp(Ctx("Q1", "agent", "D-Q").get(), follow, &order);
    ASSERT_TRUE(s.ok()) << s.error_message();
  };
  for (int weeks_ago = 7; weeks_ago >= 1; --weeks_ago) {
    ASSERT_TRUE(system_->RestartWith("complaints", {absl::StrCat("--clock_offset=-", weeks_ago * 7 * 24, "h")}));
    for (int satisfaction : {4, 5, 4}) serve(satisfaction);
    if (HasFatalFailure()) break;
  }
  ASSERT_TRUE(system_->Restart("complaints"));
  ASSERT_FALSE(HasFatalFailure());
  for (int satisfaction : {1, 1, 2}) serve(satisfaction);  // reopened, still being worked on
  ASSERT_FALSE(HasFatalFailure());

  // The control chart of follow-up satisfaction flags this week, and only this week.
  ppb::GetControlChartRequest chart_req;
  chart_req.set_measure(ppb::QUALITY_MEASURE_SATISFACTION);
  chart_req.set_department_id("D-Q");
  chart_req.set_end_date(today);
  chart_req.set_weeks(8);
  ppb::ControlChart chart;
  grpc::Status st;
  // Until performance has reconnected to the restarted complaints.
  ASSERT_TRUE(Eventually([&] {
    st = Performance()->GetControlChart(Ctx("QL", "department_manager", "D-Q").get(), chart_req, &chart);
    return st.ok();
  })) << st.error_message();
  EXPECT_EQ(chart.chart_type(), "xbar");
  ASSERT_EQ(chart.points_size(), 8);
  EXPECT_EQ(chart.out_of_control(), 1);
  EXPECT_EQ(chart.empty_weeks(), 0);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(chart.points(i).n(), 3) << chart.points(i).week();
    EXPECT_NEAR(chart.points(i).value(), 13.0 / 3, 1e-9) << chart.points(i).week();
    EXPECT_FALSE(chart.points(i).out_of_control()) << chart.points(i).week();
  }
  EXPECT_NEAR(chart.points(7).value(), 4.0 / 3, 1e-9);
  EXPECT_TRUE(chart.points(7).out_of_control());
  EXPECT_LT(chart.points(7).value(), chart.points(7).lower_limit());

  // The quarter's scorecard for D-Q: 24 work orders received, 21 closed, 21 of the 24
  // follow-ups satisfied.
  ppb::GetScorecardRequest card_req;
  card_req.set_subject_kind(ppb::SUBJECT_KIND_DEPARTMENT);
  card_req.set_subject_id("D-Q");
  absl::CivilDay day = absl::ToCivilDay(absl::Now(), absl::FixedTimeZone(8 * 3600));
  card_req.set_from(absl::FormatCivilTime(day - 55));
  card_req.set_to(today);
  ppb::Scorecard card;
  ASSERT_TRUE(Eventually([&] {
    st = Performance()->GetScorecard(Ctx("QL", "department_manager", "D-Q").get(), card_req, &card);
    return st.ok() && card.unavailable().empty();
  })) << st.error_message() << card.DebugString();
  std::map<std::string, ppb::ScorecardLine> lines;
  for (const auto& line : card.lines()) lines[line.component()] = line;
  EXPECT_DOUBLE_EQ(lines["complaints_handled"].value(), 21);
  EXPECT_EQ(lines["complaints_handled"].note(), "24 received, 21 closed");
  EXPECT_DOUBLE_EQ(lines["follow_up_satisfaction"].value(), 87.5);
  EXPECT_GT(card.total(), 0);

  // Targets against actuals: the company's quarter target for closed work orders is split
  // to D-Q short of the whole, and D-Q's actual comes from the scorecard.
  const std::string quarter =
      absl::StrCat(absl::FormatCivilTime(absl::CivilYear(day)), "-Q", (day.month() - 1) / 3 + 1);
  auto target = [&](int64_t parent, ppb::TargetLevel level, const std::string& subject, int64_t amount) {
    ppb::CreateTargetRequest req;
    auto* t = req.mutable_target();
    t->set_parent_id(parent);
    t->set_level(level);
    t->set_subject_id(subject);
    t->set_period(quarter);
    t->set_metric("closed_work_orders");
    t->set_target(amount);
    ppb::Target out;
    grpc::Status s = Performance()->CreateTarget(Ctx("MGR", "senior_manager", "D-Q").get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  };
  ppb::Target company = target(0, ppb::TARGET_LEVEL_COMPANY, "", 40);
  ppb::Target dq = target(company.id(), ppb::TARGET_LEVEL_DEPARTMENT, "D-Q", 30);
  ppb::RecordTargetActualRequest actual;
  actual.set_target_id(dq.id());
  actual.set_version(dq.version());
  actual.set_actual(static_cast<int64_t>(lines["complaints_handled"].value()));
  ppb::Target recorded;
  st = Performance()->RecordTargetActual(Ctx("QL", "department_manager", "D-Q").get(), actual, &recorded);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(recorded.actual(), 21);
  EXPECT_EQ(recorded.achievement_bp(), 7000);
  ppb::CheckTargetRollupRequest rollup_req;
  rollup_req.set_root_id(company.id());
  ppb::CheckTargetRollupResponse rollup;
  ASSERT_TRUE(Performance()->CheckTargetRollup(Ctx("MGR", "senior_manager", "D-Q").get(), rollup_req, &rollup).ok());
  ASSERT_EQ(rollup.violations_size(), 1);
  EXPECT_EQ(rollup.violations(0).parent_id(), company.id());
  EXPECT_EQ(rollup.violations(0).shortfall(), 10);

  // The 360 cycle: QL leads Q1..Q3, Q4 reports to Q3; superiors and subordinates rate
  // each other, and only aggregates of three or more raters come out.
  ppb::CreateEvaluationCycleRequest cycle_req;
  auto* c = cycle_req.mutable_cycle();
  c->set_name(absl::StrCat(quarter, " 360评估"));
  c->set_kind(ppb::CYCLE_KIND_QUARTERLY);
  c->set_period(quarter);
  c->set_department_id("D-Q");
  ppb::EvaluationCycle cycle;
  st = Performance()->CreateEvaluationCycle(Ctx("H1", "hr", "D-Q").get(), cycle_req, &cycle);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(cycle.assignments(), 8);
  std::vector<std::string> answers;  // everything a rater or ratee was shown
  auto rate = [&](const std::string& rater, const std::string& ratee, int score) {
    ppb::SubmitRatingRequest r;
    r.set_cycle_id(cycle.id());
    r.set_ratee_id(ratee);
    r.set_score(score);
    ppb::SubmitRatingResponse out;
    grpc::Status s = Performance()->SubmitRating(Ctx(rater, "agent", "D-Q").get(), r, &out);
    EXPECT_TRUE(s.ok()) << rater << " -> " << ratee << ": " << s.error_message();
    answers.push_back(out.DebugString());
  };
  rate("Q1", "QL", 4);
  rate("Q2", "QL", 5);
  rate("Q3", "QL", 3);
  rate("Q4", "Q3", 1);  // Q3's only subordinate
  rate("QL", "Q3", 5);
  rate("QL", "Q1", 4);
  ppb::ListMyEvaluationTasksRequest mine;
  mine.set_cycle_id(cycle.id());
  ppb::ListMyEvaluationTasksResponse tasks;
  ASSERT_TRUE(Performance()->ListMyEvaluationTasks(Ctx("Q4", "agent", "D-Q").get(), mine, &tasks).ok());
  ASSERT_EQ(tasks.tasks_size(), 1);
  EXPECT_EQ(tasks.tasks(0).ratee_id(), "Q3");
  EXPECT_EQ(tasks.tasks(0).relation(), ppb::RELATION_SUBORDINATE);
  EXPECT_TRUE(tasks.tasks(0).submitted());
  ppb::CloseEvaluationCycleRequest close;
  close.set_cycle_id(cycle.id());
  ASSERT_TRUE(Performance()->CloseEvaluationCycle(Ctx("H1", "hr", "D-Q").get(), close, &cycle).ok());
  EXPECT_EQ(cycle.submitted(), 6);
  EXPECT_EQ(cycle.completion_bp(), 7500);

  ppb::GetEvaluationResultRequest result_req;
  result_req.set_cycle_id(cycle.id());
  result_req.set_staff_id("QL");
  ppb::EvaluationResult result;
  ASSERT_TRUE(Performance()->GetEvaluationResult(Ctx("QL", "department_manager", "D-Q").get(), result_req, &result).ok());
  answers.push_back(result.DebugString());
  ASSERT_EQ(result.by_relation_size(), 1);
  EXPECT_EQ(result.by_relation(0).relation(), ppb::RELATION_SUBORDINATE);
  EXPECT_EQ(result.by_relation(0).raters(), 3);
  EXPECT_DOUBLE_EQ(result.by_relation(0).mean(), 4.0);
  result_req.set_staff_id("Q3");
  ASSERT_TRUE(Performance()->GetEvaluationResult(Ctx("QL", "department_manager", "D-Q").get(), result_req, &result).ok());
  answers.push_back(result.DebugString());
  std::map<ppb::Relation, ppb::RelationResult> by;
  for (const auto& r : result.by_relation()) by[r.relation()] = r;
  EXPECT_TRUE(by[ppb::RELATION_SUBORDINATE].withheld());
  EXPECT_FALSE(by[ppb::RELATION_SUBORDINATE].has_mean());
  EXPECT_DOUBLE_EQ(by[ppb::RELATION_SUPERIOR].mean(), 5.0);
  EXPECT_DOUBLE_EQ(result.overall(), 5.0);
  // Q4's rating of Q3 (1) shows nowhere, and no answer carries a single score.
  for (const auto& text : answers) {
    EXPECT_EQ(text.find("score"), std::string::npos) << text;
    EXPECT_EQ(text.find("mean: 1\n"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace kefu
