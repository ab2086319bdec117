// kefu-scale: the scale part of `make bench` (tools/bench/scale.sh).
//
//   kefu-scale --mode=load --rows=N     grows customers, sales projects, work orders and
//                                       contracts to about N rows each, with their child
//                                       rows, by copying the rows already there (the demo
//                                       data) under new ids, in chunks, showing progress.
//   kefu-scale --mode=background        records what the services' background tasks ran
//                                       in --seconds with no calls, by statement, with
//                                       the rows examined (--explain, --summary).
//   kefu-scale --mode=measure           times the list, search and aggregate calls one at
//                                       a time against the real services, and one
//                                       escalation sweep round in process; appends p50,
//                                       p90 and p99 per call to --summary and the EXPLAIN
//                                       of every SELECT each call ran to --explain.
//
// Copies keep the shape of what the services wrote (states, deadlines, amounts,
// owners) and spread their references over all customers, so each customer keeps a
// handful of contracts and work orders however large the tables grow.
#include <grpcpp/create_channel.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth.h"
#include "complaints/src/service.h"
#include "sales/src/repository.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/db/db.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/time_util.h"

ABSL_FLAG(std::string, mode, "measure", "load, measure or background");
ABSL_FLAG(int, seconds, 30, "background: how long to record the services' own statements.");
ABSL_FLAG(int64_t, rows, 10000, "load: grow each table to about this many rows.");
ABSL_FLAG(int, db_port, 3306, "MariaDB port (127.0.0.1), reached as --db_user.");
ABSL_FLAG(std::string, db_user, "kefu_admin", "A user with rights on every kefu_* schema and SET GLOBAL.");
ABSL_FLAG(std::string, customers, "127.0.0.1:50051", "customers service address (plaintext).");
ABSL_FLAG(std::string, sales, "127.0.0.1:50052", "sales service address.");
ABSL_FLAG(std::string, contracts, "127.0.0.1:50053", "contracts service address.");
ABSL_FLAG(std::string, complaints, "127.0.0.1:50054", "complaints service address.");
ABSL_FLAG(int, samples, 200, "measure: timed calls per probe (after 20 untimed ones).");
ABSL_FLAG(std::string, label, "", "measure: the label of this size in --summary (e.g. 10k).");
ABSL_FLAG(std::string, summary, "",
          "measure: append per probe: label, probe, p50_us, p50, samples, p90, p99, rows; and label, probe, "
          "examined, rows examined by one call (TSV).");
ABSL_FLAG(std::string, explain, "",
          "measure: write every statement each probe ran, with its plan and rows examined, to this file "
          "(from the slow log, which must be on this machine).");
ABSL_FLAG(std::string, signing_key, "", "Private key that signs the token (default: $KEFU_SIGNING_KEY).");

namespace kefu::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::unique_ptr<db::Pool> Connect(const std::string& schema) {
  db::Config c;
  c.port = absl::GetFlag(FLAGS_db_port);
  c.user = absl::GetFlag(FLAGS_db_user);
  if (const char* pw = std::getenv("KEFU_DB_PASSWORD")) c.password = pw;
  c.schema = schema;
  c.pool_size = 2;
  c.io_timeout = absl::Minutes(30);  // a chunk of a million-row copy is one statement
  c.lock_wait_timeout = absl::Minutes(5);
  return db::Pool::Create(c);
}

int64_t QueryInt(db::Session& s, const std::string& sql) {
  auto row = s.QueryOne(sql);
  if (!row.ok()) {
    std::cerr << "error: " << sql << ": " << row.status() << "\n";
    std::exit(1);
  }
  return *row ? (*row)->Int(0) : 0;
}

void MustExec(db::Session& s, const std::string& sql) {
  auto r = s.Exec(sql);
  if (!r.ok()) {
    std::cerr << "error: " << sql.substr(0, 300) << ": " << r.status() << "\n";
    std::exit(1);
  }
}

// ---------------------------------------------------------------------------------
// load

