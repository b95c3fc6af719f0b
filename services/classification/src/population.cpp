#include "tierflow/classification/population.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "tierflow/classification/standard.h"

namespace tierflow::classification {

namespace {
const std::vector<int64_t> kEmpty;

using ColumnKey = std::tuple<Feature, bool, bool>;  // feature, negate, positive only

// The rank requests of one standard: (dimension, slot) -> a rank in a column.
struct Request {
  size_t dimension, slot, column;
  bool top;        // percentile band: rank n - k(bp, n); RFM cut: ceil(q * n / 5) - 1
  uint64_t param;  // basis points, or q
};

// Columns are shared between dimensions reading the same feature with the same sign
// (value: ABC and RFM M). Percentile bands under `percentile.population: positive` rank
// only customers with a value > 0; RFM always ranks every holder.
void plan(const Standard& standard, std::vector<ColumnKey>& columns, std::vector<Request>* requests,
          std::vector<std::vector<int64_t>>* thresholds) {
  constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
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
      for (size_t i = 0; i < dim.top_bp.size(); ++i) {
        if (requests) requests->push_back({d, i, col, true, dim.top_bp[i]});
      }
      if (thresholds) (*thresholds)[d].assign(dim.top_bp.size(), kNone);
    } else if (dim.kind == DimensionKind::rfm) {
      const Feature fs[3] = {dim.recency, dim.frequency, dim.monetary};
      for (int k = 0; k < 3; ++k) {
        const size_t col = column_of(fs[k], k == 0);
        for (uint64_t q = 1; q <= 4; ++q) {
          if (requests) requests->push_back({d, size_t(k * 4 + q - 1), col, false, q});
        }
      }
      if (thresholds) (*thresholds)[d].assign(12, kNone);
    }
  }
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

uint64_t get_varint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) throw std::invalid_argument("population summary: truncated");
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= uint64_t(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  throw std::invalid_argument("population summary: bad varint");
}

constexpr uint64_t kFormat = 1;

// The 0-based ascending rank request `q` reads in a column of n values; nullopt when it
// reads none.
std::optional<uint64_t> rank_of(const Standard& standard, const Request& q, uint64_t n) {
  if (q.top) {
    // The k-th best value, k = p*n rounded per percentile.rounding (default up: ceil);
    // none when p*n rounds to nobody.
    const uint64_t k = standard.percentile_rounding() == PercentileRounding::up        ? (q.param * n + 9999) / 10000
                       : standard.percentile_rounding() == PercentileRounding::nearest ? (q.param * n + 5000) / 10000
                                                                                       : q.param * n / 10000;
    if (k == 0) return std::nullopt;
    return n - k;
  }
  // Cut q: the value below which ceil(q*n/5) customers lie.
  return (q.param * n + 4) / 5 - 1;
}
}  // namespace

PopulationSummary PopulationSummary::columns_of(const Standard& standard) {
  std::vector<ColumnKey> keys;
  plan(standard, keys, nullptr, nullptr);
  PopulationSummary s;
  for (const auto& [f, neg, pos] : keys) s.columns.push_back(Column{f, neg, pos, {}});
  return s;
}

PopulationSummary PopulationSummary::of(const Standard& standard, std::span<const Features> features) {
  PopulationSummary s = columns_of(standard);
  s.customers = features.size();
  std::vector<int64_t> v;
  v.reserve(features.size());
  for (auto& col : s.columns) {
    v.clear();
    for (const auto& x : features)
      if (x.has(col.feature) && (!col.positive || x.get(col.feature) > 0))
        v.push_back(col.negate ? -x.get(col.feature) : x.get(col.feature));
    std::sort(v.begin(), v.end());
    for (int64_t x : v) {
      if (!col.runs.empty() && col.runs.back().first == x) {
        ++col.runs.back().second;
      } else {
        col.runs.emplace_back(x, 1);
      }
    }
  }
  return s;
}

void PopulationSummary::merge(const PopulationSummary& other) {
  if (columns.size() != other.columns.size())
    throw std::invalid_argument("population summaries of different standards");
  for (size_t i = 0; i < columns.size(); ++i) {
    Column& a = columns[i];
    const Column& b = other.columns[i];
    if (a.feature != b.feature || a.negate != b.negate || a.positive != b.positive) {
      throw std::invalid_argument("population summaries of different standards");
    }
    std::vector<std::pair<int64_t, uint64_t>> out;
    out.reserve(a.runs.size() + b.runs.size());
    size_t x = 0, y = 0;
    while (x < a.runs.size() || y < b.runs.size()) {
      if (y == b.runs.size() || (x < a.runs.size() && a.runs[x].first < b.runs[y].first)) {
        out.push_back(a.runs[x++]);
      } else if (x == a.runs.size() || b.runs[y].first < a.runs[x].first) {
        out.push_back(b.runs[y++]);
      } else {
        out.emplace_back(a.runs[x].first, a.runs[x].second + b.runs[y].second);
        ++x, ++y;
      }
    }
    a.runs = std::move(out);
  }
  customers += other.customers;
}

