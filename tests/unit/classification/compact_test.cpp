// The compact per-customer inputs give exactly the proto path's features and classes, on
// synthetic customers (tests/bench/classification/synthetic.h) and on edge cases, under
// standards with different windows, bases and clocks.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "synthetic.h"
#include "test_support.h"
#include "tierflow/classification/compact.h"

namespace tierflow::classification {
namespace {

using namespace testing;  // NOLINT: test builders

std::shared_ptr<const Standard> shipped() {
  return Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
}

// The shipped standard with another value window / basis.
std::shared_ptr<const Standard> variant(const std::string& months, const std::string& basis) {
  std::ifstream in(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("value_months: 12"), 16, "value_months: " + months);
  text.replace(text.find("value_basis: gross_profit"), 25, "value_basis: " + basis);
  return Standard::parse(text, "variant.yaml");
}

std::string describe(const Classification& c) {
  std::string out = "tier " + std::to_string(c.tier) + " rule " + std::to_string(c.rule) +
                    (c.credit_hold ? " hold" : "") + " classes";
  for (int8_t k : c.classes) out += " " + std::to_string(k);
  out += " rfm";
  for (uint8_t k : c.rfm) out += " " + std::to_string(k);
  return out;
}

struct Customer {
  std::string id;
  std::optional<v1::AccountSnapshot> account;
  std::optional<v1::CustomerProfile> profile;
};

// Proto path vs compact path over `customers` at `now`: features, and classes under the
// population computed by the proto path. Returns the number of customers compared.
size_t expect_same(const Standard& s, const std::vector<Customer>& customers, absl::Time now) {
  Vocabulary vocabulary;
  std::vector<CompactAccount> accounts;
  std::vector<CompactProfile> profiles;
  accounts.reserve(customers.size());
  profiles.reserve(customers.size());
  for (const auto& c : customers) {
    accounts.push_back(c.account ? compact(*c.account) : CompactAccount{});
    profiles.push_back(c.profile ? compact(*c.profile, vocabulary) : CompactProfile{});
  }
  std::vector<Features> proto_features, compact_features;
  for (size_t i = 0; i < customers.size(); ++i) {
    const auto& c = customers[i];
    proto_features.push_back(compute_features(
        s, CustomerInputs{c.id, c.account ? &*c.account : nullptr, c.profile ? &*c.profile : nullptr}, now));
    compact_features.push_back(compute_features(
        s, CompactInputs{c.id, c.account ? &accounts[i] : nullptr, c.profile ? &profiles[i] : nullptr}, now));
  }
  const Population pop = Population::compute(s, proto_features);
  const MappingTable mappings(s, vocabulary);
  size_t compared = 0;
  for (size_t i = 0; i < customers.size(); ++i) {
    const auto& c = customers[i];
    EXPECT_TRUE(proto_features[i] == compact_features[i]) << "features of " << c.id;
    const Classification a =
        classify(s, pop, proto_features[i],
                 CustomerInputs{c.id, c.account ? &*c.account : nullptr, c.profile ? &*c.profile : nullptr});
    const Classification b = classify(s, pop, compact_features[i], c.profile ? &profiles[i] : nullptr, mappings);
    EXPECT_TRUE(a == b) << "classes of " << c.id << ": " << describe(a) << " vs " << describe(b);
    if (c.profile && (i % 97 == 0 || c.id.rfind("c-", 0) != 0)) {  // a sample: evaluate() is slow
      // The expanded profile gives evaluate() the same mapping classes and details.
      const v1::CustomerProfile expanded = expand_for_evaluation(profiles[i], vocabulary);
      const Evaluation full = evaluate(s, pop, proto_features[i], {c.id, nullptr, &*c.profile});
      const Evaluation small = evaluate(s, pop, proto_features[i], {c.id, nullptr, &expanded});
      EXPECT_EQ(full.assignment.SerializeAsString(), small.assignment.SerializeAsString()) << c.id;
    }
    ++compared;
  }
  return compared;
}

std::vector<Customer> synthetic_customers(uint64_t n) {
  std::vector<Customer> out;
  for (uint64_t i = 0; i < n; ++i) {
    Customer c{synthetic::customer_id(i), std::nullopt, std::nullopt};
    v1::AccountSnapshot a;
    if (synthetic::account(i, &a)) c.account = std::move(a);
    if (i % 11 != 5) c.profile = synthetic::profile(i);
    out.push_back(std::move(c));
  }
  return out;
}

// Hand-made corner cases: currencies, wide amounts, nanos, month normalisation, old and
// duplicate-free sparse months, negative amounts, missing timestamps.
std::vector<Customer> edge_customers() {
  std::vector<Customer> out;
  auto add = [&](std::string id, std::optional<v1::AccountSnapshot> a, std::optional<v1::CustomerProfile> p) {
    out.push_back({std::move(id), std::move(a), std::move(p)});
  };
  auto base = account("e", {{2024, 6, 100, 0, 10, 1}, {2023, 1, 500, 100, 50, 2}}, at(2020, 2, 29), at(2024, 6, 1));
  add("plain", base, std::nullopt);
  for (const char* cur : {"USD", "", "CNYX", "C", "cny"}) {
    auto a = base;
    a.set_currency(cur);
    add(std::string("currency-") + cur, a, std::nullopt);
  }
  {  // amounts beyond int32 in one month, negative values, huge order counts
    auto a =
        account("w", {{2024, 5, 5'000'000'000'000, -7, 3'000'000'000, 3'000'000'000}, {2024, 4, -100, 200, -300, 0}},
                at(2023, 1, 1), at(2024, 5, 3));
    a.mutable_months(0)->set_refund_count(-5);
    add("wide", a, std::nullopt);
  }
  {  // months written out of range (normalised by CivilMonth) and not sorted
    auto a = account("n", {{2023, 13, 700, 0, 70, 7}, {2024, 0, 800, 0, 80, 8}, {2022, 7, 1, 0, 1, 1}}, at(2022, 7, 1),
                     at(2024, 1, 2));
    add("normalised", a, std::nullopt);
  }
  {  // buckets more than 24 months apart: the old ones are outside every window
    auto a = account("o", {{2019, 3, 900, 0, 90, 9}, {2021, 6, 10, 0, 1, 1}, {2024, 6, 20, 0, 2, 2}}, at(2019, 3, 3),
                     at(2024, 6, 14));
    add("old-buckets", a, std::nullopt);
  }
  {  // timestamps with nanos, only nanos, and unset
    auto a = base;
    a.mutable_last_purchase()->set_nanos(999'999'999);
    a.mutable_first_purchase()->set_nanos(1);
    add("nanos", a, std::nullopt);
    auto b = base;
    b.mutable_last_purchase()->set_seconds(0);
    b.mutable_last_purchase()->set_nanos(5);
    b.clear_first_purchase();
    add("nanos-only", b, std::nullopt);
    auto c = base;
    c.clear_last_purchase();
    c.clear_first_purchase();
    add("no-times", c, std::nullopt);
  }
  {  // payment and feedback extremes
    auto a = base;
    a.mutable_payment()->set_invoices_paid(3);
    a.mutable_payment()->set_on_time_ratio(1.7);
    a.mutable_payment()->set_avg_days_late(-2.5);
    a.mutable_payment()->set_max_days_late(-1);
    a.mutable_payment()->set_overdue_minor(123);
    a.mutable_ageing()->set_over_90_minor(45);
    a.mutable_feedback()->set_count(3);
    a.mutable_feedback()->set_promoters(1);
    a.mutable_feedback()->set_detractors(2);
    a.mutable_feedback()->set_average_score(11.25);
    add("extremes", a, std::nullopt);
  }
  add("no-months", account("m", {}, at(2024, 1, 1), at(2024, 2, 1)), std::nullopt);
  {  // profiles: contract starts, revenue currencies, spelling of industry and region
    v1::CustomerProfile p;
    p.set_industry("  RETAIL ");
    p.set_region("cn-31");
    p.mutable_contract_start()->set_year(2010);
    p.mutable_contract_start()->set_month(14);
    p.mutable_contract_start()->set_day(0);
    p.mutable_company_size()->set_employees(-3);
    p.mutable_company_size()->mutable_annual_revenue()->set_minor_units(500'000'000'000);
    add("profile-a", base, p);
    p.mutable_company_size()->mutable_annual_revenue()->set_currency("USD");
    p.set_industry("unknown-industry");
    p.set_region("   ");
    p.mutable_contract_start()->set_year(2030);
    add("profile-b", base, p);
    p.mutable_company_size()->mutable_annual_revenue()->set_currency("CNY");
    p.set_industry("");
    p.mutable_contract_start()->set_year(0);
    add("profile-only", std::nullopt, p);
  }
  add("nothing", std::nullopt, std::nullopt);
  return out;
}

TEST(classification_compact, SameFeaturesAndClassesAsProtoPath) {
  std::vector<Customer> customers = synthetic_customers(20000);
  for (auto& c : edge_customers()) customers.push_back(std::move(c));
  const absl::Time t0 = synthetic::as_of();
  std::vector<std::shared_ptr<const Standard>> standards = {shipped(), variant("24", "sales"),
                                                            variant("lifetime", "gross_profit"), variant("3", "sales"),
                                                            Standard::parse(kTestStandard, "t.yaml")};
  for (const auto& s : standards) {
    // Clocks: as of the data, later in the same month, months and years later.
    for (absl::Time now : {t0, t0 + absl::Hours(24 * 15) + absl::Nanoseconds(7), t0 + absl::Hours(24 * 40),
                           t0 + absl::Hours(24 * 365), t0 + absl::Hours(24 * 800)}) {
      EXPECT_EQ(expect_same(*s, customers, now), customers.size());
      if (HasFailure()) return;  // one report is enough
    }
  }
}

TEST(classification_compact, WideAmountsAreKept) {
  const auto a =
      account("w", {{2024, 5, 5'000'000'000'000, 0, 1, 1}, {2024, 4, 10, 0, 1, 1}}, at(2023, 1, 1), at(2024, 5, 3));
  const CompactAccount c = compact(a);
  ASSERT_NE(c.wide, nullptr);
  EXPECT_EQ(c.month_value(CompactAccount::kSales, 0), 5'000'000'000'000);
  EXPECT_EQ(c.month_value(CompactAccount::kSales, 1), 10);
  const auto narrow = compact(account("n", {{2024, 5, 10, 0, 1, 1}}, at(2023, 1, 1), at(2024, 5, 3)));
  EXPECT_EQ(narrow.wide, nullptr);
  EXPECT_EQ(narrow.month_value(CompactAccount::kOrders, 0), 1);
}

TEST(classification_compact, VocabularyAndMappingTable) {
  const auto s = shipped();
  Vocabulary v;
  EXPECT_EQ(v.intern(""), 0U);
  const uint32_t retail = v.intern("Retail");
  EXPECT_EQ(v.intern("Retail"), retail);
  EXPECT_NE(v.intern("retail"), retail);  // interned as written: details keep the spelling
  EXPECT_EQ(v.text(retail), "Retail");
  const MappingTable m(*s, v);
  const int industry = s->dimension_index("industry");
  ASSERT_GE(industry, 0);
  EXPECT_EQ(s->dimensions()[industry].classes[m.lookup(industry, retail)], "retail");
  EXPECT_EQ(m.lookup(industry, 0), -1);     // empty: no class
  EXPECT_EQ(m.lookup(industry, 9999), -1);  // not in the table it was built with
}

TEST(classification_compact, HeldBytesPerCustomer) {
  // The inline sizes the benchmark reports; a guard against accidental growth.
  EXPECT_LE(sizeof(CompactAccount), 704U);
  EXPECT_LE(sizeof(CompactProfile), 48U);
}

}  // namespace
}  // namespace tierflow::classification
