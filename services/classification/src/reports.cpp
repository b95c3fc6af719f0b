// Population reports: what-if migration matrix and the distribution / Pareto report.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>

#include "tierflow/classification/engine.h"

namespace tierflow::classification {

v1::WhatIfResponse what_if(const Standard& current, const Standard& candidate,
                           std::span<const CustomerInputs> inputs, absl::Time now) {
  std::vector<Features> fa, fb;
  fa.reserve(inputs.size());
  fb.reserve(inputs.size());
  for (const auto& in : inputs) {
    fa.push_back(compute_features(current, in, now));
    fb.push_back(compute_features(candidate, in, now));
  }
  const Population pa = Population::compute(current, fa);
  const Population pb = Population::compute(candidate, fb);
  struct Cell {
    int64_t customers = 0;
    std::vector<std::string> examples;
  };
  std::map<std::pair<int, int>, Cell> cells;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int a = classify(current, pa, fa[i], inputs[i]).tier;
    const int b = classify(candidate, pb, fb[i], inputs[i]).tier;
    Cell& c = cells[{a, b}];
    ++c.customers;
    if (c.examples.size() < 3) c.examples.push_back(inputs[i].customer_id);
  }
  v1::WhatIfResponse out;
  out.set_candidate_version(candidate.version());
  out.set_customers(static_cast<int64_t>(inputs.size()));
  for (const auto& [key, c] : cells) {
    auto* m = out.add_migrations();
    m->set_from_tier(current.tiers()[key.first].name);
    m->set_to_tier(candidate.tiers()[key.second].name);
    m->set_customers(c.customers);
    for (const auto& id : c.examples) m->add_example_customer_ids(id);
  }
  return out;
}

namespace {
// Cut k of q over `values` (sorted ascending): the ceil(k*n/q)-th smallest.
void add_cuts(v1::Distribution& out, const std::string& dimension, const char* component, Feature f,
              std::span<const Features> features) {
  std::vector<int64_t> values;
  for (const auto& x : features)
    if (x.has(f)) values.push_back(x.get(f));
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  for (int q : {4, 5}) {
    auto* c = out.add_cut_points();
    c->set_dimension(dimension);
    c->set_component(component);
    c->set_feature(std::string(feature_info(f).name));
    c->set_quantiles(q);
    c->set_customers(static_cast<int64_t>(n));
    if (n == 0) continue;
    for (int k = 1; k < q; ++k) c->add_cuts(values[(static_cast<size_t>(k) * n + q - 1) / q - 1]);
  }
}
}  // namespace

