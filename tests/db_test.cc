// The storage layer against real MariaDB: pool, transactions, error mapping,
// migrations, idempotency keys, the outbox relay, retention purges, and recovery after
// the server is killed.
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kefu/db/db.h"
#include "kefu/errors.h"
#include "kefu/outbox.h"
#include "kefu/security/audit.h"
#include "kefu/server.h"
#include "kefu/time_util.h"
#include "support/auth.h"
#include "support/test_env.h"

namespace kefu::db {
namespace {

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::CreateSchema("db");
    pool_ = Pool::Create(config_);
    auto s = pool_->Acquire();
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE(s->ExecRaw("CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(10) NOT NULL, "
                           "at DATETIME(6) NULL, UNIQUE KEY uk_t_name (name)) DEFAULT CHARSET=utf8mb4")
                    .ok());
  }
  void TearDown() override {
    pool_.reset();
    testing::DropSchema(config_);
  }
  int64_t Count() {
    auto s = pool_->Acquire();
    return (*s->QueryOne("SELECT COUNT(*) FROM t"))->Int(0);
  }
  Config config_;
  std::unique_ptr<Pool> pool_;
};

TEST_F(DbTest, InsertSelectWithParametersUtf8AndMicroseconds) {
  auto s = pool_->Acquire();
  ASSERT_TRUE(s.ok());
  absl::Time t = absl::FromUnixMicros(1790000000654321);
  auto ins = s->ExecInsert("INSERT INTO t (name, at) VALUES (?, ?)", {"客户😀", ToSqlTime(t)});
  ASSERT_TRUE(ins.ok()) << ins.status();
  EXPECT_GT(ins->last_insert_id, 0);
  auto row = s->QueryOne("SELECT name, at, NULL FROM t WHERE id = ?", {ins->last_insert_id});
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->Str(0), "客户😀");
  EXPECT_EQ((*row)->Time(1), t);
  EXPECT_TRUE((*row)->IsNull(2));
}

TEST_F(DbTest, ErrorsMapToStatusCodes) {
  auto s = pool_->Acquire();
  ASSERT_TRUE(s->Exec("INSERT INTO t (name) VALUES (?)", {"a"}).ok());
  auto dup = s->Exec("INSERT INTO t (name) VALUES (?)", {"a"});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(MetadataOf(dup.status(), "key"), "uk_t_name");
  auto too_long = s->Exec("INSERT INTO t (name) VALUES (?)", {"01234567890"});
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_sql = s->Query("SELEC nonsense");
  EXPECT_EQ(bad_sql.status().code(), absl::StatusCode::kInternal);
  // The connection stays usable after statement errors.
  EXPECT_TRUE(s->Query("SELECT 1").ok());
}

