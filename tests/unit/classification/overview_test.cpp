// OverviewBook: the kept aggregates behind GetOverview and GetDistribution. Incremental
// updates must give exactly what a book filled once gives; the overview's quadrants,
// breakdowns, A/B/C cuts and counters are checked by hand on the deployment's standard.
#include <gtest/gtest.h>

#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_support.h"
#include "tierflow/classification/overview.h"

namespace tierflow::classification {
namespace {

const char* kTiers[] = {"diamond", "gold", "silver", "bronze", "prospect"};

struct Customer {
  std::string id;
  Features features;
  v1::TierAssignment assignment;
};

// A customer of the deployment standard's shape: value, RFM features, tier and classes.
Customer make(std::mt19937_64& rng, int i) {
  Customer c;
  c.id = "c" + std::to_string(i);
  c.features.set(Feature::value, static_cast<int64_t>(rng() % 100000) - 5000);  // some negative: no value
  c.features.set(Feature::orders_12m, static_cast<int64_t>(rng() % 20));
  if (rng() % 3 != 0) c.features.set(Feature::recency_days, static_cast<int64_t>(rng() % 400));
  c.assignment.set_customer_id(c.id);
  c.assignment.set_tier(kTiers[rng() % 5]);
  c.assignment.set_credit_hold(rng() % 7 == 0);
  if (rng() % 5 == 0) c.assignment.mutable_pending_downgrade()->set_to_tier("bronze");
  auto dim = [&](const char* d, std::vector<const char*> classes) {
    auto* x = c.assignment.add_dimensions();
    x->set_dimension(d);
    x->set_class_name(classes[rng() % classes.size()]);
  };
  dim("value", {"A", "B", "C"});
  dim("quadrant", {"old-big", "new-big", "new-small", "old-small"});
  dim("region", {"华东", "华南", "其他"});
  dim("industry", {"retail", "finance", "other"});
  if (rng() % 4 != 0) dim("lifecycle", {"active", "at-risk", "churned"});  // some without a class
  return c;
}

class Overview : public ::testing::Test {
 protected:
  std::shared_ptr<const Standard> s_ =
      Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
};

std::string text(const google::protobuf::Message& m) { return m.DebugString(); }

// Rows exported from disjoint slices of the customers (in any order) and joined into a
// book give the reports of one book holding every customer (evaluation points on
// watermarks: every instance joins every partition's rows).
TEST_F(Overview, ExportedSlicesJoinIntoTheReportsOfOneBook) {
  std::mt19937_64 rng(11);
  std::vector<Customer> cs;
  for (int i = 0; i < 300; ++i) cs.push_back(make(rng, i));
  OverviewBook all, even, odd;
  std::vector<std::string> even_ids, odd_ids;
  for (size_t i = 0; i < cs.size(); ++i) {
    all.note_features(*s_, cs[i].id, cs[i].features);
    all.note_assignment(cs[i].assignment);
    OverviewBook& half = i % 2 == 0 ? even : odd;
    half.note_features(*s_, cs[i].id, cs[i].features);
    if (i % 7 != 0) half.note_assignment(cs[i].assignment);  // not counted: not exported
    (i % 2 == 0 ? even_ids : odd_ids).push_back(cs[i].id);
  }
  for (size_t i = 0; i < cs.size(); i += 7) {
    all.forget(cs[i].id);  // as in the halves: features, no assignment
    all.note_features(*s_, cs[i].id, cs[i].features);
  }
  OverviewBook joined;
  joined.import_rows(*s_, odd.export_rows(*s_, odd_ids), "1/");
  joined.import_rows(*s_, even.export_rows(*s_, even_ids), "0/");
  EXPECT_EQ(joined.customers(), all.customers());
  EXPECT_EQ(text(joined.distribution(*s_)), text(all.distribution(*s_)));
  EXPECT_EQ(text(joined.overview(*s_)), text(all.overview(*s_)));
  EXPECT_THROW(joined.import_rows(*s_, "\x01\x05", "2/"), std::invalid_argument);
}

// Changes noted one by one (features moved, tiers moved, customers reassigned, forgotten)
// leave the book where a book filled once with the final state is.
TEST_F(Overview, IncrementalEqualsFilledOnce) {
  std::mt19937_64 rng(7);
  std::vector<Customer> cs;
  for (int i = 0; i < 500; ++i) cs.push_back(make(rng, i));
  OverviewBook kept;
  for (const auto& c : cs) {
    kept.note_features(*s_, c.id, c.features);
    kept.note_assignment(c.assignment);
  }
  (void)kept.overview(*s_);  // merges: later changes must merge into sorted lists correctly
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 150; ++k) {
      const size_t i = rng() % cs.size();
      Customer fresh = make(rng, static_cast<int>(i));
      if (rng() % 2 == 0) {
        cs[i].features = fresh.features;
        kept.note_features(*s_, cs[i].id, cs[i].features);
      } else {
        cs[i].assignment = fresh.assignment;
        kept.note_assignment(cs[i].assignment);
      }
    }
    if (round == 1) (void)kept.overview(*s_);
  }
  kept.forget(cs.back().id);
  cs.pop_back();

