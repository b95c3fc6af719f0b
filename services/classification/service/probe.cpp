#include "service/probe.h"

#include "common/metrics/metrics.h"

namespace tierflow::classification {

Probe::Probe(prometheus::Registry& r)
    : records(metrics::counter(r, "tierflow_classification_records_total", "Kafka records consumed")),
      stale(metrics::counter(r, "tierflow_classification_stale_snapshots_total",
                             "Account snapshots dropped because a newer version was held")),
      poison(metrics::counter(r, "tierflow_classification_poison_total",
                              "Records that could not be parsed (sent to the DLQ)")),
      changes(metrics::counter(r, "tierflow_classification_assignment_changes_total", "Assignments published")),
      republished(metrics::counter(r, "tierflow_classification_republished_total",
                                   "Assignments published again because the broker had not confirmed them")),
      overrides(
          metrics::counter(r, "tierflow_classification_override_changes_total", "Overrides set, cleared or expired")),
      watchers_dropped(metrics::counter(r, "tierflow_classification_watchers_dropped_total",
                                        "WatchTierChanges callers dropped for falling behind")),
      customers(metrics::gauge(r, "tierflow_classification_customers", "Customers held by this instance")),
      evaluation_seconds(metrics::histogram(r, "tierflow_classification_evaluation_seconds",
                                            "One full re-evaluation of the population, commit included",
                                            {0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10})),
      foreign_currency(prometheus::BuildCounter()
                           .Name("tierflow_classification_foreign_currency_customers_total")
                           .Help("Customers whose money is in a currency the standard does not value (not counted)")
                           .Register(r)) {}

}  // namespace tierflow::classification