TEST_F(DbTest, TransactionRollsBackEverythingOnError) {
  absl::Status s = pool_->InTransaction([](Session& session) -> absl::Status {
    KEFU_RETURN_IF_ERROR(session.Exec("INSERT INTO t (name) VALUES (?)", {"x1"}).status());
    KEFU_RETURN_IF_ERROR(session.Exec("INSERT INTO t (name) VALUES (?)", {"x2"}).status());
    return absl::FailedPreconditionError("business rule says no");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Count(), 0);
  ASSERT_TRUE(pool_->InTransaction([](Session& session) {
    return session.Exec("INSERT INTO t (name) VALUES (?)", {"x3"}).status();
  }).ok());
  EXPECT_EQ(Count(), 1);
}

// A connection that ran a transaction stays in manual-commit mode, so the next
// transaction on it needs no START TRANSACTION; that must not weaken either the
// transactions or the plain sessions that share the connection.
TEST_F(DbTest, ManualCommitConnectionsKeepTransactionsWholeAndPlainWritesImmediate) {
  class CountOther : public Observer {
   public:
    void OnAcquire(absl::Duration, bool) override {}
    void OnStatement(absl::string_view op, absl::Duration, bool) override {
      if (op == "other") ++other;
    }
    void OnPoolState(int, int, int) override {}
    void OnTransactionRetry() override {}
    void OnCommitModeSwitch(bool to_autocommit) override { ++(to_autocommit ? to_auto : to_manual); }
    std::atomic<int> other{0};
    std::atomic<int> to_auto{0};
    std::atomic<int> to_manual{0};
  } observer;
  Config one = config_;
  one.pool_size = 1;  // every session and transaction below gets the same connection
  auto pool = Pool::Create(one, &observer);
  auto other_pool = Pool::Create(config_);  // another client, on its own connections
  auto seen_by_others = [&](const char* name) {
    auto s = other_pool->Acquire();
    return (*s->QueryOne("SELECT COUNT(*) FROM t WHERE name = ?", {name}))->Int(0);
  };
  auto insert_in_transaction = [&](const char* name) {
    return pool->InTransaction([&](Session& s) { return s.Exec("INSERT INTO t (name) VALUES (?)", {name}).status(); });
  };

  ASSERT_TRUE(insert_in_transaction("a").ok());
  EXPECT_EQ(observer.to_manual.load(), 1) << "a new connection starts in autocommit mode";
  int other_before = observer.other.load();
  ASSERT_TRUE(insert_in_transaction("b").ok());
  EXPECT_EQ(observer.other.load() - other_before, 1) << "the second transaction should send only its COMMIT";
  EXPECT_EQ(seen_by_others("a"), 1);
  EXPECT_EQ(seen_by_others("b"), 1);

  // A plain session after a transaction commits each statement by itself.
  {
    auto s = pool->Acquire();
    ASSERT_TRUE(s->Exec("INSERT INTO t (name) VALUES (?)", {"plain"}).ok());
    EXPECT_EQ(seen_by_others("plain"), 1) << "a plain write must not wait in an open transaction";
    EXPECT_EQ((*s->QueryOne("SELECT @@autocommit"))->Int(0), 1);
  }
  EXPECT_EQ(observer.to_auto.load(), 1);
  // The only connection goes back to manual commit for the next transaction; each switch
  // is counted, so an operator sees what mixed load costs in round trips.
  ASSERT_TRUE(pool->InTransaction([](Session& s) { return s.Query("SELECT 1").status(); }).ok());
  EXPECT_EQ(observer.to_manual.load(), 2);

  // A rolled-back transaction leaves nothing, and the next one commits only its own row.
  absl::Status refused = pool->InTransaction([](Session& s) -> absl::Status {
    KEFU_RETURN_IF_ERROR(s.Exec("INSERT INTO t (name) VALUES (?)", {"undone"}).status());
    return absl::FailedPreconditionError("no");
  });
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(insert_in_transaction("after").ok());
  EXPECT_EQ(seen_by_others("undone"), 0);
  EXPECT_EQ(seen_by_others("after"), 1);

  // Each transaction reads from its own snapshot, not from one a previous transaction
  // on the connection left open.
  ASSERT_TRUE(pool->InTransaction([](Session& s) { return s.Query("SELECT COUNT(*) FROM t").status(); }).ok());
  {
    auto s = other_pool->Acquire();
    ASSERT_TRUE(s->Exec("INSERT INTO t (name) VALUES (?)", {"elsewhere"}).ok());
  }
  int64_t seen = -1;
  ASSERT_TRUE(pool->InTransaction([&](Session& s) -> absl::Status {
    KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT COUNT(*) FROM t WHERE name = 'elsewhere'"));
    seen = row->Int(0);
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(seen, 1);

  // A callback that throws leaves its transaction open; the connection is closed, not
  // handed on, so the next transaction cannot commit the abandoned write with its own.
  EXPECT_THROW(pool->InTransaction([](Session& s) -> absl::Status {
    (void)s.Exec("INSERT INTO t (name) VALUES (?)", {"abandoned"});
    throw std::runtime_error("bug in a callback");
  }),
               std::runtime_error);
  ASSERT_TRUE(insert_in_transaction("next").ok());
  EXPECT_EQ(seen_by_others("next"), 1);
  EXPECT_EQ(seen_by_others("abandoned"), 0);
}

TEST_F(DbTest, DeadlockedTransactionsAreRetriedToSuccess) {
  {
    auto s = pool_->Acquire();
    ASSERT_TRUE(s->Exec("INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b')").ok());
  }
  // Two transactions lock rows 1 and 2 in opposite order; InnoDB kills one, which retries.
  std::atomic<int> attempts{0};
  auto worker = [&](int first, int second) {
    return pool_->InTransaction([&, first, second](Session& s) -> absl::Status {
      ++attempts;
      KEFU_RETURN_IF_ERROR(s.Query("SELECT id FROM t WHERE id = ? FOR UPDATE", {first}).status());
      absl::SleepFor(absl::Milliseconds(200));
      return s.Query("SELECT id FROM t WHERE id = ? FOR UPDATE", {second}).status();
    });
  };
  absl::Status a, b;
  std::thread ta([&] { a = worker(1, 2); });
  std::thread tb([&] { b = worker(2, 1); });
  ta.join();
  tb.join();
  EXPECT_TRUE(a.ok()) << a;
  EXPECT_TRUE(b.ok()) << b;
  EXPECT_GE(attempts.load(), 3);  // at least one retry happened
}

// A claim of a queue's due rows (FOR UPDATE SKIP LOCKED) holds its transaction open while
// it works on them. Under REPEATABLE READ its scan also locks the gap after the last due
// row, where a new row goes, so a writer appending to the queue waits for the whole
// claim; READ COMMITTED locks the claimed rows only. The claimer's pool has one
// connection, so the second claim also shows the setting lasts one transaction.
TEST_F(DbTest, AReadCommittedClaimOfAQueueLetsWritersAppendMeanwhile) {
  {
    auto s = pool_->Acquire();
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE(s->ExecRaw("CREATE TABLE q (id BIGINT AUTO_INCREMENT PRIMARY KEY, done_time DATETIME(6) NULL, "
                           "due_time DATETIME(6) NOT NULL, KEY k_q_due (done_time, due_time))")
                    .ok());
    ASSERT_TRUE(s->Exec("INSERT INTO q (due_time) VALUES ('2026-01-01 00:00:01'), ('2026-01-01 00:00:02')").ok());
  }
  Config one = config_;
  one.pool_size = 1;
  auto claimer = Pool::Create(one);
  auto writers = Pool::Create(one);
  auto writer = writers->Acquire();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->ExecRaw("SET SESSION innodb_lock_wait_timeout = 1").ok());
  auto claim_then_append = [&](Isolation isolation, absl::Status* appended) {
    return claimer->InTransaction(isolation, [&](Session& s) -> absl::Status {
      KEFU_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT id FROM q WHERE done_time IS NULL AND due_time <= ? "
                                               "ORDER BY due_time, id LIMIT 10 FOR UPDATE SKIP LOCKED",
                                               {"2026-01-01 00:00:05"}));
      if (rows.size() != 2) return absl::InternalError(absl::StrCat(rows.size(), " rows claimed"));
      *appended = writer->Exec("INSERT INTO q (due_time) VALUES ('2026-01-01 00:00:09')").status();
      return s.Exec("UPDATE q SET done_time = due_time WHERE done_time IS NULL AND due_time <= ?",
                    {"2026-01-01 00:00:05"})
          .status();
    });
  };
  absl::Status appended;
  ASSERT_TRUE(claim_then_append(Isolation::kReadCommitted, &appended).ok());
  EXPECT_TRUE(appended.ok()) << "a writer appending to the queue waited for the claim: " << appended;

  // The queue as it was: the two due rows only.
  ASSERT_TRUE(writer->Exec("DELETE FROM q WHERE id > 2").ok());
  ASSERT_TRUE(writer->Exec("UPDATE q SET done_time = NULL").ok());
  ASSERT_TRUE(claim_then_append(Isolation::kRepeatableRead, &appended).ok());
  EXPECT_EQ(appended.code(), absl::StatusCode::kAborted)
      << "under REPEATABLE READ the claim's gap lock should hold the writer back (the case READ COMMITTED is "
         "for): "
      << appended;
}

TEST_F(DbTest, PoolNeverOpensMoreThanItsSizeAndTimesOutWhenExhausted) {
  Config small = config_;
  small.pool_size = 2;
  small.acquire_timeout = absl::Milliseconds(200);
  auto pool = Pool::Create(small);
  auto a = pool->Acquire();
  auto b = pool->Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  absl::Time start = absl::Now();
  auto c = pool->Acquire();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(c.status()), "POOL_EXHAUSTED");
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  { Session released = std::move(*a); }
  EXPECT_TRUE(pool->Acquire().ok());
}

