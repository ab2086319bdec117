// GetQualitySeries against the real complaints service (with the real customers service)
// and MariaDB, with an injected clock so deadlines, resolutions and follow-ups land at
// exact moments: the weekly overdue rate, satisfaction and time to resolve for a
// department, a handler and the whole company, checked against figures worked out by
// hand, empty weeks present with zeros, ISO week labels, and the requests it refuses.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "complaints/src/repository.h"
#include "complaints/src/service.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/log.h"
#include "kefu/server.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& ComplaintsMigrations();

namespace kefu::complaints {
namespace {

using Stub = pb::ComplaintService::Stub;
using Action = grpc::Status (Stub::*)(grpc::ClientContext*, const pb::WorkOrderActionRequest&, pb::WorkOrder*);

absl::Time Shanghai(int y, int mo, int d, int h = 0, int mi = 0) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi), absl::FixedTimeZone(8 * 3600));
}

class QualitySeriesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("stats-complaints-test", log::Level::kWarn);
    clock_ = new FakeClock(Shanghai(2026, 11, 16, 9));
    customers_ = new testing::CustomersFixture(clock_);
    db_ = new db::Config(testing::CreateSchema("stats_cmp"));
    ServerOptions o;
    o.token_verifier = kefu::testing::TestVerifier();
    o.service_token_verifier = kefu::testing::TestServiceVerifier();
    kefu::testing::UseTestServiceIdentity();
    o.service_name = "complaints";
    o.listen_host = "127.0.0.1";
    o.metrics_port = -1;
    o.db = *db_;
    o.health_interval = absl::Milliseconds(100);
    server_ = new Server(o);
    repo_ = new Repository(&server_->pool(), clock_);
    static prometheus::Registry registry;
    metrics_ = new BusinessMetrics(registry);
    ServiceConfig config;
    config.customers = customers_->channel();
    config.customers_timeout = absl::Seconds(2);
    config.zone = absl::FixedTimeZone(8 * 3600);
    service_ = new ComplaintServiceImpl(repo_, metrics_, clock_, config);
    server_->AddService(service_, pb::ComplaintService::service_full_name());
    ASSERT_TRUE(server_->Start(ComplaintsMigrations()).ok());
    for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(server_->ready());
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
    customer_id_ = customers_->CreateCustomer("华南精密制造有限公司", customers::v1::TIER_STANDARD);
    BuildHistory();
  }
  static void TearDownTestSuite() {
    service_->StopWatches();
    server_->Shutdown();
    delete server_;
    delete customers_;
    testing::DropSchema(*db_);
  }

  static std::unique_ptr<Stub> NewStub() { return pb::ComplaintService::NewStub(*channel_); }
  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    kefu::testing::Authorize(ctx.get(), "E2001", "senior_manager");
    return ctx;
  }
  static void Expect(const grpc::Status& s) { EXPECT_TRUE(s.ok()) << s.error_message(); }

  // Moves the clock and runs the escalation sweep, which marks missed deadlines overdue.
  static void At(absl::Time t) {
    clock_->Set(t);
    ASSERT_TRUE(service_->SweepOnce(1000).ok());
  }
  // A major work order (1 h to respond, 8 h to resolve, around the clock), received now.
  static void Receive(const std::string& key, const std::string& department, const std::string& handler) {
    pb::CreateWorkOrderRequest req;
    auto* w = req.mutable_work_order();
    w->set_customer_id(customer_id_);
    w->set_channel(pb::CHANNEL_PHONE);
    w->set_type(pb::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(pb::SEVERITY_MAJOR);
    w->set_content("生产线设备停机，需紧急维修");
    w->set_department_id(department);
    w->set_handler_id(handler);
    pb::WorkOrder out;
    Expect(NewStub()->CreateWorkOrder(Ctx().get(), req, &out));
    ids_[key] = out.id();
  }
  static void Do(Action action, const std::string& key) {
    pb::WorkOrderActionRequest req;
    req.set_work_order_id(ids_[key]);
    pb::WorkOrder out;
    Expect((NewStub().get()->*action)(Ctx().get(), req, &out));
  }
  static void AcceptAndStart(const std::string& key) {
    Do(&Stub::AcceptWorkOrder, key);
    Do(&Stub::StartWork, key);
  }
  static void Resolve(const std::string& key) {
    pb::ResolveWorkOrderRequest req;
    req.set_work_order_id(ids_[key]);
    req.mutable_resolution()->set_summary("更换主板，设备恢复运行");
    pb::WorkOrder out;
    Expect(NewStub()->ResolveWorkOrder(Ctx().get(), req, &out));
  }
  static void FollowUp(const std::string& key, int satisfaction) {
    Do(&Stub::StartFollowUp, key);
    pb::RecordFollowUpRequest req;
    req.set_work_order_id(ids_[key]);
    req.set_satisfaction(satisfaction);
    pb::WorkOrder out;
    Expect(NewStub()->RecordFollowUp(Ctx().get(), req, &out));
  }
  static bool Overdue(const std::string& key) {
    pb::GetWorkOrderRequest req;
    req.set_work_order_id(ids_[key]);
    pb::WorkOrder out;
    Expect(NewStub()->GetWorkOrder(Ctx().get(), req, &out));
    return out.overdue();
  }

  // Department D-SVC (handlers H1, H2) and D-OTHER. Weeks (Shanghai): W47 starts Monday
  // 2026-11-16, W48 11-23, W49 11-30 (nothing happens), W50 12-07, W51 12-14.
  static void BuildHistory() {
    At(Shanghai(2026, 11, 16, 10));
    Receive("a", "D-SVC", "H1");  // due Mon 11-16 18:00 (W47)
    At(Shanghai(2026, 11, 16, 10, 30));
    AcceptAndStart("a");
    At(Shanghai(2026, 11, 16, 12));
    Resolve("a");  // 2 h, on time
    At(Shanghai(2026, 11, 16, 14));
    FollowUp("a", 5);  // W47

    At(Shanghai(2026, 11, 17, 9));
    Receive("g", "D-SVC", "H2");  // due Tue 11-17 17:00 (W47)
    At(Shanghai(2026, 11, 17, 9, 30));
    AcceptAndStart("g");
    At(Shanghai(2026, 11, 17, 10));
    Receive("b", "D-SVC", "H1");  // due Tue 11-17 18:00 (W47), never resolved
    At(Shanghai(2026, 11, 17, 10, 30));
    AcceptAndStart("b");
    At(Shanghai(2026, 11, 17, 15));
    Resolve("g");  // 6 h, on time
    At(Shanghai(2026, 11, 17, 19));  // the sweep finds b past its deadline

    At(Shanghai(2026, 11, 22, 16));
    Receive("c", "D-SVC", "H2");  // due exactly Mon 11-23 00:00, the start of W48
    At(Shanghai(2026, 11, 22, 16, 30));
    AcceptAndStart("c");
    At(Shanghai(2026, 11, 23, 2));
    Resolve("c");  // late
    At(Shanghai(2026, 11, 23, 9));
    FollowUp("c", 2);  // W48; reopens
    At(Shanghai(2026, 11, 23, 10));
    Resolve("c");  // the latest resolution: 18 h after receipt
    Receive("d", "D-OTHER", "H9");  // due Mon 11-23 18:00, then 22:00 after its reopening (W48)
    At(Shanghai(2026, 11, 23, 10, 30));
    AcceptAndStart("d");
    At(Shanghai(2026, 11, 23, 15));
    Resolve("d");
    At(Shanghai(2026, 11, 23, 19));
    FollowUp("d", 1);  // W48; reopens with 3 h of the budget left
    At(Shanghai(2026, 11, 23, 19, 30));
    Resolve("d");  // 9.5 h after receipt, on time
    At(Shanghai(2026, 11, 24, 9));
    FollowUp("c", 4);  // W48; closes

    At(Shanghai(2026, 12, 11, 20));
    Receive("e", "D-SVC", "H1");  // due Sat 12-12 04:00, then 13:00 after its reopening (W50)
    At(Shanghai(2026, 12, 11, 20, 30));
    AcceptAndStart("e");
    At(Shanghai(2026, 12, 12, 1));
    Resolve("e");
    At(Shanghai(2026, 12, 12, 10));
    FollowUp("e", 3);  // W50; reopens
    At(Shanghai(2026, 12, 12, 11));
    Resolve("e");  // 15 h after receipt, on time
    At(Shanghai(2026, 12, 12, 12));
    FollowUp("e", 5);  // W50; closes

    At(Shanghai(2026, 12, 13, 16));
    Receive("f", "D-SVC", "H1");  // due exactly Mon 12-14 00:00: W51, outside the series
    At(Shanghai(2026, 12, 14, 1));
  }

  static pb::GetQualitySeriesRequest Request(pb::QualityMeasure measure, const std::string& department = "",
                                             const std::string& handler = "") {
    pb::GetQualitySeriesRequest req;
    req.set_measure(measure);
    req.set_department_id(department);
    req.set_handler_id(handler);
    *req.mutable_from() = ToProtoTime(Shanghai(2026, 11, 18, 15, 30));  // a Wednesday in W47
    req.set_weeks(4);
    return req;
  }
  static pb::QualitySeries Series(const pb::GetQualitySeriesRequest& req) {
    pb::QualitySeries out;
    grpc::Status s = NewStub()->GetQualitySeries(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static void ExpectWeek(const pb::QualityWeek& w, int64_t total, int64_t defects, int64_t n, double mean,
                         double stddev) {
    EXPECT_EQ(w.total(), total) << w.week();
    EXPECT_EQ(w.defects(), defects) << w.week();
    EXPECT_EQ(w.n(), n) << w.week();
    EXPECT_NEAR(w.mean(), mean, 1e-9) << w.week();
    EXPECT_NEAR(w.stddev(), stddev, 1e-6) << w.week();
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
  static db::Config* db_;
  static Server* server_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static ComplaintServiceImpl* service_;
  static std::shared_ptr<grpc::Channel>* channel_;
  static int64_t customer_id_;
  static std::map<std::string, int64_t> ids_;
};

FakeClock* QualitySeriesTest::clock_;
testing::CustomersFixture* QualitySeriesTest::customers_;
db::Config* QualitySeriesTest::db_;
Server* QualitySeriesTest::server_;
Repository* QualitySeriesTest::repo_;
BusinessMetrics* QualitySeriesTest::metrics_;
ComplaintServiceImpl* QualitySeriesTest::service_;
std::shared_ptr<grpc::Channel>* QualitySeriesTest::channel_;
int64_t QualitySeriesTest::customer_id_;
std::map<std::string, int64_t> QualitySeriesTest::ids_;

TEST_F(QualitySeriesTest, TheHistoryIsAsPlanned) {
  EXPECT_FALSE(Overdue("a"));
  EXPECT_TRUE(Overdue("b"));
  EXPECT_TRUE(Overdue("c"));
  EXPECT_FALSE(Overdue("d"));
  EXPECT_FALSE(Overdue("e"));
  EXPECT_FALSE(Overdue("g"));
}

TEST_F(QualitySeriesTest, WeeksStartOnMondayAndEveryWeekIsPresent) {
  pb::QualitySeries s = Series(Request(pb::QUALITY_MEASURE_OVERDUE_RATE, "D-SVC"));
  EXPECT_EQ(s.measure(), pb::QUALITY_MEASURE_OVERDUE_RATE);
  ASSERT_EQ(s.weeks_size(), 4);
  const char* labels[] = {"2026-W47", "2026-W48", "2026-W49", "2026-W50"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(s.weeks(i).week(), labels[i]);
    EXPECT_EQ(FromProtoTime(s.weeks(i).start()), Shanghai(2026, 11, 16 + 7 * i)) << labels[i];
  }
  // Across the new year: 2026 has 53 ISO weeks.
  pb::GetQualitySeriesRequest req = Request(pb::QUALITY_MEASURE_SATISFACTION);
  *req.mutable_from() = ToProtoTime(Shanghai(2027, 1, 3, 23, 59));  // Sunday of 2026-W53
  req.set_weeks(3);
  s = Series(req);
  ASSERT_EQ(s.weeks_size(), 3);
  EXPECT_EQ(s.weeks(0).week(), "2026-W53");
  EXPECT_EQ(FromProtoTime(s.weeks(0).start()), Shanghai(2026, 12, 28));
  EXPECT_EQ(s.weeks(1).week(), "2027-W01");
  EXPECT_EQ(s.weeks(2).week(), "2027-W02");
  for (const auto& w : s.weeks()) ExpectWeek(w, 0, 0, 0, 0, 0);
  // A start already on Monday 00:00 stays.
  *req.mutable_from() = ToProtoTime(Shanghai(2026, 11, 23));
  req.set_weeks(1);
  s = Series(req);
  ASSERT_EQ(s.weeks_size(), 1);
  EXPECT_EQ(s.weeks(0).week(), "2026-W48");
}

TEST_F(QualitySeriesTest, OverdueRateByDeadlineWeek) {
  pb::QualitySeries s = Series(Request(pb::QUALITY_MEASURE_OVERDUE_RATE, "D-SVC"));
  ASSERT_EQ(s.weeks_size(), 4);
  ExpectWeek(s.weeks(0), 3, 1, 0, 0, 0);  // a, g on time; b never resolved
  ExpectWeek(s.weeks(1), 1, 1, 0, 0, 0);  // c: due at the first instant of W48, resolved late
  ExpectWeek(s.weeks(2), 0, 0, 0, 0, 0);  // nothing due
  ExpectWeek(s.weeks(3), 1, 0, 0, 0, 0);  // e; f is due at the first instant of W51

  s = Series(Request(pb::QUALITY_MEASURE_OVERDUE_RATE, "", "H1"));
  ASSERT_EQ(s.weeks_size(), 4);
  ExpectWeek(s.weeks(0), 2, 1, 0, 0, 0);  // a, b
  ExpectWeek(s.weeks(1), 0, 0, 0, 0, 0);
  ExpectWeek(s.weeks(2), 0, 0, 0, 0, 0);
  ExpectWeek(s.weeks(3), 1, 0, 0, 0, 0);  // e

  s = Series(Request(pb::QUALITY_MEASURE_OVERDUE_RATE));
  ASSERT_EQ(s.weeks_size(), 4);
  ExpectWeek(s.weeks(1), 2, 1, 0, 0, 0);  // c and D-OTHER's d
}

TEST_F(QualitySeriesTest, SatisfactionOfFollowUpsRecordedEachWeek) {
  pb::QualitySeries s = Series(Request(pb::QUALITY_MEASURE_SATISFACTION, "D-SVC"));
  ASSERT_EQ(s.weeks_size(), 4);
  ExpectWeek(s.weeks(0), 1, 0, 1, 5, 0);                // a: 5
  ExpectWeek(s.weeks(1), 2, 1, 2, 3, std::sqrt(2.0));   // c: 2, then 4
  ExpectWeek(s.weeks(2), 0, 0, 0, 0, 0);
  ExpectWeek(s.weeks(3), 2, 1, 2, 4, std::sqrt(2.0));   // e: 3, then 5

  s = Series(Request(pb::QUALITY_MEASURE_SATISFACTION));
  ASSERT_EQ(s.weeks_size(), 4);
  // c: 2, 4 and d: 1 -> mean 7/3, sample variance ((1/3)^2 + (5/3)^2 + (4/3)^2) / 2 = 7/3.
  ExpectWeek(s.weeks(1), 3, 2, 3, 7.0 / 3, std::sqrt(7.0 / 3));
}

TEST_F(QualitySeriesTest, TimeToResolveOfWorkOrdersResolvedEachWeek) {
  pb::QualitySeries s = Series(Request(pb::QUALITY_MEASURE_TIME_TO_RESOLVE, "D-SVC"));
  ASSERT_EQ(s.weeks_size(), 4);
  ExpectWeek(s.weeks(0), 2, 0, 2, 4, std::sqrt(8.0));  // a 2 h, g 6 h; b unresolved
  ExpectWeek(s.weeks(1), 1, 1, 1, 18, 0);              // c, counted at its latest resolution
  ExpectWeek(s.weeks(2), 0, 0, 0, 0, 0);
  ExpectWeek(s.weeks(3), 1, 0, 1, 15, 0);  // e

  s = Series(Request(pb::QUALITY_MEASURE_TIME_TO_RESOLVE));
  ASSERT_EQ(s.weeks_size(), 4);
  ExpectWeek(s.weeks(1), 2, 1, 2, 13.75, 8.5 / std::sqrt(2.0));  // c 18 h, d 9.5 h
}

TEST_F(QualitySeriesTest, RefusesBadRequestsNamingTheField) {
  auto expect_invalid = [](const pb::GetQualitySeriesRequest& req, const std::string& text) {
    pb::QualitySeries out;
    grpc::Status s = NewStub()->GetQualitySeries(Ctx().get(), req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
    EXPECT_TRUE(absl::StrContains(s.error_message(), text)) << s.error_message();
  };
  expect_invalid(Request(pb::QUALITY_MEASURE_UNSPECIFIED), "measure");
  expect_invalid(Request(static_cast<pb::QualityMeasure>(9)), "measure");
  pb::GetQualitySeriesRequest req = Request(pb::QUALITY_MEASURE_OVERDUE_RATE);
  req.clear_from();
  expect_invalid(req, "from: is required");
  req = Request(pb::QUALITY_MEASURE_OVERDUE_RATE);
  req.set_weeks(0);
  expect_invalid(req, "weeks");
  req.set_weeks(105);
  expect_invalid(req, "weeks");
  expect_invalid(Request(pb::QUALITY_MEASURE_OVERDUE_RATE, "D-SVC", "H1"), "handler_id");
  expect_invalid(Request(pb::QUALITY_MEASURE_OVERDUE_RATE, "D SVC"), "department_id");
  // 104 weeks (two years) is the longest series.
  req = Request(pb::QUALITY_MEASURE_TIME_TO_RESOLVE, "D-SVC");
  req.set_weeks(104);
  pb::QualitySeries out = Series(req);
  ASSERT_EQ(out.weeks_size(), 104);
  ExpectWeek(out.weeks(0), 2, 0, 2, 4, std::sqrt(8.0));
  ExpectWeek(out.weeks(103), 0, 0, 0, 0, 0);
}

}  // namespace
}  // namespace kefu::complaints
