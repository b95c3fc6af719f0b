// Loader of the classification standard: the shipped file, validation errors, money helpers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "test_support.h"
#include "common/money/money.h"
#include "tierflow/classification/standard.h"

namespace tierflow::classification {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kTestStandard;

const std::string kShipped = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";

TEST(classification_standard_load, ShippedStandardLoads) {
  const auto s = Standard::load_file(kShipped);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->version(), "2024.06-local.1");
  EXPECT_EQ(s->currency(), "CNY");
  EXPECT_THAT(s->tier_names(), ElementsAre("diamond", "gold", "silver", "bronze", "prospect"));
  std::vector<std::string> dims;
  for (const auto& d : s->dimensions()) dims.push_back(d.name);
  EXPECT_THAT(dims, ElementsAre("value", "volume", "tenure", "quadrant", "company_size", "industry",
                                "region", "lifecycle", "frequency", "rfm", "credit", "satisfaction"));
  EXPECT_EQ(s->value_months(), 12);
  EXPECT_TRUE(s->value_basis_gross_profit());
  EXPECT_EQ(s->tiers()[0].downgrade, DowngradePolicy::drop_one);
  EXPECT_EQ(s->tiers()[0].grace_days, 90);
  EXPECT_TRUE(s->tiers()[0].account_manager);
}

TEST(classification_standard_load, TestStandardCompiles) {
  const auto s = Standard::parse(kTestStandard, "t.yaml");
  EXPECT_EQ(s->version(), "t1");
  EXPECT_FALSE(s->value_basis_gross_profit());
  ASSERT_EQ(s->rules().size(), 5u);
  EXPECT_EQ(s->rules()[1].id, "gold-sales");
  EXPECT_EQ(s->tier_index("silver"), 2);
  // Money thresholds are scaled to minor units.
  const CondNode& root = s->nodes()[s->rules()[1].condition];
  ASSERT_EQ(root.kind, CondNode::Kind::all);
  EXPECT_EQ(s->nodes()[s->children()[root.first_child]].value, 500000);
}

// Replaces the first occurrence of `from` in the test standard.
std::string edit(const std::string& from, const std::string& to) {
  std::string s = kTestStandard;
  const auto pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return s.replace(pos, from.size(), to);
}

// Line (1-based) of the first occurrence of `needle` in `text`.
int line_of(const std::string& text, const std::string& needle) {
  const auto pos = text.find(needle);
  EXPECT_NE(pos, std::string::npos) << needle;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
}

