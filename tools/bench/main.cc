// kefu-bench: load generator for the kefu services and their floors (see README.md here).
// gRPC workloads use the async CompletionQueue API over a generic stub, so one client
// thread keeps N calls in flight without N threads competing with the server for the
// cores; database workloads need a thread per connection because Connector/C++ blocks.
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <google/protobuf/unknown_field_set.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth.h"
#include "histogram.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/db/db.h"
#include "kefu/time_util.h"

ABSL_FLAG(std::string, workload, "health",
          "health | get_customer | create_customer | create_work_order (--target: complaints) | get_work_order "
          "(complaints) | get_project (sales) | get_contract (contracts) | get_staff (performance) | "
          "db_point_select | db_insert | disk_fsync | wakeup (open loop only: the sender's own lateness)");
ABSL_FLAG(std::string, mode, "closed", "closed (fixed concurrency) or open (fixed arrival rate)");
ABSL_FLAG(int, concurrency, 1,
          "Calls in flight (closed); database connections or files (db and disk workloads, both modes).");
ABSL_FLAG(double, rate, 100, "Open loop: calls per second, each timed from its scheduled send time.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measured time, after the warm-up.");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "Calls scheduled in this first period are not recorded.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each gRPC call.");
ABSL_FLAG(int, max_in_flight, 1000, "Open loop: cap on outstanding gRPC calls (late sends still count late).");
ABSL_FLAG(int, client_threads, 1, "gRPC completion-queue threads.");
ABSL_FLAG(std::string, target, "127.0.0.1:50051", "kefu-customers gRPC address.");
ABSL_FLAG(std::string, db_host, "127.0.0.1", "MySQL host (db workloads).");
ABSL_FLAG(int, db_port, 3306, "MySQL port.");
ABSL_FLAG(std::string, db_user, "kefu_customers", "MySQL user; password from KEFU_DB_PASSWORD.");
ABSL_FLAG(std::string, db_name, "kefu_customers", "The customers service's schema.");
ABSL_FLAG(int, db_pool_size, 16, "Pool size, as the service's --db_pool_size (raised to --concurrency).");
ABSL_FLAG(int, setup_customers, 200, "get_customer, create_work_order: customers created before the run.");
ABSL_FLAG(std::string, customers_target, "",
          "create_work_order: the customers service the work orders' customers are created in "
          "(--target is the complaints service).");
ABSL_FLAG(std::string, fsync_dir, ".",
          "disk_fsync: directory for the probe's files (the database's data directory: same disk).");
ABSL_FLAG(std::string, server_api, "grpc++ sync server (kefu::Server)", "Recorded in the conditions.");
ABSL_FLAG(std::string, json, "", "Write the result as JSON to this file.");
ABSL_FLAG(std::string, summary, "", "Append one tab-separated result line to this file (for run-suite.sh).");
ABSL_FLAG(std::string, signing_key, "",
          "Private key that signs the bench's token (default: $KEFU_SIGNING_KEY); the server "
          "runs with --plaintext, so the bench talks plaintext too.");
ABSL_FLAG(bool, check, false, "Exit 1 unless at least one call was made and none failed (smoke tests).");

namespace kefu::bench {
namespace {

namespace pb = customers::v1;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void SleepUntilNs(int64_t t) {
  std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(t)));
}

// What one thread saw; merged after the run.
struct Tally {
  LatencyHistogram hist;  // from each call's intended send time (open loop) or its send (closed)
  std::map<std::string, int64_t> errors;
  int64_t peak_in_flight = 0;  // most calls outstanding at once
  // When the last recorded call ended. A sender that cannot keep to its schedule, or a
  // server that queues, makes the run last longer than --duration; rates are per second
  // of the run as it really went, from the window's start to this.
  int64_t last_done_ns = 0;
  // From the actual send to the answer, split by outcome: under overload the sender
  // falls behind its schedule, and what matters is how fast the server answered, in
  // particular how fast it refused what it could not take.
  LatencyHistogram answered_ok;
  LatencyHistogram refused;  // RESOURCE_EXHAUSTED or UNAVAILABLE
  void Merge(const Tally& o) {
    hist.Merge(o.hist);
    answered_ok.Merge(o.answered_ok);
    refused.Merge(o.refused);
    for (const auto& [k, v] : o.errors) errors[k] += v;
    last_done_ns = std::max(last_done_ns, o.last_done_ns);
  }
};

struct Window {
  int64_t start_ns;   // first recorded schedule time (after warm-up)
  int64_t end_ns;     // nothing is scheduled at or after this
  bool Recorded(int64_t intended) const { return intended >= start_ns; }
};

const char* GrpcCodeName(grpc::StatusCode c) {
  static const char* names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
                                "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                "UNAUTHENTICATED"};
  int i = static_cast<int>(c);
  return i >= 0 && i < 17 ? names[i] : "UNKNOWN";
}

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A run-unique prefix so names and phones never collide with earlier runs on the same
// schema, which would make duplicate detection refuse creates.
std::string RunTag() {
  std::random_device rd;
  return absl::StrFormat("%06u", (rd() ^ static_cast<unsigned>(getpid())) % 1000000);
}