// One table copied under new ids. In `exprs`, {o} is the id offset of this round and
// {n} the number of customer ids; columns not named are copied as they are.
struct Copy {
  std::string table;
  std::string key;  // "id" for the parent table; the parent's id column for a child
  std::map<std::string, std::string> exprs;
  bool own_id = false;  // a child with its own AUTO_INCREMENT id, left to the database
};

struct Family {
  std::string name, schema;
  Copy parent;
  std::vector<Copy> children;
};

std::string InsertSelect(db::Session& s, const std::string& schema, const Copy& c, int64_t offset, int64_t customers) {
  auto cols = s.Query(
      "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? "
      "ORDER BY ORDINAL_POSITION",
      {schema, c.table});
  if (!cols.ok() || cols->empty()) {
    std::cerr << "error: no columns for " << schema << "." << c.table << "\n";
    std::exit(1);
  }
  std::vector<std::string> names, values;
  for (const auto& r : *cols) {
    const std::string& col = r.Str(0);
    if (c.own_id && col == "id") continue;
    names.push_back(absl::StrCat("`", col, "`"));
    auto it = c.exprs.find(col);
    values.push_back(it == c.exprs.end() ? absl::StrCat("`", col, "`")
                                         : absl::StrReplaceAll(it->second, {{"{o}", absl::StrCat(offset)},
                                                                            {"{n}", absl::StrCat(customers)}}));
  }
  return absl::StrCat("INSERT INTO ", schema, ".", c.table, " (", absl::StrJoin(names, ", "), ") SELECT ",
                      absl::StrJoin(values, ", "), " FROM ", schema, ".", c.table, " WHERE ", c.key, " > ? AND ",
                      c.key, " <= ?");
}

// Doubles the family (or less, to land on `target`) until it has `target` parent rows.
void Grow(db::Pool& pool, const Family& f, int64_t target, int64_t customers) {
  auto session = pool.Acquire();
  if (!session.ok()) {
    std::cerr << "error: " << session.status() << "\n";
    std::exit(1);
  }
  db::Session& s = *session;
  const std::string table = absl::StrCat(f.schema, ".", f.parent.table);
  int64_t count = QueryInt(s, absl::StrCat("SELECT COUNT(*) FROM ", table));
  if (count == 0) {
    std::cerr << "error: " << table << " is empty: load the demo data first\n";
    std::exit(1);
  }
  const absl::Time start = absl::Now();
  const int64_t initial = count;
  constexpr int64_t kChunk = 50000;
  while (count < target) {
    const int64_t offset = QueryInt(s, absl::StrCat("SELECT MAX(id) FROM ", table));
    // Copy the first `want` rows by id: ids up to the want-th one.
    const int64_t want = std::min(count, target - count);
    const int64_t last = QueryInt(s, absl::StrCat("SELECT id FROM ", table, " ORDER BY id LIMIT 1 OFFSET ", want - 1));
    std::vector<std::string> sql{InsertSelect(s, f.schema, f.parent, offset, customers)};
    for (const auto& c : f.children) sql.push_back(InsertSelect(s, f.schema, c, offset, customers));
    for (int64_t lo = 0; lo < last; lo += kChunk) {
      const int64_t hi = std::min(last, lo + kChunk);
      for (const auto& q : sql) {
        auto r = s.Exec(q, {lo, hi});
        if (!r.ok()) {
          std::cerr << "error: " << q.substr(0, 200) << "...: " << r.status() << "\n";
          std::exit(1);
        }
      }
      const int64_t now_rows = count + QueryInt(s, absl::StrCat("SELECT COUNT(*) FROM ", table, " WHERE id > ", offset));
      const double secs = absl::ToDoubleSeconds(absl::Now() - start);
      std::printf("  %-12s %9lld / %lld rows  %7.0f rows/s\n", f.name.c_str(), static_cast<long long>(now_rows),
                  static_cast<long long>(target), (now_rows - initial) / std::max(secs, 1e-3));
      std::fflush(stdout);
    }
    count = QueryInt(s, absl::StrCat("SELECT COUNT(*) FROM ", table));
  }
}

