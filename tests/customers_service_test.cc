// Every customers RPC through a real gRPC server (the common bootstrap, in-process)
// against a real MariaDB schema created for this suite.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/server.h"
#include "customers/src/repository.h"
#include "customers/src/service.h"
#include "support/test_env.h"
#include "support/auth.h"

const std::vector<kefu::db::Migration>& CustomersMigrations();

namespace kefu::customers {
namespace {

using ::grpc::StatusCode;

class CustomersServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    config_ = new db::Config(testing::CreateSchema("cust_svc"));
    log::Init("customers", log::Level::kWarn);
    clock_ = new FakeClock(absl::FromUnixSeconds(1790000000));  // 2026-09-21
    ServerOptions o;
    o.token_verifier = kefu::testing::TestVerifier();
    o.service_token_verifier = kefu::testing::TestServiceVerifier();
    kefu::testing::UseTestServiceIdentity();
    o.service_name = "customers";
    o.listen_host = "127.0.0.1";
    o.metrics_port = -1;
    o.db = *config_;
    o.health_interval = absl::Milliseconds(100);
    server_ = new Server(o);
    repo_ = new Repository(&server_->pool(), clock_);
    metrics_ = new BusinessMetrics(server_->metrics().registry());
    service_ = new CustomerServiceImpl(repo_, metrics_, clock_);
    server_->AddService(service_, pb::CustomerService::service_full_name());
    ASSERT_TRUE(server_->Start(CustomersMigrations()).ok());
    for (int i = 0; i < 100 && !server_->ready(); ++i) absl::SleepFor(absl::Milliseconds(100));
    ASSERT_TRUE(server_->ready());
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    delete server_;
    testing::DropSchema(*config_);
  }

  std::unique_ptr<pb::CustomerService::Stub> Stub() { return pb::CustomerService::NewStub(*channel_); }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& actor = "E1001") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    kefu::testing::Authorize(ctx.get(), actor, "senior_manager");
    return ctx;
  }

  // A customer with unique phone/email/name derived from n.
  static pb::Customer NewCustomer(const std::string& name, int n) {
    pb::Customer c;
    c.set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
    c.set_name(name);
    c.set_region("华东");
    c.set_industry("制造业");
    c.set_owner_id("E1001");
    c.set_department_id("D-EAST");
    auto* ct = c.add_contacts();
    ct->set_name("联系人" + std::to_string(n));
    ct->set_phone(absl::StrCat("139", 10000000 + n));
    ct->set_email(absl::StrCat("contact", n, "@example.cn"));
    return c;
  }

  // A customer-log message as the other services' relays send it.
  static pb::AppendLogEntryRequest RelayedLogRequest(int64_t customer, const std::string& request_id,
                                                     const std::string& what) {
    pb::AppendLogEntryRequest r;
    r.set_request_id(request_id);
    r.mutable_entry()->set_customer_id(customer);
    r.mutable_entry()->set_channel(pb::CHANNEL_SYSTEM);
    r.mutable_entry()->set_category(pb::LOG_CATEGORY_COMPLAINT);
    r.mutable_entry()->set_description(what);
    return r;
  }
  int64_t LogCount(int64_t customer) {
    return CountRows("SELECT COUNT(*) FROM customer_log WHERE customer_id = ?", {customer});
  }

  pb::Customer Create(const pb::Customer& c, const std::string& request_id = "") {
    pb::CreateCustomerRequest req;
    *req.mutable_customer() = c;
    req.set_request_id(request_id);
    pb::Customer out;
    grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  int64_t CountRows(const std::string& sql, std::vector<db::Param> params = {}) {
    auto s = server_->pool().Acquire();
    EXPECT_TRUE(s.ok());
    auto row = s->QueryOne(sql, params);
    EXPECT_TRUE(row.ok()) << row.status();
    return (*row)->Int(0);
  }

  // Sends `req` (which carries a request_id) twice, the clock moving in between: the
  // retry must succeed with exactly the first response, and `effect` (something the
  // call writes, counted) must move by `delta` on the first call and not on the retry.
  template <typename Req, typename Resp>
  Resp ExpectAppliedOnce(const std::string& rpc,
                         grpc::Status (pb::CustomerService::Stub::*call)(grpc::ClientContext*, const Req&, Resp*),
                         const Req& req, const std::function<int64_t()>& effect, int64_t delta = 1) {
    SCOPED_TRACE(rpc);
    EXPECT_FALSE(req.request_id().empty());
    auto stub = Stub();
    int64_t before = effect();
    Resp first, retry;
    grpc::Status s = ((*stub).*call)(Ctx().get(), req, &first);
    EXPECT_TRUE(s.ok()) << s.error_message();
    int64_t after = effect();
    EXPECT_EQ(after - before, delta);
    clock_->Advance(absl::Seconds(1));  // a second execution would show in the times
    s = ((*stub).*call)(Ctx().get(), req, &retry);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, retry))
        << "first: " << first.ShortDebugString() << "\nretry: " << retry.ShortDebugString();
    EXPECT_EQ(effect(), after) << "the retry changed something again";
    return first;
  }

  static db::Config* config_;
  static FakeClock* clock_;
  static Server* server_;
  static Repository* repo_;
  static BusinessMetrics* metrics_;
  static CustomerServiceImpl* service_;
  static std::shared_ptr<grpc::Channel>* channel_;
};

db::Config* CustomersServiceTest::config_;
FakeClock* CustomersServiceTest::clock_;
Server* CustomersServiceTest::server_;
Repository* CustomersServiceTest::repo_;
BusinessMetrics* CustomersServiceTest::metrics_;
CustomerServiceImpl* CustomersServiceTest::service_;
std::shared_ptr<grpc::Channel>* CustomersServiceTest::channel_;

TEST_F(CustomersServiceTest, CreateAndGetRoundTripChineseAndFourByteText) {
  pb::Customer c = NewCustomer("北京朝阳😀贸易有限公司", 1);
  c.add_tags("重点客户");
  c.add_tags("制造");
  c.mutable_contacts(0)->set_address("北京市朝阳区建国路88号");
  pb::Customer created = Create(c);
  EXPECT_GT(created.id(), 0);
  EXPECT_EQ(created.number(), CustomerNumber(created.id()));
  EXPECT_EQ(created.version(), 1);
  EXPECT_EQ(created.tier(), pb::TIER_STANDARD);
  EXPECT_EQ(created.lifecycle_stage(), pb::LIFECYCLE_STAGE_PROSPECT);

  pb::GetCustomerRequest get;
  get.set_customer_id(created.id());
  pb::Customer got;
  ASSERT_TRUE(Stub()->GetCustomer(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.name(), "北京朝阳😀贸易有限公司");
  EXPECT_EQ(got.contacts(0).address(), "北京市朝阳区建国路88号");
  EXPECT_TRUE(got.contacts(0).primary());
  EXPECT_EQ(std::set<std::string>(got.tags().begin(), got.tags().end()),
            (std::set<std::string>{"重点客户", "制造"}));
  EXPECT_EQ(got.create_time().seconds(), absl::ToUnixSeconds(clock_->Now()));

  // The creation itself is in the log.
  pb::ListLogEntriesRequest log;
  log.set_customer_id(created.id());
  pb::ListLogEntriesResponse entries;
  ASSERT_TRUE(Stub()->ListLogEntries(Ctx().get(), log, &entries).ok());
  ASSERT_EQ(entries.entries_size(), 1);
  EXPECT_EQ(entries.entries(0).category(), pb::LOG_CATEGORY_ACCOUNT);
  EXPECT_EQ(entries.entries(0).staff_id(), "E1001");
}

// GetCustomer reads a customer with its children in one statement; ListCustomers reads
// rows, then the children of the page. Both must give the same customer, contacts in the
// order they were given and tags in the same order.
TEST_F(CustomersServiceTest, GetAndListReturnTheSameCustomerWithEveryContactAndTag) {
  pb::Customer c = NewCustomer("读取一致性测试有限公司", 700);
  c.set_owner_id("E-READ");
  c.mutable_contacts(0)->set_title("采购经理");
  c.mutable_contacts(0)->set_address("上海市浦东新区世纪大道100号");
  for (int i = 1; i <= 3; ++i) {
    auto* ct = c.add_contacts();
    ct->set_name(absl::StrCat("第", i, "联系人"));
    ct->set_phone(absl::StrCat("138", 20000000 + i));
    ct->set_email(absl::StrCat("next", i, "@example.cn"));
    ct->set_title(i == 2 ? "总经理" : "");
    ct->set_primary(i == 2);
  }
  for (const char* tag : {"重点客户", "b-tag", "A-tag", "制造"}) c.add_tags(tag);
  pb::Customer created = Create(c);

  pb::GetCustomerRequest get;
  get.set_customer_id(created.id());
  pb::Customer got;
  ASSERT_TRUE(Stub()->GetCustomer(Ctx().get(), get, &got).ok());
  ASSERT_EQ(got.contacts_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(got.contacts(i).name(), c.contacts(i).name()) << "contact " << i;
    EXPECT_EQ(got.contacts(i).phone(), c.contacts(i).phone()) << "contact " << i;
    EXPECT_EQ(got.contacts(i).email(), c.contacts(i).email()) << "contact " << i;
    EXPECT_EQ(got.contacts(i).title(), c.contacts(i).title()) << "contact " << i;
    EXPECT_EQ(got.contacts(i).address(), c.contacts(i).address()) << "contact " << i;
    EXPECT_EQ(got.contacts(i).primary(), c.contacts(i).primary()) << "contact " << i;
  }
  EXPECT_EQ(std::set<std::string>(got.tags().begin(), got.tags().end()),
            (std::set<std::string>{"重点客户", "b-tag", "A-tag", "制造"}));
  EXPECT_EQ(got.owner_id(), "E-READ");
  EXPECT_EQ(got.version(), created.version());

  pb::ListCustomersRequest list;
  list.set_owner_id("E-READ");
  pb::ListCustomersResponse page;
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), list, &page).ok());
  ASSERT_EQ(page.customers_size(), 1);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(page.customers(0), got))
      << "list: " << page.customers(0).ShortDebugString() << "\nget:  " << got.ShortDebugString();
}

