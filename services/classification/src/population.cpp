#include "tierflow/classification/population.h"

#include <algorithm>
#include <limits>

#include "tierflow/classification/standard.h"

namespace tierflow::classification {

namespace {
const std::vector<int64_t> kEmpty;

// Ascending values of feature f over customers that have it (negated when `negate`).
std::vector<int64_t> collect(std::span<const Features> fs, Feature f, bool negate) {
  std::vector<int64_t> v;
  v.reserve(fs.size());
  for (const auto& x : fs)
    if (x.has(f)) v.push_back(negate ? -x.get(f) : x.get(f));
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

Population Population::compute(const Standard& standard, std::span<const Features> features) {
  Population p;
  p.size_ = features.size();
  p.thresholds_.resize(standard.dimensions().size());
  for (size_t d = 0; d < standard.dimensions().size(); ++d) {
    const Dimension& dim = standard.dimensions()[d];
    auto& out = p.thresholds_[d];
    if (dim.kind == DimensionKind::bands && dim.percentile) {
      const std::vector<int64_t> v = collect(features, dim.features[0], false);
      const uint64_t n = v.size();
      for (uint32_t bp : dim.top_bp) {
        const uint64_t k = (uint64_t{bp} * n + 9999) / 10000;  // ceil(p * n)
        out.push_back(k == 0 ? std::numeric_limits<int64_t>::max() : v[n - k]);
      }
    } else if (dim.kind == DimensionKind::rfm) {
      const Feature fs[3] = {dim.recency, dim.frequency, dim.monetary};
      for (int k = 0; k < 3; ++k) {
        const std::vector<int64_t> v = collect(features, fs[k], k == 0);
        const size_t n = v.size();
        // Cut k is the value below which ceil(k*n/5) customers lie: score = 1 + number of
        // cuts strictly below the customer's value, so ties share the lower score.
        for (size_t q = 1; q <= 4; ++q)
          out.push_back(n == 0 ? std::numeric_limits<int64_t>::max() : v[(q * n + 4) / 5 - 1]);
      }
    }
  }
  return p;
}

const std::vector<int64_t>& Population::thresholds(size_t dimension) const {
  return dimension < thresholds_.size() ? thresholds_[dimension] : kEmpty;
}

}  // namespace tierflow::classification
