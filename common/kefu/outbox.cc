#include "kefu/outbox.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "kefu/errors.h"
#include "kefu/log.h"

namespace kefu::outbox {

namespace {
std::mutex listener_mu;
std::function<void()>& Listener() {
  static auto* listener = new std::function<void()>;
  return *listener;
}
void TellListener() {
  std::lock_guard<std::mutex> lock(listener_mu);
  if (Listener()) Listener()();
}
}  // namespace

void SetEnqueueListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(listener_mu);
  Listener() = std::move(listener);
}

absl::Status Enqueue(db::Session& session, absl::string_view target, absl::string_view request_id,
                     const google::protobuf::Message& payload, absl::Time now) {
  KEFU_RETURN_IF_ERROR(session
                           .Exec("INSERT INTO outbox (target, request_id, payload, next_attempt_time, create_time) "
                                 "VALUES (?, ?, ?, ?, ?)",
                                 {target, request_id, payload.SerializeAsString(), ToSqlTime(now), ToSqlTime(now)})
                           .status());
  session.OnCommit(TellListener);
  return absl::OkStatus();
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

void Relay::Register(const std::string& target, Handler handler, BatchHandler batch) {
  handlers_[target] = std::move(handler);
  if (batch) batch_handlers_[target] = std::move(batch);
  else batch_handlers_.erase(target);
  delivered_[target] = &delivered_family_.Add({{"target", target}});
  failed_[target] = &failed_family_.Add({{"target", target}});
}

absl::Duration Relay::Backoff(int attempts) {
  int shift = std::min(attempts, 9);  // 2^9 s > 5 min
  return std::min(absl::Seconds(int64_t{1} << shift), absl::Minutes(5));
}

namespace {
// The receiver could not take it now (down, slow, full, a conflict): worth a retry soon,
// and the rest of its messages this round would fare no better.
bool Transient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kDeadlineExceeded ||
         s.code() == absl::StatusCode::kAborted || s.code() == absl::StatusCode::kResourceExhausted;
}
}  // namespace

absl::Status Relay::MarkDelivered(db::Session& session, const std::string& target, const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  // One statement for a batch's messages (the IN list padded to a power of two, so a
  // few statements stay prepared), not one round trip each.
  std::vector<db::Param> params{ToSqlTime(clock_->Now())};
  std::string in = db::InList(params, ids);
  KEFU_RETURN_IF_ERROR(
      session.Exec(absl::StrCat("UPDATE outbox SET delivered_time = ?, attempts = attempts + 1 WHERE id IN (", in, ")"),
                   params)
          .status());
  if (auto c = delivered_.find(target); c != delivered_.end()) c->second->Increment(static_cast<double>(ids.size()));
  return absl::OkStatus();
}

absl::Status Relay::MarkFailed(db::Session& session, const std::string& target, const db::Row& row,
                               const absl::Status& result, bool log) {
  int64_t id = row.Int(0);
  int attempts = static_cast<int>(row.Int(4)) + 1;
  if (log)
    log::Write(Transient(result) ? log::Level::kWarn : log::Level::kError, "outbox delivery failed",
               {{"target", target}, {"outbox_id", id}, {"attempts", attempts}, {"error", result.ToString()}});
  if (auto c = failed_.find(target); c != failed_.end()) c->second->Increment();
  return session
      .Exec("UPDATE outbox SET attempts = ?, next_attempt_time = ?, last_error = ? WHERE id = ?",
            {attempts, ToSqlTime(clock_->Now() + Backoff(attempts)), std::string(result.message()).substr(0, 500), id})
      .status();
}

