// Pure logic of common/: validation, paging tokens, error mapping, SQL splitting,
// metric code names, time conversions; and, on loopback only, how a channel tells a
// dependency is down and how calls to other services run side by side.
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kefu/admission.h"
#include "kefu/client.h"
#include "kefu/clients/customers_client.h"
#include "kefu/common/v1/common.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/db/db.h"
#include "kefu/errors.h"
#include "kefu/metrics.h"
#include "kefu/paging.h"
#include "kefu/process_metrics.h"
#include "kefu/time_util.h"
#include "kefu/log.h"
#include "kefu/security/transport.h"
#include "kefu/validation.h"
#include "support/test_env.h"

namespace kefu {
namespace {

TEST(Utf8, AcceptsChineseAndEmojiRejectsMalformed) {
  EXPECT_TRUE(IsValidUtf8("上海浦东新区客户"));
  EXPECT_TRUE(IsValidUtf8("ok 😀"));
  EXPECT_FALSE(IsValidUtf8("\xC3\x28"));          // bad continuation
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE4\xB8"));          // truncated
  EXPECT_EQ(Utf8Length("上海abc"), 5u);
}

TEST(CheckText, NamesTheFieldAndCountsCharactersNotBytes) {
  EXPECT_TRUE(CheckText("customer.name", std::string(200, 'a'), 200, true).ok());
  std::string chinese;
  for (int i = 0; i < 200; ++i) chinese += "客";
  EXPECT_TRUE(CheckText("customer.name", chinese, 200, true).ok());
  absl::Status too_long = CheckText("customer.name", chinese + "户", 200, true);
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.message().find("customer.name"), absl::string_view::npos);
  EXPECT_EQ(CheckText("customer.name", "", 10, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckText("customer.name", "   ", 10, true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckText("customer.name", "", 10, false).ok());
  EXPECT_FALSE(CheckText("note", "a\x01" "b", 10, false).ok());
  EXPECT_FALSE(CheckText("note", "\xFF", 10, false).ok());
}

TEST(CheckPhoneAndEmail, AcceptCommonFormsRejectGarbage) {
  EXPECT_TRUE(CheckPhone("p", "13812345678").ok());
  EXPECT_TRUE(CheckPhone("p", "+86 138-1234-5678").ok());
  EXPECT_TRUE(CheckPhone("p", "(021) 6234 5678").ok());
  EXPECT_FALSE(CheckPhone("p", "1234").ok());
  EXPECT_FALSE(CheckPhone("p", "138abc45678").ok());
  EXPECT_FALSE(CheckPhone("p", "13+812345678").ok());
  EXPECT_TRUE(CheckEmail("e", "wang.li@example.com.cn").ok());
  EXPECT_FALSE(CheckEmail("e", "wang.li@").ok());
  EXPECT_FALSE(CheckEmail("e", "@example.com").ok());
  EXPECT_FALSE(CheckEmail("e", "a@b@c.com").ok());
  EXPECT_FALSE(CheckEmail("e", "a b@c.com").ok());
  EXPECT_FALSE(CheckEmail("e", "a@nodot").ok());
}

TEST(Normalize, KeysMatchAcrossFormatting) {
  EXPECT_EQ(NormalizePhone("+86 138-1234-5678"), "13812345678");
  EXPECT_EQ(NormalizePhone("0086 13812345678"), "13812345678");
  EXPECT_EQ(NormalizePhone("+1 (415) 555-0100"), "+14155550100");
  EXPECT_EQ(NormalizePhone("138 1234 5678"), NormalizePhone("13812345678"));
  EXPECT_EQ(NormalizeEmail("  Wang.Li@Example.COM "), "wang.li@example.com");
  EXPECT_EQ(NormalizeName("  Acme   Trading  Co "), "acme trading co");
  EXPECT_EQ(NormalizeName("上海 华信"), "上海 华信");
}

TEST(Mask, HidesPersonalData) {
  EXPECT_EQ(MaskPhone("13812345678"), "138****5678");
  EXPECT_EQ(MaskEmail("wangli@example.com"), "w***@example.com");
  EXPECT_EQ(MaskPhone("123"), "****");
  EXPECT_EQ(MaskAddress("上海市浦东新区世纪大道100号"), "上海市浦东新****");
  EXPECT_EQ(MaskAddress("Main"), "Main****");
}

TEST(Log, ScrubsPhoneNumbersAndEmailsButKeepsOrdinaryText) {
  EXPECT_EQ(log::ScrubPersonalData("call 13812345678 now"), "call 138******78 now");
  EXPECT_EQ(log::ScrubPersonalData("+8613812345678"), "+861********78");
  EXPECT_EQ(log::ScrubPersonalData("mail wang.li@example.com please"), "mail w******@example.com please");
  // Dates, short numbers and ids stay readable.
  EXPECT_EQ(log::ScrubPersonalData("2026-12-02 order 123456 E1001"), "2026-12-02 order 123456 E1001");
  EXPECT_EQ(log::ScrubPersonalData(""), "");
}

TEST(Money, RejectsNegativeOverflowAndBadCurrencyAccordingToTheRules) {
  common::v1::Money m;
  m.set_currency_code("CNY");
  m.set_amount_minor(12345);
  EXPECT_TRUE(CheckMoney("cost", m).ok());
  m.set_amount_minor(-1);
  EXPECT_NE(CheckMoney("cost", m).message().find("cost.amount_minor"), absl::string_view::npos);
  EXPECT_TRUE(CheckMoney("cost", m, {.allow_negative = true}).ok());
  m.set_amount_minor(INT64_MAX);
  EXPECT_FALSE(CheckMoney("cost", m).ok());
  m.set_amount_minor(1);
  m.set_currency_code("rmb");
  EXPECT_NE(CheckMoney("cost", m).message().find("cost.currency_code"), absl::string_view::npos);
  common::v1::Money no_currency;
  no_currency.set_amount_minor(5);
  EXPECT_FALSE(CheckMoney("cost", no_currency).ok());
  EXPECT_TRUE(CheckMoney("cost", no_currency, {.currency = MoneyRules::Currency::kOptional}).ok());
  common::v1::Money zero;
  EXPECT_TRUE(CheckMoney("cost", zero).ok());
  EXPECT_FALSE(CheckMoney("cost", zero, {.currency = MoneyRules::Currency::kAlways}).ok());
}

TEST(Dates, CalendarDaysOnly) {
  EXPECT_EQ(*ParseDate("d", "2027-03-09"), absl::CivilDay(2027, 3, 9));
  EXPECT_FALSE(ParseDate("d", "2027-02-30").ok());
  EXPECT_FALSE(ParseDate("d", "2027-1-1").ok());
  EXPECT_NE(ParseDate("contract.expiry_date", "soon").status().message().find("contract.expiry_date"),
            absl::string_view::npos);
}

TEST(CheckId, OnlyIdentifierCharacters) {
  EXPECT_TRUE(CheckId("owner_id", "E1001", 64, true).ok());
  EXPECT_TRUE(CheckId("request_id", "demo-cust-1:retry.2", 64, true).ok());
  EXPECT_FALSE(CheckId("owner_id", "E1001'; DROP TABLE customers;--", 64, true).ok());
  EXPECT_FALSE(CheckId("owner_id", "王", 64, true).ok());
  EXPECT_FALSE(CheckId("owner_id", std::string(65, 'a'), 64, true).ok());
}

TEST(PageToken, RoundTripsAndRejectsTamperingAndFilterChanges) {
  uint64_t fp = Fingerprint("owner=E1001");
  std::string token = EncodePageToken(fp, {"上海", "42"});
  auto keys = DecodePageToken(token, fp, 2);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)[0], "上海");
  EXPECT_EQ((*keys)[1], "42");

