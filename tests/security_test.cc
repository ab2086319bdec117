// Security, tried from outside against the five real binaries (#7):
//   - the whole role x RPC matrix: every method of every service, called with a token
//     of each role, is refused exactly where the matrix says so, before any handler;
//   - no token, expired, tampered, wrong-audience, wrong-issuer, foreign-key, unsigned
//     ("alg":"none") and HS256-with-the-public-key tokens are all UNAUTHENTICATED;
//   - department scope: out-of-scope and missing records look the same to an agent;
//     services see masked contact details;
//   - the audit trail records writes and personal-data reads, for senior managers only;
//     refusals are counted in kefu_auth_denied_total;
//   - TLS: a plaintext client cannot talk to a TLS listener, a wrong CA is refused, and
//     mutual TLS refuses a client without a certificate;
//   - input limits: an oversized message and an oversized field are refused;
//   - no phone number or e-mail from the test data ever reaches a log line.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>

#include <cstdlib>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kefu/audit/v1/audit.grpc.pb.h"
#include "kefu/complaints/v1/complaints.grpc.pb.h"
#include "kefu/contracts/v1/contracts.grpc.pb.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/performance/v1/performance.grpc.pb.h"
#include "kefu/probe.h"
#include "kefu/sales/v1/sales.grpc.pb.h"
#include "kefu/security/access_policy.h"
#include "kefu/security/authenticator.h"
#include "kefu/security/tokens.h"
#include "support/auth.h"
#include "support/system.h"
#include "support/test_env.h"

namespace kefu {
namespace {

namespace cu = customers::v1;
namespace wo = complaints::v1;
using grpc::StatusCode;

// Personal data the tests create; none of it may appear in any log line.
constexpr char kPhone[] = "13912345678";
constexpr char kEmail[] = "zhang.secret@example.com";
constexpr char kOtherPhone[] = "13787654321";

struct Outcome {
  StatusCode code = StatusCode::OK;
  std::string message;
};

bool Next(grpc::CompletionQueue& cq) {
  void* tag;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

// Calls any method with one empty request message, whatever its streaming shape.
Outcome CallEmpty(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                  const std::string& token, absl::Duration timeout = absl::Seconds(3)) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!token.empty()) ctx.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  if (Next(cq)) {
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    call->Write(request, reinterpret_cast<void*>(2));
    if (Next(cq)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      Next(cq);
    }
    for (int i = 0; i < 1000; ++i) {
      grpc::ByteBuffer response;
      call->Read(&response, reinterpret_cast<void*>(4));
      if (!Next(cq)) break;
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  Next(cq);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return {status.error_code(), status.error_message()};
}

std::string Token(const std::string& subject, const std::string& roles, const std::string& department = "") {
  return testing::TestToken(subject, roles, department);
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  return ctx;
}

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Debug logs too, so the scan for personal data below sees every line there is.
    std::map<std::string, std::vector<std::string>> debug;
    for (const auto& name : testing::ServiceBinaries::Names()) debug[name] = {"--log_level=debug"};
    system_ = new testing::ServiceBinaries("sec", debug);
    ASSERT_TRUE(system_->Start());
  }

  static void TearDownTestSuite() {
    for (const auto& [name, code] : system_->Stop(15000)) {
      EXPECT_EQ(code, 0) << name;
      // Whatever the tests did, personal data never reached a log line.
      std::string out = Of(name).process->Output();
      for (const char* secret : {kPhone, kEmail, kOtherPhone, "139 1234 5678", "世纪大道100号", "张三", "李四"})
        EXPECT_EQ(out.find(secret), std::string::npos) << name << " logged " << secret;
      EXPECT_EQ(out.find("zhang.secret"), std::string::npos) << name;
    }
    delete system_;
  }

  static testing::ServiceBinaries::Binary& Of(const std::string& name) { return (*system_)[name]; }
  static std::unique_ptr<cu::CustomerService::Stub> Customers() {
    return cu::CustomerService::NewStub(Of("customers").channel);
  }

