#pragma once
// MySQL access for every service. This header exposes no Connector/C++ type: the pool,
// sessions and rows below are the whole storage API, and pool.cc is the only file that
// includes <cppconn/...>.
//
// - Pool: bounded; connections open lazily (a service starts while its database is
//   down), idle ones are pinged before reuse, broken ones are dropped, so the pool
//   recovers by itself after the server restarts.
// - Session: a borrowed connection, returned on destruction. Statements are prepared
//   once per connection and cached, always with '?' placeholders.
// - InTransaction: a transaction around a callback, committed when it succeeds, rolled
//   back on any error; retried on deadlock or lock-wait timeout. Its connection is in
//   manual-commit mode, so the callback's first statement opens the transaction (no
//   START TRANSACTION round trip); Acquire() hands out connections in autocommit mode.
//   REPEATABLE READ unless the caller asks for READ COMMITTED (Isolation, below).
// Errors are absl::Status: 1062 ALREADY_EXISTS, 1213/1205 ABORTED (DATABASE_CONFLICT),
// 2002/2003/2006/2013 and friends UNAVAILABLE, anything else INTERNAL.

#include "absl/strings/string_view.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace kefu::db {

struct Config {
  std::string host = "127.0.0.1";
  int port = 3306;
  std::string user;
  std::string password;
  std::string schema;
  int pool_size = 16;
  absl::Duration connect_timeout = absl::Seconds(3);
  // How long a caller waits for a free connection before UNAVAILABLE.
  absl::Duration acquire_timeout = absl::Seconds(5);
  // InnoDB lock wait per statement; bounds how long a blocked write can hang.
  absl::Duration lock_wait_timeout = absl::Seconds(5);
  // Socket read/write timeout; bounds a call to a server that stopped answering.
  absl::Duration io_timeout = absl::Seconds(30);
};

// A value bound to one '?' placeholder.
class Param {
 public:
  Param(std::nullptr_t) : kind_(kNull) {}
  Param(int v) : kind_(kInt), i_(v) {}
  Param(int64_t v) : kind_(kInt), i_(v) {}
  Param(uint64_t v) : kind_(kUint), u_(v) {}
  Param(bool v) : kind_(kInt), i_(v ? 1 : 0) {}
  Param(double v) : kind_(kDouble), d_(v) {}
  Param(std::string v) : kind_(kString), s_(std::move(v)) {}
  Param(absl::string_view v) : kind_(kString), s_(v) {}
  Param(const char* v) : kind_(kString), s_(v) {}
  // NULL when empty, for optional references.
  static Param OrNull(absl::string_view v) { return v.empty() ? Param(nullptr) : Param(v); }
  static Param OrNull(int64_t v) { return v == 0 ? Param(nullptr) : Param(v); }

  enum Kind { kNull, kInt, kUint, kDouble, kString };
  Kind kind() const { return kind_; }
  int64_t i() const { return i_; }
  uint64_t u() const { return u_; }
  double d() const { return d_; }
  const std::string& s() const { return s_; }

 private:
  Kind kind_;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
  std::string s_;
};

// A client's request id and a fingerprint of the rest of its request (AIP-155): the
// same id with the same body replays the first result.
struct IdempotencyKey {
  std::string request_id;  // empty: not idempotent
  uint64_t fingerprint = 0;
};

class Row {
 public:
  Row() = default;
  explicit Row(std::vector<std::optional<std::string>> cols) : cols_(std::move(cols)) {}
  size_t size() const { return cols_.size(); }
  bool IsNull(size_t i) const { return !cols_.at(i).has_value(); }
  // NULL reads as 0 / "" / the epoch.
  int64_t Int(size_t i) const;
  uint64_t Uint(size_t i) const;
  double Double(size_t i) const;
  const std::string& Str(size_t i) const;
  absl::Time Time(size_t i) const;

 private:
  std::vector<std::optional<std::string>> cols_;
};

struct ExecResult {
  int64_t affected_rows = 0;
  int64_t last_insert_id = 0;  // filled by ExecInsert only
};

