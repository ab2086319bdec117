// The complaints service against real MariaDB and the real customers service (both
// in-process gRPC servers), with an injected clock so deadlines and escalations are exact.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/request_context.h"
#include "kefu/server.h"
#include "complaints/src/repository.h"
#include "complaints/src/service.h"
#include "complaints/src/settings.h"
#include "customers/src/repository.h"
#include "customers/src/service.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& CustomersMigrations();
const std::vector<kefu::db::Migration>& ComplaintsMigrations();

namespace kefu::complaints {
namespace {

using ::grpc::StatusCode;
namespace cpb = ::kefu::customers::v1;

absl::Time Shanghai(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::FixedTimeZone(8 * 3600));
}

// Friday 2026-11-20 16:00 in Shanghai: two working hours left before the weekend.
const absl::Time kFridayAfternoon = Shanghai(2026, 11, 20, 16, 0);

std::unique_ptr<Server> StartServer(const db::Config& db, grpc::Service* service, const char* full_name,
                                    const char* name, int port, const std::vector<db::Migration>& migrations) {
  ServerOptions o;
  o.token_verifier = kefu::testing::TestVerifier();
  o.service_token_verifier = kefu::testing::TestServiceVerifier();
  kefu::testing::UseTestServiceIdentity();
  o.service_name = name;
  o.listen_host = "127.0.0.1";
  o.grpc_port = port;
  o.metrics_port = -1;
  o.db = db;
  o.health_interval = absl::Milliseconds(100);
  auto server = std::make_unique<Server>(o);
  server->AddService(service, full_name);
  EXPECT_TRUE(server->Start(migrations).ok());
  for (int i = 0; i < 100 && !server->ready(); ++i) absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(server->ready());
  return server;
}

// How long the service under test keeps its settings between reads.
constexpr absl::Duration kSettingsMaxAge = absl::Milliseconds(200);

class ComplaintsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("complaints-test", log::Level::kWarn);
    customers_db_ = new db::Config(testing::CreateSchema("cmp_cust"));
    complaints_db_ = new db::Config(testing::CreateSchema("cmp"));
    clock_ = new FakeClock(kFridayAfternoon);
    customers_port_ = testing::FreePort();
    StartCustomers();
    // The production channel settings: reconnects within seconds after customers returns.
    static ChannelPool channels;
    customers_channel_ = new std::shared_ptr<grpc::Channel>(channels.Get(absl::StrCat("127.0.0.1:", customers_port_)));

