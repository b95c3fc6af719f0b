// The produce interface services depend on. The librdkafka producer (kafka.h,
// RdkafkaProducer) is one implementation; tests/support/fake_kafka.h has an in-memory one,
// so relays, publishers and dedupers are unit-tested without a broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tierflow::kafka {

// The header that names a record's Protocol Buffers type, e.g. "tierflow.v1.PosEvent".
inline constexpr std::string_view kTypeHeader = "tierflow-type";
// On DLQ records: why the original could not be processed.
inline constexpr std::string_view kErrorHeader = "tierflow-error";
// On DLQ records: where the original was, "topic/partition@offset".
inline constexpr std::string_view kOriginHeader = "tierflow-origin";

class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A null value: produced as `value`, a record with no value at all, which a compacted
// topic reads as "delete this key" (a tombstone). An empty string that is not this view
// (its data() is not null) is an empty value, not a tombstone.
inline constexpr std::string_view kTombstone{};

struct Header {
  std::string name;
  std::string value;
};

struct DeliveryReport {
  bool ok = false;
  std::string error;  // empty when ok
  int32_t partition = -1;
  int64_t offset = -1;
};

// Thread-safe: produce/flush/in_flight from any thread.
class Producer {
 public:
  using DeliveryFn = std::function<void(const DeliveryReport&)>;
  virtual ~Producer() = default;

  // Queues a record. When it returns, `on_delivery` will be called exactly once, on a
  // thread of the producer's (it may already have run); it must not block. When it
  // throws KafkaError (local queue full past the implementation's bound, unknown topic,
  // fatal producer state), `on_delivery` is never called: nothing was queued.
  virtual void produce(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<Header>& headers, DeliveryFn on_delivery) = 0;
  // As produce(), taking ownership of `value`: an implementation may hand the bytes to the
  // broker client without copying them and free them once the record is reported (the
  // librdkafka one does). The default copies through produce().
  virtual void produce_owned(std::string_view topic, std::string_view key, std::string value,
                             const std::vector<Header>& headers, DeliveryFn on_delivery) {
    produce(topic, key, value, headers, std::move(on_delivery));
  }
  // As produce(), to partition `partition` (>= 0) of `topic` rather than the one the
  // partitioner picks for `key`: records that describe a partition of a co-partitioned
  // topic (e.g. the ledger's watermarks). The default throws KafkaError (nothing queued):
  // an implementation that cannot choose partitions.
  virtual void produce_to(std::string_view topic, int32_t partition, std::string_view key, std::string_view value,
                          const std::vector<Header>& headers, DeliveryFn on_delivery);
  // Waits until every queued record is reported; false when the timeout passed first.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
  // Records queued and not yet reported.
  virtual int64_t in_flight() const = 0;
};

// Produces `value` to `topic` and waits for the broker's answer (tests, tools). A throwing
// produce() comes back as a report with ok = false and the error.
DeliveryReport produce_sync(Producer& producer, std::string_view topic, std::string_view key, std::string_view value,
                            const std::vector<Header>& headers, std::chrono::milliseconds timeout);

}  // namespace tierflow::kafka
