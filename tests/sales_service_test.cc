// The sales service against real MariaDB with the real customers and contracts
// services: initiation, the stage machine, activities rolling up cost, competitors,
// action plans, a win asking contracts for exactly one draft (also after contracts was
// down), the pipeline aggregates, win rate and forecast.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/outbox.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "sales/src/repository.h"
#include "sales/src/service.h"
#include "support/contracts_fixture.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& SalesMigrations();

namespace kefu::sales {
namespace {

using ::grpc::StatusCode;
namespace cpb = ::kefu::customers::v1;

class SalesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("sales-test", log::Level::kError);
    clock_ = new FakeClock(absl::FromCivil(absl::CivilHour(2027, 4, 1, 10), absl::FixedTimeZone(8 * 3600)));
    customers_ = new testing::CustomersFixture(clock_);
    contracts_ = new testing::ContractsFixture(clock_, customers_->channel());
    static ChannelPool channels;
    contracts_channel_ = new std::shared_ptr<grpc::Channel>(channels.Get(absl::StrCat("127.0.0.1:", contracts_->port())));
    db_ = new db::Config(testing::CreateSchema("sales"));
    ServerOptions o;
    o.token_verifier = kefu::testing::TestVerifier();
    o.service_token_verifier = kefu::testing::TestServiceVerifier();
    kefu::testing::UseTestServiceIdentity();
    o.service_name = "sales";
    o.listen_host = "127.0.0.1";
    o.metrics_port = -1;
    o.db = *db_;
    o.health_interval = absl::Milliseconds(100);
    server_ = new Server(o);
    repo_ = new Repository(&server_->pool(), clock_);
    static prometheus::Registry registry;
    metrics_ = new BusinessMetrics(registry);
    service_ = new SalesServiceImpl(repo_, &server_->pool(), metrics_, clock_, {customers_->channel(), absl::Seconds(2)});
    relay_ = new outbox::Relay(&server_->pool(), clock_, registry);
    relay_->Register(clients::kCustomerLogTarget, clients::CustomerLogHandler(customers_->channel(), absl::Seconds(2)));
    relay_->Register(kDraftContractTarget, DraftContractHandler(*contracts_channel_, repo_, absl::Seconds(2)));
    server_->AddService(service_, pb::SalesService::service_full_name());
    ASSERT_TRUE(server_->Start(SalesMigrations()).ok());
    for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    delete contracts_;
    delete customers_;
    testing::DropSchema(*db_);
  }
  static std::unique_ptr<grpc::ClientContext> Ctx() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    kefu::testing::Authorize(ctx.get(), "E1001", "senior_manager");
    return ctx;
  }
  std::unique_ptr<pb::SalesService::Stub> Stub() { return pb::SalesService::NewStub(*channel_); }

  pb::Project NewProject(int64_t customer, int64_t amount, const std::string& owner, const std::string& signing) {
    pb::CreateProjectRequest req;
    auto* p = req.mutable_project();
    p->set_name(absl::StrCat("客服系统升级项目-", owner, "-", amount));
    p->set_customer_id(customer);
    p->set_owner_id(owner);
    p->set_department_id("D-EAST");
    p->set_goal("升级呼叫中心");
    p->set_customer_contact("李总");
    p->mutable_estimated_amount()->set_currency_code("CNY");
    p->mutable_estimated_amount()->set_amount_minor(amount);
    p->set_expected_signing_date(signing);
    pb::Project out;
    grpc::Status s = Stub()->CreateProject(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  pb::Project Move(int64_t id, pb::Stage stage, const std::string& closing = "") {
    pb::ChangeStageRequest req;
    req.set_project_id(id);
    req.set_stage(stage);
    if (!closing.empty()) {
      req.mutable_closing()->set_reason(closing);
      req.mutable_closing()->mutable_total_cost()->set_amount_minor(12000);
    }
    pb::Project out;
    grpc::Status s = Stub()->ChangeStage(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
  static testing::ContractsFixture* contracts_;
  static std::shared_ptr<grpc::Channel>* contracts_channel_;
  static db::Config* db_;
  static Server* server_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static SalesServiceImpl* service_;
  static outbox::Relay* relay_;
  static std::shared_ptr<grpc::Channel>* channel_;
};

FakeClock* SalesTest::clock_;
testing::CustomersFixture* SalesTest::customers_;
testing::ContractsFixture* SalesTest::contracts_;
std::shared_ptr<grpc::Channel>* SalesTest::contracts_channel_;
db::Config* SalesTest::db_;
Server* SalesTest::server_;
Repository* SalesTest::repo_;
BusinessMetrics* SalesTest::metrics_;
SalesServiceImpl* SalesTest::service_;
outbox::Relay* SalesTest::relay_;
std::shared_ptr<grpc::Channel>* SalesTest::channel_;

TEST_F(SalesTest, FromInitiationToWonWithActivitiesAndOneDraftContract) {
  int64_t customer = customers_->CreateCustomer("销售测试客户甲", cpb::TIER_GOLD);
  pb::Project p = NewProject(customer, 500'000'00, "E1001", "2027-06-30");
  EXPECT_EQ(p.stage(), pb::STAGE_INITIATION);
  EXPECT_EQ(p.probability_bp(), 1000);

  pb::AddActivityRequest act;
  auto* a = act.mutable_activity();
  a->set_project_id(p.id());
  a->set_type(pb::ACTIVITY_TYPE_VISIT);
  a->set_place("客户总部");
  a->set_purpose("需求调研");
  a->set_result("确认需求范围");
  a->mutable_cost()->set_amount_minor(3000'00);
  act.set_request_id("visit-1");
  pb::Activity added, replay;
  ASSERT_TRUE(Stub()->AddActivity(Ctx().get(), act, &added).ok());
  ASSERT_TRUE(Stub()->AddActivity(Ctx().get(), act, &replay).ok());
  EXPECT_EQ(added.id(), replay.id());
  pb::AddActivityRequest bid = act;
  bid.set_request_id("bid-1");
  bid.mutable_activity()->set_type(pb::ACTIVITY_TYPE_BID);
  bid.mutable_activity()->set_purpose("投标");
  bid.mutable_activity()->mutable_bid()->set_tender_date("2027-04-20");
  bid.mutable_activity()->mutable_bid()->set_bid_date("2027-04-25");
  bid.mutable_activity()->mutable_bid()->set_decided(true);
  bid.mutable_activity()->mutable_bid()->set_won(true);
  bid.mutable_activity()->mutable_cost()->set_amount_minor(2000'00);
  ASSERT_TRUE(Stub()->AddActivity(Ctx().get(), bid, &added).ok());

  pb::GetProjectRequest get;
  get.set_project_id(p.id());
  ASSERT_TRUE(Stub()->GetProject(Ctx().get(), get, &p).ok());
  EXPECT_EQ(p.actual_cost().amount_minor(), 5000'00);  // rolled up, the replay counted once

  pb::ListActivitiesRequest list;
  list.set_project_id(p.id());
  pb::ListActivitiesResponse acts;
  ASSERT_TRUE(Stub()->ListActivities(Ctx().get(), list, &acts).ok());
  ASSERT_EQ(acts.activities_size(), 2);
  EXPECT_TRUE(acts.activities(1).bid().won());
  EXPECT_EQ(acts.activities(1).bid().tender_date(), "2027-04-20");

  pb::SetCompetitorsRequest comp;
  comp.set_project_id(p.id());
  auto* c = comp.add_competitors();
  c->set_name("竞争对手A公司");
  c->set_strengths("价格低");
  c->set_weaknesses("服务网点少");
  ASSERT_TRUE(Stub()->SetCompetitors(Ctx().get(), comp, &p).ok());
  EXPECT_EQ(p.competitors_size(), 1);

  // Illegal jump, then the regular path.
  pb::ChangeStageRequest jump;
  jump.set_project_id(p.id());
  jump.set_stage(pb::STAGE_CONTRACT);
  pb::Project out;
  EXPECT_EQ(Stub()->ChangeStage(Ctx().get(), jump, &out).error_code(), StatusCode::FAILED_PRECONDITION);
  for (auto stage : {pb::STAGE_PROPOSAL, pb::STAGE_BIDDING, pb::STAGE_NEGOTIATION, pb::STAGE_CONTRACT})
    Move(p.id(), stage);
  pb::ChangeStageRequest win;
  win.set_project_id(p.id());
  win.set_stage(pb::STAGE_WON);
  EXPECT_EQ(Stub()->ChangeStage(Ctx().get(), win, &out).error_code(), StatusCode::INVALID_ARGUMENT);  // no summary

  // Contracts is down when the project is won: the draft request waits in the outbox.
  contracts_->Stop();
  p = Move(p.id(), pb::STAGE_WON, "方案契合度高，服务网点优势");
  EXPECT_EQ(p.stage(), pb::STAGE_WON);
  EXPECT_TRUE(p.has_close_time());
  (void)relay_->DeliverDue();
  contracts_->Start();
  for (int i = 0; i < 100; ++i) {
    clock_->Advance(absl::Minutes(10));
    (void)relay_->DeliverDue();
    ASSERT_TRUE(Stub()->GetProject(Ctx().get(), get, &p).ok());
    if (p.contract_id() != 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE(p.contract_id(), 0);
  // Redelivering the same request does not make a second draft.
  auto handler = DraftContractHandler(*contracts_channel_, repo_, absl::Seconds(2));
  contracts::v1::CreateDraftForProjectRequest again;
  again.set_sales_project_id(p.id());
  again.set_customer_id(customer);
  again.set_name(p.name());
  again.set_type(contracts::v1::CONTRACT_TYPE_SALES);
  *again.mutable_amount() = p.estimated_amount();
  ASSERT_TRUE(handler("", again.SerializeAsString()).ok());
  ASSERT_TRUE(Stub()->GetProject(Ctx().get(), get, &out).ok());
  EXPECT_EQ(out.contract_id(), p.contract_id());

  pb::ListStageChangesRequest hist;
  hist.set_project_id(p.id());
  pb::ListStageChangesResponse changes;
  ASSERT_TRUE(Stub()->ListStageChanges(Ctx().get(), hist, &changes).ok());
  EXPECT_EQ(changes.changes_size(), 6);  // initiation + 5 moves
  EXPECT_EQ(Stub()->ChangeStage(Ctx().get(), jump, &out).error_code(), StatusCode::FAILED_PRECONDITION);  // closed
}

TEST_F(SalesTest, InitiationCheckAndUnknownCustomer) {
  pb::CreateProjectRequest req;
  req.mutable_project()->set_name("缺资料项目");
  req.mutable_project()->set_customer_id(1);
  pb::Project out;
  grpc::Status s = Stub()->CreateProject(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "INITIATION_CHECK");
  pb::Project ok = NewProject(customers_->CreateCustomer("销售测试客户乙", cpb::TIER_STANDARD), 100, "E1002", "2027-05-01");
  EXPECT_GT(ok.id(), 0);
  req = pb::CreateProjectRequest();
  *req.mutable_project() = ok;
  req.mutable_project()->set_customer_id(99999999);
  s = Stub()->CreateProject(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("99999999"), std::string::npos);
  pb::UpdateProjectRequest stale;
  *stale.mutable_project() = ok;
  stale.mutable_project()->set_goal("新目标");
  stale.mutable_update_mask()->add_paths("goal");
  ASSERT_TRUE(Stub()->UpdateProject(Ctx().get(), stale, &out).ok());
  EXPECT_EQ(Stub()->UpdateProject(Ctx().get(), stale, &out).error_code(), StatusCode::ABORTED);
}

TEST_F(SalesTest, PipelineWinRateAndForecastAreAggregatedInSql) {
  int64_t customer = customers_->CreateCustomer("销售测试客户丙", cpb::TIER_SILVER);
  // E-PIPE: one negotiation 1,000.00 (60%), one proposal 2,000.00 (20%), one lost.
  pb::Project a = NewProject(customer, 1000'00, "E-PIPE", "2027-07-15");
  for (auto st : {pb::STAGE_PROPOSAL, pb::STAGE_NEGOTIATION}) Move(a.id(), st);
  pb::Project b = NewProject(customer, 2000'00, "E-PIPE", "2027-08-15");
  Move(b.id(), pb::STAGE_PROPOSAL);
  pb::Project c = NewProject(customer, 5000'00, "E-PIPE", "2027-07-20");
  Move(c.id(), pb::STAGE_PROPOSAL);
  Move(c.id(), pb::STAGE_LOST, "价格没有竞争力");

  pb::GetPipelineRequest req;
  req.set_group_by(pb::GROUP_BY_STAGE);
  req.set_owner_id("E-PIPE");
  pb::Pipeline pipe;
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), req, &pipe).ok());
  ASSERT_EQ(pipe.rows_size(), 2);
  EXPECT_EQ(pipe.total().count(), 2);
  EXPECT_EQ(pipe.total().amount_minor(), 3000'00);
  EXPECT_EQ(pipe.total().weighted_amount_minor(), 600'00 + 400'00);
  req.set_group_by(pb::GROUP_BY_SIGNING_MONTH);
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), req, &pipe).ok());
  ASSERT_EQ(pipe.rows_size(), 2);
  EXPECT_EQ(pipe.rows(0).key(), "2027-07");

  pb::GetForecastRequest fc;
  fc.set_from("2027-07-01");
  fc.set_to("2027-07-31");
  pb::Forecast forecast;
  ASSERT_TRUE(Stub()->GetForecast(Ctx().get(), fc, &forecast).ok());
  EXPECT_GE(forecast.weighted_amount_minor(), 600'00);

  pb::GetWinRateRequest wr;
  wr.set_from("2027-01-01");
  wr.set_to("2028-01-01");
  wr.set_owner_id("E-PIPE");
  pb::WinRate rate;
  ASSERT_TRUE(Stub()->GetWinRate(Ctx().get(), wr, &rate).ok());
  EXPECT_EQ(rate.lost(), 1);
  EXPECT_EQ(rate.won(), 0);
  EXPECT_EQ(rate.win_rate_bp(), 0);
  ASSERT_GE(rate.conversions_size(), 2);
  EXPECT_EQ(rate.conversions(1).stage(), pb::STAGE_PROPOSAL);
  EXPECT_EQ(rate.conversions(1).reached(), 1);
  EXPECT_EQ(rate.conversions(1).advanced(), 0);

  pb::UpdateStageProbabilitiesRequest probs;
  *probs.mutable_probabilities() = DefaultProbabilities();
  probs.mutable_probabilities()->mutable_stages(3)->set_probability_bp(5000);  // negotiation
  pb::StageProbabilities saved;
  ASSERT_TRUE(Stub()->UpdateStageProbabilities(Ctx().get(), probs, &saved).ok());
  req.set_group_by(pb::GROUP_BY_STAGE);
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), req, &pipe).ok());
  EXPECT_EQ(pipe.total().weighted_amount_minor(), 500'00 + 400'00);
}

}  // namespace
}  // namespace kefu::sales
