// Population reports: what-if migration matrix and the distribution / Pareto report.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <numeric>

#include "tierflow/classification/engine.h"
#include "tierflow/classification/overview.h"

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

// One implementation with the service's kept aggregates (overview.h): a book filled once.
v1::Distribution distribution(const Standard& s, std::span<const v1::TierAssignment> assignments,
                              std::span<const Features> features, const v1::GetDistributionRequest& request) {
  OverviewBook book;
  const size_t n = std::min(assignments.size(), features.size());
  for (size_t i = 0; i < n; ++i) {
    // Rows are keyed by customer: a position key keeps duplicates (and empty ids) apart.
    const std::string key = std::to_string(i);
    v1::TierAssignment a;
    a.set_customer_id(key);
    a.set_tier(assignments[i].tier());
    *a.mutable_dimensions() = assignments[i].dimensions();
    book.note_features(s, key, features[i]);
    book.note_assignment(a);
  }
  return book.distribution(s, request);
}

}  // namespace tierflow::classification
