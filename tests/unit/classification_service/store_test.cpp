// The classification store: one transaction per batch, history newest first with paging,
// the assignment in force at a date, the override audit trail, and offsets/watermark that
// survive reopening the file (what a restart resumes from).
#include "service/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "service/assignment_blob.h"

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

// A realistic assignment: explanations make up most of its ~900 serialised bytes.
v1::TierAssignment explained(const std::string& id, int64_t version, const std::string& tier, absl::Time evaluated) {
  v1::TierAssignment a = assignment(id, version, tier, evaluated);
  a.set_matched_rule("gold-top-value");
  for (const char* dim : {"value", "volume", "tenure", "quadrant", "lifecycle", "frequency", "rfm", "credit"}) {
    auto* c = a.add_dimensions();
    c->set_dimension(dim);
    c->set_class_name("A");
    c->set_detail(std::string("value (gross profit in 12 months) 6,780.00 CNY; top 20.00% from 3,993.54 CNY, ") + dim);
  }
  a.add_reasons("rule 'gold-top-value' (top 20% by value with good credit): value is A and not (credit is C)");
  return a;
}

// Stores written before assignments were compressed hold them as serialised: every read
// path still takes them, beside rows written compressed.
TEST_F(StoreTest, AssignmentsStoredSerialisedByEarlierVersionsStillRead) {
  const auto old1 = explained("c1", 1, "bronze", day(2024, 1, 10));
  const auto old2 = explained("c1", 2, "silver", day(2024, 2, 10));
  {
    Store s(path_);  // the schema, as the earlier version created it
    // What the earlier Store::apply wrote for these two changes (customers and history).
    auto db = sql::sqlite::Db::open(path_);
    for (const auto* a : {&old1, &old2}) {
      auto cur = db.prepare(
          "INSERT INTO customers (customer_id, assignment, version) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (customer_id) DO UPDATE SET assignment = excluded.assignment, version = excluded.version");
      cur.bind_text(1, a->customer_id()).bind_blob(2, a->SerializeAsString()).bind_int64(3, a->version()).run();
      auto hist = db.prepare(
          "INSERT INTO history (customer_id, version, effective_us, tier, before_tier, standard_version, reason, "
          "recorded_us, published, assignment) VALUES (?1, ?2, ?3, ?4, '', 's1', 'r', 0, 0, ?5)");
      hist.bind_text(1, a->customer_id()).bind_int64(2, a->version());
      hist.bind_int64(3, absl::ToUnixMicros(timeutil::from_proto(a->evaluated_time())));
      hist.bind_text(4, a->tier()).bind_blob(5, a->SerializeAsString()).run();
    }
  }
  Store s(path_);
  const auto fresh = explained("c2", 1, "gold", day(2024, 3, 1));
  change(s, fresh);

  auto c1 = s.current("c1");
  ASSERT_TRUE(c1);
  EXPECT_EQ(c1->SerializeAsString(), old2.SerializeAsString());
  auto c2 = s.current("c2");
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->SerializeAsString(), fresh.SerializeAsString());
  bool more = false;
  auto h = s.history("c1", 0, 10, &more);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].SerializeAsString(), old2.SerializeAsString());
  EXPECT_EQ(h[1].SerializeAsString(), old1.SerializeAsString());
  ASSERT_TRUE(s.as_of("c1", day(2024, 1, 20)));
  EXPECT_EQ(s.as_of("c1", day(2024, 1, 20))->SerializeAsString(), old1.SerializeAsString());
  ASSERT_TRUE(s.record("c1"));
  EXPECT_EQ(s.record("c1")->version(), 2);
  std::vector<std::string> all;
  s.as_of_all(day(2024, 6, 1), [&](v1::TierAssignment&& a) { all.push_back(a.SerializeAsString()); });
  std::sort(all.begin(), all.end());
  std::vector<std::string> want{old2.SerializeAsString(), fresh.SerializeAsString()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);
  const auto pending = s.unpublished();
  ASSERT_EQ(pending.size(), 3u);
  EXPECT_EQ(pending[0].SerializeAsString(), old1.SerializeAsString());
  EXPECT_EQ(pending[2].SerializeAsString(), fresh.SerializeAsString());
  std::vector<std::string> loaded;
  s.load([&](Store::CustomerRow&& row) {
    ASSERT_TRUE(row.current);
    loaded.push_back(row.current->SerializeAsString());
  });
  EXPECT_EQ(loaded, (std::vector<std::string>{old2.SerializeAsString(), fresh.SerializeAsString()}));
}

// New rows are compressed behind the format marker, so that a row stays on its B-tree
// page (SQLite's local limit for a 4 KiB page is ~1,000 bytes).
TEST_F(StoreTest, AssignmentsAreStoredCompressed) {
  const auto a = explained("c1", 1, "gold", day(2024, 1, 1));
  ASSERT_GT(a.ByteSizeLong(), 800u);
  {
    Store s(path_);
    change(s, a);
  }
  auto db = sql::sqlite::Db::open(path_);
  for (const char* sql : {"SELECT assignment FROM customers WHERE customer_id = 'c1'",
                          "SELECT assignment FROM history WHERE customer_id = 'c1'"}) {
    auto q = db.prepare(sql);
    ASSERT_TRUE(q.step()) << sql;
    const std::string stored(q.column_blob(0));
    ASSERT_FALSE(stored.empty());
    EXPECT_EQ(stored.front(), assignment_blob::kLz4) << sql;
    EXPECT_LT(stored.size(), a.ByteSizeLong()) << sql;
    v1::TierAssignment back;
    ASSERT_TRUE(assignment_blob::decode(stored, &back));
    EXPECT_EQ(back.SerializeAsString(), a.SerializeAsString());
  }
}

TEST(AssignmentBlob, RoundTripsAndRejectsWhatItDidNotWrite) {
  v1::TierAssignment empty;
  v1::TierAssignment back;
  ASSERT_TRUE(assignment_blob::decode(assignment_blob::encode(empty), &back));
  EXPECT_EQ(back.ByteSizeLong(), 0u);
  const auto a = explained("c1", 7, "gold", day(2024, 1, 1));
  std::string stored = assignment_blob::encode(a);
  ASSERT_TRUE(assignment_blob::decode(stored, &back));
  EXPECT_EQ(back.SerializeAsString(), a.SerializeAsString());
  // The serialised form as it is (earlier stores) reads too.
  back.Clear();
  ASSERT_TRUE(assignment_blob::decode(a.SerializeAsString(), &back));
  EXPECT_EQ(back.SerializeAsString(), a.SerializeAsString());
  // Cut short, a wrong size, an unknown format marker.
  EXPECT_FALSE(assignment_blob::decode(std::string_view(stored).substr(0, stored.size() - 5), &back));
  std::string wrong_size = stored;
  wrong_size[1] = static_cast<char>(wrong_size[1] ^ 0x01);
  EXPECT_FALSE(assignment_blob::decode(wrong_size, &back));
  std::string unknown = stored;
  unknown[0] = 0x03;
  EXPECT_FALSE(assignment_blob::decode(unknown, &back));
}

}  // namespace
}  // namespace tierflow::classification
