// Population::compute selects order statistics instead of sorting; it must give exactly
// the thresholds of the definition (population.h), which this test computes by sorting.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

#include "test_support.h"
#include "tierflow/classification/population.h"

namespace tierflow::classification {
namespace {

// The definition, written the slow way: sort every column.
std::vector<std::vector<int64_t>> reference(const Standard& s, std::span<const Features> fs) {
  auto sorted = [&](Feature f, bool negate) {
    std::vector<int64_t> v;
    for (const auto& x : fs)
      if (x.has(f)) v.push_back(negate ? -x.get(f) : x.get(f));
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::vector<int64_t>> out(s.dimensions().size());
  for (size_t d = 0; d < s.dimensions().size(); ++d) {
    const Dimension& dim = s.dimensions()[d];
    if (dim.kind == DimensionKind::bands && dim.percentile) {
      const auto v = sorted(dim.features[0], false);
      const uint64_t n = v.size();
      for (uint32_t bp : dim.top_bp) {
        const uint64_t k = (uint64_t{bp} * n + 9999) / 10000;
        out[d].push_back(k == 0 ? std::numeric_limits<int64_t>::max() : v[n - k]);
      }
    } else if (dim.kind == DimensionKind::rfm) {
      const Feature f3[3] = {dim.recency, dim.frequency, dim.monetary};
      for (int k = 0; k < 3; ++k) {
        const auto v = sorted(f3[k], k == 0);
        const size_t n = v.size();
        for (size_t q = 1; q <= 4; ++q)
          out[d].push_back(n == 0 ? std::numeric_limits<int64_t>::max() : v[(q * n + 4) / 5 - 1]);
      }
    }
  }
  return out;
}

TEST(classification_population, SelectionEqualsSortingWithTiesAndGaps) {
  const auto s = Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
  std::mt19937_64 rng(42);
  for (size_t n : {0, 1, 2, 3, 4, 5, 7, 10, 11, 99, 1000, 12345}) {
    for (int spread : {1, 3, 1000000}) {  // heavy ties .. mostly distinct
      std::vector<Features> fs(n);
      for (auto& f : fs) {
        if (rng() % 10 != 0) f.set(Feature::value, static_cast<int64_t>(rng() % spread) - spread / 4);
        if (rng() % 7 != 0) f.set(Feature::recency_days, static_cast<int64_t>(rng() % spread));
        if (rng() % 5 != 0) f.set(Feature::orders_12m, static_cast<int64_t>(rng() % spread));
      }
      const Population p = Population::compute(*s, fs);
      const auto want = reference(*s, fs);
      for (size_t d = 0; d < s->dimensions().size(); ++d)
        EXPECT_EQ(p.thresholds(d), want[d]) << "n=" << n << " spread=" << spread << " dimension " << d;
    }
  }
}

}  // namespace
}  // namespace tierflow::classification

namespace tierflow::classification {
namespace {

// percentile.population and percentile.rounding: top 20% of value over values
// 5, 4, 3, 2 and six zeros.
TEST(classification_population, PercentilePopulationAndRounding) {
  auto standard = [](const std::string& options) {
    std::string s = testing::kTestStandard;
    const std::string from = "value_basis: sales}";
    s.replace(s.find(from), from.size(), "value_basis: sales}\n" + options);
    return Standard::parse(s, "t.yaml");
  };
  std::vector<Features> fs(10);
  const int64_t vals[] = {5, 4, 3, 2, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < fs.size(); ++i) fs[i].set(Feature::value, vals[i]);
  auto a_threshold = [&](const std::string& options) {
    const auto s = standard(options);
    return Population::compute(*s, fs).thresholds(static_cast<size_t>(s->dimension_index("value")))[0];
  };
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(a_threshold(""), 4);  // all 10, ceil(2) = 2nd best: today's behaviour
  EXPECT_EQ(a_threshold("percentile: {population: all, rounding: up}"), 4);
  EXPECT_EQ(a_threshold("percentile: {population: positive}"), 5);  // 4 holders, ceil(0.8) = 1
  EXPECT_EQ(a_threshold("percentile: {population: positive, rounding: nearest}"), 5);  // round(0.8) = 1
  EXPECT_EQ(a_threshold("percentile: {population: positive, rounding: down}"), kNone);  // floor(0.8) = 0
  // B is the cumulative top 80%: all 10 -> 8 (up, nearest, down alike); positive: 3.2
  // -> up 4, nearest 3, down 3.
  const auto s = standard("percentile: {population: positive, rounding: nearest}");
  EXPECT_EQ(Population::compute(*s, fs).thresholds(static_cast<size_t>(s->dimension_index("value")))[1], 3);
  const auto up = standard("percentile: {population: positive}");
  EXPECT_EQ(Population::compute(*up, fs).thresholds(static_cast<size_t>(up->dimension_index("value")))[1], 2);
}

}  // namespace
}  // namespace tierflow::classification