// Observes pool and query activity (metrics); every method may be called concurrently.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void OnAcquire(absl::Duration wait, bool ok) = 0;
  // operation: "select", "insert", "update", "delete", "other".
  virtual void OnStatement(absl::string_view operation, absl::Duration latency, bool ok) = 0;
  virtual void OnPoolState(int in_use, int idle, int max) = 0;
  virtual void OnTransactionRetry() = 0;
  // A pooled connection changed commit mode for its next borrower: to autocommit for
  // plain statements, or to manual commit for a transaction. Each change costs a round
  // trip; many mean the pool has too few idle connections of each kind.
  virtual void OnCommitModeSwitch(bool to_autocommit) = 0;
};

// How a transaction reads and locks. The server's default, REPEATABLE READ, reads one
// snapshot and takes gap locks with every locking read. A claim of a queue's due rows
// (SELECT ... FOR UPDATE SKIP LOCKED: the outbox relay, the escalation sweep) then also
// locks the gap where new rows go, and every write that appends to the queue waits until
// the claiming transaction ends, however long its deliveries take. READ COMMITTED locks
// only the rows it reads; each statement sees what was committed before it.
enum class Isolation { kRepeatableRead, kReadCommitted };

class Pool;
struct PooledConnection;

class Session {
 public:
  Session(Session&& other) noexcept;
  Session& operator=(Session&&) = delete;
  ~Session();

  absl::StatusOr<std::vector<Row>> Query(absl::string_view sql, const std::vector<Param>& params = {});
  // First row, or nullopt when there is none.
  absl::StatusOr<std::optional<Row>> QueryOne(absl::string_view sql,
                                              const std::vector<Param>& params = {});
  absl::StatusOr<ExecResult> Exec(absl::string_view sql, const std::vector<Param>& params = {});
  // Exec plus LAST_INSERT_ID() on the same connection.
  absl::StatusOr<ExecResult> ExecInsert(absl::string_view sql, const std::vector<Param>& params = {});
  // Unprepared statement without parameters: DDL in migrations, session settings.
  absl::Status ExecRaw(absl::string_view sql);
  // Runs fn once the transaction this session is in (Pool::InTransaction) commits;
  // never if it rolls back or is retried (the retry registers its own).
  void OnCommit(std::function<void()> fn) { on_commit_.push_back(std::move(fn)); }

 private:
  friend class Pool;
  Session(Pool* pool, std::unique_ptr<PooledConnection> conn);
  Pool* pool_;
  std::unique_ptr<PooledConnection> conn_;
  std::vector<std::function<void()>> on_commit_;
};

class Pool {
 public:
  // Never connects: connections open on first use.
  static std::unique_ptr<Pool> Create(Config config, Observer* observer = nullptr);
  ~Pool();

  absl::StatusOr<Session> Acquire();
  // Round trip to the server on a pooled connection.
  absl::Status Ping();

  absl::Status InTransaction(const std::function<absl::Status(Session&)>& fn, int max_attempts = 3) {
    return InTransaction(Isolation::kRepeatableRead, fn, max_attempts);
  }
  absl::Status InTransaction(Isolation isolation, const std::function<absl::Status(Session&)>& fn,
                             int max_attempts = 3);
  template <typename T>
  absl::StatusOr<T> InTransaction(const std::function<absl::StatusOr<T>(Session&)>& fn, int max_attempts = 3) {
    return InTransaction<T>(Isolation::kRepeatableRead, fn, max_attempts);
  }
  template <typename T>
  absl::StatusOr<T> InTransaction(Isolation isolation, const std::function<absl::StatusOr<T>(Session&)>& fn,
                                  int max_attempts = 3) {
    std::optional<T> result;
    absl::Status s = InTransaction(
        isolation,
        [&](Session& session) -> absl::Status {
          auto r = fn(session);
          if (!r.ok()) return r.status();
          result = std::move(r).value();
          return absl::OkStatus();
        },
        max_attempts);
    if (!s.ok()) return s;
    return std::move(*result);
  }

  const Config& config() const { return config_; }
  Observer* observer() const { return observer_; }