TEST_F(DbTest, StatementsArePreparedOncePerPooledConnectionNotPerCall) {
  Config one = config_;
  one.pool_size = 1;  // every session below gets the same connection
  auto pool = Pool::Create(one);
  auto prepared_so_far = [&]() -> int64_t {
    auto s = pool->Acquire();
    auto row = s->QueryOne("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'");
    return row.ok() && row->has_value() ? (*row)->Int(1) : -1;
  };
  auto insert_and_read = [&](int i) {
    auto s = pool->Acquire();
    ASSERT_TRUE(s.ok()) << s.status();
    auto ins = s->ExecInsert("INSERT INTO t (name) VALUES (?)", {absl::StrCat("p", i)});
    ASSERT_TRUE(ins.ok()) << ins.status();
    auto row = s->QueryOne("SELECT name FROM t WHERE id = ?", {ins->last_insert_id});
    ASSERT_TRUE(row.ok() && row->has_value());
    EXPECT_EQ((*row)->Str(0), absl::StrCat("p", i));
  };
  int64_t before = prepared_so_far();
  ASSERT_GT(before, 0);  // the counter query itself was prepared
  insert_and_read(0);
  int64_t after_first = prepared_so_far();
  EXPECT_GE(after_first - before, 2);  // the insert and the select, at least
  for (int i = 1; i < 50; ++i) insert_and_read(i);
  // 49 more sessions, each executing the same statements: nothing prepared again.
  EXPECT_EQ(prepared_so_far() - after_first, 0);
}

