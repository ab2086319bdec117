// The performance service against real MariaDB, with the real customers, contracts
// and complaints services in-process and an injected clock: staff and departments,
// the target tree and its roll-up rule, plans and progress, scorecards pulled from the
// other services (and degraded when one is down), a 360 cycle that never exposes an
// individual rating, and a control chart with an out-of-control week.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/message_differencer.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "performance/src/repository.h"
#include "performance/src/service.h"
#include "support/complaints_fixture.h"
#include "support/contracts_fixture.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& PerformanceMigrations();

namespace kefu::performance {
namespace {

using ::grpc::StatusCode;
namespace cpb = ::kefu::customers::v1;
namespace ctr = ::kefu::contracts::v1;
namespace wo = ::kefu::complaints::v1;

const absl::TimeZone kZone = absl::FixedTimeZone(8 * 3600);

absl::Time At(int y, int m, int d, int h = 10) { return absl::FromCivil(absl::CivilHour(y, m, d, h), kZone); }

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& actor = "E1001", const std::string& roles = "",
                                         const std::string& department = "svc") {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  // Staff of these tests work in department "svc".
  kefu::testing::Authorize(ctx.get(), actor, roles.empty() ? "senior_manager" : roles, department);
  return ctx;
}

std::string ReasonOf(const grpc::Status& s) { return kefu::ReasonOf(FromGrpcStatus(s)); }

class PerformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("performance-test", log::Level::kError);
    clock_ = new FakeClock(At(2027, 3, 1));
    customers_ = new testing::CustomersFixture(clock_);
    contracts_ = new testing::ContractsFixture(clock_, customers_->channel());
    complaints_ = new testing::ComplaintsFixture(clock_, customers_->channel());
    static ChannelPool channels;
    contracts_channel_ = new std::shared_ptr<grpc::Channel>(channels.Get(absl::StrCat("127.0.0.1:", contracts_->port())));
    db_ = new db::Config(testing::CreateSchema("perf"));
    ServerOptions o;
    o.token_verifier = kefu::testing::TestVerifier();
    o.service_token_verifier = kefu::testing::TestServiceVerifier();
    kefu::testing::UseTestServiceIdentity();
    o.service_name = "performance";
    o.listen_host = "127.0.0.1";
    o.metrics_port = -1;
    o.db = *db_;
    o.health_interval = absl::Milliseconds(100);
    server_ = new Server(o);
    repo_ = new Repository(&server_->pool(), clock_);
    static prometheus::Registry registry;
    metrics_ = new BusinessMetrics(registry);
    ServiceConfig config;
    config.peers = {customers_->channel(), *contracts_channel_, complaints_->channel(), absl::Seconds(2)};
    config.zone = kZone;
    service_ = new PerformanceServiceImpl(repo_, &server_->pool(), metrics_, clock_, config);
    server_->AddService(service_, pb::PerformanceService::service_full_name());
    ASSERT_TRUE(server_->Start(PerformanceMigrations()).ok());
    for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
    SeedOrganisation();
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    delete complaints_;
    delete contracts_;
    delete customers_;
    testing::DropSchema(*db_);
  }

  static std::unique_ptr<pb::PerformanceService::Stub> Stub() { return pb::PerformanceService::NewStub(*channel_); }

  static void Department(const std::string& id, const std::string& name, const std::string& parent) {
    pb::CreateDepartmentRequest req;
    req.mutable_department()->set_id(id);
    req.mutable_department()->set_name(name);
    req.mutable_department()->set_parent_id(parent);
    pb::Department out;
    grpc::Status s = Stub()->CreateDepartment(Ctx("H1", "hr").get(), req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  static pb::Staff NewStaff(const std::string& id, const std::string& name, const std::string& dept,
                            const std::string& superior, pb::Role role = pb::ROLE_AGENT) {
    pb::CreateStaffRequest req;
    auto* s = req.mutable_staff();
    s->set_id(id);
    s->set_employee_number("EMP-" + id);
    s->set_name(name);
    s->set_department_id(dept);
    s->set_superior_id(superior);
    s->set_role(role);
    s->set_position("客服专员");
    s->set_phone("13800138000");
    pb::Staff out;
    grpc::Status st = Stub()->CreateStaff(Ctx("H1", "hr").get(), req, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  }

  // 客服中心 (svc) with 北区 (svc-n); M manages A, B, C and N; N manages D.
  static void SeedOrganisation() {
    Department("svc", "客服中心", "");
    Department("svc-n", "客服北区", "svc");
    Department("sales", "销售部", "");
    NewStaff("M", "王经理", "svc", "", pb::ROLE_DEPARTMENT_MANAGER);
    NewStaff("A", "张三", "svc", "M");
    NewStaff("B", "李四", "svc", "M");
    NewStaff("C", "赵五", "svc", "M");
    NewStaff("N", "钱组长", "svc-n", "M", pb::ROLE_DEPARTMENT_MANAGER);
    NewStaff("D", "孙六", "svc-n", "N");
    NewStaff("S", "周销售", "sales", "", pb::ROLE_ACCOUNT_MANAGER);
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
  static testing::ContractsFixture* contracts_;
  static testing::ComplaintsFixture* complaints_;
  static std::shared_ptr<grpc::Channel>* contracts_channel_;
  static db::Config* db_;
  static Server* server_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static PerformanceServiceImpl* service_;
  static std::shared_ptr<grpc::Channel>* channel_;
};

FakeClock* PerformanceTest::clock_;
testing::CustomersFixture* PerformanceTest::customers_;
testing::ContractsFixture* PerformanceTest::contracts_;
testing::ComplaintsFixture* PerformanceTest::complaints_;
std::shared_ptr<grpc::Channel>* PerformanceTest::contracts_channel_;
db::Config* PerformanceTest::db_;
Server* PerformanceTest::server_;
Repository* PerformanceTest::repo_;
BusinessMetrics* PerformanceTest::metrics_;
PerformanceServiceImpl* PerformanceTest::service_;
std::shared_ptr<grpc::Channel>* PerformanceTest::channel_;

// ---------------------------------------------------------------- staff

TEST_F(PerformanceTest, StaffProfilesKeepTheirReportingLinesSound) {
  pb::Staff a;
  ASSERT_TRUE(Stub()->GetStaff(Ctx().get(), [] { pb::GetStaffRequest r; r.set_staff_id("A"); return r; }(), &a).ok());
  EXPECT_EQ(a.name(), "张三");
  EXPECT_EQ(a.superior_id(), "M");
  EXPECT_EQ(a.status(), pb::STAFF_STATUS_ACTIVE);

  pb::CreateStaffRequest req;
  auto* s = req.mutable_staff();
  s->set_id("X1");
  s->set_employee_number("EMP-X1");
  s->set_name("新人");
  s->set_department_id("svc");
  s->set_role(pb::ROLE_AGENT);
  s->add_training()->set_course("投诉处理规范");
  s->mutable_training(0)->set_completed_on("2027-02-01");
  pb::Staff out;
  // Only HR or senior managers shape the organisation.
  EXPECT_EQ(Stub()->CreateStaff(Ctx("A", "agent").get(), req, &out).error_code(), StatusCode::PERMISSION_DENIED);
  s->set_department_id("nowhere");
  grpc::Status st = Stub()->CreateStaff(Ctx("H1", "hr").get(), req, &out);
  EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(st), "UNKNOWN_DEPARTMENT");
  s->set_department_id("svc");
  s->set_email("not-an-email");
  st = Stub()->CreateStaff(Ctx("H1", "hr").get(), req, &out);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("staff.email"), std::string::npos) << st.error_message();
  s->clear_email();
  req.set_request_id("create-x1");
  ASSERT_TRUE(Stub()->CreateStaff(Ctx("H1", "hr").get(), req, &out).ok());
  ASSERT_EQ(out.training_size(), 1);
  // A retry replays; a different person with the same id is refused.
  pb::Staff again;
  ASSERT_TRUE(Stub()->CreateStaff(Ctx("H1", "hr").get(), req, &again).ok());
  EXPECT_EQ(again.id(), "X1");
  req.clear_request_id();
  EXPECT_EQ(Stub()->CreateStaff(Ctx("H1", "hr").get(), req, &out).error_code(), StatusCode::ALREADY_EXISTS);

  // M reporting to D (who reports to N, who reports to M) would close a loop.
  pb::UpdateStaffRequest up;
  pb::Staff m;
  ASSERT_TRUE(Stub()->GetStaff(Ctx().get(), [] { pb::GetStaffRequest r; r.set_staff_id("M"); return r; }(), &m).ok());
  *up.mutable_staff() = m;
  up.mutable_staff()->set_superior_id("D");
  up.mutable_update_mask()->add_paths("superior_id");
  st = Stub()->UpdateStaff(Ctx("H1", "hr").get(), up, &out);
  EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(st), "REPORTING_CYCLE");
  // A stale version is ABORTED.
  up.mutable_staff()->set_superior_id("");
  up.mutable_staff()->set_position("客服总监");
  up.mutable_update_mask()->Clear();
  up.mutable_update_mask()->add_paths("position");
  ASSERT_TRUE(Stub()->UpdateStaff(Ctx("H1", "hr").get(), up, &out).ok());
  EXPECT_EQ(out.position(), "客服总监");
  EXPECT_EQ(out.superior_id(), "");
  EXPECT_EQ(Stub()->UpdateStaff(Ctx("H1", "hr").get(), up, &out).error_code(), StatusCode::ABORTED);

  // Leaving makes a staff id inactive for the other services.
  pb::UpdateStaffRequest leave;
  ASSERT_TRUE(Stub()->GetStaff(Ctx().get(), [] { pb::GetStaffRequest r; r.set_staff_id("X1"); return r; }(),
                               leave.mutable_staff()).ok());
  leave.mutable_staff()->set_status(pb::STAFF_STATUS_LEFT);
  leave.mutable_update_mask()->add_paths("status");
  ASSERT_TRUE(Stub()->UpdateStaff(Ctx("H1", "hr").get(), leave, &out).ok());
  pb::CheckStaffRequest check;
  for (const char* id : {"A", "X1", "ghost", "A"}) check.add_staff_ids(id);
  pb::CheckStaffResponse checked;
  ASSERT_TRUE(Stub()->CheckStaff(Ctx().get(), check, &checked).ok());
  EXPECT_EQ(std::vector<std::string>(checked.active_ids().begin(), checked.active_ids().end()),
            std::vector<std::string>({"A"}));
  EXPECT_EQ(std::vector<std::string>(checked.unknown_or_inactive_ids().begin(), checked.unknown_or_inactive_ids().end()),
            std::vector<std::string>({"X1", "ghost"}));
}