// ---- gRPC workloads ----

// One call's request and how to judge its response.
class RpcWorkload {
 public:
  virtual ~RpcWorkload() = default;
  virtual const char* method() const = 0;
  virtual std::string Request(uint64_t seq) = 0;
  // Empty when the response is right for request `seq`, else why not.
  virtual std::string Check(uint64_t seq, const std::string& response) = 0;
};

class HealthWorkload : public RpcWorkload {
 public:
  const char* method() const override { return "/grpc.health.v1.Health/Check"; }
  std::string Request(uint64_t) override { return ""; }  // service "" = the whole server
  std::string Check(uint64_t, const std::string& response) override {
    google::protobuf::UnknownFieldSet fields;
    if (!fields.ParseFromString(response)) return "unreadable";
    for (int i = 0; i < fields.field_count(); ++i)
      if (fields.field(i).number() == 1 && fields.field(i).varint() == 1) return "";
    return "not SERVING";
  }
};

class GetCustomerWorkload : public RpcWorkload {
 public:
  explicit GetCustomerWorkload(std::vector<int64_t> ids) : ids_(std::move(ids)) {}
  const char* method() const override { return "/kefu.customers.v1.CustomerService/GetCustomer"; }
  std::string Request(uint64_t seq) override {
    pb::GetCustomerRequest req;
    req.set_customer_id(Id(seq));
    return req.SerializeAsString();
  }
  std::string Check(uint64_t seq, const std::string& response) override {
    pb::Customer c;
    if (!c.ParseFromString(response)) return "unreadable";
    return c.id() == Id(seq) ? "" : "wrong id";
  }

 private:
  int64_t Id(uint64_t seq) const { return ids_[seq % ids_.size()]; }
  std::vector<int64_t> ids_;
};

pb::Customer NewCustomer(const std::string& run, uint64_t seq) {
  pb::Customer c;
  c.set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
  c.set_name(absl::StrCat("bench-", run, "-", seq));
  c.set_owner_id("E1001");
  c.set_tier(pb::TIER_STANDARD);
  c.set_lifecycle_stage(pb::LIFECYCLE_STAGE_PROSPECT);
  auto* contact = c.add_contacts();
  contact->set_name("bench");
  contact->set_phone(absl::StrFormat("1%s%010u", run, seq % 10000000000ULL));  // 17 digits, unique
  contact->set_primary(true);
  return c;
}

class CreateCustomerWorkload : public RpcWorkload {
 public:
  const char* method() const override { return "/kefu.customers.v1.CustomerService/CreateCustomer"; }
  std::string Request(uint64_t seq) override {
    pb::CreateCustomerRequest req;
    *req.mutable_customer() = NewCustomer(run_, seq);
    return req.SerializeAsString();
  }
  std::string Check(uint64_t seq, const std::string& response) override {
    pb::Customer c;
    if (!c.ParseFromString(response)) return "unreadable";
    if (c.id() <= 0) return "no id";
    return c.name() == absl::StrCat("bench-", run_, "-", seq) ? "" : "wrong name";
  }

 private:
  std::string run_ = RunTag();
};

// A work order for one of the setup customers: complaints looks up the customer's tier
// in customers, computes the deadlines, and writes the row, its first event, the audit
// row and the outbox message for the customer log, all in one transaction.
class CreateWorkOrderWorkload : public RpcWorkload {
 public:
  explicit CreateWorkOrderWorkload(std::vector<int64_t> customers) : customers_(std::move(customers)) {}
  const char* method() const override { return "/kefu.complaints.v1.ComplaintService/CreateWorkOrder"; }
  std::string Request(uint64_t seq) override {
    complaints::v1::CreateWorkOrderRequest req;
    auto* w = req.mutable_work_order();
    w->set_customer_id(CustomerFor(seq));
    w->set_channel(complaints::v1::CHANNEL_PHONE);
    w->set_type(complaints::v1::WORK_ORDER_TYPE_FAULT_REPORT);
    w->set_severity(complaints::v1::SEVERITY_GENERAL);
    w->set_title(absl::StrCat("bench-", run_, "-", seq));
    w->set_content("设备无法开机，请尽快上门检修");
    w->set_department_id("D-SERVICE");
    return req.SerializeAsString();
  }
  std::string Check(uint64_t seq, const std::string& response) override {
    complaints::v1::WorkOrder w;
    if (!w.ParseFromString(response)) return "unreadable";
    if (w.id() <= 0) return "no id";
    if (w.customer_id() != CustomerFor(seq)) return "wrong customer";
    return w.has_response_deadline() ? "" : "no response deadline";
  }

 private:
  int64_t CustomerFor(uint64_t seq) const { return customers_[seq % customers_.size()]; }
  std::vector<int64_t> customers_;
  std::string run_ = RunTag();
};

const std::string& Authorization() { return bench::Authorization(absl::GetFlag(FLAGS_signing_key)); }

