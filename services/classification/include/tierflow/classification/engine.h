#pragma once
// Evaluation of the standard for one customer, anti-flapping/override decisions, and the
// population reports (what-if, distribution). Pure functions: no I/O, no clocks (time is
// passed in), safe to call concurrently with shared const inputs.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tierflow/classification/features.h"
#include "tierflow/classification/population.h"
#include "tierflow/classification/standard.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification {

// The bare result of applying the standard: indices only, no strings, no allocation.
struct Classification {
  uint8_t tier = 0;   // index into Standard::tiers()
  uint16_t rule = 0;  // index into Standard::rules()
  bool credit_hold = false;
  std::array<int8_t, kMaxDimensions> classes{};  // per dimension; -1 = no class
  std::array<uint8_t, 3> rfm{};                  // R, F, M scores (0 when not scored)
  bool operator==(const Classification&) const = default;
};

Classification classify(const Standard& standard, const Population& population, const Features& features,
                        const CustomerInputs& inputs);

struct Evaluation {
  // tier, dimensions, reasons, matched_rule, price/service level, account_manager,
  // credit_hold, to_keep / to_next, standard_version, customer_id. Times, version and
  // previous_tier are left for decide().
  v1::TierAssignment assignment;
  std::vector<v1::FeatureValue> features;
  std::vector<std::string> explanation;  // sentences a call-center agent can read out
  Classification classification;
  // Distance to each tier ranked above the fresh one (index = tier index; empty target
  // for the fresh tier and below). decide() uses it for to_keep while a downgrade waits.
  std::vector<v1::Distance> distance_to_tier;
};

// Pure evaluation: what the standard says now, before anti-flapping.
Evaluation evaluate(const Standard& standard, const Population& population, const Features& features,
                    const CustomerInputs& inputs);

// evaluate() without what only ExplainTier reads: `features` and `explanation` stay empty;
// assignment, classification and distance_to_tier are identical to evaluate()'s. For the
// service's re-evaluation of changed customers (decide() needs nothing more); about twice
// as fast.
Evaluation evaluate_assignment(const Standard& standard, const Population& population, const Features& features,
                               const CustomerInputs& inputs);

// Anti-flapping and overrides: combine the fresh evaluation with the customer's current
// assignment (null: first assignment).
// - Upgrades apply at once. A downgrade follows the held tier's policy: with grace_days > 0
//   the tier is kept and pending_downgrade announces the target and effective time; once
//   that time has passed, drop_one moves one tier down, recompute moves to the fresh tier;
//   never keeps the tier. A fresh tier at or above the held one cancels a pending downgrade.
// - An unexpired override pins the tier exactly (PIN) or sets a minimum (FLOOR); expired
//   overrides (expire_time set and <= now) are ignored.
// - A current tier the standard no longer has is replaced at once.
// - version grows by one, and *changed is set, only when something a reader cares about
//   changed: tier, pending downgrade, credit hold, price/service level, account manager,
//   override, matched rule, dimension classes or standard version. assigned_time moves
//   only when the tier changes; evaluated_time is always `now`.
v1::TierAssignment decide(const Standard& standard, const Evaluation& fresh, const v1::TierAssignment* current,
                          const v1::TierOverride* override_or_null, absl::Time now, bool* changed);
// The same, taking the fresh assignment instead of copying it (a copy costs as much as a
// third of evaluate_assignment()); `fresh` is left valid but its assignment unspecified.
v1::TierAssignment decide(const Standard& standard, Evaluation&& fresh, const v1::TierAssignment* current,
                          const v1::TierOverride* override_or_null, absl::Time now, bool* changed);

// What-if: migration matrix (fresh tiers, no anti-flapping or overrides) between two
// standards over a population; populations are computed per standard from the inputs.
// Migrations are listed by (current tier rank, candidate tier rank), non-empty cells only,
// with up to 3 example customer ids each.
v1::WhatIfResponse what_if(const Standard& current, const Standard& candidate, std::span<const CustomerInputs> inputs,
                           absl::Time now);

// Distribution: counts and value share per tier and per dimension class, and the Pareto
// curve. assignments[i] and features[i] describe the same customer. Value is the `value`
// feature clamped at 0 (a customer whose refunds exceed sales brings no value).
// Pareto points at customer shares 5%, 10%, 20%, ..., 100%, and the full curve at every
// 1% (the top ceil(p*n) customers). Customers needed to reach each of `request`'s value
// shares (the fewest whose cumulative value >= share x total), the share of the top N,
// and RFM quartile and quintile cut points per component (population.h's rule). Invalid
// shares (outside (0, 1]) and N < 1 in `request` are skipped (the service validates).
v1::Distribution distribution(const Standard& standard, std::span<const v1::TierAssignment> assignments,
                              std::span<const Features> features,
                              const v1::GetDistributionRequest& request = v1::GetDistributionRequest());

// Condition text for explanations: "value is A", "sales in 12 months >= 500,000.00 CNY".
std::string describe_condition(const Standard& standard, uint32_t node);

}  // namespace tierflow::classification
