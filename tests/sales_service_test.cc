// The sales service against real MariaDB with the real customers and contracts
// services: initiation, the stage machine, activities rolling up cost, competitors,
// action plans, a win asking contracts for exactly one draft (also after contracts was
// down), the pipeline aggregates, win rate and forecast, and retries of every state
// change with a request_id replaying the first response (AIP-155), and projects
// created while customers is down (pending the customer check, settled by the sweep).
#include <functional>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
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
    clients::RegisterCustomerLog(*relay_, customers_->channel(), absl::Seconds(2));
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

  static pb::CreateProjectRequest ProjectRequest(int64_t customer, int64_t amount, const std::string& owner,
                                                 const std::string& signing) {
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
    return req;
  }

  pb::Project NewProject(int64_t customer, int64_t amount, const std::string& owner, const std::string& signing) {
    pb::CreateProjectRequest req = ProjectRequest(customer, amount, owner, signing);
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

  // Sends req twice, the clock moved on in between, and expects the same successful
  // response both times (the retry is a replay, not a second change); returns it.
  template <typename Request, typename Response>
  Response SendTwice(grpc::Status (pb::SalesService::Stub::*rpc)(grpc::ClientContext*, const Request&, Response*),
                     const Request& req) {
    auto stub = Stub();
    Response first, again;
    grpc::Status s = ((*stub).*rpc)(Ctx().get(), req, &first);
    EXPECT_TRUE(s.ok()) << s.error_message();
    clock_->Advance(absl::Seconds(5));
    s = ((*stub).*rpc)(Ctx().get(), req, &again);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, again))
        << first.ShortDebugString() << "\n vs \n" << again.ShortDebugString();
    return first;
  }

  pb::Project Fetch(int64_t id) {
    pb::GetProjectRequest get;
    get.set_project_id(id);
    pb::Project out;
    grpc::Status s = Stub()->GetProject(Ctx().get(), get, &out);
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
  pb::StageProbabilities current;  // the version, whichever test saved them before
  ASSERT_TRUE(Stub()->GetStageProbabilities(Ctx().get(), pb::GetStageProbabilitiesRequest(), &current).ok());
  probs.mutable_probabilities()->set_version(current.version());
  probs.mutable_probabilities()->mutable_stages(3)->set_probability_bp(5000);  // negotiation
  pb::StageProbabilities saved;
  ASSERT_TRUE(Stub()->UpdateStageProbabilities(Ctx().get(), probs, &saved).ok());
  req.set_group_by(pb::GROUP_BY_STAGE);
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), req, &pipe).ok());
  EXPECT_EQ(pipe.total().weighted_amount_minor(), 500'00 + 400'00);
}