TEST_F(PerformanceTest, DepartmentsListParentsBeforeChildrenAndStaffPages) {
  pb::ListDepartmentsRequest req;
  pb::ListDepartmentsResponse resp;
  ASSERT_TRUE(Stub()->ListDepartments(Ctx().get(), req, &resp).ok());
  std::vector<std::string> ids;
  for (const auto& d : resp.departments()) ids.push_back(d.id());
  EXPECT_EQ(ids, std::vector<std::string>({"sales", "svc", "svc-n"}));
  req.set_root_id("svc-n");
  ASSERT_TRUE(Stub()->ListDepartments(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.departments_size(), 1);
  EXPECT_EQ(resp.departments(0).id(), "svc-n");
  req.set_root_id("nowhere");
  EXPECT_EQ(Stub()->ListDepartments(Ctx().get(), req, &resp).error_code(), StatusCode::NOT_FOUND);

  pb::ListStaffRequest list;
  list.set_superior_id("M");
  list.set_page_size(2);
  std::vector<std::string> reports;
  for (int page = 0; page < 5; ++page) {
    pb::ListStaffResponse r;
    ASSERT_TRUE(Stub()->ListStaff(Ctx().get(), list, &r).ok());
    for (const auto& s : r.staff()) reports.push_back(s.id());
    if (r.next_page_token().empty()) break;
    list.set_page_token(r.next_page_token());
  }
  EXPECT_EQ(reports, std::vector<std::string>({"A", "B", "C", "N"}));
  list.set_superior_id("B");  // a token from other filters is refused
  pb::ListStaffResponse r;
  EXPECT_EQ(Stub()->ListStaff(Ctx().get(), list, &r).error_code(), StatusCode::INVALID_ARGUMENT);
}

// ---------------------------------------------------------------- targets

TEST_F(PerformanceTest, TargetTreeReportsChildrenThatFallShortUntilARevisionIsApproved) {
  auto create = [&](int64_t parent, pb::TargetLevel level, const std::string& subject, const std::string& period,
                    int64_t target, grpc::Status* status = nullptr) {
    pb::CreateTargetRequest req;
    auto* t = req.mutable_target();
    t->set_parent_id(parent);
    t->set_level(level);
    t->set_subject_id(subject);
    t->set_period(period);
    t->set_metric("revenue");
    t->set_target(target);
    pb::Target out;
    grpc::Status s = Stub()->CreateTarget(Ctx("M", "department_manager").get(), req, &out);
    if (status) *status = s;
    else EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  };
  pb::Target company = create(0, pb::TARGET_LEVEL_COMPANY, "", "2027", 1000);
  pb::Target svc = create(company.id(), pb::TARGET_LEVEL_DEPARTMENT, "svc", "2027", 600);
  pb::Target sales = create(company.id(), pb::TARGET_LEVEL_DEPARTMENT, "sales", "2027", 300);
  create(svc.id(), pb::TARGET_LEVEL_PERSON, "A", "2027", 400);
  create(svc.id(), pb::TARGET_LEVEL_PERSON, "B", "2027", 250);
  pb::Target q1 = create(sales.id(), pb::TARGET_LEVEL_DEPARTMENT, "sales", "2027-Q1", 50);

  grpc::Status s;
  create(q1.id(), pb::TARGET_LEVEL_PERSON, "S", "2027-04", 10, &s);  // April is outside Q1
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(s), "TARGET_NOT_A_CHILD");
  create(svc.id(), pb::TARGET_LEVEL_COMPANY, "", "2027-Q1", 10, &s);  // above its parent's level
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  create(0, pb::TARGET_LEVEL_COMPANY, "", "2027-Q5", 10, &s);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("target.period"), std::string::npos);
  pb::CreateTargetRequest by_agent;
  *by_agent.mutable_target() = company;
  pb::Target ignored;
  EXPECT_EQ(Stub()->CreateTarget(Ctx("A", "agent").get(), by_agent, &ignored).error_code(),
            StatusCode::PERMISSION_DENIED);

  pb::CheckTargetRollupRequest check;
  check.set_root_id(company.id());
  pb::CheckTargetRollupResponse rollup;
  ASSERT_TRUE(Stub()->CheckTargetRollup(Ctx().get(), check, &rollup).ok());
  EXPECT_EQ(rollup.targets_checked(), 6);
  // company 1000 > 600 + 300; sales 300 > its Q1 50; svc 600 <= 400 + 250.
  ASSERT_EQ(rollup.violations_size(), 2);
  std::map<int64_t, int64_t> shortfall;
  for (const auto& v : rollup.violations()) shortfall[v.parent_id()] = v.shortfall();
  EXPECT_EQ(shortfall[company.id()], 100);
  EXPECT_EQ(shortfall[sales.id()], 250);

  // An approved revision of the sales target exempts it.
  pb::ReviseTargetRequest revise;
  revise.set_target_id(sales.id());
  revise.set_version(sales.version());
  revise.set_new_target(50);
  revise.set_reason("市场萎缩，经批准下调");
  pb::Target revised;
  EXPECT_EQ(Stub()->ReviseTarget(Ctx("A", "agent").get(), revise, &revised).error_code(),
            StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Stub()->ReviseTarget(Ctx("M", "senior_manager").get(), revise, &revised).ok());
  EXPECT_TRUE(revised.exempt());
  EXPECT_EQ(revised.revision_approved_by(), "M");
  EXPECT_EQ(Stub()->ReviseTarget(Ctx("M", "senior_manager").get(), revise, &revised).error_code(),
            StatusCode::ABORTED);
  ASSERT_TRUE(Stub()->CheckTargetRollup(Ctx().get(), check, &rollup).ok());
  ASSERT_EQ(rollup.violations_size(), 1);
  EXPECT_EQ(rollup.violations(0).parent_id(), company.id());
  EXPECT_EQ(rollup.violations(0).children_sum(), 600);  // the exempt sales target no longer counts

  pb::RecordTargetActualRequest actual;
  actual.set_target_id(svc.id());
  actual.set_version(svc.version());
  actual.set_actual(450);
  pb::Target recorded;
  ASSERT_TRUE(Stub()->RecordTargetActual(Ctx("M", "department_manager").get(), actual, &recorded).ok());
  EXPECT_EQ(recorded.achievement_bp(), 7500);

  pb::ListTargetsRequest list;
  list.set_parent_id(svc.id());
  pb::ListTargetsResponse children;
  ASSERT_TRUE(Stub()->ListTargets(Ctx().get(), list, &children).ok());
  EXPECT_EQ(children.targets_size(), 2);
}

