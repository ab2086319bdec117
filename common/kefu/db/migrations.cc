#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kefu/db/db.h"
#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/time_util.h"

namespace kefu::db {

std::vector<std::string> SplitSqlStatements(absl::string_view script) {
  std::vector<std::string> out;
  std::string current;
  for (absl::string_view line : absl::StrSplit(script, '\n')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(line);
    if (trimmed.empty() || absl::StartsWith(trimmed, "--")) continue;
    absl::StrAppend(&current, line, "\n");
    if (absl::EndsWith(trimmed, ";")) {
      std::string stmt(absl::StripAsciiWhitespace(current));
      stmt.pop_back();  // the ';'
      if (!absl::StripAsciiWhitespace(stmt).empty()) out.push_back(std::move(stmt));
      current.clear();
    }
  }
  if (!absl::StripAsciiWhitespace(current).empty())
    out.push_back(std::string(absl::StripAsciiWhitespace(current)));
  return out;
}

absl::Status ApplyMigrations(Pool& pool, const std::vector<Migration>& migrations) {
  KEFU_ASSIGN_OR_RETURN(Session session, pool.Acquire());
  KEFU_RETURN_IF_ERROR(session.ExecRaw(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INT NOT NULL PRIMARY KEY,"
      " name VARCHAR(255) NOT NULL,"
      " checksum BIGINT UNSIGNED NOT NULL,"
      " applied_at DATETIME(6) NOT NULL"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"));
  KEFU_RETURN_IF_ERROR(session.ExecRaw(
      "CREATE TABLE IF NOT EXISTS idempotency_keys ("
      " scope VARCHAR(64) NOT NULL,"
      " request_id VARCHAR(64) NOT NULL,"
      " fingerprint BIGINT UNSIGNED NOT NULL,"
      " resource_id VARCHAR(64) NOT NULL DEFAULT '',"
      " response MEDIUMTEXT CHARACTER SET ascii NULL,"
      " create_time DATETIME(6) NOT NULL,"
      " PRIMARY KEY (scope, request_id),"
      " KEY idx_idempotency_time (create_time)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"));
  // Schemas created before state-changing calls stored their responses.
  KEFU_ASSIGN_OR_RETURN(
      auto has_response,
      session.QueryOne("SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                       "AND TABLE_NAME = 'idempotency_keys' AND COLUMN_NAME = 'response'",
                       {}));
  if (!has_response)
    KEFU_RETURN_IF_ERROR(session.ExecRaw(
        "ALTER TABLE idempotency_keys ADD COLUMN response MEDIUMTEXT CHARACTER SET ascii NULL "
        "AFTER resource_id"));

  // The outbox (kefu/outbox.h): messages for other services, written in the same
  // transaction as the change that caused them.
  KEFU_RETURN_IF_ERROR(session.ExecRaw(
      "CREATE TABLE IF NOT EXISTS outbox ("
      " id BIGINT NOT NULL AUTO_INCREMENT,"
      " target VARCHAR(64) NOT NULL,"
      " request_id VARCHAR(64) NOT NULL,"
      " payload BLOB NOT NULL,"
      " attempts INT NOT NULL DEFAULT 0,"
      " next_attempt_time DATETIME(6) NOT NULL,"
      " delivered_time DATETIME(6) NULL,"
      " last_error VARCHAR(500) NOT NULL DEFAULT '',"
      " create_time DATETIME(6) NOT NULL,"
      " PRIMARY KEY (id),"
      " UNIQUE KEY uk_outbox_request (request_id),"
      " KEY idx_outbox_pending (delivered_time, next_attempt_time)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"));

  // Small administrator-edited settings (deadline policy, approval rules), each one
  // serialized message with a version for optimistic concurrency (db/settings.h).
  KEFU_RETURN_IF_ERROR(session.ExecRaw(
      "CREATE TABLE IF NOT EXISTS service_settings ("
      " name VARCHAR(64) NOT NULL,"
      " value BLOB NOT NULL,"
      " version BIGINT NOT NULL,"
      " update_time DATETIME(6) NOT NULL,"
      " PRIMARY KEY (name)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"));

  // The audit trail (security/audit.h). Append-only: nothing in the code updates or
  // deletes it; production grants can make that hold for people too.
  KEFU_RETURN_IF_ERROR(session.ExecRaw(
      "CREATE TABLE IF NOT EXISTS audit_log ("
      " id BIGINT NOT NULL AUTO_INCREMENT,"
      " occurred_at DATETIME(6) NOT NULL,"
      " actor VARCHAR(64) NOT NULL,"
      " actor_roles VARCHAR(200) NOT NULL,"
      " via_service VARCHAR(64) NOT NULL,"
      " method VARCHAR(200) NOT NULL,"
      " kind VARCHAR(32) NOT NULL,"
      " record_id VARCHAR(64) NOT NULL,"
      " fields VARCHAR(1000) NOT NULL,"
      " request_id VARCHAR(128) NOT NULL,"
      " PRIMARY KEY (id),"
      " KEY idx_audit_actor (actor, id),"
      " KEY idx_audit_record (record_id, id),"
      " KEY idx_audit_time (occurred_at)"
      ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"));
  // Replicas starting together take turns; the lock is per schema.
  KEFU_ASSIGN_OR_RETURN(auto locked,
                        session.QueryOne("SELECT GET_LOCK(CONCAT(DATABASE(), '.migrate'), 60)"));
  if (!locked || locked->Int(0) != 1)
    return absl::UnavailableError("could not take the migration lock within 60s");

  absl::Status result = [&]() -> absl::Status {
    KEFU_ASSIGN_OR_RETURN(auto rows, session.Query("SELECT version, checksum FROM schema_migrations"));
    std::map<int, uint64_t> applied;
    for (const auto& r : rows) applied[static_cast<int>(r.Int(0))] = r.Uint(1);
    for (const auto& m : migrations) {
      uint64_t checksum = Fingerprint(m.sql);
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second != checksum)
          return absl::FailedPreconditionError(
              absl::StrCat("migration ", m.name, " changed after it was applied"));
        continue;
      }
      for (const auto& stmt : SplitSqlStatements(m.sql)) {
        absl::Status s = session.ExecRaw(stmt);
        if (!s.ok()) {
          log::Error("migration failed", {{"migration", m.name}, {"error", s.ToString()}});
          return s;
        }
      }
      KEFU_RETURN_IF_ERROR(
          session
              .Exec("INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    {m.version, m.name, checksum, ToSqlTime(absl::Now())})
              .status());
      log::Info("migration applied", {{"migration", m.name}, {"version", m.version}});
    }
    return absl::OkStatus();
  }();
  (void)session.Query("SELECT RELEASE_LOCK(CONCAT(DATABASE(), '.migrate'))");
  return result;
}

absl::StatusOr<std::optional<std::string>> ClaimRequestId(Session& session, absl::string_view scope,
                                                          absl::string_view request_id,
                                                          uint64_t request_fingerprint) {
  auto inserted = session.Exec(
      "INSERT INTO idempotency_keys (scope, request_id, fingerprint, resource_id, create_time) "
      "VALUES (?, ?, ?, '', ?)",
      {scope, request_id, request_fingerprint, ToSqlTime(absl::Now())});
  if (inserted.ok()) return std::optional<std::string>();
  if (inserted.status().code() != absl::StatusCode::kAlreadyExists) return inserted.status();
  // The insert waited for the first request's transaction; a locking read sees its commit.
  KEFU_ASSIGN_OR_RETURN(
      auto row, session.QueryOne("SELECT fingerprint, resource_id FROM idempotency_keys "
                                 "WHERE scope = ? AND request_id = ? LOCK IN SHARE MODE",
                                 {scope, request_id}));
  if (!row) return absl::AbortedError("request id claim vanished; retry");
  if (row->Uint(0) != request_fingerprint)
    return MakeError(absl::StatusCode::kFailedPrecondition, reason::kRequestIdReused,
                     "request_id: was already used for a different request",
                     {{"request_id", "was already used for a different request"}});
  return std::optional<std::string>(row->Str(1));
}

absl::StatusOr<bool> ClaimNewRequestIds(Session& session, absl::string_view scope,
                                        const std::vector<const IdempotencyKey*>& keys) {
  std::string now = ToSqlTime(absl::Now());
  // In chunks of powers of two (50 keys: 32 + 16 + 2), so that batches of any size use
  // a few cached statements.
  std::vector<std::string> claimed;
  for (size_t at = 0; at < keys.size();) {
    size_t n = 1;
    while (n * 2 <= keys.size() - at) n *= 2;
    std::string sql =
        "INSERT INTO idempotency_keys (scope, request_id, fingerprint, resource_id, create_time) VALUES ";
    std::vector<Param> params;
    for (size_t i = 0; i < n; ++i) {
      const IdempotencyKey& key = *keys[at + i];
      absl::StrAppend(&sql, i ? ", " : "", "(?, ?, ?, '', ?)");
      params.emplace_back(scope);
      params.emplace_back(key.request_id);
      params.emplace_back(key.fingerprint);
      params.emplace_back(now);
    }
    auto inserted = session.Exec(sql, params);
    if (!inserted.ok()) {
      if (inserted.status().code() != absl::StatusCode::kAlreadyExists) return inserted.status();
      // InnoDB undid the failed statement's rows; the chunks before it are this
      // transaction's own claims, taken back so that the keys can be claimed one by one.
      if (!claimed.empty()) {
        std::vector<Param> undo{scope};
        std::string list = InList(undo, claimed);
        KEFU_RETURN_IF_ERROR(
            session.Exec(absl::StrCat("DELETE FROM idempotency_keys WHERE scope = ? AND request_id IN (", list, ")"),
                         undo)
                .status());
      }
      return false;
    }
    for (size_t i = 0; i < n; ++i) claimed.push_back(keys[at + i]->request_id);
    at += n;
  }
  return true;
}

absl::Status CompleteRequestIds(Session& session, absl::string_view scope,
                                const std::vector<std::pair<std::string, std::string>>& completed) {
  if (completed.empty()) return absl::OkStatus();
  // Padded to a power of two (repeating the first pair changes nothing) so batches of
  // any size reuse a few cached statements.
  size_t n = 1;
  while (n < completed.size()) n *= 2;
  std::string sql = "UPDATE idempotency_keys SET resource_id = CASE request_id";
  std::vector<Param> params;
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) {
    const auto& [request_id, resource_id] = completed[i < completed.size() ? i : 0];
    absl::StrAppend(&sql, " WHEN ? THEN ?");
    params.emplace_back(request_id);
    params.emplace_back(resource_id);
    ids.push_back(request_id);
  }
  absl::StrAppend(&sql, " ELSE resource_id END WHERE scope = ? AND request_id IN (");
  params.emplace_back(scope);
  absl::StrAppend(&sql, InList(params, ids), ")");
  return session.Exec(sql, params).status();
}

absl::StatusOr<std::optional<std::string>> ClaimRequestResponse(Session& session,
                                                               absl::string_view scope,
                                                               const IdempotencyKey& key) {
  KEFU_ASSIGN_OR_RETURN(auto first, ClaimRequestId(session, scope, key.request_id, key.fingerprint));
  if (!first) return std::optional<std::string>();
  KEFU_ASSIGN_OR_RETURN(auto row, session.QueryOne("SELECT response FROM idempotency_keys "
                                                   "WHERE scope = ? AND request_id = ?",
                                                   {scope, key.request_id}));
  // Claimed by a version of the service that kept no response for this call.
  if (!row || row->IsNull(0))
    return MakeError(absl::StatusCode::kFailedPrecondition, reason::kRequestIdReused,
                     "request_id: was used by an earlier request whose result was not kept; use a new id",
                     {{"request_id", "was used by an earlier request whose result was not kept"}});
  std::string response;
  if (!absl::Base64Unescape(row->Str(0), &response))
    return absl::InternalError("stored response of an earlier request is unreadable");
  return std::optional<std::string>(std::move(response));
}

absl::Status StoreRequestResponse(Session& session, absl::string_view scope,
                                  absl::string_view request_id, absl::string_view response) {
  return session
      .Exec("UPDATE idempotency_keys SET response = ? WHERE scope = ? AND request_id = ?",
            {absl::Base64Escape(response), scope, request_id})
      .status();
}

absl::StatusOr<int64_t> PurgeRequestIds(Session& session, absl::Time older_than, int64_t limit) {
  KEFU_ASSIGN_OR_RETURN(auto r, session.Exec("DELETE FROM idempotency_keys WHERE create_time < ? "
                                             "ORDER BY create_time LIMIT ?",
                                             {ToSqlTime(older_than), limit}));
  return r.affected_rows;
}

absl::StatusOr<int64_t> PurgeInBatches(Pool& pool, int64_t batch, const PurgeBatch& purge,
                                       const std::function<bool()>& stop) {
  int64_t removed = 0;
  while (!stop()) {
    // READ COMMITTED: a DELETE's range scan under REPEATABLE READ also locks the gap after
    // the last row it removes, where the outbox's new (undelivered) rows go.
    KEFU_ASSIGN_OR_RETURN(int64_t n, pool.InTransaction<int64_t>(
                                         Isolation::kReadCommitted, [&](Session& session) { return purge(session, batch); }));
    removed += n;
    if (n < batch) break;
  }
  return removed;
}

absl::Status CompleteRequestId(Session& session, absl::string_view scope,
                               absl::string_view request_id, absl::string_view resource_id) {
  return session
      .Exec("UPDATE idempotency_keys SET resource_id = ? WHERE scope = ? AND request_id = ?",
            {resource_id, scope, request_id})
      .status();
}

}  // namespace kefu::db