// Each customer row keeps a copy of its contacts and tags, so that GetCustomer reads one
// row. After every kind of write the copy says what the two tables say; a row without a
// copy (written before the copy existed) is read from the tables, and its next write,
// even one that leaves contacts and tags alone, gives it a copy.
TEST_F(CustomersServiceTest, TheRowsCopyOfContactsAndTagsAgreesWithTheTablesAfterEveryWrite) {
  auto get = [&](int64_t id) {
    pb::GetCustomerRequest req;
    req.set_customer_id(id);
    pb::Customer out;
    grpc::Status s = Stub()->GetCustomer(Ctx().get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::sort(out.mutable_tags()->begin(), out.mutable_tags()->end());  // a set, in either order
    return out;
  };
  auto has_copy = [&](int64_t id) {
    return CountRows("SELECT COUNT(*) FROM customers WHERE id = ? AND contacts_tags IS NOT NULL", {id}) == 1;
  };
  auto drop_copy = [&](int64_t id) {
    auto session = server_->pool().Acquire();
    ASSERT_TRUE(session.ok());
    ASSERT_TRUE(session->Exec("UPDATE customers SET contacts_tags = NULL WHERE id = ?", {id}).ok());
  };
  // What GetCustomer returns from the copy, then from the tables alone; the copy is put
  // back after, so that the next write has one to overwrite.
  auto expect_copy_agrees = [&](int64_t id, const std::string& after) {
    SCOPED_TRACE(after);
    auto session = server_->pool().Acquire();
    ASSERT_TRUE(session.ok());
    auto saved = session->QueryOne("SELECT contacts_tags FROM customers WHERE id = ?", {id});
    ASSERT_TRUE(saved.ok() && *saved && !(*saved)->IsNull(0)) << "no copy";
    pb::Customer from_copy = get(id);
    drop_copy(id);
    pb::Customer from_tables = get(id);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(from_copy, from_tables))
        << "copy:   " << from_copy.ShortDebugString() << "\ntables: " << from_tables.ShortDebugString();
    ASSERT_TRUE(
        session->Exec("UPDATE customers SET contacts_tags = ? WHERE id = ?", {(*saved)->Str(0), id}).ok());
    EXPECT_TRUE(has_copy(id));
  };

  pb::Customer c = NewCustomer("副本一致性测试有限公司", 710);
  c.set_owner_id("E-COPY");
  auto* second = c.add_contacts();
  second->set_name("第二联系人");
  second->set_phone("13820000710");
  // Long enough that the copy's length prefixes are bytes no UTF-8 text holds: the copy
  // is stored as bytes, not as text.
  second->set_address("𠮷野家 北京店 " + std::string(150, 'x'));
  for (const char* tag : {"重点", "b-tag", "A-tag"}) c.add_tags(tag);
  pb::Customer created = Create(c);
  expect_copy_agrees(created.id(), "create");

  // With no copy, a write that touches neither contacts nor tags copies them from the
  // tables, as they were.
  drop_copy(created.id());
  auto apply = [&](pb::UpdateCustomerRequest req) {
    req.mutable_customer()->set_id(created.id());
    req.mutable_customer()->set_version(get(created.id()).version());
    pb::Customer out;
    grpc::Status st = Stub()->UpdateCustomer(Ctx().get(), req, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  };
  pb::UpdateCustomerRequest update;
  update.mutable_customer()->set_region("西南");
  update.mutable_update_mask()->add_paths("region");
  pb::Customer updated;
  updated = apply(update);
  EXPECT_EQ(updated.contacts_size(), 2);
  EXPECT_EQ(updated.contacts(1).address(), "𠮷野家 北京店 " + std::string(150, 'x'));
  EXPECT_EQ(updated.tags_size(), 3);
  expect_copy_agrees(created.id(), "update of the region");

  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("contacts");
  update.mutable_customer()->clear_contacts();
  auto* only = update.mutable_customer()->add_contacts();
  only->set_name("唯一联系人");
  only->set_email("only710@example.cn");
  updated = apply(update);
  pb::Customer now = get(created.id());
  ASSERT_EQ(now.contacts_size(), 1);
  EXPECT_EQ(now.contacts(0).email(), "only710@example.cn");
  EXPECT_TRUE(now.contacts(0).primary());
  expect_copy_agrees(created.id(), "update of the contacts");

  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("tags");
  update.mutable_customer()->clear_tags();
  update.mutable_customer()->add_tags("新标签");
  updated = apply(update);
  now = get(created.id());
  EXPECT_EQ(std::vector<std::string>(now.tags().begin(), now.tags().end()), std::vector<std::string>{"新标签"});
  EXPECT_EQ(now.contacts_size(), 1);
  expect_copy_agrees(created.id(), "update of the tags");

  pb::ChangeTierRequest tier;
  tier.set_customer_id(created.id());
  tier.set_tier(pb::TIER_GOLD);
  tier.set_reason("年度评估");
  ASSERT_TRUE(Stub()->ChangeTier(Ctx().get(), tier, &updated).ok());
  expect_copy_agrees(created.id(), "tier change");

  pb::Customer other = NewCustomer("副本合并乙公司", 711);
  other.add_tags("乙");
  pb::Customer dup = Create(other);
  pb::MergeCustomersRequest merge;
  merge.set_survivor_id(created.id());
  merge.set_duplicate_id(dup.id());
  merge.set_reason("重复建档");
  pb::Customer merged;
  ASSERT_TRUE(Stub()->MergeCustomers(Ctx().get(), merge, &merged).ok());
  now = get(created.id());
  EXPECT_EQ(now.contacts_size(), 2);
  EXPECT_EQ(std::vector<std::string>(now.tags().begin(), now.tags().end()),
            (std::vector<std::string>{"乙", "新标签"}));
  expect_copy_agrees(created.id(), "merge");

  // A list page mixes rows with and without a copy and reads both right.
  pb::Customer third = NewCustomer("副本列表丙公司", 712);
  third.set_owner_id("E-COPY");
  third.add_tags("丙");
  const int64_t third_id = Create(third).id();
  drop_copy(third_id);
  ASSERT_TRUE(has_copy(created.id()));
  pb::ListCustomersRequest list;
  list.set_owner_id("E-COPY");
  pb::ListCustomersResponse page;
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), list, &page).ok());
  ASSERT_EQ(page.customers_size(), 2);
  for (const auto& listed : page.customers()) {
    pb::Customer single = get(listed.id());
    pb::Customer sorted = listed;
    std::sort(sorted.mutable_tags()->begin(), sorted.mutable_tags()->end());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(sorted, single))
        << "list: " << sorted.ShortDebugString() << "\nget:  " << single.ShortDebugString();
  }
}

TEST_F(CustomersServiceTest, ResponsesCarryTheRequestId) {
  pb::GetCustomerRequest get;
  get.set_customer_id(1);
  pb::Customer got;
  auto ctx = Ctx();
  ctx->AddMetadata("x-request-id", "trace-42");
  Stub()->GetCustomer(ctx.get(), get, &got);
  auto md = ctx->GetServerInitialMetadata();
  auto it = md.find("x-request-id");
  ASSERT_NE(it, md.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "trace-42");
  auto anonymous = Ctx();
  Stub()->GetCustomer(anonymous.get(), get, &got);
  auto generated = anonymous->GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(generated, anonymous->GetServerInitialMetadata().end());
  EXPECT_EQ(generated->second.size(), 16u);
}

TEST_F(CustomersServiceTest, GetUnknownIsNotFoundAndBadIdIsInvalid) {
  pb::GetCustomerRequest get;
  get.set_customer_id(999999999);
  pb::Customer got;
  EXPECT_EQ(Stub()->GetCustomer(Ctx().get(), get, &got).error_code(), StatusCode::NOT_FOUND);
  get.set_customer_id(-4);
  grpc::Status s = Stub()->GetCustomer(Ctx().get(), get, &got);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("customer_id"), std::string::npos);
}

TEST_F(CustomersServiceTest, InvalidCreateNamesFieldsAndWritesNothing) {
  int64_t before = CountRows("SELECT COUNT(*) FROM customers");
  pb::Customer c = NewCustomer("", 2);
  c.mutable_contacts(0)->set_phone("12");
  c.mutable_contacts(0)->set_email("not-an-email");
  c.set_kind(static_cast<pb::CustomerKind>(9));
  pb::CreateCustomerRequest req;
  *req.mutable_customer() = c;
  pb::Customer out;
  grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  absl::Status detail = FromGrpcStatus(s);
  EXPECT_EQ(ReasonOf(detail), "FIELD_INVALID");
  EXPECT_NE(s.error_message().find("customer.name"), std::string::npos);
  EXPECT_NE(s.error_message().find("customer.contacts[0].phone"), std::string::npos);
  EXPECT_NE(s.error_message().find("customer.contacts[0].email"), std::string::npos);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customers"), before);

  EXPECT_NE(s.error_message().find("customer.kind"), std::string::npos);

  pb::CreateCustomerRequest empty;
  EXPECT_EQ(Stub()->CreateCustomer(Ctx().get(), empty, &out).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(CustomersServiceTest, InvalidUtf8IsInvalidArgumentNotInternal) {
  // A C++ client can put any bytes into a string field; the server cannot parse them.
  pb::CreateCustomerRequest req;
  *req.mutable_customer() = NewCustomer(std::string("bad\xC3\x28name", 9), 22);
  pb::Customer out;
  grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_NE(s.error_message().find("UTF-8"), std::string::npos);
}

TEST_F(CustomersServiceTest, RetriedCreateWithSameRequestIdReturnsTheFirstResult) {
  pb::Customer c = NewCustomer("杭州西湖软件有限公司", 3);
  pb::Customer first = Create(c, "req-create-3");
  pb::Customer again = Create(c, "req-create-3");
  EXPECT_EQ(first.id(), again.id());
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customers WHERE name = ?", {"杭州西湖软件有限公司"}), 1);

  // Same id, different body: refused rather than silently returning the other record.
  pb::CreateCustomerRequest req;
  *req.mutable_customer() = NewCustomer("另一个公司", 33);
  req.set_request_id("req-create-3");
  pb::Customer out;
  grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "REQUEST_ID_REUSED");
}

TEST_F(CustomersServiceTest, ConcurrentRetriesOfOneCreateMakeOneCustomer) {
  pb::Customer c = NewCustomer("并发测试有限公司", 4);
  std::vector<std::thread> threads;
  std::vector<int64_t> ids(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      pb::CreateCustomerRequest req;
      *req.mutable_customer() = c;
      req.set_request_id("req-concurrent-4");
      pb::Customer out;
      grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
      EXPECT_TRUE(s.ok()) << s.error_message();
      ids[i] = out.id();
    });
  }
  for (auto& t : threads) t.join();
  for (int64_t id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customers WHERE name = ?", {"并发测试有限公司"}), 1);
}

