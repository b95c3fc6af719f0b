// The classification store: one transaction per batch, history newest first with paging,
// the assignment in force at a date, the override audit trail, and offsets/watermark that
// survive reopening the file (what a restart resumes from).
#include "service/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "common/kafka/topics.h"
#include "common/time/time.h"

namespace tierflow::classification {
namespace {

absl::Time day(int y, int m, int d) {
  return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone());
}

v1::TierAssignment assignment(const std::string& id, int64_t version, const std::string& tier, absl::Time evaluated,
                              const std::string& previous = "") {
  v1::TierAssignment a;
  a.set_customer_id(id);
  a.set_version(version);
  a.set_tier(tier);
  a.set_previous_tier(previous);
  a.set_standard_version("s1");
  a.add_reasons("rule for " + tier);
  timeutil::to_proto(evaluated, a.mutable_evaluated_time());
  timeutil::to_proto(evaluated, a.mutable_assigned_time());
  return a;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tf-cls-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/classification.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Applies one assignment change per call, like one evaluation each.
  void change(Store& s, const v1::TierAssignment& a) {
    Store::Batch b;
    b.changes.push_back(&a);
    s.apply(b);
  }

  std::string dir_;
  std::string path_;
};

TEST_F(StoreTest, HistoryIsNewestFirstAndPaged) {
  Store s(path_);
  const auto v1 = assignment("c1", 1, "bronze", day(2024, 1, 10));
  const auto v2 = assignment("c1", 2, "silver", day(2024, 2, 10), "bronze");
  const auto v3 = assignment("c1", 3, "gold", day(2024, 3, 10), "silver");
  const auto other = assignment("c2", 1, "prospect", day(2024, 1, 1));
  change(s, v1);
  change(s, other);
  change(s, v2);
  change(s, v3);

  bool more = false;
  auto page1 = s.history("c1", 0, 2, &more);
  ASSERT_EQ(page1.size(), 2u);
  EXPECT_EQ(page1[0].version(), 3);
  EXPECT_EQ(page1[0].tier(), "gold");
  EXPECT_EQ(page1[1].version(), 2);
  EXPECT_TRUE(more);
  auto page2 = s.history("c1", page1.back().version(), 2, &more);
  ASSERT_EQ(page2.size(), 1u);
  EXPECT_EQ(page2[0].version(), 1);
  EXPECT_EQ(page2[0].tier(), "bronze");
  EXPECT_FALSE(more);
  EXPECT_TRUE(s.history("nobody", 0, 10, &more).empty());

  // The current assignment follows the newest change.
  std::map<std::string, Store::CustomerRow> rows;
  s.load([&](Store::CustomerRow&& r) { rows[r.customer_id] = std::move(r); });
  ASSERT_TRUE(rows.at("c1").current);
  EXPECT_EQ(rows.at("c1").current->version(), 3);
  EXPECT_EQ(rows.at("c2").current->tier(), "prospect");
}

TEST_F(StoreTest, AsOfFindsTheVersionInForce) {
  Store s(path_);
  change(s, assignment("c1", 1, "bronze", day(2024, 1, 10)));
  change(s, assignment("c1", 2, "silver", day(2024, 2, 10), "bronze"));
  change(s, assignment("c1", 3, "gold", day(2024, 3, 10), "silver"));

  EXPECT_FALSE(s.as_of("c1", day(2024, 1, 9)));  // no tier yet then
  EXPECT_EQ(s.as_of("c1", day(2024, 1, 10))->tier(), "bronze");  // effective at its evaluation time
  EXPECT_EQ(s.as_of("c1", day(2024, 2, 9))->tier(), "bronze");
  EXPECT_EQ(s.as_of("c1", day(2024, 2, 10))->tier(), "silver");
  EXPECT_EQ(s.as_of("c1", day(2024, 3, 1))->version(), 2);
  EXPECT_EQ(s.as_of("c1", day(2030, 1, 1))->tier(), "gold");
  EXPECT_FALSE(s.as_of("c2", day(2030, 1, 1)));
}

TEST_F(StoreTest, OverridesAreStoredAndAudited) {
  {
    Store s(path_);
    v1::TierOverride o;
    o.set_customer_id("c1");
    o.set_kind(v1::OVERRIDE_KIND_PIN);
    o.set_tier("gold");
    o.set_actor("agent-7");
    o.set_reason_code("STRATEGIC");
    timeutil::to_proto(day(2025, 1, 1), o.mutable_expire_time());
    Store::Batch set;
    set.overrides.push_back({"c1", Store::OverrideAction::set, o, "agent-7", "STRATEGIC", day(2024, 5, 1)});
    s.apply(set);

    std::optional<v1::TierOverride> loaded;
    s.load([&](Store::CustomerRow&& r) { loaded = r.override; });
    ASSERT_TRUE(loaded);
    EXPECT_EQ(loaded->tier(), "gold");
    EXPECT_EQ(loaded->kind(), v1::OVERRIDE_KIND_PIN);

    Store::Batch clear;
    clear.overrides.push_back({"c1", Store::OverrideAction::clear, o, "lead-2", "REVIEWED", day(2024, 6, 1)});
    s.apply(clear);
    Store::Batch expire;
    v1::TierOverride floor = o;
    floor.set_kind(v1::OVERRIDE_KIND_FLOOR);
    expire.overrides.push_back({"c1", Store::OverrideAction::set, floor, "agent-7", "RETRY", day(2024, 7, 1)});
    expire.overrides.push_back({"c1", Store::OverrideAction::expire, floor, "system", "expired", day(2025, 1, 1)});
    s.apply(expire);
  }
  Store reopened(path_);
  std::optional<v1::TierOverride> loaded = v1::TierOverride();
  reopened.load([&](Store::CustomerRow&& r) { loaded = r.override; });
  EXPECT_FALSE(loaded) << "cleared/expired overrides are not loaded again";

  const auto audit = reopened.override_audit("c1");
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_EQ(audit[0].action, Store::OverrideAction::set);
  EXPECT_EQ(audit[0].actor, "agent-7");
  EXPECT_EQ(audit[0].reason_code, "STRATEGIC");
  EXPECT_EQ(audit[0].override.tier(), "gold");
  EXPECT_EQ(audit[0].at, day(2024, 5, 1));
  EXPECT_EQ(audit[1].action, Store::OverrideAction::clear);
  EXPECT_EQ(audit[1].actor, "lead-2");
  EXPECT_EQ(audit[2].override.kind(), v1::OVERRIDE_KIND_FLOOR);
  EXPECT_EQ(audit[3].action, Store::OverrideAction::expire);
  EXPECT_EQ(audit[3].actor, "system");
  EXPECT_TRUE(reopened.override_audit("c2").empty());
}

TEST_F(StoreTest, OffsetsInputsAndWatermarkSurviveReopening) {
  {
    Store s(path_);
    v1::AccountSnapshot acc;
    acc.set_customer_id("c1");
    acc.set_version(4);
    acc.set_lifetime_sales_minor(12345);
    v1::CustomerProfile prof;
    prof.set_customer_id("c1");
    prof.set_region("CN-31");
    Store::Batch b;
    b.accounts.push_back(&acc);
    b.profiles.push_back(&prof);
    b.offsets[{std::string(topics::kAccounts), 3}] = 10;
    b.offsets[{std::string(topics::kCustomers), 3}] = 2;
    b.watermark = day(1998, 6, 30);
    s.apply(b);

    Store::Batch later;
    later.offsets[{std::string(topics::kAccounts), 3}] = 17;
    later.watermark = day(1998, 1, 1);  // never moves back
    s.apply(later);
  }
  Store s(path_);
  const auto offsets = s.offsets();
  ASSERT_EQ(offsets.size(), 2u);
  EXPECT_EQ(offsets.at({std::string(topics::kAccounts), 3}), 17);
  EXPECT_EQ(offsets.at({std::string(topics::kCustomers), 3}), 2);
  ASSERT_TRUE(s.watermark());
  EXPECT_EQ(*s.watermark(), day(1998, 6, 30));
  std::vector<Store::CustomerRow> rows;
  s.load([&](Store::CustomerRow&& r) { rows.push_back(std::move(r)); });
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(rows[0].account);
  EXPECT_EQ(rows[0].account->version(), 4);
  EXPECT_EQ(rows[0].account->lifetime_sales_minor(), 12345);
  ASSERT_TRUE(rows[0].profile);
  EXPECT_EQ(rows[0].profile->region(), "CN-31");
  EXPECT_FALSE(rows[0].current);
  EXPECT_TRUE(s.has_customer("c1"));
  EXPECT_FALSE(s.has_customer("c9"));
}

TEST_F(StoreTest, ChangesStayUnpublishedUntilConfirmed) {
  Store s(path_);
  const auto a1 = assignment("c1", 1, "bronze", day(2024, 1, 1));
  const auto a2 = assignment("c1", 2, "silver", day(2024, 2, 1));
  const auto b1 = assignment("c2", 1, "gold", day(2024, 1, 1));
  Store::Batch b;
  b.changes = {&a1, &b1};
  s.apply(b);
  change(s, a2);
  auto pending = s.unpublished();
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].customer_id(), "c1");
  EXPECT_EQ(pending[0].version(), 1);
  EXPECT_EQ(pending[1].version(), 2);

  Store::Batch confirm;
  confirm.published = {{"c1", 1}, {"c2", 1}};
  s.apply(confirm);
  pending = s.unpublished();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].customer_id(), "c1");
  EXPECT_EQ(pending[0].version(), 2);
}