// A read of records the service already holds, the first page of its List call (the demo
// data, in make bench-memory): the bench creates none of them.
template <typename GetRequest, typename Record, typename Id>
class GetExistingWorkload : public RpcWorkload {
 public:
  using SetId = std::function<void(GetRequest*, const Id&)>;
  GetExistingWorkload(std::string method, std::vector<Id> ids, SetId set_id)
      : method_(std::move(method)), ids_(std::move(ids)), set_id_(std::move(set_id)) {}
  const char* method() const override { return method_.c_str(); }
  std::string Request(uint64_t seq) override {
    GetRequest req;
    set_id_(&req, IdFor(seq));
    return req.SerializeAsString();
  }
  std::string Check(uint64_t seq, const std::string& response) override {
    Record r;
    if (!r.ParseFromString(response)) return "unreadable";
    return r.id() == IdFor(seq) ? "" : "wrong id";
  }

 private:
  const Id& IdFor(uint64_t seq) const { return ids_[seq % ids_.size()]; }
  std::string method_;
  std::vector<Id> ids_;
  SetId set_id_;
};


struct Call {
  grpc::ClientContext ctx;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  uint64_t seq = 0;
  int64_t intended_ns = 0;
  int64_t sent_ns = 0;
};

class RpcDriver {
 public:
  RpcDriver(std::shared_ptr<grpc::Channel> channel, RpcWorkload* workload, int threads)
      : stub_(std::move(channel)), workload_(workload), queues_(threads), tallies_(threads) {
    for (auto& q : queues_) q = std::make_unique<grpc::CompletionQueue>();
  }

  Tally Run(bool open, int concurrency, double rate, Window window) {
    window_ = window;
    open_ = open;
    std::vector<std::thread> threads;
    for (size_t t = 0; t < queues_.size(); ++t) threads.emplace_back([this, t] { Poll(t); });
    if (open) {
      // Send i is due at start + i/rate whether or not earlier calls have returned.
      int64_t warm_ns = window.start_ns - static_cast<int64_t>(absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_warmup)));
      int64_t max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
      for (uint64_t i = 0;; ++i) {
        int64_t due = warm_ns + static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate);
        if (due >= window.end_ns) break;
        SleepUntilNs(due);
        while (in_flight_.load() >= max_in_flight) std::this_thread::sleep_for(std::chrono::microseconds(50));
        Start(i % queues_.size(), due);
      }
    } else {
      for (int i = 0; i < concurrency; ++i) Start(i % queues_.size(), NowNs());
    }
    done_issuing_ = true;
    for (auto& t : threads) t.join();
    Tally all;
    for (auto& t : tallies_) all.Merge(t);
    all.peak_in_flight = peak_in_flight_.load();
    return all;
  }

 private:
  void Start(size_t q, int64_t intended) {
    auto* call = new Call;
    call->seq = next_seq_++;
    call->intended_ns = intended;
    call->ctx.AddMetadata("authorization", Authorization());
    call->ctx.set_deadline(std::chrono::system_clock::now() +
                           absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout)));
    call->reader = stub_.PrepareUnaryCall(&call->ctx, workload_->method(),
                                          ToBuffer(workload_->Request(call->seq)), queues_[q].get());
    call->sent_ns = NowNs();
    int64_t now_in_flight = ++in_flight_;
    int64_t peak = peak_in_flight_.load();
    while (now_in_flight > peak && !peak_in_flight_.compare_exchange_weak(peak, now_in_flight)) {
    }
    call->reader->StartCall();
    call->reader->Finish(&call->response, &call->status, call);
  }

  void Poll(size_t q) {
    Tally& tally = tallies_[q];
    auto& cq = *queues_[q];
    for (;;) {
      void* tag;
      bool ok;
      auto r = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(20));
      if (r == grpc::CompletionQueue::GOT_EVENT) {
        std::unique_ptr<Call> call(static_cast<Call*>(tag));
        int64_t now = NowNs();
        if (window_.Recorded(call->intended_ns)) {
          tally.hist.Record(now - call->intended_ns);
          tally.last_done_ns = std::max(tally.last_done_ns, now);
          if (!call->status.ok()) {
            grpc::StatusCode code = call->status.error_code();
            ++tally.errors[GrpcCodeName(code)];
            if (code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::UNAVAILABLE)
              tally.refused.Record(now - call->sent_ns);
          } else {
            std::string why = workload_->Check(call->seq, ToString(call->response));
            if (!why.empty()) ++tally.errors["WRONG_RESPONSE (" + why + ")"];
            else tally.answered_ok.Record(now - call->sent_ns);
          }
        }
        // Closed loop: the completed call's slot sends the next one at once. Counted out
        // first so the peak reports the real in-flight count; a transient zero cannot end
        // this thread early, as it checks again only after this Start.
        --in_flight_;
        if (!open_ && now < window_.end_ns) Start(q, NowNs());
      }
      if (done_issuing_ && in_flight_.load() == 0) break;
    }
  }

  grpc::GenericStub stub_;
  RpcWorkload* workload_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues_;
  std::vector<Tally> tallies_;
  Window window_{};
  bool open_ = false;
  std::atomic<uint64_t> next_seq_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> peak_in_flight_{0};
  std::atomic<bool> done_issuing_{false};
};

// ---- blocking workloads: the database and the disk ----

