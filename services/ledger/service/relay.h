// The outbox relay: publishes the ledger's transactional outbox (account snapshots to
// ledger.accounts.v1, rejected records to <topic>.dlq) and acknowledges what the broker
// stored.
//
// Contract (at least once, never past a gap): a row is acknowledged only when its record
// and every record before it were confirmed. A failed delivery, or a produce() that throws
// (nothing more is queued then; what was queued is waited for), leaves the rest for the
// next relay() call. Records confirmed behind an unconfirmed one are remembered and not
// produced again by this process (a restart may publish them again; readers keep the
// newest version). An older record cannot land after a newer one of the same key (a
// customer's snapshot, a partition's watermark) on a retry: a row whose key a later
// confirmed row carries counts as confirmed and is not produced again.
//
// DLQ records look like kafka::DeadLetters': the original key and bytes, the type header,
// the reason in kafka::kErrorHeader and "topic/partition@offset" in kafka::kOriginHeader
// (left out for rows stored before the ledger kept origins).
//
// Two ways to drive it: relay() publishes and waits for the broker (start-up, drain,
// tests); pump() never waits: it queues a round and returns, and a later pump() finishes
// the round once its reports are in (or its delivery_timeout passed). The consumer loop
// pumps after every poll, so a slow or paused broker holds back the outbox, not the
// consumer loop (which keeps posting and committing, and serves rebalances at once).
//
// Threading: relay() and pump() run on one thread at a time (the consumer loop's).
// Delivery callbacks run on the producer's thread; they touch only the state of their
// round, which they share with the relay and which outlives a call (a late report after a
// timed-out round).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/kafka/producer.h"
#include "service/metrics.h"
#include "service/shared_ledger.h"

namespace tierflow::ledger {

class OutboxRelay {
 public:
  struct Options {
    size_t rows_per_round = 5000;
    // How long one round waits for the broker's reports before it acknowledges what was
    // confirmed and leaves the rest for the next call.
    std::chrono::milliseconds delivery_timeout{60000};
  };

  OutboxRelay(SharedLedger& ledger, kafka::Producer& producer, LedgerMetrics& metrics);
  OutboxRelay(SharedLedger& ledger, kafka::Producer& producer, LedgerMetrics& metrics, Options options);
  ~OutboxRelay();

  // Publishes what the outbox holds, round by round, until it is empty or a round stops at
  // a record not confirmed. Returns the rows published and acknowledged (superseded rows
  // are acknowledged without being published, and not counted). Throws what the ledger throws
  // (a store failure); Kafka failures are logged and retried by the next call.
  size_t relay();

  // Without waiting: finishes the round in flight if all its reports are in (or its
  // delivery_timeout passed), then queues the next round if the outbox holds more. Returns
  // the rows acknowledged by this call. Throws what relay() throws.
  size_t pump();

  // A round is queued and not finished yet.
  bool in_flight() const { return round_ != nullptr; }

 private:
  struct Round;
  enum class Outcome { pending, complete, stopped };

  // Queues the next round over at most rows_per_round rows; false when the outbox is empty.
  bool start_round();
  // Finishes the round in flight: acknowledges its confirmed prefix. With `wait`, waits
  // for its reports until its deadline; without, returns `pending` while reports are
  // outstanding before the deadline. `complete` when every row was acknowledged.
  Outcome finish_round(bool wait, size_t& acknowledged);
  // A ledger.accounts.v1 row with the key of a row confirmed after it (confirmed_).
  bool superseded(const OutboxMessage& m) const;

  SharedLedger& ledger_;
  kafka::Producer& producer_;
  LedgerMetrics& metrics_;
  const Options options_;
  // Rows confirmed behind an unconfirmed row, not yet acknowledged: id -> record key. A
  // ledger.accounts.v1 row whose key a later confirmed row carries is not produced again
  // (it would land after the newer record of its customer or partition): it counts as
  // confirmed.
  std::map<int64_t, std::string> confirmed_;
  std::unique_ptr<Round> round_;  // queued, not finished
};

}  // namespace tierflow::ledger