StandardError load_error(const std::string& yaml) {
  try {
    Standard::parse(yaml, "bad.yaml");
  } catch (const StandardError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for:\n" << yaml;
  return StandardError("", 0, "", "");
}

TEST(classification_standard_errors, UnknownFeatureNamesFileLineAndField) {
  const std::string y = edit(R"({feature: sales_12m, op: ">=", value: 5000})",
                             R"({feature: salez_12m, op: ">=", value: 5000})");
  const StandardError e = load_error(y);
  EXPECT_EQ(e.file(), "bad.yaml");
  EXPECT_EQ(e.line(), line_of(y, "salez_12m"));
  EXPECT_EQ(e.field(), "rules[1].when.all[0].feature");
  EXPECT_THAT(e.what(), HasSubstr("unknown feature 'salez_12m'"));
  EXPECT_THAT(e.what(), HasSubstr("bad.yaml:" + std::to_string(e.line()) + ": rules[1].when.all[0].feature"));
}

TEST(classification_standard_errors, UndeclaredFeature) {
  const std::string y = edit(R"({feature: lifetime_orders, op: ">", value: 0})",
                             R"({feature: nps, op: ">", value: 0})");
  const StandardError e = load_error(y);
  EXPECT_EQ(e.field(), "rules[3].when.feature");
  EXPECT_THAT(e.what(), HasSubstr("not declared in features"));
}

TEST(classification_standard_errors, UnknownFeatureInFeatureList) {
  const StandardError e = load_error(edit("overdue]", "overdue, bogus]"));
  EXPECT_EQ(e.field(), "features[10]");
  EXPECT_THAT(e.what(), HasSubstr("unknown feature 'bogus'"));
}

TEST(classification_standard_errors, OverlappingPercentileCuts) {
  const std::string y = edit("{class: B, top_percent: 80}", "{class: B, top_percent: 15}");
  const StandardError e = load_error(y);
  EXPECT_EQ(e.field(), "dimensions[0].classes[1].top_percent");
  EXPECT_EQ(e.line(), line_of(y, "top_percent: 15"));
  EXPECT_THAT(e.what(), HasSubstr("overlapping or unordered cut points"));
}

TEST(classification_standard_errors, UnorderedAbsoluteCuts) {
  const std::string y = edit("classes: [{class: old, min: 24}, {class: new}]",
                             "classes: [{class: old, min: 24}, {class: mid, min: 30}, {class: new}]");
  const StandardError e = load_error(y);
  EXPECT_EQ(e.field(), "dimensions[1].classes[1].min");
  EXPECT_THAT(e.what(), HasSubstr("overlapping or unordered cut points"));
}

TEST(classification_standard_errors, UnreachableRule) {
  const std::string y = std::string(kTestStandard) + "";
  const std::string bad = edit("  - id: default\n    tier: prospect\n",
                               "  - id: default\n    tier: prospect\n  - id: late\n    tier: bronze\n");
  const StandardError e = load_error(bad);
  EXPECT_EQ(e.field(), "rules[5]");
  EXPECT_EQ(e.line(), line_of(bad, "- id: late"));
  EXPECT_THAT(e.what(), HasSubstr("unreachable rule 'late'"));
  EXPECT_THAT(e.what(), HasSubstr("'default'"));
}

TEST(classification_standard_errors, WrongType) {
  const std::string y = edit(R"(op: ">=", value: 5000})", R"(op: ">=", value: lots})");
  const StandardError e = load_error(y);
  EXPECT_EQ(e.field(), "rules[1].when.all[0].value");
  EXPECT_THAT(e.what(), HasSubstr("wrong type"));
  const StandardError e2 = load_error(edit("account_manager: true", "account_manager: maybe"));
  EXPECT_EQ(e2.field(), "tiers[0].account_manager");
  EXPECT_THAT(e2.what(), HasSubstr("wrong type"));
}

TEST(classification_standard_errors, UnknownDimensionAndClass) {
  const StandardError e = load_error(edit("{dimension: tenure, class: old}", "{dimension: age, class: old}"));
  EXPECT_EQ(e.field(), "rules[0].when.all[1].dimension");
  EXPECT_THAT(e.what(), HasSubstr("unknown dimension 'age'"));
  const StandardError e2 = load_error(edit("{dimension: tenure, class: old}", "{dimension: tenure, class: ancient}"));
  EXPECT_EQ(e2.field(), "rules[0].when.all[1].class");
  EXPECT_THAT(e2.what(), HasSubstr("unknown class 'ancient' of dimension 'tenure'"));
}

TEST(classification_standard_errors, TierWithoutRule) {
  const std::string y = edit("  - id: bronze-buyer\n    tier: bronze\n", "  - id: bronze-buyer\n    tier: silver\n");
  const StandardError e = load_error(y);
  EXPECT_EQ(e.field(), "tiers[3]");
  EXPECT_EQ(e.line(), line_of(y, "{name: bronze"));
  EXPECT_THAT(e.what(), HasSubstr("tier 'bronze' has no rule"));
}

TEST(classification_standard_errors, UnknownKeyAndMissingDefaultAndBadYaml) {
  EXPECT_THAT(load_error(edit("currency: CNY", "currency: CNY\ncolour: blue")).what(),
              HasSubstr("colour: unknown key"));
  EXPECT_THAT(load_error(edit("  - id: default\n    tier: prospect\n",
                              "  - id: default\n    tier: prospect\n    when: {feature: overdue, op: present}\n"))
                  .what(),
              HasSubstr("the last rule must have no `when`"));
  const StandardError e = load_error("version: [unclosed");
  EXPECT_THAT(e.what(), HasSubstr("not valid YAML"));
  EXPECT_GT(e.line(), 0);
}

TEST(classification_standard_errors, MissingFileAndBadFileKeepsGoodOne) {
  EXPECT_THROW(Standard::load_file("/nonexistent/standard.yaml"), StandardError);
  std::shared_ptr<const Standard> current = Standard::parse(kTestStandard, "good.yaml");
  try {
    current = Standard::parse(edit("version: t1", "version: t2\nbogus: 1"), "bad.yaml");
  } catch (const StandardError&) {
  }
  EXPECT_EQ(current->version(), "t1");
}

TEST(classification_money, FormatsWithSeparators) {
  EXPECT_EQ(money::format(320000, "CNY"), "3,200.00 CNY");
  EXPECT_EQ(money::format(123456789, "CNY"), "1,234,567.89 CNY");
  EXPECT_EQ(money::format(-5, "USD"), "-0.05 USD");
  EXPECT_EQ(money::format(1500, "JPY"), "1,500 JPY");
  EXPECT_EQ(money::format(1234, "KWD"), "1.234 KWD");
  EXPECT_EQ(money::format_grouped(-1234567), "-1,234,567");
  EXPECT_EQ(money::parse_scaled_decimal("500000", 2), 50000000);
  EXPECT_EQ(money::parse_scaled_decimal("0.95", 6), 950000);
  EXPECT_EQ(money::parse_scaled_decimal("-1.5", 2), -150);
  EXPECT_EQ(money::parse_scaled_decimal("1.234", 2), std::nullopt);
  EXPECT_EQ(money::parse_scaled_decimal("abc", 0), std::nullopt);
}

}  // namespace
}  // namespace tierflow::classification