TEST_F(DbTest, MigrationsApplyOnceAndRefuseEditedHistory) {
  std::vector<Migration> migrations = {
      {1, "0001_a.sql", "CREATE TABLE m1 (id INT PRIMARY KEY);\nINSERT INTO m1 VALUES (1);"},
      {2, "0002_b.sql", "ALTER TABLE m1 ADD COLUMN note VARCHAR(10) NULL;"}};
  ASSERT_TRUE(ApplyMigrations(*pool_, migrations).ok());
  ASSERT_TRUE(ApplyMigrations(*pool_, migrations).ok());  // second run is a no-op
  auto s = pool_->Acquire();
  EXPECT_EQ((*s->QueryOne("SELECT COUNT(*) FROM m1"))->Int(0), 1);
  EXPECT_EQ((*s->QueryOne("SELECT COUNT(*) FROM schema_migrations"))->Int(0), 2);
  migrations[0].sql += "\n-- edited";
  EXPECT_EQ(ApplyMigrations(*pool_, migrations).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(DbTest, MigrationsFromSeveralReplicasAtOnceApplyOnce) {
  std::vector<Migration> migrations = {{1, "0001_a.sql", "CREATE TABLE once_only (id INT PRIMARY KEY);"}};
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto pool = Pool::Create(config_);
      if (ApplyMigrations(*pool, migrations).ok()) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
}

TEST_F(DbTest, RequestIdClaimsReturnTheFirstResource) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());  // creates idempotency_keys
  auto first = pool_->InTransaction<std::optional<std::string>>(
      [](Session& s) -> absl::StatusOr<std::optional<std::string>> {
        KEFU_ASSIGN_OR_RETURN(auto claim, ClaimRequestId(s, "scope", "r1", 99));
        if (claim) return claim;
        KEFU_RETURN_IF_ERROR(CompleteRequestId(s, "scope", "r1", "res-1"));
        return std::optional<std::string>();
      });
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
  auto s = pool_->Acquire();
  auto again = ClaimRequestId(*s, "scope", "r1", 99);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(**again, "res-1");
  auto other_body = ClaimRequestId(*s, "scope", "r1", 100);
  EXPECT_EQ(other_body.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ClaimRequestId(*s, "other-scope", "r1", 100).ok());
}

// The audit trail writes a batch of any size in statements of 100, 10 and 1 rows (a
// few statements to prepare per connection, however the batches fall), all or nothing.
TEST_F(DbTest, AuditBatchesOfAnySizeAreWrittenWhole) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());
  prometheus::Registry registry;
  security::AuditLog audit(pool_.get(), &registry, absl::Hours(1));
  const absl::Time at = absl::FromUnixSeconds(1780000000);
  for (int n : {237, 1, 10, 99}) {
    for (int i = 0; i < n; ++i)
      audit.Record({at, "E1001", "agent", "", "/kefu.test.v1.T/Call", "read", absl::StrCat(n, "-", i),
                    "name,phone", absl::StrCat("req-", n, "-", i)});
    ASSERT_TRUE(audit.Flush().ok());
  }
  auto s = pool_->Acquire();
  ASSERT_TRUE(s.ok());
  auto row = s->QueryOne("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM audit_log WHERE method = ?",
                         {"/kefu.test.v1.T/Call"});
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->Int(0), 237 + 1 + 10 + 99);
  EXPECT_EQ((*row)->Int(1), 237 + 1 + 10 + 99);
}

