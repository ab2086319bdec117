#include "kefu/security/audit.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/field_mask.pb.h>
#include <google/protobuf/message.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kefu/errors.h"
#include "kefu/handler.h"
#include "kefu/log.h"
#include "kefu/paging.h"
#include "kefu/request_context.h"
#include "kefu/security/access_policy.h"
#include "kefu/time_util.h"
#include "kefu/validation.h"

namespace kefu::security {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using grpc::experimental::InterceptionHookPoints;

constexpr size_t kBatchRows = 500;

// Names of the fields a request sets: the update mask when it has one, otherwise every
// populated field, one level into nested messages ("customer.name"). Bookkeeping fields
// are left out; values never leave the message.
std::vector<std::string> FieldsSet(const Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  if (const auto* mask_field = d->FindFieldByName("update_mask");
      mask_field && mask_field->message_type() &&
      mask_field->message_type()->full_name() == "google.protobuf.FieldMask" && r->HasField(m, mask_field)) {
    const auto& mask = static_cast<const google::protobuf::FieldMask&>(r->GetMessage(m, mask_field));
    return {mask.paths().begin(), mask.paths().end()};
  }
  std::vector<const FieldDescriptor*> set;
  r->ListFields(m, &set);
  std::vector<std::string> out;
  for (const auto* f : set) {
    if (f->name() == "request_id" || f->name() == "version" || f->name() == "page_token" ||
        f->name() == "page_size")
      continue;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated() &&
        f->message_type()->file()->package().rfind("kefu.", 0) == 0) {
      std::vector<const FieldDescriptor*> inner;
      const Message& sub = r->GetMessage(m, f);
      sub.GetReflection()->ListFields(sub, &inner);
      for (const auto* g : inner) out.push_back(absl::StrCat(f->name(), ".", g->name()));
      if (inner.empty()) out.push_back(f->name());
    } else {
      out.push_back(f->name());
    }
  }
  return out;
}

std::string ScalarId(const Message& m, const FieldDescriptor* f) {
  if (!f || f->is_repeated()) return "";
  const auto* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = r->GetInt64(m, f);
      return v ? absl::StrCat(v) : "";
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v = r->GetInt32(m, f);
      return v ? absl::StrCat(v) : "";
    }
    case FieldDescriptor::CPPTYPE_STRING: return r->GetString(m, f).substr(0, 64);
    default: return "";
  }
}

// The record a call acted on: the response's own id (a created or returned record),
// else the request's first id field ("customer_id", "work_order_id", "id").
std::string RecordId(const Message* request, const Message* response) {
  if (response) {
    if (auto id = ScalarId(*response, response->GetDescriptor()->FindFieldByName("id")); !id.empty())
      return id;
  }
  if (!request) return "";
  const auto* d = request->GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->name() == "id" || (f->name().size() > 3 && f->name().rfind("_id") == f->name().size() - 3 &&
                              f->name() != "request_id")) {
      if (auto id = ScalarId(*request, f); !id.empty()) return id;
    }
  }
  return "";
}

class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(AuditLog* log, grpc::experimental::ServerRpcInfo* info, Access access)
      : log_(log), info_(info), access_(access) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      // Who is calling, taken once at the start: a long stream may outlive its token.
      caller_ = CallerFrom(*static_cast<grpc::ServerContext*>(info_->server_context()));
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Generated messages derive only from Message, so the payload is one.
      if (auto* msg = static_cast<const Message*>(methods->GetRecvMessage())) {
        ++messages_;
        if (messages_ == 1) {
          fields_ = absl::StrJoin(FieldsSet(*msg), ",");
          request_record_ = RecordId(msg, nullptr);
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      ++sent_;
      if (record_.empty()) {
        if (auto* msg = static_cast<const Message*>(methods->GetSendMessage()))
          record_ = RecordId(nullptr, msg);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      // A write counts once it succeeded; personal data counts once any of it was sent,
      // also when the client cancels an export halfway.
      bool counts = methods->GetSendStatus().ok() || (access_ == Access::kPersonalDataRead && sent_ > 0);
      if (counts) {
        const Caller& caller = caller_;
        AuditRecord rec;
        rec.time = absl::Now();
        rec.actor = caller.staff_id;
        rec.actor_roles = absl::StrJoin(caller.roles, ",");
        rec.via_service = caller.service;
        rec.method = info_->method();
        rec.kind = access_ == Access::kWrite ? "write" : "personal_data_read";
        rec.record_id = record_.empty() ? request_record_ : record_;
        rec.fields = messages_ > 1 ? absl::StrCat("messages=", messages_, ";", fields_) : fields_;
        if (sent_ > 1) rec.fields = absl::StrCat(rec.fields, rec.fields.empty() ? "" : ";", "sent=", sent_);
        rec.request_id = caller.request_id;
        log_->Record(std::move(rec));
      }
    }
    methods->Proceed();
  }

 private:
  AuditLog* log_;
  grpc::experimental::ServerRpcInfo* info_;
  Access access_;
  int messages_ = 0;
  int sent_ = 0;
  Caller caller_;
  std::string fields_, request_record_, record_;
};

class AuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AuditInterceptorFactory(AuditLog* log) : log_(log) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const MethodPolicy* policy = PolicyFor(info->method());
    if (!policy || (policy->access != Access::kWrite && policy->access != Access::kPersonalDataRead))
      return nullptr;
    return new AuditInterceptor(log_, info, policy->access);
  }

 private:
  AuditLog* log_;
};

}  // namespace

AuditLog::AuditLog(db::Pool* pool, prometheus::Registry* registry, absl::Duration flush_interval,
                   size_t max_queue)
    : pool_(pool), flush_interval_(flush_interval), max_queue_(max_queue) {
  auto& family = prometheus::BuildCounter()
                     .Name("kefu_audit_records_total")
                     .Help("Audit rows written and dropped (queue full); failed counts batch writes that failed and wait for a retry.")
                     .Register(*registry);
  written_ = &family.Add({{"outcome", "written"}});
  dropped_ = &family.Add({{"outcome", "dropped"}});
  failures_ = &family.Add({{"outcome", "failed"}});
  thread_ = std::thread([this] { Loop(); });
}

AuditLog::~AuditLog() { Stop(); }

void AuditLog::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  (void)Flush();
}

void AuditLog::Record(AuditRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  if (queue_.size() >= max_queue_) {
    dropped_->Increment();
    return;
  }
  queue_.push_back(std::move(record));
  if (queue_.size() >= kBatchRows) cv_.notify_one();
}

void AuditLog::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Duration backoff = absl::ZeroDuration();
  while (!stopping_) {
    if (backoff > absl::ZeroDuration()) {
      // The database failed: wait before trying again, whatever the queue holds.
      cv_.wait_for(lock, absl::ToChronoNanoseconds(backoff), [this] { return stopping_; });
    } else {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(flush_interval_),
                   [this] { return stopping_ || queue_.size() >= kBatchRows; });
    }
    if (queue_.empty() || stopping_) continue;
    lock.unlock();
    bool ok = Flush().ok();
    lock.lock();
    backoff = ok ? absl::ZeroDuration() : std::min(absl::Seconds(5), std::max(flush_interval_, backoff * 2));
  }
}

absl::Status AuditLog::Flush() {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  while (true) {
    std::vector<AuditRecord> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (!queue_.empty() && batch.size() < kBatchRows) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (batch.empty()) return absl::OkStatus();
    size_t n = batch.size();
    absl::Status s = WriteBatch(batch);
    if (!s.ok()) {
      // Back to the front of the queue, in order, for the next attempt; what no longer
      // fits is dropped and counted.
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
      while (queue_.size() > max_queue_) {
        queue_.pop_back();
        dropped_->Increment();
      }
      failures_->Increment();
      log::Error("audit rows not written yet", {{"rows", static_cast<int64_t>(n)}, {"error", s.ToString()}});
      return s;
    }
    written_->Increment(static_cast<double>(n));
  }
}

