// The one file that talks to Connector/C++.
#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kefu/db/db.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/time_util.h"

namespace kefu::db {

struct PooledConnection {
  // Declared first so it is destroyed last: statements must go before their connection.
  std::unique_ptr<sql::Connection> conn;
  std::unique_ptr<sql::Statement> raw;
  std::unordered_map<std::string, std::unique_ptr<sql::PreparedStatement>> statements;
  absl::Time last_used;
  bool broken = false;
  // Connections that ran a transaction stay in manual-commit mode (autocommit = 0), so
  // their next transaction begins with its first statement instead of a round trip
  // for START TRANSACTION. Only an idle connection with no open transaction is in
  // the pool, in either mode.
  bool autocommit = true;
  // Between the transaction's first statement and its COMMIT or ROLLBACK. A connection
  // that comes back still in one (its callback threw) is closed, which rolls it back.
  bool in_transaction = false;

  ~PooledConnection() {
    statements.clear();
    raw.reset();
    try {
      if (conn) conn->close();
    } catch (...) {
    }
  }
};

namespace {

constexpr size_t kMaxCachedStatements = 256;
// An idle connection is pinged before reuse once it sat this long: a server restart or
// an idle timeout would otherwise surface as an error on a real query.
constexpr absl::Duration kPingAfterIdle = absl::Seconds(5);

bool IsConnectionLost(int code) {
  switch (code) {
    case 1040:  // too many connections
    case 1053:  // server shutdown in progress
    case 1927:  // connection was killed
    case 2002:  // can't connect through socket
    case 2003:  // can't connect to server
    case 2006:  // server has gone away
    case 2013:  // lost connection during query
    case 2055:  // lost connection at handshake
    case 4031:  // disconnected by the server for inactivity
      return true;
    default:
      return false;
  }
}

absl::Status MapException(const sql::SQLException& e, absl::string_view sql_text) {
  int code = e.getErrorCode();
  std::string what = e.what();
  if (code == 1062) {
    // "Duplicate entry '...' for key 'uk_name'": keep the key name, never the value.
    std::string key;
    auto pos = what.rfind("for key '");
    if (pos != std::string::npos) {
      key = what.substr(pos + 9);
      if (!key.empty() && key.back() == '\'') key.pop_back();
      auto dot = key.rfind('.');
      if (dot != std::string::npos) key = key.substr(dot + 1);
    }
    return MakeError(absl::StatusCode::kAlreadyExists, reason::kAlreadyExists,
                     "a record with the same unique key exists", {}, {{"key", key}});
  }
  if (code == 1213 || code == 1205) {
    return MakeError(absl::StatusCode::kAborted, reason::kDbConflict,
                     "the database aborted the transaction on a lock conflict; retry");
  }
  if (code == 1406) {
    return MakeError(absl::StatusCode::kInvalidArgument, reason::kFieldInvalid,
                     "a value is longer than its column allows");
  }
  if (code == 1451 || code == 1452) {
    return MakeError(absl::StatusCode::kFailedPrecondition, reason::kDbError,
                     "a referenced record does not exist or is still referenced");
  }
  if (IsConnectionLost(code) || (code == 0 && e.getSQLState().rfind("08", 0) == 0)) {
    return MakeError(absl::StatusCode::kUnavailable, reason::kDbUnavailable,
                     "the database is unavailable");
  }
  log::Error("sql error", {{"errno", code}, {"sqlstate", e.getSQLState()}, {"error", what},
                           {"statement", sql_text.substr(0, 200)}});
  return MakeError(absl::StatusCode::kInternal, reason::kDbError, "database error");
}

absl::string_view OperationOf(absl::string_view sql) {
  sql = absl::StripLeadingAsciiWhitespace(sql);
  auto starts = [&](absl::string_view w) {
    return sql.size() >= w.size() && absl::EqualsIgnoreCase(sql.substr(0, w.size()), w);
  };
  if (starts("select")) return "select";
  if (starts("insert")) return "insert";
  if (starts("update")) return "update";
  if (starts("delete")) return "delete";
  return "other";
}

void Bind(sql::PreparedStatement* ps, const std::vector<Param>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    unsigned int idx = static_cast<unsigned int>(i + 1);
    const Param& p = params[i];
    switch (p.kind()) {
      case Param::kNull: ps->setNull(idx, sql::DataType::VARCHAR); break;
      case Param::kInt: ps->setInt64(idx, p.i()); break;
      case Param::kUint: ps->setUInt64(idx, p.u()); break;
      case Param::kDouble: ps->setDouble(idx, p.d()); break;
      case Param::kString: ps->setString(idx, sql::SQLString(p.s())); break;
    }
  }
}

std::vector<Row> ReadAll(sql::ResultSet* rs) {
  std::vector<Row> rows;
  unsigned int n = rs->getMetaData()->getColumnCount();
  while (rs->next()) {
    std::vector<std::optional<std::string>> cols;
    cols.reserve(n);
    for (unsigned int c = 1; c <= n; ++c) {
      sql::SQLString v = rs->getString(c);
      if (rs->wasNull()) cols.emplace_back(std::nullopt);
      else cols.emplace_back(v.asStdString());
    }
    rows.emplace_back(std::move(cols));
  }
  return rows;
}

// The connection's cached statement for this text, prepared on first use.
sql::PreparedStatement* Prepared(PooledConnection* pc, absl::string_view sql_text) {
  std::string key(sql_text);
  auto it = pc->statements.find(key);
  if (it != pc->statements.end()) return it->second.get();
  // Dynamic SQL (list filters) has a bounded number of shapes; this cap is a backstop.
  if (pc->statements.size() >= kMaxCachedStatements) pc->statements.clear();
  std::unique_ptr<sql::PreparedStatement> ps(pc->conn->prepareStatement(sql::SQLString(key)));
  auto* raw = ps.get();
  pc->statements.emplace(std::move(key), std::move(ps));
  return raw;
}

}  // namespace

