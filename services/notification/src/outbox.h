// Publishes the outcome records the store keeps in its outbox to notifications.deliveries.v1
// (and FAILED ones to its .dlq), so that every outcome the store recorded reaches the topic
// even across a crash: the store inserts the record unpublished in the transaction that
// records the outcome; tick() produces what is unpublished and marks a record published
// (removes it) only once the broker confirmed it and every record before it.
//
// A failed delivery report makes the record go out again on a later tick; a throwing
// produce() ends the tick (the rest waits for the next one). After a restart everything
// not marked is produced again: the topic is at least once, consumers dedupe on dedupe_key.
//
// Thread-safe: one mutex serializes ticks (the sender and the consumer share one publisher);
// delivery callbacks run on the producer's threads and only touch the shared ack state.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/kafka/producer.h"
#include "src/store.h"

namespace tierflow::notification {

class OutboxPublisher {
 public:
  // Opens its own connection to the store at `store_path`.
  OutboxPublisher(const std::string& store_path, kafka::Producer& producer, int batch = 2000);

  struct Tick {
    size_t produced = 0, published = 0, failed = 0;
    bool stopped = false;  // a produce() threw
  };
  // Marks the confirmed prefix published, requeues failed records, produces the next ones.
  Tick tick();
  // Ticks and flushes until nothing is left to produce or in flight, or `timeout` passed.
  void drain(std::chrono::milliseconds timeout);
  // Records produced and not yet reported.
  size_t in_flight() const;

 private:
  enum class Ack { pending, ok, failed };
  struct Acks {
    mutable std::mutex mu;
    std::map<int64_t, Ack> by_seq;  // guarded by mu
  };
  size_t harvest(Tick& t);  // with mu_ held

  kafka::Producer& producer_;
  const int batch_;
  std::shared_ptr<Acks> acks_;  // shared with the callbacks, which may outlive a tick
  mutable std::mutex mu_;
  Store store_;         // guarded by mu_
  int64_t cursor_ = 0;  // guarded by mu_: every seq <= cursor_ was produced (or published)
};

}  // namespace tierflow::notification