TEST_F(StoreTest, ReaderSeesCommittedStateBesideTheWriter) {
  Store writer(path_);
  change(writer, assignment("c1", 1, "bronze", day(2024, 1, 1)));
  Store reader(path_, Store::Mode::reader);
  bool more = false;
  EXPECT_EQ(reader.history("c1", 0, 10, &more).size(), 1u);
  change(writer, assignment("c1", 2, "gold", day(2024, 2, 1)));
  EXPECT_EQ(reader.history("c1", 0, 10, &more).size(), 2u);
  EXPECT_THROW(Store(dir_ + "/missing.db", Store::Mode::reader), sql::Error);
}

// The engine holds no assignments in memory: it reads the current one per customer, or
// all of them in id order (paged by `after`, stoppable), from the store.
TEST_F(StoreTest, CurrentAssignmentsArePointReadAndScannedInIdOrder) {
  Store s(path_);
  EXPECT_FALSE(s.current("c1"));
  change(s, assignment("c2", 1, "gold", day(2024, 1, 1)));
  change(s, assignment("c1", 1, "bronze", day(2024, 1, 1)));
  change(s, assignment("c1", 2, "silver", day(2024, 2, 1), "bronze"));
  change(s, assignment("c3", 1, "prospect", day(2024, 1, 1)));
  auto c1 = s.current("c1");
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->version(), 2);
  EXPECT_EQ(c1->tier(), "silver");
  EXPECT_FALSE(s.current("c9"));

  std::vector<std::string> seen;
  s.currents("", [&](v1::TierAssignment&& a) {
    seen.push_back(a.customer_id() + "/" + a.tier());
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"c1/silver", "c2/gold", "c3/prospect"}));
  seen.clear();
  s.currents("c1", [&](v1::TierAssignment&& a) {
    seen.push_back(a.customer_id());
    return false;  // stops after the first
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"c2"}));
}

}  // namespace
}  // namespace tierflow::classification