    ServerOptions o;
    o.token_verifier = kefu::testing::TestVerifier();
    o.service_token_verifier = kefu::testing::TestServiceVerifier();
    kefu::testing::UseTestServiceIdentity();
    complaints_pool_ = db::Pool::Create(*complaints_db_).release();
    ASSERT_TRUE(db::ApplyMigrations(*complaints_pool_, ComplaintsMigrations()).ok());
    repo_ = new Repository(complaints_pool_, clock_);
    static prometheus::Registry registry;
    metrics_ = new BusinessMetrics(registry);
    ServiceConfig config{*customers_channel_, absl::Seconds(2)};
    config.settings_max_age = kSettingsMaxAge;
    service_ = new ComplaintServiceImpl(repo_, metrics_, clock_, config);
    relay_ = new outbox::Relay(complaints_pool_, clock_, registry);
    clients::RegisterCustomerLog(*relay_, *customers_channel_, absl::Seconds(2));
    complaints_server_ = StartServer(*complaints_db_, service_, pb::ComplaintService::service_full_name(), "complaints", 0,
                                     ComplaintsMigrations()).release();
    channel_ = new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", complaints_server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    service_->StopWatches();
    complaints_server_->Shutdown();
    StopCustomers();
    testing::DropSchema(*customers_db_);
    testing::DropSchema(*complaints_db_);
  }
  static void StartCustomers() {
    customers_pool_clock_ = clock_;
    customers_server_ = new Server([] {
      ServerOptions o;
      o.token_verifier = kefu::testing::TestVerifier();
      o.service_token_verifier = kefu::testing::TestServiceVerifier();
      kefu::testing::UseTestServiceIdentity();
      o.service_name = "customers";
      o.listen_host = "127.0.0.1";
      o.grpc_port = customers_port_;
      o.metrics_port = -1;
      o.db = *customers_db_;
      o.health_interval = absl::Milliseconds(100);
      return o;
    }());
    customers_repo_ = new customers::Repository(&customers_server_->pool(), clock_);
    static prometheus::Registry registry;
    static customers::BusinessMetrics* metrics = new customers::BusinessMetrics(registry);
    customers_service_ = new customers::CustomerServiceImpl(customers_repo_, metrics, clock_);
    customers_server_->AddService(customers_service_, cpb::CustomerService::service_full_name());
    ASSERT_TRUE(customers_server_->Start(CustomersMigrations()).ok());
    for (int i = 0; i < 100 && !customers_server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(100));
  }
  static void StopCustomers() {
    customers_server_->Shutdown();
    delete customers_server_;
    customers_server_ = nullptr;
    delete customers_service_;
    customers_service_ = nullptr;
    delete customers_repo_;
    customers_repo_ = nullptr;
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& actor = "E2001",
                                                  const std::string& roles = "agent") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    // The test's work orders belong to D-SERVICE, the department of its staff.
    kefu::testing::Authorize(ctx.get(), actor, roles, "D-SERVICE");
    return ctx;
  }
  std::unique_ptr<pb::ComplaintService::Stub> Stub() { return pb::ComplaintService::NewStub(*channel_); }

  int64_t NewCustomer(cpb::Tier tier, int n) {
    auto stub = cpb::CustomerService::NewStub(*customers_channel_);
    cpb::CreateCustomerRequest req;
    req.mutable_customer()->set_kind(cpb::CUSTOMER_KIND_ORGANIZATION);
    req.mutable_customer()->set_name(absl::StrCat("投诉测试客户", n, "号"));
    req.mutable_customer()->set_tier(tier);
    cpb::Customer out;
    grpc::Status s = stub->CreateCustomer(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.id();
  }

  pb::WorkOrder NewWorkOrder(int64_t customer_id, pb::Severity severity, const std::string& request_id = "") {
    pb::CreateWorkOrderRequest req;
    auto* w = req.mutable_work_order();
    w->set_customer_id(customer_id);
    w->set_channel(pb::CHANNEL_PHONE);
    w->set_type(pb::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(severity);
    w->set_title("空调不制冷");
    w->set_content("客户来电：办公室空调不制冷，影响办公");
    w->set_department_id("D-SERVICE");
    req.set_request_id(request_id);
    pb::WorkOrder out;
    grpc::Status s = Stub()->CreateWorkOrder(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  pb::WorkOrder Act(grpc::Status (pb::ComplaintService::Stub::*method)(grpc::ClientContext*,
                                                                       const pb::WorkOrderActionRequest&, pb::WorkOrder*),
                    int64_t id) {
    pb::WorkOrderActionRequest req;
    req.set_work_order_id(id);
    pb::WorkOrder out;
    grpc::Status s = (Stub().get()->*method)(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  pb::WorkOrder Get(int64_t id) {
    pb::GetWorkOrderRequest req;
    req.set_work_order_id(id);
    pb::WorkOrder out;
    EXPECT_TRUE(Stub()->GetWorkOrder(Ctx().get(), req, &out).ok());
    return out;
  }

  int64_t Count(const std::string& sql, std::vector<db::Param> params) {
    auto s = complaints_pool_->Acquire();
    auto row = s->QueryOne(sql, params);
    EXPECT_TRUE(row.ok()) << row.status();
    return (*row)->Int(0);
  }

  static db::Config* customers_db_;
  static db::Config* complaints_db_;
  static FakeClock* clock_;
  static const Clock* customers_pool_clock_;
  static int customers_port_;
  static Server* customers_server_;
  static customers::Repository* customers_repo_;
  static customers::CustomerServiceImpl* customers_service_;
  static std::shared_ptr<grpc::Channel>* customers_channel_;
  static db::Pool* complaints_pool_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static ComplaintServiceImpl* service_;
  static outbox::Relay* relay_;
  static Server* complaints_server_;
  static std::shared_ptr<grpc::Channel>* channel_;
};

db::Config* ComplaintsTest::customers_db_;
db::Config* ComplaintsTest::complaints_db_;
FakeClock* ComplaintsTest::clock_;
const Clock* ComplaintsTest::customers_pool_clock_;
int ComplaintsTest::customers_port_;
Server* ComplaintsTest::customers_server_;
customers::Repository* ComplaintsTest::customers_repo_;
customers::CustomerServiceImpl* ComplaintsTest::customers_service_;
std::shared_ptr<grpc::Channel>* ComplaintsTest::customers_channel_;
db::Pool* ComplaintsTest::complaints_pool_;
Repository* ComplaintsTest::repo_;
BusinessMetrics* ComplaintsTest::metrics_;
ComplaintServiceImpl* ComplaintsTest::service_;
outbox::Relay* ComplaintsTest::relay_;
Server* ComplaintsTest::complaints_server_;
std::shared_ptr<grpc::Channel>* ComplaintsTest::channel_;

TEST_F(ComplaintsTest, FullLifecycleWithEscalationReopenAndCustomerLog) {
  clock_->Set(kFridayAfternoon);
  int64_t customer = NewCustomer(cpb::TIER_STANDARD, 1);
  pb::WorkOrder w = NewWorkOrder(customer, pb::SEVERITY_GENERAL);
  EXPECT_EQ(w.status(), pb::STATUS_NEW);
  EXPECT_EQ(w.escalation_level(), pb::ESCALATION_LEVEL_HANDLER);
  EXPECT_EQ(w.customer_tier(), 1);
  EXPECT_EQ(w.service_type(), pb::SERVICE_TYPE_UNCLASSIFIED);
  EXPECT_EQ(w.first_contact_owner_id(), "E2001");
  // 4 working hours from Friday 16:00: two on Friday, two on Monday morning.
  EXPECT_EQ(FromProtoTime(w.response_deadline()), Shanghai(2026, 11, 23, 11, 0));

  // Exactly at the deadline nothing happens; a moment later it escalates.
  clock_->Set(Shanghai(2026, 11, 23, 11, 0));
  ASSERT_TRUE(service_->SweepOnce().ok());
  EXPECT_EQ(Get(w.id()).escalation_level(), pb::ESCALATION_LEVEL_HANDLER);
  clock_->Set(Shanghai(2026, 11, 23, 11, 0) + absl::Seconds(1));
  ASSERT_TRUE(service_->SweepOnce().ok());
  pb::WorkOrder escalated = Get(w.id());
  EXPECT_EQ(escalated.escalation_level(), pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER);
  EXPECT_TRUE(escalated.overdue());
  EXPECT_TRUE(escalated.has_level_deadline());
  // A second sweep at the same moment changes nothing.
  ASSERT_TRUE(service_->SweepOnce().ok());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM work_order_events WHERE work_order_id = ? AND kind = ?",
                  {w.id(), static_cast<int>(pb::EVENT_KIND_ESCALATED)}),
            1);
  // The department manager does not act within the escalation step either.
  clock_->Set(FromProtoTime(escalated.level_deadline()) + absl::Seconds(1));
  ASSERT_TRUE(service_->SweepOnce().ok());
  EXPECT_EQ(Get(w.id()).escalation_level(), pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT);

  Act(&pb::ComplaintService::Stub::AcceptWorkOrder, w.id());
  Act(&pb::ComplaintService::Stub::StartWork, w.id());
  pb::ResolveWorkOrderRequest resolve;
  resolve.set_work_order_id(w.id());
  resolve.mutable_resolution()->set_summary("更换压缩机，恢复制冷");
  resolve.mutable_resolution()->add_actions(pb::RESOLUTION_ACTION_REPAIR);
  resolve.mutable_resolution()->set_root_cause("压缩机老化");
  pb::WorkOrder out;
  ASSERT_TRUE(Stub()->ResolveWorkOrder(Ctx().get(), resolve, &out).ok());
  EXPECT_EQ(out.status(), pb::STATUS_RESOLVED);
  Act(&pb::ComplaintService::Stub::StartFollowUp, w.id());

  pb::RecordFollowUpRequest unhappy;
  unhappy.set_work_order_id(w.id());
  unhappy.set_satisfaction(2);
  unhappy.set_note("仍有异响");
  ASSERT_TRUE(Stub()->RecordFollowUp(Ctx().get(), unhappy, &out).ok());
  EXPECT_EQ(out.status(), pb::STATUS_IN_PROGRESS);
  EXPECT_EQ(out.reopen_count(), 1);

  ASSERT_TRUE(Stub()->ResolveWorkOrder(Ctx().get(), resolve, &out).ok());
  Act(&pb::ComplaintService::Stub::StartFollowUp, w.id());
  pb::RecordFollowUpRequest happy = unhappy;
  happy.set_satisfaction(5);
  happy.set_note("很满意");
  ASSERT_TRUE(Stub()->RecordFollowUp(Ctx().get(), happy, &out).ok());
  EXPECT_EQ(out.status(), pb::STATUS_CLOSED);
  EXPECT_EQ(out.follow_ups_size(), 2);

  pb::GetTimelineRequest tl;
  tl.set_work_order_id(w.id());
  pb::Timeline timeline;
  ASSERT_TRUE(Stub()->GetTimeline(Ctx().get(), tl, &timeline).ok());
  std::vector<pb::EventKind> kinds;
  for (const auto& e : timeline.events()) kinds.push_back(e.kind());
  EXPECT_EQ(kinds, (std::vector<pb::EventKind>{
                       pb::EVENT_KIND_CREATED, pb::EVENT_KIND_ESCALATED, pb::EVENT_KIND_ESCALATED,
                       pb::EVENT_KIND_ACCEPTED, pb::EVENT_KIND_STARTED, pb::EVENT_KIND_RESOLVED,
                       pb::EVENT_KIND_FOLLOW_UP_STARTED, pb::EVENT_KIND_FOLLOW_UP, pb::EVENT_KIND_REOPENED,
                       pb::EVENT_KIND_RESOLVED, pb::EVENT_KIND_FOLLOW_UP_STARTED, pb::EVENT_KIND_FOLLOW_UP,
                       pb::EVENT_KIND_CLOSED}));

  // Every customer-facing event reaches the customer's log, once, via the outbox.
  while (relay_->DeliverDue().value_or(0) > 0) {
  }
  for (int i = 0; i < 2; ++i) (void)relay_->DeliverDue();  // repeats deliver nothing twice
  auto stub = cpb::CustomerService::NewStub(*customers_channel_);
  cpb::ListLogEntriesRequest log;
  log.set_customer_id(customer);
  log.set_category(cpb::LOG_CATEGORY_SERVICE);
  log.set_page_size(100);
  cpb::ListLogEntriesResponse entries;
  ASSERT_TRUE(stub->ListLogEntries(Ctx().get(), log, &entries).ok());
  int from_work_order = 0;
  for (const auto& e : entries.entries())
    if (e.reference() == absl::StrCat("complaints/", w.number())) ++from_work_order;
  EXPECT_EQ(from_work_order, 10);  // all 13 events but the internal "started" and two "follow-up started"
}

TEST_F(ComplaintsTest, MajorComplaintsStartAtSeniorManagement) {
  clock_->Set(kFridayAfternoon);
  pb::WorkOrder w = NewWorkOrder(NewCustomer(cpb::TIER_GOLD, 2), pb::SEVERITY_MAJOR);
  EXPECT_EQ(w.escalation_level(), pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT);
  // Major counts around the clock: respond within one hour.
  EXPECT_EQ(FromProtoTime(w.response_deadline()), kFridayAfternoon + absl::Hours(1));
  // Nobody above senior management: missing the hour is still recorded as a breach.
  clock_->Advance(absl::Hours(2));
  ASSERT_TRUE(service_->SweepOnce().ok());
  EXPECT_TRUE(Get(w.id()).overdue());
  EXPECT_EQ(Get(w.id()).escalation_level(), pb::ESCALATION_LEVEL_SENIOR_MANAGEMENT);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM alerts WHERE work_order_id = ? AND kind = ?",
                  {w.id(), static_cast<int>(pb::ALERT_KIND_BREACHED)}),
            1);
}

TEST_F(ComplaintsTest, UnknownCustomerIsRefusedAndBadInputNamesTheField) {
  pb::CreateWorkOrderRequest req;
  req.mutable_work_order()->set_customer_id(987654321);
  req.mutable_work_order()->set_channel(pb::CHANNEL_PHONE);
  req.mutable_work_order()->set_type(pb::WORK_ORDER_TYPE_COMPLAINT);
  req.mutable_work_order()->set_severity(pb::SEVERITY_GENERAL);
  req.mutable_work_order()->set_content("投诉");
  pb::WorkOrder out;
  grpc::Status s = Stub()->CreateWorkOrder(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("work_order.customer_id"), std::string::npos);
  req.mutable_work_order()->clear_content();
  req.mutable_work_order()->set_severity(static_cast<pb::Severity>(7));
  s = Stub()->CreateWorkOrder(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("work_order.content"), std::string::npos);
  EXPECT_NE(s.error_message().find("work_order.severity"), std::string::npos);
}

TEST_F(ComplaintsTest, IllegalTransitionsAndClosingRules) {
  clock_->Set(kFridayAfternoon);
  pb::WorkOrder w = NewWorkOrder(NewCustomer(cpb::TIER_STANDARD, 3), pb::SEVERITY_MINOR);
  pb::WorkOrderActionRequest req;
  req.set_work_order_id(w.id());
  pb::WorkOrder out;
  grpc::Status s = Stub()->StartFollowUp(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "ILLEGAL_TRANSITION");
  Act(&pb::ComplaintService::Stub::AcceptWorkOrder, w.id());
  Act(&pb::ComplaintService::Stub::StartWork, w.id());
  pb::ResolveWorkOrderRequest resolve;
  resolve.set_work_order_id(w.id());
  resolve.mutable_resolution()->set_summary("远程指导重启设备");
  ASSERT_TRUE(Stub()->ResolveWorkOrder(Ctx().get(), resolve, &out).ok());

  pb::CloseWithoutSatisfactionRequest close;
  close.set_work_order_id(w.id());
  close.set_reason("客户失联三次");
  s = Stub()->CloseWithoutSatisfaction(Ctx("M1001", "department_manager").get(), close, &out);
  EXPECT_EQ(s.error_code(), StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Stub()->CloseWithoutSatisfaction(Ctx("S0001", "senior_manager").get(), close, &out).ok());
  EXPECT_EQ(out.status(), pb::STATUS_CLOSED);
  EXPECT_EQ(out.close_reason(), "客户失联三次");
  EXPECT_EQ(Stub()->AcceptWorkOrder(Ctx().get(), req, &out).error_code(), StatusCode::FAILED_PRECONDITION);
  req.set_version(1);
  EXPECT_EQ(Stub()->AddNote(Ctx().get(), [&] {
              pb::AddNoteRequest n;
              n.set_work_order_id(w.id());
              n.set_text("备注");
              return n;
            }(), &out).error_code(),
            StatusCode::OK);
}

TEST_F(ComplaintsTest, PausingMovesTheResolutionDeadlineByThePausedWorkingTime) {
  clock_->Set(Shanghai(2026, 11, 23, 9, 0));  // Monday
  pb::WorkOrder w = NewWorkOrder(NewCustomer(cpb::TIER_STANDARD, 4), pb::SEVERITY_GENERAL);
  Act(&pb::ComplaintService::Stub::AcceptWorkOrder, w.id());
  pb::WorkOrder started = Act(&pb::ComplaintService::Stub::StartWork, w.id());
  absl::Time before = FromProtoTime(started.resolution_deadline());
  clock_->Set(Shanghai(2026, 11, 23, 10, 0));
  pb::PauseSlaRequest pause;
  pause.set_work_order_id(w.id());
  pause.set_reason(pb::PAUSE_REASON_WAITING_CUSTOMER);
  pb::WorkOrder paused;
  ASSERT_TRUE(Stub()->PauseSla(Ctx().get(), pause, &paused).ok());
  EXPECT_TRUE(paused.sla_paused());
  EXPECT_FALSE(paused.has_resolution_deadline());
  clock_->Set(Shanghai(2026, 11, 23, 14, 0));  // 10-12 and 13-14: three working hours waiting
  pb::WorkOrder resumed = Act(&pb::ComplaintService::Stub::ResumeSla, w.id());
  EXPECT_FALSE(resumed.sla_paused());
  EXPECT_EQ(FromProtoTime(resumed.resolution_deadline()),
            BusinessCalendar(*CalendarFromProto(DefaultCalendarProto())).AddWorkingTime(before, absl::Hours(3)));
}

// The at-risk list reads its candidates' histories in batches: each work order is
// still judged on its own events, and a page stops at page_size.
TEST_F(ComplaintsTest, AtRiskListJudgesEachWorkOrderOnItsOwnHistory) {
  const absl::Time start = Shanghai(2026, 11, 30, 9, 0);  // a Monday
  clock_->Set(start);
  int64_t customer = NewCustomer(cpb::TIER_STANDARD, 41);
  std::set<int64_t> waiting, answered;
  for (int i = 0; i < 6; ++i) {
    pb::WorkOrder w = NewWorkOrder(customer, pb::SEVERITY_GENERAL);
    pb::AssignWorkOrderRequest assign;
    assign.set_work_order_id(w.id());
    assign.set_handler_id("E-RISK");
    pb::WorkOrder out;
    grpc::Status st = Stub()->AssignWorkOrder(Ctx("M1001", "department_manager").get(), assign, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    if (i % 2 == 1) {
      Act(&pb::ComplaintService::Stub::AcceptWorkOrder, w.id());
      answered.insert(w.id());
    } else {
      waiting.insert(w.id());
    }
  }
  // 85% of the four working hours to respond: only the unanswered are at risk.
  clock_->Set(BusinessCalendar(*CalendarFromProto(DefaultCalendarProto())).AddWorkingTime(start, absl::Minutes(204)));
  pb::ListAtRiskRequest req;
  req.set_handler_id("E-RISK");
  pb::ListAtRiskResponse resp;
  ASSERT_TRUE(Stub()->ListAtRisk(Ctx().get(), req, &resp).ok());
  std::set<int64_t> listed;
  for (const auto& item : resp.items()) {
    listed.insert(item.work_order().id());
    EXPECT_EQ(item.deadline(), "response");
    EXPECT_EQ(item.used_bp(), 8500);
  }
  EXPECT_EQ(listed, waiting);
  req.set_page_size(2);
  ASSERT_TRUE(Stub()->ListAtRisk(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.items_size(), 2);
}

TEST_F(ComplaintsTest, TwoConcurrentSweepsNeverDoubleEscalate) {
  clock_->Set(kFridayAfternoon);
  int64_t customer = NewCustomer(cpb::TIER_STANDARD, 5);
  std::vector<int64_t> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(NewWorkOrder(customer, pb::SEVERITY_GENERAL).id());
  clock_->Set(Shanghai(2026, 11, 23, 11, 1));
  Repository other_replica(complaints_pool_, clock_);
  static prometheus::Registry registry;
  BusinessMetrics other_metrics(registry);
  ComplaintServiceImpl other(&other_replica, &other_metrics, clock_, {*customers_channel_, absl::Seconds(2)});
  std::thread a([&] { for (int i = 0; i < 5; ++i) (void)service_->SweepOnce(7); });
  std::thread b([&] { for (int i = 0; i < 5; ++i) (void)other.SweepOnce(7); });
  a.join();
  b.join();
  for (int64_t id : ids) {
    EXPECT_EQ(Count("SELECT COUNT(*) FROM work_order_events WHERE work_order_id = ? AND kind = ?",
                    {id, static_cast<int>(pb::EVENT_KIND_ESCALATED)}),
              1)
        << id;
  }
}

// A watcher whose stream ended (a server shutting down ends it with UNAVAILABLE) watches
// again after the last alert it saw and gets every later alert, none twice.
TEST_F(ComplaintsTest, AWatchResumedAfterTheLastAlertSeenMissesNothing) {
  clock_->Set(kFridayAfternoon);
  int64_t customer = NewCustomer(cpb::TIER_STANDARD, 9);
  const std::set<int64_t> ours{NewWorkOrder(customer, pb::SEVERITY_GENERAL).id(),
                               NewWorkOrder(customer, pb::SEVERITY_GENERAL).id()};
  // A fresh watch names its starting point, the resume point of one that sees nothing.
  int64_t before = -1;
  {
    auto ctx = Ctx();
    auto reader = Stub()->WatchAlerts(ctx.get(), pb::WatchAlertsRequest());
    reader->WaitForInitialMetadata();
    auto cursor = ctx->GetServerInitialMetadata().find(kAlertCursorHeader);
    ASSERT_NE(cursor, ctx->GetServerInitialMetadata().end());
    ASSERT_TRUE(absl::SimpleAtoi(absl::string_view(cursor->second.data(), cursor->second.size()), &before));
    ctx->TryCancel();
    (void)reader->Finish();
  }
  EXPECT_EQ(before, Count("SELECT COALESCE(MAX(id), 0) FROM alerts", {}));
  clock_->Set(Shanghai(2026, 11, 23, 11, 1));
  ASSERT_TRUE(service_->SweepOnce().ok());

  // Ours, in the order a watch resumed after `after` delivers them.
  auto escalations_after = [&](int64_t after) {
    pb::WatchAlertsRequest req;
    req.set_department_id("D-SERVICE");
    req.set_after_alert_id(after);
    auto ctx = Ctx();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    auto reader = Stub()->WatchAlerts(ctx.get(), req);
    std::vector<pb::Alert> seen;
    pb::Alert a;
    int64_t last = after;
    while (seen.size() < ours.size() && reader->Read(&a)) {
      EXPECT_GT(a.id(), last);  // ascending, so the last id seen is a resume point
      last = a.id();
      if (a.kind() == pb::ALERT_KIND_ESCALATED && ours.count(a.work_order_id())) seen.push_back(a);
    }
    ctx->TryCancel();
    (void)reader->Finish();
    return seen;
  };
  std::vector<pb::Alert> all = escalations_after(before);
  ASSERT_EQ(all.size(), 2u);
  std::vector<pb::Alert> resumed = escalations_after(all[0].id());
  ASSERT_EQ(resumed.size(), 1u);  // the stream then runs to its deadline: nothing else of ours
  EXPECT_EQ(resumed[0].id(), all[1].id());
  EXPECT_EQ(resumed[0].work_order_id(), all[1].work_order_id());
  EXPECT_TRUE(escalations_after(all[1].id()).empty());

  pb::WatchAlertsRequest bad;
  bad.set_after_alert_id(-1);
  auto ctx = Ctx();
  auto reader = Stub()->WatchAlerts(ctx.get(), bad);
  pb::Alert a;
  EXPECT_FALSE(reader->Read(&a));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("after_alert_id"), std::string::npos) << s.error_message();
}

TEST_F(ComplaintsTest, WorkOrdersAreTakenWhileCustomersIsDownAndTheLogCatchesUp) {
  // Later than every other test's clock, so everything they queued is due now.
  clock_->Set(Shanghai(2026, 12, 7, 9, 0));
  int64_t customer = NewCustomer(cpb::TIER_PLATINUM, 6);
  while (relay_->DeliverDue().value_or(0) > 0) {
  }
  StopCustomers();
  pb::WorkOrder w = NewWorkOrder(customer, pb::SEVERITY_GENERAL, "wo-while-down");
  EXPECT_GT(w.id(), 0);
  EXPECT_EQ(w.customer_tier(), 0);  // unknown: default deadlines
  EXPECT_EQ(relay_->DeliverDue().value_or(-1), 0);
  EXPECT_GE(relay_->Pending().value_or(0), 1);
  StartCustomers();
  clock_->Advance(absl::Minutes(10));  // past the retry backoff
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (relay_->Pending().value_or(1) > 0 && absl::Now() < deadline) {
    auto delivered = relay_->DeliverDue();
    if (!delivered.ok()) ADD_FAILURE() << delivered.status();
    clock_->Advance(absl::Minutes(10));
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(relay_->Pending().value_or(1), 0);
  auto stub = cpb::CustomerService::NewStub(*customers_channel_);
  cpb::ListLogEntriesRequest log;
  log.set_customer_id(customer);
  log.set_category(cpb::LOG_CATEGORY_SERVICE);
  cpb::ListLogEntriesResponse entries;
  ASSERT_TRUE(stub->ListLogEntries(Ctx().get(), log, &entries).ok());
  ASSERT_EQ(entries.entries_size(), 1);
  EXPECT_EQ(entries.entries(0).reference(), absl::StrCat("complaints/", w.number()));
}

// With the copy of customers' tiers on (the binary's default), a new work order takes
// the tier from the copy: kept from customers' last answer, replaced by what customers
// sends on a tier change (never by an older version), used while customers is down,
// and asked for again once older than the maximum age.
TEST_F(ComplaintsTest, NewWorkOrdersTakeTheTierFromTheCopyThatCustomersKeepsCurrent) {
  clock_->Set(Shanghai(2026, 12, 8, 9, 0));
  ServiceConfig config{*customers_channel_, absl::Seconds(2)};
  config.settings_max_age = kSettingsMaxAge;
  config.customer_tier_max_age = absl::Hours(1);
  ComplaintServiceImpl copying(repo_, metrics_, clock_, config);
  auto server = StartServer(*complaints_db_, &copying, pb::ComplaintService::service_full_name(), "complaints", 0,
                            ComplaintsMigrations());
  auto stub = pb::ComplaintService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->grpc_port()),
                                                                grpc::InsecureChannelCredentials()));
  auto tier_of_new_work_order = [&](int64_t customer) {
    pb::CreateWorkOrderRequest req;
    auto* w = req.mutable_work_order();
    w->set_customer_id(customer);
    w->set_channel(pb::CHANNEL_PHONE);
    w->set_type(pb::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(pb::SEVERITY_GENERAL);
    w->set_content("客户来电：打印机卡纸");
    w->set_department_id("D-SERVICE");
    pb::WorkOrder out;
    grpc::Status s = stub->CreateWorkOrder(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.customer_tier();
  };
  auto notify = [&](int64_t customer, int tier, int64_t version, const std::string& token) {
    pb::RecordCustomerTiersRequest req;
    auto* t = req.add_tiers();
    t->set_customer_id(customer);
    t->set_tier(tier);
    t->set_version(version);
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    pb::RecordCustomerTiersResponse out;
    return stub->RecordCustomerTiers(ctx.get(), req, &out);
  };
  const std::string customers_token = testing::TestServiceToken("customers");
  auto customers = cpb::CustomerService::NewStub(*customers_channel_);
  auto change_tier = [&](int64_t customer, cpb::Tier tier) {
    cpb::ChangeTierRequest req;
    req.set_customer_id(customer);
    req.set_tier(tier);
    req.set_reason("年度评估");
    cpb::Customer out;
    grpc::Status s = customers->ChangeTier(Ctx("S-1", "senior_manager").get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.version();
  };

  int64_t customer = NewCustomer(cpb::TIER_GOLD, 70);
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_GOLD);  // asked, and kept
  EXPECT_EQ(Count("SELECT COUNT(*) FROM customer_tiers WHERE customer_id = ? AND tier = ? AND version = 1",
                  {customer, static_cast<int>(cpb::TIER_GOLD)}),
            1);
  // A change customers has not sent yet is not seen: the copy answers.
  int64_t platinum_version = change_tier(customer, cpb::TIER_PLATINUM);
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_GOLD);
  // What customers' relay sends on the change.
  ASSERT_TRUE(notify(customer, cpb::TIER_PLATINUM, platinum_version, customers_token).ok());
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_PLATINUM);
  // A late, older message changes nothing; a repeat neither.
  ASSERT_TRUE(notify(customer, cpb::TIER_STANDARD, platinum_version - 1, customers_token).ok());
  ASSERT_TRUE(notify(customer, cpb::TIER_PLATINUM, platinum_version, customers_token).ok());
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_PLATINUM);

  // Customers down: the tier still comes from the copy, not the catch-all rules.
  StopCustomers();
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_PLATINUM);
  StartCustomers();

  // Past the maximum age customers is asked again: a change never sent is then seen.
  change_tier(customer, cpb::TIER_SILVER);
  clock_->Advance(absl::Minutes(59));
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_PLATINUM);
  clock_->Advance(absl::Minutes(2));
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_SILVER);

  // Only services may send tiers, and each entry is checked.
  EXPECT_EQ(notify(customer, cpb::TIER_GOLD, 99, testing::TestToken("S-1", "senior_manager")).error_code(),
            StatusCode::PERMISSION_DENIED);
  grpc::Status bad = notify(customer, 5, 99, customers_token);
  EXPECT_EQ(bad.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("tiers[0].tier"), std::string::npos) << bad.error_message();
  bad = notify(customer, cpb::TIER_GOLD, 0, customers_token);
  EXPECT_EQ(bad.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("tiers[0].version"), std::string::npos) << bad.error_message();
  bad = notify(0, cpb::TIER_GOLD, 99, customers_token);
  EXPECT_EQ(bad.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(bad.error_message().find("tiers[0].customer_id"), std::string::npos) << bad.error_message();
  EXPECT_EQ(tier_of_new_work_order(customer), cpb::TIER_SILVER);
  server->Shutdown();
}

}  // namespace
}  // namespace kefu::complaints