  OverviewBook once;
  std::vector<v1::TierAssignment> as;
  std::vector<Features> fs;
  for (const auto& c : cs) {
    once.note_features(*s_, c.id, c.features);
    once.note_assignment(c.assignment);
    as.push_back(c.assignment);
    fs.push_back(c.features);
  }
  EXPECT_EQ(text(kept.overview(*s_)), text(once.overview(*s_)));
  EXPECT_EQ(kept.customers(), cs.size());
  // distribution() (GetDistribution's figures) is the same computation.
  EXPECT_EQ(text(kept.distribution(*s_)), text(distribution(*s_, as, fs)));
}

// A customer counts once it has an assignment; features alone (not decided yet) do not.
TEST_F(Overview, CountsOnlyAssignedCustomers) {
  OverviewBook book;
  Features f;
  f.set(Feature::value, 5000);
  book.note_features(*s_, "c1", f);
  EXPECT_EQ(book.distribution(*s_).customers(), 0);
  EXPECT_EQ(book.distribution(*s_).total_value_minor(), 0);
  v1::TierAssignment a;
  a.set_customer_id("c1");
  a.set_tier("gold");
  book.note_assignment(a);
  const auto d = book.distribution(*s_);
  EXPECT_EQ(d.customers(), 1);
  EXPECT_EQ(d.total_value_minor(), 5000);
  const uint64_t g = book.generation();
  book.note_features(*s_, "c1", f);  // unchanged: nothing to rebuild
  EXPECT_EQ(book.generation(), g);
}

// Quadrants carry the standard's axes and strategy; breakdowns per class with per-tier
// counts (and a "" row for customers without a class); A/B/C cuts are cumulative.
TEST_F(Overview, QuadrantsBreakdownsCutsAndCounters) {
  OverviewBook book;
  // value, tier, quadrant, region, lifecycle ("" = none), value class, credit hold, pending
  struct Row {
    int64_t value;
    const char *tier, *quadrant, *region, *lifecycle, *abc;
    bool hold, pending;
  };
  const Row rows[] = {
      {8000, "gold", "old-big", "华东", "active", "A", false, false},
      {1000, "silver", "old-small", "华东", "at-risk", "B", true, false},
      {600, "silver", "new-small", "华南", "at-risk", "B", false, true},
      {400, "bronze", "new-small", "华南", "", "C", false, false},
  };
  int i = 0;
  for (const auto& r : rows) {
    const std::string id = "c" + std::to_string(i++);
    Features f;
    f.set(Feature::value, r.value);
    book.note_features(*s_, id, f);
    v1::TierAssignment a;
    a.set_customer_id(id);
    a.set_tier(r.tier);
    a.set_credit_hold(r.hold);
    if (r.pending) a.mutable_pending_downgrade()->set_to_tier("bronze");
    for (auto [d, c] :
         {std::pair{"quadrant", r.quadrant}, {"region", r.region}, {"lifecycle", r.lifecycle}, {"value", r.abc}}) {
      if (*c == '\0') continue;
      auto* x = a.add_dimensions();
      x->set_dimension(d);
      x->set_class_name(c);
    }
    book.note_assignment(a);
  }
  const v1::Overview o = book.overview(*s_);
  EXPECT_EQ(o.distribution().customers(), 4);
  EXPECT_EQ(o.distribution().total_value_minor(), 10000);

  ASSERT_EQ(o.quadrants_size(), 4);  // the standard's order: old-big, new-big, new-small, old-small
  EXPECT_EQ(o.quadrants(0).name(), "old-big");
  EXPECT_EQ(o.quadrants(0).dimension(), "quadrant");
  EXPECT_EQ(o.quadrants(0).tenure(), "old");
  EXPECT_EQ(o.quadrants(0).size(), "big");
  EXPECT_EQ(o.quadrants(0).customers(), 1);
  EXPECT_DOUBLE_EQ(o.quadrants(0).value_share(), 0.8);
  EXPECT_NE(o.quadrants(0).strategy().find("control their number"), std::string::npos);
  EXPECT_EQ(o.quadrants(1).name(), "new-big");
  EXPECT_EQ(o.quadrants(1).customers(), 0);
  EXPECT_EQ(o.quadrants(2).name(), "new-small");
  EXPECT_EQ(o.quadrants(2).tenure(), "new");
  EXPECT_EQ(o.quadrants(2).size(), "small");
  EXPECT_EQ(o.quadrants(2).customers(), 2);
  EXPECT_EQ(o.quadrants(2).value_minor(), 1000);

  const v1::Breakdown* region = nullptr;
  const v1::Breakdown* lifecycle = nullptr;
  for (const auto& b : o.breakdowns()) {
    if (b.dimension() == "region") region = &b;
    if (b.dimension() == "lifecycle") lifecycle = &b;
  }
  ASSERT_NE(region, nullptr);
  ASSERT_NE(lifecycle, nullptr);
  ASSERT_GE(region->rows_size(), 2);
  EXPECT_EQ(region->rows(0).key(), "华东");
  EXPECT_EQ(region->rows(0).customers(), 2);
  EXPECT_EQ(region->rows(0).value_minor(), 9000);
  ASSERT_EQ(region->rows(0).tiers_size(), 5);  // every tier of the standard
  EXPECT_EQ(region->rows(0).tiers(1).tier(), "gold");
  EXPECT_EQ(region->rows(0).tiers(1).customers(), 1);
  EXPECT_EQ(region->rows(0).tiers(2).customers(), 1);  // silver
  EXPECT_EQ(region->rows(1).key(), "华南");
  EXPECT_EQ(region->rows(1).customers(), 2);
  // lifecycle: the standard's classes, then the customer without one as key "".
  const auto& last = lifecycle->rows(lifecycle->rows_size() - 1);
  EXPECT_EQ(last.key(), "");
  EXPECT_EQ(last.customers(), 1);
  EXPECT_EQ(last.tiers(3).customers(), 1);  // bronze
  EXPECT_EQ(o.at_risk(), 2);
  EXPECT_EQ(o.credit_holds(), 1);
  EXPECT_EQ(o.pending_downgrades(), 1);

  EXPECT_EQ(o.value_dimension(), "value");
  ASSERT_EQ(o.value_cuts_size(), 3);
  EXPECT_EQ(o.value_cuts(0).class_name(), "A");
  EXPECT_EQ(o.value_cuts(0).customers(), 1);
  EXPECT_DOUBLE_EQ(o.value_cuts(0).customer_share(), 0.25);
  EXPECT_DOUBLE_EQ(o.value_cuts(0).value_share(), 0.8);
  EXPECT_EQ(o.value_cuts(1).customers(), 3);
  EXPECT_DOUBLE_EQ(o.value_cuts(1).value_share(), 0.96);
  EXPECT_EQ(o.value_cuts(2).customers(), 4);
  EXPECT_DOUBLE_EQ(o.value_cuts(2).value_share(), 1.0);
  // The 80/20 point: one customer of four brings 80%.
  ASSERT_EQ(o.distribution().reach_size(), 4);
  EXPECT_DOUBLE_EQ(o.distribution().reach(1).value_share(), 0.8);
  EXPECT_EQ(o.distribution().reach(1).customers(), 1);
}