int Load() {
  const int64_t target = absl::GetFlag(FLAGS_rows);
  auto pool = Connect("");
  // References into another family go round all customers: ((ref + offset - 1) mod n) + 1.
  const std::string customer_ref = "((customer_id + {o} - 1) % {n}) + 1";
  std::vector<Family> families = {
      {"customers", "kefu_customers",
       {"customers", "id",
        {{"id", "id + {o}"},
         {"name", "CONCAT(name, ' ', id + {o})"},
         {"name_key", "CONCAT(name_key, ' ', id + {o})"},
         {"merged_into_id", "merged_into_id + {o}"}}},
       {{"customer_contacts", "customer_id", {{"customer_id", "customer_id + {o}"}}},
        {"customer_tags", "customer_id", {{"customer_id", "customer_id + {o}"}}}}},
      {"projects", "kefu_sales",
       {"projects", "id",
        {{"id", "id + {o}"}, {"name", "CONCAT(name, ' ', id + {o})"}, {"customer_id", customer_ref}}},
       {{"project_team", "project_id", {{"project_id", "project_id + {o}"}}},
        {"competitors", "project_id", {{"project_id", "project_id + {o}"}}}}},
      {"work_orders", "kefu_complaints",
       // Copies fall due a year later than their originals, so the running service's
       // sweep leaves them alone and the measured sweep (its clock a year ahead) finds
       // them all due.
       {"work_orders", "id",
        {{"id", "id + {o}"},
         {"customer_id", customer_ref},
         // (copies of copies are already a year out)
        {"next_check_time",
         "IF(next_check_time > NOW() + INTERVAL 300 DAY, next_check_time, next_check_time + INTERVAL 366 DAY)"}}},
       {{"work_order_events", "work_order_id", {{"work_order_id", "work_order_id + {o}"}}, true},
        {"follow_ups", "work_order_id", {{"work_order_id", "work_order_id + {o}"}}, true}}},
      {"contracts", "kefu_contracts",
       {"contracts", "id",
        {{"id", "id + {o}"},
         {"customer_id", customer_ref},
         // One draft per won project: copies are contracts made without one.
         {"sales_project_id", "NULL"},
         {"previous_contract_id", "previous_contract_id + {o}"}}},
       {{"contract_risk_items", "contract_id", {{"contract_id", "contract_id + {o}"}}},
        {"contract_approvals", "contract_id", {{"contract_id", "contract_id + {o}"}}},
        {"contract_approval_history", "contract_id", {{"contract_id", "contract_id + {o}"}}, true}}},
  };
  const absl::Time start = absl::Now();
  int64_t customers = 0;
  for (const auto& f : families) {
    Grow(*pool, f, target, customers);
    if (f.name == "customers") {
      auto s = pool->Acquire();
      if (!s.ok()) return 1;
      customers = QueryInt(*s, "SELECT MAX(id) FROM kefu_customers.customers");
    }
  }
  // The sales service keeps the pipeline totals on every write; rows copied behind its
  // back are counted again, as the service does on its own every hour.
  {
    auto sales_pool = Connect("kefu_sales");
    sales::Repository sales_repo(sales_pool.get(), SystemClock::Instance());
    if (absl::Status st = sales_repo.RecountPipeline(); !st.ok()) {
      std::cerr << "error: recounting the pipeline: " << st << "\n";
      return 1;
    }
  }
  auto s = pool->Acquire();
  if (!s.ok()) return 1;
  // Fresh statistics, as a production table of this size would have.
  for (const char* t : {"kefu_customers.customers", "kefu_customers.customer_contacts", "kefu_customers.customer_tags",
                        "kefu_sales.projects", "kefu_sales.pipeline_totals", "kefu_complaints.work_orders",
                        "kefu_complaints.work_order_events", "kefu_complaints.follow_ups", "kefu_contracts.contracts"})
    (void)s->Query(absl::StrCat("ANALYZE TABLE ", t));
  std::printf("loaded to %lld rows per table in %.0f s\n", static_cast<long long>(target),
              absl::ToDoubleSeconds(absl::Now() - start));
  return 0;
}

// ---------------------------------------------------------------------------------
// measure