// ---------------------------------------------------------------- plans

TEST_F(PerformanceTest, PlansTrackExecutionAgainstTargetAndMinimum) {
  pb::CreatePlanRequest req;
  auto* p = req.mutable_plan();
  p->set_title("三月重点客户拜访");
  p->set_type(pb::PLAN_TYPE_CUSTOMER_VISIT);
  p->set_assignee_kind(pb::ASSIGNEE_KIND_PERSON);
  p->set_assignee_id("B");
  p->set_start_date("2027-03-01");
  p->set_end_date("2027-04-30");
  p->set_target_count(10);
  p->set_minimum_count(6);
  p->mutable_planned_cost()->set_amount_minor(500000);
  p->set_purpose("了解续约意向");
  pb::Plan plan;
  p->set_minimum_count(11);
  grpc::Status s = Stub()->CreatePlan(Ctx().get(), req, &plan);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("plan.minimum_count"), std::string::npos);
  p->set_minimum_count(6);
  p->set_assignee_id("ghost");
  EXPECT_EQ(Stub()->CreatePlan(Ctx().get(), req, &plan).error_code(), StatusCode::FAILED_PRECONDITION);
  p->set_assignee_id("B");
  ASSERT_TRUE(Stub()->CreatePlan(Ctx().get(), req, &plan).ok());
  EXPECT_EQ(plan.planned_cost().currency_code(), "CNY");
  EXPECT_EQ(plan.status(), pb::PLAN_STATUS_ACTIVE);

  auto record = [&](const std::string& day, int64_t count, int64_t cost, const std::string& request_id = "") {
    pb::RecordPlanExecutionRequest r;
    r.set_plan_id(plan.id());
    r.set_date(day);
    r.set_count(count);
    r.mutable_cost()->set_amount_minor(cost);
    r.set_request_id(request_id);
    pb::Plan out;
    grpc::Status st = Stub()->RecordPlanExecution(Ctx("B").get(), r, &out);
    return std::make_pair(st, out);
  };
  ASSERT_TRUE(record("2027-03-05", 3, 60000, "visit-1").first.ok());
  ASSERT_TRUE(record("2027-03-05", 3, 60000, "visit-1").first.ok());  // a retry counts once
  auto [st, after] = record("2027-04-02", 2, 40000);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(after.actual_count(), 5);
  EXPECT_EQ(after.progress_bp(), 5000);
  EXPECT_FALSE(after.minimum_met());
  EXPECT_EQ(after.actual_cost().amount_minor(), 100000);
  EXPECT_EQ(record("2027-05-01", 1, 0).first.error_code(), StatusCode::FAILED_PRECONDITION);  // after the plan

  pb::GetPlanProgressRequest progress;
  progress.set_assignee_kind(pb::ASSIGNEE_KIND_PERSON);
  progress.set_assignee_id("B");
  progress.set_from("2027-03-01");
  progress.set_to("2027-04-30");
  pb::PlanProgress prog;
  ASSERT_TRUE(Stub()->GetPlanProgress(Ctx().get(), progress, &prog).ok());
  EXPECT_EQ(prog.plans(), 1);
  EXPECT_EQ(prog.actual_count(), 5);
  EXPECT_EQ(prog.progress_bp(), 5000);
  EXPECT_EQ(prog.plans_minimum_met(), 0);
  ASSERT_EQ(prog.periods_size(), 2);
  EXPECT_EQ(prog.periods(0).period(), "2027-03");
  EXPECT_EQ(prog.periods(0).actual_count(), 3);
  EXPECT_EQ(prog.periods(1).period(), "2027-04");
  EXPECT_EQ(prog.periods(1).actual_cost_minor(), 40000);
  progress.set_to("2027-02-01");
  EXPECT_EQ(Stub()->GetPlanProgress(Ctx().get(), progress, &prog).error_code(), StatusCode::INVALID_ARGUMENT);

  pb::CancelPlanRequest cancel;
  cancel.set_plan_id(plan.id());
  cancel.set_version(1);
  pb::Plan cancelled;
  EXPECT_EQ(Stub()->CancelPlan(Ctx().get(), cancel, &cancelled).error_code(), StatusCode::ABORTED);
  cancel.set_version(after.version());
  ASSERT_TRUE(Stub()->CancelPlan(Ctx().get(), cancel, &cancelled).ok());
  EXPECT_EQ(record("2027-04-03", 1, 0).first.error_code(), StatusCode::FAILED_PRECONDITION);
}

// ---------------------------------------------------------------- scorecards

