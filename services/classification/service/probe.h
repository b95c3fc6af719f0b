// The classification service's metrics: one probe owning every counter, gauge and
// histogram the service exports, registered once on the registry it is given.
//
// Lifecycle: built by TierKeeper at construction and destroyed with it; the registry must
// outlive it (its series stay registered, the registry owns them).
// Threading: the prometheus-cpp series are thread-safe; any thread updates them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tierflow::classification {

class Probe {
 public:
  explicit Probe(prometheus::Registry& registry);
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  prometheus::Counter& records;           // Kafka records consumed
  prometheus::Counter& stale;             // account snapshots older than the one held
  prometheus::Counter& poison;            // records sent to their DLQ
  prometheus::Counter& changes;           // assignments published
  prometheus::Counter& republished;       // published again (broker had not confirmed)
  prometheus::Counter& overrides;         // overrides set, cleared or expired
  prometheus::Counter& watchers_dropped;  // WatchTierChanges callers that fell behind
  prometheus::Gauge& customers;           // customers held
  prometheus::Histogram& evaluation_seconds;
  // Customers whose money is in a currency the standard does not value (counted once per
  // customer and process), labelled by currency.
  prometheus::Family<prometheus::Counter>& foreign_currency;
};

}  // namespace tierflow::classification
