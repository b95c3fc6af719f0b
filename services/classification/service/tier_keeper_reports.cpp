// TierKeeper's read side: the report paths gRPC calls (explain, distribution, list,
// what-if, history, as-of) and the standard's reload.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "service/tier_keeper.h"

namespace tierflow::classification {

bool TierKeeper::known(const std::string& customer_id) const {
  std::shared_lock lock(mu_);
  return customers_.contains(customer_id);
}

std::vector<v1::TierAssignment> TierKeeper::history(const std::string& customer_id, int64_t before_version, int limit,
                                                    bool* more) const {
  Store reader(cfg_.store_path, Store::Mode::reader);
  return reader.history(customer_id, before_version, limit, more);
}

std::optional<v1::TierAssignment> TierKeeper::as_of(const std::string& customer_id, absl::Time t) const {
  Store reader(cfg_.store_path, Store::Mode::reader);
  return reader.as_of(customer_id, t);
}

// The report paths below read the current assignments from the store through a reader
// connection of their own (under the shared lock, so no batch commits meanwhile) and
// recompute features from the compact inputs: correct first, not fast.
std::optional<Evaluation> TierKeeper::explain(const std::string& id, v1::TierAssignment* current) const {
  std::shared_lock lock(mu_);
  auto it = customers_.find(id);
  if (it == customers_.end()) return std::nullopt;
  const Customer& c = it->second;
  if (c.has_current) {
    Store reader(cfg_.store_path, Store::Mode::reader);
    if (auto a = reader.current(id)) *current = std::move(*a);
  }
  return evaluate_customer(id, c, compute_features(*standard_, compact_inputs(id, c), clock_locked()), true);
}

// The kept aggregates (overview_): the features of each customer's last evaluation and its
// current assignment, the figures GetOverview shows.
v1::Distribution TierKeeper::distribution(const v1::GetDistributionRequest& request) const {
  std::shared_ptr<const Standard> standard;
  {
    std::shared_lock lock(mu_);
    standard = standard_;
  }
  return overview_.distribution(*standard, request);
}

std::vector<v1::TierAssignment> TierKeeper::list(const std::string& tier, const std::string& dimension,
                                                 const std::string& class_name, const std::string& after, int limit,
                                                 std::string* next) const {
  std::shared_lock lock(mu_);
  std::vector<v1::TierAssignment> out;
  Store reader(cfg_.store_path, Store::Mode::reader);
  reader.currents(after, [&](v1::TierAssignment&& a) {
    if (!customers_.contains(a.customer_id())) return true;
    if (!tier.empty() && a.tier() != tier) return true;
    if (!dimension.empty()) {
      const auto& dims = a.dimensions();
      if (std::none_of(dims.begin(), dims.end(), [&](const v1::DimensionClass& d) {
            return d.dimension() == dimension && (class_name.empty() || d.class_name() == class_name);
          })) {
        return true;
      }
    }
    if (static_cast<int>(out.size()) == limit) {
      *next = out.back().customer_id();
      return false;
    }
    out.push_back(std::move(a));
    return true;
  });
  return out;
}

// classification::what_if() on the compact inputs the engine holds (the same computation:
// fresh tiers under each standard with its own population, no anti-flapping or overrides).
v1::WhatIfResponse TierKeeper::what_if(const Standard& candidate) const {
  std::shared_lock lock(mu_);
  const absl::Time t = clock_locked();
  std::vector<const std::string*> ids;
  std::vector<const CompactProfile*> profiles;
  std::vector<Features> fa, fb;
  ids.reserve(customers_.size());
  fa.reserve(customers_.size());
  fb.reserve(customers_.size());
  for (const auto& [id, c] : customers_) {
    ids.push_back(&id);
    profiles.push_back(c.profile ? &*c.profile : nullptr);
    fa.push_back(compute_features(*standard_, compact_inputs(id, c), t));
    fb.push_back(compute_features(candidate, compact_inputs(id, c), t));
  }
  const Population pa = Population::compute(*standard_, fa);
  const Population pb = Population::compute(candidate, fb);
  const MappingTable ma(*standard_, vocabulary_), mb(candidate, vocabulary_);
  struct Cell {
    int64_t customers = 0;
    std::vector<std::string> examples;
  };
  std::map<std::pair<int, int>, Cell> cells;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int a = classify(*standard_, pa, fa[i], profiles[i], ma).tier;
    const int b = classify(candidate, pb, fb[i], profiles[i], mb).tier;
    Cell& cell = cells[{a, b}];
    ++cell.customers;
    if (cell.examples.size() < 3) cell.examples.push_back(*ids[i]);
  }
  v1::WhatIfResponse out;
  out.set_candidate_version(candidate.version());
  out.set_customers(static_cast<int64_t>(ids.size()));
  for (const auto& [key, cell] : cells) {
    auto* m = out.add_migrations();
    m->set_from_tier(standard_->tiers()[key.first].name);
    m->set_to_tier(candidate.tiers()[key.second].name);
    m->set_customers(cell.customers);
    for (const auto& id : cell.examples) m->add_example_customer_ids(id);
  }
  return out;
}

v1::ReloadStandardResponse TierKeeper::reload() {
  auto fresh = Standard::load_file(cfg_.standard_path);  // throws on a bad file: the old one stays
  std::unique_lock lock(mu_);
  standard_ = std::move(fresh);
  for (auto& [id, c] : customers_) c.last_valid = false;  // classifications of the old standard
  v1::ReloadStandardResponse resp;
  resp.set_standard_version(standard_->version());
  evaluate_all();
  resp.set_customers_reevaluated(static_cast<int64_t>(customers_.size()));
  spdlog::info("standard {} reloaded; {} customers re-evaluated", standard_->version(), customers_.size());
  return resp;
}

}  // namespace tierflow::classification
