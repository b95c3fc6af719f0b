#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "src/channels.h"
#include "src/store.h"
#include "src/tier_change.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1767225600);

v1::TierAssignment assignment(const std::string& tier, const std::string& previous, int64_t version) {
  v1::TierAssignment a;
  a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(1)));
  a.set_customer_id("c-1");
  a.set_tier(tier);
  a.set_previous_tier(previous);
  a.set_version(version);
  return a;
}

TEST(TierChange, UpgradesOnlyGoingUpTheOrder) {
  const auto policy = default_policy();
  v1::CustomerProfile p;
  p.set_name("Ada");
  p.set_language("en");
  auto m = upgrade_message(policy, assignment("gold", "silver", 4), &p, kNow);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->dedupe_key, "tier-upgrade:c-1:4");
  EXPECT_EQ(m->subject, "You are now gold");
  EXPECT_NE(m->body.find("Dear Ada"), std::string::npos);
  EXPECT_NE(m->body.find("from silver to gold"), std::string::npos);
  EXPECT_FALSE(upgrade_message(policy, assignment("silver", "gold", 5), &p, kNow).has_value());
  EXPECT_FALSE(upgrade_message(policy, assignment("gold", "gold", 6), &p, kNow).has_value());
  EXPECT_FALSE(upgrade_message(policy, assignment("platinum", "gold", 7), &p, kNow).has_value());
}

TEST(TierChange, FirstAssignmentCountsFromTheLowestAndPicksLanguage) {
  const auto policy = default_policy();
  v1::CustomerProfile p;
  p.set_name("王芳");
  p.set_language("zh-CN");
  auto m = upgrade_message(policy, assignment("silver", "", 1), &p, kNow);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->subject, "恭喜您升级为silver客户");
  // Below notify_from (silver): no news to the customer.
  EXPECT_FALSE(upgrade_message(policy, assignment("bronze", "", 1), &p, kNow).has_value());
  EXPECT_FALSE(upgrade_message(policy, assignment("prospect", "", 1), &p, kNow).has_value());
  auto anonymous = upgrade_message(policy, assignment("gold", "", 1), nullptr, kNow);
  ASSERT_TRUE(anonymous.has_value());
  EXPECT_NE(anonymous->body.find("Dear customer"), std::string::npos);
}

TEST(TierChange, HistoryIsNoNews) {
  const auto policy = default_policy();
  auto a = assignment("gold", "silver", 3);
  a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(24 * 8)));
  EXPECT_FALSE(upgrade_message(policy, a, nullptr, kNow).has_value());
  a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(kNow - absl::Hours(24 * 6)));
  EXPECT_TRUE(upgrade_message(policy, a, nullptr, kNow).has_value());
}

TEST(TierChange, BackfilledAndProvisionalDecisionsAreNeverAnnouncedHoweverFresh) {
  const auto policy = default_policy();
  v1::CustomerProfile p;
  p.set_language("en");
  auto a = assignment("gold", "silver", 3);  // evaluated an hour ago: fresh by max_age
  a.mutable_pending_downgrade()->set_to_tier("silver");
  auto* rfm = a.add_dimensions();
  rfm->set_dimension("rfm");
  rfm->set_class_name("At Risk");
  ASSERT_FALSE(unannounced_reason(a).has_value());
  ASSERT_TRUE(upgrade_message(policy, a, &p, kNow).has_value());
  ASSERT_TRUE(downgrade_warning(policy, a, &p, kNow).has_value());
  ASSERT_TRUE(retention_message(policy, a, &p, false, kNow).has_value());
  for (const char* flag : {"backfill", "provisional"}) {
    SCOPED_TRACE(flag);
    auto flagged = a;
    if (std::string(flag) == "backfill")
      flagged.set_backfill(true);
    else
      flagged.set_provisional(true);
    EXPECT_EQ(unannounced_reason(flagged), std::optional<std::string_view>(flag));
    EXPECT_FALSE(upgrade_message(policy, flagged, &p, kNow).has_value());
    EXPECT_FALSE(downgrade_warning(policy, flagged, &p, kNow).has_value());
    EXPECT_FALSE(retention_message(policy, flagged, &p, false, kNow).has_value());
  }
  a.set_backfill(true);
  a.set_provisional(true);
  EXPECT_EQ(unannounced_reason(a), std::optional<std::string_view>("backfill"));
}

TEST(TierChange, RenderKeepsUnknownPlaceholders) { EXPECT_EQ(render("{{a}}-{{b}}-{{", {{"a", "1"}}), "1-{{b}}-{{"); }

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tierflow-notification-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

using StoreTest = TempDir;

v1::Delivery delivery(const std::string& key) {
  v1::Delivery d;
  d.set_dedupe_key(key);
  d.set_customer_id("c-1");
  d.set_status(v1::DELIVERY_STATUS_CLAIMED);
  return d;
}

TEST_F(StoreTest, AClaimIsMadeOnceAndSurvivesUntilConfirmed) {
  const std::string path = (dir_ / "n.db").string();
  {
    Store store(path);
    Store::Batch b;
    b.claims = {delivery("k1"), delivery("k2")};
    b.offsets = {{"tiers.assignments.v1", 3, 42}};
    b.sent = {{"c-1", "tier-change", 1000}, {"c-1", "tier-change", 900}};
    EXPECT_EQ(store.apply(b).size(), 2u);
    // The same keys again (a replay): nothing new is claimed.
    EXPECT_EQ(store.apply(b).size(), 0u);
    store.confirm("k1", v1::DELIVERY_STATUS_SENT, "");
  }
  Store reopened(path);
  EXPECT_EQ(reopened.next_offset("tiers.assignments.v1", 3), 42);
  EXPECT_EQ(reopened.next_offset("tiers.assignments.v1", 4), std::nullopt);
  EXPECT_EQ(reopened.last_sent("c-1", "tier-change"), 1000);
  EXPECT_EQ(reopened.last_sent("c-2", "tier-change"), std::nullopt);
  auto open = reopened.unconfirmed();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].dedupe_key(), "k2");
  int64_t last = 0;
  auto all = reopened.deliveries("c-1", 10, INT64_MAX, &last);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].dedupe_key(), "k2");  // newest first
  EXPECT_EQ(all[1].status(), v1::DELIVERY_STATUS_SENT);
  EXPECT_EQ(all[1].attempts(), 1);
}

using FileChannelTest = TempDir;

TEST_F(FileChannelTest, SendsAKeyOnceAcrossRestarts) {
  const std::string path = (dir_ / "messages.jsonl").string();
  {
    FileChannel channel(path);
    EXPECT_EQ(channel.send(delivery("k1")), "");
    EXPECT_EQ(channel.send(delivery("k1")), "");
    EXPECT_EQ(channel.send(delivery("k2")), "");
  }
  FileChannel again(path);
  EXPECT_EQ(again.send(delivery("k1")), "");
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 2);
}

}  // namespace
}  // namespace tierflow::notification