// `n` messages for `target` in one transaction, request ids "<target>.<i>", due at `at`.
void EnqueueMessages(Pool& pool, const std::string& target, int n, absl::Time at) {
  absl::Status s = pool.InTransaction([&](Session& session) -> absl::Status {
    for (int i = 0; i < n; ++i) {
      google::protobuf::StringValue payload;
      payload.set_value(absl::StrCat("message ", i));
      KEFU_RETURN_IF_ERROR(outbox::Enqueue(session, target, absl::StrCat(target, ".", i), payload, at));
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
}

// A backlog larger than one round (50) is delivered in one tick, each message once, in
// the order it was written; the next tick finds nothing to send.
TEST_F(DbTest, RelayDeliversABacklogOfManyRoundsInOneTick) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());  // creates outbox
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  FakeClock clock(now);
  prometheus::Registry registry;
  outbox::Relay relay(pool_.get(), &clock, registry);
  std::vector<std::string> received;
  relay.Register("log", [&](const std::string& request_id, const std::string& payload) {
    google::protobuf::StringValue v;
    if (!v.ParseFromString(payload)) return absl::DataLossError("payload");
    received.push_back(request_id);
    return absl::OkStatus();
  });
  EnqueueMessages(*pool_, "log", 237, now);
  auto delivered = relay.DeliverAllDue([] { return false; });
  ASSERT_TRUE(delivered.ok()) << delivered.status();
  EXPECT_EQ(*delivered, 237);
  ASSERT_EQ(received.size(), 237u);
  for (int i = 0; i < 237; ++i) EXPECT_EQ(received[i], absl::StrCat("log.", i));
  EXPECT_EQ(relay.Pending().value_or(-1), 0);
  EXPECT_EQ(relay.DeliverAllDue([] { return false; }).value_or(-1), 0);
  EXPECT_EQ(received.size(), 237u);
}

// Shutdown ends the drain between rounds; a failed delivery ends it too (the receiver is
// down: one timeout per tick, not one per message), and the failed message waits for its
// backoff while the others go on the next tick.
TEST_F(DbTest, RelayDrainStopsAtShutdownAndAtAFailedDelivery) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  FakeClock clock(now);
  prometheus::Registry registry;
  outbox::Relay relay(pool_.get(), &clock, registry);
  int calls = 0;
  relay.Register("log", [&](const std::string& request_id, const std::string&) {
    ++calls;
    if (request_id == "log.120") return absl::UnavailableError("receiver restarting");
    return absl::OkStatus();
  });
  EnqueueMessages(*pool_, "log", 200, now);

  int rounds = 0;
  auto first = relay.DeliverAllDue([&] { return ++rounds > 1; });  // shutdown after one round
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 50);
  EXPECT_EQ(relay.Pending().value_or(-1), 150);

  // Rounds 51-100 and 101-150; the second stops at log.120, the rest of it is not tried.
  auto second = relay.DeliverAllDue([] { return false; });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, 70);
  EXPECT_EQ(calls, 50 + 71);
  EXPECT_EQ(relay.Pending().value_or(-1), 80);

  // Next tick, before log.120 is due again: the other 79 go.
  auto third = relay.DeliverAllDue([] { return false; });
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, 79);
  clock.Advance(absl::Seconds(2));
  EXPECT_EQ(relay.DeliverAllDue([] { return false; }).value_or(-1), 0);  // it fails again
  clock.Advance(absl::Seconds(5));
  relay.Register("log", [](const std::string&, const std::string&) { return absl::OkStatus(); });
  EXPECT_EQ(relay.DeliverAllDue([] { return false; }).value_or(-1), 1);
  EXPECT_EQ(relay.Pending().value_or(-1), 0);
}

