#pragma once
// Thresholds that depend on the whole current population: percentile bands (value ABC,
// purchase volume by percentile) and RFM quintiles. Recomputed by the service on a
// schedule (percentile refresh); a Population belongs to the Standard it was computed with.
#include <cstdint>
#include <span>
#include <vector>

#include "tierflow/classification/features.h"

namespace tierflow::classification {

class Standard;

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