namespace kefu::complaints {
namespace {

TEST_F(ComplaintsTest, PolicyAndCalendarAreVersionedAndValidated) {
  pb::DeadlinePolicy current;
  ASSERT_TRUE(Stub()->GetDeadlinePolicy(Ctx().get(), pb::GetDeadlinePolicyRequest(), &current).ok());
  EXPECT_EQ(current.version(), 0);  // the defaults, never saved
  ASSERT_EQ(current.rules_size(), 6);

  pb::UpdateDeadlinePolicyRequest update;
  *update.mutable_policy() = current;
  update.mutable_policy()->mutable_rules(0)->set_respond_within_seconds(1800);
  pb::DeadlinePolicy saved;
  ASSERT_TRUE(Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &saved).ok());
  EXPECT_EQ(saved.version(), 1);
  // The same (now stale) version again is refused.
  grpc::Status s = Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &saved);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  // A policy without a catch-all rule per severity is refused, naming the field.
  update.mutable_policy()->set_version(1);
  update.mutable_policy()->mutable_rules()->DeleteSubrange(0, 2);
  s = Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &saved);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("policy.rules"), std::string::npos);

  pb::BusinessCalendar calendar;
  ASSERT_TRUE(Stub()->GetBusinessCalendar(Ctx().get(), pb::GetBusinessCalendarRequest(), &calendar).ok());
  EXPECT_EQ(calendar.time_zone(), "Asia/Shanghai");
  pb::UpdateBusinessCalendarRequest cal_update;
  *cal_update.mutable_calendar() = calendar;
  cal_update.mutable_calendar()->add_holidays("2027-01-01");
  pb::BusinessCalendar cal_saved;
  ASSERT_TRUE(Stub()->UpdateBusinessCalendar(Ctx("S1", "senior_manager").get(), cal_update, &cal_saved).ok());
  EXPECT_EQ(cal_saved.version(), 1);
  cal_update.mutable_calendar()->set_version(1);
  cal_update.mutable_calendar()->add_holidays("2027-02-30");
  s = Stub()->UpdateBusinessCalendar(Ctx("S1", "senior_manager").get(), cal_update, &cal_saved);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("calendar.holidays[1]"), std::string::npos);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "FIELD_INVALID");

  // Restore the defaults for the other tests.
  pb::UpdateDeadlinePolicyRequest restore;
  *restore.mutable_policy() = current;
  restore.mutable_policy()->set_version(1);
  ASSERT_TRUE(Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), restore, &saved).ok());
  pb::UpdateBusinessCalendarRequest restore_cal;
  *restore_cal.mutable_calendar() = calendar;
  restore_cal.mutable_calendar()->set_version(1);
  ASSERT_TRUE(Stub()->UpdateBusinessCalendar(Ctx("S1", "senior_manager").get(), restore_cal, &cal_saved).ok());
}