TEST_F(PerformanceTest, ScorecardPullsFiguresFromEveryServiceAndSaysWhichAreMissing) {
  // S owns two customers; one moves up a tier in March. S signs a 2,000,000.00 CNY
  // sales contract and a 60,000.00 service contract in March; a work order is handled.
  clock_->Set(At(2027, 3, 2));
  auto customers = cpb::CustomerService::NewStub(customers_->channel());
  std::vector<cpb::Customer> owned;
  for (int i = 0; i < 2; ++i) {
    cpb::CreateCustomerRequest req;
    req.mutable_customer()->set_kind(cpb::CUSTOMER_KIND_ORGANIZATION);
    req.mutable_customer()->set_name(absl::StrCat("评分客户", i));
    req.mutable_customer()->set_tier(cpb::TIER_SILVER);
    req.mutable_customer()->set_owner_id("S");
    req.mutable_customer()->set_department_id("sales");
    cpb::Customer c;
    ASSERT_TRUE(customers->CreateCustomer(Ctx("S").get(), req, &c).ok());
    owned.push_back(c);
  }
  cpb::ChangeTierRequest tier;
  tier.set_customer_id(owned[0].id());
  tier.set_tier(cpb::TIER_GOLD);
  tier.set_reason("年采购额达到金牌标准");
  tier.set_version(owned[0].version());
  cpb::Customer upgraded;
  ASSERT_TRUE(customers->ChangeTier(Ctx("S", "account_manager", "sales").get(), tier, &upgraded).ok());

  clock_->Set(At(2027, 3, 6));
  auto contracts = ctr::ContractService::NewStub(*contracts_channel_);
  auto sign = [&](ctr::ContractType type, int64_t amount) {
    ctr::CreateContractRequest create;
    auto* c = create.mutable_contract();
    c->set_customer_id(owned[1].id());
    c->set_name("年度合同");
    c->set_type(type);
    c->mutable_amount()->set_currency_code("CNY");
    c->mutable_amount()->set_amount_minor(amount);
    c->set_effective_date("2027-03-10");
    c->set_expiry_date("2028-03-09");
    c->set_owner_id("S");
    c->set_department_id("sales");
    ctr::Contract contract;
    ASSERT_TRUE(contracts->CreateContract(Ctx("S").get(), create, &contract).ok());
    ctr::ContractActionRequest submit;
    submit.set_contract_id(contract.id());
    ASSERT_TRUE(contracts->SubmitForReview(Ctx("S").get(), submit, &contract).ok());
    for (const char* role : {"department_manager", "senior_manager", "senior_manager"}) {
      if (contract.status() != ctr::CONTRACT_STATUS_IN_REVIEW) break;
      ctr::RecordApprovalRequest approve;
      approve.set_contract_id(contract.id());
      approve.set_decision(ctr::DECISION_PASS);
      grpc::Status st = contracts->RecordApproval(Ctx("M", role).get(), approve, &contract);
      if (!st.ok()) {
        ASSERT_EQ(st.error_code(), StatusCode::PERMISSION_DENIED) << st.error_message();
      }
    }
    ASSERT_EQ(contract.status(), ctr::CONTRACT_STATUS_APPROVED);
    ctr::SignContractRequest signing;
    signing.set_contract_id(contract.id());
    signing.set_signing_date("2027-03-05");
    grpc::Status st = contracts->SignContract(Ctx("S").get(), signing, &contract);
    ASSERT_TRUE(st.ok()) << st.error_message();
  };
  sign(ctr::CONTRACT_TYPE_SALES, 200'000'000);
  sign(ctr::CONTRACT_TYPE_SERVICE_CONTRACT, 6'000'000);

  auto complaints = wo::ComplaintService::NewStub(complaints_->channel());
  wo::CreateWorkOrderRequest order;
  auto* w = order.mutable_work_order();
  w->set_customer_id(owned[1].id());
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
  w->set_severity(wo::SEVERITY_GENERAL);
  w->set_content("设备报警");
  w->set_handler_id("S");
  w->set_department_id("sales");
  wo::WorkOrder created;
  grpc::Status cs = complaints->CreateWorkOrder(Ctx("S", "agent", "sales").get(), order, &created);
  ASSERT_TRUE(cs.ok()) << cs.error_message();

  pb::GetScorecardRequest req;
  req.set_subject_kind(pb::SUBJECT_KIND_PERSON);
  req.set_subject_id("S");
  req.set_from("2027-03-01");
  req.set_to("2027-03-31");
  pb::Scorecard card;
  grpc::Status st = Stub()->GetScorecard(Ctx("M", "department_manager").get(), req, &card);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::map<std::string, pb::ScorecardLine> lines;
  for (const auto& l : card.lines()) lines[l.component()] = l;
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_TRUE(card.unavailable().empty());
  EXPECT_DOUBLE_EQ(lines["new_business"].value(), 2'000'000.0);
  EXPECT_EQ(lines["new_business"].source(), "contracts");
  EXPECT_DOUBLE_EQ(lines["service_revenue"].value(), 60'000.0);
  EXPECT_DOUBLE_EQ(lines["tier_net_change"].value(), 1.0);
  EXPECT_DOUBLE_EQ(lines["churned_customers"].value(), 0.0);
  EXPECT_DOUBLE_EQ(lines["complaints_handled"].value(), 0.0);
  EXPECT_NE(lines["complaints_handled"].note().find("1 received"), std::string::npos);
  EXPECT_EQ(lines["plan_progress"].weight(), 0);  // S has no plans: shown, not weighted
  // A month of new business at the default 100,000 yuan target is capped at 120%.
  EXPECT_NEAR(lines["new_business"].target(), 100000.0 * 31 / (365.25 / 12), 1e-6);
  EXPECT_DOUBLE_EQ(lines["new_business"].achievement(), 1.2);
  double total = 0;
  for (const auto& l : card.lines()) total += l.points();
  EXPECT_NEAR(card.total(), total, 1e-9);

  // Complaints down: its components are named unavailable, the rest still scores.
  complaints_->Stop();
  st = Stub()->GetScorecard(Ctx("M", "department_manager").get(), req, &card);
  complaints_->Start();
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::set<std::string> missing(card.unavailable().begin(), card.unavailable().end());
  EXPECT_EQ(missing, std::set<std::string>({"follow_up_satisfaction", "complaints_handled", "overdue_rate",
                                            "escalated"}));
  EXPECT_GT(card.total(), 0);
  for (const auto& l : card.lines())
    if (l.component() == "escalated") {
      EXPECT_NE(l.note().find("complaints did not answer"), std::string::npos);
    }

  // Weights are configurable, with optimistic concurrency.
  pb::ScorecardPolicy policy;
  ASSERT_TRUE(Stub()->GetScorecardPolicy(Ctx().get(), {}, &policy).ok());
  EXPECT_EQ(policy.version(), 0);
  pb::UpdateScorecardPolicyRequest update;
  *update.mutable_policy() = policy;
  for (auto& c : *update.mutable_policy()->mutable_components()) c.set_weight(c.component() == "new_business" ? 1 : 0);
  pb::ScorecardPolicy saved;
  EXPECT_EQ(Stub()->UpdateScorecardPolicy(Ctx("A", "agent").get(), update, &saved).error_code(),
            StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Stub()->UpdateScorecardPolicy(Ctx("H1", "hr").get(), update, &saved).ok());
  EXPECT_EQ(saved.version(), 1);
  EXPECT_EQ(Stub()->UpdateScorecardPolicy(Ctx("H1", "hr").get(), update, &saved).error_code(), StatusCode::ABORTED);
  ASSERT_TRUE(Stub()->GetScorecard(Ctx().get(), req, &card).ok());
  EXPECT_DOUBLE_EQ(card.total(), 120.0);  // only new business counts now, capped at 120%
  EXPECT_EQ(card.policy_version(), 1);
  update.mutable_policy()->set_version(1);
  update.mutable_policy()->mutable_components(0)->set_component("bogus");
  grpc::Status bad = Stub()->UpdateScorecardPolicy(Ctx("H1", "hr").get(), update, &saved);
  EXPECT_EQ(bad.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("policy.components[0].component"), std::string::npos) << bad.error_message();

  req.set_subject_id("ghost");
  EXPECT_EQ(Stub()->GetScorecard(Ctx().get(), req, &card).error_code(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- staff ids elsewhere

TEST_F(PerformanceTest, OtherServicesHandWorkOnlyToActiveStaff) {
  customers::Peers peers;
  peers.performance = *channel_;
  peers.timeout = absl::Seconds(2);
  testing::CustomersFixture checked_customers(clock_, peers);
  int64_t id = checked_customers.CreateCustomer("交接客户", cpb::TIER_SILVER);
  auto stub = cpb::CustomerService::NewStub(checked_customers.channel());
  cpb::ReassignOwnerRequest reassign;
  reassign.set_customer_id(id);
  reassign.set_new_owner_id("ghost");
  reassign.set_reason("客户经理离职");
  cpb::Customer out;
  grpc::Status st = stub->ReassignOwner(Ctx("M", "senior_manager").get(), reassign, &out);
  EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(st), "UNKNOWN_STAFF");
  EXPECT_NE(st.error_message().find("new_owner_id"), std::string::npos);
  reassign.set_new_owner_id("D");
  st = stub->ReassignOwner(Ctx("M", "senior_manager").get(), reassign, &out);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(out.owner_id(), "D");
  cpb::TransferPortfolioRequest transfer;
  transfer.set_from_owner_id("D");
  transfer.set_to_owner_id("nobody");
  cpb::TransferPortfolioResponse moved;
  EXPECT_EQ(stub->TransferPortfolio(Ctx("M", "department_manager").get(), transfer, &moved).error_code(),
            StatusCode::FAILED_PRECONDITION);

  testing::ComplaintsFixture checked_complaints(clock_, checked_customers.channel(), 0, *channel_);
  auto complaints = wo::ComplaintService::NewStub(checked_complaints.channel());
  wo::CreateWorkOrderRequest create;
  auto* w = create.mutable_work_order();
  w->set_customer_id(id);
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_CONSULTATION);
  w->set_severity(wo::SEVERITY_MINOR);
  w->set_content("咨询保修政策");
  wo::WorkOrder order;
  ASSERT_TRUE(complaints->CreateWorkOrder(Ctx("A", "agent").get(), create, &order).ok());
  wo::AssignWorkOrderRequest assign;
  assign.set_work_order_id(order.id());
  assign.set_handler_id("ghost");
  st = complaints->AssignWorkOrder(Ctx("M", "department_manager").get(), assign, &order);
  EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(st), "UNKNOWN_STAFF");
  assign.set_handler_id("B");
  st = complaints->AssignWorkOrder(Ctx("M", "department_manager").get(), assign, &order);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(order.handler_id(), "B");
}

// ---------------------------------------------------------------- 360 evaluation

// Every message any RPC of the service returns, recursively, has no field that could
// carry an individual rating or who gave it.
TEST(PerformanceApi, NoResponseTypeCanCarryAnIndividualRating) {
  const auto* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(pb::PerformanceService::service_full_name());
  ASSERT_NE(service, nullptr);
  std::set<const google::protobuf::Descriptor*> seen;
  std::function<void(const google::protobuf::Descriptor*)> walk = [&](const google::protobuf::Descriptor* d) {
    if (!seen.insert(d).second) return;
    for (int i = 0; i < d->field_count(); ++i) {
      const auto* f = d->field(i);
      EXPECT_NE(f->name(), "score") << d->full_name();
      EXPECT_NE(f->name(), "rater_id") << d->full_name();
      EXPECT_NE(f->name(), "ratings") << d->full_name();
      if (f->message_type()) walk(f->message_type());
    }
  };
  for (int i = 0; i < service->method_count(); ++i) walk(service->method(i)->output_type());
  EXPECT_GT(seen.size(), 20u);
}

TEST_F(PerformanceTest, EvaluationCyclePublishesAggregatesOnlyAndWithholdsSmallGroups) {
  pb::CreateEvaluationCycleRequest create;
  auto* c = create.mutable_cycle();
  c->set_name("2027年第一季度360评估");
  c->set_kind(pb::CYCLE_KIND_QUARTERLY);
  c->set_period("2027");
  pb::EvaluationCycle cycle;
  grpc::Status st = Stub()->CreateEvaluationCycle(Ctx("H1", "hr").get(), create, &cycle);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);  // a quarterly cycle needs a quarter
  c->set_period("2027-Q1");
  c->set_department_id("svc");
  EXPECT_EQ(Stub()->CreateEvaluationCycle(Ctx("M", "department_manager").get(), create, &cycle).error_code(),
            StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Stub()->CreateEvaluationCycle(Ctx("H1", "hr").get(), create, &cycle).ok());
  // svc and svc-n: M rates A, B, C, N and they rate M (8); N and D rate each other (2).
  EXPECT_EQ(cycle.assignments(), 10);
  EXPECT_EQ(cycle.status(), pb::CYCLE_STATUS_OPEN);

  pb::ListMyEvaluationTasksRequest mine;
  mine.set_cycle_id(cycle.id());
  pb::ListMyEvaluationTasksResponse tasks;
  ASSERT_TRUE(Stub()->ListMyEvaluationTasks(Ctx("N").get(), mine, &tasks).ok());
  ASSERT_EQ(tasks.tasks_size(), 2);
  EXPECT_EQ(tasks.tasks(0).ratee_id(), "D");
  EXPECT_EQ(tasks.tasks(0).relation(), pb::RELATION_SUPERIOR);
  EXPECT_EQ(tasks.tasks(1).ratee_id(), "M");
  EXPECT_EQ(tasks.tasks(1).relation(), pb::RELATION_SUBORDINATE);

  std::vector<std::string> responses;  // everything the service answered, to search later
  auto rate = [&](const std::string& rater, const std::string& ratee, int score) {
    pb::SubmitRatingRequest r;
    r.set_cycle_id(cycle.id());
    r.set_ratee_id(ratee);
    r.set_score(score);
    pb::SubmitRatingResponse out;
    grpc::Status s = Stub()->SubmitRating(Ctx(rater).get(), r, &out);
    responses.push_back(out.DebugString());
    return s;
  };
  pb::GetEvaluationResultRequest get;
  get.set_cycle_id(cycle.id());
  get.set_staff_id("M");
  pb::EvaluationResult result;
  EXPECT_EQ(Stub()->GetEvaluationResult(Ctx().get(), get, &result).error_code(), StatusCode::FAILED_PRECONDITION);

  ASSERT_TRUE(rate("A", "M", 5).ok());
  ASSERT_TRUE(rate("A", "M", 4).ok());  // replaces the first while open
  ASSERT_TRUE(rate("B", "M", 5).ok());
  ASSERT_TRUE(rate("C", "M", 3).ok());
  ASSERT_TRUE(rate("N", "M", 2).ok());
  ASSERT_TRUE(rate("D", "N", 1).ok());  // N's only subordinate
  ASSERT_TRUE(rate("M", "N", 5).ok());
  ASSERT_TRUE(rate("M", "A", 4).ok());
  EXPECT_EQ(rate("A", "B", 5).error_code(), StatusCode::FAILED_PRECONDITION);  // peers not included
  EXPECT_EQ(rate("A", "M", 6).error_code(), StatusCode::INVALID_ARGUMENT);
  pb::SubmitRatingRequest anonymous;
  anonymous.set_cycle_id(cycle.id());
  anonymous.set_ratee_id("M");
  anonymous.set_score(3);
  pb::SubmitRatingResponse ignored;
  grpc::ClientContext no_identity;
  EXPECT_EQ(Stub()->SubmitRating(&no_identity, anonymous, &ignored).error_code(), StatusCode::UNAUTHENTICATED);

  pb::GetEvaluationCycleRequest get_cycle;
  get_cycle.set_cycle_id(cycle.id());
  ASSERT_TRUE(Stub()->GetEvaluationCycle(Ctx().get(), get_cycle, &cycle).ok());
  EXPECT_EQ(cycle.submitted(), 7);
  EXPECT_EQ(cycle.completion_bp(), 7000);

  pb::CloseEvaluationCycleRequest close;
  close.set_cycle_id(cycle.id());
  EXPECT_EQ(Stub()->CloseEvaluationCycle(Ctx("A", "agent").get(), close, &cycle).error_code(),
            StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Stub()->CloseEvaluationCycle(Ctx("H1", "hr").get(), close, &cycle).ok());
  EXPECT_EQ(cycle.status(), pb::CYCLE_STATUS_CLOSED);
  EXPECT_EQ(Stub()->CloseEvaluationCycle(Ctx("H1", "hr").get(), close, &cycle).error_code(),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(rate("C", "M", 1).error_code(), StatusCode::FAILED_PRECONDITION);  // too late

  // M: four subordinates (4, 5, 3, 2) are shown as their mean only.
  ASSERT_TRUE(Stub()->GetEvaluationResult(Ctx("M").get(), get, &result).ok());
  responses.push_back(result.DebugString());
  ASSERT_EQ(result.by_relation_size(), 1);
  EXPECT_EQ(result.by_relation(0).relation(), pb::RELATION_SUBORDINATE);
  EXPECT_EQ(result.by_relation(0).raters(), 4);
  EXPECT_DOUBLE_EQ(result.by_relation(0).mean(), 3.5);
  EXPECT_DOUBLE_EQ(result.overall(), 3.5);
  // N: the lone subordinate rating is withheld and kept out of the overall mean.
  get.set_staff_id("N");
  ASSERT_TRUE(Stub()->GetEvaluationResult(Ctx("N").get(), get, &result).ok());
  responses.push_back(result.DebugString());
  std::map<pb::Relation, pb::RelationResult> by;
  for (const auto& r : result.by_relation()) by[r.relation()] = r;
  EXPECT_TRUE(by[pb::RELATION_SUBORDINATE].withheld());
  EXPECT_FALSE(by[pb::RELATION_SUBORDINATE].has_mean());
  EXPECT_EQ(by[pb::RELATION_SUBORDINATE].raters(), 1);
  EXPECT_DOUBLE_EQ(by[pb::RELATION_SUPERIOR].mean(), 5.0);
  EXPECT_DOUBLE_EQ(result.overall(), 5.0);

  pb::ListEvaluationResultsRequest list;
  list.set_cycle_id(cycle.id());
  pb::ListEvaluationResultsResponse all;
  ASSERT_TRUE(Stub()->ListEvaluationResults(Ctx().get(), list, &all).ok());
  responses.push_back(all.DebugString());
  ASSERT_TRUE(Stub()->ListMyEvaluationTasks(Ctx("D").get(), mine, &tasks).ok());
  responses.push_back(tasks.DebugString());
  // D's rating of N (1) appears nowhere: no mean, no overall, no per-rater entry.
  for (const auto& text : responses) {
    EXPECT_EQ(text.find("score"), std::string::npos) << text;
    EXPECT_EQ(text.find("mean: 1\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("overall: 1\n"), std::string::npos) << text;
  }
  for (const auto& r : all.results())
    for (const auto& rel : r.by_relation())
      if (rel.relation() == pb::RELATION_SUBORDINATE && rel.raters() < 3) {
        EXPECT_FALSE(rel.has_mean()) << r.staff_id();
      }
}

// ---------------------------------------------------------------- control charts

TEST_F(PerformanceTest, ControlChartFlagsAWeekOfUnhappyCustomers) {
  auto complaints = wo::ComplaintService::NewStub(complaints_->channel());
  int64_t customer = customers_->CreateCustomer("质量图客户", cpb::TIER_STANDARD);
  // Eight weeks from Monday 2027-05-03; three follow-ups a week scored 4, 5, 4, and in
  // the last week 1, 1, 2.
  for (int week = 0; week < 8; ++week) {
    std::vector<int> scores = week < 7 ? std::vector<int>{4, 5, 4} : std::vector<int>{1, 1, 2};
    for (int score : scores) {
      clock_->Set(At(2027, 5, 3 + 7 * week, 9));
      wo::CreateWorkOrderRequest create;
      auto* w = create.mutable_work_order();
      w->set_customer_id(customer);
      w->set_channel(wo::CHANNEL_PHONE);
      w->set_type(wo::WORK_ORDER_TYPE_FAULT_REPORT);
      w->set_severity(wo::SEVERITY_GENERAL);
      w->set_content("打印机卡纸");
      w->set_department_id("svc");
      wo::WorkOrder order;
      grpc::Status s = complaints->CreateWorkOrder(Ctx("A", "agent").get(), create, &order);
      ASSERT_TRUE(s.ok()) << s.error_message();
      auto act = [&](auto method) {
        wo::WorkOrderActionRequest r;
        r.set_work_order_id(order.id());
        grpc::Status as = (complaints.get()->*method)(Ctx("A", "agent").get(), r, &order);
        ASSERT_TRUE(as.ok()) << as.error_message();
      };
      act(&wo::ComplaintService::Stub::AcceptWorkOrder);
      act(&wo::ComplaintService::Stub::StartWork);
      clock_->Advance(absl::Hours(2));
      wo::ResolveWorkOrderRequest resolve;
      resolve.set_work_order_id(order.id());
      resolve.mutable_resolution()->set_summary("清理进纸器");
      resolve.mutable_resolution()->add_actions(wo::RESOLUTION_ACTION_REPAIR);
      ASSERT_TRUE(complaints->ResolveWorkOrder(Ctx("A", "agent").get(), resolve, &order).ok());
      act(&wo::ComplaintService::Stub::StartFollowUp);
      wo::RecordFollowUpRequest follow;
      follow.set_work_order_id(order.id());
      follow.set_satisfaction(score);
      follow.set_note("回访");
      s = complaints->RecordFollowUp(Ctx("A", "agent").get(), follow, &order);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  pb::GetControlChartRequest req;
  req.set_measure(pb::QUALITY_MEASURE_SATISFACTION);
  req.set_department_id("svc");
  req.set_end_date("2027-06-27");  // the Sunday ending week 8
  req.set_weeks(8);
  pb::ControlChart chart;
  grpc::Status st = Stub()->GetControlChart(Ctx("M", "department_manager").get(), req, &chart);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(chart.chart_type(), "xbar");
  ASSERT_EQ(chart.points_size(), 8);
  EXPECT_EQ(chart.points(0).week(), "2027-W18");
  // Grand mean 95/24; every week's sd is sqrt(1/3), so the limits are mean ± 1.
  EXPECT_NEAR(chart.center_line(), 95.0 / 24, 1e-9);
  EXPECT_NEAR(chart.points(0).upper_limit(), 95.0 / 24 + 1, 1e-5);  // the database's stddev is not exact
  EXPECT_NEAR(chart.points(0).lower_limit(), 95.0 / 24 - 1, 1e-5);
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(chart.points(i).out_of_control()) << i;
  EXPECT_TRUE(chart.points(7).out_of_control());
  EXPECT_NEAR(chart.points(7).value(), 4.0 / 3, 1e-9);
  EXPECT_EQ(chart.points(7).n(), 3);
  EXPECT_EQ(chart.out_of_control(), 1);
  EXPECT_EQ(chart.empty_weeks(), 0);

  // Twelve weeks back from the same end: the four earlier weeks are empty, not flagged.
  req.set_weeks(12);
  ASSERT_TRUE(Stub()->GetControlChart(Ctx().get(), req, &chart).ok());
  EXPECT_EQ(chart.empty_weeks(), 4);
  EXPECT_EQ(chart.out_of_control(), 1);

  req.set_weeks(2);
  st = Stub()->GetControlChart(Ctx().get(), req, &chart);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("weeks"), std::string::npos);
  req.set_weeks(8);
  complaints_->Stop();
  st = Stub()->GetControlChart(Ctx().get(), req, &chart);
  complaints_->Start();
  EXPECT_EQ(st.error_code(), StatusCode::UNAVAILABLE);
}


// ---------------------------------------------------------------- idempotent retries

using PerfStub = pb::PerformanceService::Stub;
template <typename Req, typename Resp>
using PerfRpc = grpc::Status (PerfStub::*)(grpc::ClientContext*, const Req&, Resp*);

// Sends `req` twice as `actor` (a senior manager); both calls must succeed with the
// same answer. Returns the first answer.
template <typename Req, typename Resp>
Resp SendTwice(PerfStub& stub, PerfRpc<Req, Resp> rpc, const Req& req, const std::string& actor = "M") {
  Resp first, again;
  grpc::Status s = (stub.*rpc)(Ctx(actor).get(), req, &first);
  EXPECT_TRUE(s.ok()) << req.GetTypeName() << ": " << s.error_message();
  s = (stub.*rpc)(Ctx(actor).get(), req, &again);
  EXPECT_TRUE(s.ok()) << "retry of " << req.GetTypeName() << ": " << s.error_message();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, again))
      << req.GetTypeName() << "\nfirst: " << first.DebugString() << "\nretry: " << again.DebugString();
  return first;
}

// Sends `req` once more under a new request id: a new request, so no replay.
template <typename Req, typename Resp>
grpc::Status SendAsNew(PerfStub& stub, PerfRpc<Req, Resp> rpc, Req req, const std::string& request_id,
                       const std::string& actor = "M") {
  req.set_request_id(request_id);
  Resp ignored;
  return (stub.*rpc)(Ctx(actor).get(), req, &ignored);
}

// Every create and state change, sent twice with one request_id: the retry answers
// what the first call answered and changes nothing again, also when the version it
// names is stale by then, while a new request with that stale version is ABORTED.
// Works in its own department (svc-idem under sales); declared last because it adds
// a department and changes the scorecard policy, which earlier tests list and read.
TEST_F(PerformanceTest, EveryStateChangeReplaysItsFirstAnswerToARetry) {
  auto stub = Stub();
  clock_->Set(At(2027, 7, 1));

  // ---- departments and staff
  pb::CreateDepartmentRequest dept;
  dept.mutable_department()->set_id("svc-idem");
  dept.mutable_department()->set_name("幂等小组");
  dept.mutable_department()->set_parent_id("sales");
  dept.set_request_id("idem-dept");
  pb::Department department = SendTwice(*stub, &PerfStub::CreateDepartment, dept);  // not ALREADY_EXISTS
  EXPECT_EQ(department.id(), "svc-idem");
  // The same id with a different request is refused and changes nothing.
  dept.mutable_department()->set_name("改名小组");
  grpc::Status reused = stub->CreateDepartment(Ctx().get(), dept, &department);
  EXPECT_EQ(reused.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(reused), "REQUEST_ID_REUSED");
  pb::GetDepartmentRequest get_dept;
  get_dept.set_department_id("svc-idem");
  ASSERT_TRUE(stub->GetDepartment(Ctx().get(), get_dept, &department).ok());
  EXPECT_EQ(department.name(), "幂等小组");

  pb::CreateStaffRequest create_staff;
  auto* q1 = create_staff.mutable_staff();
  q1->set_id("Q1");
  q1->set_employee_number("EMP-Q1");
  q1->set_name("钱幂等");
  q1->set_department_id("svc-idem");
  q1->set_role(pb::ROLE_DEPARTMENT_MANAGER);
  create_staff.set_request_id("idem-staff");
  pb::Staff staff = SendTwice(*stub, &PerfStub::CreateStaff, create_staff);
  EXPECT_EQ(staff.version(), 1);

  pb::UpdateStaffRequest update_staff;
  *update_staff.mutable_staff() = staff;
  update_staff.mutable_staff()->set_position("组长");
  update_staff.mutable_update_mask()->add_paths("position");
  update_staff.set_request_id("idem-update-staff");
  clock_->Advance(absl::Minutes(1));
  staff = SendTwice(*stub, &PerfStub::UpdateStaff, update_staff);  // the retry names the stale version 1
  EXPECT_EQ(staff.version(), 2);
  EXPECT_EQ(staff.position(), "组长");
  EXPECT_EQ(SendAsNew(*stub, &PerfStub::UpdateStaff, update_staff, "idem-update-staff-2").error_code(),
            StatusCode::ABORTED);
  pb::GetStaffRequest get_staff;
  get_staff.set_staff_id("Q1");
  ASSERT_TRUE(stub->GetStaff(Ctx().get(), get_staff, &staff).ok());
  EXPECT_EQ(staff.version(), 2);  // updated once
  pb::ListStaffRequest list_staff;
  list_staff.set_department_id("svc-idem");
  pb::ListStaffResponse members;
  ASSERT_TRUE(stub->ListStaff(Ctx().get(), list_staff, &members).ok());
  EXPECT_EQ(members.staff_size(), 1);  // created once
  NewStaff("Q2", "孙幂等", "svc-idem", "Q1");

  // ---- targets
  pb::CreateTargetRequest create_target;
  auto* t = create_target.mutable_target();
  t->set_level(pb::TARGET_LEVEL_COMPANY);
  t->set_period("2028");
  t->set_metric("idem_revenue");
  t->set_target(1000);
  create_target.set_request_id("idem-target");
  pb::Target target = SendTwice(*stub, &PerfStub::CreateTarget, create_target);
  EXPECT_EQ(target.version(), 1);
  pb::ListTargetsRequest list_targets;
  list_targets.set_metric("idem_revenue");
  pb::ListTargetsResponse targets;
  ASSERT_TRUE(stub->ListTargets(Ctx().get(), list_targets, &targets).ok());
  EXPECT_EQ(targets.targets_size(), 1);

  pb::RecordTargetActualRequest actual;
  actual.set_target_id(target.id());
  actual.set_version(target.version());
  actual.set_actual(400);
  actual.set_request_id("idem-actual");
  target = SendTwice(*stub, &PerfStub::RecordTargetActual, actual);
  EXPECT_EQ(target.version(), 2);
  EXPECT_EQ(target.achievement_bp(), 4000);
  EXPECT_EQ(SendAsNew(*stub, &PerfStub::RecordTargetActual, actual, "idem-actual-2").error_code(),
            StatusCode::ABORTED);

  pb::ReviseTargetRequest revise;
  revise.set_target_id(target.id());
  revise.set_version(target.version());
  revise.set_new_target(800);
  revise.set_reason("市场调整");
  revise.set_request_id("idem-revise");
  target = SendTwice(*stub, &PerfStub::ReviseTarget, revise);
  EXPECT_EQ(target.version(), 3);
  EXPECT_EQ(target.target(), 800);
  EXPECT_TRUE(target.exempt());
  EXPECT_EQ(SendAsNew(*stub, &PerfStub::ReviseTarget, revise, "idem-revise-2").error_code(), StatusCode::ABORTED);
  pb::GetTargetRequest get_target;
  get_target.set_target_id(target.id());
  ASSERT_TRUE(stub->GetTarget(Ctx().get(), get_target, &target).ok());
  EXPECT_EQ(target.version(), 3);  // one actual, one revision

  // ---- plans
  pb::CreatePlanRequest create_plan;
  auto* p = create_plan.mutable_plan();
  p->set_title("七月拜访");
  p->set_type(pb::PLAN_TYPE_CUSTOMER_VISIT);
  p->set_assignee_kind(pb::ASSIGNEE_KIND_PERSON);
  p->set_assignee_id("Q1");
  p->set_start_date("2027-07-01");
  p->set_end_date("2027-07-31");
  p->set_target_count(10);
  p->set_minimum_count(5);
  create_plan.set_request_id("idem-plan");
  pb::Plan plan = SendTwice(*stub, &PerfStub::CreatePlan, create_plan);
  pb::ListPlansRequest list_plans;
  list_plans.set_assignee_kind(pb::ASSIGNEE_KIND_PERSON);
  list_plans.set_assignee_id("Q1");
  pb::ListPlansResponse plans;
  ASSERT_TRUE(stub->ListPlans(Ctx().get(), list_plans, &plans).ok());
  EXPECT_EQ(plans.plans_size(), 1);

  pb::RecordPlanExecutionRequest execution;
  execution.set_plan_id(plan.id());
  execution.set_date("2027-07-05");
  execution.set_count(2);
  execution.set_request_id("idem-execution");
  pb::Plan executed = SendTwice(*stub, &PerfStub::RecordPlanExecution, execution);
  EXPECT_EQ(executed.actual_count(), 2);  // not 4
  EXPECT_EQ(executed.version(), 2);
  execution.set_count(3);
  reused = stub->RecordPlanExecution(Ctx().get(), execution, &plan);
  EXPECT_EQ(reused.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(reused), "REQUEST_ID_REUSED");
  execution.set_count(2);

  pb::CancelPlanRequest cancel;
  cancel.set_plan_id(executed.id());
  cancel.set_version(executed.version());
  cancel.set_reason("人员调整");
  cancel.set_request_id("idem-cancel");
  pb::Plan cancelled = SendTwice(*stub, &PerfStub::CancelPlan, cancel);  // not "already cancelled"
  EXPECT_EQ(cancelled.status(), pb::PLAN_STATUS_CANCELLED);
  EXPECT_EQ(cancelled.version(), 3);
  EXPECT_EQ(SendAsNew(*stub, &PerfStub::CancelPlan, cancel, "idem-cancel-2").error_code(), StatusCode::ABORTED);
  // The execution's retry still answers with its first result, not the plan as it is now.
  pb::Plan replayed;
  ASSERT_TRUE(stub->RecordPlanExecution(Ctx().get(), execution, &replayed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(replayed, executed)) << replayed.DebugString();
  pb::GetPlanRequest get_plan;
  get_plan.set_plan_id(executed.id());
  ASSERT_TRUE(stub->GetPlan(Ctx().get(), get_plan, &plan).ok());
  EXPECT_EQ(plan.actual_count(), 2);
  EXPECT_EQ(plan.version(), 3);

  // ---- scorecard policy
  pb::ScorecardPolicy policy;
  ASSERT_TRUE(stub->GetScorecardPolicy(Ctx().get(), {}, &policy).ok());
  int64_t policy_version = policy.version();
  pb::UpdateScorecardPolicyRequest update_policy;
  *update_policy.mutable_policy() = policy;
  update_policy.set_request_id("idem-policy");
  pb::ScorecardPolicy saved = SendTwice(*stub, &PerfStub::UpdateScorecardPolicy, update_policy);
  EXPECT_EQ(saved.version(), policy_version + 1);
  EXPECT_EQ(SendAsNew(*stub, &PerfStub::UpdateScorecardPolicy, update_policy, "idem-policy-2").error_code(),
            StatusCode::ABORTED);
  ASSERT_TRUE(stub->GetScorecardPolicy(Ctx().get(), {}, &policy).ok());
  EXPECT_EQ(policy.version(), policy_version + 1);

  // ---- 360 evaluation: Q1 and Q2 rate each other.
  pb::CreateEvaluationCycleRequest create_cycle;
  create_cycle.mutable_cycle()->set_name("幂等评估");
  create_cycle.mutable_cycle()->set_kind(pb::CYCLE_KIND_QUARTERLY);
  create_cycle.mutable_cycle()->set_period("2027-Q3");
  create_cycle.mutable_cycle()->set_department_id("svc-idem");
  create_cycle.set_request_id("idem-cycle");
  pb::EvaluationCycle cycle = SendTwice(*stub, &PerfStub::CreateEvaluationCycle, create_cycle);
  EXPECT_EQ(cycle.assignments(), 2);
  pb::ListEvaluationCyclesRequest list_cycles;
  pb::ListEvaluationCyclesResponse cycles;
  ASSERT_TRUE(stub->ListEvaluationCycles(Ctx().get(), list_cycles, &cycles).ok());
  int named = 0;
  for (const auto& c : cycles.cycles()) named += c.name() == "幂等评估";
  EXPECT_EQ(named, 1);

  pb::SubmitRatingRequest rating;
  rating.set_cycle_id(cycle.id());
  rating.set_ratee_id("Q1");
  rating.set_score(4);
  rating.set_request_id("idem-rating");
  pb::SubmitRatingResponse progress = SendTwice(*stub, &PerfStub::SubmitRating, rating, "Q2");
  EXPECT_EQ(progress.submitted(), 1);
  pb::SubmitRatingRequest other = rating;
  other.set_ratee_id("Q2");
  other.clear_request_id();
  pb::SubmitRatingResponse ignored;
  ASSERT_TRUE(stub->SubmitRating(Ctx("Q1").get(), other, &ignored).ok());

  pb::CloseEvaluationCycleRequest close;
  close.set_cycle_id(cycle.id());
  close.set_request_id("idem-close");
  clock_->Advance(absl::Minutes(1));
  pb::EvaluationCycle closed = SendTwice(*stub, &PerfStub::CloseEvaluationCycle, close);  // not CYCLE_CLOSED
  EXPECT_EQ(closed.status(), pb::CYCLE_STATUS_CLOSED);
  EXPECT_EQ(closed.submitted(), 2);
  EXPECT_EQ(SendAsNew(*stub, &PerfStub::CloseEvaluationCycle, close, "idem-close-2").error_code(),
            StatusCode::FAILED_PRECONDITION);
  // Q2's retry, even after the close, answers with the first progress (one of two).
  pb::SubmitRatingResponse again;
  ASSERT_TRUE(stub->SubmitRating(Ctx("Q2").get(), rating, &again).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(again, progress)) << again.DebugString();
  pb::ListEvaluationResultsRequest list_results;
  list_results.set_cycle_id(cycle.id());
  pb::ListEvaluationResultsResponse results;
  ASSERT_TRUE(stub->ListEvaluationResults(Ctx().get(), list_results, &results).ok());
  ASSERT_EQ(results.results_size(), 2);  // published once: one relation each
  for (const auto& r : results.results()) {
    ASSERT_EQ(r.by_relation_size(), 1) << r.staff_id();
    EXPECT_EQ(r.by_relation(0).raters(), 1) << r.staff_id();
  }
}

// A retry of an execution recorded before responses were stored (its request id
// claimed under the old scope) records nothing again.
TEST_F(PerformanceTest, ExecutionRetriesFromBeforeStoredResponsesRecordOnce) {
  auto stub = Stub();
  pb::CreatePlanRequest create;
  auto* p = create.mutable_plan();
  p->set_title("升级前的计划");
  p->set_type(pb::PLAN_TYPE_SERVICE);
  p->set_assignee_kind(pb::ASSIGNEE_KIND_DEPARTMENT);
  p->set_assignee_id("sales");
  p->set_start_date("2027-08-01");
  p->set_end_date("2027-08-31");
  p->set_target_count(5);
  pb::Plan plan;
  ASSERT_TRUE(stub->CreatePlan(Ctx().get(), create, &plan).ok());
  pb::RecordPlanExecutionRequest execution;
  execution.set_plan_id(plan.id());
  execution.set_date("2027-08-02");
  execution.set_count(1);
  execution.set_request_id("legacy-execution");
  db::IdempotencyKey key = IdempotencyKeyOf(execution);
  ASSERT_TRUE(server_->pool()
                  .InTransaction<bool>([&](db::Session& s) -> absl::StatusOr<bool> {
                    KEFU_ASSIGN_OR_RETURN(auto first, db::ClaimRequestId(s, "performance.execution", key.request_id,
                                                                         key.fingerprint));
                    return !first.has_value();
                  })
                  .value_or(false));
  // The old claim still guards its body.
  pb::RecordPlanExecutionRequest changed = execution;
  changed.set_count(2);
  pb::Plan out;
  grpc::Status reused = stub->RecordPlanExecution(Ctx().get(), changed, &out);
  EXPECT_EQ(reused.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(reused), "REQUEST_ID_REUSED");
  // The same body: nothing recorded, then or on a further retry.
  out = SendTwice(*stub, &PerfStub::RecordPlanExecution, execution);
  EXPECT_EQ(out.actual_count(), 0);
  EXPECT_EQ(out.version(), 1);
  pb::GetPlanRequest get;
  get.set_plan_id(plan.id());
  ASSERT_TRUE(stub->GetPlan(Ctx().get(), get, &out).ok());
  EXPECT_EQ(out.actual_count(), 0);
  reused = stub->RecordPlanExecution(Ctx().get(), changed, &out);
  EXPECT_EQ(ReasonOf(reused), "REQUEST_ID_REUSED");
}

}  // namespace
}  // namespace kefu::performance