// One blocking operation; "" when its result is right, else what went wrong.
using ThreadOp = std::function<std::string(uint64_t seq)>;
// Each worker thread's own operation, bound to its own connection or file.
using ThreadOpFactory = std::function<absl::StatusOr<ThreadOp>()>;
using DbOp = std::function<std::string(db::Session&, uint64_t seq)>;

std::string DbError(const absl::Status& s) { return absl::StatusCodeToString(s.code()); }

ThreadOpFactory OnPooledConnection(db::Pool& pool, DbOp op) {
  return [&pool, op = std::move(op)]() -> absl::StatusOr<ThreadOp> {
    auto session = pool.Acquire();
    if (!session.ok()) return session.status();
    auto held = std::make_shared<db::Session>(*std::move(session));
    return ThreadOp([held, op](uint64_t seq) { return op(*held, seq); });
  };
}

// The disk's durable write: 4 KiB rewritten in place in a preallocated file, then
// fdatasync, as a database's log write before a commit returns. Each worker has its own
// file, so workers share the disk, not a file.
ThreadOpFactory DiskFsync(const std::string& dir) {
  return [dir]() -> absl::StatusOr<ThreadOp> {
    static std::atomic<int> files{0};
    std::string path = absl::StrCat(dir, "/kefu-bench-fsync-", getpid(), "-", files++);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("open ", path));
    ::unlink(path.c_str());  // the open descriptor keeps it until the run ends
    constexpr int kBlock = 4096, kBlocks = 256;
    std::string zeros(kBlock, '\0');
    for (int b = 0; b < kBlocks; ++b) {
      if (::pwrite(fd, zeros.data(), kBlock, static_cast<off_t>(b) * kBlock) != kBlock) {
        ::close(fd);
        return absl::UnavailableError("preallocating the probe file");
      }
    }
    ::fsync(fd);
    auto closer = std::shared_ptr<void>(nullptr, [fd](void*) { ::close(fd); });
    return ThreadOp([fd, closer](uint64_t seq) -> std::string {
      char block[kBlock];
      std::memset(block, static_cast<int>(seq & 0xff), sizeof block);
      off_t at = static_cast<off_t>(seq % kBlocks) * kBlock;
      if (::pwrite(fd, block, kBlock, at) != kBlock) return "WRITE_FAILED";
      if (::fdatasync(fd) != 0) return "FDATASYNC_FAILED";
      return "";
    });
  };
}

Tally RunThreads(const ThreadOpFactory& make_op, bool open, int threads, double rate, Window window) {
  std::vector<Tally> tallies(threads);
  std::vector<std::thread> workers;
  std::atomic<uint64_t> next{0};
  int64_t warm_ns = window.start_ns - absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_warmup));
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Tally& tally = tallies[t];
      auto op = make_op();
      if (!op.ok()) {
        ++tally.errors[absl::StrCat("SETUP ", DbError(op.status()))];
        return;
      }
      for (;;) {
        uint64_t seq = next++;
        int64_t intended;
        if (open) {
          // Workers share one schedule; a late worker starts its call late but the
          // clock started at the due time, so queueing shows in the latency.
          intended = warm_ns + static_cast<int64_t>(static_cast<double>(seq) * 1e9 / rate);
          if (intended >= window.end_ns) break;
          SleepUntilNs(intended);
        } else {
          intended = NowNs();
          if (intended >= window.end_ns) break;
        }
        std::string why = (*op)(seq);
        int64_t now = NowNs();
        if (!window.Recorded(intended)) continue;
        tally.hist.Record(now - intended);
        tally.last_done_ns = std::max(tally.last_done_ns, now);
        if (!why.empty()) ++tally.errors[why];
      }
    });
  }
  for (auto& w : workers) w.join();
  Tally all;
  for (auto& t : tallies) all.Merge(t);
  all.peak_in_flight = threads;  // one blocking call per connection or file
  return all;
}

// The host's floor for open-loop latency: a sender that sleeps until each due time and
// does nothing. What it records is how late the host woke it. On a virtual machine an
// idle vCPU halts, and waking it takes the hypervisor, so this tail is part of every
// call's latency measured from its due time.
ThreadOpFactory Wakeup() {
  return []() -> absl::StatusOr<ThreadOp> { return ThreadOp([](uint64_t) { return std::string(); }); };
}

// ---- report ----

// The database server's statement counters (all sessions), read before and after a run:
// with statements prepared once per pooled connection, a run prepares next to nothing
// however many statements it executes.
struct StatementCounters {
  int64_t prepared = 0, executed = 0;
};

std::optional<StatementCounters> ReadStatementCounters(db::Pool* pool) {
  if (pool == nullptr) return std::nullopt;
  auto session = pool->Acquire();
  if (!session.ok()) return std::nullopt;
  auto rows = session->Query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute')");
  if (!rows.ok()) return std::nullopt;
  StatementCounters c;
  for (const auto& row : *rows) {
    if (absl::EqualsIgnoreCase(row.Str(0), "Com_stmt_prepare")) c.prepared = row.Int(1);
    else if (absl::EqualsIgnoreCase(row.Str(0), "Com_stmt_execute")) c.executed = row.Int(1);
  }
  return c;
}

