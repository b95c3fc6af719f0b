// The notification service's consumer: keeps the recipient directory from
// crm.customers.v1 and tiers.assignments.v1 and sends tier-change messages (upgrade
// congratulations, downgrade warnings, retention) exactly once.
//
// Threading: run() drives the consumer on the calling thread until the stop token fires.
#pragma once

#include <absl/time/clock.h>

#include <memory>
#include <stop_token>
#include <string>

#include "common/kafka/consumer_loop.h"
#include "src/config.h"
#include "src/tier_change.h"
#include "tierflow/v1/campaign.pb.h"

namespace prometheus {
class Registry;
}
namespace tierflow::notification {

class Store;
class OutboxPublisher;
class Sender;
class Clock;
class Channel;

// The consumer of crm.customers.v1 and tiers.assignments.v1: keeps the recipient
// directory (a tombstone, an empty value or a profile marked erased, erases the
// customer's contact data and masks it in stored deliveries), and queues tier-change
// messages in the same transaction as the offsets, for the campaign sender: the same
// send-time rules (transactional consent, quiet hours unless rules.transactional_quiet_hours
// is off, the channel's rate), the same claimed -> in flight -> sent/failed states, on the
// first channel of tier_change.channels the customer can be reached on (the file channel
// when no other is configured); one message per occasion (the message's key).
// Unparseable records go to their `.dlq` (confirmed before the offsets are stored).
// Runs on the consumer loop's thread.
class Worker final : public kafka::BatchHandler {
 public:
  // `outbox` publishes the outcome records (shared with the sender); null: its own.
  // `sender` sends the tier-change messages the worker queues, on its own thread (the
  // service's); null: the worker makes its own and runs its rounds after each batch
  // (tests, tools), on the consumer's thread.
  Worker(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry,
         std::shared_ptr<OutboxPublisher> outbox = nullptr, Sender* sender = nullptr);
  ~Worker() override;
  // Sends what a crash left claimed and unconfirmed, then consumes until stop is
  // requested and leaves the group. Throws on a store failure.
  void run(std::stop_token stop);

  // kafka::BatchHandler (the loop's thread).
  std::optional<int64_t> start_offset(std::string_view topic, int32_t partition) override;
  void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) override;
  // Produces the outbox's unpublished outcome records.
  void tick() override;
  // Claims a crash left unconfirmed go out again, under their original keys.
  void resend_unconfirmed();

  struct Metrics;

 private:
  void send(const v1::Delivery& claimed);
  const Config& cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Channel> file_channel_;
  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<OutboxPublisher> outbox_;
  std::unique_ptr<Clock> own_clock_;    // the inline sender's
  std::unique_ptr<Sender> own_sender_;  // set when no sender was given: run inline
  const Clock* clock_ = nullptr;        // the sender's: queued deliveries are due by it
};

}  // namespace tierflow::notification
