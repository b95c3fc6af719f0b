// The ledger's consumer of pos.events.v1, run by kafka::ConsumerLoop.
//
// - start_offset: the store's next offset for the partition (exactly once: the offsets
//   are committed in the batch's SQL transaction). After a revocation the caches are
//   reread first (refresh-after-revoke): with PostgreSQL shared by several instances,
//   another one may have applied the partition meanwhile.
// - on_revoked: commits the batch still being written (pipelined ledger) before the
//   partitions move, so the next owner reads offsets that include it.
// - on_positions: keeps the consumer's positions; handle passes them to the ledger, which
//   marks the caught-up partitions that are idle (README, "Idle partitions"), each one
//   confirmed with the broker first (EndQuery: the end the client cached is one fetch old).
// - handle: Ledger::apply. Rejected records become DLQ rows of the outbox in the same
//   transaction (kafka::DeadLetters is not used: the ledger decides rejections inside its
//   transaction, and some come from the expiry timer, not from a consumed record).
// - tick: gives up deferred events past deferred_max_wait (once per expiry_interval), then
//   relays the outbox.
// - drain: commits the last batch and relays its snapshots before the group is left.
//
// Threading: every method runs on the loop's thread. What the ledger throws (a store
// failure) ends the loop; the restart resumes from the stored offsets.
#pragma once

#include <absl/time/clock.h>
#include <absl/time/time.h>

#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/kafka/consumer_loop.h"
#include "service/metrics.h"
#include "service/relay.h"
#include "service/shared_ledger.h"

namespace tierflow::ledger {

class LedgerHandler final : public kafka::BatchHandler {
 public:
  struct Options {
    absl::Duration deferred_max_wait = absl::Hours(24 * 7);
    absl::Duration expiry_interval = absl::Minutes(1);
    std::function<absl::Time()> now = [] { return absl::Now(); };  // injected in tests
  };

  LedgerHandler(SharedLedger& ledger, OutboxRelay& relay, LedgerMetrics& metrics, Options options);

  std::optional<int64_t> start_offset(std::string_view topic, int32_t partition) override;
  void on_revoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void on_positions(std::span<const kafka::PartitionPosition> positions, kafka::EndQuery& ends) override;
  void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) override;
  void tick() override;
  void drain() override;

 private:
  void count_rejections(const std::vector<Rejection>& rejected);
  std::vector<OwnedPartition> owned() const;  // views into positions_

  SharedLedger& ledger_;
  OutboxRelay& relay_;
  LedgerMetrics& metrics_;
  const Options options_;
  bool refresh_ = false;  // a revocation happened: reread the store before the next start
  absl::Time last_expiry_;
  std::vector<kafka::PartitionPosition> positions_;  // from the last poll
  kafka::EndQuery* ends_ = nullptr;                  // from the last poll; valid until the next
};

}  // namespace tierflow::ledger
