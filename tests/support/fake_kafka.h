// In-memory Kafka for unit tests: a Producer that stores what it is given (with injectable
// failures), and a driver that feeds the real ConsumerLoop from in-memory partitions. So a
// service's handler, relay, publisher and deduper are tested without a broker, through the
// same loop the service runs.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/consumer_loop.h"
#include "common/kafka/producer.h"
#include "common/kafka/record.h"

namespace tierflow::testing {

// Thread-safe. In `immediate` mode a record is reported delivered inside produce() (on the
// caller's thread, as librdkafka may do on its own thread); in `manual` mode reports wait
// for deliver().
class FakeProducer final : public kafka::Producer {
 public:
  enum class Mode { immediate, manual };
  struct Sent {
    std::string topic;
    std::string key;
    std::string value;
    std::vector<kafka::Header> headers;
    int32_t partition = -1;  // produce_to()'s; -1: produce() (the partitioner's choice)
    bool tombstone = false;  // produced with a null value (kafka::kTombstone)
    std::optional<std::string> header(std::string_view name) const;
  };

  explicit FakeProducer(Mode mode = Mode::immediate) : mode_(mode) {}

  void produce(std::string_view topic, std::string_view key, std::string_view value,
               const std::vector<kafka::Header>& headers, DeliveryFn on_delivery) override;
  void produce_to(std::string_view topic, int32_t partition, std::string_view key, std::string_view value,
                  const std::vector<kafka::Header>& headers, DeliveryFn on_delivery) override;
  // Immediate mode: true. Manual mode: true when nothing is pending (it does not deliver).
  bool flush(std::chrono::milliseconds timeout) override;
  int64_t in_flight() const override;

  // The next `n` produce() calls throw KafkaError(error); nothing is queued for them.
  void throw_on_produce(size_t n, std::string error = "fake producer: local queue full");
  // The next `n` deliveries report failure with `error`; those records are not stored.
  void fail_deliveries(size_t n, std::string error = "fake producer: broker unavailable");
  // Manual mode: reports up to `n` pending records, oldest first. Returns how many.
  size_t deliver(size_t n = SIZE_MAX);

  // Records the "broker" stored (delivered with ok = true), in order.
  std::vector<Sent> stored() const;
  std::vector<Sent> stored(std::string_view topic) const;
  // produce() calls, including the ones that threw.
  size_t attempts() const;

 private:
  struct Pending {
    Sent record;
    DeliveryFn on_delivery;
  };
  void report(Pending p, std::unique_lock<std::mutex>& lock);
  const Mode mode_;
  mutable std::mutex mu_;
  std::deque<Pending> pending_;
  std::vector<Sent> stored_;
  size_t throw_next_ = 0;
  std::string throw_error_;
  size_t fail_next_ = 0;
  std::string fail_error_;
  size_t attempts_ = 0;
  std::map<std::string, int64_t> next_offset_;  // per topic, for reports
};

// Drives a kafka::ConsumerLoop over in-memory partitions. Single-threaded: call from the
// test's thread. The source's positions() report each assigned partition's next offset and
// its log's end (everything pushed so far), so a partition is caught up once all of it was
// polled. A rebalance asked for with assign()/revoke() happens inside the next
// step(), as librdkafka's does inside poll().
class LoopDriver {
 public:
  LoopDriver(kafka::BatchHandler& handler, kafka::Producer& dead_letter_producer,
             kafka::ConsumerOptions options = {});
  ~LoopDriver();

  // Appends a record to topic/partition at the next offset of that partition; returns it.
  int64_t push(std::string_view topic, int32_t partition, std::string_view key, std::string_view value,
               std::vector<kafka::Header> headers = {});
  // The next step() assigns these partitions (start_offset is asked for each; nullopt
  // means the beginning), then calls on_assigned.
  void assign(std::vector<kafka::TopicPartition> partitions);
  // The next step() calls on_revoked with everything assigned, then unassigns it.
  void revoke();

  // One iteration of the loop (poll, handle, confirm, tick). Rethrows what the
  // handler or a rebalance callback threw. Returns the records handled.
  size_t step();
  // step() until a step handles no record; returns the records handled.
  size_t run_until_idle();
  // drain() and close, as at shutdown.
  void finish();

  // Where each assigned partition will be read next.
  std::map<std::pair<std::string, int32_t>, int64_t> positions() const;
  kafka::ConsumerLoop& loop() { return *loop_; }

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<kafka::ConsumerLoop> loop_;
};

}  // namespace tierflow::testing