absl::Status Relay::DeliverTo(db::Session& session, const std::string& target, const std::vector<const db::Row*>& rows,
                              Round* round) {
  auto handler = handlers_.find(target);
  if (handler == handlers_.end()) {
    absl::Status missing = absl::FailedPreconditionError(absl::StrCat("no handler for ", target));
    for (const db::Row* r : rows) KEFU_RETURN_IF_ERROR(MarkFailed(session, target, *r, missing, true));
    return absl::OkStatus();
  }
  if (auto batch = batch_handlers_.find(target); batch != batch_handlers_.end() && rows.size() > 1) {
    std::vector<Message> messages;
    messages.reserve(rows.size());
    for (const db::Row* r : rows) messages.push_back({r->Str(2), r->Str(3)});
    absl::Status result = batch->second(messages);
    if (result.ok()) {
      std::vector<int64_t> ids;
      for (const db::Row* r : rows) ids.push_back(r->Int(0));
      KEFU_RETURN_IF_ERROR(MarkDelivered(session, target, ids));
      round->delivered += static_cast<int>(rows.size());
      return absl::OkStatus();
    }
    if (Transient(result)) {
      // One line for the batch, not one per message; each message backs off.
      log::Warn("outbox delivery failed",
                {{"target", target}, {"messages", static_cast<int64_t>(rows.size())}, {"error", result.ToString()}});
      for (const db::Row* r : rows) KEFU_RETURN_IF_ERROR(MarkFailed(session, target, *r, result, false));
      round->receiver_down = true;
      return absl::OkStatus();
    }
    // A receiver not yet upgraded (UNIMPLEMENTED, during a rolling deploy) is expected;
    // any other refusal means a bad message in the batch.
    log::Write(result.code() == absl::StatusCode::kUnimplemented ? log::Level::kDebug : log::Level::kWarn,
               "outbox batch refused; delivering its messages one by one",
               {{"target", target}, {"messages", static_cast<int64_t>(rows.size())}, {"error", result.ToString()}});
  }
  for (const db::Row* r : rows) {
    absl::Status result = handler->second(r->Str(2), r->Str(3));
    if (result.ok()) {
      KEFU_RETURN_IF_ERROR(MarkDelivered(session, target, {r->Int(0)}));
      ++round->delivered;
      continue;
    }
    KEFU_RETURN_IF_ERROR(MarkFailed(session, target, *r, result, true));
    // Down: one timeout per round, not one per message; the rest stay due.
    if (Transient(result)) {
      round->receiver_down = true;
      break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Relay::DeliverDue(int batch) {
  KEFU_ASSIGN_OR_RETURN(Round round, DeliverRound(batch));
  return round.delivered;
}

absl::StatusOr<Relay::Round> Relay::DeliverRound(int batch) {
  Round round;
  // READ COMMITTED: the round holds its claim while it delivers, a call to another
  // service; under REPEATABLE READ the claim's gap lock would hold every write that queues
  // a message (a new work order, a state change) until the round ends.
  absl::Status s = pool_->InTransaction(db::Isolation::kReadCommitted, [&](db::Session& session) -> absl::Status {
    round = Round();
    absl::Time now = clock_->Now();
    KEFU_ASSIGN_OR_RETURN(
        auto rows, session.Query("SELECT id, target, request_id, payload, attempts FROM outbox "
                                 "WHERE delivered_time IS NULL AND next_attempt_time <= ? "
                                 "ORDER BY next_attempt_time, id LIMIT ? FOR UPDATE SKIP LOCKED",
                                 {ToSqlTime(now), batch}));
    round.claimed = static_cast<int>(rows.size());
    // Per target, in the order claimed.
    std::vector<std::string> targets;
    std::map<std::string, std::vector<const db::Row*>> by_target;
    for (const auto& r : rows) {
      auto& group = by_target[r.Str(1)];
      if (group.empty()) targets.push_back(r.Str(1));
      group.push_back(&r);
    }
    for (const auto& target : targets) KEFU_RETURN_IF_ERROR(DeliverTo(session, target, by_target[target], &round));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return round;
}

absl::StatusOr<int> Relay::DeliverAllDue(const std::function<bool()>& stop, int batch) {
  int delivered = 0;
  for (int rounds = 1; !stop(); ++rounds) {
    KEFU_ASSIGN_OR_RETURN(Round round, DeliverRound(batch));
    delivered += round.delivered;
    if (round.claimed < batch || round.receiver_down || round.delivered == 0) break;
    // A long backlog: keep kefu_outbox_pending moving while it drains.
    if (rounds % 20 == 0) (void)Pending();
  }
  return delivered;
}

void Relay::Tick(const std::function<bool()>& stop) {
  if (auto n = DeliverAllDue(stop); !n.ok())
    log::Warn("outbox delivery round failed", {{"error", n.status().ToString()}});
  // The count reads every undelivered row: once a second is enough for the gauge.
  if (absl::Now() - pending_counted_at_ >= absl::Seconds(1)) {
    pending_counted_at_ = absl::Now();
    (void)Pending();
  }
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