// With a batch handler a round goes in one call per target. A batch the receiver refuses
// (one bad message) goes again one by one, so only the bad message waits and the drain
// goes on; a receiver that is down gets one call per tick, and every message backs off.
TEST_F(DbTest, RelaySendsEachRoundAsOneBatchAndIsolatesABadMessage) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  FakeClock clock(now);
  prometheus::Registry registry;
  outbox::Relay relay(pool_.get(), &clock, registry);
  std::vector<size_t> batches;
  std::vector<std::string> singles, delivered;
  relay.Register(
      "log",
      [&](const std::string& request_id, const std::string&) {
        singles.push_back(request_id);
        if (request_id == "log.7") return absl::InvalidArgumentError("requests[0].entry.description: is required");
        delivered.push_back(request_id);
        return absl::OkStatus();
      },
      [&](const std::vector<outbox::Message>& messages) {
        batches.push_back(messages.size());
        for (const auto& m : messages)
          if (m.request_id == "log.7") return absl::InvalidArgumentError("requests[7].entry.description: is required");
        for (const auto& m : messages) delivered.push_back(m.request_id);
        return absl::OkStatus();
      });
  EnqueueMessages(*pool_, "log", 120, now);
  auto n = relay.DeliverAllDue([] { return false; });
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 119);
  EXPECT_EQ(batches, (std::vector<size_t>{50, 50, 20}));  // the first refused, then one by one
  ASSERT_EQ(singles.size(), 50u);
  EXPECT_EQ(singles.front(), "log.0");
  EXPECT_EQ(delivered.size(), 119u);
  EXPECT_EQ(std::count(delivered.begin(), delivered.end(), "log.7"), 0);
  EXPECT_EQ(relay.Pending().value_or(-1), 1);
  {
    // Each delivered message is marked once, with the time and its one attempt (a batch
    // is marked in one statement), and counted.
    auto s = pool_->Acquire();
    ASSERT_TRUE(s.ok());
    auto marked = s->QueryOne(
        "SELECT COUNT(*) FROM outbox WHERE target = 'log' AND delivered_time = ? AND attempts = 1", {ToSqlTime(now)});
    ASSERT_TRUE(marked.ok() && marked->has_value());
    EXPECT_EQ((*marked)->Int(0), 119);
    const auto families = registry.Collect();
    double counted = -1;
    for (const auto& f : families)
      if (f.name == "kefu_outbox_delivered_total")
        for (const auto& m : f.metric)
          for (const auto& l : m.label)
            if (l.name == "target" && l.value == "log") counted = m.counter.value;
    EXPECT_EQ(counted, 119);
  }

  int down_batches = 0, down_singles = 0;
  relay.Register(
      "down",
      [&](const std::string&, const std::string&) {
        ++down_singles;
        return absl::UnavailableError("connection refused");
      },
      [&](const std::vector<outbox::Message>&) {
        ++down_batches;
        return absl::UnavailableError("connection refused");
      });
  EnqueueMessages(*pool_, "down", 5, now);
  EXPECT_EQ(relay.DeliverAllDue([] { return false; }).value_or(-1), 0);
  EXPECT_EQ(down_batches, 1);
  EXPECT_EQ(down_singles, 0);
  auto s = pool_->Acquire();
  ASSERT_TRUE(s.ok());
  auto row = s->QueryOne("SELECT COUNT(*) FROM outbox WHERE target = 'down' AND attempts = 1 AND next_attempt_time = ?",
                         {ToSqlTime(now + outbox::Relay::Backoff(1))});
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->Int(0), 5);
}

