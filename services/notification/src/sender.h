// The campaign sender: takes due deliveries from the store and sends each exactly once.
//
// Deliveries move claimed -> in flight (attempts + 1, written BEFORE the send) -> SENT,
// FAILED or due again (written AFTER). One round (run_once): read up to `batch` due deliveries, highest priority first;
// apply the rules at send time (the customer erased or consent withdrawn: SKIPPED; quiet hours in the customer's zone:
// deferred to the morning; the marketing cap: deferred to the next free slot; the campaign's window closed: SKIPPED;
// the channel's rate: left for a later round); mark the rest in flight (attempts + 1) in ONE transaction; send them on
// `threads` threads; write the outcomes in ONE transaction (SENT; retryable: due again
// after a backoff; permanent or out of attempts: FAILED and to notifications.deliveries.v1.dlq
// with the reason); every final outcome goes into the store's outbox in the same transaction, and
// the outbox publisher (outbox.h) produces it to notifications.deliveries.v1 on the next tick.
//
// A crash after the first transaction leaves rows CLAIMED with attempts > 0: they are
// due, and the next round sends them again under the same dedupe key (the provider's
// idempotency key). A crash after the second loses nothing: the outcome records wait in the outbox.
//
// run() pipelines the same steps: the next batch is read, checked and marked while up to
// two batches are being sent, and outcomes are confirmed as they come in.
//
// Threading: run() or run_once() on one thread (it owns its Store); sends go to a pool of
// `threads` workers. One Sender per store: its constructor releases the in-flight marks a
// crash left (the sweep). Channels must be thread-safe (channels/channel.h).
#pragma once

#include <absl/time/time.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "common/kafka/producer.h"
#include "services/notification/src/channels/channel.h"
#include "src/clock.h"
#include "src/config.h"
#include "src/outbox.h"
#include "src/store.h"

namespace prometheus {
class Registry;
}

namespace tierflow::notification {

// v1::Channel -> the channel sending it.
using ChannelMap = std::map<int, std::shared_ptr<channels::Channel>>;

// The channels the config enables (SMTP, SMS gateway, webhook, the file outbox).
ChannelMap make_channels(const Config& cfg);

class Sender {
 public:
  // `outbox` publishes the outcome records (shared with the consumer in the service);
  // null: the sender makes its own over cfg.store_path and `producer`.
  Sender(const Config& cfg, const Clock& clock, kafka::Producer& producer, ChannelMap channels,
         prometheus::Registry* registry, std::shared_ptr<OutboxPublisher> outbox = nullptr);
  ~Sender();

  struct Round {
    size_t sent = 0, deferred = 0, skipped = 0, failed = 0, retried = 0, waiting = 0;
    size_t handled() const { return sent + deferred + skipped + failed + retried; }
  };
  // One round as above.
  Round run_once();
  // Rounds until stop; sleeps idle_poll when nothing is due. Throws on a store failure.
  void run(std::stop_token stop);

  // The clock every "now" of the sender reads (queuers date their deliveries by it).
  const Clock& clock() const { return clock_; }

  struct Metrics;

 private:
  struct Job {
    DeliveryUpdate update;
    channels::Message message;
  };
  // Reads due deliveries, applies the rules, writes the marks; queues the sends.
  void dispatch(Round& round, std::vector<v1::Delivery>& outcomes);
  // Writes the outcomes of finished sends (all in flight when wait_all).
  void collect(Round& round, std::vector<v1::Delivery>& outcomes, bool wait_all);
  void worker(std::stop_token stop);
  bool take_token(const std::string& channel);

  const Config& cfg_;
  const Clock& clock_;
  kafka::Producer& producer_;
  ChannelMap channels_;
  Store store_;
  std::shared_ptr<OutboxPublisher> outbox_;
  std::unique_ptr<Metrics> metrics_;
  std::map<std::string, v1::CampaignRequest> campaigns_;  // cache: requests never change
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  std::map<std::string, Bucket> buckets_;

  std::mutex mu_;
  std::condition_variable_any work_;
  std::condition_variable finished_;
  std::deque<Job> queue_;                                              // guarded by mu_
  std::vector<std::pair<DeliveryUpdate, channels::SendResult>> done_;  // guarded by mu_
  size_t in_flight_ = 0;                                               // guarded by mu_
  std::vector<std::jthread> pool_;                                     // last: joined before the rest is destroyed
};

// Whether `local` (the customer's wall clock) is in quiet hours [start, end), wrapping
// midnight when start > end; and the first instant after `now` that is not.
bool in_quiet_hours(int hour, int start, int end);
absl::Time quiet_hours_end(absl::Time now, const absl::TimeZone& zone, int start, int end);

}  // namespace tierflow::notification