struct Result {
  std::string workload, mode, target;
  int concurrency = 0, pool_size = 0, client_threads = 0;
  double rate = 0, duration_s = 0, warmup_s = 0;
  int64_t window_start_ns = 0;
  Tally tally;
  // Statements prepared and executed server-wide during the run (warm-up included), or
  // -1 when the database could not be asked.
  int64_t statements_prepared = -1, statements_executed = -1;
  int64_t Errors() const {
    int64_t n = 0;
    for (const auto& [k, v] : tally.errors) n += v;
    return n;
  }
  // Seconds from the window's start to the last recorded call's end: --duration plus the
  // time the last calls took, or more when the run fell behind its schedule.
  double ElapsedS() const {
    double elapsed = tally.last_done_ns > window_start_ns ? (tally.last_done_ns - window_start_ns) / 1e9 : 0;
    return std::max(elapsed, duration_s);
  }
  double Throughput() const { return ElapsedS() > 0 ? tally.hist.count() / ElapsedS() : 0; }
};

double Us(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
      continue;
    }
    out += c;
  }
  return out;
}

std::string ToJson(const Result& r) {
  const auto& h = r.tally.hist;
  std::string errors;
  for (const auto& [k, v] : r.tally.errors)
    absl::StrAppend(&errors, errors.empty() ? "" : ", ", "\"", JsonEscape(k), "\": ", v);
  return absl::StrFormat(
      "{\n  \"workload\": \"%s\",\n  \"target\": \"%s\",\n  \"conditions\": {\"hardware_concurrency\": %d, "
      "\"mode\": \"%s\", \"concurrency\": %d, \"rate_per_s\": %.1f, \"duration_s\": %.3f, \"elapsed_s\": %.3f, "
      "\"warmup_s\": %.3f, "
      "\"db_pool_size\": %d, \"client_threads\": %d, \"peak_in_flight\": %d, \"server_api\": \"%s\"},\n"
      "  \"count\": %d,\n  \"error_count\": %d,\n  \"errors\": {%s},\n  \"throughput_per_s\": %.1f,\n"
      "  \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, \"max\": %.1f, "
      "\"mean\": %.1f},\n  \"db_statements\": {\"prepared\": %d, \"executed\": %d},\n"
      "  \"from_send_us\": {\"ok\": {\"count\": %d, \"p50\": %.1f, \"p99\": %.1f}, "
      "\"refused\": {\"count\": %d, \"p50\": %.1f, \"p99\": %.1f}}\n}\n",
      r.workload, JsonEscape(r.target), static_cast<int>(std::thread::hardware_concurrency()), r.mode,
      r.concurrency, r.rate, r.duration_s, r.ElapsedS(), r.warmup_s, r.pool_size, r.client_threads, r.tally.peak_in_flight,
      JsonEscape(absl::GetFlag(FLAGS_server_api)), h.count(), r.Errors(), errors, r.Throughput(),
      Us(h.Percentile(50)), Us(h.Percentile(90)), Us(h.Percentile(99)), Us(h.Percentile(99.9)), Us(h.max()),
      h.mean() / 1000.0, r.statements_prepared, r.statements_executed, r.tally.answered_ok.count(),
      Us(r.tally.answered_ok.Percentile(50)), Us(r.tally.answered_ok.Percentile(99)), r.tally.refused.count(),
      Us(r.tally.refused.Percentile(50)), Us(r.tally.refused.Percentile(99)));
}

void PrintTable(const Result& r) {
  const auto& h = r.tally.hist;
  std::string load = r.mode == "open" ? absl::StrFormat("rate %.0f/s", r.rate) : absl::StrCat("c=", r.concurrency);
  std::printf("%-17s %-6s %-12s %9s %7s %10s %9s %9s %9s %9s %9s\n", "workload", "mode", "load", "calls", "errors",
              "calls/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  std::printf("%-17s %-6s %-12s %9lld %7lld %10.1f %9.3f %9.3f %9.3f %9.3f %9.3f\n", r.workload.c_str(),
              r.mode.c_str(), load.c_str(), static_cast<long long>(h.count()), static_cast<long long>(r.Errors()),
              r.Throughput(), h.Percentile(50) / 1e6, h.Percentile(90) / 1e6, h.Percentile(99) / 1e6,
              h.Percentile(99.9) / 1e6, h.max() / 1e6);
  for (const auto& [k, v] : r.tally.errors) std::printf("  error %s: %lld\n", k.c_str(), static_cast<long long>(v));
  std::printf("conditions: %u cores, db pool %d, client threads %d, peak in flight %lld, server %s, target %s\n",
              std::thread::hardware_concurrency(), r.pool_size, r.client_threads,
              static_cast<long long>(r.tally.peak_in_flight),
              absl::GetFlag(FLAGS_server_api).c_str(), r.target.c_str());
  if (r.ElapsedS() > r.duration_s * 1.05)
    std::printf("the run took %.1f s for %.1f s of schedule: rates are per second of the run\n", r.ElapsedS(),
                r.duration_s);
  if (r.tally.refused.count() > 0)
    std::printf("from send: %lld refused (RESOURCE_EXHAUSTED/UNAVAILABLE) in p50 %.3f / p99 %.3f ms; "
                "%lld answered OK in p50 %.3f / p99 %.3f ms\n",
                static_cast<long long>(r.tally.refused.count()), r.tally.refused.Percentile(50) / 1e6,
                r.tally.refused.Percentile(99) / 1e6, static_cast<long long>(r.tally.answered_ok.count()),
                r.tally.answered_ok.Percentile(50) / 1e6, r.tally.answered_ok.Percentile(99) / 1e6);
  if (r.statements_executed >= 0)
    std::printf("database: %lld statements prepared, %lld executed during the run (all sessions)\n",
                static_cast<long long>(r.statements_prepared), static_cast<long long>(r.statements_executed));
}