  auto other_filters = DecodePageToken(token, Fingerprint("owner=E1002"), 2);
  EXPECT_EQ(other_filters.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(other_filters.status().message().find("page_token"), absl::string_view::npos);

  std::string tampered = token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(DecodePageToken(tampered, fp, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken("not a token!!", fp, 2).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken(token, fp, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePageToken(std::string(5000, 'A'), fp, 1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageSize, DefaultAndCap) {
  EXPECT_EQ(EffectivePageSize(0), kDefaultPageSize);
  EXPECT_EQ(EffectivePageSize(7), 7);
  EXPECT_EQ(EffectivePageSize(100000), kMaxPageSize);
  EXPECT_FALSE(CheckPageSize("page_size", -1, kMaxPageSize).ok());
  EXPECT_FALSE(CheckPageSize("page_size", kMaxPageSize + 1, kMaxPageSize).ok());
}

TEST(Errors, RichStatusCarriesReasonViolationsAndMetadataOverTheWire) {
  Validator v;
  v.Add("customer.name", "is required");
  v.Add("customer.contacts[0].phone", "must have 5 to 20 digits");
  absl::Status s = v.Finish();
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("customer.contacts[0].phone"), absl::string_view::npos);

  grpc::Status wire = ToGrpcStatus(s);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  common::v1::StatusDetails rich;
  ASSERT_TRUE(rich.ParseFromString(wire.error_details()));
  common::v1::ErrorDetail detail;
  ASSERT_TRUE(rich.details(0).UnpackTo(&detail));
  EXPECT_EQ(detail.reason(), "FIELD_INVALID");
  ASSERT_EQ(detail.field_violations_size(), 2);
  EXPECT_EQ(detail.field_violations(1).field(), "customer.contacts[0].phone");

  absl::Status back = FromGrpcStatus(ToGrpcStatus(StaleVersion(3, 5)));
  EXPECT_EQ(back.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ReasonOf(back), "STALE_VERSION");
  EXPECT_EQ(MetadataOf(back, "current_version"), "5");
}

// A batch call names the element an error is about, in the message, in every violation's
// field and in metadata, keeping the code and reason a client branches on.
TEST(Errors, AnElementOfABatchIsNamedWhereverTheErrorSpeaksOfIt) {
  absl::Status s = AtPosition("requests[3]", StaleVersion(3, 5));
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(s.message(), "requests[3]: version: 3 is stale, current version is 5");
  EXPECT_EQ(ReasonOf(s), "STALE_VERSION");
  EXPECT_EQ(MetadataOf(s, "current_version"), "5");
  EXPECT_EQ(MetadataOf(s, "position"), "requests[3]");
  ASSERT_EQ(ViolationsOf(s).size(), 1u);
  EXPECT_EQ(ViolationsOf(s)[0].field, "requests[3].version");
  EXPECT_TRUE(AtPosition("requests[0]", absl::OkStatus()).ok());
  absl::Status plain = AtPosition("requests[1]", absl::NotFoundError("customer 7 not found"));
  EXPECT_EQ(plain.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(plain.message(), "requests[1]: customer 7 not found");
}

// However many elements of a batch are bad, the error fits gRPC's trailers: the first
// 20 violations go, and metadata says how many more there were.
TEST(Errors, ManyViolationsAreCappedOnTheWire) {
  Validator v;
  for (int i = 0; i < 100; ++i) v.Add(absl::StrCat("requests[", i, "].entry.description"), "is required");
  grpc::Status wire = ToGrpcStatus(v.Finish());
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(wire.error_message().size() + wire.error_details().size(), 8000u);
  common::v1::StatusDetails rich;
  ASSERT_TRUE(rich.ParseFromString(wire.error_details()));
  common::v1::ErrorDetail detail;
  ASSERT_TRUE(rich.details(0).UnpackTo(&detail));
  ASSERT_EQ(detail.field_violations_size(), 20);
  EXPECT_EQ(detail.field_violations(19).field(), "requests[19].entry.description");
  EXPECT_EQ(detail.metadata().at("violations_not_listed"), "80");
}

TEST(Errors, InternalDetailsNeverReachTheClient) {
  grpc::Status wire = ToGrpcStatus(absl::InternalError("SELECT * FROM secret_table failed at 10.0.0.3"));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(wire.error_message(), "internal error");
  EXPECT_EQ(wire.error_details().find("secret_table"), std::string::npos);
}

TEST(SqlSplit, SplitsAtLineEndingSemicolonsAndSkipsComments) {
  auto stmts = db::SplitSqlStatements(
      "-- a comment; not a statement\nCREATE TABLE a (\n  x INT -- trailing\n);\n\nINSERT INTO a VALUES (1);\n"
      "SELECT 'a;b' FROM a;\n");
  ASSERT_EQ(stmts.size(), 3u);
  EXPECT_EQ(stmts[0].rfind("CREATE TABLE a", 0), 0u);
  EXPECT_EQ(stmts[2], "SELECT 'a;b' FROM a");
}

// What /metrics says of the process is what the process does: a 48 MiB block malloc'd
// and written shows in malloc's bytes in use and in the anonymous resident memory, and
// leaves malloc's count when freed; threads started show in the thread count.
TEST(ProcessStats, FollowTheProcessMemoryAndThreads) {
  const ProcessStats before = ReadProcessStats();
  EXPECT_GT(before.resident_bytes, before.resident_anonymous_bytes);
  EXPECT_GT(before.resident_anonymous_bytes, 0);
  EXPECT_GT(before.virtual_bytes, before.resident_bytes);
  EXPECT_GT(before.open_fds, 2);  // stdin, stdout, stderr at least
  EXPECT_GT(before.max_fds, before.open_fds);
  const double now = static_cast<double>(absl::ToUnixMillis(absl::Now())) / 1000;
  EXPECT_LE(before.start_time_seconds, now + 1);
  EXPECT_GT(before.start_time_seconds, now - 3600);

  constexpr int64_t kBlock = 48 << 20;
  char* block = static_cast<char*>(malloc(kBlock));
  ASSERT_NE(block, nullptr);
  memset(block, 1, kBlock);
  asm volatile("" : : "r"(block) : "memory");  // the block is used: not optimised away
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::thread> extra;
  for (int i = 0; i < 4; ++i)
    extra.emplace_back([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return release; });
    });
  const ProcessStats during = ReadProcessStats();
  EXPECT_GE(during.heap_in_use_bytes - before.heap_in_use_bytes, kBlock);
  EXPECT_GE(during.resident_anonymous_bytes - before.resident_anonymous_bytes, kBlock * 9 / 10);
  EXPECT_GE(during.threads, 5);  // this one and the four waiting (earlier tests' threads come and go)
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : extra) t.join();
  free(block);
  const ProcessStats after = ReadProcessStats();
  EXPECT_LT(after.heap_in_use_bytes, before.heap_in_use_bytes + kBlock / 2);
  EXPECT_GE(after.cpu_seconds, before.cpu_seconds);

  // The collector serves all of them under the standard names.
  std::set<std::string> names;
  for (const auto& family : ProcessCollector().Collect()) {
    names.insert(family.name);
    EXPECT_EQ(family.metric.size(), 1u) << family.name;
  }
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_start_time_seconds", "process_open_fds", "process_max_fds", "kefu_process_threads",
                           "kefu_process_resident_anonymous_bytes", "kefu_heap_in_use_bytes", "kefu_heap_free_bytes"})
    EXPECT_EQ(names.count(name), 1u) << name;
}

// Admission counts calls admitted and not yet running, and calls running; a server
// at its limit refuses until one ends, and admissions never dispatched are forgotten.
TEST(Admission, RefusesAtTheLimitUntilACallEnds) {
  int64_t now = 1'000'000'000;
  Admission admission(3, [&now] { return now; });
  ASSERT_TRUE(admission.Admit());
  ASSERT_TRUE(admission.Admit());
  ASSERT_TRUE(admission.Admit());
  EXPECT_FALSE(admission.Admit()) << "three admitted, none running yet: full";
  EXPECT_EQ(admission.pending(), 3);
  {
    Admission::Running a(&admission), b(&admission), c(&admission);
    EXPECT_EQ(admission.running(), 3);
    EXPECT_EQ(admission.pending(), 0);
    now += 2 * Admission::kPendingWindowNs;
    EXPECT_FALSE(admission.Admit()) << "running calls are never forgotten";
    Admission::Running moved = std::move(c);
    EXPECT_EQ(admission.running(), 3) << "a moved place is still one place";
  }
  EXPECT_EQ(admission.running(), 0);
  EXPECT_TRUE(admission.Admit());
}

TEST(Admission, ForgetsAdmissionsThatNeverRanAfterItsWindow) {
  int64_t now = 1'000'000'000;
  Admission admission(2, [&now] { return now; });
  ASSERT_TRUE(admission.Admit());
  ASSERT_TRUE(admission.Admit());
  now += Admission::kPendingWindowNs - 1;
  EXPECT_FALSE(admission.Admit()) << "still within the window";
  now += 1;
  EXPECT_TRUE(admission.Admit()) << "the two were cancelled before they ran: forgotten";
  EXPECT_EQ(admission.pending(), 1);
  // A call whose admission was forgotten runs after all: pending never goes below zero.
  Admission::Running late1(&admission), late2(&admission);
  EXPECT_EQ(admission.pending(), 0);
  EXPECT_EQ(admission.running(), 2);
  EXPECT_FALSE(admission.Admit());
}

TEST(Admission, AskingForRoomTakesNone) {
  int64_t now = 1'000'000'000;
  Admission admission(1, [&now] { return now; });
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(admission.HasRoom());
  EXPECT_EQ(admission.pending(), 0) << "a call refused after the first check (a bad token) holds no place";
  ASSERT_TRUE(admission.Admit());
  EXPECT_FALSE(admission.HasRoom());
  EXPECT_FALSE(admission.Admit());
}

TEST(Admission, ZeroMeansNoLimit) {
  Admission admission(0);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(admission.Admit());
  EXPECT_EQ(admission.pending(), 0);
}

TEST(Metrics, CodeNamesUseTheGoSpelling) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(1), "Canceled");
  EXPECT_EQ(GrpcCodeName(3), "InvalidArgument");
  EXPECT_EQ(GrpcCodeName(14), "Unavailable");
  EXPECT_EQ(GrpcCodeName(16), "Unauthenticated");
  EXPECT_EQ(GrpcCodeName(99), "Unknown");
}

