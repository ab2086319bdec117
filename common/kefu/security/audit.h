#pragma once
// The audit trail: every successful write, and every read of customer personal data,
// becomes one append-only row in the owning service's schema (table audit_log):
// who (staff id, roles, the service acting for them), when, which RPC, which record,
// which fields the request set (names only, never values).
//
// Rows are written by a background writer in batches, off the call's path, so auditing
// costs a queue push per call rather than a durable commit. The trade-off: rows queued
// in the last flush interval are lost if the process is killed with SIGKILL (a clean
// shutdown flushes them), and a full queue counts and drops rather than stalling calls.
// While the database is down, rows wait in the queue (up to its size) and are retried
// with backoff.

#include <grpcpp/support/server_interceptor.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "kefu/audit/v1/audit.grpc.pb.h"
#include "kefu/db/db.h"

namespace prometheus {
class Counter;
class Registry;
}  // namespace prometheus

namespace kefu::security {

struct AuditRecord {
  absl::Time time;
  std::string actor, actor_roles, via_service, method, kind, record_id, fields, request_id;
};

class AuditLog {
 public:
  AuditLog(db::Pool* pool, prometheus::Registry* registry,
           absl::Duration flush_interval = absl::Milliseconds(200), size_t max_queue = 100000);
  ~AuditLog();  // flushes what is queued

  void Record(AuditRecord record);
  // Writes everything queued now; for tests and shutdown.
  absl::Status Flush();
  void Stop();

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> InterceptorFactory();

 private:
  void Loop();
  absl::Status WriteBatch(const std::vector<AuditRecord>& batch);

  db::Pool* pool_;
  absl::Duration flush_interval_;
  size_t max_queue_;
  prometheus::Counter* written_;
  prometheus::Counter* dropped_;
  prometheus::Counter* failures_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<AuditRecord> queue_;
  std::mutex write_mu_;  // one batch at a time, in order
  bool stopping_ = false;
  std::thread thread_;
};

// ListAuditEntries over this service's audit_log.
class AuditServiceImpl final : public audit::v1::AuditService::Service {
 public:
  explicit AuditServiceImpl(db::Pool* pool) : pool_(pool) {}
  grpc::Status ListAuditEntries(grpc::ServerContext* ctx, const audit::v1::ListAuditEntriesRequest* req,
                                audit::v1::ListAuditEntriesResponse* resp) override;

 private:
  db::Pool* pool_;
};

}  // namespace kefu::security
