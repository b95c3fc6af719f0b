// The fast paths give exactly what the full ones give: evaluate_assignment() the same
// assignment, classification and distances as evaluate(); decide() on a moved Evaluation
// the same assignment as decide() on a copy. Synthetic customers, several standards,
// first assignments, held higher tiers (grace, pending) and overrides.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "synthetic.h"
#include "test_support.h"
#include "tierflow/classification/engine.h"

namespace tierflow::classification {
namespace {

using namespace testing;  // NOLINT: test builders

TEST(classification_fast_path, EvaluateAssignmentAndMovedDecideEqualFullPath) {
  std::vector<std::shared_ptr<const Standard>> standards = {
      Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml"),
      Standard::parse(kTestStandard, "t.yaml")};
  const absl::Time now = synthetic::as_of();
  const size_t n = 3000;
  std::vector<v1::AccountSnapshot> accounts(n);
  std::vector<v1::CustomerProfile> profiles(n);
  std::vector<CustomerInputs> inputs(n);
  for (size_t i = 0; i < n; ++i) {
    const bool has = synthetic::account(i, &accounts[i]);
    profiles[i] = synthetic::profile(i);
    inputs[i] = {synthetic::customer_id(i), has ? &accounts[i] : nullptr, &profiles[i]};
  }
  for (const auto& s : standards) {
    std::vector<Features> fs;
    for (const auto& in : inputs) fs.push_back(compute_features(*s, in, now));
    const Population pop = Population::compute(*s, fs);
    for (size_t i = 0; i < n; ++i) {
      const Evaluation full = evaluate(*s, pop, fs[i], inputs[i]);
      Evaluation fast = evaluate_assignment(*s, pop, fs[i], inputs[i]);
      ASSERT_EQ(full.assignment.SerializeAsString(), fast.assignment.SerializeAsString()) << inputs[i].customer_id;
      ASSERT_TRUE(full.classification == fast.classification);
      ASSERT_EQ(full.distance_to_tier.size(), fast.distance_to_tier.size());
      for (size_t t = 0; t < full.distance_to_tier.size(); ++t)
        ASSERT_EQ(full.distance_to_tier[t].SerializeAsString(), fast.distance_to_tier[t].SerializeAsString());
      EXPECT_TRUE(fast.features.empty());
      EXPECT_TRUE(fast.explanation.empty());

      // Current states: none; the best tier (a downgrade: grace or never); a pending
      // downgrade already due; a PIN and a FLOOR override.
      v1::TierAssignment best;
      best.set_tier(s->tiers()[0].name);
      best.set_version(4);
      v1::TierAssignment due = best;
      due.mutable_pending_downgrade()->set_to_tier(s->tiers()[1].name);
      due.mutable_pending_downgrade()->mutable_effective_time()->set_seconds(absl::ToUnixSeconds(now) - 10);
      v1::TierOverride pin;
      pin.set_kind(v1::OVERRIDE_KIND_PIN);
      pin.set_tier(s->tiers()[1].name);
      v1::TierOverride floor;
      floor.set_kind(v1::OVERRIDE_KIND_FLOOR);
      floor.set_tier(s->tiers()[2].name);
      const std::pair<const v1::TierAssignment*, const v1::TierOverride*> cases[] = {
          {nullptr, nullptr}, {&best, nullptr}, {&due, nullptr}, {&best, &pin}, {nullptr, &floor}};
      for (const auto& [current, ovr] : cases) {
        bool changed_copy = false, changed_move = false;
        const v1::TierAssignment a = decide(*s, full, current, ovr, now, &changed_copy);
        Evaluation moved = evaluate_assignment(*s, pop, fs[i], inputs[i]);
        const v1::TierAssignment b = decide(*s, std::move(moved), current, ovr, now, &changed_move);
        ASSERT_EQ(a.SerializeAsString(), b.SerializeAsString()) << inputs[i].customer_id;
        ASSERT_EQ(changed_copy, changed_move);
      }
    }
  }
}

}  // namespace
}  // namespace tierflow::classification