TEST(Time, SqlAndProtoRoundTripKeepMicroseconds) {
  absl::Time t = absl::FromUnixMicros(1764000000123456);
  EXPECT_EQ(ToSqlTime(t), "2025-11-24 16:00:00.123456");
  auto back = FromSqlTime(ToSqlTime(t));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, t);
  EXPECT_EQ(FromProtoTime(ToProtoTime(t)), t);
  absl::Time before_epoch = absl::FromUnixMicros(-1500000);
  EXPECT_EQ(FromProtoTime(ToProtoTime(before_epoch)), before_epoch);
  EXPECT_GE(ToProtoTime(before_epoch).nanos(), 0);
  EXPECT_FALSE(FromSqlTime("yesterday").ok());
}

TEST(FakeClock, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Minutes(90));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000 + 5400));
}

// Callers skip a dependency that is down instead of spending their deadline on retries,
// and call it again soon after it is back (the channel reconnects within 2 s).
TEST(DependencyDown, WhileThePeerIsDownAndNotOnceItIsBack) {
  // Servers on loopback plaintext; the first stands for the calling service itself,
  // whose threads drive the channel's connection attempts.
  grpc::CallbackGenericService nothing[2];  // a server needs a service to start
  int servers = 0;
  auto serve = [&](int port) {
    grpc::ServerBuilder builder;
    builder.RegisterCallbackGenericService(&nothing[servers++]);
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             security::MakeServerCredentials(security::TransportConfig::LoopbackPlaintext()));
    return builder.BuildAndStart();
  };
  auto caller = serve(testing::FreePort());
  ASSERT_NE(caller, nullptr);
  const int port = testing::FreePort();
  ChannelPool pool;
  auto channel = pool.Get(absl::StrCat("127.0.0.1:", port));
  EXPECT_FALSE(DependencyDown(nullptr));
  auto within = [](absl::Duration limit, const std::function<bool()>& done) {
    for (absl::Time end = absl::Now() + limit; !done() && absl::Now() < end;) absl::SleepFor(absl::Milliseconds(10));
    return done();
  };
  EXPECT_TRUE(within(absl::Seconds(2), [&] { return DependencyDown(channel); }));

  auto dependency = serve(port);
  ASSERT_NE(dependency, nullptr);
  EXPECT_TRUE(within(absl::Seconds(3), [&] { return !DependencyDown(channel); }));
  dependency->Shutdown();
  caller->Shutdown();
}