// A relay round holds its claim while it calls the receiver. A write that queues a new
// message meanwhile (a work order created, a state changed) goes through at once instead
// of waiting for the round to end (db::Isolation).
TEST_F(DbTest, MessagesQueueWhileARelayRoundDelivers) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());
  const absl::Time now = absl::FromUnixSeconds(1780000000);
  FakeClock clock(now);
  prometheus::Registry registry;
  outbox::Relay relay(pool_.get(), &clock, registry);
  Config one = config_;
  one.pool_size = 1;
  auto writers = Pool::Create(one);
  auto writer = writers->Acquire();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer->ExecRaw("SET SESSION innodb_lock_wait_timeout = 1").ok());
  std::vector<absl::Status> queued;
  relay.Register(
      "log", [&](const std::string&, const std::string&) { return absl::OkStatus(); },
      [&](const std::vector<outbox::Message>&) {
        google::protobuf::StringValue payload;
        payload.set_value("written during the round");
        queued.push_back(outbox::Enqueue(*writer, "log", absl::StrCat("log.new.", queued.size()), payload, now));
        return absl::OkStatus();
      });
  EnqueueMessages(*pool_, "log", 3, now);
  auto first = relay.DeliverAllDue([] { return false; });
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(queued.empty());
  EXPECT_TRUE(queued.front().ok()) << "queueing a message waited for the relay's round: " << queued.front();
  // What was queued during a round goes in the next one.
  EXPECT_EQ(relay.Pending().value_or(-1), static_cast<int64_t>(std::count_if(
                                              queued.begin(), queued.end(), [](const absl::Status& s) { return s.ok(); })));
}

// Work to do once a transaction commits (telling the relay a message is waiting) runs
// once after the commit, and not for a rolled-back transaction or a failed attempt that
// was retried.
TEST_F(DbTest, OnCommitRunsOnceAfterTheCommitAndNeverForARollback) {
  int committed = 0;
  ASSERT_TRUE(pool_->InTransaction([&](Session& s) -> absl::Status {
                      s.OnCommit([&] { ++committed; });
                      EXPECT_EQ(committed, 0);  // not before the commit
                      return s.Exec("INSERT INTO t (name) VALUES ('hooked')").status();
                    })
                  .ok());
  EXPECT_EQ(committed, 1);

  int rolled_back = 0;
  EXPECT_FALSE(pool_->InTransaction([&](Session& s) -> absl::Status {
                       s.OnCommit([&] { ++rolled_back; });
                       return absl::InvalidArgumentError("refused");
                     })
                   .ok());
  EXPECT_EQ(rolled_back, 0);

  int attempts = 0, retried = 0;
  ASSERT_TRUE(pool_->InTransaction([&](Session& s) -> absl::Status {
                      s.OnCommit([&] { ++retried; });
                      if (++attempts == 1)
                        return MakeError(absl::StatusCode::kAborted, reason::kDbConflict, "deadlock", {});
                      return absl::OkStatus();
                    })
                  .ok());
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(retried, 1);

  // The outbox tells its listener after a message's transaction commits, only then.
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());
  int told = 0;
  outbox::SetEnqueueListener([&] { ++told; });
  google::protobuf::StringValue payload;
  payload.set_value("x");
  ASSERT_TRUE(pool_->InTransaction([&](Session& s) -> absl::Status {
                      KEFU_RETURN_IF_ERROR(outbox::Enqueue(s, "log", "hook.1", payload, absl::Now()));
                      EXPECT_EQ(told, 0);
                      return absl::OkStatus();
                    })
                  .ok());
  EXPECT_EQ(told, 1);
  EXPECT_FALSE(pool_->InTransaction([&](Session& s) -> absl::Status {
                       KEFU_RETURN_IF_ERROR(outbox::Enqueue(s, "log", "hook.2", payload, absl::Now()));
                       return absl::InternalError("the change failed after the message was queued");
                     })
                   .ok());
  EXPECT_EQ(told, 1);
  outbox::SetEnqueueListener(nullptr);
}

// A background task runs `linger` after a wake instead of at the end of its period; the
// wakes that come before it runs make one run; a wake after the server is gone is harmless.
TEST_F(DbTest, AWokenBackgroundTaskRunsSoonAndOnceForManyWakes) {
  ServerOptions o;
  o.service_name = "wake";
  o.listen_host = "127.0.0.1";
  o.metrics_port = -1;
  o.db = config_;
  o.health_interval = absl::Milliseconds(50);
  o.token_verifier = testing::TestVerifier();
  auto server = std::make_unique<Server>(o);
  std::atomic<int> runs{0};
  auto wake = server->AddBackgroundTask("wake-test", absl::Hours(1), [&] { ++runs; }, absl::Milliseconds(300));
  ASSERT_TRUE(server->Start({}).ok());
  for (int i = 0; i < 100 && !server->ready(); ++i) absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(server->ready());
  EXPECT_EQ(runs.load(), 0);  // its period is an hour

  for (int i = 0; i < 100; ++i) wake();
  for (int i = 0; i < 100 && runs.load() == 0; ++i) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(runs.load(), 1);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(runs.load(), 1) << "a hundred wakes before the run make one run";

  wake();  // after a run, a wake calls for the next
  for (int i = 0; i < 100 && runs.load() == 1; ++i) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(runs.load(), 2);

  server->Shutdown();
  server.reset();
  wake();
}