std::string PopulationSummary::encode() const {
  std::string out;
  put_varint(out, kFormat);
  put_varint(out, customers);
  put_varint(out, columns.size());
  for (const auto& c : columns) {
    put_varint(out, static_cast<uint64_t>(c.feature));
    put_varint(out, (c.negate ? 1U : 0U) | (c.positive ? 2U : 0U));
    put_varint(out, c.runs.size());
    int64_t prev = 0;
    for (size_t i = 0; i < c.runs.size(); ++i) {
      // The first value zigzag-coded, then ascending deltas.
      const int64_t v = c.runs[i].first;
      put_varint(out, i == 0 ? (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63)
                             : static_cast<uint64_t>(v) - static_cast<uint64_t>(prev));
      put_varint(out, c.runs[i].second);
      prev = v;
    }
  }
  return out;
}

PopulationSummary PopulationSummary::decode(std::string_view in) {
  if (get_varint(in) != kFormat) throw std::invalid_argument("population summary: unknown format");
  PopulationSummary s;
  s.customers = get_varint(in);
  const uint64_t n = get_varint(in);
  if (n > kFeatureCount * 4) throw std::invalid_argument("population summary: too many columns");
  for (uint64_t i = 0; i < n; ++i) {
    Column c;
    const uint64_t f = get_varint(in);
    if (f >= kFeatureCount) throw std::invalid_argument("population summary: unknown feature");
    c.feature = static_cast<Feature>(f);
    const uint64_t flags = get_varint(in);
    c.negate = (flags & 1U) != 0;
    c.positive = (flags & 2U) != 0;
    const uint64_t runs = get_varint(in);
    if (runs > in.size()) throw std::invalid_argument("population summary: truncated");
    c.runs.reserve(runs);
    uint64_t prev = 0;
    for (uint64_t r = 0; r < runs; ++r) {
      const uint64_t raw = get_varint(in);
      const uint64_t v = r == 0 ? (raw >> 1) ^ (~(raw & 1) + 1) : prev + raw;
      const uint64_t count = get_varint(in);
      if (count == 0) throw std::invalid_argument("population summary: empty run");
      c.runs.emplace_back(static_cast<int64_t>(v), count);
      prev = v;
    }
    s.columns.push_back(std::move(c));
  }
  if (!in.empty()) throw std::invalid_argument("population summary: trailing bytes");
  return s;
}

Population Population::compute(const Standard& standard, std::span<const Features> features) {
  // The same cut points as from_summary(of(features)) (the k-th smallest value), without
  // sorting: nth_element over shrinking ranges, O(n) per distinct rank.
  Population p;
  p.size_ = features.size();
  p.thresholds_.resize(standard.dimensions().size());
  std::vector<ColumnKey> columns;
  std::vector<Request> requests;
  plan(standard, columns, &requests, &p.thresholds_);
  std::vector<int64_t> v;
  v.reserve(features.size());
  for (size_t col = 0; col < columns.size(); ++col) {
    const auto& [feature, negate, positive] = columns[col];
    v.clear();
    for (const auto& x : features)
      if (x.has(feature) && (!positive || x.get(feature) > 0)) v.push_back(negate ? -x.get(feature) : x.get(feature));
    const uint64_t n = v.size();
    if (n == 0) continue;
    std::vector<std::pair<uint64_t, size_t>> wanted;
    for (size_t r = 0; r < requests.size(); ++r) {
      if (requests[r].column != col) continue;
      if (auto rank = rank_of(standard, requests[r], n)) wanted.emplace_back(*rank, r);
    }
    std::sort(wanted.begin(), wanted.end());
    auto lo = v.begin();
    uint64_t prev = UINT64_MAX;
    for (const auto& [rank, r] : wanted) {
      if (rank != prev) {
        std::nth_element(lo, v.begin() + static_cast<ptrdiff_t>(rank), v.end());
        lo = v.begin() + static_cast<ptrdiff_t>(rank);  // everything before is <= v[rank]
        prev = rank;
      }
      p.thresholds_[requests[r].dimension][requests[r].slot] = v[rank];
    }
  }
  return p;
}

Population Population::from_summary(const Standard& standard, const PopulationSummary& summary) {
  Population p;
  p.size_ = summary.customers;
  p.thresholds_.resize(standard.dimensions().size());
  std::vector<ColumnKey> columns;
  std::vector<Request> requests;
  plan(standard, columns, &requests, &p.thresholds_);
  if (summary.columns.size() != columns.size()) throw std::invalid_argument("population summary of another standard");

  for (size_t col = 0; col < columns.size(); ++col) {
    const auto& runs = summary.columns[col].runs;
    uint64_t n = 0;
    for (const auto& r : runs) n += r.second;
    if (n == 0) continue;
    // (rank, request): the value at a 0-based rank of the ascending multiset.
    std::vector<std::pair<uint64_t, size_t>> wanted;
    for (size_t r = 0; r < requests.size(); ++r) {
      if (requests[r].column != col) continue;
      if (auto rank = rank_of(standard, requests[r], n)) wanted.emplace_back(*rank, r);
    }
    std::sort(wanted.begin(), wanted.end());
    size_t i = 0;
    uint64_t below = 0;  // values in runs[0, i)
    for (const auto& [rank, r] : wanted) {
      while (below + runs[i].second <= rank) below += runs[i++].second;
      p.thresholds_[requests[r].dimension][requests[r].slot] = runs[i].first;
    }
  }
  return p;
}

const std::vector<int64_t>& Population::thresholds(size_t dimension) const {
  return dimension < thresholds_.size() ? thresholds_[dimension] : kEmpty;
}

}  // namespace tierflow::classification