// A customers stand-in whose GetCustomerTier answers only once `expected` calls have arrived
// together (or gives up after 5 s): calls made one after the other cannot all succeed.
// Customer 1 is gold, any other id unknown. Customer 99 instead waits to be cancelled.
class MeetingCustomers final : public customers::v1::CustomerService::Service {
 public:
  explicit MeetingCustomers(int expected) : expected_(expected) {}

  grpc::Status GetCustomerTier(grpc::ServerContext* ctx, const customers::v1::GetCustomerTierRequest* req,
                               customers::v1::CustomerTier* resp) override {
    if (req->customer_id() == 99) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        cancellable_arrived_ = true;
        cv_.notify_all();
      }
      for (absl::Time end = absl::Now() + absl::Seconds(5); !ctx->IsCancelled() && absl::Now() < end;)
        absl::SleepFor(absl::Milliseconds(5));
      std::lock_guard<std::mutex> lock(mu_);
      saw_cancel_ = ctx->IsCancelled();
      cv_.notify_all();
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    std::unique_lock<std::mutex> lock(mu_);
    ++arrived_;
    cv_.notify_all();
    if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return arrived_ >= expected_; }))
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the other calls never came");
    if (req->customer_id() != 1) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such customer");
    resp->set_customer_id(1);
    resp->set_tier(customers::v1::TIER_GOLD);
    return grpc::Status::OK;
  }

  bool CancellableCallArrived() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return cancellable_arrived_; });
  }

  // Whether the waiting call saw its cancellation, once it has finished (false after 5 s).
  bool CancelSeen() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return saw_cancel_.has_value(); });
    return saw_cancel_.value_or(false);
  }

 private:
  const int expected_;
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  std::optional<bool> saw_cancel_;
  bool cancellable_arrived_ = false;
};

