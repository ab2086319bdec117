// Bulk import and export of customers through the real service on MariaDB: every row
// checked before any is written, one bad row imports nothing unless asked to skip,
// duplicates found among the rows and against stored customers, export streams all.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "kefu/customers/v1/customers.grpc.pb.h"
#include "kefu/log.h"
#include "support/customers_fixture.h"
#include "support/test_env.h"
#include "support/auth.h"

namespace kefu {
namespace {

namespace pb = ::kefu::customers::v1;
using Outcome = pb::ImportRowResult;

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  kefu::testing::Authorize(ctx.get(), "E1001", "senior_manager");
  return ctx;
}

pb::Customer Row(const std::string& name, const std::string& phone, const std::string& region = "华东") {
  pb::Customer c;
  c.set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
  c.set_name(name);
  c.set_region(region);
  c.set_tier(pb::TIER_SILVER);
  auto* contact = c.add_contacts();
  contact->set_name("联系人");
  contact->set_phone(phone);
  return c;
}

class CustomersImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log::Init("import-test", log::Level::kError);
    clock_ = new FakeClock(absl::FromUnixSeconds(1'800'000'000));
    customers_ = new testing::CustomersFixture(clock_);
  }
  static void TearDownTestSuite() { delete customers_; }

  // Sends `rows` in messages of `chunk` rows.
  static grpc::Status Import(const std::vector<pb::Customer>& rows, pb::ImportOptions options,
                             pb::ImportCustomersResponse* resp, int chunk = 2) {
    auto stub = pb::CustomerService::NewStub(customers_->channel());
    auto ctx = Ctx();
    auto writer = stub->ImportCustomers(ctx.get(), resp);
    pb::ImportCustomersRequest msg;
    *msg.mutable_options() = options;
    for (size_t i = 0; i < rows.size(); ++i) {
      *msg.add_customers() = rows[i];
      if (msg.customers_size() == chunk || i + 1 == rows.size()) {
        if (!writer->Write(msg)) break;
        msg.Clear();
      }
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static int64_t CountRegion(const std::string& region) {
    auto stub = pb::CustomerService::NewStub(customers_->channel());
    pb::ExportCustomersRequest req;
    req.set_region(region);
    auto ctx = Ctx();
    auto reader = stub->ExportCustomers(ctx.get(), req);
    pb::Customer c;
    int64_t n = 0;
    while (reader->Read(&c)) ++n;
    EXPECT_TRUE(reader->Finish().ok());
    return n;
  }

  static FakeClock* clock_;
  static testing::CustomersFixture* customers_;
};

FakeClock* CustomersImport::clock_;
testing::CustomersFixture* CustomersImport::customers_;

TEST_F(CustomersImport, OneBadRowImportsNothingAndEveryRowIsReported) {
  int64_t stored = customers_->CreateCustomer("已存在的客户有限公司", pb::TIER_GOLD);
  std::vector<pb::Customer> rows = {Row("杭州一号科技", "13900000001", "导入甲"), Row("", "13900000002", "导入甲"),
                                    Row("杭州二号科技", "139-0000-0001", "导入甲"),
                                    Row("已存在的客户有限公司", "13900000004", "导入甲"),
                                    Row("杭州三号科技", "12", "导入甲")};
  pb::ImportCustomersResponse resp;
  grpc::Status st = Import(rows, {}, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.committed());
  EXPECT_EQ(resp.rows(), 5);
  EXPECT_EQ(resp.imported(), 0);
  EXPECT_EQ(resp.invalid(), 2);
  EXPECT_EQ(resp.duplicates(), 2);
  ASSERT_EQ(resp.results_size(), 5);
  EXPECT_EQ(resp.results(0).outcome(), Outcome::OUTCOME_VALID);
  EXPECT_EQ(resp.results(1).outcome(), Outcome::OUTCOME_INVALID);
  ASSERT_GE(resp.results(1).violations_size(), 1);
  EXPECT_EQ(resp.results(1).violations(0).field(), "name");
  EXPECT_EQ(resp.results(2).outcome(), Outcome::OUTCOME_DUPLICATE);  // same phone as row 1, other spelling
  EXPECT_EQ(resp.results(2).duplicate_of_row(), 1);
  EXPECT_EQ(resp.results(3).outcome(), Outcome::OUTCOME_DUPLICATE);
  ASSERT_EQ(resp.results(3).duplicate_of_customer_ids_size(), 1);
  EXPECT_EQ(resp.results(3).duplicate_of_customer_ids(0), stored);
  EXPECT_EQ(resp.results(4).outcome(), Outcome::OUTCOME_INVALID);
  EXPECT_EQ(resp.results(4).violations(0).field(), "contacts[0].phone");
  EXPECT_EQ(CountRegion("导入甲"), 0);  // nothing half-imported

  // Asked to skip, the valid row goes in and the report is the same.
  pb::ImportOptions skip;
  skip.set_skip_invalid(true);
  ASSERT_TRUE(Import(rows, skip, &resp).ok());
  EXPECT_TRUE(resp.committed());
  EXPECT_EQ(resp.imported(), 1);
  EXPECT_EQ(resp.results(0).outcome(), Outcome::OUTCOME_IMPORTED);
  EXPECT_GT(resp.results(0).customer_id(), 0);
  EXPECT_EQ(resp.results(0).number(), absl::StrCat("C", std::string(8 - std::to_string(resp.results(0).customer_id()).size(), '0'),
                                                   resp.results(0).customer_id()));
  EXPECT_EQ(CountRegion("导入甲"), 1);
}

TEST_F(CustomersImport, ValidateOnlyWritesNothingAndACleanFileGoesInWhole) {
  std::vector<pb::Customer> rows;
  for (int i = 0; i < 25; ++i) rows.push_back(Row(absl::StrCat("批量导入客户", i), absl::StrCat("1370000", 1000 + i), "导入乙"));
  pb::ImportOptions check;
  check.set_validate_only(true);
  pb::ImportCustomersResponse resp;
  ASSERT_TRUE(Import(rows, check, &resp, 10).ok());
  EXPECT_FALSE(resp.committed());
  EXPECT_EQ(resp.invalid() + resp.duplicates(), 0);
  EXPECT_EQ(CountRegion("导入乙"), 0);
  ASSERT_TRUE(Import(rows, {}, &resp, 10).ok());
  EXPECT_TRUE(resp.committed());
  EXPECT_EQ(resp.imported(), 25);
  EXPECT_EQ(CountRegion("导入乙"), 25);
  // The same file again: every row is now a duplicate of a stored customer.
  ASSERT_TRUE(Import(rows, {}, &resp, 10).ok());
  EXPECT_FALSE(resp.committed());
  EXPECT_EQ(resp.duplicates(), 25);
  EXPECT_EQ(CountRegion("导入乙"), 25);
}

TEST_F(CustomersImport, EmptyAndOversizedImportsAreRefused) {
  pb::ImportCustomersResponse resp;
  grpc::Status st = Import({}, {}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("customers"), std::string::npos);
  std::vector<pb::Customer> rows(10'001, Row("超量", "13800000000"));
  st = Import(rows, {}, &resp, 1000);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("10000"), std::string::npos) << st.error_message();
}

TEST_F(CustomersImport, ExportStreamsEveryMatchingCustomerAcrossPages) {
  std::vector<pb::Customer> rows;
  for (int i = 0; i < 620; ++i) rows.push_back(Row(absl::StrCat("导出客户", i), absl::StrCat("1360", 1000000 + i), "导出丙"));
  pb::ImportCustomersResponse resp;
  ASSERT_TRUE(Import(rows, {}, &resp, 200).ok());
  ASSERT_EQ(resp.imported(), 620);
  EXPECT_EQ(CountRegion("导出丙"), 620);  // more than one 500-row page
  pb::ExportCustomersRequest bad;
  bad.set_tier(static_cast<pb::Tier>(99));
  auto stub = pb::CustomerService::NewStub(customers_->channel());
  auto ctx = Ctx();
  auto reader = stub->ExportCustomers(ctx.get(), bad);
  pb::Customer c;
  EXPECT_FALSE(reader->Read(&c));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace kefu