struct Probe {
  std::string name;
  std::function<grpc::Status()> call;
};

template <typename Stub, typename Req, typename Resp>
grpc::Status Call(Stub* stub, grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Req&, Resp*), const Req& req,
                  Resp* resp) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", Authorization(absl::GetFlag(FLAGS_signing_key)));
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  return (stub->*rpc)(&ctx, req, resp);
}

// The page token `depth` rows into a listing, walked once before the timing.
template <typename Req, typename Page>
std::string TokenAt(int depth, Req req, const std::function<grpc::Status(const Req&, Page*)>& list) {
  req.set_page_size(500);
  std::string token;
  for (int seen = 0; seen < depth; seen += 500) {
    req.set_page_token(token);
    Page page;
    grpc::Status st = list(req, &page);
    if (!st.ok() || page.next_page_token().empty()) {
      std::cerr << "error: cannot page " << depth << " rows deep: " << st.error_message() << "\n";
      std::exit(1);
    }
    token = page.next_page_token();
  }
  return token;
}

// One statement the database ran, as its slow log tells it (slow_query_log on with
// long_query_time 0 and log_slow_verbosity query_plan,explain in every session, and
// log_output NONE outside the capture: scale.sh sets them before the services connect):
// prepared statements appear with the values they ran with, and with their plan.
struct Statement {
  std::string user, sql;
  int64_t rows_examined = 0;
  std::vector<std::map<std::string, std::string>> plan;  // EXPLAIN rows by column
};

bool WholeTableRead(const std::map<std::string, std::string>& step) {
  auto get = [&](const char* k) {
    auto it = step.find(k);
    return it == step.end() ? std::string() : it->second;
  };
  // What the statement read (r_rows); an index read in order that stops at a LIMIT
  // is estimated at the whole index but reads a page.
  double rows = 0;
  if (!absl::SimpleAtod(get("r_rows"), &rows)) (void)absl::SimpleAtod(get("rows"), &rows);
  // A read of a whole table or index beyond a small settings-like table.
  return (get("type") == "ALL" || get("type") == "index") && rows > 1000;
}

std::vector<Statement> ParseSlowLog(const std::string& path) {
  std::ifstream in(path);
  std::vector<Statement> out;
  std::vector<std::string> header;
  std::string line;
  Statement* cur = nullptr;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "# User@Host: ")) {
      out.emplace_back();
      cur = &out.back();
      std::string who = line.substr(13);
      cur->user = who.substr(0, who.find('['));
    } else if (!cur || absl::StartsWith(line, "# Time:")) {
      continue;
    } else if (auto pos = line.find("Rows_examined: "); absl::StartsWith(line, "# Query_time") && pos != std::string::npos) {
      (void)absl::SimpleAtoi(line.substr(pos + 15, line.find(' ', pos + 15) - pos - 15), &cur->rows_examined);
    } else if (absl::StartsWith(line, "# explain: ")) {
      std::vector<std::string> cols = absl::StrSplit(line.substr(11), '\t');
      if (!cols.empty() && cols[0] == "id") {
        header = cols;
      } else {
        std::map<std::string, std::string> step;
        for (size_t i = 0; i < cols.size() && i < header.size(); ++i) step[header[i]] = cols[i];
        cur->plan.push_back(std::move(step));
      }
    } else if (!absl::StartsWith(line, "#") && !absl::StartsWith(line, "use ") &&
               !absl::StartsWith(line, "SET timestamp=")) {
      absl::StrAppend(&cur->sql, cur->sql.empty() ? "" : " ", line);
    }
  }
  std::vector<Statement> reads;
  for (auto& st : out) {
    std::string sql(absl::StripAsciiWhitespace(st.sql));
    for (const char* verb : {"SELECT", "UPDATE", "DELETE"})
      if (absl::StartsWithIgnoreCase(sql, verb)) {
        st.sql = sql;
        reads.push_back(std::move(st));
        break;
      }
  }
  return reads;
}