// Complaints asks customers for the tier and contracts for the entitlement of a new work
// order at once: started calls are all in flight before the first answer is awaited.
TEST(PendingCall, StartedCallsAreInFlightTogetherAndEachGetsItsOwnAnswer) {
  MeetingCustomers customers(/*expected=*/3);
  grpc::ServerBuilder builder;
  const int port = testing::FreePort();
  builder.RegisterService(&customers);
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                           security::MakeServerCredentials(security::TransportConfig::LoopbackPlaintext()));
  auto server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ChannelPool pool;
  auto channel = pool.Get(absl::StrCat("127.0.0.1:", port));

  auto gold = clients::StartGetCustomerTier(channel, 1, absl::Seconds(10));
  auto unknown = clients::StartGetCustomerTier(channel, 2, absl::Seconds(10));
  auto gold_again = clients::StartGetCustomerTier(channel, 1, absl::Seconds(10));
  auto tier = gold.Wait();
  ASSERT_TRUE(tier.ok()) << tier.status();
  EXPECT_EQ(tier->tier(), customers::v1::TIER_GOLD);
  EXPECT_EQ(unknown.Wait().status().code(), absl::StatusCode::kNotFound);
  auto again = gold_again.Wait();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->tier(), customers::v1::TIER_GOLD);

  // Not configured: answered at once, without a call.
  EXPECT_EQ(clients::StartGetCustomerTier(nullptr, 1, absl::Seconds(10)).Wait().status().code(),
            absl::StatusCode::kUnavailable);

  // A handler that returns early (an invalid request found after the start) drops its
  // call: the other service sees it cancelled rather than working on for nobody.
  {
    auto dropped = clients::StartGetCustomerTier(channel, 99, absl::Seconds(10));
    ASSERT_TRUE(customers.CancellableCallArrived());
  }
  EXPECT_TRUE(customers.CancelSeen());
  server->Shutdown();
}

}  // namespace
}  // namespace kefu