// A standard that reads other RFM features resets the tracked lists: the cut points are
// those of the features noted after the switch, never a mix.
TEST_F(Overview, StandardWithOtherRfmFeaturesRetracks) {
  const auto plain = Standard::parse(testing::kTestStandard, "t.yaml");  // no rfm: default features
  OverviewBook book;
  v1::TierAssignment a;
  a.set_customer_id("c1");
  a.set_tier("gold");
  Features f;
  f.set(Feature::value, 100);
  f.set(Feature::orders_12m, 3);
  f.set(Feature::orders_90d, 2);
  f.set(Feature::recency_days, 4);
  book.note_features(*plain, "c1", f);
  book.note_assignment(a);
  EXPECT_EQ(book.distribution(*plain).cut_points(2).cuts(0), 3);  // frequency: orders_12m
  // An rfm dimension whose frequency is orders_90d.
  std::string y = testing::kTestStandard;
  y.replace(y.find("dimensions:\n"), 12,
            "dimensions:\n  - name: rfm\n    kind: rfm\n    recency: recency_days\n    frequency: orders_90d\n"
            "    monetary: value\n    classes: [{class: Best, r: 5}, {class: Others}]\n");
  const auto rfm = Standard::parse(y, "rfm.yaml");
  EXPECT_EQ(book.distribution(*rfm).cut_points(2).customers(), 0);  // orders_90d: not noted yet
  book.note_features(*rfm, "c1", f);
  const auto d = book.distribution(*rfm);
  EXPECT_EQ(d.customers(), 1);
  EXPECT_EQ(d.total_value_minor(), 100);
  ASSERT_EQ(d.cut_points_size(), 6);
  EXPECT_EQ(d.cut_points(2).feature(), "orders_90d");
  EXPECT_EQ(d.cut_points(2).cuts(0), 2);
  for (const auto& c : d.cut_points()) EXPECT_EQ(c.customers(), 1) << c.component() << " " << c.feature();
}

}  // namespace
}  // namespace tierflow::classification