// A deadline policy change saved through this replica applies to the very next work
// order; one saved through another replica (here straight through the repository, as
// another process would) within the time the settings are kept.
TEST_F(ComplaintsTest, APolicyChangeAppliesToTheNextWorkOrderOnEveryReplica) {
  const int64_t customer = NewCustomer(cpb::TIER_STANDARD, 880);
  pb::DeadlinePolicy original;
  ASSERT_TRUE(Stub()->GetDeadlinePolicy(Ctx().get(), pb::GetDeadlinePolicyRequest(), &original).ok());
  const pb::WorkOrder before = NewWorkOrder(customer, pb::SEVERITY_GENERAL);

  pb::UpdateDeadlinePolicyRequest update;
  *update.mutable_policy() = original;
  for (auto& rule : *update.mutable_policy()->mutable_rules()) {
    rule.set_respond_within_seconds(rule.respond_within_seconds() / 2);
    rule.set_resolve_within_seconds(rule.resolve_within_seconds() / 2);
  }
  pb::DeadlinePolicy halved;
  ASSERT_TRUE(Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &halved).ok());
  const pb::WorkOrder after = NewWorkOrder(customer, pb::SEVERITY_GENERAL);
  EXPECT_EQ(after.received_time().seconds(), before.received_time().seconds());
  EXPECT_LT(FromProtoTime(after.response_deadline()), FromProtoTime(before.response_deadline()));
  EXPECT_LT(FromProtoTime(after.resolution_deadline()), FromProtoTime(before.resolution_deadline()));

  // The original policy back, saved past this replica.
  pb::DeadlinePolicy restore = original;
  restore.set_version(halved.version());
  ASSERT_TRUE(repo_->SavePolicy(restore, {}).ok());
  absl::SleepFor(kSettingsMaxAge + absl::Milliseconds(100));
  const pb::WorkOrder restored = NewWorkOrder(customer, pb::SEVERITY_GENERAL);
  EXPECT_EQ(FromProtoTime(restored.response_deadline()), FromProtoTime(before.response_deadline()));
  EXPECT_EQ(FromProtoTime(restored.resolution_deadline()), FromProtoTime(before.resolution_deadline()));
}