TEST_F(CustomersServiceTest, DuplicatesAreDetectedByPhoneEmailOrNameUnlessAllowed) {
  pb::Customer original = Create(NewCustomer("深圳南山电子有限公司", 5));
  pb::Customer same_phone = NewCustomer("完全不同的名字", 6);
  same_phone.mutable_contacts(0)->set_phone("+86 139-1000-0005");  // same number, other format
  pb::CreateCustomerRequest req;
  *req.mutable_customer() = same_phone;
  pb::Customer out;
  grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
  ASSERT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS);
  absl::Status detail = FromGrpcStatus(s);
  EXPECT_EQ(ReasonOf(detail), "DUPLICATE_CUSTOMER");
  EXPECT_EQ(MetadataOf(detail, "duplicate_ids"), absl::StrCat(original.id()));
  same_phone.mutable_contacts(0)->set_phone("+8613910000005");

  pb::Customer same_name = NewCustomer("  深圳南山电子有限公司 ", 7);
  *req.mutable_customer() = same_name;
  EXPECT_EQ(Stub()->CreateCustomer(Ctx().get(), req, &out).error_code(), StatusCode::ALREADY_EXISTS);

  pb::FindDuplicatesRequest find;
  find.set_email("CONTACT5@example.cn");
  pb::FindDuplicatesResponse found;
  ASSERT_TRUE(Stub()->FindDuplicates(Ctx().get(), find, &found).ok());
  ASSERT_EQ(found.matches_size(), 1);
  EXPECT_EQ(found.matches(0).customer_id(), original.id());
  EXPECT_EQ(found.matches(0).matched_on(0), "email");

  req.set_allow_duplicates(true);
  ASSERT_TRUE(Stub()->CreateCustomer(Ctx().get(), req, &out).ok());
  EXPECT_NE(out.id(), original.id());
}

// The check runs as one statement over every key of the new record; each key still
// finds its own matches, whichever contact carries it.
TEST_F(CustomersServiceTest, OneDuplicateCheckFindsEveryKeyOfEveryContact) {
  pb::Customer by_name = Create(NewCustomer("杭州西湖仪器有限公司", 31));
  pb::Customer by_phone = Create(NewCustomer("宁波北仑港务有限公司", 32));
  pb::Customer by_email = Create(NewCustomer("温州鹿城鞋业有限公司", 33));

  pb::Customer incoming = NewCustomer("杭州西湖仪器有限公司", 40);
  for (int n = 41; n <= 44; ++n) {  // five contacts: the list of keys is padded past four
    auto* ct = incoming.add_contacts();
    ct->set_name("其他联系人");
    ct->set_phone(absl::StrCat("139", 10000000 + n));
    ct->set_email(absl::StrCat("contact", n, "@example.cn"));
  }
  incoming.mutable_contacts(3)->set_phone(by_phone.contacts(0).phone());
  incoming.mutable_contacts(4)->set_email(by_email.contacts(0).email());
  incoming.mutable_contacts(4)->set_phone(by_name.contacts(0).phone());  // the named one, by phone too

  pb::CreateCustomerRequest req;
  *req.mutable_customer() = incoming;
  pb::Customer out;
  grpc::Status s = Stub()->CreateCustomer(Ctx().get(), req, &out);
  ASSERT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS);
  std::vector<std::string> ids = {absl::StrCat(by_name.id()), absl::StrCat(by_phone.id()), absl::StrCat(by_email.id())};
  std::sort(ids.begin(), ids.end(), [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  EXPECT_EQ(MetadataOf(FromGrpcStatus(s), "duplicate_ids"), absl::StrJoin(ids, ","));

  pb::FindDuplicatesRequest find;
  find.set_name(by_name.name());
  find.set_phone(by_name.contacts(0).phone());
  find.set_email(by_email.contacts(0).email());
  pb::FindDuplicatesResponse found;
  ASSERT_TRUE(Stub()->FindDuplicates(Ctx().get(), find, &found).ok());
  ASSERT_EQ(found.matches_size(), 2);
  EXPECT_EQ(found.matches(0).customer_id(), std::min(by_name.id(), by_email.id()));
  for (const auto& m : found.matches()) {
    std::vector<std::string> on(m.matched_on().begin(), m.matched_on().end());
    if (m.customer_id() == by_name.id()) {
      EXPECT_EQ(on, (std::vector<std::string>{"name", "phone"}));
      EXPECT_EQ(m.name(), by_name.name());
    } else {
      EXPECT_EQ(m.customer_id(), by_email.id());
      EXPECT_EQ(on, (std::vector<std::string>{"email"}));
    }
  }
}

TEST_F(CustomersServiceTest, PeopleWithTheSameNameAreNotDuplicatesByNameAlone) {
  pb::Customer a = NewCustomer("张伟", 23);
  a.set_kind(pb::CUSTOMER_KIND_PERSON);
  pb::Customer b = NewCustomer("张伟", 24);
  b.set_kind(pb::CUSTOMER_KIND_PERSON);
  EXPECT_NE(Create(a).id(), Create(b).id());
}

TEST_F(CustomersServiceTest, MergeMovesHistoryContactsAndTagsAndRedirectsNewEvents) {
  pb::Customer a = NewCustomer("合并甲公司", 8);
  a.add_tags("甲");
  pb::Customer survivor = Create(a);
  pb::Customer b = NewCustomer("合并乙公司", 9);
  b.add_tags("乙");
  pb::Customer dup = Create(b);
  pb::AppendLogEntryRequest log;
  log.mutable_entry()->set_customer_id(dup.id());
  log.mutable_entry()->set_channel(pb::CHANNEL_PHONE);
  log.mutable_entry()->set_category(pb::LOG_CATEGORY_CONSULTATION);
  log.mutable_entry()->set_description("咨询产品价格");
  pb::LogEntry entry;
  ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), log, &entry).ok());

  pb::MergeCustomersRequest merge;
  merge.set_survivor_id(survivor.id());
  merge.set_duplicate_id(dup.id());
  merge.set_reason("同一客户重复建档");
  pb::Customer merged;
  ASSERT_TRUE(Stub()->MergeCustomers(Ctx().get(), merge, &merged).ok());
  EXPECT_EQ(merged.contacts_size(), 2);
  EXPECT_EQ(merged.tags_size(), 2);
  EXPECT_EQ(merged.version(), survivor.version() + 1);
  // Repeating the merge is harmless.
  ASSERT_TRUE(Stub()->MergeCustomers(Ctx().get(), merge, &merged).ok());

  pb::GetCustomerRequest get;
  get.set_customer_id(dup.id());
  pb::Customer dup_now;
  ASSERT_TRUE(Stub()->GetCustomer(Ctx().get(), get, &dup_now).ok());
  EXPECT_EQ(dup_now.merged_into_id(), survivor.id());

  // Old log and new events of the duplicate end up on the survivor.
  ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), log, &entry).ok());
  EXPECT_EQ(entry.customer_id(), survivor.id());
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                      {survivor.id(), static_cast<int>(pb::LOG_CATEGORY_CONSULTATION)}),
            2);
  // The merged record is read-only.
  pb::ChangeTierRequest tier;
  tier.set_customer_id(dup.id());
  tier.set_tier(pb::TIER_GOLD);
  tier.set_reason("x");
  pb::Customer out;
  EXPECT_EQ(Stub()->ChangeTier(Ctx().get(), tier, &out).error_code(), StatusCode::FAILED_PRECONDITION);
  // Merging with itself is refused up front.
  merge.set_duplicate_id(survivor.id());
  EXPECT_EQ(Stub()->MergeCustomers(Ctx().get(), merge, &out).error_code(), StatusCode::INVALID_ARGUMENT);
}

// Other services decide deadlines and priorities by the tier: it must be the record's
// current one, with the version it was read at, and a merged record says so.
TEST_F(CustomersServiceTest, TierLookupFollowsTheRecord) {
  auto tier_of = [&](int64_t id, pb::CustomerTier* out) {
    pb::GetCustomerTierRequest req;
    req.set_customer_id(id);
    return Stub()->GetCustomerTier(Ctx().get(), req, out);
  };
  pb::Customer c = Create(NewCustomer("等级查询公司", 720));
  pb::CustomerTier t;
  ASSERT_TRUE(tier_of(c.id(), &t).ok());
  EXPECT_EQ(t.customer_id(), c.id());
  EXPECT_EQ(t.tier(), c.tier());
  EXPECT_EQ(t.version(), c.version());
  EXPECT_EQ(t.merged_into_id(), 0);

  pb::ChangeTierRequest change;
  change.set_customer_id(c.id());
  change.set_tier(pb::TIER_PLATINUM);
  change.set_reason("大客户");
  pb::Customer changed;
  ASSERT_TRUE(Stub()->ChangeTier(Ctx().get(), change, &changed).ok());
  ASSERT_TRUE(tier_of(c.id(), &t).ok());
  EXPECT_EQ(t.tier(), pb::TIER_PLATINUM);
  EXPECT_EQ(t.version(), changed.version());

  pb::Customer dup = Create(NewCustomer("等级查询公司乙", 721));
  pb::MergeCustomersRequest merge;
  merge.set_survivor_id(c.id());
  merge.set_duplicate_id(dup.id());
  merge.set_reason("重复建档");
  pb::Customer survivor;
  ASSERT_TRUE(Stub()->MergeCustomers(Ctx().get(), merge, &survivor).ok());
  ASSERT_TRUE(tier_of(dup.id(), &t).ok());
  EXPECT_EQ(t.merged_into_id(), c.id());

  EXPECT_EQ(tier_of(987654321, &t).error_code(), StatusCode::NOT_FOUND);
  grpc::Status zero = tier_of(0, &t);
  EXPECT_EQ(zero.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(zero.error_message().find("customer_id"), std::string::npos) << zero.error_message();
}

TEST_F(CustomersServiceTest, UpdateChangesMaskedFieldsAndRefusesAStaleVersion) {
  pb::Customer c = Create(NewCustomer("更新测试公司", 10));
  pb::UpdateCustomerRequest req;
  req.mutable_customer()->set_id(c.id());
  req.mutable_customer()->set_version(c.version());
  req.mutable_customer()->set_region("西南");
  req.mutable_customer()->set_name("this is not in the mask");
  req.mutable_update_mask()->add_paths("region");
  pb::Customer updated;
  ASSERT_TRUE(Stub()->UpdateCustomer(Ctx().get(), req, &updated).ok());
  EXPECT_EQ(updated.region(), "西南");
  EXPECT_EQ(updated.name(), "更新测试公司");
  EXPECT_EQ(updated.version(), c.version() + 1);
  EXPECT_EQ(updated.contacts_size(), 1);

  // The same (now stale) version again: ABORTED, nothing changes.
  req.mutable_customer()->set_region("华北");
  grpc::Status s = Stub()->UpdateCustomer(Ctx().get(), req, &updated);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  EXPECT_EQ(MetadataOf(FromGrpcStatus(s), "current_version"), absl::StrCat(c.version() + 1));
  pb::GetCustomerRequest get;
  get.set_customer_id(c.id());
  pb::Customer now;
  ASSERT_TRUE(Stub()->GetCustomer(Ctx().get(), get, &now).ok());
  EXPECT_EQ(now.region(), "西南");

  req.mutable_update_mask()->clear_paths();
  req.mutable_update_mask()->add_paths("owner_id");
  req.mutable_customer()->set_version(now.version());
  s = Stub()->UpdateCustomer(Ctx().get(), req, &updated);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("update_mask"), std::string::npos);
}

