#pragma once
// The overview's aggregates, kept: OverviewBook holds one small row per customer (the
// features the reports read, and the current assignment's tier, classes, credit hold and
// pending downgrade) and the sums over them, updated per change in O(dimensions); the
// sorted value lists behind the Pareto curve, the reach figures and the RFM cut points are
// merged once per batch of changes (O(n + k log k)) when a report is asked for, not
// re-sorted. distribution() (engine.h) is computed by an OverviewBook too, so the
// overview and GetDistribution are one implementation.
//
// Names (tiers, dimensions, classes) are interned, so the book outlives a standard's
// reload: reports order them by the standard passed in, names it no longer has last.
//
// Threading: thread-compatible (the service guards it with a mutex of its own). Pure: no
// I/O, no clock.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tierflow/classification/features.h"
#include "tierflow/classification/standard.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification {

class OverviewBook {
 public:
  OverviewBook();

  // The customer's features as evaluated (the value feature, and the RFM features of
  // `standard`). A standard whose RFM features differ from the ones tracked so far resets
  // those lists: the caller then notes every customer again (an evaluation point does).
  void note_features(const Standard& standard, const std::string& customer_id, const Features& f);
  // The customer's current assignment (a change, or one loaded from the store). A customer
  // counts in the reports once it has one.
  void note_assignment(const v1::TierAssignment& a);
  void forget(const std::string& customer_id);

  // The rows of `ids` that count (have an assignment), without their ids, in a compact
  // byte form: what the reports read of them (tier, classes, credit hold, pending
  // downgrade, the tracked features under `standard`). Books of disjoint slices of the
  // customers are joined by import_rows into a book whose reports are those of one book
  // holding every row (evaluation points on watermarks: GetDistribution over every
  // partition).
  std::string export_rows(const Standard& standard, std::span<const std::string> ids);
  // Adds the rows `bytes` holds, under ids `prefix` + their position. Throws
  // std::invalid_argument on bytes export_rows did not make under this standard's
  // tracked features.
  void import_rows(const Standard& standard, std::string_view bytes, const std::string& prefix);

  // Bumped by every note; a cached report is current while this is unchanged.
  uint64_t generation() const { return generation_; }
  size_t customers() const { return counted_; }

  // The distribution over the customers with an assignment (engine.h's distribution()
  // documents the figures). Merges pending changes into the sorted lists first.
  v1::Distribution distribution(const Standard& standard, const v1::GetDistributionRequest& request = {});
  // distribution() plus quadrants (the standard's matrix dimensions), breakdowns (region,
  // industry, lifecycle), the A/B/C cuts of the `value` dimension and the watch counters.
  // as_of, clock, from_history and evaluated_time are left to the caller.
  v1::Overview overview(const Standard& standard);

 private:
  static constexpr size_t kTracked = 8;  // value + up to seven RFM features
  static constexpr uint16_t kNone = 0xFFFF;
  struct Row {
    std::array<int64_t, kTracked> tracked{};
    uint8_t present = 0;  // bit i: tracked[i] present
    uint16_t tier = kNone;
    bool credit_hold = false;
    bool pending_downgrade = false;
    uint8_t class_count = 0;
    std::array<uint16_t, kMaxDimensions> classes{};  // interned (dimension, class) ids
  };
  struct Acc {
    int64_t customers = 0;
    int64_t value = 0;
  };
  // A multiset of int64 kept sorted, with insertions and removals batched until merge().
  class SortedValues {
   public:
    void insert(int64_t v) { add_.push_back(v); }
    void erase(int64_t v) { del_.push_back(v); }
    void clear();
    // Applies the batched changes; afterwards values() is sorted ascending.
    void merge();
    const std::vector<int64_t>& values() const { return sorted_; }

   private:
    std::vector<int64_t> sorted_, add_, del_;
  };

  bool counted(const Row& r) const { return r.tier != kNone; }
  int64_t pareto_value(const Row& r) const { return (r.present & 1U) ? std::max<int64_t>(r.tracked[0], 0) : 0; }
  void add(const Row& r, int sign);
  uint16_t intern_tier(std::string_view name);
  uint16_t intern_class(std::string_view dimension, std::string_view class_name);
  void retrack(std::vector<Feature> features);
  // The features `standard`'s RFM cut points read, value first.
  static std::vector<Feature> tracked_for(const Standard& standard);
  void add_cut_points(v1::Distribution& out, const Standard& standard);

  std::unordered_map<std::string, Row> rows_;
  std::vector<Feature> tracked_;  // tracked_[0] == Feature::value
  std::vector<std::string> tier_names_;
  std::vector<std::pair<std::string, std::string>> class_names_;
  std::vector<Acc> tier_acc_;
  std::vector<Acc> class_acc_;
  std::vector<std::vector<Acc>> class_tier_acc_;       // [class][tier]
  SortedValues pareto_;                                // pareto_value of every counted row
  std::array<SortedValues, kTracked> feature_values_;  // tracked[i] of counted rows that have it
  int64_t total_value_ = 0;
  int64_t credit_holds_ = 0;
  int64_t pending_downgrades_ = 0;
  size_t counted_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace tierflow::classification
