#pragma once
// Thresholds that depend on the whole current population: percentile bands (value ABC,
// purchase volume by percentile) and RFM quintiles. Recomputed by the service on a
// schedule (percentile refresh); a Population belongs to the Standard it was computed with.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "tierflow/classification/features.h"

namespace tierflow::classification {

class Standard;

// The exact inputs of a Population, mergeable: per column (a feature the standard ranks,
// with its sign and whether only positive values take part) the multiset of values, as
// ascending (value, count) runs. Summaries of disjoint sets of customers merge into the
// summary of their union, so cut points computed from merged per-partition summaries are
// exactly those of one process holding every customer (Population::compute goes through
// a summary too).
struct PopulationSummary {
  struct Column {
    Feature feature{};
    bool negate = false;
    bool positive = false;
    std::vector<std::pair<int64_t, uint64_t>> runs;  // ascending values, count > 0
    bool operator==(const Column&) const = default;
  };
  std::vector<Column> columns;  // in the order columns_of(standard) gives
  uint64_t customers = 0;       // every customer summarised (with or without the features)
  bool operator==(const PopulationSummary&) const = default;

  // The columns `standard` ranks (empty runs).
  static PopulationSummary columns_of(const Standard& standard);
  // The summary of `features` under `standard`.
  static PopulationSummary of(const Standard& standard, std::span<const Features> features);
  // Adds `other` (same standard: same columns; throws std::invalid_argument otherwise).
  void merge(const PopulationSummary& other);
  // A compact byte form (varints, delta-coded values); decode throws std::invalid_argument
  // on bytes that are not one.
  std::string encode() const;
  static PopulationSummary decode(std::string_view bytes);
};

class Population {
 public:
  Population() = default;
  // Only customers where the dimension's feature is present take part. For a percentile
  // band with cumulative top share p over n customers, the threshold is the value of the
  // ceil(p*n)-th best customer (10 customers, top 20% -> the 2nd best value; ties with it
  // are included). RFM: a score is 1 + the number of quintile cuts strictly below the
  // customer's value, where cut k is the ceil(k*n/5)-th smallest value (10 distinct values:
  // two customers per score; tied customers share the lower score).
  static Population compute(const Standard& standard, std::span<const Features> features);
  // The same cut points from a summary (merged over partitions); compute() is
  // from_summary(of(features)).
  static Population from_summary(const Standard& standard, const PopulationSummary& summary);

  // Per dimension index: bands -> one threshold per class but the last (INT64_MAX when the
  // population is empty: nobody qualifies); rfm -> 12 cut points (R, F, M x 4; recency
  // stored negated so that higher is better). Empty for other kinds.
  const std::vector<int64_t>& thresholds(size_t dimension) const;
  size_t size() const { return size_; }

 private:
  std::vector<std::vector<int64_t>> thresholds_;
  size_t size_ = 0;
};

}  // namespace tierflow::classification