// Retention: request ids and delivered outbox messages older than the cut are removed,
// batch after batch until none is left; newer ones, and messages never delivered however
// old, stay.
TEST_F(DbTest, RetentionPurgeRemovesEverythingOlderInBatches) {
  ASSERT_TRUE(ApplyMigrations(*pool_, {}).ok());
  const absl::Time old_time = absl::FromUnixSeconds(1780000000);
  const absl::Time cut = old_time + absl::Hours(1);
  FakeClock clock(old_time);
  prometheus::Registry registry;
  outbox::Relay relay(pool_.get(), &clock, registry);
  relay.Register("log", [](const std::string&, const std::string&) { return absl::OkStatus(); });
  EnqueueMessages(*pool_, "log", 25, old_time);
  ASSERT_EQ(relay.DeliverAllDue([] { return false; }).value_or(-1), 25);  // delivered at old_time
  EnqueueMessages(*pool_, "stuck", 3, old_time);                          // no handler: never delivered
  clock.Set(cut + absl::Minutes(1));
  EnqueueMessages(*pool_, "recent", 4, cut + absl::Minutes(1));
  relay.Register("recent", [](const std::string&, const std::string&) { return absl::OkStatus(); });
  ASSERT_EQ(relay.DeliverAllDue([] { return false; }).value_or(-1), 4);  // delivered after the cut

  {
    auto s = pool_->Acquire();
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < 23; ++i)
      ASSERT_TRUE(s->Exec("INSERT INTO idempotency_keys (scope, request_id, fingerprint, resource_id, create_time) "
                          "VALUES ('scope', ?, 1, '', ?)",
                          {absl::StrCat("r", i), ToSqlTime(i < 21 ? old_time : cut + absl::Minutes(1))})
                      .ok());
  }
  int batches = 0;
  auto ids = PurgeInBatches(
      *pool_, 10,
      [&](Session& s, int64_t limit) {
        ++batches;
        return PurgeRequestIds(s, cut, limit);
      },
      [] { return false; });
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, 21);
  EXPECT_EQ(batches, 3);  // 10, 10, 1
  auto sent = PurgeInBatches(
      *pool_, 10, [&](Session& s, int64_t limit) { return outbox::PurgeDelivered(s, cut, limit); },
      [] { return false; });
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(*sent, 25);
  auto s = pool_->Acquire();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s->QueryOne("SELECT COUNT(*) FROM idempotency_keys"))->Int(0), 2);
  EXPECT_EQ((*s->QueryOne("SELECT COUNT(*) FROM outbox WHERE target = 'stuck'"))->Int(0), 3);
  EXPECT_EQ((*s->QueryOne("SELECT COUNT(*) FROM outbox WHERE target = 'recent'"))->Int(0), 4);
  EXPECT_EQ((*s->QueryOne("SELECT COUNT(*) FROM outbox WHERE target = 'log'"))->Int(0), 0);

  // Shutdown: not even one batch.
  EXPECT_EQ(PurgeInBatches(*pool_, 10, [&](Session& s, int64_t limit) { return PurgeRequestIds(s, cut, limit); },
                           [] { return true; })
                .value_or(-1),
            0);
}

TEST(DbRecovery, PoolRecoversAfterTheServerIsKilledAndRestarted) {
  testing::PrivateMariaDb server;
  Config config = server.CreateSchema("recover");
  config.connect_timeout = absl::Seconds(1);
  auto pool = Pool::Create(config);
  ASSERT_TRUE(pool->Ping().ok());
  server.Kill();
  absl::Time start = absl::Now();
  absl::Status down = pool->Ping();
  EXPECT_EQ(down.code(), absl::StatusCode::kUnavailable) << down;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // fails, does not hang
  server.Start();
  bool recovered = false;
  for (int i = 0; i < 50 && !recovered; ++i) {
    recovered = pool->Ping().ok();
    if (!recovered) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(recovered);
}

}  // namespace
}  // namespace kefu::db
