// The ledger service's metrics probe: its counters, gauges and histograms, registered once
// on the service's registry. The counters are thread-safe (prometheus-cpp).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace tierflow::ledger {

struct LedgerMetrics {
  explicit LedgerMetrics(prometheus::Registry& registry);

  prometheus::Counter& applied;
  prometheus::Counter& duplicates;
  prometheus::Counter& rejected;
  prometheus::Counter& replayed;
  prometheus::Counter& deferred_total;
  prometheus::Gauge& deferred;
  prometheus::Counter& relayed;        // outbox rows the broker confirmed and the relay acknowledged
  prometheus::Counter& relay_retries;  // relay rounds that stopped at a record not confirmed
  prometheus::Histogram& batch_seconds;
};

}  // namespace tierflow::ledger
