#include "kefu/outbox.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "kefu/errors.h"
#include "kefu/log.h"

namespace kefu::outbox {

absl::Status Enqueue(db::Session& session, absl::string_view target, absl::string_view request_id,
                     const google::protobuf::Message& payload, absl::Time now) {
  return session
      .Exec("INSERT INTO outbox (target, request_id, payload, next_attempt_time, create_time) "
            "VALUES (?, ?, ?, ?, ?)",
            {target, request_id, payload.SerializeAsString(), ToSqlTime(now), ToSqlTime(now)})
      .status();
}

Relay::Relay(db::Pool* pool, const Clock* clock, prometheus::Registry& registry)
    : pool_(pool),
      clock_(clock),
      delivered_family_(prometheus::BuildCounter()
                            .Name("kefu_outbox_delivered_total")
                            .Help("Outbox messages delivered to their target service.")
                            .Register(registry)),
      failed_family_(prometheus::BuildCounter()
                         .Name("kefu_outbox_delivery_failures_total")
                         .Help("Failed outbox delivery attempts (retried with backoff).")
                         .Register(registry)),
      pending_(prometheus::BuildGauge()
                   .Name("kefu_outbox_pending")
                   .Help("Outbox messages not yet delivered.")
                   .Register(registry)
                   .Add({})) {}

void Relay::Register(const std::string& target, Handler handler) {
  handlers_[target] = std::move(handler);
  delivered_[target] = &delivered_family_.Add({{"target", target}});
  failed_[target] = &failed_family_.Add({{"target", target}});
}

absl::Duration Relay::Backoff(int attempts) {
  int shift = std::min(attempts, 9);  // 2^9 s > 5 min
  return std::min(absl::Seconds(int64_t{1} << shift), absl::Minutes(5));
}

absl::StatusOr<int> Relay::DeliverDue(int batch) {
  int delivered = 0;
  absl::Status s = pool_->InTransaction([&](db::Session& session) -> absl::Status {
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(
        auto rows, session.Query("SELECT id, target, request_id, payload, attempts FROM outbox "
                                 "WHERE delivered_time IS NULL AND next_attempt_time <= ? "
                                 "ORDER BY next_attempt_time, id LIMIT ? FOR UPDATE SKIP LOCKED",
                                 {ToSqlTime(now), batch}));
    // A target that just failed transiently is skipped for the rest of this round:
    // one timeout per round, not one per message, while it is down.
    std::set<std::string> down;
    for (const auto& r : rows) {
      int64_t id = r.Int(0);
      const std::string& target = r.Str(1);
      if (down.count(target)) continue;
      auto handler = handlers_.find(target);
      absl::Status result = handler == handlers_.end()
                                ? absl::FailedPreconditionError(absl::StrCat("no handler for ", target))
                                : handler->second(r.Str(2), r.Str(3));
      if (result.ok()) {
        KEFU_RETURN_IF_ERROR(session.Exec("UPDATE outbox SET delivered_time = ?, attempts = attempts + 1 WHERE id = ?",
                                          {ToSqlTime(clock_->Now()), id})
                                 .status());
        if (auto c = delivered_.find(target); c != delivered_.end()) c->second->Increment();
        ++delivered;
        continue;
      }
      int attempts = static_cast<int>(r.Int(4)) + 1;
      bool transient = result.code() == absl::StatusCode::kUnavailable ||
                       result.code() == absl::StatusCode::kDeadlineExceeded ||
                       result.code() == absl::StatusCode::kAborted ||
                       result.code() == absl::StatusCode::kResourceExhausted;
      if (transient) down.insert(target);
      log::Write(transient ? log::Level::kWarn : log::Level::kError, "outbox delivery failed",
                 {{"target", target}, {"outbox_id", id}, {"attempts", attempts}, {"error", result.ToString()}});
      if (auto c = failed_.find(target); c != failed_.end()) c->second->Increment();
      KEFU_RETURN_IF_ERROR(session.Exec("UPDATE outbox SET attempts = ?, next_attempt_time = ?, last_error = ? WHERE id = ?",
                                        {attempts, ToSqlTime(clock_->Now() + Backoff(attempts)),
                                         std::string(result.message()).substr(0, 500), id})
                               .status());
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return delivered;
}

absl::StatusOr<int> Relay::DeliverAllDue(const std::function<bool()>& stop, int batch) {
  int delivered = 0;
  for (int round = 1; !stop(); ++round) {
    KEFU_ASSIGN_OR_RETURN(int n, DeliverDue(batch));
    delivered += n;
    if (n < batch) break;
    // A long backlog: keep kefu_outbox_pending moving while it drains.
    if (round % 20 == 0) (void)Pending();
  }
  return delivered;
}

void Relay::Tick(const std::function<bool()>& stop) {
  if (auto n = DeliverAllDue(stop); !n.ok())
    log::Warn("outbox delivery round failed", {{"error", n.status().ToString()}});
  (void)Pending();
}

absl::StatusOr<int64_t> PurgeDelivered(db::Session& session, absl::Time older_than, int64_t limit) {
  KEFU_ASSIGN_OR_RETURN(auto r, session.Exec("DELETE FROM outbox WHERE delivered_time IS NOT NULL "
                                             "AND delivered_time < ? ORDER BY delivered_time LIMIT ?",
                                             {ToSqlTime(older_than), limit}));
  return r.affected_rows;
}

absl::StatusOr<int64_t> Relay::Pending() {
  KEFU_ASSIGN_OR_RETURN(db::Session s, pool_->Acquire());
  KEFU_ASSIGN_OR_RETURN(auto row, s.QueryOne("SELECT COUNT(*) FROM outbox WHERE delivered_time IS NULL"));
  int64_t n = row ? row->Int(0) : 0;
  pending_.Set(static_cast<double>(n));
  return n;
}

}  // namespace kefu::outbox
