#pragma once
// Transactional outbox: a service that must tell another service about a change
// (append to the customer log, request a draft contract) writes the message in the
// same transaction as the change, and a relay delivers it in the background until the
// receiver acknowledges. Nothing is lost while the receiver is down; a message may be
// delivered more than once, so receivers deduplicate by its request_id (every kefu
// create honours request_id).
//
// Several replicas can run the relay at once: each claims due rows with
// SELECT ... FOR UPDATE SKIP LOCKED, so a message is in flight on one replica at a time.
// The claim is READ COMMITTED (db::Isolation), so it locks those rows and not the gap
// where writes queue new messages while the round delivers.

#include <google/protobuf/message.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kefu/db/db.h"
#include "kefu/time_util.h"

namespace kefu::outbox {

// Adds a message inside the caller's transaction. request_id is the receiver's
// idempotency key and must be unique per message (e.g. "complaints.log.<event id>").
// Once the transaction commits, the enqueue listener (below) is told.
absl::Status Enqueue(db::Session& session, absl::string_view target, absl::string_view request_id,
                     const google::protobuf::Message& payload, absl::Time now);

// Delivers one message: returns OK once the receiver has it. UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED and RESOURCE_EXHAUSTED are retried with backoff; other
// errors too, but they are logged as errors since a retry will likely fail again.
using Handler = std::function<absl::Status(const std::string& request_id, const std::string& payload)>;

// Delivers several messages for one target in one call, all or none (a receiver's batch
// RPC, one transaction there instead of one per message).
struct Message {
  std::string request_id;
  std::string payload;
};
using BatchHandler = std::function<absl::Status(const std::vector<Message>& messages)>;

// Forgets up to `limit` messages delivered before `older_than`: a receiver remembers a
// request id as long (--request_id_retention_h), so a redelivery after that would not be
// recognised anyway. Messages not yet delivered are kept however old. Returns how many
// were removed.
absl::StatusOr<int64_t> PurgeDelivered(db::Session& session, absl::Time older_than, int64_t limit);

// Called after each commit of a transaction that enqueued a message in this process;
// Server::AddOutboxRelay sets it to the relay task's wake. Empty: nobody is told.
void SetEnqueueListener(std::function<void()> listener);

class Relay {
 public:
  Relay(db::Pool* pool, const Clock* clock, prometheus::Registry& registry);
  // With a batch handler, a round's messages for the target go in one call; if that
  // fails for a reason other than the receiver being unavailable (one bad message fails
  // the whole batch), they go one by one through `handler`, so only the bad one waits.
  void Register(const std::string& target, Handler handler, BatchHandler batch = nullptr);
  // Delivers up to `batch` due messages in one transaction; returns how many were delivered.
  absl::StatusOr<int> DeliverDue(int batch = 50);
  // Delivers what is due round after round (each a DeliverDue of `batch`), until a round
  // finds less than a full batch due, a receiver is unavailable, a round delivers nothing
  // (every message in it failed: each now waits for its retry), or `stop` says so
  // (shutdown). One round per tick would cap a replica at `batch` messages per
  // --outbox_interval_ms, 50 a second, whatever the receiver's pace: complaints takes
  // work orders thirty times faster, and the customer log fell behind for good.
  absl::StatusOr<int> DeliverAllDue(const std::function<bool()>& stop, int batch = 50);
  // The relay task's tick: DeliverAllDue, a warning if a round failed, and the pending
  // gauge refreshed (at most once a second: a tick can follow every commit).
  void Tick(const std::function<bool()>& stop);

  // Messages not yet delivered (refreshes the pending gauge).
  absl::StatusOr<int64_t> Pending();

  // Retry delay after `attempts` failures: 1 s, 2 s, 4 s ... capped at 5 minutes.
  static absl::Duration Backoff(int attempts);

 private:
  db::Pool* pool_;
  const Clock* clock_;
  struct Round {
    int claimed = 0;
    int delivered = 0;
    bool receiver_down = false;  // a transient failure: the rest can wait for the next tick
  };
  absl::StatusOr<Round> DeliverRound(int batch);
  // A round's messages for one target, in order: its batch call, or one call each.
  absl::Status DeliverTo(db::Session& session, const std::string& target, const std::vector<const db::Row*>& rows,
                         Round* round);
  absl::Status MarkDelivered(db::Session& session, const std::string& target, const std::vector<int64_t>& ids);
  absl::Status MarkFailed(db::Session& session, const std::string& target, const db::Row& row,
                          const absl::Status& result, bool log);

  std::map<std::string, Handler> handlers_;
  std::map<std::string, BatchHandler> batch_handlers_;
  std::map<std::string, prometheus::Counter*> delivered_;
  std::map<std::string, prometheus::Counter*> failed_;
  prometheus::Family<prometheus::Counter>& delivered_family_;
  prometheus::Family<prometheus::Counter>& failed_family_;
  prometheus::Gauge& pending_;
  absl::Time pending_counted_at_ = absl::InfinitePast();  // real time; Tick's thread only
};

}  // namespace kefu::outbox