TEST_F(CustomersServiceTest, TwoWritersOnOneVersionOneWinsOneIsAborted) {
  pb::Customer c = Create(NewCustomer("并发更新公司", 11));
  std::atomic<int> ok{0}, aborted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      pb::UpdateCustomerRequest req;
      req.mutable_customer()->set_id(c.id());
      req.mutable_customer()->set_version(c.version());
      req.mutable_customer()->set_industry(i == 0 ? "金融" : "教育");
      req.mutable_update_mask()->add_paths("industry");
      pb::Customer out;
      grpc::Status s = Stub()->UpdateCustomer(Ctx().get(), req, &out);
      if (s.ok()) ++ok;
      else if (s.error_code() == StatusCode::ABORTED) ++aborted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(aborted.load(), 1);
}

TEST_F(CustomersServiceTest, ListPagesThroughEveryMatchOnceWithFilters) {
  std::set<int64_t> expected;
  for (int i = 0; i < 23; ++i) {
    pb::Customer c = NewCustomer(absl::StrCat("分页测试", i, "号公司"), 100 + i);
    c.set_owner_id("E-PAGE");
    c.add_tags(i % 2 ? "奇数" : "偶数");
    expected.insert(Create(c).id());
  }
  pb::ListCustomersRequest req;
  req.set_owner_id("E-PAGE");
  req.set_page_size(5);
  std::set<int64_t> seen;
  int pages = 0;
  while (true) {
    pb::ListCustomersResponse resp;
    ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), req, &resp).ok());
    ++pages;
    for (const auto& c : resp.customers()) {
      EXPECT_TRUE(seen.insert(c.id()).second) << "customer listed twice: " << c.id();
      EXPECT_EQ(c.owner_id(), "E-PAGE");
      EXPECT_EQ(c.contacts_size(), 1);
      EXPECT_EQ(c.tags_size(), 1);
    }
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(pages, 5);

  pb::ListCustomersRequest by_tag;
  by_tag.set_tag("奇数");
  by_tag.set_owner_id("E-PAGE");
  by_tag.set_page_size(100);
  pb::ListCustomersResponse odd;
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), by_tag, &odd).ok());
  EXPECT_EQ(odd.customers_size(), 11);

  pb::ListCustomersRequest by_prefix;
  by_prefix.set_name_prefix("分页测试1");
  by_prefix.set_page_size(3);
  std::vector<std::string> names;
  while (true) {
    pb::ListCustomersResponse resp;
    ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), by_prefix, &resp).ok());
    for (const auto& c : resp.customers()) names.push_back(c.name());
    if (resp.next_page_token().empty()) break;
    by_prefix.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(names.size(), 11u);  // 1, 10..19
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

  // A '%' in the prefix is a literal, not a wildcard.
  pb::ListCustomersRequest wildcard;
  wildcard.set_name_prefix("%");
  pb::ListCustomersResponse none;
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), wildcard, &none).ok());
  EXPECT_EQ(none.customers_size(), 0);
}

TEST_F(CustomersServiceTest, BogusOrMismatchedPageTokensAreRefused) {
  pb::ListCustomersRequest req;
  req.set_page_token("garbage");
  pb::ListCustomersResponse resp;
  grpc::Status s = Stub()->ListCustomers(Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("page_token"), std::string::npos);

  for (int i = 0; i < 3; ++i) {
    pb::Customer c = NewCustomer(absl::StrCat("令牌测试", i), 200 + i);
    c.set_owner_id("E-TOKEN");
    Create(c);
  }
  pb::ListCustomersRequest first;
  first.set_owner_id("E-TOKEN");
  first.set_page_size(1);
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), first, &resp).ok());
  ASSERT_FALSE(resp.next_page_token().empty());
  pb::ListCustomersRequest other = first;
  other.set_owner_id("E-OTHER");
  other.set_page_token(resp.next_page_token());
  EXPECT_EQ(Stub()->ListCustomers(Ctx().get(), other, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
  pb::ListCustomersRequest too_big;
  too_big.set_page_size(100000);
  EXPECT_EQ(Stub()->ListCustomers(Ctx().get(), too_big, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(CustomersServiceTest, ReassignAndTransferAreLoggedSoTheNewOwnerSeesWhy) {
  pb::Customer c = Create(NewCustomer("交接测试公司", 12));
  pb::ReassignOwnerRequest req;
  req.set_customer_id(c.id());
  req.set_new_owner_id("E1005");
  req.set_reason("区域调整");
  req.set_version(c.version());
  pb::Customer out;
  ASSERT_TRUE(Stub()->ReassignOwner(Ctx("M2001").get(), req, &out).ok());
  EXPECT_EQ(out.owner_id(), "E1005");
  EXPECT_EQ(Stub()->ReassignOwner(Ctx().get(), req, &out).error_code(), StatusCode::ABORTED);
  req.set_version(0);
  EXPECT_EQ(Stub()->ReassignOwner(Ctx().get(), req, &out).error_code(), StatusCode::FAILED_PRECONDITION);

  for (int i = 0; i < 3; ++i) {
    pb::Customer p = NewCustomer(absl::StrCat("离职交接", i), 300 + i);
    p.set_owner_id("E-LEAVER");
    Create(p);
  }
  pb::TransferPortfolioRequest transfer;
  transfer.set_from_owner_id("E-LEAVER");
  transfer.set_to_owner_id("E-NEW");
  transfer.set_reason("客户经理离职");
  pb::TransferPortfolioResponse moved;
  ASSERT_TRUE(Stub()->TransferPortfolio(Ctx("M2001").get(), transfer, &moved).ok());
  EXPECT_EQ(moved.transferred_count(), 3);
  ASSERT_TRUE(Stub()->TransferPortfolio(Ctx("M2001").get(), transfer, &moved).ok());
  EXPECT_EQ(moved.transferred_count(), 0);  // a repeat moves nothing more

  pb::ListCustomersRequest list;
  list.set_owner_id("E-NEW");
  pb::ListCustomersResponse resp;
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), list, &resp).ok());
  ASSERT_EQ(resp.customers_size(), 3);
  pb::ListLogEntriesRequest log;
  log.set_customer_id(resp.customers(0).id());
  log.set_category(pb::LOG_CATEGORY_ACCOUNT);
  pb::ListLogEntriesResponse entries;
  ASSERT_TRUE(Stub()->ListLogEntries(Ctx().get(), log, &entries).ok());
  ASSERT_GE(entries.entries_size(), 2);
  EXPECT_NE(entries.entries(0).description().find("E-LEAVER -> E-NEW"), std::string::npos);
  EXPECT_EQ(entries.entries(0).summary(), "客户经理离职");
  EXPECT_EQ(entries.entries(0).staff_id(), "M2001");
}

TEST_F(CustomersServiceTest, TierChangesKeepAHistory) {
  pb::Customer c = Create(NewCustomer("升级测试公司", 13));
  pb::ChangeTierRequest up;
  up.set_customer_id(c.id());
  up.set_tier(pb::TIER_GOLD);
  up.set_reason("年采购额超过500万");
  pb::Customer out;
  ASSERT_TRUE(Stub()->ChangeTier(Ctx("M2001").get(), up, &out).ok());
  EXPECT_EQ(out.tier(), pb::TIER_GOLD);
  pb::ChangeTierRequest down = up;
  down.set_tier(pb::TIER_SILVER);
  down.set_reason("业务量下降");
  ASSERT_TRUE(Stub()->ChangeTier(Ctx("M2001").get(), down, &out).ok());
  EXPECT_EQ(Stub()->ChangeTier(Ctx().get(), down, &out).error_code(), StatusCode::FAILED_PRECONDITION);
  up.clear_reason();
  EXPECT_EQ(Stub()->ChangeTier(Ctx().get(), up, &out).error_code(), StatusCode::INVALID_ARGUMENT);

  pb::ListTierChangesRequest hist;
  hist.set_customer_id(c.id());
  hist.set_page_size(1);
  pb::ListTierChangesResponse page1, page2;
  ASSERT_TRUE(Stub()->ListTierChanges(Ctx().get(), hist, &page1).ok());
  ASSERT_EQ(page1.changes_size(), 1);
  EXPECT_EQ(page1.changes(0).from_tier(), pb::TIER_GOLD);
  EXPECT_EQ(page1.changes(0).to_tier(), pb::TIER_SILVER);
  EXPECT_EQ(page1.changes(0).changed_by(), "M2001");
  hist.set_page_token(page1.next_page_token());
  ASSERT_TRUE(Stub()->ListTierChanges(Ctx().get(), hist, &page2).ok());
  ASSERT_EQ(page2.changes_size(), 1);
  EXPECT_EQ(page2.changes(0).from_tier(), pb::TIER_STANDARD);
  EXPECT_EQ(page2.changes(0).reason(), "年采购额超过500万");
  EXPECT_TRUE(page2.next_page_token().empty());
}

TEST_F(CustomersServiceTest, LifecycleFollowsTheStateMachine) {
  pb::Customer c = Create(NewCustomer("生命周期公司", 14));
  pb::ChangeLifecycleStageRequest req;
  req.set_customer_id(c.id());
  req.set_stage(pb::LIFECYCLE_STAGE_STABLE);
  pb::Customer out;
  grpc::Status s = Stub()->ChangeLifecycleStage(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);  // prospect cannot jump to stable
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "ILLEGAL_TRANSITION");
  for (auto stage : {pb::LIFECYCLE_STAGE_FORMATION, pb::LIFECYCLE_STAGE_STABLE, pb::LIFECYCLE_STAGE_DECLINE,
                     pb::LIFECYCLE_STAGE_CHURNED}) {
    req.set_stage(stage);
    ASSERT_TRUE(Stub()->ChangeLifecycleStage(Ctx().get(), req, &out).ok()) << StageName(stage);
    EXPECT_EQ(out.lifecycle_stage(), stage);
  }
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM lifecycle_changes WHERE customer_id = ?", {c.id()}), 4);
}

