// ingest::Deduper: the fast duplicate check in front of Kafka. The ledger is the final
// judge of duplicates; this only keeps most resends from being written twice.
//
// The window has two parts: the event ids in flight in this process (being written to
// Kafka) and, in Redis, the ids Kafka confirmed ("tf:seen:<id>", expiring after the
// window; written in groups, one group in flight at a time, so marks confirmed meanwhile
// share the next round trip). A copy that arrives while the first copy is in flight waits for the first's
// outcome: stored (DUPLICATE) or not (RETRY), so a resend is never acked before anything
// is stored. A confirmed id leaves the in-flight map only once Redis answered its mark.
//
// Redis is reached through the process's one redis::Mux: the ids of a call (or of a
// stream's batch) are checked in one round trip (one MGET for all of them),
// bounded by `check_timeout` (a DelayQueue of the Deduper's own times it out). When
// Redis is slow or gone the check degrades to the in-flight map alone (counted in
// `degraded`), and Redis is not asked again for `backoff`, so a dead Redis costs one
// timeout per backoff period, not one per event.
//
// Threading: thread-safe. begin() blocks the calling thread up to check_timeout;
// begin_async() never blocks on I/O and completes on the Mux's I/O thread, the timeout
// thread, or (no Redis asked) the calling thread. finish() never blocks on I/O; it runs the waiters on the
// calling thread (the producer's delivery thread). Mark callbacks run on the Mux's I/O
// thread and only take this object's lock.
// Lifecycle: the Mux must outlive the Deduper. The destructor waits up to
// `drain_timeout` for marks still being written to Redis.
#pragma once

#include <absl/time/time.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/delay_queue.h"

namespace prometheus {
class Counter;
}

namespace tierflow::redis {
class Mux;
}

namespace tierflow::ingest {

class Deduper {
 public:
  enum class Seen {
    kNew,      // the caller owns the id until it calls finish()
    kStored,   // an earlier copy is stored
    kWaiting,  // an earlier copy is in flight; the waiter gets its outcome
  };
  // Called once with the first copy's outcome (true: stored).
  using Waiter = std::function<void(bool stored)>;

  struct Options {
    bool enabled = true;
    absl::Duration window = absl::Hours(24 * 7);  // how long Redis remembers a stored id
    std::chrono::milliseconds check_timeout{100};
    std::chrono::milliseconds backoff{1000};        // no Redis check this long after a failure
    std::chrono::milliseconds drain_timeout{2000};  // destructor's wait for marks
  };
  struct Counters {
    prometheus::Counter& errors;    // Redis round trips that failed or timed out
    prometheus::Counter& degraded;  // ids checked only against the in-flight map
  };

  Deduper(Options options, redis::Mux& mux, Counters counters);
  ~Deduper();
  Deduper(const Deduper&) = delete;
  Deduper& operator=(const Deduper&) = delete;

  static std::string key(std::string_view event_id) { return "tf:seen:" + std::string(event_id); }

  // The answers of begin_async, one per id, in order.
  using Done = std::function<void(std::vector<Seen>)>;

  // As begin(), without blocking: `done` is called exactly once, within check_timeout
  // (plus scheduling), with the answers; it must not block.
  void begin_async(std::vector<std::string> ids, std::vector<Waiter> waiters, Done done);

  // One answer per id, in order, from one Redis round trip. `waiters` are moved from
  // (and later called) exactly when the answer is kWaiting. An id given twice in `ids`:
  // the second copy waits for the first.
  std::vector<Seen> begin(const std::vector<std::string>& ids, std::vector<Waiter>& waiters);
  Seen begin(const std::string& id, Waiter waiter);

  // Kafka answered for a kNew id. Runs its waiters with `stored` on this thread. A stored
  // id stays known (later copies: kStored) until Redis has its mark.
  void finish(const std::string& id, bool stored);

  // For tests and probes: copies waiting for a first copy, and ids in flight.
  size_t waiting() const;
  size_t in_flight() const;

  struct State;

 private:
  const Options options_;
  redis::Mux& mux_;
  std::shared_ptr<State> state_;  // shared with mark callbacks on the Mux's thread
  std::unique_ptr<DelayQueue> timeouts_;  // check_timeout; destroyed first (runs what is left)
};

}  // namespace tierflow::ingest