  // A customer of `department` with the test's personal data; returns its id.
  static int64_t CreateCustomer(const std::string& department, const std::string& name, const char* phone) {
    cu::CreateCustomerRequest req;
    auto* c = req.mutable_customer();
    c->set_kind(cu::CUSTOMER_KIND_PERSON);
    c->set_name(name);
    c->set_department_id(department);
    c->set_owner_id("E-OWNER");
    auto* contact = c->add_contacts();
    contact->set_name(name);
    contact->set_phone(phone);
    contact->set_email(std::string(phone) == kPhone ? kEmail : "li.other@example.com");
    contact->set_address("上海市浦东新区世纪大道100号");
    req.set_allow_duplicates(true);
    cu::Customer out;
    grpc::Status s = Customers()->CreateCustomer(Ctx(Token("S-1", "senior_manager")).get(), req, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.id();
  }

  static testing::ServiceBinaries* system_;
};
testing::ServiceBinaries* SecurityTest::system_ = nullptr;

// The second call with a token is routed by what the first one verified, without
// decoding it again: a service token stays the service's, a staff token stays staff, and
// an expired one is still refused.
TEST(TokenRouting, ATokenVerifiedBeforeKeepsItsKeyAndItsChecks) {
  const auto& keys = testing::Keys();
  security::Verifiers verifiers{*security::TokenVerifier::FromPublicKeyPem(keys.public_pem),
                                *security::TokenVerifier::FromPublicKeyPem(keys.service_public_pem)};
  auto sign = [](const std::string& pem, const std::string& subject, const std::string& role, absl::Time expires) {
    security::Claims c;
    c.subject = subject;
    c.roles = {role};
    c.expires = expires;
    return *(*security::TokenSigner::FromPrivateKeyPem(pem))->Sign(c, absl::Now());
  };
  const absl::Time now = absl::Now();
  const std::string staff = sign(keys.private_pem, "E1001", "agent", now + absl::Minutes(5));
  const std::string service = sign(keys.service_private_pem, "svc:complaints", "service", now + absl::Minutes(5));
  auto resolve = [&](const std::string& token, absl::Time at) {
    std::string header = "Bearer " + token;
    security::Metadata md{{grpc::string_ref("authorization"), grpc::string_ref(header)}};
    return security::ResolveIdentity(md, verifiers, at);
  };
  EXPECT_FALSE(verifiers.staff->Knows(staff));
  for (int call = 0; call < 2; ++call) {
    SCOPED_TRACE(call);
    auto as_staff = resolve(staff, now);
    ASSERT_TRUE(as_staff.ok()) << as_staff.status();
    EXPECT_EQ(as_staff->staff, "E1001");
    EXPECT_EQ(as_staff->service, "");
    auto as_service = resolve(service, now);
    ASSERT_TRUE(as_service.ok()) << as_service.status();
    EXPECT_EQ(as_service->service, "complaints");
    EXPECT_EQ(as_service->staff, "");
  }
  EXPECT_TRUE(verifiers.staff->Knows(staff));
  EXPECT_FALSE(verifiers.staff->Knows(service));
  EXPECT_TRUE(verifiers.service->Knows(service));
  // Known, but past its expiry: refused all the same.
  EXPECT_EQ(resolve(staff, now + absl::Minutes(10)).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(resolve(service, now + absl::Minutes(10)).status().code(), absl::StatusCode::kUnauthenticated);
  // A token that failed is not remembered.
  const std::string forged = sign(keys.service_private_pem, "E1001", "agent", now + absl::Minutes(5));
  EXPECT_FALSE(resolve(forged, now).ok());
  EXPECT_FALSE(verifiers.staff->Knows(forged));
}

// Every RPC of every kefu API, and the audit service, has a row in the matrix.
TEST_F(SecurityTest, EveryRpcIsInTheMatrix) {
  // Through each API's own file, so every one is linked in and registered.
  const std::vector<const google::protobuf::ServiceDescriptor*> services = {
      cu::Customer::descriptor()->file()->FindServiceByName("CustomerService"),
      contracts::v1::Contract::descriptor()->file()->FindServiceByName("ContractService"),
      wo::WorkOrder::descriptor()->file()->FindServiceByName("ComplaintService"),
      sales::v1::Project::descriptor()->file()->FindServiceByName("SalesService"),
      performance::v1::Staff::descriptor()->file()->FindServiceByName("PerformanceService"),
      audit::v1::AuditEntry::descriptor()->file()->FindServiceByName("AuditService")};
  int methods = 0;
  for (const auto* d : services) {
    ASSERT_NE(d, nullptr);
    for (int i = 0; i < d->method_count(); ++i, ++methods) {
      std::string path = absl::StrCat("/", d->full_name(), "/", d->method(i)->name());
      EXPECT_NE(security::PolicyFor(path), nullptr) << path << " has no row in the role matrix";
    }
  }
  EXPECT_GE(methods, 120);
  EXPECT_EQ(security::PolicyFor("/kefu.customers.v1.CustomerService/DropEverything"), nullptr);
}

// The full matrix against the running services: each cell is allowed or refused as
// specified. An allowed cell may still fail validation (the request is empty), but is
// never refused by the matrix or by authentication.
TEST_F(SecurityTest, TheRoleMatrixHoldsForEveryRpcAndEveryRole) {
  std::map<std::string, std::string> binary_of = {
      {"kefu.customers.v1.CustomerService", "customers"}, {"kefu.contracts.v1.ContractService", "contracts"},
      {"kefu.complaints.v1.ComplaintService", "complaints"}, {"kefu.sales.v1.SalesService", "sales"},
      {"kefu.performance.v1.PerformanceService", "performance"}};
  int cells = 0, refused = 0;
  for (const auto& path : security::PolicyMethods()) {
    std::string service = path.substr(1, path.rfind('/') - 1);
    const auto* policy = security::PolicyFor(path);
    std::vector<std::string> targets;
    if (binary_of.count(service)) targets = {binary_of[service]};
    else targets = {"customers", "performance"};  // audit, reflection, health: served by every binary
    for (const auto& target : targets) {
      auto& channel = Of(target).channel;
      absl::Duration timeout = absl::EndsWith(path, "/WatchAlerts") || absl::EndsWith(path, "Health/Watch")
                                   ? absl::Milliseconds(500)
                                   : absl::Seconds(5);
      // Without a token: only health checks answer.
      Outcome anonymous = CallEmpty(channel, path, "", timeout);
      if (policy->access == security::Access::kPublic) {
        // Health answers anyone (Watch streams until its deadline).
        EXPECT_TRUE(anonymous.code == StatusCode::OK || anonymous.code == StatusCode::DEADLINE_EXCEEDED)
            << path << ": " << static_cast<int>(anonymous.code) << " " << anonymous.message;
        continue;
      }
      EXPECT_EQ(anonymous.code, StatusCode::UNAUTHENTICATED) << path;
      for (const auto& role : security::AllRoles()) {
        ++cells;
        std::string token = role == security::kService ? testing::TestServiceToken("matrix-test")
                                                       : Token("E-MATRIX", role, "D-MATRIX");
        Outcome o = CallEmpty(channel, path, token, timeout);
        bool by_matrix = o.code == StatusCode::PERMISSION_DENIED && absl::StartsWith(o.message, "role matrix");
        if (policy->Allows(role)) {
          EXPECT_FALSE(by_matrix) << path << " refused " << role;
          EXPECT_NE(o.code, StatusCode::UNAUTHENTICATED) << path << " " << role << ": " << o.message;
          EXPECT_NE(o.code, StatusCode::UNIMPLEMENTED) << path;
        } else {
          ++refused;
          EXPECT_TRUE(by_matrix) << path << " let " << role << " through: " << static_cast<int>(o.code) << " "
                                 << o.message;
        }
      }
    }
  }
  EXPECT_GT(cells, 700);
  EXPECT_GT(refused, 200);
  // Refusals are counted by method and reason.
  auto metrics = testing::HttpGet(Of("customers").metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->find("kefu_auth_denied_total{grpc_method=\"ImportCustomers\",grpc_service="
                          "\"kefu.customers.v1.CustomerService\",reason=\"permission_denied\"}"),
            std::string::npos);
  EXPECT_NE(metrics->find("reason=\"unauthenticated\""), std::string::npos);
}

// Hand-made bad tokens, each refused with UNAUTHENTICATED.
TEST_F(SecurityTest, BadTokensAreRefused) {
  const auto& keys = testing::Keys();
  auto get = [&](const std::string& token) {
    cu::GetCustomerRequest req;
    req.set_customer_id(1);
    cu::Customer out;
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    if (!token.empty()) ctx->AddMetadata("authorization", token);
    return Customers()->GetCustomer(ctx.get(), req, &out);
  };
  auto sign = [&](const std::string& issuer, const std::string& audience, absl::Duration ttl,
                  const std::string& private_pem) {
    auto signer = security::TokenSigner::FromPrivateKeyPem(private_pem, issuer, audience);
    security::Claims c;
    c.subject = "E1001";
    c.roles = {"senior_manager"};
    c.expires = absl::Now() + ttl;
    return *(*signer)->Sign(c, absl::Now());
  };
  std::string good = sign("kefu", "kefu", absl::Minutes(5), keys.private_pem);
  // The good token gets past authentication (the customer does not exist).
  EXPECT_EQ(get("Bearer " + good).error_code(), StatusCode::NOT_FOUND);

  std::map<std::string, std::string> bad;
  bad["missing"] = "";
  bad["not bearer"] = "Basic " + good;
  bad["garbage"] = "Bearer not.a.token";
  bad["expired"] = "Bearer " + sign("kefu", "kefu", -absl::Minutes(5), keys.private_pem);
  bad["wrong audience"] = "Bearer " + sign("kefu", "someone-else", absl::Minutes(5), keys.private_pem);
  bad["wrong issuer"] = "Bearer " + sign("evil", "kefu", absl::Minutes(5), keys.private_pem);
  {
    // Signed by a key the services do not trust.
    EVP_PKEY* key = EVP_RSA_gen(2048);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    bad["foreign key"] = "Bearer " + sign("kefu", "kefu", absl::Minutes(5), std::string(data, n));
    BIO_free(bio);
    EVP_PKEY_free(key);
  }
  {
    // One character of the payload changed: the signature no longer matches.
    std::string tampered = good;
    size_t dot = tampered.find('.');
    tampered[dot + 5] = tampered[dot + 5] == 'A' ? 'B' : 'A';
    bad["tampered"] = "Bearer " + tampered;
  }
  std::string payload = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  {
    std::string header;
    absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})", &header);
    bad["unsigned"] = absl::StrCat("Bearer ", header, ".", payload, ".");
  }
  {
    // HS256 keyed with the public key, which anyone may hold.
    jwt_t* jwt = nullptr;
    jwt_new(&jwt);
    security::Claims c;
    std::string json = absl::StrCat(R"({"iss":"kefu","aud":"kefu","sub":"E1001","roles":["senior_manager"],"exp":)",
                                    absl::ToUnixSeconds(absl::Now() + absl::Minutes(5)), "}");
    jwt_add_grants_json(jwt, json.c_str());
    jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(keys.public_pem.data()),
                static_cast<int>(keys.public_pem.size()));
    char* out = jwt_encode_str(jwt);
    bad["hs256 with the public key"] = absl::StrCat("Bearer ", out);
    free(out);
    jwt_free(jwt);
  }
  for (const auto& [what, header] : bad) {
    grpc::Status s = get(header);
    EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << what << ": " << s.error_message();
  }
}

