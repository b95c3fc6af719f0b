// Full re-evaluation rate and memory per customer on N synthetic customers (default
// 1,000,000): compute_features + Population::compute + classify for everyone, then
// evaluate + decide for the customers whose classification changed.
//
// Two representations side by side, in the same run:
//  - proto:   what the service held before (v1::AccountSnapshot + v1::CustomerProfile);
//             the baseline;
//  - compact: CompactAccount + CompactProfile (tierflow/classification/compact.h), what the
//             service holds now; engine_bench.cpp times the service's TierKeeper itself.
// Also a machine yardstick measured in the same run (sorting N int64), since the machine
// is shared. The compact path's classes must equal the proto path's for every customer:
// a mismatch fails the run (exit 1). Figures are printed, never asserted.
//
// Usage: classification_reevaluate_bench [customers] [standard.yaml]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "synthetic.h"
#include "tierflow/classification/compact.h"
#include "tierflow/classification/engine.h"

using namespace tierflow;
using namespace tierflow::classification;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Pass {
  double features_s = 0, population_s = 0, classify_s = 0;
  double total() const { return features_s + population_s + classify_s; }
};

// One full pass: features for everyone, the population, classes for everyone.
template <class FeaturesOf, class ClassifyOf>
Pass run_pass(size_t n, const Standard& s, std::vector<Features>& features, Population& pop,
              std::vector<Classification>& out, FeaturesOf&& features_of, ClassifyOf&& classify_of) {
  Pass p;
  auto t = Clock::now();
  for (size_t i = 0; i < n; ++i) features[i] = features_of(i);
  p.features_s = seconds_since(t);
  t = Clock::now();
  pop = Population::compute(s, features);
  p.population_s = seconds_since(t);
  t = Clock::now();
  for (size_t i = 0; i < n; ++i) out[i] = classify_of(i);
  p.classify_s = seconds_since(t);
  return p;
}

void print_pass(const char* name, size_t n, const Pass& p) {
  std::printf("  %-8s features %6.3f s  population %6.3f s  classify %6.3f s  total %6.3f s  => %9.0f customers/s\n",
              name, p.features_s, p.population_s, p.classify_s, p.total(), n / p.total());
}

Pass best(const Pass& a, const Pass& b) { return a.total() <= b.total() ? a : b; }