// ---- Row ----

int64_t Row::Int(size_t i) const {
  int64_t v = 0;
  if (cols_.at(i)) (void)absl::SimpleAtoi(*cols_[i], &v);
  return v;
}
uint64_t Row::Uint(size_t i) const {
  uint64_t v = 0;
  if (cols_.at(i)) (void)absl::SimpleAtoi(*cols_[i], &v);
  return v;
}
double Row::Double(size_t i) const {
  double v = 0;
  if (cols_.at(i)) (void)absl::SimpleAtod(*cols_[i], &v);
  return v;
}
const std::string& Row::Str(size_t i) const {
  static const std::string* empty = new std::string;
  return cols_.at(i) ? *cols_[i] : *empty;
}
absl::Time Row::Time(size_t i) const {
  if (!cols_.at(i)) return absl::UnixEpoch();
  auto t = FromSqlTime(*cols_[i]);
  return t.ok() ? *t : absl::UnixEpoch();
}

// ---- Pool ----

struct Pool::State {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<PooledConnection>> idle;
  int total = 0;  // idle + borrowed + being opened
};

std::unique_ptr<Pool> Pool::Create(Config config, Observer* observer) {
  // The driver singleton is not safe to create concurrently; make it here, once.
  (void)sql::mysql::get_mysql_driver_instance();
  return std::unique_ptr<Pool>(new Pool(std::move(config), observer));
}

Pool::Pool(Config config, Observer* observer)
    : config_(std::move(config)), observer_(observer), state_(std::make_unique<State>()) {
  if (config_.pool_size < 1) config_.pool_size = 1;
}

Pool::~Pool() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->idle.clear();
}

absl::StatusOr<std::unique_ptr<PooledConnection>> Pool::Connect() {
  auto pc = std::make_unique<PooledConnection>();
  try {
    sql::ConnectOptionsMap opts;
    opts["hostName"] = sql::SQLString(config_.host);
    opts["port"] = config_.port;
    opts["userName"] = sql::SQLString(config_.user);
    opts["password"] = sql::SQLString(config_.password);
    if (!config_.schema.empty()) opts["schema"] = sql::SQLString(config_.schema);
    opts["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    opts["OPT_CONNECT_TIMEOUT"] =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(config_.connect_timeout)));
    int io = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(config_.io_timeout)));
    opts["OPT_READ_TIMEOUT"] = io;
    opts["OPT_WRITE_TIMEOUT"] = io;
    opts["OPT_RECONNECT"] = false;  // a silent reconnect would lose session state
    pc->conn.reset(sql::mysql::get_mysql_driver_instance()->connect(opts));
    pc->raw.reset(pc->conn->createStatement());
    pc->raw->execute(absl::StrCat(
        "SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = ",
        std::max<int64_t>(1, absl::ToInt64Seconds(config_.lock_wait_timeout)),
        ", sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"));
  } catch (const sql::SQLException& e) {
    log::Warn("database connect failed", {{"errno", e.getErrorCode()}, {"error", e.what()},
                                          {"host", config_.host}, {"port", config_.port}});
    if (e.getErrorCode() == 1045 || e.getErrorCode() == 1044 || e.getErrorCode() == 1049) {
      // Access denied / unknown schema: misconfiguration, but the service can still
      // recover once an operator fixes grants, so report it as unavailable.
      return MakeError(absl::StatusCode::kUnavailable, reason::kDbUnavailable,
                       "the database refused the connection");
    }
    return MakeError(absl::StatusCode::kUnavailable, reason::kDbUnavailable,
                     "the database is unavailable");
  }
  pc->last_used = absl::Now();
  return pc;
}

