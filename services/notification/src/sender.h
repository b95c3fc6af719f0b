// The campaign sender: takes due deliveries from the store and sends each exactly once.
//
// One round (run_once): read up to `batch` due deliveries, highest priority first; apply
// the rules at send time (the customer erased or consent withdrawn: SKIPPED; quiet hours
// in the customer's zone: deferred to the morning; the marketing cap: deferred to the
// next free slot; the campaign's window closed: SKIPPED; the channel's rate: left for a
// later round); mark the rest in flight (attempts + 1) in ONE transaction; send them on
// `threads` threads; write the outcomes in ONE transaction (SENT; retryable: due again
// after a backoff; permanent or out of attempts: FAILED and to notifications.deliveries.v1.dlq
// with the reason); publish every final outcome to notifications.deliveries.v1.
//
// A crash after the first transaction leaves rows CLAIMED with attempts > 0: they are
// due, and the next round sends them again under the same dedupe key (the provider's
// idempotency key). A crash after the second loses nothing but, possibly, outcome records.
//
// Threading: run() on one thread (it owns its Store); sends fan out to worker threads.
// Channels must be thread-safe (channels/channel.h).
#pragma once

#include <absl/time/time.h>

#include <map>
#include <memory>
#include <stop_token>
#include <string>

#include "common/kafka/producer.h"
#include "services/notification/src/channels/channel.h"
#include "src/clock.h"
#include "src/config.h"
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
  Sender(const Config& cfg, const Clock& clock, kafka::Producer& producer, ChannelMap channels,
         prometheus::Registry* registry);
  ~Sender();

  struct Round {
    size_t sent = 0, deferred = 0, skipped = 0, failed = 0, retried = 0, waiting = 0;
    size_t handled() const { return sent + deferred + skipped + failed + retried; }
  };
  // One round as above.
  Round run_once();
  // Rounds until stop; sleeps idle_poll when nothing is due. Throws on a store failure.
  void run(std::stop_token stop);

  struct Metrics;

 private:
  void publish(const v1::Delivery& d);
  bool take_token(const std::string& channel);

  const Config& cfg_;
  const Clock& clock_;
  kafka::Producer& producer_;
  ChannelMap channels_;
  Store store_;
  std::unique_ptr<Metrics> metrics_;
  std::map<std::string, v1::CampaignRequest> campaigns_;  // cache: requests never change
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  std::map<std::string, Bucket> buckets_;
};

// Whether `local` (the customer's wall clock) is in quiet hours [start, end), wrapping
// midnight when start > end; and the first instant after `now` that is not.
bool in_quiet_hours(int hour, int start, int end);
absl::Time quiet_hours_end(absl::Time now, const absl::TimeZone& zone, int start, int end);

}  // namespace tierflow::notification