// Population::compute as it was before order-statistic selection: a full sort of every
// column it reads (value twice: ABC bands and RFM monetary). For the speed-up figure only.
size_t population_by_sorting(const Standard& s, const std::vector<Features>& fs) {
  size_t checksum = 0;
  for (const Dimension& dim : s.dimensions()) {
    std::vector<std::pair<Feature, bool>> columns;
    if (dim.kind == DimensionKind::bands && dim.percentile) columns.push_back({dim.features[0], false});
    if (dim.kind == DimensionKind::rfm) columns = {{dim.recency, true}, {dim.frequency, false}, {dim.monetary, false}};
    for (const auto& [f, negate] : columns) {
      std::vector<int64_t> v;
      v.reserve(fs.size());
      for (const auto& x : fs)
        if (x.has(f)) v.push_back(negate ? -x.get(f) : x.get(f));
      std::sort(v.begin(), v.end());
      checksum += v.empty() ? 0 : static_cast<size_t>(v[v.size() / 2]);
    }
  }
  return checksum;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::string standard_path =
      argc > 2 ? argv[2] : std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
  const auto standard = Standard::load_file(standard_path);
  const Standard& s = *standard;
  const absl::Time now = synthetic::as_of();
  std::printf("classification re-evaluation: %zu synthetic customers, standard %s\n", n, s.version().c_str());

  // --- inputs as the service holds them today -------------------------------------------
  auto t = Clock::now();
  std::vector<v1::AccountSnapshot> accounts(n);
  std::vector<char> has_account(n);
  std::vector<v1::CustomerProfile> profiles(n);
  std::vector<std::string> ids(n);
  for (size_t i = 0; i < n; ++i) {
    ids[i] = synthetic::customer_id(i);
    has_account[i] = synthetic::account(i, &accounts[i]);
    profiles[i] = synthetic::profile(i);
  }
  std::printf("  generated in %.2f s\n", seconds_since(t));
  size_t proto_bytes = 0, months = 0;
  for (size_t i = 0; i < n; ++i) {
    proto_bytes += accounts[i].SpaceUsedLong() + profiles[i].SpaceUsedLong();
    months += accounts[i].months_size();
  }
  std::printf("  %.1f monthly buckets per customer on average\n", double(months) / n);

  // --- machine yardstick: sort n int64 --------------------------------------------------
  double sort_s = 1e9;
  for (int rep = 0; rep < 2; ++rep) {
    std::vector<int64_t> v(n);
    synthetic::Rng r(7);
    for (auto& x : v) x = static_cast<int64_t>(r.next() >> 1);
    t = Clock::now();
    std::sort(v.begin(), v.end());
    sort_s = std::min(sort_s, seconds_since(t));
  }

  std::vector<Features> features(n);
  Population pop;
  std::vector<Classification> proto_classes(n), compact_classes(n);

  // --- proto path (baseline) -------------------------------------------------------------
  auto proto_inputs = [&](size_t i) {
    return CustomerInputs{ids[i], has_account[i] ? &accounts[i] : nullptr, &profiles[i]};
  };
  Pass proto;
  for (int rep = 0; rep < 2; ++rep) {
    const Pass p = run_pass(
        n, s, features, pop, proto_classes, [&](size_t i) { return compute_features(s, proto_inputs(i), now); },
        [&](size_t i) { return classify(s, pop, features[i], proto_inputs(i)); });
    proto = rep == 0 ? p : best(proto, p);
  }
  const std::vector<Features> proto_features = features;

  // --- compact representation -------------------------------------------------------------
  t = Clock::now();
  Vocabulary vocabulary;
  std::vector<CompactAccount> caccounts(n);
  std::vector<CompactProfile> cprofiles(n);
  for (size_t i = 0; i < n; ++i) {
    if (has_account[i]) caccounts[i] = compact(accounts[i]);
    cprofiles[i] = compact(profiles[i], vocabulary);
  }
  const double compact_s = seconds_since(t);
  size_t wide = 0;
  for (const auto& a : caccounts) wide += a.wide != nullptr;
  const MappingTable mappings(s, vocabulary);
  auto compact_inputs = [&](size_t i) {
    return CompactInputs{ids[i], has_account[i] ? &caccounts[i] : nullptr, &cprofiles[i]};
  };

  Pass cpass;
  for (int rep = 0; rep < 3; ++rep) {
    const Pass p = run_pass(
        n, s, features, pop, compact_classes, [&](size_t i) { return compute_features(s, compact_inputs(i), now); },
        [&](size_t i) { return classify(s, pop, features[i], &cprofiles[i], mappings); });
    cpass = rep == 0 ? p : best(cpass, p);
  }
  t = Clock::now();
  const size_t checksum = population_by_sorting(s, features);
  const double sorted_population_s = seconds_since(t);
  size_t mismatches = 0;
  for (size_t i = 0; i < n; ++i)
    mismatches += !(proto_classes[i] == compact_classes[i]) || !(proto_features[i] == features[i]);

  // --- a month later: who changed, and evaluate + decide for them ---------------------------
  const absl::Time later = now + absl::Hours(24 * 30);
  std::vector<Classification> later_classes(n);
  const Pass lpass = run_pass(
      n, s, features, pop, later_classes, [&](size_t i) { return compute_features(s, compact_inputs(i), later); },
      [&](size_t i) { return classify(s, pop, features[i], &cprofiles[i], mappings); });
  // Changed = what decide() would publish: tier, rule, credit hold or a dimension's class
  // (RFM scores alone move within a segment without changing the assignment).
  auto same = [](const Classification& a, const Classification& b) {
    return a.tier == b.tier && a.rule == b.rule && a.credit_hold == b.credit_hold && a.classes == b.classes;
  };
  std::vector<size_t> changed;
  for (size_t i = 0; i < n; ++i)
    if (!same(later_classes[i], compact_classes[i])) changed.push_back(i);
  // evaluate + decide for the changed, as the service does today (evaluate() builds the
  // explanation too, decide() copies the assignment) and with the fast paths.
  auto current_of = [&](size_t i) {
    v1::TierAssignment current;  // what the service held: the earlier tier
    current.set_customer_id(ids[i]);
    current.set_tier(s.tiers()[compact_classes[i].tier].name);
    current.set_matched_rule(s.rules()[compact_classes[i].rule].id);
    current.set_standard_version(s.version());
    current.set_version(1);
    return current;
  };
  size_t assignment_bytes = 0, assignment_wire = 0, tier_changes = 0, fast_mismatches = 0;
  std::vector<std::string> published(changed.size());
  t = Clock::now();
  for (size_t k = 0; k < changed.size(); ++k) {
    const size_t i = changed[k];
    const v1::TierAssignment current = current_of(i);
    const v1::CustomerProfile expanded = expand_for_evaluation(cprofiles[i], vocabulary);
    const Evaluation ev = evaluate(s, pop, features[i], {ids[i], nullptr, &expanded});
    bool did_change = false;
    const v1::TierAssignment next = decide(s, ev, &current, nullptr, later, &did_change);
    tier_changes += next.tier() != current.tier();
    published[k] = next.SerializeAsString();
  }
  const double evaluate_full_s = seconds_since(t);
  t = Clock::now();
  for (size_t k = 0; k < changed.size(); ++k) {
    const size_t i = changed[k];
    const v1::TierAssignment current = current_of(i);
    const v1::CustomerProfile expanded = expand_for_evaluation(cprofiles[i], vocabulary);
    bool did_change = false;
    const v1::TierAssignment next = decide(s, evaluate_assignment(s, pop, features[i], {ids[i], nullptr, &expanded}),
                                           &current, nullptr, later, &did_change);
    assignment_bytes += next.SpaceUsedLong();
    assignment_wire += next.ByteSizeLong();
    fast_mismatches += next.SerializeAsString() != published[k];
  }
  const double evaluate_s = seconds_since(t);

  // --- figures ----------------------------------------------------------------------------
  const size_t compact_inline = sizeof(CompactAccount) + sizeof(CompactProfile);
  const double compact_heap = double(wide) * (sizeof(CompactAccount::Wide) + 16) / n;
  const double compact_per = compact_inline + compact_heap;
  const double proto_per = double(proto_bytes) / n;
  const double rate_compact = n / cpass.total();
  const double rate_proto = n / proto.total();
  const double rate_full = n / (lpass.total() + evaluate_s);
  const double rate_today = n / (proto.total() + evaluate_full_s);

  std::printf("\n  yardstick: std::sort of %zu int64 in %.3f s\n", n, sort_s);
  print_pass("proto", n, proto);
  print_pass("compact", n, cpass);
  print_pass("+30 days", n, lpass);
  std::printf("  changed after 30 days: %zu customers (%zu change tier)\n", changed.size(), tier_changes);
  std::printf(
      "  evaluate+decide of the changed: today's evaluate() + decide(copy) %.3f s (%.1f us each); "
      "evaluate_assignment() + decide(move) %.3f s (%.1f us each) = %.2fx faster\n",
      evaluate_full_s, changed.empty() ? 0.0 : evaluate_full_s * 1e6 / changed.size(), evaluate_s,
      changed.empty() ? 0.0 : evaluate_s * 1e6 / changed.size(), evaluate_full_s / evaluate_s);
  std::printf(
      "  Population::compute by full sorts (the previous implementation): %.3f s (checksum %zu) = %.1fx "
      "the selection's %.3f s\n",
      sorted_population_s, checksum % 1000, sorted_population_s / cpass.population_s, cpass.population_s);
  std::printf("  compact() of every customer: %.3f s (%.2f us each); %zu accounts need the int64 fallback\n", compact_s,
              compact_s * 1e6 / n, wide);
  std::printf(
      "\nRESULT re-evaluation (features+population+classify), compact: %.0f customers/s = %.2fx proto path "
      "(%.0f/s) = %.2fx the aim of 200,000/s\n",
      rate_compact, rate_compact / rate_proto, rate_proto, rate_compact / 200000);
  std::printf(
      "RESULT re-evaluation incl. evaluate+decide of the %zu changed: %.0f customers/s = %.2fx the aim "
      "(today's path, protos + evaluate(): %.0f/s, so %.2fx)\n",
      changed.size(), rate_full, rate_full / 200000, rate_today, rate_full / rate_today);
  std::printf("RESULT per full pass: %.2f sorts of %zu int64 (machine yardstick)\n", cpass.total() / sort_s, n);
  std::printf(
      "RESULT inputs held per customer: compact %.0f bytes (%zu inline + %.1f heap) vs protos %.0f bytes "
      "= %.2fx; aim 1024 bytes: %.2fx\n",
      compact_per, compact_inline, compact_heap, proto_per, compact_per / proto_per, compact_per / 1024);
  const double per_changed = changed.empty() ? 0.0 : 1.0 / changed.size();
  std::printf(
      "RESULT other per-customer state: Features %zu bytes (needed for everyone during a pass), "
      "Classification %zu bytes; the current TierAssignment as a proto object %.0f bytes, serialized %.0f "
      "bytes (means over the changed)\n",
      sizeof(Features), sizeof(Classification), assignment_bytes * per_changed, assignment_wire * per_changed);
  if (fast_mismatches != 0) {
    std::printf("FAIL: %zu assignments differ between evaluate()+decide() and the fast path\n", fast_mismatches);
    return 1;
  }
  if (mismatches != 0) {
    std::printf("FAIL: %zu customers classified differently by the compact path\n", mismatches);
    return 1;
  }
  std::printf("OK: compact path equals the proto path for all %zu customers\n", n);
  return 0;
}