TEST_F(CustomersServiceTest, LogIsFilteredByCategoryAndTimeAndPagedNewestFirst) {
  pb::Customer c = Create(NewCustomer("日志测试公司", 15));
  absl::Time base = clock_->Now();
  for (int i = 0; i < 12; ++i) {
    pb::AppendLogEntryRequest req;
    auto* e = req.mutable_entry();
    e->set_customer_id(c.id());
    e->set_channel(pb::CHANNEL_PHONE);
    e->set_category(i % 3 == 0 ? pb::LOG_CATEGORY_COMPLAINT : pb::LOG_CATEGORY_SERVICE);
    e->set_description(absl::StrCat("第", i, "次来电：设备故障报修"));
    e->set_resolution("已派工程师上门");
    e->set_satisfaction(pb::SATISFACTION_SATISFIED);
    *e->mutable_event_time() = ToProtoTime(base + absl::Hours(i));
    pb::LogEntry out;
    ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), req, &out).ok());
    EXPECT_EQ(out.staff_id(), "E1001");  // taken from the caller when not given
  }
  pb::ListLogEntriesRequest req;
  req.set_customer_id(c.id());
  req.set_category(pb::LOG_CATEGORY_SERVICE);
  req.set_page_size(3);
  std::vector<std::string> descriptions;
  while (true) {
    pb::ListLogEntriesResponse resp;
    ASSERT_TRUE(Stub()->ListLogEntries(Ctx().get(), req, &resp).ok());
    for (const auto& e : resp.entries()) descriptions.push_back(e.description());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  ASSERT_EQ(descriptions.size(), 8u);
  EXPECT_EQ(descriptions.front(), "第11次来电：设备故障报修");
  EXPECT_EQ(descriptions.back(), "第1次来电：设备故障报修");

  pb::ListLogEntriesRequest window;
  window.set_customer_id(c.id());
  *window.mutable_start_time() = ToProtoTime(base + absl::Hours(3));
  *window.mutable_end_time() = ToProtoTime(base + absl::Hours(6));
  pb::ListLogEntriesResponse resp;
  ASSERT_TRUE(Stub()->ListLogEntries(Ctx().get(), window, &resp).ok());
  EXPECT_EQ(resp.entries_size(), 3);  // hours 3, 4, 5

  std::swap(*window.mutable_start_time(), *window.mutable_end_time());
  EXPECT_EQ(Stub()->ListLogEntries(Ctx().get(), window, &resp).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(CustomersServiceTest, LogAppendIsIdempotentAndValidated) {
  pb::Customer c = Create(NewCustomer("幂等日志公司", 16));
  pb::AppendLogEntryRequest req;
  req.set_request_id("complaints-event-77");
  auto* e = req.mutable_entry();
  e->set_customer_id(c.id());
  e->set_channel(pb::CHANNEL_SYSTEM);
  e->set_category(pb::LOG_CATEGORY_COMPLAINT);
  e->set_description("工单WO-77已升级至部门经理");
  pb::LogEntry first, second;
  ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), req, &first).ok());
  ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), req, &second).ok());
  EXPECT_EQ(first.id(), second.id());
  EXPECT_EQ(second.description(), "工单WO-77已升级至部门经理");
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                      {c.id(), static_cast<int>(pb::LOG_CATEGORY_COMPLAINT)}),
            1);

  pb::AppendLogEntryRequest bad = req;
  bad.clear_request_id();
  bad.mutable_entry()->set_category(static_cast<pb::LogCategory>(99));
  bad.mutable_entry()->clear_description();
  pb::LogEntry out;
  grpc::Status s = Stub()->AppendLogEntry(Ctx().get(), bad, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("entry.category"), std::string::npos);
  EXPECT_NE(s.error_message().find("entry.description"), std::string::npos);
  bad = req;
  bad.clear_request_id();
  bad.mutable_entry()->set_customer_id(987654321);
  EXPECT_EQ(Stub()->AppendLogEntry(Ctx().get(), bad, &out).error_code(), StatusCode::NOT_FOUND);
}

// A relay's round claims its request ids in a few statements (chunks of powers of two)
// and reads merge chains for the whole round at once; neither may change what each
// request gets.
TEST_F(CustomersServiceTest, BatchAppendOfManyAtOnceStillHonoursEveryRequestIdAndMerge) {
  pb::Customer c1 = Create(NewCustomer("批量链甲公司", 7801));
  pb::Customer c2 = Create(NewCustomer("批量链乙公司", 7802));
  pb::Customer c3 = Create(NewCustomer("批量链丙公司", 7803));
  auto merge = [&](const pb::Customer& survivor, const pb::Customer& dup) {
    pb::MergeCustomersRequest m;
    m.set_survivor_id(survivor.id());
    m.set_duplicate_id(dup.id());
    m.set_reason("重复建档");
    pb::Customer out;
    ASSERT_TRUE(Stub()->MergeCustomers(Ctx().get(), m, &out).ok());
  };
  merge(c2, c1);  // c1 -> c2
  merge(c3, c2);  // c2 -> c3: c1's entries go two hops
  pb::Customer other = Create(NewCustomer("批量链丁公司", 7804));
  auto request = [](int64_t customer, int n) {
    return RelayedLogRequest(customer, absl::StrCat("relay.chunk.", n), absl::StrCat("第", n, "条"));
  };
  auto count = [&](int64_t customer) { return LogCount(customer); };
  const int64_t c3_before = count(c3.id()), other_before = count(other.id());

  // The last of seven (claimed alone, after chunks of four and two) was sent before.
  pb::BatchAppendLogEntriesRequest earlier;
  *earlier.add_requests() = request(other.id(), 6);
  pb::BatchAppendLogEntriesResponse earlier_out;
  ASSERT_TRUE(Stub()->BatchAppendLogEntries(Ctx().get(), earlier, &earlier_out).ok());

  pb::BatchAppendLogEntriesRequest batch;
  for (int n = 0; n < 6; ++n) *batch.add_requests() = request(n % 2 ? c1.id() : other.id(), n);
  *batch.add_requests() = request(other.id(), 6);
  pb::BatchAppendLogEntriesResponse first;
  grpc::Status st = Stub()->BatchAppendLogEntries(Ctx().get(), batch, &first);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(first.entries_size(), 7);
  EXPECT_EQ(first.entries(6).id(), earlier_out.entries(0).id()) << "the request sent before is a replay";
  std::set<int64_t> ids;
  for (int n = 0; n < 7; ++n) {
    ids.insert(first.entries(n).id());
    EXPECT_EQ(first.entries(n).description(), absl::StrCat("第", n, "条"));
    EXPECT_EQ(first.entries(n).customer_id(), n % 2 ? c3.id() : other.id()) << n;
  }
  EXPECT_EQ(ids.size(), 7u);
  EXPECT_EQ(count(c3.id()), c3_before + 3);
  EXPECT_EQ(count(other.id()), other_before + 4);

  // Sent again, all seven are replays with their first ids; nothing is written twice.
  pb::BatchAppendLogEntriesResponse again;
  ASSERT_TRUE(Stub()->BatchAppendLogEntries(Ctx().get(), batch, &again).ok());
  for (int n = 0; n < 7; ++n) EXPECT_EQ(again.entries(n).id(), first.entries(n).id()) << n;
  EXPECT_EQ(count(c3.id()), c3_before + 3);
  EXPECT_EQ(count(other.id()), other_before + 4);

  // Nine new ones (chunks of eight and one) all go in, each completed with its own entry:
  // a retry returns each id in its place.
  pb::BatchAppendLogEntriesRequest nine;
  for (int n = 10; n < 19; ++n) *nine.add_requests() = request(c2.id(), n);
  pb::BatchAppendLogEntriesResponse nine_out, nine_again;
  st = Stub()->BatchAppendLogEntries(Ctx().get(), nine, &nine_out);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(count(c3.id()), c3_before + 3 + 9);
  ASSERT_TRUE(Stub()->BatchAppendLogEntries(Ctx().get(), nine, &nine_again).ok());
  for (int n = 0; n < 9; ++n) EXPECT_EQ(nine_again.entries(n).id(), nine_out.entries(n).id()) << n;
  EXPECT_EQ(count(c3.id()), c3_before + 3 + 9);
}

