// What ingest exposes on /metrics. Counters per ack status and, for REJECTED and RETRY,
// per reason kind (a bounded set: the field a rejection names, or why a write failed),
// the receive-to-ack latency and the events in flight.
// Threading: prometheus-cpp metrics are thread-safe; reason() takes the family's lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>
#include <string_view>

#include "common/metrics/metrics.h"
#include "src/metrics_reason.h"

namespace tierflow::ingest {

struct Metrics {
  explicit Metrics(prometheus::Registry& r)
      : accepted(metrics::counter(r, "tierflow_ingest_events_total", "Events answered, by ack status",
                                  {{"status", "accepted"}})),
        duplicate(metrics::counter(r, "tierflow_ingest_events_total", "", {{"status", "duplicate"}})),
        rejected(metrics::counter(r, "tierflow_ingest_events_total", "", {{"status", "rejected"}})),
        retry(metrics::counter(r, "tierflow_ingest_events_total", "", {{"status", "retry"}})),
        backfill(metrics::counter(r, "tierflow_ingest_backfill_events_total", "Events posted by a backfill caller")),
        customers(metrics::counter(r, "tierflow_ingest_customers_total", "Customer profiles written to Kafka")),
        dedupe_errors(metrics::counter(r, "tierflow_ingest_dedupe_errors_total",
                                       "Redis failures in the duplicate check (the ledger still dedupes)")),
        dedupe_degraded(metrics::counter(r, "tierflow_ingest_dedupe_degraded_total",
                                         "Events checked for duplicates in this process only, Redis being slow or "
                                         "down (the ledger still dedupes)")),
        store_latency(metrics::histogram(r, "tierflow_ingest_store_seconds", "From receipt to Kafka's confirmation",
                                         {0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0})),
        ack_latency(metrics::histogram(
            r, "tierflow_ingest_ack_seconds", "From receipt of an event to its ack (every status but REJECTED)",
            {0.0005, 0.001, 0.002, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0})),
        in_flight(metrics::gauge(r, "tierflow_ingest_in_flight_events",
                                 "Events received and not yet answered (bounded by limits.process_in_flight)")),
        unsent_acks(metrics::gauge(r, "tierflow_ingest_unsent_acks",
                                   "Acks decided and not yet taken by their streams' clients (each stream "
                                   "stops reading at kMaxQueuedAcks)")),
        read_pauses(metrics::counter(r, "tierflow_ingest_stream_read_pauses_total",
                                     "Times a stream stopped reading because its client had not taken its acks")),
        reasons(prometheus::BuildCounter()
                    .Name("tierflow_ingest_answers_by_reason_total")
                    .Help("REJECTED and RETRY answers by reason kind (the field named, or why not stored)")
                    .Register(r)) {}

  // Counts one REJECTED or RETRY answer under `kind`.
  void reason(std::string_view status, std::string_view kind) {
    reasons.Add({{"status", std::string(status)}, {"reason", std::string(kind)}}).Increment();
  }

  prometheus::Counter& accepted;
  prometheus::Counter& duplicate;
  prometheus::Counter& rejected;
  prometheus::Counter& retry;
  prometheus::Counter& backfill;
  prometheus::Counter& customers;
  prometheus::Counter& dedupe_errors;
  prometheus::Counter& dedupe_degraded;
  prometheus::Histogram& store_latency;
  prometheus::Histogram& ack_latency;
  prometheus::Gauge& in_flight;
  prometheus::Gauge& unsent_acks;
  prometheus::Counter& read_pauses;
  prometheus::Family<prometheus::Counter>& reasons;
};

}  // namespace tierflow::ingest
