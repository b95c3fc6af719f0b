// Features, dimensions, rules, distances, decide (anti-flapping, overrides), what-if and
// distribution. Expectations are computed by hand in the comments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.h"
#include "tierflow/classification/compact.h"
#include "tierflow/classification/engine.h"

namespace tierflow::classification {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace testing;  // NOLINT: test builders

const absl::Time kNow = at(2024, 6, 15);

class Engine : public ::testing::Test {
 protected:
  std::shared_ptr<const Standard> s_ = Standard::parse(kTestStandard, "t.yaml");
  Population empty_;
};

std::string class_of(const v1::TierAssignment& a, const std::string& dim) {
  for (const auto& d : a.dimensions())
    if (d.dimension() == dim) return d.class_name();
  return "<none>";
}

using classification_features = Engine;

// windows.value_basis: gross_sales does not subtract refunds; net_sales does; gross_profit
// is the ledger's gross profit. Over the 12-month window and over the lifetime.
TEST_F(classification_features, ValueBasisGrossNetProfit) {
  const auto acc = account("c1", {{2023, 6, 900000, 0, 100, 9}, {2024, 6, 1000000, 250000, 30, 3}}, at(2022, 6, 15),
                           at(2024, 6, 5));
  auto value = [&](const std::string& basis, const std::string& months) {
    std::string y = testing::kTestStandard;
    const std::string from = "windows: {value_months: 12, value_basis: sales}";
    y.replace(y.find(from), from.size(), "windows: {value_months: " + months + ", value_basis: " + basis + "}");
    const auto s = Standard::parse(y, "t.yaml");
    return compute_features(*s, {"c1", &acc, nullptr}, kNow).get(Feature::value);
  };
  EXPECT_EQ(value("gross_sales", "12"), 1000000);
  EXPECT_EQ(value("net_sales", "12"), 750000);
  EXPECT_EQ(value("gross_profit", "12"), 30);
  EXPECT_EQ(value("gross_sales", "lifetime"), 1900000);
  EXPECT_EQ(value("net_sales", "lifetime"), 1650000);
  EXPECT_EQ(value("gross_profit", "lifetime"), 130);
}

// A standard may accept other currencies at fixed rates (currencies: {GBP: 9.5}): money
// in GBP is converted to the standard's minor units; a currency not listed counts nothing.
TEST_F(classification_features, AcceptedCurrencyAtAFixedRate) {
  auto acc = account("c1", {{2024, 6, 100000, 20000, 30000, 3}}, at(2022, 6, 15), at(2024, 6, 5));
  acc.set_currency("GBP");
  std::string y = testing::kTestStandard;
  const std::string from = "currency: CNY\n";
  y.replace(y.find(from), from.size(), "currency: CNY\ncurrencies: {GBP: 9.5, JPY: 0.048}\n");
  const auto s = Standard::parse(y, "t.yaml");
  const Features f = compute_features(*s, {"c1", &acc, nullptr}, kNow);
  EXPECT_EQ(f.get(Feature::sales_12m), 950000);  // 1,000.00 GBP = 9,500.00 CNY
  EXPECT_EQ(f.get(Feature::value), 760000);      // net sales: 800.00 GBP
  acc.set_currency("JPY");                        // no minor digits: 100,000 JPY = 4,800.00 CNY
  EXPECT_EQ(compute_features(*s, {"c1", &acc, nullptr}, kNow).get(Feature::sales_12m), 480000);
  acc.set_currency("USD");  // not listed: no money features
  EXPECT_FALSE(compute_features(*s, {"c1", &acc, nullptr}, kNow).has(Feature::sales_12m));
  const auto compact_acc = compact(acc);
  EXPECT_FALSE(compute_features(*s, CompactInputs{"c1", &compact_acc, nullptr}, kNow).has(Feature::sales_12m));
  acc.set_currency("GBP");
  const auto compact_gbp = compact(acc);
  EXPECT_EQ(compute_features(*s, CompactInputs{"c1", &compact_gbp, nullptr}, kNow).get(Feature::sales_12m), 950000);
  y.replace(y.find("GBP: 9.5"), 8, "GBP: -1");
  EXPECT_THROW(Standard::parse(y, "t.yaml"), StandardError);
}

TEST_F(classification_features, WindowsRefundsRecencyTenure) {
  // 2023-06 is 12 months back: outside the 12-month window (2023-07 .. 2024-06).
  const auto acc = account("c1",
                           {{2023, 6, 900000, 0, 100, 9},
                            {2023, 7, 100000, 0, 10, 1},
                            {2024, 4, 200000, 0, 20, 2},
                            {2024, 6, 1000000, 250000, 30, 3}},
                           at(2022, 6, 15), at(2024, 6, 5));
  const Features f = compute_features(*s_, {"c1", &acc, nullptr}, kNow);
  EXPECT_EQ(f.get(Feature::sales_12m), 1300000);
  EXPECT_EQ(f.get(Feature::refunds_12m), 250000);
  // Refunds reduce value: 13,000.00 - 2,500.00 with the sales basis.
  EXPECT_EQ(f.get(Feature::value), 1050000);
  EXPECT_EQ(f.get(Feature::orders_12m), 6);
  EXPECT_EQ(f.get(Feature::orders_90d), 5);  // April + June
  EXPECT_EQ(f.get(Feature::recency_days), 10);
  EXPECT_EQ(f.get(Feature::tenure_months), 24);
  EXPECT_EQ(f.get(Feature::lifetime_orders), 15);
  EXPECT_FALSE(f.has(Feature::on_time_ratio));  // no invoice paid

  const auto younger = account("c2", {}, at(2022, 6, 16), at(2024, 6, 5));
  EXPECT_EQ(compute_features(*s_, {"c2", &younger, nullptr}, kNow).get(Feature::tenure_months), 23);

  // Gross profit basis: value = the ledger's gross profit in the window.
  std::string gp = kTestStandard;
  gp.replace(gp.find("value_basis: sales"), 18, "value_basis: gross_profit");
  const auto sg = Standard::parse(gp, "gp.yaml");
  EXPECT_EQ(compute_features(*sg, {"c1", &acc, nullptr}, kNow).get(Feature::value), 60);
}

TEST_F(classification_features, ContractStartCountsForTenure) {
  v1::CustomerProfile p;
  p.mutable_contract_start()->set_year(2021);
  p.mutable_contract_start()->set_month(1);
  p.mutable_contract_start()->set_day(10);
  const auto acc = account("c", {}, at(2024, 1, 1), at(2024, 6, 1));
  EXPECT_EQ(compute_features(*s_, {"c", &acc, &p}, kNow).get(Feature::tenure_months), 41);
  // Profile only: a prospect with no account features.
  const Features f = compute_features(*s_, {"c", nullptr, &p}, kNow);
  EXPECT_FALSE(f.has(Feature::value));
  EXPECT_FALSE(f.has(Feature::lifetime_orders));
}

// Ten customers with values 100.00 .. 1,000.00: top 20% = 2 customers are A (>= 900.00),
// top 80% = 8 customers reach B (>= 300.00), the last 2 are C.
struct TenCustomers {
  std::vector<v1::AccountSnapshot> accounts;
  std::vector<CustomerInputs> inputs;
  std::vector<Features> features;
  TenCustomers(const Standard& s) {
    for (int i = 1; i <= 10; ++i)
      accounts.push_back(account("c" + std::to_string(i), {{2024, 5, i * 10000, 0, 0, 1}},
                                 at(2024, 5, 1), at(2024, 5, 20)));
    for (auto& a : accounts) inputs.push_back({a.customer_id(), &a, nullptr});
    for (auto& in : inputs) features.push_back(compute_features(s, in, kNow));
  }
};

using classification_dimensions = Engine;

TEST_F(classification_dimensions, PercentileAbc) {
  TenCustomers t(*s_);
  const Population pop = Population::compute(*s_, t.features);
  EXPECT_THAT(pop.thresholds(0), ElementsAre(90000, 30000));
  std::vector<std::string> classes;
  for (size_t i = 0; i < 10; ++i)
    classes.push_back(class_of(evaluate(*s_, pop, t.features[i], t.inputs[i]).assignment, "value"));
  EXPECT_THAT(classes, ElementsAre("C", "C", "B", "B", "B", "B", "B", "B", "A", "A"));
  // Empty population: nobody reaches a top class.
  EXPECT_EQ(class_of(evaluate(*s_, empty_, t.features[9], t.inputs[9]).assignment, "value"), "C");
}

TEST_F(classification_dimensions, ShippedStandardEveryDimension) {
  const auto s = Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
  // Big old customer: 300,000.00 CNY sales, 30 orders in 12 months, 8 in 90 days,
  // pays on time, scores 9.5, 1,200 employees, Shanghai retail.
  std::vector<Month> months;
  for (int m = 1; m <= 6; ++m) months.push_back({2024, m, 5000000, 0, 1000000, 5});
  auto acc = account("big", months, at(2020, 1, 1), at(2024, 6, 10));
  acc.mutable_payment()->set_on_time_ratio(0.99);
  acc.mutable_payment()->set_max_days_late(2);
  acc.mutable_payment()->set_invoices_paid(20);
  acc.mutable_feedback()->set_count(4);
  acc.mutable_feedback()->set_promoters(3);
  acc.mutable_feedback()->set_passives(1);
  acc.mutable_feedback()->set_average_score(9.5);
  v1::CustomerProfile p;
  p.set_region("CN-31");
  p.set_industry("Retail");
  p.mutable_company_size()->set_employees(1200);
  const CustomerInputs in{"big", &acc, &p};
  const Features f = compute_features(*s, in, kNow);
  // Population of one: the customer is top 20% (A) and every RFM score is 1 (no cut below it).
  const Population pop = Population::compute(*s, std::span<const Features>(&f, 1));
  const Evaluation ev = evaluate(*s, pop, f, in);
  const auto& a = ev.assignment;
  EXPECT_EQ(class_of(a, "value"), "A");
  EXPECT_EQ(class_of(a, "volume"), "big");
  EXPECT_EQ(class_of(a, "tenure"), "old");
  EXPECT_EQ(class_of(a, "quadrant"), "old-big");
  EXPECT_EQ(class_of(a, "company_size"), "large");
  EXPECT_EQ(class_of(a, "industry"), "retail");
  EXPECT_EQ(class_of(a, "region"), "华东");
  EXPECT_EQ(class_of(a, "lifecycle"), "active");
  EXPECT_EQ(class_of(a, "frequency"), "high");
  EXPECT_EQ(class_of(a, "rfm"), "Lost");  // R1 F1 M1 in a population of one
  EXPECT_EQ(class_of(a, "credit"), "AAA");
  EXPECT_EQ(class_of(a, "satisfaction"), "promoter");
  EXPECT_EQ(a.tier(), "diamond");
  EXPECT_EQ(a.matched_rule(), "diamond-core");
  EXPECT_TRUE(a.account_manager());
  EXPECT_FALSE(a.credit_hold());
  EXPECT_EQ(a.standard_version(), "2024.06-local.1");
  EXPECT_THAT(ev.explanation[0], HasSubstr("Customer big is diamond"));
  EXPECT_THAT(::testing::PrintToString(ev.explanation), HasSubstr("control their number and size"));

  // The same customer with 100 days late once: credit C -> credit hold, and no diamond.
  acc.mutable_payment()->set_max_days_late(100);
  const Features f2 = compute_features(*s, in, kNow);
  const Evaluation ev2 = evaluate(*s, pop, f2, in);
  EXPECT_EQ(class_of(ev2.assignment, "credit"), "C");
  EXPECT_TRUE(ev2.assignment.credit_hold());
  EXPECT_EQ(ev2.assignment.tier(), "silver");  // value A but credit C: not gold; frequency high
  EXPECT_EQ(ev2.assignment.matched_rule(), "silver-frequent");

  // Unmapped codes fall to the default class; lifecycle: no purchase for 200 days is at-risk.
  p.set_region("XX-99");
  p.set_industry("mining");
  auto old = account("old", {{2023, 11, 10000, 0, 1000, 1}}, at(2023, 11, 1), at(2023, 11, 28));
  const CustomerInputs in3{"old", &old, &p};
  const Features f3 = compute_features(*s, in3, kNow);
  const auto a3 = evaluate(*s, pop, f3, in3).assignment;
  EXPECT_EQ(class_of(a3, "region"), "其他");
  EXPECT_EQ(class_of(a3, "industry"), "other");
  EXPECT_EQ(class_of(a3, "lifecycle"), "at-risk");
  EXPECT_EQ(class_of(a3, "credit"), "A");  // no credit history, nothing overdue
  EXPECT_EQ(class_of(a3, "satisfaction"), "<none>");
  EXPECT_EQ(a3.tier(), "bronze");

  // Profile only: prospect.
  const CustomerInputs in4{"p", nullptr, &p};
  const auto a4 = evaluate(*s, pop, compute_features(*s, in4, kNow), in4).assignment;
  EXPECT_EQ(a4.tier(), "prospect");
  EXPECT_EQ(class_of(a4, "lifecycle"), "prospect");
}

TEST_F(classification_dimensions, RfmQuintiles) {
  const auto s = Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
  // Ten customers: customer i bought i orders, last purchase (11 - i) * 10 days ago, value i.
  std::vector<v1::AccountSnapshot> accs;
  for (int i = 1; i <= 10; ++i)
    accs.push_back(account("c" + std::to_string(i), {{2024, 6, i * 100, 0, i * 100, i}},
                           at(2024, 1, 1), kNow - absl::Hours(24 * (11 - i) * 10)));
  std::vector<CustomerInputs> ins;
  std::vector<Features> fs;
  for (auto& a : accs) ins.push_back({a.customer_id(), &a, nullptr});
  for (auto& in : ins) fs.push_back(compute_features(*s, in, kNow));
  const Population pop = Population::compute(*s, fs);
  // Two customers per score: c9, c10 -> 5/5/5 Champions; c1, c2 -> 1/1/1 Lost.
  const auto c10 = classify(*s, pop, fs[9], ins[9]);
  EXPECT_THAT(c10.rfm, ElementsAre(5, 5, 5));
  EXPECT_EQ(class_of(evaluate(*s, pop, fs[9], ins[9]).assignment, "rfm"), "Champions");
  EXPECT_THAT(classify(*s, pop, fs[4], ins[4]).rfm, ElementsAre(3, 3, 3));
  EXPECT_EQ(class_of(evaluate(*s, pop, fs[4], ins[4]).assignment, "rfm"), "Loyal");
  EXPECT_THAT(classify(*s, pop, fs[0], ins[0]).rfm, ElementsAre(1, 1, 1));
  EXPECT_EQ(class_of(evaluate(*s, pop, fs[0], ins[0]).assignment, "rfm"), "Lost");
}

using classification_rules = Engine;

TEST_F(classification_rules, FirstMatchAllAnyNot) {
  TenCustomers t(*s_);
  const Population pop = Population::compute(*s_, t.features);
  // c10: value A but tenure new (1 month) -> diamond fails (all); sales 1,000.00 < 5,000.00 ->
  // gold fails; value A is in [A, B] -> silver through the `any`.
  EXPECT_EQ(evaluate(*s_, pop, t.features[9], t.inputs[9]).assignment.matched_rule(), "silver-b-or-frequent");
  // c1: value C, 1 order -> neither branch of the `any` -> bronze.
  EXPECT_EQ(evaluate(*s_, pop, t.features[0], t.inputs[0]).assignment.matched_rule(), "bronze-buyer");

  // Old, A, and big sales: diamond and gold both match; the first rule wins.
  auto rich = account("rich", {{2024, 6, 1000000, 0, 0, 12}}, at(2020, 1, 1), at(2024, 6, 1));
  std::vector<Features> fs = t.features;
  const CustomerInputs rin{"rich", &rich, nullptr};
  fs.push_back(compute_features(*s_, rin, kNow));
  const Population pop2 = Population::compute(*s_, fs);
  const auto ev = evaluate(*s_, pop2, fs.back(), rin);
  EXPECT_EQ(ev.assignment.tier(), "diamond");
  EXPECT_EQ(ev.assignment.matched_rule(), "diamond-a-old");
  EXPECT_EQ(ev.assignment.price_level(), "P1");

  // `not`: gold-sales requires credit not C. 10,000.00 sales, tenure new.
  auto late = account("late", {{2024, 6, 1000000, 0, 0, 1}}, at(2024, 1, 1), at(2024, 6, 1));
  late.mutable_payment()->set_invoices_paid(3);
  late.mutable_payment()->set_max_days_late(10);
  const CustomerInputs lin{"late", &late, nullptr};
  EXPECT_EQ(evaluate(*s_, pop, compute_features(*s_, lin, kNow), lin).assignment.tier(), "gold");
  late.mutable_payment()->set_max_days_late(100);  // credit C
  const auto lev = evaluate(*s_, pop, compute_features(*s_, lin, kNow), lin);
  EXPECT_EQ(lev.assignment.tier(), "silver");
  EXPECT_TRUE(lev.assignment.credit_hold());
}

TEST_F(classification_rules, ProfileOnlyIsProspect) {
  v1::CustomerProfile p;
  const CustomerInputs in{"p", nullptr, &p};
  const auto ev = evaluate(*s_, empty_, compute_features(*s_, in, kNow), in);
  EXPECT_EQ(ev.assignment.tier(), "prospect");
  EXPECT_EQ(ev.assignment.matched_rule(), "default");
  // Only the rules dimension without features applies (credit falls to its default).
  ASSERT_EQ(ev.assignment.dimensions_size(), 1);
  EXPECT_EQ(class_of(ev.assignment, "credit"), "OK");
}

using classification_distance = Engine;

TEST_F(classification_distance, MoreSalesToReachGold) {
  TenCustomers t(*s_);
  // 1,800.00 CNY sales in 12 months, 1 order, tenure new; value in the population: A.
  auto acc = account("d", {{2024, 6, 180000, 0, 0, 1}}, at(2024, 6, 1), at(2024, 6, 2));
  const CustomerInputs in{"d", &acc, nullptr};
  const Features f = compute_features(*s_, in, kNow);
  const Population pop = Population::compute(*s_, t.features);
  const auto ev = evaluate(*s_, pop, f, in);
  ASSERT_EQ(ev.assignment.tier(), "silver");
  const auto& next = ev.assignment.to_next();
  EXPECT_EQ(next.target_tier(), "gold");
  EXPECT_EQ(next.feature(), "sales_12m");
  EXPECT_DOUBLE_EQ(next.missing(), 320000);
  EXPECT_EQ(next.text(), "3,200.00 CNY more sales in 12 months to reach gold");
  // Diamond: value A is met; tenure old needs 24 months (0 so far).
  EXPECT_EQ(ev.distance_to_tier[0].text(), "24 more months of tenure to reach diamond");
  EXPECT_EQ(ev.distance_to_tier[0].feature(), "tenure_months");
  // A customer of value C (100.00) to reach diamond lacks both: value 900.00 - 100.00 and tenure.
  const auto evc = evaluate(*s_, pop, t.features[0], t.inputs[0]);
  EXPECT_EQ(evc.distance_to_tier[0].text(),
            "to reach diamond: 800.00 CNY more value (net sales in 12 months); 23 more months of tenure");
  // Silver for c1 (value C) through value B: 300.00 - 100.00.
  EXPECT_EQ(evc.assignment.to_next().text(), "200.00 CNY more value (net sales in 12 months) to reach silver");
  // To keep silver: value B from 300.00 with 1,800.00 -> 1,500.00 to spare.
  EXPECT_EQ(ev.assignment.to_keep().text(), "keeps silver with 1,500.00 CNY to spare on value (net sales in 12 months)");
  EXPECT_THAT(::testing::PrintToString(ev.explanation), HasSubstr("3,200.00 CNY more sales in 12 months to reach gold"));
}

// decide(): anti-flapping and overrides.
class classification_decide : public Engine {
 protected:
  Evaluation eval_tier(const std::string& tier) {
    Evaluation ev;
    const int t = s_->tier_index(tier);
    ev.classification.tier = static_cast<uint8_t>(t);
    ev.assignment.set_customer_id("c");
    ev.assignment.set_tier(tier);
    ev.assignment.set_standard_version(s_->version());
    ev.assignment.set_price_level(s_->tiers()[t].price_level);
    ev.distance_to_tier.resize(s_->tiers().size());
    for (int i = 0; i < t; ++i) ev.distance_to_tier[i].set_target_tier(s_->tiers()[i].name);
    return ev;
  }
};

TEST_F(classification_decide, FirstAssignmentAndUpgradeAtOnce) {
  bool changed = false;
  const auto a1 = decide(*s_, eval_tier("silver"), nullptr, nullptr, kNow, &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(a1.tier(), "silver");
  EXPECT_EQ(a1.version(), 1);
  EXPECT_EQ(a1.previous_tier(), "");
  EXPECT_EQ(from_ts(a1.assigned_time()), kNow);
  // Same result later: nothing a reader cares about changed.
  const auto same = decide(*s_, eval_tier("silver"), &a1, nullptr, kNow + absl::Hours(1), &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(same.version(), 1);
  EXPECT_EQ(from_ts(same.evaluated_time()), kNow + absl::Hours(1));
  const auto up = decide(*s_, eval_tier("diamond"), &a1, nullptr, kNow + absl::Hours(2), &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(up.tier(), "diamond");
  EXPECT_EQ(up.previous_tier(), "silver");
  EXPECT_EQ(up.version(), 2);
  EXPECT_EQ(up.price_level(), "P1");
}

TEST_F(classification_decide, GraceThenDropOne) {
  bool changed = false;
  const auto diamond = decide(*s_, eval_tier("diamond"), nullptr, nullptr, kNow, &changed);
  // The standard now says bronze: diamond (30 days, drop_one) is kept, downgrade announced.
  const auto t1 = kNow + absl::Hours(24);
  const auto held = decide(*s_, eval_tier("bronze"), &diamond, nullptr, t1, &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(held.tier(), "diamond");
  EXPECT_EQ(held.price_level(), "P1");
  EXPECT_EQ(held.version(), 2);
  ASSERT_TRUE(held.has_pending_downgrade());
  EXPECT_EQ(held.pending_downgrade().to_tier(), "gold");
  EXPECT_EQ(from_ts(held.pending_downgrade().effective_time()), t1 + absl::Hours(24 * 30));
  EXPECT_EQ(held.to_keep().target_tier(), "diamond");
  // Re-evaluated during the grace period: no change.
  const auto again = decide(*s_, eval_tier("bronze"), &held, nullptr, t1 + absl::Hours(24 * 10), &changed);
  EXPECT_FALSE(changed);
  EXPECT_EQ(again.version(), 2);
  // After the grace period: one tier down, then a new grace period for gold.
  const auto t2 = t1 + absl::Hours(24 * 30);
  const auto gold = decide(*s_, eval_tier("bronze"), &again, nullptr, t2, &changed);
  EXPECT_TRUE(changed);
  EXPECT_EQ(gold.tier(), "gold");
  EXPECT_EQ(gold.previous_tier(), "diamond");
  EXPECT_FALSE(gold.has_pending_downgrade());
  EXPECT_EQ(from_ts(gold.assigned_time()), t2);
  EXPECT_EQ(gold.version(), 3);
  const auto gold2 = decide(*s_, eval_tier("bronze"), &gold, nullptr, t2 + absl::Hours(1), &changed);
  EXPECT_EQ(gold2.tier(), "gold");
  EXPECT_EQ(gold2.pending_downgrade().to_tier(), "silver");
}

TEST_F(classification_decide, RecoveryCancelsPendingAndRecomputeAndNever) {
  bool changed = false;
  const auto silver = decide(*s_, eval_tier("silver"), nullptr, nullptr, kNow, &changed);
  // silver: 10 days, recompute -> to the evaluated tier.
  const auto held = decide(*s_, eval_tier("prospect"), &silver, nullptr, kNow, &changed);
  EXPECT_EQ(held.pending_downgrade().to_tier(), "prospect");
  const auto back = decide(*s_, eval_tier("silver"), &held, nullptr, kNow + absl::Hours(24), &changed);
  EXPECT_TRUE(changed);
  EXPECT_FALSE(back.has_pending_downgrade());
  EXPECT_EQ(back.tier(), "silver");
  const auto held2 = decide(*s_, eval_tier("prospect"), &back, nullptr, kNow + absl::Hours(48), &changed);
  const auto after = decide(*s_, eval_tier("prospect"), &held2, nullptr, kNow + absl::Hours(48 + 240), &changed);
  EXPECT_EQ(after.tier(), "prospect");
  // bronze: never.
  const auto bronze = decide(*s_, eval_tier("bronze"), nullptr, nullptr, kNow, &changed);
  const auto kept = decide(*s_, eval_tier("prospect"), &bronze, nullptr, kNow + absl::Hours(24 * 400), &changed);
  EXPECT_EQ(kept.tier(), "bronze");
  EXPECT_FALSE(kept.has_pending_downgrade());
  EXPECT_FALSE(changed);
}

TEST_F(classification_decide, OverridesPinFloorExpiry) {
  bool changed = false;
  v1::TierOverride pin;
  pin.set_kind(v1::OVERRIDE_KIND_PIN);
  pin.set_tier("bronze");
  pin.set_actor("alice");
  pin.set_reason_code("strategic");
  set_ts(pin.mutable_expire_time(), kNow + absl::Hours(24));
  const auto pinned = decide(*s_, eval_tier("gold"), nullptr, &pin, kNow, &changed);
  EXPECT_EQ(pinned.tier(), "bronze");
  EXPECT_EQ(pinned.override().actor(), "alice");
  // Expired: ignored.
  const auto expired = decide(*s_, eval_tier("gold"), nullptr, &pin, kNow + absl::Hours(25), &changed);
  EXPECT_EQ(expired.tier(), "gold");
  EXPECT_FALSE(expired.has_override());

  v1::TierOverride floor = pin;
  floor.set_kind(v1::OVERRIDE_KIND_FLOOR);
  floor.set_tier("silver");
  floor.clear_expire_time();  // no expiry
  const auto raised = decide(*s_, eval_tier("prospect"), nullptr, &floor, kNow, &changed);
  EXPECT_EQ(raised.tier(), "silver");
  EXPECT_TRUE(raised.has_override());
  const auto above = decide(*s_, eval_tier("gold"), nullptr, &floor, kNow, &changed);
  EXPECT_EQ(above.tier(), "gold");
  EXPECT_FALSE(above.has_override());
}

using classification_reports = Engine;

TEST_F(classification_reports, WhatIfMigrationMatrix) {
  // Candidate: gold from 2,000.00 instead of 5,000.00 CNY.
  std::string cand = kTestStandard;
  cand.replace(cand.find("value: 5000}"), 12, "value: 2000}");
  cand.replace(cand.find("version: t1"), 11, "version: t2");
  const auto s2 = Standard::parse(cand, "cand.yaml");
  std::vector<v1::AccountSnapshot> accs;
  for (int64_t sales : {100000, 300000, 600000})  // 1,000 / 3,000 / 6,000 CNY, 1 order each
    accs.push_back(account("s" + std::to_string(sales / 100), {{2024, 6, sales, 0, 0, 1}}, at(2024, 1, 1), at(2024, 6, 1)));
  v1::CustomerProfile p;
  std::vector<CustomerInputs> ins;
  for (auto& a : accs) ins.push_back({a.customer_id(), &a, nullptr});
  ins.push_back({"prospect1", nullptr, &p});
  // Population of 3 valued customers: A = top ceil(0.6) = 1 (6,000), B = top ceil(2.4) = 3.
  // current: s1000 B -> silver; s3000 B -> silver; s6000 A, gold-sales -> gold; prospect.
  // candidate: s3000 now gold.
  const auto r = what_if(*s_, *s2, ins, kNow);
  EXPECT_EQ(r.candidate_version(), "t2");
  EXPECT_EQ(r.customers(), 4);
  std::vector<std::string> cells;
  for (const auto& m : r.migrations())
    cells.push_back(m.from_tier() + "->" + m.to_tier() + ":" + std::to_string(m.customers()) + ":" +
                    m.example_customer_ids(0));
  EXPECT_THAT(cells, ElementsAre("gold->gold:1:s6000", "silver->gold:1:s3000", "silver->silver:1:s1000",
                                 "prospect->prospect:1:prospect1"));
}

TEST_F(classification_reports, DistributionSharesAndPareto) {
  // Ten customers with values 80, 5, 5, 2, 2, 2, 1, 1, 1, 1 (CNY): total 100.
  const int64_t vals[] = {8000, 500, 500, 200, 200, 200, 100, 100, 100, 100};
  std::vector<v1::TierAssignment> as;
  std::vector<Features> fs;
  for (int i = 0; i < 10; ++i) {
    v1::TierAssignment a;
    a.set_tier(i == 0 ? "gold" : i < 3 ? "silver" : "bronze");
    auto* d = a.add_dimensions();
    d->set_dimension("value");
    d->set_class_name(i < 2 ? "A" : i < 8 ? "B" : "C");
    as.push_back(a);
    Features f;
    f.set(Feature::value, vals[i]);
    fs.push_back(f);
  }
  const auto d = distribution(*s_, as, fs);
  EXPECT_EQ(d.customers(), 10);
  EXPECT_EQ(d.total_value_minor(), 10000);
  EXPECT_EQ(d.currency(), "CNY");
  ASSERT_EQ(d.tiers_size(), 5);  // every tier of the standard, in order
  EXPECT_EQ(d.tiers(0).tier(), "diamond");
  EXPECT_EQ(d.tiers(0).customers(), 0);
  EXPECT_EQ(d.tiers(1).tier(), "gold");
  EXPECT_DOUBLE_EQ(d.tiers(1).value_share(), 0.80);
  EXPECT_EQ(d.tiers(2).customers(), 2);
  EXPECT_DOUBLE_EQ(d.tiers(2).value_share(), 0.10);
  EXPECT_DOUBLE_EQ(d.tiers(3).value_share(), 0.10);
  ASSERT_GE(d.classes_size(), 3);
  EXPECT_EQ(d.classes(0).class_name(), "A");
  EXPECT_EQ(d.classes(0).customers(), 2);
  EXPECT_DOUBLE_EQ(d.classes(0).value_share(), 0.85);
  EXPECT_DOUBLE_EQ(d.classes(2).value_share(), 0.02);  // C: the last two
  // Pareto: top 10% (1 customer) = 80%, top 20% = 85%, 100% = 100%.
  ASSERT_EQ(d.pareto_size(), 11);
  EXPECT_DOUBLE_EQ(d.pareto(1).customer_share(), 0.10);
  EXPECT_DOUBLE_EQ(d.pareto(1).value_share(), 0.80);
  EXPECT_DOUBLE_EQ(d.pareto(2).value_share(), 0.85);
  EXPECT_DOUBLE_EQ(d.pareto(10).value_share(), 1.0);
}

// The 80/20 questions: the full curve, customers needed to reach a value share, the share
// of the top N, and RFM quartile and quintile cut points.
TEST_F(classification_reports, DistributionCurveReachTopAndCutPoints) {
  // Values 80, 5, 5, 2, 2, 2, 1, 1, 1, 1: cumulative 80, 85, 90, 92, 94, 96, 97, 98, 99, 100.
  const int64_t vals[] = {8000, 500, 500, 200, 200, 200, 100, 100, 100, 100};
  std::vector<v1::TierAssignment> as(10);
  std::vector<Features> fs;
  for (int i = 0; i < 10; ++i) {
    Features f;
    f.set(Feature::value, vals[i]);
    f.set(Feature::orders_12m, i + 1);  // 1..10
    if (i < 5) f.set(Feature::recency_days, 10 * i);  // 0, 10, 20, 30, 40; the rest bought never
    fs.push_back(f);
  }
  const auto d = distribution(*s_, as, fs);
  ASSERT_EQ(d.curve_size(), 100);
  EXPECT_DOUBLE_EQ(d.curve(0).customer_share(), 0.01);
  EXPECT_DOUBLE_EQ(d.curve(0).value_share(), 0.80);   // ceil(1% of 10) = 1 customer
  EXPECT_DOUBLE_EQ(d.curve(10).value_share(), 0.85);  // 11%: 2 customers
  EXPECT_DOUBLE_EQ(d.curve(99).value_share(), 1.0);
  // Default shares 50, 80, 90, 95%.
  ASSERT_EQ(d.reach_size(), 4);
  EXPECT_EQ(d.reach(0).customers(), 1);
  EXPECT_EQ(d.reach(1).customers(), 1);  // 80 >= 80: exact ties reach
  EXPECT_DOUBLE_EQ(d.reach(1).customer_share(), 0.1);
  EXPECT_EQ(d.reach(2).customers(), 3);
  EXPECT_EQ(d.reach(3).customers(), 6);  // 96 >= 95
  ASSERT_EQ(d.top_size(), 3);            // top 10, 100, 1000
  EXPECT_EQ(d.top(0).top_n(), 10);
  EXPECT_EQ(d.top(0).customers(), 10);
  EXPECT_DOUBLE_EQ(d.top(0).value_share(), 1.0);
  // Asked for: 85% needs 2 customers; the top 3 bring 90%.
  v1::GetDistributionRequest req;
  req.add_value_shares(0.85);
  req.add_top_n(3);
  const auto asked = distribution(*s_, as, fs, req);
  ASSERT_EQ(asked.reach_size(), 1);
  EXPECT_EQ(asked.reach(0).customers(), 2);
  ASSERT_EQ(asked.top_size(), 1);
  EXPECT_EQ(asked.top(0).value_minor(), 9000);
  EXPECT_DOUBLE_EQ(asked.top(0).value_share(), 0.90);
  // Cut points (the test standard has no rfm dimension: the default features).
  auto cuts = [&](const std::string& component, int q) {
    for (const auto& c : d.cut_points())
      if (c.component() == component && c.quantiles() == q) return std::vector<int64_t>(c.cuts().begin(), c.cuts().end());
    return std::vector<int64_t>{-1};
  };
  // monetary ascending 100 x4, 200 x3, 500 x2, 8000: quartile cuts = 3rd, 5th, 8th smallest.
  EXPECT_EQ(cuts("monetary", 4), (std::vector<int64_t>{100, 200, 500}));
  EXPECT_EQ(cuts("monetary", 5), (std::vector<int64_t>{100, 100, 200, 500}));  // 2nd, 4th, 6th, 8th
  EXPECT_EQ(cuts("frequency", 5), (std::vector<int64_t>{2, 4, 6, 8}));
  EXPECT_EQ(cuts("recency", 4), (std::vector<int64_t>{10, 20, 30}));  // of 5: 2nd, 3rd, 4th smallest
}

}  // namespace
}  // namespace tierflow::classification
