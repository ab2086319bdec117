// The real kefu-customers and kefu-complaints binaries as processes: a work order
// received long ago escalates on its own (the sweep thread), the escalation arrives on
// a WatchAlerts stream, the customer's log receives the events (the outbox relay
// thread), the business metrics count it, and SIGTERM ends open streams promptly.
#include <grpcpp/create_channel.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>
#include <signal.h>

#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/probe.h"
#include "kefu/time_util.h"
#include "support/test_env.h"
#include "support/auth.h"

namespace kefu {
namespace {

namespace cpb = customers::v1;
namespace pb = complaints::v1;

struct Service {
  int grpc_port = testing::FreePort();
  int metrics_port = testing::FreePort();
  std::unique_ptr<testing::Process> process;
  std::shared_ptr<grpc::Channel> channel;

  void Start(const std::string& name, const db::Config& db, std::vector<std::string> extra) {
    std::vector<std::string> args{"--listen_host=127.0.0.1", absl::StrCat("--grpc_port=", grpc_port),
                                  absl::StrCat("--metrics_port=", metrics_port),
                                  absl::StrCat("--db_port=", testing::SharedDbPort()),
                                  absl::StrCat("--db_user=", db.user), absl::StrCat("--db_name=", db.schema),
                                  "--shutdown_grace_ms=10000"};
    args.insert(args.end(), extra.begin(), extra.end());
    for (auto& f : testing::SecurityFlags()) args.push_back(f);
    process = std::make_unique<testing::Process>(testing::BuildPath(absl::StrCat("services/", name, "/kefu-", name)),
                                                 args, std::vector<std::string>{"KEFU_DB_PASSWORD=" + db.password});
    channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port), grpc::InsecureChannelCredentials());
  }
  bool WaitServing() {
    auto s = probe::WaitForHealth(channel, "", probe::HealthState::kServing, absl::Seconds(30));
    return s.ok() && *s == probe::HealthState::kServing;
  }
};

std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout = absl::Seconds(10)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  kefu::testing::Authorize(ctx.get(), "E3001", "senior_manager");
  return ctx;
}

// The customer a test's work orders are about, created through the customers binary.
void CreateOrganization(const Service& customers, const std::string& name, cpb::Customer* out) {
  cpb::CreateCustomerRequest create;
  create.mutable_customer()->set_kind(cpb::CUSTOMER_KIND_ORGANIZATION);
  create.mutable_customer()->set_name(name);
  grpc::Status st = cpb::CustomerService::NewStub(customers.channel)->CreateCustomer(Ctx().get(), create, out);
  ASSERT_TRUE(st.ok()) << st.error_message();
}

