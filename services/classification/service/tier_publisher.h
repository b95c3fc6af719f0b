// Publishes changed tier assignments: to tiers.assignments.v1 (Kafka), to Redis (the hashes
// GetTier reads) and to the WatchTierChanges callers. The store's history rows are the
// outbox: a row stays unpublished until the broker confirmed it, and what was never
// confirmed is produced again, same version (consumers dedupe by version). Redis is a
// cache of the store's current assignments: when a write failed, or Redis lost its data
// (our marker key is gone), every current assignment is written again from the store.
//
// Lifecycle: owned by TierKeeper, after the store and the probe it is given (both outlive
// it). The producer outlives it too; its delivery callbacks may run after the publisher is
// gone (they share only `deliveries_`).
// Threading: publish, republish_unconfirmed, maintain and take_confirmed are called by
// the keeper under its unique lock (one caller at a time: they use the store and the Redis
// writer). attention_due may be called without it. watch/unwatch/close_watchers are
// thread-safe (gRPC threads).
#pragma once

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/config.h"
#include "service/watcher.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::kafka {
class Producer;
}

namespace tierflow::classification {

class Probe;
class Store;

// Redis layout: one hash per customer, readable with redis-cli:
//   HGETALL tf:tier:<customer>  -> tier, previous_tier, reason, version, standard, credit_hold, proto
// `proto` is the serialised v1::TierAssignment GetTier answers with as it is.
inline std::string redis_key(std::string_view customer_id) { return "tf:tier:" + std::string(customer_id); }

class TierPublisher {
 public:
  TierPublisher(const Config& cfg, kafka::Producer& producer, Store& store, Probe& probe);
  ~TierPublisher();
  TierPublisher(const TierPublisher&) = delete;
  TierPublisher& operator=(const TierPublisher&) = delete;

  // Produces `changed` (already committed to the store), writes them to Redis and offers
  // them to the watchers. Never throws: a produce that fails marks the outbox for a
  // republish, a Redis failure marks Redis for a refill.
  void publish(const std::vector<const v1::TierAssignment*>& changed);

  // True when a delivery failed or Redis is due for another refill attempt: the keeper's
  // loop then calls maintain() even without input.
  bool attention_due(std::chrono::steady_clock::time_point now) const;
  // Republishes what the broker never confirmed (at start, after a failed delivery) and
  // refills Redis when it missed writes or lost its data (retried at most once a second
  // while Redis is down). Throws what the store throws.
  void maintain(std::chrono::steady_clock::time_point now);

  // Moves the (customer, version) pairs the broker confirmed since the last call into
  // `out`, for the keeper's next store commit (which marks them published).
  void take_confirmed(std::vector<std::pair<std::string, int64_t>>& out);

  // Registers a watcher of published changes; unwatch when the call ends.
  std::shared_ptr<Watcher> watch(std::vector<std::string> tiers);
  void unwatch(const std::shared_ptr<Watcher>& w);
  // Ends every watch (shutdown) and refuses new ones: their calls return UNAVAILABLE.
  void close_watchers();

 private:
  void produce(const std::vector<const v1::TierAssignment*>& assignments);
  void republish_unconfirmed();
  void refill_redis_if_lost();

  const Config& cfg_;
  kafka::Producer& producer_;
  Store& store_;
  Probe& probe_;
  std::unique_ptr<class RedisWriter> redis_;

  // Broker confirmations, shared with the producer's delivery callbacks (which may run
  // after the publisher is gone, while the producer flushes).
  struct Deliveries {
    std::mutex mu;
    std::vector<std::pair<std::string, int64_t>> confirmed ABSL_GUARDED_BY(mu);  // (customer, version)
    bool failed ABSL_GUARDED_BY(mu) = false;  // a delivery failed: publish the outbox again
  };
  std::shared_ptr<Deliveries> deliveries_;
  // Kafka must see the unpublished history rows again (at start; after a produce threw).
  std::atomic<bool> republish_{true};
  // Redis missed a write: every current assignment is written again when it answers.
  std::atomic<bool> redis_stale_{false};
  std::atomic<std::chrono::steady_clock::time_point> redis_retry_at_{};

  std::mutex watchers_mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(watchers_mu_);
  bool watchers_closed_ ABSL_GUARDED_BY(watchers_mu_) = false;
};

}  // namespace tierflow::classification