// ---- idempotent state changes (AIP-155) ----

using ::google::protobuf::util::MessageDifferencer;

// Sends one fixed request: a retry sends exactly the same message again.
using Send = std::function<grpc::Status(grpc::ClientContext*, pb::WorkOrder*)>;

template <typename Request>
Send Sender(pb::ComplaintService::Stub* stub,
            grpc::Status (pb::ComplaintService::Stub::*method)(grpc::ClientContext*, const Request&, pb::WorkOrder*),
            Request req) {
  return [stub, method, req](grpc::ClientContext* ctx, pb::WorkOrder* out) { return (stub->*method)(ctx, req, out); };
}

TEST_F(ComplaintsTest, EveryStateChangeRetriedWithItsRequestIdAppliesOnce) {
  clock_->Set(Shanghai(2026, 11, 24, 10, 0));  // Tuesday
  pb::WorkOrder w = NewWorkOrder(NewCustomer(cpb::TIER_STANDARD, 7), pb::SEVERITY_GENERAL);
  auto stub = Stub();
  auto action = [&](grpc::Status (pb::ComplaintService::Stub::*method)(
                        grpc::ClientContext*, const pb::WorkOrderActionRequest&, pb::WorkOrder*)) {
    return [&, method](int64_t version, const std::string& request_id) {
      pb::WorkOrderActionRequest req;
      req.set_work_order_id(w.id());
      req.set_version(version);
      req.set_note("幂等测试");
      req.set_request_id(request_id);
      return Sender(stub.get(), method, req);
    };
  };
  pb::ResolveWorkOrderRequest resolve;
  resolve.set_work_order_id(w.id());
  resolve.mutable_resolution()->set_summary("更换滤网");
  resolve.mutable_resolution()->add_actions(pb::RESOLUTION_ACTION_REPAIR);
  auto resolve_step = [&](int64_t version, const std::string& request_id) {
    pb::ResolveWorkOrderRequest req = resolve;
    req.set_version(version);
    req.set_request_id(request_id);
    return Sender(stub.get(), &pb::ComplaintService::Stub::ResolveWorkOrder, req);
  };
  struct Step {
    std::string rpc;
    // The request for the work order at `version`; every versioned request carries it,
    // so each retry below is also a retry with a stale version.
    std::function<Send(int64_t version, const std::string& request_id)> request;
    int events;          // events the change records
    int follow_ups = 0;  // follow-up rows it adds
    std::string roles = "agent";
  };
  std::vector<Step> steps{
      {"AcceptWorkOrder", action(&pb::ComplaintService::Stub::AcceptWorkOrder), 1},
      {"AssignWorkOrder",
       [&](int64_t version, const std::string& request_id) {
         pb::AssignWorkOrderRequest req;
         req.set_work_order_id(w.id());
         req.set_department_id("D-SERVICE");
         req.set_handler_id("E2002");
         req.set_version(version);
         req.set_request_id(request_id);
         return Sender(stub.get(), &pb::ComplaintService::Stub::AssignWorkOrder, req);
       },
       1, 0, "department_manager"},
      {"StartWork", action(&pb::ComplaintService::Stub::StartWork), 1},
      {"PauseSla",
       [&](int64_t version, const std::string& request_id) {
         pb::PauseSlaRequest req;
         req.set_work_order_id(w.id());
         req.set_reason(pb::PAUSE_REASON_WAITING_CUSTOMER);
         req.set_version(version);
         req.set_request_id(request_id);
         return Sender(stub.get(), &pb::ComplaintService::Stub::PauseSla, req);
       },
       1},
      {"ResumeSla", action(&pb::ComplaintService::Stub::ResumeSla), 1},
      {"ChangeSeverity",
       [&](int64_t version, const std::string& request_id) {
         pb::ChangeSeverityRequest req;
         req.set_work_order_id(w.id());
         req.set_severity(pb::SEVERITY_MINOR);
         req.set_reason("影响范围小");
         req.set_version(version);
         req.set_request_id(request_id);
         return Sender(stub.get(), &pb::ComplaintService::Stub::ChangeSeverity, req);
       },
       1, 0, "department_manager"},
      {"AddNote",
       [&](int64_t, const std::string& request_id) {
         pb::AddNoteRequest req;
         req.set_work_order_id(w.id());
         req.set_text("已电话联系客户");
         req.set_request_id(request_id);
         return Sender(stub.get(), &pb::ComplaintService::Stub::AddNote, req);
       },
       1},
      {"ResolveWorkOrder", resolve_step, 1},
      {"StartFollowUp", action(&pb::ComplaintService::Stub::StartFollowUp), 1},
      {"RecordFollowUp",
       [&](int64_t version, const std::string& request_id) {
         pb::RecordFollowUpRequest req;
         req.set_work_order_id(w.id());
         req.set_satisfaction(2);  // not satisfied: reopens, so it must not reopen twice
         req.set_note("仍有异味");
         req.set_version(version);
         req.set_request_id(request_id);
         return Sender(stub.get(), &pb::ComplaintService::Stub::RecordFollowUp, req);
       },
       2, 1},
      {"ResolveWorkOrder (again)", resolve_step, 1},
      {"CloseWithoutSatisfaction",
       [&](int64_t version, const std::string& request_id) {
         pb::CloseWithoutSatisfactionRequest req;
         req.set_work_order_id(w.id());
         req.set_reason("客户拒绝回访");
         req.set_version(version);
         req.set_request_id(request_id);
         return Sender(stub.get(), &pb::ComplaintService::Stub::CloseWithoutSatisfaction, req);
       },
       1, 0, "senior_manager"},
  };
  auto events = [&] { return Count("SELECT COUNT(*) FROM work_order_events WHERE work_order_id = ?", {w.id()}); };
  auto follow_ups = [&] { return Count("SELECT COUNT(*) FROM follow_ups WHERE work_order_id = ?", {w.id()}); };
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    SCOPED_TRACE(step.rpc);
    pb::WorkOrder before = Get(w.id());
    int64_t events_before = events(), follow_ups_before = follow_ups();
    Send send = step.request(before.version(), absl::StrCat("idem-", w.id(), "-", i));
    pb::WorkOrder first;
    grpc::Status s = send(Ctx("S0001", step.roles).get(), &first);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(first.version(), before.version() + 1);
    // A second execution would stamp a later update_time (and usually fail its transition).
    clock_->Advance(absl::Minutes(5));
    pb::WorkOrder retried;
    s = send(Ctx("S0001", step.roles).get(), &retried);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(MessageDifferencer::Equals(first, retried)) << first.DebugString() << "\nvs\n" << retried.DebugString();
    pb::WorkOrder after = Get(w.id());
    EXPECT_EQ(after.version(), before.version() + 1);
    EXPECT_EQ(FromProtoTime(after.update_time()), FromProtoTime(first.update_time()));
    EXPECT_EQ(events(), events_before + step.events);
    EXPECT_EQ(follow_ups(), follow_ups_before + step.follow_ups);
  }
  pb::WorkOrder closed = Get(w.id());
  EXPECT_EQ(closed.status(), pb::STATUS_CLOSED);
  EXPECT_EQ(closed.reopen_count(), 1);
  EXPECT_EQ(closed.follow_ups_size(), 1);
  EXPECT_EQ(closed.handler_id(), "E2002");
  EXPECT_EQ(closed.severity(), pb::SEVERITY_MINOR);
}

