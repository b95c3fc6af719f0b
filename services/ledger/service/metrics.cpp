#include "service/metrics.h"

#include "common/metrics/metrics.h"

namespace tierflow::ledger {

LedgerMetrics::LedgerMetrics(prometheus::Registry& r)
    : applied(metrics::counter(r, "tierflow_ledger_events_total", "Events by outcome", {{"outcome", "applied"}})),
      duplicates(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "duplicate"}})),
      rejected(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "rejected"}})),
      replayed(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "replayed"}})),
      deferred_total(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "deferred"}})),
      deferred(metrics::gauge(r, "tierflow_ledger_deferred_events", "Events waiting for the sale they name")),
      relayed(metrics::counter(r, "tierflow_ledger_snapshots_published_total",
                               "Outbox rows (account snapshots and dead letters) relayed and acknowledged")),
      relay_retries(metrics::counter(r, "tierflow_ledger_relay_retries_total",
                                     "Relay rounds that stopped at a record the broker did not confirm")),
      batch_seconds(
          metrics::histogram(r, "tierflow_ledger_batch_seconds",
                             "apply() of one batch: processing it and waiting for the previous batch's commit",
                             {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5})) {}

}  // namespace tierflow::ledger