// The pipeline reads whole months from maintained totals and the days a range cuts
// through from the projects: every write must move a project's share, and both
// sources must agree.
TEST_F(SalesTest, PipelineFollowsEveryWriteAndCutsMonthsByDay) {
  int64_t customer = customers_->CreateCustomer("销售测试客户己", cpb::TIER_SILVER);
  pb::Project a = NewProject(customer, 100'00, "E-CELL", "2027-03-10");
  pb::Project b = NewProject(customer, 200'00, "E-CELL", "2027-03-25");
  pb::Project c = NewProject(customer, 400'00, "E-CELL", "2027-04-05");
  pb::Project d = NewProject(customer, 800'00, "E-CELL", "2027-05-31");
  using Sums = std::pair<int64_t, int64_t>;  // count, amount
  auto sums = [&](const std::string& owner, const std::string& from, const std::string& to) {
    pb::GetPipelineRequest req;
    req.set_owner_id(owner);
    req.set_signing_from(from);
    req.set_signing_to(to);
    pb::Pipeline pipe;
    grpc::Status st = Stub()->GetPipeline(Ctx().get(), req, &pipe);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return Sums{pipe.total().count(), pipe.total().amount_minor()};
  };
  EXPECT_EQ(sums("E-CELL", "", ""), (Sums{4, 1500'00}));
  EXPECT_EQ(sums("E-CELL", "2027-03-01", "2027-03-31"), (Sums{2, 300'00}));  // one whole month
  EXPECT_EQ(sums("E-CELL", "2027-03-11", "2027-04-30"), (Sums{2, 600'00}));  // cut March, whole April
  EXPECT_EQ(sums("E-CELL", "2027-03-10", "2027-03-10"), (Sums{1, 100'00}));  // one day
  EXPECT_EQ(sums("E-CELL", "2027-04-06", "2027-05-30"), (Sums{0, 0}));       // cut at both ends
  EXPECT_EQ(sums("E-CELL", "2027-04-06", ""), (Sums{1, 800'00}));
  EXPECT_EQ(sums("E-CELL", "", "2027-04-05"), (Sums{3, 700'00}));

  auto update = [&](const pb::Project& p, const std::string& path, const std::function<void(pb::Project*)>& set) {
    pb::UpdateProjectRequest req;
    req.mutable_project()->set_id(p.id());
    req.mutable_project()->set_version(p.version());
    set(req.mutable_project());
    req.mutable_update_mask()->add_paths(path);
    pb::Project out;
    grpc::Status st = Stub()->UpdateProject(Ctx().get(), req, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  };
  b = update(b, "estimated_amount", [](pb::Project* p) {
    p->mutable_estimated_amount()->set_currency_code("CNY");
    p->mutable_estimated_amount()->set_amount_minor(250'00);
  });
  c = update(c, "expected_signing_date", [](pb::Project* p) { p->set_expected_signing_date("2027-05-01"); });
  update(d, "owner_id", [](pb::Project* p) { p->set_owner_id("E-CELL-2"); });
  EXPECT_EQ(sums("E-CELL", "", ""), (Sums{3, 750'00}));
  EXPECT_EQ(sums("E-CELL", "2027-04-01", "2027-04-30"), (Sums{0, 0}));
  EXPECT_EQ(sums("E-CELL", "2027-05-01", "2027-05-01"), (Sums{1, 400'00}));
  EXPECT_EQ(sums("E-CELL-2", "2027-05-01", "2027-05-31"), (Sums{1, 800'00}));

  Move(a.id(), pb::STAGE_LOST, "预算取消");
  b = Move(b.id(), pb::STAGE_PROPOSAL);
  EXPECT_EQ(sums("E-CELL", "", ""), (Sums{2, 650'00}));
  pb::GetPipelineRequest by_month;
  by_month.set_group_by(pb::GROUP_BY_SIGNING_MONTH);
  by_month.set_owner_id("E-CELL");
  by_month.set_signing_from("2027-03-20");
  pb::Pipeline pipe;
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), by_month, &pipe).ok());
  ASSERT_EQ(pipe.rows_size(), 2);
  EXPECT_EQ(pipe.rows(0).key(), "2027-03");
  EXPECT_EQ(pipe.rows(0).amount_minor(), 250'00);
  EXPECT_EQ(pipe.rows(1).key(), "2027-05");
  EXPECT_EQ(pipe.rows(1).amount_minor(), 400'00);
  pb::GetPipelineRequest by_stage;
  by_stage.set_owner_id("E-CELL");
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), by_stage, &pipe).ok());
  ASSERT_EQ(pipe.rows_size(), 2);
  EXPECT_EQ(pipe.rows(0).count(), 1);  // initiation: c
  EXPECT_EQ(pipe.rows(0).amount_minor(), 400'00);
  EXPECT_EQ(pipe.rows(1).amount_minor(), 250'00);  // proposal: b

  // An owner id spelled in another case is the same owner, from either source: b's
  // March days come from projects ("e-cell"), c's May from the totals ("E-CELL").
  update(b, "owner_id", [](pb::Project* p) { p->set_owner_id("e-cell"); });
  pb::GetPipelineRequest by_owner;
  by_owner.set_group_by(pb::GROUP_BY_OWNER);
  by_owner.set_department_id("D-EAST");
  by_owner.set_signing_from("2027-03-20");
  by_owner.set_signing_to("2027-05-31");
  ASSERT_TRUE(Stub()->GetPipeline(Ctx().get(), by_owner, &pipe).ok());
  int e_cell_rows = 0;
  for (const auto& row : pipe.rows())
    if (absl::AsciiStrToLower(row.key()) == "e-cell") {
      ++e_cell_rows;
      EXPECT_EQ(row.count(), 2);
      EXPECT_EQ(row.amount_minor(), 650'00);
    }
  EXPECT_EQ(e_cell_rows, 1);

  // Totals that drifted (a write of an older replica that did not move them) are put
  // right by the recount.
  {
    auto session = server_->pool().Acquire();
    ASSERT_TRUE(session.ok());
    ASSERT_TRUE(session->Exec("UPDATE pipeline_totals SET project_count = project_count + 5, amount_minor = "
                              "amount_minor + 1 WHERE owner_id = 'E-CELL'")
                    .ok());
  }
  EXPECT_NE(sums("E-CELL", "", ""), (Sums{2, 650'00}));
  ASSERT_TRUE(repo_->RecountPipeline().ok());
  EXPECT_EQ(sums("E-CELL", "", ""), (Sums{2, 650'00}));
  EXPECT_EQ(sums("E-CELL-2", "", ""), (Sums{1, 800'00}));
}

TEST_F(SalesTest, RetriedStateChangesReplayTheFirstResponse) {
  using Rpc = pb::SalesService::Stub;
  int64_t customer = customers_->CreateCustomer("销售测试客户丁", cpb::TIER_STANDARD);
  pb::Project p = NewProject(customer, 800'00, "E-IDEM", "2027-09-30");
  ASSERT_EQ(p.version(), 1);

  // UpdateProject: the retry carries the version it was sent with, stale by then.
  pb::UpdateProjectRequest update;
  *update.mutable_project() = p;
  update.mutable_project()->set_goal("重试只改一次");
  update.mutable_update_mask()->add_paths("goal");
  update.set_request_id("idem-update-1");
  pb::Project updated = SendTwice(&Rpc::UpdateProject, update);
  EXPECT_EQ(updated.version(), 2);
  EXPECT_EQ(updated.goal(), "重试只改一次");
  EXPECT_EQ(Fetch(p.id()).version(), 2);

  // ChangeStage: one stage change recorded, not two.
  pb::ChangeStageRequest move;
  move.set_project_id(p.id());
  move.set_stage(pb::STAGE_PROPOSAL);
  move.set_reason("提交方案");
  move.set_version(updated.version());
  move.set_request_id("idem-stage-1");
  pb::Project moved = SendTwice(&Rpc::ChangeStage, move);
  EXPECT_EQ(moved.stage(), pb::STAGE_PROPOSAL);
  EXPECT_EQ(moved.version(), 3);
  EXPECT_EQ(Fetch(p.id()).version(), 3);
  pb::ListStageChangesRequest hist;
  hist.set_project_id(p.id());
  pb::ListStageChangesResponse changes;
  ASSERT_TRUE(Stub()->ListStageChanges(Ctx().get(), hist, &changes).ok());
  EXPECT_EQ(changes.changes_size(), 2);  // initiation + the one move

  // The same request id with a different body is refused.
  pb::ChangeStageRequest other = move;
  other.set_reason("另一个理由");
  pb::Project out;
  grpc::Status s = Stub()->ChangeStage(Ctx().get(), other, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), reason::kRequestIdReused);

  // SetCompetitors.
  pb::SetCompetitorsRequest comp;
  comp.set_project_id(p.id());
  comp.set_version(moved.version());
  comp.add_competitors()->set_name("竞争对手B公司");
  comp.set_request_id("idem-competitors-1");
  pb::Project competed = SendTwice(&Rpc::SetCompetitors, comp);
  EXPECT_EQ(competed.version(), 4);
  pb::Project now = Fetch(p.id());
  EXPECT_EQ(now.version(), 4);
  EXPECT_EQ(now.competitors_size(), 1);
  EXPECT_EQ(now.update_time().seconds(), competed.update_time().seconds());

  // AddActionPlan: one plan.
  pb::AddActionPlanRequest add;
  add.mutable_plan()->set_project_id(p.id());
  add.mutable_plan()->set_period("2027-05");
  add.mutable_plan()->set_plan("每周拜访一次");
  add.set_request_id("idem-plan-1");
  pb::ActionPlan plan = SendTwice(&Rpc::AddActionPlan, add);
  EXPECT_GT(plan.id(), 0);
  pb::ListActionPlansRequest plans_req;
  plans_req.set_project_id(p.id());
  pb::ListActionPlansResponse plans;
  ASSERT_TRUE(Stub()->ListActionPlans(Ctx().get(), plans_req, &plans).ok());
  ASSERT_EQ(plans.plans_size(), 1);
  EXPECT_EQ(plans.plans(0).id(), plan.id());

  // UpdateActionPlanOutcome: a late retry of the first outcome returns it again and
  // does not overwrite the outcome recorded after it.
  pb::UpdateActionPlanOutcomeRequest outcome;
  outcome.set_plan_id(plan.id());
  outcome.set_outcome("拜访三次");
  outcome.set_request_id("idem-outcome-1");
  pb::ActionPlan first_outcome = SendTwice(&Rpc::UpdateActionPlanOutcome, outcome);
  EXPECT_EQ(first_outcome.outcome(), "拜访三次");
  pb::UpdateActionPlanOutcomeRequest later = outcome;
  later.set_outcome("拜访四次");
  later.set_request_id("idem-outcome-2");
  pb::ActionPlan later_outcome;
  ASSERT_TRUE(Stub()->UpdateActionPlanOutcome(Ctx().get(), later, &later_outcome).ok());
  pb::ActionPlan replayed;
  ASSERT_TRUE(Stub()->UpdateActionPlanOutcome(Ctx().get(), outcome, &replayed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first_outcome, replayed));
  ASSERT_TRUE(Stub()->ListActionPlans(Ctx().get(), plans_req, &plans).ok());
  ASSERT_EQ(plans.plans_size(), 1);
  EXPECT_EQ(plans.plans(0).outcome(), "拜访四次");

  // UpdateStageProbabilities (the same values, so other tests' weights stay as they are).
  pb::StageProbabilities current;
  ASSERT_TRUE(Stub()->GetStageProbabilities(Ctx().get(), pb::GetStageProbabilitiesRequest(), &current).ok());
  pb::UpdateStageProbabilitiesRequest probs;
  *probs.mutable_probabilities() = current;
  probs.set_request_id("idem-probabilities-1");
  pb::StageProbabilities saved = SendTwice(&Rpc::UpdateStageProbabilities, probs);
  EXPECT_EQ(saved.version(), current.version() + 1);
  pb::StageProbabilities reread;
  ASSERT_TRUE(Stub()->GetStageProbabilities(Ctx().get(), pb::GetStageProbabilitiesRequest(), &reread).ok());
  EXPECT_EQ(reread.version(), current.version() + 1);
  probs.set_request_id("idem-probabilities-2");  // a new request with the now stale version
  EXPECT_EQ(Stub()->UpdateStageProbabilities(Ctx().get(), probs, &saved).error_code(), StatusCode::ABORTED);
}

TEST_F(SalesTest, RetryWithStaleVersionIsReplayedButNewRequestIsAborted) {
  int64_t customer = customers_->CreateCustomer("销售测试客户戊", cpb::TIER_STANDARD);
  pb::Project p = NewProject(customer, 900'00, "E-IDEM", "2027-10-31");
  pb::ChangeStageRequest move;
  move.set_project_id(p.id());
  move.set_stage(pb::STAGE_PROPOSAL);
  move.set_version(p.version());
  move.set_request_id("stale-A");
  pb::Project first, again, out;
  ASSERT_TRUE(Stub()->ChangeStage(Ctx().get(), move, &first).ok());
  EXPECT_EQ(first.version(), p.version() + 1);
  // Same id A, version now stale: still the first result.
  grpc::Status s = Stub()->ChangeStage(Ctx().get(), move, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, again));
  // A new id with the stale version is a new request: ABORTED.
  move.set_request_id("stale-B");
  EXPECT_EQ(Stub()->ChangeStage(Ctx().get(), move, &out).error_code(), StatusCode::ABORTED);
  // Without a request id as well.
  move.clear_request_id();
  EXPECT_EQ(Stub()->ChangeStage(Ctx().get(), move, &out).error_code(), StatusCode::ABORTED);
  EXPECT_EQ(Fetch(p.id()).version(), first.version());
}

// Restarts customers when a test that stopped it ends, also when it fails early.
struct CustomersBackOnExit {
  testing::CustomersFixture* customers;
  bool stopped = true;
  void Start() {
    if (stopped) customers->Start();
    stopped = false;
  }
  ~CustomersBackOnExit() { Start(); }
};

TEST_F(SalesTest, ProjectsCreatedWhileCustomersIsDownWaitForTheCustomerCheck) {
  const std::string owner = "E-DEGRADED";
  int64_t customer = customers_->CreateCustomer("降级测试客户己", cpb::TIER_GOLD);
  const int64_t ghost_customer = 9'000'000'123;  // never created

  customers_->Stop();
  CustomersBackOnExit guard{customers_};

  // The customer cannot be checked: the project is created anyway, pending the check.
  pb::CreateProjectRequest req = ProjectRequest(customer, 300'00, owner, "2027-11-30");
  req.set_request_id("degraded-create-1");
  pb::Project first, again;
  grpc::Status s = Stub()->CreateProject(Ctx().get(), req, &first);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(first.id(), 0);
  EXPECT_EQ(first.stage(), pb::STAGE_INITIATION);
  EXPECT_EQ(first.customer_check(), pb::CUSTOMER_CHECK_PENDING);
  EXPECT_EQ(Fetch(first.id()).customer_check(), pb::CUSTOMER_CHECK_PENDING);
  // A retry during the outage is the same project, not a second one.
  clock_->Advance(absl::Seconds(5));
  s = Stub()->CreateProject(Ctx().get(), req, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.customer_check(), pb::CUSTOMER_CHECK_PENDING);

  // A customer that does not exist cannot be told apart during the outage either.
  pb::CreateProjectRequest ghost_req = ProjectRequest(ghost_customer, 400'00, owner, "2027-11-30");
  ghost_req.set_request_id("degraded-create-ghost");
  pb::Project ghost;
  s = Stub()->CreateProject(Ctx().get(), ghost_req, &ghost);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ghost.customer_check(), pb::CUSTOMER_CHECK_PENDING);

  // The pending ones can be listed; exactly two projects exist for the owner.
  auto list = [&](pb::CustomerCheck check) {
    pb::ListProjectsRequest lr;
    lr.set_owner_id(owner);
    lr.set_customer_check(check);
    lr.set_page_size(50);
    pb::ListProjectsResponse resp;
    grpc::Status ls = Stub()->ListProjects(Ctx().get(), lr, &resp);
    EXPECT_TRUE(ls.ok()) << ls.error_message();
    std::vector<int64_t> ids;
    for (const auto& p : resp.projects()) ids.push_back(p.id());
    return ids;
  };
  EXPECT_EQ(list(pb::CUSTOMER_CHECK_PENDING), (std::vector<int64_t>{first.id(), ghost.id()}));
  EXPECT_EQ(list(pb::CUSTOMER_CHECK_UNSPECIFIED), (std::vector<int64_t>{first.id(), ghost.id()}));
  EXPECT_TRUE(list(pb::CUSTOMER_CHECK_CONFIRMED).empty());
  pb::ListProjectsRequest bad;
  bad.set_customer_check(static_cast<pb::CustomerCheck>(42));
  pb::ListProjectsResponse ignored;
  EXPECT_EQ(Stub()->ListProjects(Ctx().get(), bad, &ignored).error_code(), StatusCode::INVALID_ARGUMENT);

  // Sweeping while customers is still down changes nothing; the log entries wait too.
  auto swept = service_->SweepPendingCustomerChecks();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 0);
  EXPECT_EQ(Fetch(first.id()).customer_check(), pb::CUSTOMER_CHECK_PENDING);
  EXPECT_EQ(Fetch(ghost.id()).customer_check(), pb::CUSTOMER_CHECK_PENDING);
  (void)relay_->DeliverDue();

  // customers is back: the sweep confirms the one and flags the other (once its
  // channel has reconnected).
  guard.Start();
  int changed = 0;
  for (int i = 0; i < 100 && changed < 2; ++i) {
    auto n = service_->SweepPendingCustomerChecks();
    ASSERT_TRUE(n.ok()) << n.status();
    changed += *n;
    if (changed < 2) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(changed, 2);
  pb::Project confirmed = Fetch(first.id());
  EXPECT_EQ(confirmed.customer_check(), pb::CUSTOMER_CHECK_CONFIRMED);
  EXPECT_EQ(confirmed.version(), first.version());  // not a user edit
  EXPECT_EQ(Fetch(ghost.id()).customer_check(), pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND);  // kept, flagged
  EXPECT_EQ(service_->SweepPendingCustomerChecks().value_or(-1), 0);
  EXPECT_TRUE(list(pb::CUSTOMER_CHECK_PENDING).empty());
  EXPECT_EQ(list(pb::CUSTOMER_CHECK_CONFIRMED), (std::vector<int64_t>{first.id()}));
  EXPECT_EQ(list(pb::CUSTOMER_CHECK_CUSTOMER_NOT_FOUND), (std::vector<int64_t>{ghost.id()}));
  {
    // A project without a customer moves no further; it can only be closed as lost.
    pb::ChangeStageRequest advance;
    advance.set_project_id(ghost.id());
    advance.set_stage(pb::STAGE_PROPOSAL);
    pb::Project moved;
    grpc::Status refused = Stub()->ChangeStage(Ctx().get(), advance, &moved);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
    EXPECT_EQ(Fetch(ghost.id()).stage(), pb::STAGE_INITIATION);
  }

  // Retries after the outage replay the projects created, whatever customers says now.
  s = Stub()->CreateProject(Ctx().get(), req, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.customer_check(), pb::CUSTOMER_CHECK_CONFIRMED);
  s = Stub()->CreateProject(Ctx().get(), ghost_req, &again);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.id(), ghost.id());

  // With customers up, an unknown customer is refused at once, as before.
  pb::CreateProjectRequest unknown = ProjectRequest(ghost_customer, 500'00, owner, "2027-11-30");
  unknown.set_request_id("degraded-create-unknown");
  s = Stub()->CreateProject(Ctx().get(), unknown, &again);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "UNKNOWN_CUSTOMER");
  EXPECT_EQ(list(pb::CUSTOMER_CHECK_UNSPECIFIED).size(), 2u);
  // And a customer that exists is confirmed straight away.
  EXPECT_EQ(NewProject(customer, 600'00, "E-DEGRADED-UP", "2027-11-30").customer_check(),
            pb::CUSTOMER_CHECK_CONFIRMED);

  // The initiation entry of the project created during the outage reaches the
  // customer's log once customers is back, exactly once.
  auto log_entries = [&] {
    auto stub = cpb::CustomerService::NewStub(customers_->channel());
    cpb::ListLogEntriesRequest lr;
    lr.set_customer_id(customer);
    lr.set_category(cpb::LOG_CATEGORY_SALES);
    lr.set_page_size(100);
    cpb::ListLogEntriesResponse entries;
    grpc::Status ls = stub->ListLogEntries(Ctx().get(), lr, &entries);
    EXPECT_TRUE(ls.ok()) << ls.error_message();
    int n = 0;
    for (const auto& e : entries.entries())
      if (e.reference() == absl::StrCat("sales/", first.number())) ++n;
    return n;
  };
  int logged = 0;
  for (int i = 0; i < 100 && logged == 0; ++i) {
    clock_->Advance(absl::Minutes(10));
    (void)relay_->DeliverDue();
    logged = log_entries();
    if (logged == 0) absl::SleepFor(absl::Milliseconds(100));
  }
  for (int i = 0; i < 2; ++i) (void)relay_->DeliverDue();
  EXPECT_EQ(log_entries(), 1);
}

}  // namespace
}  // namespace kefu::sales