std::string SummaryLine(const Result& r) {
  const auto& h = r.tally.hist;
  const auto& ok = r.tally.answered_ok;
  const auto& refused = r.tally.refused;
  return absl::StrFormat(
      "%s\t%s\t%d\t%.1f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%.1f\t%.1f\t%d\t%.1f\t%.1f\n",
      r.workload, r.mode, r.concurrency, r.rate, h.count(), r.Errors(), r.Throughput(), Us(h.Percentile(50)),
      Us(h.Percentile(90)), Us(h.Percentile(99)), Us(h.Percentile(99.9)), Us(h.max()), r.statements_prepared,
      r.statements_executed, ok.count(), Us(ok.Percentile(50)), Us(ok.Percentile(99)), refused.count(),
      Us(refused.Percentile(50)), Us(refused.Percentile(99)));
}

// ---- setup ----

absl::StatusOr<std::vector<int64_t>> CreateCustomers(const std::shared_ptr<grpc::Channel>& channel, int n) {
  auto stub = pb::CustomerService::NewStub(channel);
  std::string run = RunTag();
  std::vector<int64_t> ids;
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ctx.AddMetadata("authorization", Authorization());
    pb::CreateCustomerRequest req;
    *req.mutable_customer() = NewCustomer(run, i);
    pb::Customer out;
    grpc::Status s = stub->CreateCustomer(&ctx, req, &out);
    if (!s.ok()) {
      return absl::UnknownError(
          absl::StrCat("setup CreateCustomer: ", GrpcCodeName(s.error_code()), " ", s.error_message()));
    }
    ids.push_back(out.id());
  }
  return ids;
}

// A GetExistingWorkload on the records of the first page (up to 100) that the service's
// List call returns.
template <typename GetRequest, typename Stub, typename ListRequest, typename ListResponse, typename Record,
          typename SetId>
absl::StatusOr<std::unique_ptr<RpcWorkload>> ReadFirstPage(
    std::unique_ptr<Stub> stub, grpc::Status (Stub::*list)(grpc::ClientContext*, const ListRequest&, ListResponse*),
    const google::protobuf::RepeatedPtrField<Record>& (ListResponse::*items)() const, std::string get_method,
    SetId set_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ctx.AddMetadata("authorization", Authorization());
  ListRequest req;
  req.set_page_size(100);
  ListResponse page;
  grpc::Status s = ((*stub).*list)(&ctx, req, &page);
  if (!s.ok())
    return absl::UnknownError(absl::StrCat("setup List for ", get_method, ": ", GrpcCodeName(s.error_code()), " ",
                                           s.error_message()));
  using Id = std::decay_t<decltype(std::declval<Record>().id())>;
  std::vector<Id> ids;
  for (const auto& record : (page.*items)()) ids.push_back(record.id());
  if (ids.empty()) return absl::FailedPreconditionError(absl::StrCat("setup: no records to read for ", get_method));
  return std::make_unique<GetExistingWorkload<GetRequest, Record, Id>>(std::move(get_method), std::move(ids),
                                                                      std::move(set_id));
}

// get_work_order, get_project, get_contract, get_staff; nullptr for any other name.
absl::StatusOr<std::unique_ptr<RpcWorkload>> ExistingRecordsWorkload(const std::string& name,
                                                                     const std::shared_ptr<grpc::Channel>& channel) {
  namespace c = complaints::v1;
  namespace k = contracts::v1;
  namespace p = performance::v1;
  namespace s = sales::v1;
  if (name == "get_work_order")
    return ReadFirstPage<c::GetWorkOrderRequest>(
        c::ComplaintService::NewStub(channel), &c::ComplaintService::Stub::ListWorkOrders,
        &c::ListWorkOrdersResponse::work_orders, "/kefu.complaints.v1.ComplaintService/GetWorkOrder",
        [](c::GetWorkOrderRequest* req, int64_t id) { req->set_work_order_id(id); });
  if (name == "get_project")
    return ReadFirstPage<s::GetProjectRequest>(
        s::SalesService::NewStub(channel), &s::SalesService::Stub::ListProjects, &s::ListProjectsResponse::projects,
        "/kefu.sales.v1.SalesService/GetProject", [](s::GetProjectRequest* req, int64_t id) { req->set_project_id(id); });
  if (name == "get_contract")
    return ReadFirstPage<k::GetContractRequest>(
        k::ContractService::NewStub(channel), &k::ContractService::Stub::ListContracts,
        &k::ListContractsResponse::contracts, "/kefu.contracts.v1.ContractService/GetContract",
        [](k::GetContractRequest* req, int64_t id) { req->set_contract_id(id); });
  if (name == "get_staff")
    return ReadFirstPage<p::GetStaffRequest>(
        p::PerformanceService::NewStub(channel), &p::PerformanceService::Stub::ListStaff,
        &p::ListStaffResponse::staff, "/kefu.performance.v1.PerformanceService/GetStaff",
        [](p::GetStaffRequest* req, const std::string& id) { req->set_staff_id(id); });
  return std::unique_ptr<RpcWorkload>();
}