TEST_F(ComplaintsTest, ARequestIdReplaysEvenWithAStaleVersionButANewOneIsAborted) {
  clock_->Set(Shanghai(2026, 11, 24, 14, 0));
  pb::WorkOrder w = NewWorkOrder(NewCustomer(cpb::TIER_STANDARD, 8), pb::SEVERITY_GENERAL);
  pb::WorkOrderActionRequest accept;
  accept.set_work_order_id(w.id());
  accept.set_version(w.version());
  accept.set_request_id("accept-A");
  pb::WorkOrder first, again;
  ASSERT_TRUE(Stub()->AcceptWorkOrder(Ctx().get(), accept, &first).ok());
  EXPECT_EQ(first.version(), w.version() + 1);
  clock_->Advance(absl::Minutes(1));
  // Same id, same (now stale) version: the first result.
  grpc::Status s = Stub()->AcceptWorkOrder(Ctx().get(), accept, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(MessageDifferencer::Equals(first, again));
  // A new id with the stale version is a new request, refused as stale.
  accept.set_request_id("accept-B");
  s = Stub()->AcceptWorkOrder(Ctx().get(), accept, &again);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), reason::kStaleVersion);
  EXPECT_EQ(Get(w.id()).version(), first.version());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM work_order_events WHERE work_order_id = ? AND kind = ?",
                  {w.id(), static_cast<int>(pb::EVENT_KIND_ACCEPTED)}),
            1);

  // The same id for a different request is refused and changes nothing.
  pb::AddNoteRequest note;
  note.set_work_order_id(w.id());
  note.set_text("第一条备注");
  note.set_request_id("note-A");
  pb::WorkOrder noted;
  ASSERT_TRUE(Stub()->AddNote(Ctx().get(), note, &noted).ok());
  note.set_text("另一条备注");
  s = Stub()->AddNote(Ctx().get(), note, &again);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), reason::kRequestIdReused);
  EXPECT_EQ(Get(w.id()).version(), noted.version());
  EXPECT_EQ(Count("SELECT COUNT(*) FROM work_order_events WHERE work_order_id = ? AND kind = ?",
                  {w.id(), static_cast<int>(pb::EVENT_KIND_NOTE)}),
            1);

  // A malformed request id is refused up front, naming the field.
  note.set_request_id("not an id!");
  s = Stub()->AddNote(Ctx().get(), note, &again);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("request_id"), std::string::npos);
  pb::WorkOrderActionRequest start;
  start.set_work_order_id(w.id());
  start.set_request_id(std::string(65, 'a'));
  s = Stub()->StartWork(Ctx().get(), start, &again);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("request_id"), std::string::npos);
}