// The statements the database ran while `fn` ran, logged to a file of their own.
std::vector<Statement> CaptureStatements(db::Session& admin, const std::string& path, const std::function<void()>& fn) {
  MustExec(admin, absl::StrCat("SET GLOBAL slow_query_log_file = '", path, "'"));
  MustExec(admin, "SET GLOBAL log_output = 'FILE'");
  fn();
  MustExec(admin, "SET GLOBAL log_output = 'NONE'");
  return ParseSlowLog(path);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int Measure() {
  namespace cpb = customers::v1;
  namespace spb = sales::v1;
  namespace kpb = contracts::v1;
  namespace wpb = complaints::v1;
  auto channel = [](const std::string& addr) {
    return grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  };
  auto customers = cpb::CustomerService::NewStub(channel(absl::GetFlag(FLAGS_customers)));
  auto sales = spb::SalesService::NewStub(channel(absl::GetFlag(FLAGS_sales)));
  auto contracts = kpb::ContractService::NewStub(channel(absl::GetFlag(FLAGS_contracts)));
  auto complaints = wpb::ComplaintService::NewStub(channel(absl::GetFlag(FLAGS_complaints)));
  auto admin = Connect("");
  auto admin_session = admin->Acquire();
  if (!admin_session.ok()) return 1;
  db::Session& a = *admin_session;

  const int64_t rows_now = QueryInt(a, "SELECT COUNT(*) FROM kefu_customers.customers");
  // The name prefix most names start with (a full page at every size), and customers
  // spread over the id range.
  auto prefix_row = a.QueryOne("SELECT LEFT(name, 2) AS p FROM kefu_customers.customers GROUP BY p "
                               "ORDER BY COUNT(*) DESC, p LIMIT 1");
  const std::string prefix = prefix_row.ok() && *prefix_row ? (*prefix_row)->Str(0) : "客";
  const int64_t max_customer = QueryInt(a, "SELECT MAX(id) FROM kefu_customers.customers");

  auto list_customers = std::function<grpc::Status(const cpb::ListCustomersRequest&, cpb::ListCustomersResponse*)>(
      [&](const cpb::ListCustomersRequest& r, cpb::ListCustomersResponse* p) {
        return Call(customers.get(), &cpb::CustomerService::Stub::ListCustomers, r, p);
      });
  auto list_work_orders = std::function<grpc::Status(const wpb::ListWorkOrdersRequest&, wpb::ListWorkOrdersResponse*)>(
      [&](const wpb::ListWorkOrdersRequest& r, wpb::ListWorkOrdersResponse* p) {
        return Call(complaints.get(), &wpb::ComplaintService::Stub::ListWorkOrders, r, p);
      });
  auto list_projects = std::function<grpc::Status(const spb::ListProjectsRequest&, spb::ListProjectsResponse*)>(
      [&](const spb::ListProjectsRequest& r, spb::ListProjectsResponse* p) {
        return Call(sales.get(), &spb::SalesService::Stub::ListProjects, r, p);
      });
  // 10,000 rows deep; in a table of 10,000 rows, the last full page of 500.
  auto deep = [&](const char* table) {
    const int64_t rows = QueryInt(a, absl::StrCat("SELECT COUNT(*) FROM ", table));
    return static_cast<int>(std::min<int64_t>(10000, (rows - 1) / 500 * 500));
  };
  constexpr int kPage = 50;
  const std::string customers_deep = TokenAt<cpb::ListCustomersRequest, cpb::ListCustomersResponse>(
      deep("kefu_customers.customers"), cpb::ListCustomersRequest(), list_customers);
  wpb::ListWorkOrdersRequest open_orders;
  open_orders.set_open_only(true);
  const std::string orders_deep = TokenAt<wpb::ListWorkOrdersRequest, wpb::ListWorkOrdersResponse>(
      deep("kefu_complaints.work_orders"), wpb::ListWorkOrdersRequest(), list_work_orders);
  const std::string projects_deep = TokenAt<spb::ListProjectsRequest, spb::ListProjectsResponse>(
      deep("kefu_sales.projects"), spb::ListProjectsRequest(), list_projects);

  int entitlement_i = 0;
  std::vector<Probe> probes;
  probes.push_back({"ListCustomers first page", [&] {
                      cpb::ListCustomersRequest r;
                      r.set_page_size(kPage);
                      cpb::ListCustomersResponse p;
                      return list_customers(r, &p);
                    }});
  probes.push_back({"ListCustomers 10,000 deep", [&] {
                      cpb::ListCustomersRequest r;
                      r.set_page_size(kPage);
                      r.set_page_token(customers_deep);
                      cpb::ListCustomersResponse p;
                      return list_customers(r, &p);
                    }});
  probes.push_back({"ListCustomers name prefix", [&] {
                      cpb::ListCustomersRequest r;
                      r.set_page_size(kPage);
                      r.set_name_prefix(prefix);
                      cpb::ListCustomersResponse p;
                      return list_customers(r, &p);
                    }});
  probes.push_back({"ListWorkOrders open, first page", [&] {
                      wpb::ListWorkOrdersRequest r = open_orders;
                      r.set_page_size(kPage);
                      wpb::ListWorkOrdersResponse p;
                      return list_work_orders(r, &p);
                    }});
  probes.push_back({"ListWorkOrders 10,000 deep", [&] {
                      wpb::ListWorkOrdersRequest r;
                      r.set_page_size(kPage);
                      r.set_page_token(orders_deep);
                      wpb::ListWorkOrdersResponse p;
                      return list_work_orders(r, &p);
                    }});
  probes.push_back({"ListProjects open, first page", [&] {
                      spb::ListProjectsRequest r;
                      r.set_page_size(kPage);
                      r.set_open_only(true);
                      spb::ListProjectsResponse p;
                      return list_projects(r, &p);
                    }});
  probes.push_back({"ListProjects 10,000 deep", [&] {
                      spb::ListProjectsRequest r;
                      r.set_page_size(kPage);
                      r.set_page_token(projects_deep);
                      spb::ListProjectsResponse p;
                      return list_projects(r, &p);
                    }});
  probes.push_back({"GetPipeline by stage", [&] {
                      spb::GetPipelineRequest r;
                      spb::Pipeline p;
                      return Call(sales.get(), &spb::SalesService::Stub::GetPipeline, r, &p);
                    }});
  probes.push_back({"GetPipeline by owner", [&] {
                      spb::GetPipelineRequest r;
                      r.set_group_by(spb::GROUP_BY_OWNER);
                      spb::Pipeline p;
                      return Call(sales.get(), &spb::SalesService::Stub::GetPipeline, r, &p);
                    }});
  probes.push_back({"CheckEntitlement", [&] {
                      kpb::CheckEntitlementRequest r;
                      // Customers across the whole id range, a different one each call.
                      r.set_customer_id(1 + (entitlement_i++ * 7919) % max_customer);
                      kpb::Entitlement p;
                      return Call(contracts.get(), &kpb::ContractService::Stub::CheckEntitlement, r, &p);
                    }});

  int create_i = 0;
  probes.push_back({"CreateWorkOrder", [&] {
                      wpb::CreateWorkOrderRequest r;
                      auto* w = r.mutable_work_order();
                      w->set_customer_id(1 + (create_i++ * 104729) % max_customer);
                      w->set_channel(wpb::CHANNEL_PHONE);
                      w->set_type(wpb::WORK_ORDER_TYPE_FAULT_REPORT);
                      w->set_severity(wpb::SEVERITY_GENERAL);
                      w->set_title("设备无法开机");
                      w->set_content("设备无法开机，请尽快上门检修");
                      w->set_department_id("D-SERVICE");
                      wpb::WorkOrder p;
                      return Call(complaints.get(), &wpb::ComplaintService::Stub::CreateWorkOrder, r, &p);
                    }});

  // The escalation sweep runs in process on complaints' schema, its clock a year ahead
  // (the loader's copies fall due then): each round takes the 100 earliest due rows.
  auto sweep_pool = Connect("kefu_complaints");
  FakeClock sweep_clock(absl::Now() + absl::Hours(24 * 367));
  complaints::Repository sweep_repo(sweep_pool.get(), &sweep_clock);
  prometheus::Registry registry;
  complaints::BusinessMetrics sweep_metrics(registry);
  complaints::ComplaintServiceImpl sweeper(&sweep_repo, &sweep_metrics, &sweep_clock, complaints::ServiceConfig());
  probes.push_back({"escalation sweep, 100 due", [&] {
                      auto n = sweeper.SweepOnce(100);
                      if (!n.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(n.status().message()));
                      if (*n == 0) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "nothing was due");
                      return grpc::Status::OK;
                    }});

  const int samples = absl::GetFlag(FLAGS_samples);
  std::ofstream explain;
  if (!absl::GetFlag(FLAGS_explain).empty()) explain.open(absl::GetFlag(FLAGS_explain));
  std::FILE* summary = nullptr;
  if (!absl::GetFlag(FLAGS_summary).empty()) summary = std::fopen(absl::GetFlag(FLAGS_summary).c_str(), "a");
  const std::string label = absl::GetFlag(FLAGS_label);
  int failures = 0, probes_done = 0, scans = 0;
  std::printf("%-34s %8s %10s %10s %10s\n", "call", "samples", "p50 ms", "p90 ms", "p99 ms");
  for (auto& probe : probes) {
    const bool sweep = absl::StartsWith(probe.name, "escalation");
    // The sweep changes the rows it takes: fewer rounds, no warm-up beyond a few.
    const int warm = sweep ? 3 : 20;
    const int n = sweep ? std::min(samples, 50) : samples;
    for (int i = 0; i < warm; ++i) (void)probe.call();
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      auto t0 = SteadyClock::now();
      grpc::Status st = probe.call();
      ms.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      if (!st.ok()) {
        ++failures;
        std::cerr << probe.name << ": " << st.error_message() << "\n";
        break;
      }
    }
    const double p50 = Percentile(ms, 50), p90 = Percentile(ms, 90), p99 = Percentile(ms, 99);
    std::printf("%-34s %8zu %10.3f %10.3f %10.3f\n", probe.name.c_str(), ms.size(), p50, p90, p99);
    if (summary)
      std::fprintf(summary, "%s\t%s\tp50_us\t%.1f\t%zu\t%.1f\t%.1f\t%lld\n", label.c_str(), probe.name.c_str(),
                   p50 * 1000, ms.size(), p90 * 1000, p99 * 1000, static_cast<long long>(rows_now));
    if (explain.is_open()) {
      const std::string log = absl::StrCat(absl::GetFlag(FLAGS_explain), ".", probes_done, ".slow.log");
      auto statements = CaptureStatements(a, log, [&] { (void)probe.call(); });
      std::remove(log.c_str());
      // The sweep runs on this tool's own connections: what the services did meanwhile
      // is theirs.
      if (sweep)
        statements.erase(std::remove_if(statements.begin(), statements.end(),
                                        [](const Statement& st) { return st.user != "kefu_admin"; }),
                         statements.end());
      int64_t examined = 0;
      for (const auto& st : statements) examined += st.rows_examined;
      explain << "## " << probe.name << " (" << label << "): " << statements.size() << " statements, "
              << examined << " rows examined\n";
      for (const auto& st : statements) {
        explain << "  " << st.user << " examined " << st.rows_examined << ": "
                << (st.sql.size() > 240 ? st.sql.substr(0, 240) + " ..." : st.sql) << "\n";
        for (const auto& step : st.plan) {
          auto get = [&](const char* k) {
            auto it = step.find(k);
            return it == step.end() ? std::string() : it->second;
          };
          const bool scan = WholeTableRead(step);
          scans += scan;
          explain << absl::StrFormat("    %-20s %-7s %-36s rows %-9s r_rows %-9s %s%s\n", get("table"), get("type"),
                                     get("key"), get("rows"), get("r_rows"), get("Extra"),
                                     scan ? "   <-- FULL SCAN" : "");
        }
      }
      explain << "\n";
      if (summary) std::fprintf(summary, "%s\t%s\texamined\t%lld\n", label.c_str(), probe.name.c_str(),
                                static_cast<long long>(examined));
    }
    ++probes_done;
  }
  if (summary) std::fclose(summary);
  // The measured sweep's customer-log messages are dated a year ahead with its clock:
  // no relay would send them this year, and they would only sit in the outbox.
  MustExec(a, "DELETE FROM kefu_complaints.outbox WHERE delivered_time IS NULL AND "
              "next_attempt_time > NOW() + INTERVAL 300 DAY");
  if (scans) std::printf("%d whole-table reads: see %s\n", scans, absl::GetFlag(FLAGS_explain).c_str());
  return failures == 0 ? 0 : 1;
}