// The other services' relays deliver customer-log messages a round at a time: one call,
// one transaction, every request's id honoured on its own.
TEST_F(CustomersServiceTest, BatchAppendWritesAllOrNothingAndHonoursEachRequestId) {
  pb::Customer a = Create(NewCustomer("批量日志甲公司", 7701));
  pb::Customer b = Create(NewCustomer("批量日志乙公司", 7702));
  auto request = &RelayedLogRequest;
  auto count = [&](int64_t customer) { return LogCount(customer); };
  const int64_t a_before = count(a.id()), b_before = count(b.id());

  pb::BatchAppendLogEntriesRequest batch;
  *batch.add_requests() = request(a.id(), "complaints.log.901", "工单WO-901已受理");
  *batch.add_requests() = request(b.id(), "complaints.log.902", "工单WO-902已受理");
  *batch.add_requests() = request(a.id(), "complaints.log.903", "工单WO-903已升级");
  pb::BatchAppendLogEntriesResponse first;
  grpc::Status st = Stub()->BatchAppendLogEntries(Ctx().get(), batch, &first);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(first.entries_size(), 3);
  EXPECT_EQ(first.entries(0).description(), "工单WO-901已受理");  // in the order of the requests
  EXPECT_EQ(first.entries(1).customer_id(), b.id());
  EXPECT_EQ(first.entries(2).description(), "工单WO-903已升级");
  EXPECT_GT(first.entries(0).id(), 0);
  EXPECT_EQ(first.entries(0).staff_id(), "E1001");  // the caller, as the entry names no one
  EXPECT_EQ(count(a.id()), a_before + 2);
  EXPECT_EQ(count(b.id()), b_before + 1);

  // The relay's retry after a lost answer, with one new message: the first three come
  // back as they were, the new one is appended, nothing twice.
  *batch.add_requests() = request(b.id(), "complaints.log.904", "工单WO-904已关闭");
  pb::BatchAppendLogEntriesResponse retry;
  st = Stub()->BatchAppendLogEntries(Ctx().get(), batch, &retry);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(retry.entries_size(), 4);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(retry.entries(i).id(), first.entries(i).id());
  EXPECT_EQ(retry.entries(3).description(), "工单WO-904已关闭");
  EXPECT_EQ(count(a.id()), a_before + 2);
  EXPECT_EQ(count(b.id()), b_before + 2);

  // One unknown customer: NOT_FOUND naming its position, and nothing of the batch written.
  pb::BatchAppendLogEntriesRequest with_unknown;
  *with_unknown.add_requests() = request(a.id(), "complaints.log.905", "工单WO-905已受理");
  *with_unknown.add_requests() = request(987654321, "complaints.log.906", "不存在的客户");
  pb::BatchAppendLogEntriesResponse out;
  st = Stub()->BatchAppendLogEntries(Ctx().get(), with_unknown, &out);
  EXPECT_EQ(st.error_code(), StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("requests[1]"), std::string::npos) << st.error_message();
  EXPECT_EQ(count(a.id()), a_before + 2);
  // ... and its request ids were not used up: the corrected batch goes in.
  with_unknown.mutable_requests(1)->mutable_entry()->set_customer_id(b.id());
  ASSERT_TRUE(Stub()->BatchAppendLogEntries(Ctx().get(), with_unknown, &out).ok());
  EXPECT_EQ(count(a.id()), a_before + 3);
  EXPECT_EQ(count(b.id()), b_before + 3);

  // A request id already used for another entry: FAILED_PRECONDITION naming the request,
  // and the batch's new entry is not written either.
  pb::BatchAppendLogEntriesRequest reused;
  *reused.add_requests() = request(b.id(), "complaints.log.907", "工单WO-907已受理");
  *reused.add_requests() = request(a.id(), "complaints.log.901", "另一条内容");
  st = Stub()->BatchAppendLogEntries(Ctx().get(), reused, &out);
  EXPECT_EQ(st.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("requests[1]"), std::string::npos) << st.error_message();
  EXPECT_EQ(count(b.id()), b_before + 3);
}

TEST_F(CustomersServiceTest, BatchAppendNamesEveryBadRequest) {
  pb::Customer c = Create(NewCustomer("批量校验公司", 7703));
  pb::BatchAppendLogEntriesRequest empty;
  pb::BatchAppendLogEntriesResponse out;
  grpc::Status st = Stub()->BatchAppendLogEntries(Ctx().get(), empty, &out);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("requests"), std::string::npos);

  pb::BatchAppendLogEntriesRequest bad;
  for (int i = 0; i < 3; ++i) {
    auto* r = bad.add_requests();
    r->set_request_id(absl::StrCat("visit-", i));
    r->mutable_entry()->set_customer_id(c.id());
    r->mutable_entry()->set_channel(pb::CHANNEL_PHONE);
    r->mutable_entry()->set_category(pb::LOG_CATEGORY_VISIT);
    r->mutable_entry()->set_description("回访");
  }
  bad.mutable_requests(0)->mutable_entry()->clear_description();
  bad.mutable_requests(1)->set_request_id("same-id");
  bad.mutable_requests(2)->set_request_id("same-id");
  st = Stub()->BatchAppendLogEntries(Ctx().get(), bad, &out);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("requests[0].entry.description"), std::string::npos) << st.error_message();
  EXPECT_NE(st.error_message().find("requests[2].request_id"), std::string::npos) << st.error_message();
  EXPECT_EQ(st.error_message().find("requests[1].request_id:"), std::string::npos) << st.error_message();

  pb::BatchAppendLogEntriesRequest too_many;
  for (int i = 0; i < 101; ++i) {
    *too_many.add_requests() = bad.requests(1);
    too_many.mutable_requests(i)->set_request_id(absl::StrCat("visit-many-", i));
  }
  st = Stub()->BatchAppendLogEntries(Ctx().get(), too_many, &out);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("at most 100"), std::string::npos) << st.error_message();
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                      {c.id(), static_cast<int>(pb::LOG_CATEGORY_VISIT)}),
            0);
}

TEST_F(CustomersServiceTest, BusinessVolumeFlagsSwingsBeyondTheThreshold) {
  pb::Customer steady = Create(NewCustomer("业务平稳公司", 17));
  pb::Customer swing = Create(NewCustomer("业务波动公司", 18));
  auto record = [&](int64_t id, const std::string& period, int64_t volume) {
    pb::RecordBusinessVolumeRequest req;
    req.mutable_volume()->set_customer_id(id);
    req.mutable_volume()->set_period(period);
    req.mutable_volume()->set_volume(volume);
    req.mutable_volume()->mutable_revenue()->set_currency_code("CNY");
    req.mutable_volume()->mutable_revenue()->set_amount_minor(volume * 1000);
    pb::BusinessVolume out;
    return Stub()->RecordBusinessVolume(Ctx().get(), req, &out);
  };
  ASSERT_TRUE(record(steady.id(), "2031-01", 100).ok());
  ASSERT_TRUE(record(steady.id(), "2031-02", 110).ok());
  ASSERT_TRUE(record(swing.id(), "2031-01", 100).ok());
  ASSERT_TRUE(record(swing.id(), "2031-02", 40).ok());
  ASSERT_TRUE(record(swing.id(), "2031-02", 45).ok());  // a correction replaces the month
  {
    // Correcting only the volume keeps the month's revenue.
    pb::RecordBusinessVolumeRequest req;
    req.mutable_volume()->set_customer_id(steady.id());
    req.mutable_volume()->set_period("2031-02");
    req.mutable_volume()->set_volume(111);
    pb::BusinessVolume out;
    ASSERT_TRUE(Stub()->RecordBusinessVolume(Ctx().get(), req, &out).ok());
    EXPECT_EQ(out.revenue().amount_minor(), 110000);
    EXPECT_EQ(out.volume(), 111);
  }
  EXPECT_EQ(record(swing.id(), "2031-13", 1).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(record(swing.id(), "2031-03", -1).error_code(), StatusCode::INVALID_ARGUMENT);

  pb::ListBusinessVolumesRequest list;
  list.set_customer_id(swing.id());
  pb::ListBusinessVolumesResponse vols;
  ASSERT_TRUE(Stub()->ListBusinessVolumes(Ctx().get(), list, &vols).ok());
  ASSERT_EQ(vols.changes_size(), 2);
  EXPECT_EQ(vols.changes(1).change_bp(), -5500);
  EXPECT_TRUE(vols.changes(1).flagged());

  pb::ListVolumeFluctuationsRequest fl;
  fl.set_period("2031-02");
  pb::ListVolumeFluctuationsResponse flagged;
  ASSERT_TRUE(Stub()->ListVolumeFluctuations(Ctx().get(), fl, &flagged).ok());
  ASSERT_EQ(flagged.changes_size(), 1);
  EXPECT_EQ(flagged.changes(0).current().customer_id(), swing.id());
  fl.set_threshold_bp(500);  // 5%: the steady customer's +10% now counts too
  ASSERT_TRUE(Stub()->ListVolumeFluctuations(Ctx().get(), fl, &flagged).ok());
  EXPECT_EQ(flagged.changes_size(), 2);
}

TEST_F(CustomersServiceTest, RetentionCaseFromOpenToClosedWithCosts) {
  pb::Customer c = Create(NewCustomer("挽留测试公司", 19));
  pb::CreateRetentionCaseRequest open;
  open.set_customer_id(c.id());
  open.set_reason("竞争对手报价低20%");
  open.set_request_id("ret-19");
  pb::RetentionCase rc, again;
  ASSERT_TRUE(Stub()->CreateRetentionCase(Ctx().get(), open, &rc).ok());
  ASSERT_TRUE(Stub()->CreateRetentionCase(Ctx().get(), open, &again).ok());
  EXPECT_EQ(rc.id(), again.id());
  EXPECT_EQ(rc.owner_id(), "E1001");  // defaults to the customer's owner
  EXPECT_EQ(rc.status(), pb::RETENTION_STATUS_OPEN);

  pb::AddRetentionActionRequest act;
  act.set_case_id(rc.id());
  act.mutable_action()->set_type(pb::RETENTION_ACTION_TYPE_PROMOTION);
  act.mutable_action()->set_description("赠送一年延保");
  act.mutable_action()->mutable_cost()->set_currency_code("CNY");
  act.mutable_action()->mutable_cost()->set_amount_minor(500000);
  ASSERT_TRUE(Stub()->AddRetentionAction(Ctx().get(), act, &rc).ok());
  act.mutable_action()->set_type(pb::RETENTION_ACTION_TYPE_VISIT);
  act.mutable_action()->set_description("总监上门拜访");
  act.mutable_action()->mutable_cost()->set_amount_minor(80000);
  ASSERT_TRUE(Stub()->AddRetentionAction(Ctx().get(), act, &rc).ok());
  EXPECT_EQ(rc.actions_size(), 2);
  EXPECT_EQ(rc.total_cost().amount_minor(), 580000);

  pb::CloseRetentionCaseRequest close;
  close.set_case_id(rc.id());
  close.set_outcome(pb::RETENTION_OUTCOME_RETAINED);
  close.set_note("续签两年");
  ASSERT_TRUE(Stub()->CloseRetentionCase(Ctx().get(), close, &rc).ok());
  EXPECT_EQ(rc.status(), pb::RETENTION_STATUS_CLOSED);
  EXPECT_TRUE(rc.has_close_time());
  EXPECT_EQ(Stub()->CloseRetentionCase(Ctx().get(), close, &rc).error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Stub()->AddRetentionAction(Ctx().get(), act, &rc).error_code(), StatusCode::FAILED_PRECONDITION);

  pb::ListRetentionCasesRequest list;
  list.set_customer_id(c.id());
  pb::ListRetentionCasesResponse cases;
  ASSERT_TRUE(Stub()->ListRetentionCases(Ctx().get(), list, &cases).ok());
  ASSERT_EQ(cases.cases_size(), 1);
  EXPECT_EQ(cases.cases(0).outcome(), pb::RETENTION_OUTCOME_RETAINED);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                      {c.id(), static_cast<int>(pb::LOG_CATEGORY_RETENTION)}),
            4);
}

