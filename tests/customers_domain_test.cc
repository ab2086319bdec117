// Customer rules without a database: validation, lifecycle, volumes, sampling, stats.
#include <gtest/gtest.h>

#include <set>

#include "customers/src/domain.h"
#include "kefu/errors.h"

namespace kefu::customers {
namespace {

pb::Customer ValidCustomer() {
  pb::Customer c;
  c.set_kind(pb::CUSTOMER_KIND_ORGANIZATION);
  c.set_name("上海华信科技有限公司");
  auto* ct = c.add_contacts();
  ct->set_name("王丽");
  ct->set_phone("13812345678");
  ct->set_email("wangli@huaxin.example.cn");
  c.add_tags("重点客户");
  return c;
}

TEST(ValidateCustomer, AcceptsAValidChineseCustomer) {
  EXPECT_TRUE(ValidateCustomerFields(ValidCustomer(), "customer", true).ok());
}

TEST(ValidateCustomer, ReportsEveryBadFieldByPath) {
  pb::Customer c = ValidCustomer();
  c.set_name("");
  c.mutable_contacts(0)->set_phone("12ab");
  c.mutable_contacts(0)->set_email("nope");
  c.add_tags("重点客户");  // duplicate
  c.set_kind(static_cast<pb::CustomerKind>(42));
  absl::Status s = ValidateCustomerFields(c, "customer", true);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  for (const char* field : {"customer.name", "customer.contacts[0].phone", "customer.contacts[0].email",
                            "customer.tags[1]", "customer.kind"})
    EXPECT_NE(s.message().find(field), absl::string_view::npos) << field << " in " << s.message();
}

TEST(ValidateCustomer, RequiresKindAndLimitsCollections) {
  pb::Customer c = ValidCustomer();
  c.clear_kind();
  EXPECT_FALSE(ValidateCustomerFields(c, "customer", true).ok());
  c = ValidCustomer();
  for (int i = 0; i < 25; ++i) c.add_tags("t" + std::to_string(i));
  EXPECT_FALSE(ValidateCustomerFields(c, "customer", true).ok());
  c = ValidCustomer();
  c.add_contacts()->set_primary(true);  // empty contact, and a second primary
  c.mutable_contacts(0)->set_primary(true);
  absl::Status s = ValidateCustomerFields(c, "customer", true);
  EXPECT_NE(s.message().find("customer.contacts[1]"), absl::string_view::npos);
  EXPECT_NE(s.message().find("at most one contact may be primary"), absl::string_view::npos);
}

TEST(ValidateUpdate, OnlyUpdatableFieldsAndOnlyThoseAreChecked) {
  pb::UpdateCustomerRequest req;
  req.mutable_customer()->set_id(1);
  req.mutable_customer()->set_version(3);
  req.mutable_customer()->set_region("华东");
  req.mutable_update_mask()->add_paths("region");
  EXPECT_TRUE(ValidateUpdate(req).ok()) << ValidateUpdate(req);  // name is empty but not in the mask

  req.mutable_update_mask()->add_paths("tier");
  absl::Status s = ValidateUpdate(req);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("update_mask"), absl::string_view::npos);