// What the services do on their own: every statement their background tasks (outbox
// relays, metric refreshers, classification and customer-check sweeps) ran during
// --seconds with no calls, grouped by statement shape, with the rows they examined.
int Background() {
  if (absl::GetFlag(FLAGS_explain).empty()) {
    std::cerr << "--mode=background needs --explain (an absolute path: the database writes its log beside it)\n";
    return 2;
  }
  auto admin = Connect("");
  auto session = admin->Acquire();
  if (!session.ok()) return 1;
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const std::string log = absl::StrCat(absl::GetFlag(FLAGS_explain), ".slow.log");
  auto statements = CaptureStatements(*session, log, [&] { absl::SleepFor(absl::Seconds(seconds)); });
  std::remove(log.c_str());
  struct Shape {
    int64_t runs = 0, examined = 0, most = 0;
    const Statement* example = nullptr;
  };
  // The statement up to its first literal value: one shape per query of the code.
  std::map<std::pair<std::string, std::string>, Shape> shapes;
  for (const auto& st : statements) {
    std::string shape = st.sql.substr(0, std::min(st.sql.find_first_of("0123456789'"), size_t{160}));
    auto& sh = shapes[{st.user, shape}];
    ++sh.runs;
    sh.examined += st.rows_examined;
    sh.most = std::max(sh.most, st.rows_examined);
    if (!sh.example || st.rows_examined > sh.example->rows_examined) sh.example = &st;
  }
  std::ofstream out(absl::GetFlag(FLAGS_explain));
  const std::string label = absl::GetFlag(FLAGS_label);
  std::FILE* summary = absl::GetFlag(FLAGS_summary).empty() ? nullptr
                                                            : std::fopen(absl::GetFlag(FLAGS_summary).c_str(), "a");
  std::map<std::string, int64_t> per_user;
  out << "# background statements in " << seconds << " s with no calls (" << label << ")\n";
  for (const auto& [key, sh] : shapes) {
    per_user[key.first] += sh.examined;
    out << absl::StrFormat("%-18s runs %-5d rows examined %-10d most in one %-9d %s\n", key.first, sh.runs, sh.examined,
                           sh.most, key.second);
    for (const auto& step : sh.example->plan) {
      auto get = [&](const char* k) {
        auto it = step.find(k);
        return it == step.end() ? std::string() : it->second;
      };
      out << absl::StrFormat("    %-20s %-7s %-36s rows %-9s r_rows %-9s %s%s\n", get("table"), get("type"), get("key"),
                             get("rows"), get("r_rows"), get("Extra"), WholeTableRead(step) ? "   <-- FULL SCAN" : "");
    }
  }
  for (const auto& [user, examined] : per_user) {
    const double per_minute = examined * 60.0 / seconds;
    std::printf("%-18s %12.0f rows examined per minute by background tasks\n", user.c_str(), per_minute);
    if (summary) std::fprintf(summary, "%s\t%s\tbackground_rows_per_min\t%.0f\n", label.c_str(), user.c_str(), per_minute);
  }
  if (summary) std::fclose(summary);
  return 0;
}

}  // namespace
}  // namespace kefu::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("kefu-scale --mode=load --rows=N | --mode=measure [--label L --summary F --explain F]");
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "load") return kefu::bench::Load();
  if (mode == "measure") return kefu::bench::Measure();
  if (mode == "background") return kefu::bench::Background();
  std::cerr << "unknown --mode " << mode << "\n";
  return 2;
}