namespace tierflow::classification {
namespace {

// value_basis, percentile.population and percentile.rounding (issue 10): parsed, defaults
// that reproduce the older behaviour, and errors that name the field and what is allowed.
TEST(classification_standard_options, ValueBasisAndPercentileOptions) {
  using testing::kTestStandard;
  const auto old = Standard::parse(kTestStandard, "t.yaml");  // value_basis: sales, no percentile section
  EXPECT_EQ(old->value_basis(), ValueBasis::net_sales);
  EXPECT_EQ(old->percentile_population(), PercentilePopulation::all);
  EXPECT_EQ(old->percentile_rounding(), PercentileRounding::up);
  auto with = [](const std::string& basis, const std::string& extra) {
    std::string s = kTestStandard;
    const std::string from = "value_basis: sales}";
    s.replace(s.find(from), from.size(), "value_basis: " + basis + "}\n" + extra);
    return s;
  };
  EXPECT_EQ(Standard::parse(with("gross_sales", ""), "t.yaml")->value_basis(), ValueBasis::gross_sales);
  EXPECT_EQ(Standard::parse(with("net_sales", ""), "t.yaml")->value_basis(), ValueBasis::net_sales);
  EXPECT_EQ(Standard::parse(with("gross_profit", ""), "t.yaml")->value_basis(), ValueBasis::gross_profit);
  const auto p = Standard::parse(with("net_sales", "percentile: {population: positive, rounding: nearest}"), "t.yaml");
  EXPECT_EQ(p->percentile_population(), PercentilePopulation::positive);
  EXPECT_EQ(p->percentile_rounding(), PercentileRounding::nearest);
  auto error = [](const std::string& yaml) -> std::string {
    try {
      Standard::parse(yaml, "bad.yaml");
    } catch (const StandardError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error(with("profit", "")), ::testing::HasSubstr("must be gross_sales, net_sales or gross_profit"));
  EXPECT_THAT(error(with("net_sales", "percentile: {population: some}")),
              ::testing::HasSubstr("percentile.population: must be all or positive"));
  EXPECT_THAT(error(with("net_sales", "percentile: {rounding: sideways}")),
              ::testing::HasSubstr("percentile.rounding: must be up, nearest or down"));
  EXPECT_THAT(error(with("net_sales", "percentile: {popluation: all}")), ::testing::HasSubstr("popluation"));
}

// evaluation.time_zone: the zone whose day ends are the evaluation points (default UTC).
TEST(classification_standard_options, EvaluationTimeZone) {
  using testing::kTestStandard;
  EXPECT_EQ(Standard::parse(kTestStandard, "t.yaml")->evaluation_zone_name(), "UTC");
  std::string s = kTestStandard;
  s += "evaluation: {time_zone: Asia/Shanghai}\n";
  const auto z = Standard::parse(s, "t.yaml");
  EXPECT_EQ(z->evaluation_zone_name(), "Asia/Shanghai");
  // 2010-06-01 16:00 UTC is already 2010-06-02 in Shanghai.
  const absl::Time t = absl::FromCivil(absl::CivilSecond(2010, 6, 1, 16, 0, 0), absl::UTCTimeZone());
  EXPECT_EQ(absl::ToCivilDay(t, z->evaluation_zone()), absl::CivilDay(2010, 6, 2));
  std::string bad = kTestStandard;
  bad += "evaluation: {time_zone: Mars/Olympus}\n";
  EXPECT_THROW(Standard::parse(bad, "bad.yaml"), StandardError);
}

}  // namespace
}  // namespace tierflow::classification