 private:
  friend class Session;
  Pool(Config config, Observer* observer);
  void Release(std::unique_ptr<PooledConnection> conn);
  absl::StatusOr<std::unique_ptr<PooledConnection>> Connect();
  // A connection, preferring one already in the given commit mode.
  absl::StatusOr<Session> AcquireConnection(bool autocommit);
  void ReportState();

  struct State;
  Config config_;
  Observer* observer_;
  std::unique_ptr<State> state_;
};

// One versioned schema change, embedded in the service binary at build time.
struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// The placeholders of an IN list of ids, their values appended to params: "?, ?, ?",
// padded to a power of two so pages of any length reuse a few cached statements
// (padding repeats the first value, which changes nothing in an IN list). The list
// must not be empty.
std::string InList(std::vector<Param>& params, const std::vector<int64_t>& ids);
// The same for a list of strings (keys such as normalized phone numbers).
std::string InList(std::vector<Param>& params, const std::vector<std::string>& values);

// Applies, in order and exactly once, every migration not yet recorded in the
// schema_migrations table of the connected schema; also creates the shared framework
// tables (idempotency keys). Serialised across replicas with a named lock. An applied
// migration whose text changed since is FAILED_PRECONDITION.
absl::Status ApplyMigrations(Pool& pool, const std::vector<Migration>& migrations);

// Splits a migration script into statements at semicolons that end a line.
std::vector<std::string> SplitSqlStatements(absl::string_view script);

// Idempotent creates (AIP-155). Call first inside the create's transaction:
// returns nullopt when the request id is new (claimed for this transaction), or the
// resource id the first request created. The same id with a different request body is
// FAILED_PRECONDITION (REQUEST_ID_REUSED).
absl::StatusOr<std::optional<std::string>> ClaimRequestId(Session& session, absl::string_view scope,
                                                          absl::string_view request_id,
                                                          uint64_t request_fingerprint);
// Records what the claimed request created, in the same transaction.
absl::Status CompleteRequestId(Session& session, absl::string_view scope,
                               absl::string_view request_id, absl::string_view resource_id);
// Batches of creates (the outbox relay's): claims every key in one statement. Returns
// true when all were new and are now claimed; false when any was taken (by an earlier
// request, or twice in the batch), in which case nothing was claimed and each key goes
// through ClaimRequestId. keys must not be empty.
absl::StatusOr<bool> ClaimNewRequestIds(Session& session, absl::string_view scope,
                                        const std::vector<const IdempotencyKey*>& keys);
// CompleteRequestId for many keys in one statement: (request id, resource id) pairs.
absl::Status CompleteRequestIds(Session& session, absl::string_view scope,
                                const std::vector<std::pair<std::string, std::string>>& completed);

// Idempotent state changes: like ClaimRequestId, but a repeat returns the serialized
// response the first request stored with StoreRequestResponse. Use through
// kefu::IdempotentTransaction (kefu/handler.h).
absl::StatusOr<std::optional<std::string>> ClaimRequestResponse(Session& session,
                                                               absl::string_view scope,
                                                               const IdempotencyKey& key);
absl::Status StoreRequestResponse(Session& session, absl::string_view scope,
                                  absl::string_view request_id, absl::string_view response);

// Forgets request ids claimed before `older_than` (at most `limit` of them): a retry
// older than that is a new request. Returns how many were removed.
absl::StatusOr<int64_t> PurgeRequestIds(Session& session, absl::Time older_than, int64_t limit);

// Runs `purge` (a DELETE of at most `limit` rows, on a pooled session) batch after batch
// until a batch removes fewer than `batch` rows or `stop` says so (shutdown); returns how
// many rows went. One batch per tick would fall behind any table written faster than a
// batch per tick: 10,000 every 10 minutes is 17 writes a second.
using PurgeBatch = std::function<absl::StatusOr<int64_t>(Session& session, int64_t limit)>;
absl::StatusOr<int64_t> PurgeInBatches(Pool& pool, int64_t batch, const PurgeBatch& purge,
                                       const std::function<bool()>& stop);

}  // namespace kefu::db