bool WaitServing(const std::shared_ptr<grpc::Channel>& channel) {
  HealthWorkload health;
  grpc::GenericStub stub(channel);
  for (int i = 0; i < 100; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::CompletionQueue cq;
    auto call = stub.PrepareUnaryCall(&ctx, health.method(), ToBuffer(""), &cq);
    call->StartCall();
    grpc::ByteBuffer resp;
    grpc::Status status;
    call->Finish(&resp, &status, nullptr);
    void* tag;
    bool ok;
    cq.Next(&tag, &ok);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    if (status.ok() && health.Check(0, ToString(resp)).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

int Main() {
  Result r;
  r.workload = absl::GetFlag(FLAGS_workload);
  r.mode = absl::GetFlag(FLAGS_mode);
  r.concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  r.rate = absl::GetFlag(FLAGS_rate);
  r.client_threads = std::max(1, absl::GetFlag(FLAGS_client_threads));
  r.warmup_s = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_warmup));
  r.duration_s = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration));
  r.pool_size = std::max(absl::GetFlag(FLAGS_db_pool_size), r.concurrency);
  bool open = r.mode == "open";
  if (!open && r.mode != "closed") {
    std::cerr << "--mode must be closed or open\n";
    return 2;
  }
  if (open && r.rate <= 0) {
    std::cerr << "--rate must be positive\n";
    return 2;
  }
  if (r.duration_s <= 0) {
    std::cerr << "--duration must be positive\n";
    return 2;
  }
  bool is_db = r.workload.rfind("db_", 0) == 0;
  bool is_disk = r.workload == "disk_fsync";
  bool is_wakeup = r.workload == "wakeup";
  if (is_wakeup && !open) {
    std::cerr << "--workload=wakeup needs --mode=open (closed, it would only spin)\n";
    return 2;
  }
  if (open) {
    // Sleeps end up to the timer slack late (50 us by default), and that lateness would
    // count in every call's latency; the sender wakes as close to each due time as the
    // host allows.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  }
  auto make_window = [&] {
    int64_t start = NowNs() + absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_warmup));
    r.window_start_ns = start;
    return Window{start, start + absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_duration))};
  };

  db::Config cfg;
  cfg.host = absl::GetFlag(FLAGS_db_host);
  cfg.port = absl::GetFlag(FLAGS_db_port);
  cfg.user = absl::GetFlag(FLAGS_db_user);
  const char* pw = std::getenv("KEFU_DB_PASSWORD");
  cfg.password = pw ? pw : "";
  cfg.schema = absl::GetFlag(FLAGS_db_name);
  // One connection of its own for the statement counters, so that reading them does not
  // take a connection the run uses.
  db::Config counters_cfg = cfg;
  counters_cfg.pool_size = 1;
  counters_cfg.connect_timeout = absl::Seconds(1);
  auto counters_pool = db::Pool::Create(counters_cfg);
  std::optional<StatementCounters> counters_before;
  auto start_counting = [&] { counters_before = ReadStatementCounters(counters_pool.get()); };
  auto stop_counting = [&] {
    auto after = ReadStatementCounters(counters_pool.get());
    if (!counters_before || !after) return;
    r.statements_prepared = after->prepared - counters_before->prepared;
    r.statements_executed = after->executed - counters_before->executed;
  };

  if (is_wakeup) {
    r.target = "host";
    r.tally = RunThreads(Wakeup(), open, r.concurrency, r.rate, make_window());
  } else if (is_disk) {
    r.target = absl::StrCat("file://", absl::GetFlag(FLAGS_fsync_dir));
    r.tally = RunThreads(DiskFsync(absl::GetFlag(FLAGS_fsync_dir)), open, r.concurrency, r.rate, make_window());
  } else if (is_db) {
    cfg.pool_size = r.pool_size;
    r.target = absl::StrCat("mysql://", cfg.user, "@", cfg.host, ":", cfg.port, "/", cfg.schema);
    auto pool = db::Pool::Create(cfg);
    DbOp op;
    std::vector<int64_t> ids;
    std::string run = RunTag();
    if (r.workload == "db_point_select") {
      auto s = pool->Acquire();
      if (!s.ok()) return std::cerr << s.status() << "\n", 1;
      auto rows = s->Query("SELECT id FROM customers ORDER BY id LIMIT 1000");
      if (!rows.ok()) return std::cerr << rows.status() << "\n", 1;
      for (const auto& row : *rows) ids.push_back(row.Int(0));
      if (ids.empty()) return std::cerr << "db_point_select: no customers yet (run get_customer first)\n", 1;
      op = [&ids](db::Session& session, uint64_t seq) -> std::string {
        int64_t id = ids[seq % ids.size()];
        auto row = session.QueryOne("SELECT id, name FROM customers WHERE id = ?", {id});
        if (!row.ok()) return DbError(row.status());
        if (!*row || (*row)->Int(0) != id) return "WRONG_RESPONSE (wrong id)";
        return "";
      };
    } else if (r.workload == "db_insert") {
      auto s = pool->Acquire();
      if (!s.ok()) return std::cerr << s.status() << "\n", 1;
      // Same columns and indexes as customers, so the floor pays what InsertCustomer's
      // first statement pays, but nothing of contacts, tags or the log.
      auto st = s->ExecRaw("CREATE TABLE IF NOT EXISTS bench_rows LIKE customers");
      if (!st.ok()) return std::cerr << st << "\n", 1;
      op = [&run](db::Session& session, uint64_t seq) -> std::string {
        if (auto b = session.ExecRaw("START TRANSACTION"); !b.ok()) return DbError(b);
        std::string now = ToSqlTime(absl::Now());
        std::string name = absl::StrCat("bench-", run, "-", seq);
        auto ins = session.ExecInsert(
            "INSERT INTO bench_rows (kind, name, name_key, industry, region, source, owner_id, "
            "department_id, tier, lifecycle_stage, credit_rating, create_time, update_time, version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            {2, name, name, "", "", 0, "E1001", "", 1, 1, 0, now, now});
        if (!ins.ok()) {
          (void)session.ExecRaw("ROLLBACK");
          return DbError(ins.status());
        }
        if (auto c = session.ExecRaw("COMMIT"); !c.ok()) return DbError(c);
        return ins->affected_rows == 1 && ins->last_insert_id > 0 ? "" : "WRONG_RESPONSE (no row)";
      };
    } else {
      std::cerr << "unknown --workload " << r.workload << "\n";
      return 2;
    }
    start_counting();
    r.tally = RunThreads(OnPooledConnection(*pool, op), open, r.concurrency, r.rate, make_window());
    stop_counting();
  } else {
    r.target = absl::GetFlag(FLAGS_target);
    grpc::ChannelArguments args;
    auto channel = grpc::CreateCustomChannel(r.target, grpc::InsecureChannelCredentials(), args);
    if (!WaitServing(channel)) {
      std::cerr << r.target << " is not SERVING\n";
      return 1;
    }
    std::unique_ptr<RpcWorkload> workload;
    if (r.workload == "health") {
      workload = std::make_unique<HealthWorkload>();
    } else if (r.workload == "get_customer") {
      auto ids = CreateCustomers(channel, std::max(1, absl::GetFlag(FLAGS_setup_customers)));
      if (!ids.ok()) return std::cerr << ids.status() << "\n", 1;
      workload = std::make_unique<GetCustomerWorkload>(*std::move(ids));
    } else if (r.workload == "create_customer") {
      workload = std::make_unique<CreateCustomerWorkload>();
    } else if (r.workload == "create_work_order") {
      const std::string customers_target = absl::GetFlag(FLAGS_customers_target);
      auto customers = grpc::CreateCustomChannel(customers_target.empty() ? r.target : customers_target,
                                                 grpc::InsecureChannelCredentials(), args);
      auto ids = CreateCustomers(customers, std::max(1, absl::GetFlag(FLAGS_setup_customers)));
      if (!ids.ok()) return std::cerr << ids.status() << "\n", 1;
      workload = std::make_unique<CreateWorkOrderWorkload>(*std::move(ids));
    } else {
      auto existing = ExistingRecordsWorkload(r.workload, channel);
      if (!existing.ok()) return std::cerr << existing.status() << "\n", 1;
      if (!*existing) {
        std::cerr << "unknown --workload " << r.workload << "\n";
        return 2;
      }
      workload = *std::move(existing);
    }
    RpcDriver driver(channel, workload.get(), r.client_threads);
    start_counting();
    r.tally = driver.Run(open, r.concurrency, r.rate, make_window());
    stop_counting();
  }

  PrintTable(r);
  if (!absl::GetFlag(FLAGS_json).empty()) std::ofstream(absl::GetFlag(FLAGS_json)) << ToJson(r);
  if (!absl::GetFlag(FLAGS_summary).empty())
    std::ofstream(absl::GetFlag(FLAGS_summary), std::ios::app) << SummaryLine(r);
  if (absl::GetFlag(FLAGS_check) && (r.tally.hist.count() == 0 || r.Errors() > 0)) {
    std::cerr << "check failed: " << r.tally.hist.count() << " calls, " << r.Errors() << " errors\n";
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace kefu::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Load generator for kefu-customers and its floors; see tools/bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  // As the services do (kefu::ParseServerFlags): Debian's Abseil leaves its debug-only
  // deadlock detector on, a global lock on every nested absl::Mutex, gRPC's included.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return kefu::bench::Main();
}