absl::Status AuditLog::WriteBatch(const std::vector<AuditRecord>& batch) {
  // Rows go in statements of 100, 10 and 1 rows, so each pooled connection prepares at
  // most three audit statements: one statement per batch size would leave hundreds of
  // prepared statements (each with buffers for thousands of parameters) in the
  // connections' caches, and the process would keep growing.
  return pool_->InTransaction([&](db::Session& session) -> absl::Status {
    size_t next = 0;
    for (size_t chunk : {size_t{100}, size_t{10}, size_t{1}}) {
      while (batch.size() - next >= chunk) {
        std::string sql =
            "INSERT INTO audit_log (occurred_at, actor, actor_roles, via_service, method, kind, record_id,"
            " fields, request_id) VALUES ";
        std::vector<db::Param> params;
        params.reserve(chunk * 9);
        for (size_t i = 0; i < chunk; ++i) {
          absl::StrAppend(&sql, i ? "," : "", "(?,?,?,?,?,?,?,?,?)");
          const auto& r = batch[next + i];
          params.emplace_back(ToSqlTime(r.time));
          params.emplace_back(r.actor);
          params.emplace_back(r.actor_roles);
          params.emplace_back(r.via_service);
          params.emplace_back(r.method);
          params.emplace_back(r.kind);
          params.emplace_back(r.record_id);
          params.emplace_back(Utf8Prefix(r.fields, 1000));
          params.emplace_back(r.request_id);
        }
        auto res = session.Exec(sql, params);
        if (!res.ok()) return res.status();
        next += chunk;
      }
    }
    return absl::OkStatus();
  });
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> AuditLog::InterceptorFactory() {
  return std::make_unique<AuditInterceptorFactory>(this);
}

grpc::Status AuditServiceImpl::ListAuditEntries(grpc::ServerContext* /*ctx*/,
                                                const audit::v1::ListAuditEntriesRequest* req,
                                                audit::v1::ListAuditEntriesResponse* resp) {
  return RunHandler([&]() -> absl::Status {
    Validator v;
    v.Merge(CheckText("actor", req->actor(), 64, false));
    v.Merge(CheckText("method", req->method(), 200, false));
    v.Merge(CheckText("record_id", req->record_id(), 64, false));
    if (req->page_size() < 0) v.Add("page_size", "must not be negative");
    KEFU_RETURN_IF_ERROR(v.Finish());
    audit::v1::ListAuditEntriesRequest filters = *req;
    filters.clear_page_token();
    filters.clear_page_size();
    uint64_t fp = MessageFingerprint(filters);
    std::string sql =
        "SELECT id, occurred_at, actor, actor_roles, via_service, method, kind, record_id, fields,"
        " request_id FROM audit_log WHERE 1=1";
    std::vector<db::Param> params;
    if (!req->actor().empty()) {
      sql += " AND actor = ?";
      params.emplace_back(req->actor());
    }
    if (!req->method().empty()) {
      if (req->method()[0] == '/') {
        sql += " AND method = ?";
        params.emplace_back(req->method());
      } else {
        sql += " AND method LIKE ?";
        params.emplace_back(absl::StrCat("%/", req->method()));
      }
    }
    if (!req->record_id().empty()) {
      sql += " AND record_id = ?";
      params.emplace_back(req->record_id());
    }
    if (req->has_from_time()) {
      sql += " AND occurred_at >= ?";
      params.emplace_back(ToSqlTime(FromProtoTime(req->from_time())));
    }
    if (req->has_to_time()) {
      sql += " AND occurred_at < ?";
      params.emplace_back(ToSqlTime(FromProtoTime(req->to_time())));
    }
    if (!req->page_token().empty()) {
      KEFU_ASSIGN_OR_RETURN(int64_t last, DecodeIdPageToken(req->page_token(), fp));
      sql += " AND id < ?";
      params.emplace_back(last);
    }
    int32_t size = EffectivePageSize(req->page_size());
    absl::StrAppend(&sql, " ORDER BY id DESC LIMIT ", size + 1);
    KEFU_ASSIGN_OR_RETURN(db::Session session, pool_->Acquire());
    KEFU_ASSIGN_OR_RETURN(auto rows, session.Query(sql, params));
    for (size_t i = 0; i < rows.size() && static_cast<int32_t>(i) < size; ++i) {
      const auto& row = rows[i];
      auto* e = resp->add_entries();
      e->set_id(row.Int(0));
      *e->mutable_time() = ToProtoTime(row.Time(1));
      e->set_actor(row.Str(2));
      e->set_actor_roles(row.Str(3));
      e->set_via_service(row.Str(4));
      e->set_method(row.Str(5));
      e->set_kind(row.Str(6));
      e->set_record_id(row.Str(7));
      for (absl::string_view f : absl::StrSplit(row.Str(8), ',', absl::SkipEmpty()))
        e->add_fields(std::string(f));
      e->set_request_id(row.Str(9));
    }
    if (static_cast<int32_t>(rows.size()) > size)
      resp->set_next_page_token(EncodeIdPageToken(fp, resp->entries(size - 1).id()));
    return absl::OkStatus();
  });
}

}  // namespace kefu::security