TEST(ComplaintsBinary, OverdueWorkOrderEscalatesOnItsOwnAndEveryoneHearsOfIt) {
  db::Config customers_db = testing::CreateSchema("cb_cust");
  db::Config complaints_db = testing::CreateSchema("cb_cmp");
  Service customers, complaints;
  customers.Start("customers", customers_db, {});
  ASSERT_TRUE(customers.WaitServing()) << customers.process->Output();
  const std::vector<std::string> complaints_flags{absl::StrCat("--customers_addr=127.0.0.1:", customers.grpc_port),
                                                  "--sweep_interval_ms=200", "--outbox_interval_ms=200"};
  complaints.Start("complaints", complaints_db, complaints_flags);
  ASSERT_TRUE(complaints.WaitServing()) << complaints.process->Output();

  cpb::Customer customer;
  ASSERT_NO_FATAL_FAILURE(CreateOrganization(customers, "进程测试客户有限公司", &customer));

  // Watch before the work order exists; the stream must deliver its escalation.
  auto watch_ctx = Ctx(absl::Seconds(60));
  pb::WatchAlertsRequest watch;
  watch.set_department_id("D-BIN");
  auto stub = pb::ComplaintService::NewStub(complaints.channel);
  auto reader = stub->WatchAlerts(watch_ctx.get(), watch);
  absl::SleepFor(absl::Milliseconds(700));  // the stream has taken its starting point

  pb::CreateWorkOrderRequest create;  // received a month ago: overdue at once
  auto* w = create.mutable_work_order();
  w->set_customer_id(customer.id());
  w->set_channel(pb::CHANNEL_PHONE);
  w->set_type(pb::WORK_ORDER_TYPE_COMPLAINT);
  w->set_severity(pb::SEVERITY_GENERAL);
  w->set_content("安装师傅迟到三天，至今无人联系");
  w->set_department_id("D-BIN");
  *w->mutable_received_time() = ToProtoTime(absl::Now() - absl::Hours(24 * 30));
  pb::WorkOrder created;
  ASSERT_TRUE(stub->CreateWorkOrder(Ctx().get(), create, &created).ok());

  bool escalated = false;
  pb::Alert alert;
  while (!escalated && reader->Read(&alert)) {
    EXPECT_EQ(alert.department_id(), "D-BIN");
    if (alert.kind() == pb::ALERT_KIND_ESCALATED && alert.work_order_id() == created.id()) escalated = true;
  }
  ASSERT_TRUE(escalated);

  pb::GetWorkOrderRequest get;
  get.set_work_order_id(created.id());
  pb::WorkOrder now;
  ASSERT_TRUE(stub->GetWorkOrder(Ctx().get(), get, &now).ok());
  EXPECT_GE(now.escalation_level(), pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER);
  EXPECT_TRUE(now.overdue());

  // The outbox relay thread delivers the events to the customer's log.
  int delivered = 0;
  for (int i = 0; i < 300 && delivered < 2; ++i) {  // up to 30 s on a loaded machine
    cpb::ListLogEntriesRequest log;
    log.set_customer_id(customer.id());
    log.set_category(cpb::LOG_CATEGORY_COMPLAINT);
    cpb::ListLogEntriesResponse entries;
    ASSERT_TRUE(cpb::CustomerService::NewStub(customers.channel)->ListLogEntries(Ctx().get(), log, &entries).ok());
    delivered = entries.entries_size();
    if (delivered < 2) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_GE(delivered, 2);  // received, escalated

  auto metrics = testing::HttpGet(complaints.metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("kefu_complaints_escalations_total{department=\"D-BIN\",level=\"department_manager\"} 1"),
            std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("kefu_complaints_sla_breaches_total{deadline=\"response\",department=\"D-BIN\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics->find("kefu_outbox_delivered_total{target=\"customers.log\"}"), std::string::npos);

  // kefuctl watches too, from the first alert on, and must ride out a restart.
  testing::Process kefuctl(testing::BuildPath("tools/kefuctl/kefuctl"),
                           {"--plaintext", absl::StrCat("--addr=127.0.0.1:", complaints.grpc_port),
                            absl::StrCat("--token=", testing::TestToken("E3001", "senior_manager", "", absl::Minutes(10))),
                            "--json", "complaints", "watch", "--department=D-BIN", "--after=0"});
  auto printed = [&](int64_t work_order_id) {
    return absl::StrContains(kefuctl.Output(), absl::StrCat("\"work_order_id\": \"", work_order_id, "\""));
  };
  for (int i = 0; i < 200 && !printed(created.id()); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(printed(created.id())) << kefuctl.Output();

  // SIGTERM with watchers still reading: their streams end with UNAVAILABLE (watch
  // again, elsewhere) and the process exits well before the 10 s grace period.
  grpc::Status watch_end;
  std::thread watcher([&] {
    while (reader->Read(&alert)) {
    }
    watch_end = reader->Finish();
  });
  absl::Time start = absl::Now();
  complaints.process->Signal(SIGTERM);
  EXPECT_EQ(complaints.process->WaitExit(15000), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << complaints.process->Output();
  watcher.join();
  EXPECT_EQ(watch_end.error_code(), grpc::StatusCode::UNAVAILABLE) << watch_end.error_message();
  EXPECT_NE(watch_end.error_message().find("after_alert_id"), std::string::npos);

  // While it is down, another replica takes an overdue work order and escalates it.
  Service replica;
  replica.Start("complaints", complaints_db, complaints_flags);
  ASSERT_TRUE(replica.WaitServing()) << replica.process->Output();
  auto replica_stub = pb::ComplaintService::NewStub(replica.channel);
  create.set_request_id("second-overdue");
  pb::WorkOrder second;
  ASSERT_TRUE(replica_stub->CreateWorkOrder(Ctx().get(), create, &second).ok());
  now.Clear();
  for (int i = 0; i < 100 && now.escalation_level() < pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    get.set_work_order_id(second.id());
    ASSERT_TRUE(replica_stub->GetWorkOrder(Ctx().get(), get, &now).ok());
  }
  ASSERT_GE(now.escalation_level(), pb::ESCALATION_LEVEL_DEPARTMENT_MANAGER);
  EXPECT_FALSE(printed(second.id()));

  // The first replica comes back; kefuctl resumes after the last alert it printed and
  // shows what it missed, printing no alert twice.
  complaints.Start("complaints", complaints_db, complaints_flags);
  ASSERT_TRUE(complaints.WaitServing()) << complaints.process->Output();
  for (int i = 0; i < 200 && !printed(second.id()); ++i) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_TRUE(printed(second.id())) << kefuctl.Output();
  std::set<std::string> alert_ids;
  int printed_alerts = 0;
  const std::string watched = kefuctl.Output();
  for (absl::string_view rest = watched; absl::StrContains(rest, "\"id\": \"");) {
    rest.remove_prefix(rest.find("\"id\": \"") + 7);
    alert_ids.insert(std::string(rest.substr(0, rest.find('"'))));
    ++printed_alerts;
  }
  EXPECT_GE(printed_alerts, 2);
  EXPECT_EQ(alert_ids.size(), static_cast<size_t>(printed_alerts)) << watched;
  EXPECT_TRUE(absl::StrContains(kefuctl.Output(), "watching again")) << kefuctl.Output();

  kefuctl.Signal(SIGTERM);
  kefuctl.WaitExit(5000);
  for (Service* c : {&complaints, &replica}) {
    c->process->Signal(SIGTERM);
    EXPECT_EQ(c->process->WaitExit(15000), 0);
  }
  customers.process->Signal(SIGTERM);
  EXPECT_EQ(customers.process->WaitExit(15000), 0);
  testing::DropSchema(customers_db);
  testing::DropSchema(complaints_db);
}

// The relay is woken by the commit of a work order: its customer-log entry reaches the
// customer within moments although the relay's own tick is an hour away.
TEST(ComplaintsBinary, AWorkOrderReachesTheCustomerLogSoonAfterItsCommitNotAtTheNextTick) {
  db::Config customers_db = testing::CreateSchema("cb_wake_cust");
  db::Config complaints_db = testing::CreateSchema("cb_wake_cmp");
  Service customers, complaints;
  customers.Start("customers", customers_db, {});
  ASSERT_TRUE(customers.WaitServing()) << customers.process->Output();
  complaints.Start("complaints", complaints_db,
                   {absl::StrCat("--customers_addr=127.0.0.1:", customers.grpc_port), "--outbox_interval_ms=3600000",
                    "--outbox_linger_ms=50"});
  ASSERT_TRUE(complaints.WaitServing()) << complaints.process->Output();

  cpb::Customer customer;
  ASSERT_NO_FATAL_FAILURE(CreateOrganization(customers, "日志及时性测试客户", &customer));
  auto stub = pb::ComplaintService::NewStub(complaints.channel);
  auto complaint_entries = [&] {
    cpb::ListLogEntriesRequest log;
    log.set_customer_id(customer.id());
    log.set_category(cpb::LOG_CATEGORY_COMPLAINT);
    cpb::ListLogEntriesResponse entries;
    EXPECT_TRUE(cpb::CustomerService::NewStub(customers.channel)->ListLogEntries(Ctx().get(), log, &entries).ok());
    return entries.entries_size();
  };
  for (int n = 1; n <= 2; ++n) {  // the second after the relay has gone back to its hour's wait
    SCOPED_TRACE(n);
    pb::CreateWorkOrderRequest create;
    auto* w = create.mutable_work_order();
    w->set_customer_id(customer.id());
    w->set_channel(pb::CHANNEL_PHONE);
    w->set_type(pb::WORK_ORDER_TYPE_COMPLAINT);
    w->set_severity(pb::SEVERITY_GENERAL);
    w->set_content(absl::StrCat("第", n, "次投诉：送货延误"));
    w->set_department_id("D-BIN");
    pb::WorkOrder created;
    ASSERT_TRUE(stub->CreateWorkOrder(Ctx().get(), create, &created).ok());
    int entries = 0;
    for (int i = 0; i < 200 && entries < n; ++i) {  // up to 20 s on a loaded machine, against the tick's hour
      entries = complaint_entries();
      if (entries < n) absl::SleepFor(absl::Milliseconds(100));
    }
    EXPECT_EQ(entries, n);
  }

  for (Service* s : {&complaints, &customers}) {
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->WaitExit(15000), 0);
  }
  testing::DropSchema(customers_db);
  testing::DropSchema(complaints_db);
}

// A setting changes through kefuctl as operators change it: print it with --json, edit
// the file, hand it back with --file; a file made from an older version is refused.
TEST(ComplaintsBinary, KefuctlChangesTheDeadlinePolicyFromTheJsonItPrints) {
  db::Config customers_db = testing::CreateSchema("cb_pol_cust");
  db::Config complaints_db = testing::CreateSchema("cb_pol_cmp");
  Service customers, complaints;
  customers.Start("customers", customers_db, {});
  ASSERT_TRUE(customers.WaitServing()) << customers.process->Output();
  complaints.Start("complaints", complaints_db, {absl::StrCat("--customers_addr=127.0.0.1:", customers.grpc_port)});
  ASSERT_TRUE(complaints.WaitServing()) << complaints.process->Output();
  auto kefuctl = [&](std::vector<std::string> command, int* exit_code) {
    std::vector<std::string> args{"--plaintext", absl::StrCat("--addr=127.0.0.1:", complaints.grpc_port),
                                  absl::StrCat("--token=", testing::TestToken("E3001", "senior_manager", "",
                                                                               absl::Minutes(10)))};
    args.insert(args.end(), command.begin(), command.end());
    testing::Process p(testing::BuildPath("tools/kefuctl/kefuctl"), args);
    *exit_code = p.WaitExit(20000);
    return p.Output();
  };

  int code = -1;
  std::string printed = kefuctl({"--json", "complaints", "policy"}, &code);
  ASSERT_EQ(code, 0) << printed;
  pb::DeadlinePolicy policy;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(printed, &policy).ok()) << printed;
  ASSERT_GT(policy.rules_size(), 0);
  pb::DeadlinePolicy served;
  auto stub = pb::ComplaintService::NewStub(complaints.channel);
  ASSERT_TRUE(stub->GetDeadlinePolicy(Ctx().get(), pb::GetDeadlinePolicyRequest(), &served).ok());
  EXPECT_EQ(policy.SerializeAsString(), served.SerializeAsString());  // --json prints all of it

  const int64_t respond = policy.rules(0).respond_within_seconds() / 2;
  policy.mutable_rules(0)->set_respond_within_seconds(respond);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(policy, &json).ok());
  const std::string file = absl::StrCat(::testing::TempDir(), "/kefu-policy-", getpid(), ".json");
  std::ofstream(file) << json;
  std::string out = kefuctl({"complaints", "policy-set", "--file", file}, &code);
  EXPECT_EQ(code, 0) << out;
  ASSERT_TRUE(stub->GetDeadlinePolicy(Ctx().get(), pb::GetDeadlinePolicyRequest(), &served).ok());
  EXPECT_EQ(served.rules(0).respond_within_seconds(), respond);
  EXPECT_EQ(served.version(), policy.version() + 1);

  // The same file again: its version is no longer current.
  out = kefuctl({"complaints", "policy-set", "--file", file}, &code);
  EXPECT_EQ(code, 1) << out;
  EXPECT_TRUE(absl::StrContains(out, "ABORTED")) << out;
  // Not a policy at all: refused before any call, naming the flag.
  std::ofstream(file) << "{\"rules\": \"soon\"}";
  out = kefuctl({"complaints", "policy-set", "--file", file}, &code);
  EXPECT_EQ(code, 2) << out;
  EXPECT_TRUE(absl::StrContains(out, "--file")) << out;
  std::remove(file.c_str());

  for (Service* s : {&complaints, &customers}) {
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->WaitExit(15000), 0);
  }
  testing::DropSchema(customers_db);
  testing::DropSchema(complaints_db);
}

}  // namespace
}  // namespace kefu