void Pool::ReportState() {
  if (!observer_) return;
  int idle, total;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    idle = static_cast<int>(state_->idle.size());
    total = state_->total;
  }
  observer_->OnPoolState(total - idle, idle, config_.pool_size);
}

absl::StatusOr<Session> Pool::Acquire() {
  KEFU_ASSIGN_OR_RETURN(Session session, AcquireConnection(/*autocommit=*/true));
  if (!session.conn_->autocommit) {
    KEFU_RETURN_IF_ERROR(session.ExecRaw("SET autocommit = 1"));
    session.conn_->autocommit = true;
    if (observer_) observer_->OnCommitModeSwitch(/*to_autocommit=*/true);
  }
  return session;
}

absl::StatusOr<Session> Pool::AcquireConnection(bool autocommit) {
  absl::Time start = absl::Now();
  absl::Time deadline = start + config_.acquire_timeout;
  std::unique_lock<std::mutex> lock(state_->mu);
  while (true) {
    if (!state_->idle.empty()) {
      // The most recently used connection already in the wanted mode, else the most
      // recently used one, switched by the caller.
      auto it = state_->idle.end() - 1;
      for (auto at = state_->idle.rbegin(); at != state_->idle.rend(); ++at) {
        if ((*at)->autocommit == autocommit) {
          it = std::prev(at.base());
          break;
        }
      }
      auto pc = std::move(*it);
      state_->idle.erase(it);
      lock.unlock();
      bool usable = true;
      if (absl::Now() - pc->last_used > kPingAfterIdle) {
        try {
          usable = pc->conn->isValid();
        } catch (...) {
          usable = false;
        }
      }
      if (usable) {
        if (observer_) observer_->OnAcquire(absl::Now() - start, true);
        ReportState();
        return Session(this, std::move(pc));
      }
      pc.reset();
      lock.lock();
      --state_->total;
      continue;
    }
    if (state_->total < config_.pool_size) {
      ++state_->total;
      lock.unlock();
      auto pc = Connect();
      if (!pc.ok()) {
        {
          std::lock_guard<std::mutex> relock(state_->mu);
          --state_->total;
        }
        state_->cv.notify_one();
        if (observer_) observer_->OnAcquire(absl::Now() - start, false);
        return pc.status();
      }
      if (observer_) observer_->OnAcquire(absl::Now() - start, true);
      ReportState();
      return Session(this, std::move(pc).value());
    }
    auto remaining = absl::ToChronoNanoseconds(deadline - absl::Now());
    if (remaining.count() <= 0 ||
        state_->cv.wait_for(lock, remaining) == std::cv_status::timeout) {
      if (!state_->idle.empty() || state_->total < config_.pool_size) continue;
      lock.unlock();
      if (observer_) observer_->OnAcquire(absl::Now() - start, false);
      return MakeError(absl::StatusCode::kUnavailable, reason::kPoolExhausted,
                       "no database connection became free in time");
    }
  }
}

void Pool::Release(std::unique_ptr<PooledConnection> conn) {
  if (conn->in_transaction) conn->broken = true;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (conn->broken) {
      --state_->total;
    } else {
      conn->last_used = absl::Now();
      state_->idle.push_back(std::move(conn));
    }
  }
  conn.reset();  // a broken connection is closed outside the lock
  state_->cv.notify_one();
  ReportState();
}

absl::Status Pool::Ping() {
  auto session = Acquire();
  if (!session.ok()) return session.status();
  return session->Query("SELECT 1").status();
}

absl::Status Pool::InTransaction(Isolation isolation, const std::function<absl::Status(Session&)>& fn,
                                 int max_attempts) {
  absl::Status status;
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    auto session = AcquireConnection(/*autocommit=*/false);
    if (!session.ok()) return session.status();
    PooledConnection& conn = *session->conn_;
    if (conn.autocommit) {
      // Takes effect with the next statement, which then opens the transaction.
      status = session->ExecRaw("SET autocommit = 0");
      if (!status.ok()) return status;
      conn.autocommit = false;
      if (observer_) observer_->OnCommitModeSwitch(/*to_autocommit=*/false);
    }
    if (isolation == Isolation::kReadCommitted) {
      // For the next transaction only: the connection goes back to the default after it.
      status = session->ExecRaw("SET TRANSACTION ISOLATION LEVEL READ COMMITTED");
      if (!status.ok()) return status;
    }
    conn.in_transaction = true;
    status = fn(*session);
    if (status.ok()) {
      status = session->ExecRaw("COMMIT");
      if (status.ok()) {
        conn.in_transaction = false;
        for (auto& hook : session->on_commit_) hook();
        return status;
      }
      // Whether anything was committed is unknown; the connection is not reused.
    } else if (session->ExecRaw("ROLLBACK").ok()) {
      conn.in_transaction = false;
    }
    // Otherwise an open transaction must never reach the next borrower: Release closes
    // a connection still in one.
    bool retryable = status.code() == absl::StatusCode::kAborted &&
                     ReasonOf(status) == reason::kDbConflict;
    if (!retryable || attempt == max_attempts) return status;
    if (observer_) observer_->OnTransactionRetry();
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt * attempt));
  }
  return status;
}

