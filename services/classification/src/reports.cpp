// Population reports: what-if migration matrix and the distribution / Pareto report.
#include <algorithm>
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

v1::Distribution distribution(const Standard& s, std::span<const v1::TierAssignment> assignments,
                              std::span<const Features> features) {
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
  }
  return out;
}

}  // namespace tierflow::classification
