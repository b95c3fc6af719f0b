#include "service/handler.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace tierflow::ledger {

LedgerHandler::LedgerHandler(SharedLedger& ledger, OutboxRelay& relay, LedgerMetrics& metrics, Options options)
    : ledger_(ledger), relay_(relay), metrics_(metrics), options_(std::move(options)), last_expiry_(options_.now()) {}

std::optional<int64_t> LedgerHandler::start_offset(std::string_view topic, int32_t partition) {
  return ledger_.with([&](Ledger& l) {
    if (refresh_) {
      l.refresh();
      refresh_ = false;
    }
    return l.next_offset(topic, partition);
  });
}

void LedgerHandler::on_revoked(const std::vector<kafka::TopicPartition>&) {
  refresh_ = true;
  ledger_.with([](Ledger& l) {
    l.sync();
    return 0;
  });
}

void LedgerHandler::on_positions(std::span<const kafka::PartitionPosition> positions, kafka::EndQuery& ends) {
  positions_.assign(positions.begin(), positions.end());
  ends_ = &ends;
}

std::vector<OwnedPartition> LedgerHandler::owned() const {
  std::vector<OwnedPartition> out;
  out.reserve(positions_.size());
  for (const auto& p : positions_) out.push_back({p.topic, p.partition, p.next_offset, p.caught_up()});
  return out;
}

void LedgerHandler::handle(std::span<const kafka::Record> records, kafka::DeadLetters&) {
  std::vector<ConsumedRecord> batch;
  batch.reserve(records.size());
  for (const auto& r : records) batch.push_back({r.topic(), r.partition(), r.offset(), r.key(), r.value()});
  const auto started = std::chrono::steady_clock::now();
  const std::vector<OwnedPartition> owned_now = owned();
  // Asked only for a partition about to be marked: a round trip to the broker, under the
  // ledger's lock (gRPC reads wait for it, as for the batch itself).
  const Ledger::ConfirmFn confirm = [this](const OwnedPartition& p) {
    const std::optional<int64_t> end = ends_ ? ends_->query_end(p.topic, p.partition) : std::nullopt;
    return end && *end <= p.next_offset;
  };
  ApplyResult result = ledger_.with([&](Ledger& l) { return l.apply(batch, owned_now, confirm); });
  metrics_.batch_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  metrics_.applied.Increment(static_cast<double>(result.applied));
  metrics_.duplicates.Increment(static_cast<double>(result.duplicates));
  metrics_.replayed.Increment(static_cast<double>(result.replayed));
  metrics_.deferred_total.Increment(static_cast<double>(result.deferred));
  metrics_.deferred.Set(static_cast<double>(ledger_.with([](Ledger& l) { return l.deferred_count(); })));
  count_rejections(result.rejected);
  spdlog::debug("batch of {}: {} applied, {} duplicates, {} deferred, {} rejected", records.size(), result.applied,
                result.duplicates, result.deferred, result.rejected.size());
}

void LedgerHandler::tick() {
  const absl::Time now = options_.now();
  if (now - last_expiry_ > options_.expiry_interval) {
    last_expiry_ = now;
    count_rejections(ledger_.with([&](Ledger& l) { return l.expire_deferred(now, options_.deferred_max_wait); }));
  }
  relay_.pump();  // never waits for the broker: the loop keeps polling
}

void LedgerHandler::drain() {
  // The last batch may still be being written: commit it and publish its snapshots now
  // rather than at the next start.
  ledger_.with([](Ledger& l) {
    l.sync();
    return 0;
  });
  relay_.relay();
}

// The rejected records reach the DLQ through the outbox; here they are logged and counted.
void LedgerHandler::count_rejections(const std::vector<Rejection>& rejected) {
  for (const auto& r : rejected) {
    metrics_.rejected.Increment();
    spdlog::warn("event {} of customer {} rejected: {}", r.event_id.empty() ? "(unparseable)" : r.event_id,
                 r.customer_id, r.reason);
  }
}

}  // namespace tierflow::ledger