// ---- Session ----

Session::Session(Pool* pool, std::unique_ptr<PooledConnection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

Session::Session(Session&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), on_commit_(std::move(other.on_commit_)) {}

Session::~Session() {
  if (conn_) pool_->Release(std::move(conn_));
}

absl::StatusOr<std::vector<Row>> Session::Query(absl::string_view sql_text,
                                                const std::vector<Param>& params) {
  absl::Time start = absl::Now();
  try {
    auto* stmt = Prepared(conn_.get(), sql_text);
    Bind(stmt, params);
    std::unique_ptr<sql::ResultSet> rs(stmt->executeQuery());
    auto rows = ReadAll(rs.get());
    if (pool_->observer_) pool_->observer_->OnStatement("select", absl::Now() - start, true);
    return rows;
  } catch (const sql::SQLException& e) {
    if (IsConnectionLost(e.getErrorCode()) || e.getErrorCode() == 0) conn_->broken = true;
    if (pool_->observer_) pool_->observer_->OnStatement("select", absl::Now() - start, false);
    return MapException(e, sql_text);
  }
}

absl::StatusOr<std::optional<Row>> Session::QueryOne(absl::string_view sql_text,
                                                     const std::vector<Param>& params) {
  auto rows = Query(sql_text, params);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::optional<Row>();
  return std::optional<Row>(std::move(rows->front()));
}

absl::StatusOr<ExecResult> Session::Exec(absl::string_view sql_text,
                                         const std::vector<Param>& params) {
  absl::Time start = absl::Now();
  absl::string_view op = OperationOf(sql_text);
  try {
    auto* stmt = Prepared(conn_.get(), sql_text);
    Bind(stmt, params);
    ExecResult result;
    result.affected_rows = stmt->executeUpdate();
    if (pool_->observer_) pool_->observer_->OnStatement(op, absl::Now() - start, true);
    return result;
  } catch (const sql::SQLException& e) {
    if (IsConnectionLost(e.getErrorCode()) || e.getErrorCode() == 0) conn_->broken = true;
    if (pool_->observer_) pool_->observer_->OnStatement(op, absl::Now() - start, false);
    return MapException(e, sql_text);
  }
}

absl::StatusOr<ExecResult> Session::ExecInsert(absl::string_view sql_text,
                                               const std::vector<Param>& params) {
  auto result = Exec(sql_text, params);
  if (!result.ok()) return result;
  auto id = QueryOne("SELECT LAST_INSERT_ID()");
  if (!id.ok()) return id.status();
  result->last_insert_id = (*id) ? (*id)->Int(0) : 0;
  return result;
}

absl::Status Session::ExecRaw(absl::string_view sql_text) {
  absl::Time start = absl::Now();
  try {
    conn_->raw->execute(sql::SQLString(std::string(sql_text)));
    if (pool_->observer_) pool_->observer_->OnStatement("other", absl::Now() - start, true);
    return absl::OkStatus();
  } catch (const sql::SQLException& e) {
    if (IsConnectionLost(e.getErrorCode()) || e.getErrorCode() == 0) conn_->broken = true;
    if (pool_->observer_) pool_->observer_->OnStatement("other", absl::Now() - start, false);
    return MapException(e, sql_text);
  }
}

namespace {
template <typename T>
std::string PaddedInList(std::vector<Param>& params, const std::vector<T>& values) {
  size_t n = 1;
  while (n < values.size()) n *= 2;
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&out, i ? ", ?" : "?");
    params.emplace_back(values[i < values.size() ? i : 0]);
  }
  return out;
}
}  // namespace

std::string InList(std::vector<Param>& params, const std::vector<int64_t>& ids) {
  return PaddedInList(params, ids);
}

std::string InList(std::vector<Param>& params, const std::vector<std::string>& values) {
  return PaddedInList(params, values);
}

}  // namespace kefu::db