// Agents see their own department's customers and work orders; anything else, existing
// or not, is the same PERMISSION_DENIED. Senior managers see all, and get NOT_FOUND.
TEST_F(SecurityTest, DepartmentScopeHidesOtherDepartmentsRecordsAndTheirExistence) {
  int64_t east = CreateCustomer("D-EAST", "张三", kPhone);
  int64_t west = CreateCustomer("D-WEST", "李四", kOtherPhone);
  std::string agent = Token("E-AGENT", "agent", "D-EAST");
  auto get = [&](const std::string& token, int64_t id, cu::Customer* out) {
    cu::GetCustomerRequest req;
    req.set_customer_id(id);
    return Customers()->GetCustomer(Ctx(token).get(), req, out);
  };
  cu::Customer c;
  ASSERT_TRUE(get(agent, east, &c).ok());
  EXPECT_EQ(c.contacts(0).phone(), kPhone);  // an agent on the phone needs the number
  grpc::Status other = get(agent, west, &c);
  grpc::Status missing = get(agent, 999999, &c);
  EXPECT_EQ(other.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(missing.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other.error_message(), missing.error_message());
  EXPECT_EQ(get(Token("S-1", "senior_manager"), 999999, &c).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(get(Token("S-1", "senior_manager"), west, &c).error_code(), StatusCode::OK);
  // The tier alone is scoped the same way: it must not tell whether another
  // department's customer exists.
  auto tier_of = [&](const std::string& token, int64_t id) {
    cu::GetCustomerTierRequest req;
    req.set_customer_id(id);
    cu::CustomerTier out;
    return Customers()->GetCustomerTier(Ctx(token).get(), req, &out);
  };
  EXPECT_EQ(tier_of(agent, east).error_code(), StatusCode::OK);
  grpc::Status other_tier = tier_of(agent, west);
  EXPECT_EQ(other_tier.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other_tier.error_message(), tier_of(agent, 999999).error_message());
  EXPECT_EQ(tier_of(Token("S-1", "senior_manager"), 999999).error_code(), StatusCode::NOT_FOUND);

  // Lists are limited to the caller's department; asking for another is refused.
  cu::ListCustomersRequest list;
  cu::ListCustomersResponse page;
  ASSERT_TRUE(Customers()->ListCustomers(Ctx(agent).get(), list, &page).ok());
  ASSERT_GE(page.customers_size(), 1);
  for (const auto& x : page.customers()) EXPECT_EQ(x.department_id(), "D-EAST");
  list.set_department_id("D-WEST");
  EXPECT_EQ(Customers()->ListCustomers(Ctx(agent).get(), list, &page).error_code(), StatusCode::PERMISSION_DENIED);

  // A service reading a whole customer for itself gets contact details masked (tier
  // lookups use GetCustomerTier, which carries none).
  ASSERT_TRUE(get(testing::TestServiceToken("complaints"), east, &c).ok());
  EXPECT_EQ(c.contacts(0).phone(), "139****5678");
  EXPECT_EQ(c.contacts(0).email(), "z***@example.com");
  EXPECT_EQ(c.contacts(0).address(), "上海市浦东新****");

  // Work orders: an agent of another department cannot read one or act on it, nor learn
  // that it exists from a stale-version answer.
  auto complaints = wo::ComplaintService::NewStub(Of("complaints").channel);
  wo::CreateWorkOrderRequest create;
  auto* w = create.mutable_work_order();
  w->set_customer_id(west);
  w->set_channel(wo::CHANNEL_PHONE);
  w->set_type(wo::WORK_ORDER_TYPE_CONSULTATION);
  w->set_severity(wo::SEVERITY_MINOR);
  w->set_content("咨询");
  wo::WorkOrder order;
  grpc::Status s = complaints->CreateWorkOrder(Ctx(Token("E-WEST", "agent", "D-WEST")).get(), create, &order);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(order.department_id(), "D-WEST");
  wo::GetWorkOrderRequest wget;
  wget.set_work_order_id(order.id());
  wo::WorkOrder seen;
  EXPECT_EQ(complaints->GetWorkOrder(Ctx(agent).get(), wget, &seen).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(complaints->GetWorkOrder(Ctx(Token("E-WEST", "agent", "D-WEST")).get(), wget, &seen).ok());
  wo::WorkOrderActionRequest accept;
  accept.set_work_order_id(order.id());
  accept.set_version(order.version());
  EXPECT_EQ(complaints->AcceptWorkOrder(Ctx(agent).get(), accept, &seen).error_code(), StatusCode::PERMISSION_DENIED);
  accept.set_version(999999);
  EXPECT_EQ(complaints->AcceptWorkOrder(Ctx(agent).get(), accept, &seen).error_code(), StatusCode::PERMISSION_DENIED);
  // An agent cannot open a work order in another department either.
  create.mutable_work_order()->set_department_id("D-WEST");
  EXPECT_EQ(complaints->CreateWorkOrder(Ctx(agent).get(), create, &seen).error_code(), StatusCode::PERMISSION_DENIED);
  create.mutable_work_order()->set_department_id("D-EAST");
  create.mutable_work_order()->set_customer_id(east);
  ASSERT_TRUE(complaints->CreateWorkOrder(Ctx(agent).get(), create, &seen).ok());
  wo::ListWorkOrdersRequest wlist;
  wo::ListWorkOrdersResponse wpage;
  ASSERT_TRUE(complaints->ListWorkOrders(Ctx(agent).get(), wlist, &wpage).ok());
  ASSERT_GE(wpage.work_orders_size(), 1);
  for (const auto& x : wpage.work_orders()) EXPECT_EQ(x.department_id(), "D-EAST");
  wo::ListAtRiskRequest risk;
  wo::ListAtRiskResponse at_risk;
  ASSERT_TRUE(complaints->ListAtRisk(Ctx(agent).get(), risk, &at_risk).ok());
  for (const auto& x : at_risk.items()) EXPECT_EQ(x.work_order().department_id(), "D-EAST");
  risk.set_department_id("D-WEST");
  EXPECT_EQ(complaints->ListAtRisk(Ctx(agent).get(), risk, &at_risk).error_code(), StatusCode::PERMISSION_DENIED);

  // Customer changes by id follow the same scope.
  cu::ChangeTierRequest tier;
  tier.set_customer_id(west);
  tier.set_tier(cu::TIER_GOLD);
  tier.set_reason("升级");
  tier.set_version(1);
  cu::Customer changed;
  EXPECT_EQ(Customers()->ChangeTier(Ctx(Token("M-EAST", "account_manager", "D-EAST")).get(), tier, &changed)
                .error_code(),
            StatusCode::PERMISSION_DENIED);
}

// Staff tokens and service tokens have keys of their own; a service acts for a staff
// member only with that member's own token, and then within their scope.
TEST_F(SecurityTest, ServiceTokensAndActingForStaffNeedTheRightKeysAndTokens) {
  int64_t west = CreateCustomer("D-WEST", "周八", kOtherPhone);
  auto get = [&](const std::string& token, const std::string& on_behalf_token, int64_t id) {
    cu::GetCustomerRequest req;
    req.set_customer_id(id);
    cu::Customer out;
    auto ctx = Ctx(token);
    if (!on_behalf_token.empty()) ctx->AddMetadata("x-kefu-on-behalf-of-token", on_behalf_token);
    return Customers()->GetCustomer(ctx.get(), req, &out);
  };
  const auto& keys = testing::Keys();
  auto sign = [](const std::string& pem, const std::string& subject, std::vector<std::string> roles) {
    security::Claims c;
    c.subject = subject;
    c.roles = std::move(roles);
    c.expires = absl::Now() + absl::Minutes(5);
    return *(*security::TokenSigner::FromPrivateKeyPem(pem))->Sign(c, absl::Now());
  };
  // A staff token may not claim the service role; service tokens need the service key,
  // and a service key cannot mint staff tokens.
  EXPECT_EQ(get(sign(keys.private_pem, "E1001", {"senior_manager", "service"}), "", west).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get(sign(keys.private_pem, "svc:rogue", {"service"}), "", west).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get(sign(keys.service_private_pem, "E1001", {"senior_manager"}), "", west).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get(sign(keys.service_private_pem, "svc:x", {"service", "senior_manager"}), "", west).error_code(),
            StatusCode::UNAUTHENTICATED);
  // The service itself (acting for nobody) may read the customer.
  std::string service = testing::TestServiceToken("complaints");
  EXPECT_TRUE(get(service, "", west).ok());
  // For an agent of another department: refused, as for the agent directly.
  std::string east_agent = Token("E-AGENT", "agent", "D-EAST");
  EXPECT_EQ(get(service, east_agent, west).error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(get(service, Token("E-WEST", "agent", "D-WEST"), west).ok());
  // A bad on-behalf token fails the call instead of falling back to the service alone.
  EXPECT_EQ(get(service, "not-a-token", west).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(get(service, sign(keys.service_private_pem, "E-WEST", {"agent"}), west).error_code(),
            StatusCode::UNAUTHENTICATED);
  // A staff token's on-behalf header means nothing: the agent stays themselves.
  EXPECT_EQ(get(east_agent, Token("S-1", "senior_manager"), west).error_code(), StatusCode::PERMISSION_DENIED);
}

// Bulk import and the alert stream follow the same department scope.
TEST_F(SecurityTest, ImportAndAlertStreamStayInTheCallersDepartment) {
  std::string manager = Token("M-EAST", "department_manager", "D-EAST");
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ctx.AddMetadata("authorization", "Bearer " + manager);
  cu::ImportCustomersResponse resp;
  auto writer = Customers()->ImportCustomers(&ctx, &resp);
  cu::ImportCustomersRequest req;
  for (const char* dept : {"", "D-EAST", "D-WEST"}) {
    auto* c = req.add_customers();
    c->set_kind(cu::CUSTOMER_KIND_ORGANIZATION);
    c->set_name(absl::StrCat("导入测试", dept, "有限公司"));
    c->set_department_id(dept);
  }
  ASSERT_TRUE(writer->Write(req));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.committed(), false);  // one bad row, nothing written
  EXPECT_EQ(resp.results(0).outcome(), cu::ImportRowResult::OUTCOME_VALID);
  EXPECT_EQ(resp.results(1).outcome(), cu::ImportRowResult::OUTCOME_VALID);
  EXPECT_EQ(resp.results(2).outcome(), cu::ImportRowResult::OUTCOME_INVALID);
  ASSERT_EQ(resp.results(2).violations_size(), 1);
  EXPECT_EQ(resp.results(2).violations(0).field(), "department_id");

  auto complaints = wo::ComplaintService::NewStub(Of("complaints").channel);
  wo::WatchAlertsRequest watch;
  watch.set_department_id("D-WEST");
  grpc::ClientContext wctx;
  wctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  wctx.AddMetadata("authorization", "Bearer " + Token("E-AGENT", "agent", "D-EAST"));
  auto reader = complaints->WatchAlerts(&wctx, watch);
  wo::Alert alert;
  EXPECT_FALSE(reader->Read(&alert));
  EXPECT_EQ(reader->Finish().error_code(), StatusCode::PERMISSION_DENIED);
}

// A watch accepted with a token about to expire ends when it does (tokens have 30 s of
// leeway, so one that expired 27 s ago is still good for about 3 s).
TEST_F(SecurityTest, AnAlertStreamEndsWhenItsTokenExpires) {
  auto complaints = wo::ComplaintService::NewStub(Of("complaints").channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  ctx.AddMetadata("authorization",
                  "Bearer " + testing::TestToken("E-WATCH", "senior_manager", "", -absl::Seconds(27)));
  wo::WatchAlertsRequest watch;
  absl::Time start = absl::Now();
  auto reader = complaints->WatchAlerts(&ctx, watch);
  wo::Alert alert;
  while (reader->Read(&alert)) {
  }
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

// Writes and personal-data reads land in the owning service's audit trail, with who,
// which RPC, which record and which fields (never values); only senior managers read it.
TEST_F(SecurityTest, WritesAndPersonalDataReadsAreAudited) {
  int64_t id = CreateCustomer("D-AUDIT", "王五", kPhone);
  std::string manager = Token("M-AUDIT", "account_manager", "D-AUDIT");
  cu::GetCustomerRequest get;
  get.set_customer_id(id);
  cu::Customer c;
  ASSERT_TRUE(Customers()->GetCustomer(Ctx(manager).get(), get, &c).ok());
  // The tier alone is no personal data: not audited (it would sit between the read and
  // the update below).
  cu::GetCustomerTierRequest get_tier;
  get_tier.set_customer_id(id);
  cu::CustomerTier tier;
  ASSERT_TRUE(Customers()->GetCustomerTier(Ctx(manager).get(), get_tier, &tier).ok());
  cu::UpdateCustomerRequest update;
  *update.mutable_customer() = c;
  update.mutable_customer()->set_industry("制造业");
  update.mutable_update_mask()->add_paths("industry");
  ASSERT_TRUE(Customers()->UpdateCustomer(Ctx(manager).get(), update, &c).ok());

  auto audit = audit::v1::AuditService::NewStub(Of("customers").channel);
  audit::v1::ListAuditEntriesRequest req;
  req.set_record_id(absl::StrCat(id));
  audit::v1::ListAuditEntriesResponse resp;
  EXPECT_EQ(audit->ListAuditEntries(Ctx(manager).get(), req, &resp).error_code(), StatusCode::PERMISSION_DENIED);
  // Rows are written in batches a fraction of a second later.
  bool complete = false;
  for (int i = 0; i < 50 && !complete; ++i) {
    resp.Clear();
    ASSERT_TRUE(audit->ListAuditEntries(Ctx(Token("S-1", "senior_manager")).get(), req, &resp).ok());
    complete = resp.entries_size() >= 3;  // create, read, update
    if (!complete) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(complete) << resp.DebugString();
  EXPECT_EQ(resp.entries_size(), 3) << resp.DebugString();
  const auto& newest = resp.entries(0);
  EXPECT_EQ(newest.method(), "/kefu.customers.v1.CustomerService/UpdateCustomer");
  EXPECT_EQ(newest.kind(), "write");
  EXPECT_EQ(newest.actor(), "M-AUDIT");
  EXPECT_EQ(newest.actor_roles(), "account_manager");
  ASSERT_EQ(newest.fields_size(), 1);
  EXPECT_EQ(newest.fields(0), "industry");
  const auto& read = resp.entries(1);
  EXPECT_EQ(read.method(), "/kefu.customers.v1.CustomerService/GetCustomer");
  EXPECT_EQ(read.kind(), "personal_data_read");
  EXPECT_EQ(read.actor(), "M-AUDIT");
  EXPECT_EQ(resp.entries(2).method(), "/kefu.customers.v1.CustomerService/CreateCustomer");
  EXPECT_EQ(resp.entries(2).actor(), "S-1");
  // Field names only: the personal data itself is not copied into the trail.
  for (const auto& e : resp.entries())
    for (const auto& f : e.fields()) EXPECT_EQ(f.find(kPhone), std::string::npos);

  // Filtering by actor and by method name.
  audit::v1::ListAuditEntriesRequest by_actor;
  by_actor.set_actor("M-AUDIT");
  by_actor.set_method("GetCustomer");
  ASSERT_TRUE(audit->ListAuditEntries(Ctx(Token("S-1", "senior_manager")).get(), by_actor, &resp).ok());
  ASSERT_GE(resp.entries_size(), 1);
  for (const auto& e : resp.entries()) EXPECT_EQ(e.method(), "/kefu.customers.v1.CustomerService/GetCustomer");
}

TEST_F(SecurityTest, OversizedInputIsRefusedNotAllocated) {
  std::string token = Token("S-1", "senior_manager", "D-LIMITS");
  cu::CreateCustomerRequest req;
  auto* c = req.mutable_customer();
  c->set_kind(cu::CUSTOMER_KIND_PERSON);
  c->set_name(std::string(300, 'x'));
  cu::Customer out;
  grpc::Status s = Customers()->CreateCustomer(Ctx(token).get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("customer.name"), std::string::npos) << s.error_message();
  // Beyond the 4 MiB message cap, gRPC refuses the message before it is parsed.
  c->set_name("正常名字");
  c->set_industry(std::string(5 << 20, 'y'));
  s = Customers()->CreateCustomer(Ctx(token).get(), req, &out);
  EXPECT_EQ(s.error_code(), StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  cu::ListCustomersRequest list;
  list.set_page_size(100000);
  cu::ListCustomersResponse page;
  EXPECT_EQ(Customers()->ListCustomers(Ctx(token).get(), list, &page).error_code(), StatusCode::INVALID_ARGUMENT);
}

// Duplicate detection and invalid contact details are the likeliest places for a phone
// number or e-mail to slip into an error and from there into a log line; the suite's
// teardown checks every binary's log for them.
TEST_F(SecurityTest, ErrorsAboutPersonalDataDoNotEchoIt) {
  CreateCustomer("D-PII", "赵六", kPhone);
  cu::CreateCustomerRequest dup;
  auto* c = dup.mutable_customer();
  c->set_kind(cu::CUSTOMER_KIND_PERSON);
  c->set_name("赵六");
  c->set_department_id("D-PII");
  c->add_contacts()->set_phone("139 1234 5678");  // kPhone as people type it
  cu::Customer out;
  grpc::Status s = Customers()->CreateCustomer(Ctx(Token("S-1", "senior_manager")).get(), dup, &out);
  EXPECT_EQ(s.error_code(), StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_EQ(s.error_message().find(kPhone), std::string::npos);
  EXPECT_EQ(s.error_message().find("139 1234 5678"), std::string::npos);
  c->mutable_contacts(0)->set_email("zhang.secret@@example");
  s = Customers()->CreateCustomer(Ctx(Token("S-1", "senior_manager")).get(), dup, &out);
  EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().find("zhang.secret"), std::string::npos) << s.error_message();
}

// ---- TLS, on a customers binary of its own ----

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/kefu-tls-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    pki_ = dir;
    std::string cmd = absl::StrCat(testing::SourcePath("tools/dev/gen-pki.sh"), " ", pki_, " >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    cmd = absl::StrCat(testing::SourcePath("tools/dev/gen-pki.sh"), " ", pki_, "/other >/dev/null");
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    db_ = testing::CreateSchema("sec_tls");
  }
  void TearDown() override {
    if (process_) {
      process_->Signal(SIGTERM);
      EXPECT_EQ(process_->WaitExit(15000), 0);
    }
    testing::DropSchema(db_);
    std::system(absl::StrCat("rm -rf ", pki_).c_str());
  }
  void Start(bool require_client_cert, const std::vector<std::string>& extra_flags = {}) {
    std::vector<std::string> args{"--listen_host=127.0.0.1", absl::StrCat("--grpc_port=", port_),
                                  "--metrics_port=-1", absl::StrCat("--db_port=", testing::SharedDbPort()),
                                  absl::StrCat("--db_user=", db_.user), absl::StrCat("--db_name=", db_.schema),
                                  absl::StrCat("--tls_cert_file=", pki_, "/service.pem"),
                                  absl::StrCat("--tls_key_file=", pki_, "/service-key.pem"),
                                  absl::StrCat("--tls_ca_file=", pki_, "/ca.pem"),
                                  absl::StrCat("--jwt_public_key_file=", testing::Keys().public_file)};
    if (require_client_cert) args.push_back("--tls_require_client_cert");
    args.insert(args.end(), extra_flags.begin(), extra_flags.end());
    process_ = std::make_unique<testing::Process>(testing::BuildPath("services/customers/kefu-customers"), args,
                                                  std::vector<std::string>{"KEFU_DB_PASSWORD=" + db_.password});
  }
  std::string Read(const std::string& file) { return *security::ReadSecretFile(absl::StrCat(pki_, "/", file)); }
  std::shared_ptr<grpc::Channel> Tls(bool with_client_cert, const std::string& ca_file = "ca.pem") {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = Read(ca_file);
    if (with_client_cert) {
      o.pem_cert_chain = Read("service.pem");
      o.pem_private_key = Read("service-key.pem");
    }
    grpc::ChannelArguments args;
    // Retry the connection quickly while the server starts.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port_), grpc::SslCredentials(o), args);
  }
  bool Serving(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
    auto h = probe::WaitForHealth(channel, "", probe::HealthState::kServing, timeout);
    return h.ok() && *h == probe::HealthState::kServing;
  }
  grpc::Status GetMissingCustomer(const std::shared_ptr<grpc::Channel>& channel) {
    cu::GetCustomerRequest req;
    req.set_customer_id(424242);
    cu::Customer out;
    auto ctx = Ctx(Token("S-1", "senior_manager"));
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(3)));
    return cu::CustomerService::NewStub(channel)->GetCustomer(ctx.get(), req, &out);
  }

  std::string pki_;
  db::Config db_;
  int port_ = testing::FreePort();
  std::unique_ptr<testing::Process> process_;
};

TEST_F(TlsTest, TlsClientsAreServedAndPlaintextOrUntrustedClientsAreNot) {
  Start(false);
  auto tls = Tls(false);
  ASSERT_TRUE(Serving(tls, absl::Seconds(30))) << process_->Output();
  EXPECT_EQ(GetMissingCustomer(tls).error_code(), StatusCode::NOT_FOUND);
  auto plaintext = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
  EXPECT_FALSE(Serving(plaintext, absl::Seconds(1)));
  EXPECT_EQ(GetMissingCustomer(plaintext).error_code(), StatusCode::UNAVAILABLE);
  // A client that trusts another CA.
  EXPECT_EQ(GetMissingCustomer(Tls(false, "other/ca.pem")).error_code(), StatusCode::UNAVAILABLE);
}

// A moved business clock would stamp wrong times on real records: a TLS (production)
// server refuses to start with one.
TEST_F(TlsTest, AShiftedBusinessClockIsRefusedOutsideDevelopment) {
  Start(false, {"--clock_offset=-336h"});
  EXPECT_EQ(process_->WaitExit(15000), 2);
  EXPECT_NE(process_->Output().find("--clock_offset is for development only"), std::string::npos)
      << process_->Output();
  process_.reset();
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificate) {
  Start(true);
  auto with_cert = Tls(true);
  ASSERT_TRUE(Serving(with_cert, absl::Seconds(30))) << process_->Output();
  EXPECT_EQ(GetMissingCustomer(with_cert).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(GetMissingCustomer(Tls(false)).error_code(), StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace kefu