TEST_F(CustomersServiceTest, SurveysSampleServedCustomersOnceAndCountSatisfaction) {
  absl::Time start = clock_->Now() + absl::Hours(24 * 400);  // a window no other test writes into
  std::vector<int64_t> served;
  for (int i = 0; i < 6; ++i) {
    pb::Customer c = Create(NewCustomer(absl::StrCat("回访测试", i), 400 + i));
    served.push_back(c.id());
    pb::AppendLogEntryRequest req;
    req.mutable_entry()->set_customer_id(c.id());
    req.mutable_entry()->set_channel(pb::CHANNEL_VISIT);
    req.mutable_entry()->set_category(i == 5 ? pb::LOG_CATEGORY_BILLING : pb::LOG_CATEGORY_SERVICE);
    req.mutable_entry()->set_description("上门维修");
    *req.mutable_entry()->mutable_event_time() = ToProtoTime(start + absl::Hours(i));
    pb::LogEntry out;
    ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), req, &out).ok());
  }
  pb::SampleSurveysRequest sample;
  sample.set_campaign("2027-11 回访");
  *sample.mutable_served_from() = ToProtoTime(start);
  *sample.mutable_served_to() = ToProtoTime(start + absl::Hours(24));
  sample.set_sample_size(3);
  sample.set_seed(42);
  sample.set_request_id("sample-1");
  pb::SampleSurveysResponse first, replay;
  ASSERT_TRUE(Stub()->SampleSurveys(Ctx().get(), sample, &first).ok());
  EXPECT_EQ(first.population(), 5);  // billing is not "served"
  ASSERT_EQ(first.surveys_size(), 3);
  ASSERT_TRUE(Stub()->SampleSurveys(Ctx().get(), sample, &replay).ok());
  ASSERT_EQ(replay.surveys_size(), 3);
  EXPECT_EQ(replay.surveys(0).id(), first.surveys(0).id());

  // A second sample of the same campaign only draws customers not yet surveyed.
  sample.set_request_id("sample-2");
  sample.set_sample_size(10);
  pb::SampleSurveysResponse rest;
  ASSERT_TRUE(Stub()->SampleSurveys(Ctx().get(), sample, &rest).ok());
  EXPECT_EQ(rest.population(), 2);
  EXPECT_EQ(rest.surveys_size(), 2);

  pb::Satisfaction results[] = {pb::SATISFACTION_VERY_SATISFIED, pb::SATISFACTION_SATISFIED,
                                pb::SATISFACTION_DISSATISFIED};
  for (int i = 0; i < 3; ++i) {
    pb::RecordSurveyResultRequest rec;
    rec.set_survey_id(first.surveys(i).id());
    rec.set_satisfaction(results[i]);
    rec.set_comment("工程师很专业");
    pb::Survey out;
    ASSERT_TRUE(Stub()->RecordSurveyResult(Ctx().get(), rec, &out).ok());
    EXPECT_EQ(out.status(), pb::SURVEY_STATUS_COMPLETED);
  }
  pb::RecordSurveyResultRequest change;
  change.set_survey_id(first.surveys(0).id());
  change.set_satisfaction(pb::SATISFACTION_NEUTRAL);
  pb::Survey out;
  EXPECT_EQ(Stub()->RecordSurveyResult(Ctx().get(), change, &out).error_code(), StatusCode::FAILED_PRECONDITION);

  pb::GetSurveyStatsRequest stats_req;
  stats_req.set_campaign("2027-11 回访");
  pb::SurveyStats stats;
  ASSERT_TRUE(Stub()->GetSurveyStats(Ctx().get(), stats_req, &stats).ok());
  EXPECT_EQ(stats.sampled(), 5);
  EXPECT_EQ(stats.completed(), 3);
  EXPECT_EQ(stats.satisfaction_rate_bp(), 6666);

  pb::ListSurveysRequest pending;
  pending.set_campaign("2027-11 回访");
  pending.set_status(pb::SURVEY_STATUS_PENDING);
  pb::ListSurveysResponse list;
  ASSERT_TRUE(Stub()->ListSurveys(Ctx().get(), pending, &list).ok());
  EXPECT_EQ(list.surveys_size(), 2);
  sample.set_sample_size(0);
  EXPECT_EQ(Stub()->SampleSurveys(Ctx().get(), sample, &rest).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(CustomersServiceTest, Customer360ReturnsRecentLogAndSaysWhichPartsAreMissing) {
  pb::Customer c = Create(NewCustomer("全景视图公司", 20));
  pb::GetCustomer360Request req;
  req.set_customer_id(c.id());
  req.set_recent_log_limit(5);
  pb::Customer360 view;
  ASSERT_TRUE(Stub()->GetCustomer360(Ctx().get(), req, &view).ok());
  EXPECT_EQ(view.customer().id(), c.id());
  EXPECT_EQ(view.recent_log_entries_size(), 1);
  ASSERT_EQ(view.parts_size(), 3);
  for (const auto& p : view.parts()) EXPECT_FALSE(p.available());
  req.set_customer_id(123456789);
  EXPECT_EQ(Stub()->GetCustomer360(Ctx().get(), req, &view).error_code(), StatusCode::NOT_FOUND);
}

TEST_F(CustomersServiceTest, SqlMetacharactersAreJustText) {
  pb::Customer c = NewCustomer("Robert'); DROP TABLE customers;--", 21);
  c.set_region("x' OR '1'='1");
  pb::Customer created = Create(c);
  pb::ListCustomersRequest req;
  req.set_region("x' OR '1'='1");
  pb::ListCustomersResponse resp;
  ASSERT_TRUE(Stub()->ListCustomers(Ctx().get(), req, &resp).ok());
  ASSERT_EQ(resp.customers_size(), 1);
  EXPECT_EQ(resp.customers(0).id(), created.id());
  EXPECT_EQ(resp.customers(0).name(), "Robert'); DROP TABLE customers;--");
}

TEST_F(CustomersServiceTest, SegmentMetricsCountCustomers) {
  service_->RefreshMetrics();
  auto families = server_->metrics().registry().Collect();
  double total = 0;
  for (const auto& f : families)
    if (f.name == "kefu_customers_customers")
      for (const auto& m : f.metric) total += m.gauge.value;
  EXPECT_EQ(static_cast<int64_t>(total),
            CountRows("SELECT COUNT(*) FROM customers WHERE merged_into_id IS NULL"));
}

// ---- idempotent state changes (request_id, AIP-155) ----

TEST_F(CustomersServiceTest, RetriedStateChangesReturnTheFirstResponseAndApplyOnce) {
  using Rpcs = pb::CustomerService::Stub;
  const absl::Time window = clock_->Now() + absl::Hours(24 * 800);  // no other test writes there
  pb::Customer c = Create(NewCustomer("幂等变更公司", 500));
  auto count = [&](const std::string& sql, std::vector<db::Param> params) {
    return [this, sql, params] { return CountRows(sql, params); };
  };
  auto version_of = [&](int64_t id) { return count("SELECT version FROM customers WHERE id = ?", {id}); };

  pb::UpdateCustomerRequest update;
  update.mutable_customer()->set_id(c.id());
  update.mutable_customer()->set_version(c.version());
  update.mutable_customer()->set_industry("物流");
  update.mutable_update_mask()->add_paths("industry");
  update.set_request_id("idem-update-500");
  EXPECT_EQ(ExpectAppliedOnce("UpdateCustomer", &Rpcs::UpdateCustomer, update, version_of(c.id())).industry(), "物流");

  pb::ReassignOwnerRequest reassign;
  reassign.set_customer_id(c.id());
  reassign.set_new_owner_id("E1006");
  reassign.set_reason("区域调整");
  reassign.set_request_id("idem-reassign-500");
  ExpectAppliedOnce("ReassignOwner", &Rpcs::ReassignOwner, reassign,
                    count("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                          {c.id(), static_cast<int>(pb::LOG_CATEGORY_ACCOUNT)}));

  pb::ChangeTierRequest tier;
  tier.set_customer_id(c.id());
  tier.set_tier(pb::TIER_GOLD);
  tier.set_reason("年采购额超过500万");
  tier.set_request_id("idem-tier-500");
  ExpectAppliedOnce("ChangeTier", &Rpcs::ChangeTier, tier,
                    count("SELECT COUNT(*) FROM tier_changes WHERE customer_id = ?", {c.id()}));

  pb::ChangeLifecycleStageRequest stage;
  stage.set_customer_id(c.id());
  stage.set_stage(pb::LIFECYCLE_STAGE_FORMATION);
  stage.set_request_id("idem-stage-500");
  ExpectAppliedOnce("ChangeLifecycleStage", &Rpcs::ChangeLifecycleStage, stage,
                    count("SELECT COUNT(*) FROM lifecycle_changes WHERE customer_id = ?", {c.id()}));

  pb::RecordBusinessVolumeRequest volume;
  volume.mutable_volume()->set_customer_id(c.id());
  volume.mutable_volume()->set_period("2032-05");
  volume.mutable_volume()->set_volume(120);
  volume.mutable_volume()->mutable_revenue()->set_currency_code("CNY");
  volume.mutable_volume()->mutable_revenue()->set_amount_minor(120000);
  volume.set_request_id("idem-volume-500");
  ExpectAppliedOnce("RecordBusinessVolume", &Rpcs::RecordBusinessVolume, volume,
                    count("SELECT COUNT(*) FROM business_volumes WHERE customer_id = ?", {c.id()}));

  pb::CreateRetentionCaseRequest open;
  open.set_customer_id(c.id());
  open.set_reason("竞争对手降价");
  pb::RetentionCase rc;
  ASSERT_TRUE(Stub()->CreateRetentionCase(Ctx().get(), open, &rc).ok());
  pb::AddRetentionActionRequest act;
  act.set_case_id(rc.id());
  act.mutable_action()->set_type(pb::RETENTION_ACTION_TYPE_VISIT);
  act.mutable_action()->set_description("总监上门拜访");
  act.mutable_action()->mutable_cost()->set_currency_code("CNY");
  act.mutable_action()->mutable_cost()->set_amount_minor(80000);
  act.set_request_id("idem-action-500");
  rc = ExpectAppliedOnce("AddRetentionAction", &Rpcs::AddRetentionAction, act,
                         count("SELECT COUNT(*) FROM retention_actions WHERE case_id = ?", {rc.id()}));
  EXPECT_EQ(rc.total_cost().amount_minor(), 80000);
  // The replay is the case as the first call left it, not as it is now.
  act.set_request_id("idem-action-500-b");
  act.mutable_action()->set_description("赠送延保");
  pb::RetentionCase later;
  ASSERT_TRUE(Stub()->AddRetentionAction(Ctx().get(), act, &later).ok());
  EXPECT_EQ(later.actions_size(), 2);
  act.set_request_id("idem-action-500");
  act.mutable_action()->set_description("总监上门拜访");
  pb::RetentionCase replayed;
  ASSERT_TRUE(Stub()->AddRetentionAction(Ctx().get(), act, &replayed).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(replayed, rc)) << replayed.ShortDebugString();

  pb::CloseRetentionCaseRequest close;
  close.set_case_id(rc.id());
  close.set_outcome(pb::RETENTION_OUTCOME_RETAINED);
  close.set_note("续签一年");
  close.set_request_id("idem-close-500");
  EXPECT_EQ(ExpectAppliedOnce("CloseRetentionCase", &Rpcs::CloseRetentionCase, close,
                              count("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                                    {c.id(), static_cast<int>(pb::LOG_CATEGORY_RETENTION)}))
                .status(),
            pb::RETENTION_STATUS_CLOSED);

  // A survey of c to record a result for.
  pb::AppendLogEntryRequest served;
  served.mutable_entry()->set_customer_id(c.id());
  served.mutable_entry()->set_channel(pb::CHANNEL_VISIT);
  served.mutable_entry()->set_category(pb::LOG_CATEGORY_SERVICE);
  served.mutable_entry()->set_description("上门维修");
  *served.mutable_entry()->mutable_event_time() = ToProtoTime(window);
  pb::LogEntry entry;
  ASSERT_TRUE(Stub()->AppendLogEntry(Ctx().get(), served, &entry).ok());
  pb::SampleSurveysRequest sample;
  sample.set_campaign("幂等回访");
  *sample.mutable_served_from() = ToProtoTime(window);
  *sample.mutable_served_to() = ToProtoTime(window + absl::Hours(1));
  sample.set_sample_size(1);
  pb::SampleSurveysResponse sampled;
  ASSERT_TRUE(Stub()->SampleSurveys(Ctx().get(), sample, &sampled).ok());
  ASSERT_EQ(sampled.surveys_size(), 1);
  pb::RecordSurveyResultRequest result;
  result.set_survey_id(sampled.surveys(0).id());
  result.set_satisfaction(pb::SATISFACTION_SATISFIED);
  result.set_comment("响应及时");
  result.set_request_id("idem-survey-500");
  ExpectAppliedOnce("RecordSurveyResult", &Rpcs::RecordSurveyResult, result,
                    count("SELECT COUNT(*) FROM customer_log WHERE customer_id = ? AND category = ?",
                          {c.id(), static_cast<int>(pb::LOG_CATEGORY_SURVEY)}));

  // Merge and transfer on customers of their own.
  pb::Customer survivor = Create(NewCustomer("幂等合并甲公司", 501));
  pb::Customer dup = Create(NewCustomer("幂等合并乙公司", 502));
  pb::MergeCustomersRequest merge;
  merge.set_survivor_id(survivor.id());
  merge.set_duplicate_id(dup.id());
  merge.set_reason("重复建档");
  merge.set_request_id("idem-merge-501");
  EXPECT_EQ(ExpectAppliedOnce("MergeCustomers", &Rpcs::MergeCustomers, merge, version_of(survivor.id())).contacts_size(),
            2);

  for (int i = 0; i < 2; ++i) {
    pb::Customer p = NewCustomer(absl::StrCat("幂等交接", i), 503 + i);
    p.set_owner_id("E-IDEM-FROM");
    Create(p);
  }
  pb::TransferPortfolioRequest transfer;
  transfer.set_from_owner_id("E-IDEM-FROM");
  transfer.set_to_owner_id("E-IDEM-TO");
  transfer.set_reason("客户经理离职");
  transfer.set_request_id("idem-transfer-503");
  // Without the request_id a repeat would answer "0 moved"; the retry says what moved.
  pb::TransferPortfolioResponse moved =
      ExpectAppliedOnce("TransferPortfolio", &Rpcs::TransferPortfolio, transfer,
                        count("SELECT COUNT(*) FROM customers WHERE owner_id = ?", {"E-IDEM-TO"}), 2);
  EXPECT_EQ(moved.transferred_count(), 2);
  EXPECT_EQ(moved.customer_ids_size(), 2);
}

TEST_F(CustomersServiceTest, ARetryWithAStaleVersionIsReplayedButANewRequestIdIsAborted) {
  pb::Customer c = Create(NewCustomer("幂等版本公司", 510));
  pb::UpdateCustomerRequest req;
  req.mutable_customer()->set_id(c.id());
  req.mutable_customer()->set_version(c.version());
  req.mutable_customer()->set_region("华南");
  req.mutable_update_mask()->add_paths("region");
  req.set_request_id("idem-stale-A");
  pb::Customer first, retry, out;
  ASSERT_TRUE(Stub()->UpdateCustomer(Ctx().get(), req, &first).ok());
  EXPECT_EQ(first.version(), c.version() + 1);

  // The same request again: its version is stale now, but it is a retry of a change
  // that went through, so it gets that change's result.
  clock_->Advance(absl::Seconds(1));
  grpc::Status s = Stub()->UpdateCustomer(Ctx().get(), req, &retry);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first, retry)) << retry.ShortDebugString();

  // A new request with the stale version is a lost update: ABORTED, nothing written.
  req.set_request_id("idem-stale-B");
  s = Stub()->UpdateCustomer(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::ABORTED);
  EXPECT_EQ(CountRows("SELECT version FROM customers WHERE id = ?", {c.id()}), c.version() + 1);
  // The refused request did not use up its id: with the current version it goes through.
  req.mutable_customer()->set_version(first.version());
  req.mutable_customer()->set_region("华中");
  ASSERT_TRUE(Stub()->UpdateCustomer(Ctx().get(), req, &out).ok());
  EXPECT_EQ(out.version(), first.version() + 1);
  EXPECT_EQ(out.region(), "华中");
}

TEST_F(CustomersServiceTest, ARequestIdReusedForAnotherRequestIsRefused) {
  pb::Customer c = Create(NewCustomer("幂等冲突公司", 511));
  pb::ChangeTierRequest req;
  req.set_customer_id(c.id());
  req.set_tier(pb::TIER_GOLD);
  req.set_reason("升级");
  req.set_request_id("idem-reuse-511");
  pb::Customer out;
  ASSERT_TRUE(Stub()->ChangeTier(Ctx().get(), req, &out).ok());
  req.set_tier(pb::TIER_PLATINUM);
  grpc::Status s = Stub()->ChangeTier(Ctx().get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ReasonOf(FromGrpcStatus(s)), "REQUEST_ID_REUSED");
  pb::GetCustomerRequest get;
  get.set_customer_id(c.id());
  ASSERT_TRUE(Stub()->GetCustomer(Ctx().get(), get, &out).ok());
  EXPECT_EQ(out.tier(), pb::TIER_GOLD);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM tier_changes WHERE customer_id = ?", {c.id()}), 1);

  // Request ids are checked like every other id.
  pb::RecordBusinessVolumeRequest bad;
  bad.mutable_volume()->set_customer_id(c.id());
  bad.mutable_volume()->set_period("2032-06");
  bad.mutable_volume()->set_volume(1);
  pb::BusinessVolume vol;
  for (const std::string& id : {std::string("no spaces allowed"), std::string(65, 'x')}) {
    bad.set_request_id(id);
    s = Stub()->RecordBusinessVolume(Ctx().get(), bad, &vol);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT) << id;
    EXPECT_NE(s.error_message().find("request_id"), std::string::npos);
  }
}

TEST_F(CustomersServiceTest, ConcurrentRetriesOfOneStateChangeApplyItOnce) {
  pb::Customer c = Create(NewCustomer("幂等并发公司", 512));
  pb::ChangeLifecycleStageRequest req;
  req.set_customer_id(c.id());
  req.set_stage(pb::LIFECYCLE_STAGE_FORMATION);
  req.set_version(c.version());
  req.set_request_id("idem-concurrent-512");
  std::vector<std::thread> threads;
  std::vector<pb::Customer> results(6);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      grpc::Status s = Stub()->ChangeLifecycleStage(Ctx().get(), req, &results[i]);
      EXPECT_TRUE(s.ok()) << s.error_message();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results)
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(r, results[0])) << r.ShortDebugString();
  EXPECT_EQ(results[0].version(), c.version() + 1);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM lifecycle_changes WHERE customer_id = ?", {c.id()}), 1);
}

}  // namespace
}  // namespace kefu::customers