  pb::UpdateCustomerRequest no_version = req;
  no_version.mutable_customer()->clear_version();
  no_version.mutable_update_mask()->clear_paths();
  no_version.mutable_update_mask()->add_paths("region");
  EXPECT_NE(ValidateUpdate(no_version).message().find("customer.version"), absl::string_view::npos);
}

TEST(ApplyUpdate, CopiesOnlyMaskedFieldsAndKeepsAPrimaryContact) {
  pb::Customer current = WithCreateDefaults(ValidCustomer());
  pb::Customer patch;
  patch.set_region("华南");
  patch.set_name("ignored");
  auto* ct = patch.add_contacts();
  ct->set_name("李强");
  ct->set_phone("13900000000");
  pb::Customer out = ApplyUpdate(current, patch, {"region", "contacts"});
  EXPECT_EQ(out.region(), "华南");
  EXPECT_EQ(out.name(), "上海华信科技有限公司");
  ASSERT_EQ(out.contacts_size(), 1);
  EXPECT_TRUE(out.contacts(0).primary());
}

TEST(CreateDefaults, StandardTierProspectStageFirstContactPrimary) {
  pb::Customer c = WithCreateDefaults(ValidCustomer());
  EXPECT_EQ(c.tier(), pb::TIER_STANDARD);
  EXPECT_EQ(c.lifecycle_stage(), pb::LIFECYCLE_STAGE_PROSPECT);
  EXPECT_TRUE(c.contacts(0).primary());
  pb::Customer gold = ValidCustomer();
  gold.set_tier(pb::TIER_GOLD);
  EXPECT_EQ(WithCreateDefaults(gold).tier(), pb::TIER_GOLD);
}

TEST(Lifecycle, TransitionTable) {
  using S = pb::LifecycleStage;
  const S P = pb::LIFECYCLE_STAGE_PROSPECT, F = pb::LIFECYCLE_STAGE_FORMATION, St = pb::LIFECYCLE_STAGE_STABLE,
          D = pb::LIFECYCLE_STAGE_DECLINE, C = pb::LIFECYCLE_STAGE_CHURNED;
  std::set<std::pair<S, S>> allowed = {{P, F}, {P, C}, {F, St}, {F, D}, {F, C}, {St, D},
                                       {St, C}, {D, St}, {D, C}, {C, F}};
  for (S from : {P, F, St, D, C}) {
    for (S to : {P, F, St, D, C, pb::LIFECYCLE_STAGE_UNSPECIFIED}) {
      bool expected = allowed.count({from, to}) > 0;
      EXPECT_EQ(IsLifecycleTransitionAllowed(from, to), expected) << StageName(from) << " -> " << StageName(to);
      absl::Status s = CheckLifecycleTransition(from, to);
      EXPECT_EQ(s.ok(), expected);
      if (!expected) {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
      }
    }
  }
}

TEST(AccountLog, OwnerChangeEntryIsSystemAccountCategoryAndNamesBothOwners) {
  pb::LogEntry e = AccountLogEntry(7, "E1002", OwnerChangeText("E1001", "E1002"), "离职交接",
                                   absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(e.customer_id(), 7);
  EXPECT_EQ(e.category(), pb::LOG_CATEGORY_ACCOUNT);
  EXPECT_EQ(e.channel(), pb::CHANNEL_SYSTEM);
  EXPECT_NE(e.description().find("E1001 -> E1002"), std::string::npos);
  EXPECT_EQ(e.summary(), "离职交接");
  EXPECT_EQ(e.event_time().seconds(), 1700000000);
}

pb::BusinessVolume Vol(const std::string& period, int64_t v) {
  pb::BusinessVolume b;
  b.set_customer_id(1);
  b.set_period(period);
  b.set_volume(v);
  return b;
}

TEST(Volumes, ChangeInBasisPointsAndFlagBeyondThreshold) {
  auto changes = ComputeVolumeChanges({Vol("2026-01", 100), Vol("2026-02", 130), Vol("2026-03", 169),
                                       Vol("2026-05", 10), Vol("2026-06", 0), Vol("2026-07", 5)},
                                      3000);
  ASSERT_EQ(changes.size(), 6u);
  EXPECT_FALSE(changes[0].has_previous());
  EXPECT_EQ(changes[1].change_bp(), 3000);  // exactly at the threshold: not flagged
  EXPECT_FALSE(changes[1].flagged());
  EXPECT_EQ(changes[2].change_bp(), 3000);
  EXPECT_FALSE(changes[3].has_previous());  // April missing: May has no previous month
  EXPECT_EQ(changes[4].change_bp(), -10000);
  EXPECT_TRUE(changes[4].flagged());
  EXPECT_TRUE(changes[5].flagged());  // from zero to something
  auto just_over = ComputeVolumeChanges({Vol("2026-01", 10000), Vol("2026-02", 13001)}, 3000);
  EXPECT_EQ(just_over[1].change_bp(), 3001);
  EXPECT_TRUE(just_over[1].flagged());
}

TEST(Volumes, PeriodsValidateAndStepBackAcrossYears) {
  EXPECT_TRUE(ValidatePeriod("period", "2026-12").ok());
  EXPECT_FALSE(ValidatePeriod("period", "2026-13").ok());
  EXPECT_FALSE(ValidatePeriod("period", "2026-1").ok());
  EXPECT_FALSE(ValidatePeriod("period", "26-01-01").ok());
  EXPECT_EQ(PreviousPeriod("2026-01"), "2025-12");
  EXPECT_EQ(PreviousPeriod("2026-10"), "2026-09");
}

TEST(Sampling, DeterministicDistinctAndWithinThePopulation) {
  std::vector<int64_t> population;
  for (int64_t i = 1; i <= 1000; ++i) population.push_back(i * 3);
  auto a = SampleWithSeed(population, 50, 7);
  auto b = SampleWithSeed(population, 50, 7);
  auto c = SampleWithSeed(population, 50, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::set<int64_t> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), 50u);
  for (int64_t x : a) EXPECT_EQ(x % 3, 0);
  EXPECT_EQ(SampleWithSeed(population, 5000, 1).size(), 1000u);
}

TEST(Sampling, RoughlyUniform) {
  std::vector<int64_t> population;
  for (int64_t i = 0; i < 10; ++i) population.push_back(i);
  std::vector<int> hits(10, 0);
  for (int seed = 0; seed < 2000; ++seed)
    for (int64_t x : SampleWithSeed(population, 3, seed)) ++hits[x];
  // Each element is expected 600 times; a biased sampler would be far off.
  for (int h : hits) {
    EXPECT_GT(h, 480);
    EXPECT_LT(h, 720);
  }
}

TEST(SurveyStats, RateIsSatisfiedOverCompleted) {
  pb::SurveyStats s = ComputeSurveyStats("2026-11 回访", 20, {1, 1, 2, 6, 10});
  EXPECT_EQ(s.sampled(), 20);
  EXPECT_EQ(s.completed(), 20);
  EXPECT_EQ(s.satisfaction_rate_bp(), 8000);
  ASSERT_EQ(s.by_satisfaction_size(), 5);
  EXPECT_EQ(s.by_satisfaction(4), 10);
  EXPECT_EQ(ComputeSurveyStats("x", 5, {0, 0, 0, 0, 0}).satisfaction_rate_bp(), 0);
  EXPECT_EQ(ComputeSurveyStats("x", 3, {0, 0, 1, 0, 2}).satisfaction_rate_bp(), 6666);
}

TEST(Numbers, CustomerNumberIsZeroPadded) {
  EXPECT_EQ(CustomerNumber(1234), "C00001234");
}

}  // namespace
}  // namespace kefu::customers