// After PolicyAndCalendarAreVersionedAndValidated, which expects never-saved settings.
TEST_F(ComplaintsTest, SettingsUpdatesRetriedWithTheirRequestIdApplyOnce) {
  pb::DeadlinePolicy policy;
  ASSERT_TRUE(Stub()->GetDeadlinePolicy(Ctx().get(), pb::GetDeadlinePolicyRequest(), &policy).ok());
  pb::UpdateDeadlinePolicyRequest update;
  *update.mutable_policy() = policy;  // the same rules: only the version moves
  update.set_request_id("policy-A");
  pb::DeadlinePolicy saved, again;
  ASSERT_TRUE(Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &saved).ok());
  EXPECT_EQ(saved.version(), policy.version() + 1);
  grpc::Status s = Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(MessageDifferencer::Equals(saved, again));
  pb::DeadlinePolicy now;
  ASSERT_TRUE(Stub()->GetDeadlinePolicy(Ctx().get(), pb::GetDeadlinePolicyRequest(), &now).ok());
  EXPECT_EQ(now.version(), saved.version());
  update.set_request_id("policy-B");
  s = Stub()->UpdateDeadlinePolicy(Ctx("S1", "senior_manager").get(), update, &again);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);

  pb::BusinessCalendar calendar;
  ASSERT_TRUE(Stub()->GetBusinessCalendar(Ctx().get(), pb::GetBusinessCalendarRequest(), &calendar).ok());
  pb::UpdateBusinessCalendarRequest cal_update;
  *cal_update.mutable_calendar() = calendar;
  cal_update.set_request_id("calendar-A");
  pb::BusinessCalendar cal_saved, cal_again;
  ASSERT_TRUE(Stub()->UpdateBusinessCalendar(Ctx("S1", "senior_manager").get(), cal_update, &cal_saved).ok());
  EXPECT_EQ(cal_saved.version(), calendar.version() + 1);
  s = Stub()->UpdateBusinessCalendar(Ctx("S1", "senior_manager").get(), cal_update, &cal_again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(MessageDifferencer::Equals(cal_saved, cal_again));
  pb::BusinessCalendar cal_now;
  ASSERT_TRUE(Stub()->GetBusinessCalendar(Ctx().get(), pb::GetBusinessCalendarRequest(), &cal_now).ok());
  EXPECT_EQ(cal_now.version(), cal_saved.version());
  // The same id with a different calendar is refused.
  cal_update.mutable_calendar()->add_holidays("2027-10-01");
  s = Stub()->UpdateBusinessCalendar(Ctx("S1", "senior_manager").get(), cal_update, &cal_again);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), reason::kRequestIdReused);
}

}  // namespace
}  // namespace kefu::complaints