v1::Distribution distribution(const Standard& s, std::span<const v1::TierAssignment> assignments,
                              std::span<const Features> features, const v1::GetDistributionRequest& request) {
  v1::Distribution out;
  out.set_currency(s.currency());
  out.set_standard_version(s.version());
  const size_t n = std::min(assignments.size(), features.size());
  out.set_customers(static_cast<int64_t>(n));

  std::vector<int64_t> values(n);
  for (size_t i = 0; i < n; ++i)
    values[i] = features[i].has(Feature::value) ? std::max<int64_t>(features[i].get(Feature::value), 0) : 0;
  const int64_t total = std::accumulate(values.begin(), values.end(), int64_t{0});
  out.set_total_value_minor(total);
  auto share = [&](int64_t v) { return total > 0 ? static_cast<double>(v) / static_cast<double>(total) : 0.0; };

  // Tiers in the standard's order; tiers unknown to it (older standard) after them.
  std::vector<std::string> tier_order = s.tier_names();
  std::vector<std::pair<int64_t, int64_t>> tier_acc(tier_order.size());
  // Classes: dimension order of the standard, then class order; unknown ones appended.
  std::vector<std::pair<std::string, std::string>> class_order;
  for (const auto& d : s.dimensions())
    for (const auto& c : d.classes) class_order.emplace_back(d.name, c);
  std::vector<std::pair<int64_t, int64_t>> class_acc(class_order.size());

  for (size_t i = 0; i < n; ++i) {
    const auto& a = assignments[i];
    auto it = std::find(tier_order.begin(), tier_order.end(), a.tier());
    if (it == tier_order.end()) {
      tier_order.push_back(a.tier());
      tier_acc.emplace_back(0, 0);
      it = tier_order.end() - 1;
    }
    auto& t = tier_acc[it - tier_order.begin()];
    ++t.first;
    t.second += values[i];
    for (const auto& dc : a.dimensions()) {
      const auto key = std::make_pair(dc.dimension(), dc.class_name());
      auto ci = std::find(class_order.begin(), class_order.end(), key);
      if (ci == class_order.end()) {
        class_order.push_back(key);
        class_acc.emplace_back(0, 0);
        ci = class_order.end() - 1;
      }
      auto& c = class_acc[ci - class_order.begin()];
      ++c.first;
      c.second += values[i];
    }
  }
  for (size_t t = 0; t < tier_order.size(); ++t) {
    auto* tc = out.add_tiers();
    tc->set_tier(tier_order[t]);
    tc->set_customers(tier_acc[t].first);
    tc->set_value_minor(tier_acc[t].second);
    tc->set_value_share(share(tier_acc[t].second));
  }
  for (size_t c = 0; c < class_order.size(); ++c) {
    auto* cc = out.add_classes();
    cc->set_dimension(class_order[c].first);
    cc->set_class_name(class_order[c].second);
    cc->set_customers(class_acc[c].first);
    cc->set_value_minor(class_acc[c].second);
    cc->set_value_share(share(class_acc[c].second));
  }

  std::sort(values.begin(), values.end(), std::greater<>());
  std::vector<int64_t> cum(n + 1, 0);
  for (size_t i = 0; i < n; ++i) cum[i + 1] = cum[i] + values[i];
  if (n > 0) {
    for (int pct : {5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}) {
      const size_t k = (static_cast<size_t>(pct) * n + 99) / 100;  // ceil(pct% of n)
      auto* p = out.add_pareto();
      p->set_customer_share(pct / 100.0);
      p->set_value_share(share(cum[k]));
    }
    for (int pct = 1; pct <= 100; ++pct) {
      const size_t k = (static_cast<size_t>(pct) * n + 99) / 100;
      auto* p = out.add_curve();
      p->set_customer_share(pct / 100.0);
      p->set_value_share(share(cum[k]));
    }
  }
  std::vector<double> shares(request.value_shares().begin(), request.value_shares().end());
  if (shares.empty()) shares = {0.5, 0.8, 0.9, 0.95};
  for (double want : shares) {
    if (!(want > 0 && want <= 1)) continue;
    // In integers where the share is a whole basis point (0.8 -> 8000), so that the figure
    // equals one computed from the raw data; cum[k] >= ceil(share x total).
    const int64_t bp = std::llround(want * 10000);
    const int64_t need = std::abs(want * 10000 - static_cast<double>(bp)) < 1e-9
                             ? (bp * total + 9999) / 10000
                             : static_cast<int64_t>(std::ceil(want * static_cast<double>(total)));
    const size_t k = static_cast<size_t>(std::lower_bound(cum.begin(), cum.end(), need) - cum.begin());
    auto* r = out.add_reach();
    r->set_value_share(want);
    r->set_customers(static_cast<int64_t>(std::min(k, n)));
    r->set_customer_share(n > 0 ? static_cast<double>(std::min(k, n)) / static_cast<double>(n) : 0.0);
  }
  std::vector<int64_t> tops(request.top_n().begin(), request.top_n().end());
  if (tops.empty()) tops = {10, 100, 1000};
  for (int64_t top_n : tops) {
    if (top_n < 1) continue;
    const size_t k = std::min(static_cast<size_t>(top_n), n);
    auto* t = out.add_top();
    t->set_top_n(top_n);
    t->set_customers(static_cast<int64_t>(k));
    t->set_value_minor(cum[k]);
    t->set_value_share(share(cum[k]));
  }
  bool rfm = false;
  for (const auto& d : s.dimensions()) {
    if (d.kind != DimensionKind::rfm) continue;
    rfm = true;
    add_cuts(out, d.name, "recency", d.recency, features.first(n));
    add_cuts(out, d.name, "frequency", d.frequency, features.first(n));
    add_cuts(out, d.name, "monetary", d.monetary, features.first(n));
  }
  if (!rfm) {
    add_cuts(out, "", "recency", Feature::recency_days, features.first(n));
    add_cuts(out, "", "frequency", Feature::orders_12m, features.first(n));
    add_cuts(out, "", "monetary", Feature::value, features.first(n));
  }
  return out;
}

}  // namespace tierflow::classification
