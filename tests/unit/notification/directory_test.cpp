// The recipient directory as the worker keeps it from crm.customers.v1 and
// tiers.assignments.v1: tier and segment beside the profile, a lifecycle from the segment,
// zones validated, and an erasure tombstone that removes the contact data and masks the
// stored deliveries while keeping their facts.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>

#include "common/kafka/topics.h"
#include "src/service.h"
#include "src/store.h"
#include "tests/support/fake_kafka.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {
namespace {

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tf-directory-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cfg_.store_path = (dir_ / "n.db").string();
    cfg_.file_channel_path = (dir_ / "messages.jsonl").string();
    cfg_.policy.max_age = absl::Hours(24 * 365 * 100);
    // The worker's sender runs on the wall clock: with quiet hours on, a tier-change message
    // queued between 21:00 and 08:00 in the customer's zone waits for the morning, and these
    // tests would pass or fail by the hour they run at (they failed in CI at 21:10 UTC).
    cfg_.rules.transactional_quiet_hours = false;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  Config cfg_;
  prometheus::Registry registry_;
  tierflow::testing::FakeProducer producer_;
};

TEST_F(DirectoryTest, TiersSegmentsZonesAndAnErasureTombstone) {
  Worker worker(cfg_, producer_, registry_);
  tierflow::testing::LoopDriver driver(worker, producer_);
  const std::string customers(topics::kCustomers), assignments(topics::kAssignments);
  v1::CustomerProfile p;
  p.set_customer_id("c-1");
  p.set_name("Ada Lovelace");
  p.set_email("ada@example.com");
  p.set_language("en");
  p.set_time_zone("Europe/London");
  driver.push(customers, 0, "c-1", p.SerializeAsString());
  v1::CustomerProfile bad = p;
  bad.set_customer_id("c-2");
  bad.set_time_zone("Mars/Olympus_Mons");
  driver.push(customers, 0, "c-2", bad.SerializeAsString());
  v1::TierAssignment a;
  a.set_customer_id("c-1");
  a.set_tier("gold");
  a.set_previous_tier("silver");
  a.set_version(2);
  a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  auto* rfm = a.add_dimensions();
  rfm->set_dimension("rfm");
  rfm->set_class_name("At Risk");
  driver.push(assignments, 0, "c-1", a.SerializeAsString());
  driver.assign({{customers, 0}, {assignments, 0}});
  driver.run_until_idle();

  Store store(cfg_.store_path);
  auto r = store.recipient("c-1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->tier, "gold");
  EXPECT_EQ(r->segment, "At Risk");
  EXPECT_EQ(r->lifecycle, "at_risk");
  EXPECT_EQ(r->zone, "Europe/London");
  EXPECT_EQ(store.recipient("c-2")->zone, "");  // an invalid zone is not kept (the default zone applies)
  AudienceQuery q;
  q.lifecycle = {"at_risk"};
  ASSERT_EQ(store.audience(q).size(), 1u);
  // The upgrade and the retention message (gold turning at-risk) were sent.
  int64_t last = 0;
  auto sent = store.deliveries("c-1", 10, INT64_MAX, &last);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_NE(sent[0].body().find("Ada Lovelace"), std::string::npos);

  // The erasure request: a tombstone.
  driver.push(customers, 0, "c-1", "");
  driver.run_until_idle();
  r = store.recipient("c-1");
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->erased);
  EXPECT_EQ(r->profile.email(), "");
  EXPECT_EQ(r->profile.name(), "");
  EXPECT_FALSE(store.profile("c-1").has_value());
  EXPECT_TRUE(store.audience(q).empty());
  for (const auto& d : store.deliveries("c-1", 10, INT64_MAX, &last)) {
    EXPECT_EQ(d.body(), "[erased]");
    EXPECT_EQ(d.subject(), "[erased]");
    EXPECT_EQ(d.status(), v1::DELIVERY_STATUS_SENT);  // the fact stays
    EXPECT_FALSE(d.dedupe_key().empty());
  }
  // A later profile for an erased customer does not bring the data back.
  driver.push(customers, 0, "c-1", p.SerializeAsString());
  driver.run_until_idle();
  EXPECT_FALSE(store.profile("c-1").has_value());
}

TEST_F(DirectoryTest, TierChangeMessagesNeedTransactionalConsent) {
  Worker worker(cfg_, producer_, registry_);
  tierflow::testing::LoopDriver driver(worker, producer_);
  const std::string customers(topics::kCustomers), assignments(topics::kAssignments);
  v1::CustomerProfile p;
  p.set_customer_id("c-1");
  p.set_language("en");
  auto* c = p.add_consents();
  c->set_channel(v1::CHANNEL_EMAIL);
  c->set_marketing(true);
  c->set_transactional(false);
  driver.push(customers, 0, "c-1", p.SerializeAsString());
  v1::TierAssignment a;
  a.set_customer_id("c-1");
  a.set_tier("gold");
  a.set_previous_tier("silver");
  a.set_version(2);
  a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  driver.push(assignments, 0, "c-1", a.SerializeAsString());
  driver.assign({{customers, 0}, {assignments, 0}});
  driver.run_until_idle();
  int64_t last = 0;
  EXPECT_TRUE(Store(cfg_.store_path).deliveries("c-1", 10, INT64_MAX, &last).empty());
}

}  // namespace
}  // namespace tierflow::notification
