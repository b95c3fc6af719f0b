#include "tierflow/classification/population.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "tierflow/classification/standard.h"

namespace tierflow::classification {

namespace {
const std::vector<int64_t> kEmpty;

// Values of feature f over customers that have it (only those > 0 when `positive`;
// negated when `negate`), unordered.
std::vector<int64_t> collect(std::span<const Features> fs, Feature f, bool negate, bool positive) {
  std::vector<int64_t> v;
  v.reserve(fs.size());
  for (const auto& x : fs)
    if (x.has(f) && (!positive || x.get(f) > 0)) v.push_back(negate ? -x.get(f) : x.get(f));
  return v;
}

// Picks the requested ranks (0-based positions in ascending order) of v: nth_element over
// shrinking ranges gives the same values as sorting, in O(n) per distinct rank instead of
// O(n log n). out[request] = the value at that rank.
void select(std::vector<int64_t>& v, std::vector<std::pair<size_t, size_t>>& wanted /* rank, request */,
            std::vector<int64_t>& out) {
  std::sort(wanted.begin(), wanted.end());
  auto lo = v.begin();
  size_t prev = SIZE_MAX;
  for (const auto& [rank, request] : wanted) {
    if (rank != prev) {
      std::nth_element(lo, v.begin() + static_cast<ptrdiff_t>(rank), v.end());
      lo = v.begin() + static_cast<ptrdiff_t>(rank);  // everything before is <= v[rank]
      prev = rank;
    }
    out[request] = v[rank];
  }
}
}  // namespace

Population Population::compute(const Standard& standard, std::span<const Features> features) {
  Population p;
  p.size_ = features.size();
  p.thresholds_.resize(standard.dimensions().size());
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();

  // Requests: (dimension, slot) -> rank function of the column size. Columns are shared
  // between dimensions reading the same feature with the same sign (value: ABC and RFM M).
  struct Request {
    size_t dimension, slot, column;
    bool top;        // percentile band: rank n - ceil(bp * n); RFM cut: ceil(q * n / 5) - 1
    uint64_t param;  // basis points, or q
  };
  // (feature, negate, positive only): percentile bands under `percentile.population:
  // positive` rank only customers with a value > 0; RFM always ranks every holder.
  std::vector<std::tuple<Feature, bool, bool>> columns;
  std::vector<Request> requests;
  const bool positive = standard.percentile_population() == PercentilePopulation::positive;
  auto column_of = [&](Feature f, bool negate, bool pos = false) {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == std::make_tuple(f, negate, pos)) return i;
    columns.emplace_back(f, negate, pos);
    return columns.size() - 1;
  };
  for (size_t d = 0; d < standard.dimensions().size(); ++d) {
    const Dimension& dim = standard.dimensions()[d];
    if (dim.kind == DimensionKind::bands && dim.percentile) {
      const size_t col = column_of(dim.features[0], false, positive);
      for (size_t i = 0; i < dim.top_bp.size(); ++i) requests.push_back({d, i, col, true, dim.top_bp[i]});
      p.thresholds_[d].assign(dim.top_bp.size(), kNone);
    } else if (dim.kind == DimensionKind::rfm) {
      const Feature fs[3] = {dim.recency, dim.frequency, dim.monetary};
      for (int k = 0; k < 3; ++k) {
        const size_t col = column_of(fs[k], k == 0);
        for (uint64_t q = 1; q <= 4; ++q) requests.push_back({d, size_t(k * 4 + q - 1), col, false, q});
      }
      p.thresholds_[d].assign(12, kNone);
    }
  }

  for (size_t col = 0; col < columns.size(); ++col) {
    const auto& [feature, negate, pos] = columns[col];
    std::vector<int64_t> v = collect(features, feature, negate, pos);
    const uint64_t n = v.size();
    std::vector<std::pair<size_t, size_t>> wanted;
    std::vector<int64_t> out(requests.size(), kNone);
    for (size_t r = 0; r < requests.size(); ++r) {
      const Request& q = requests[r];
      if (q.column != col || n == 0) continue;
      if (q.top) {
        // The k-th best value, k = p*n rounded per percentile.rounding (default up:
        // ceil); none when p*n rounds to nobody.
        const uint64_t k = standard.percentile_rounding() == PercentileRounding::up ? (q.param * n + 9999) / 10000
                           : standard.percentile_rounding() == PercentileRounding::nearest
                               ? (q.param * n + 5000) / 10000
                               : q.param * n / 10000;
        if (k == 0) continue;
        wanted.emplace_back(n - k, r);
      } else {
        // Cut q: the value below which ceil(q*n/5) customers lie.
        wanted.emplace_back((q.param * n + 4) / 5 - 1, r);
      }
    }
    select(v, wanted, out);
    for (const auto& [rank, r] : wanted) p.thresholds_[requests[r].dimension][requests[r].slot] = out[r];
  }
  return p;
}

const std::vector<int64_t>& Population::thresholds(size_t dimension) const {
  return dimension < thresholds_.size() ? thresholds_[dimension] : kEmpty;
}

}  // namespace tierflow::classification
