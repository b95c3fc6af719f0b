// TierConsumer: the classification service's kafka::BatchHandler. It feeds the keeper
// from crm.customers.v1 and ledger.accounts.v1 and decides when to evaluate:
//   start_offset  the offset the keeper applied (its store's, at start); the beginning
//                 when this instance never read the partition;
//   handle        parse and apply to memory; poison goes to `<topic>.dlq` with the reason
//                 and is confirmed before anything of the batch is applied;
//   tick          evaluate once input settled (an empty poll) or waited evaluate_delay,
//                 and every reevaluate_interval regardless; the publisher's republish and
//                 Redis refill when due;
//   on_revoked    evaluate and commit what was consumed, so the instance that reads the
//                 partitions next starts from current stored offsets;
//   drain         the shutdown evaluation, the producer's flush and the last commit.
// Offsets reach the store only with an evaluation's commit (one transaction with the
// state); the group commit the loop makes is advisory.
//
// Lifecycle: made by TierKeeper::run for one kafka::ConsumerLoop (or by a test's
// testing::LoopDriver); the keeper outlives it.
// Threading: every method runs on the loop's thread (BatchHandler's contract).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/kafka/consumer_loop.h"
#include "service/config.h"

namespace tierflow::classification {

class TierKeeper;

class TierConsumer final : public kafka::BatchHandler {
 public:
  TierConsumer(TierKeeper& keeper, const Config& cfg) : keeper_(keeper), cfg_(cfg) {}

  // The loop's options for this service: its group, its two topics, batches of up to 5000.
  static kafka::ConsumerOptions options(const Config& cfg);

  std::optional<int64_t> start_offset(std::string_view topic, int32_t partition) override;
  void on_revoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) override;
  void tick() override;
  void drain() override;

 private:
  using Clock = std::chrono::steady_clock;
  TierKeeper& keeper_;
  const Config& cfg_;
  // Evaluate soon after start: inputs stored by a commit without evaluation (an override
  // call, a shutdown) are then classified even when no new input arrives.
  bool dirty_ = true;
  bool handled_ = false;  // the last poll returned records (tick follows handle)
  Clock::time_point first_pending_ = Clock::now();
  Clock::time_point last_eval_ = Clock::now();
};

}  // namespace tierflow::classification
