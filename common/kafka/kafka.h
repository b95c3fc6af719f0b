// RAII holders for librdkafka's producer and consumer. The C headers stay out of this
// header; every handle is destroyed in the order librdkafka requires, once, here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace tierflow::kafka {

// The header that names a record's Protocol Buffers type, e.g. "tierflow.v1.PosEvent".
inline constexpr std::string_view kTypeHeader = "tierflow-type";
// On DLQ records: why the original could not be processed.
inline constexpr std::string_view kErrorHeader = "tierflow-error";

using Properties = std::map<std::string, std::string>;

class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

// An idempotent producer (enable.idempotence=true, acks=all): a record reported
// delivered is stored by the broker. A thread of its own serves delivery reports;
// callbacks run on that thread and must not block.
class Producer {
 public:
  using DeliveryFn = std::function<void(const DeliveryReport&)>;

  // `bootstrap` is a host:port list; `extra` are librdkafka properties that win.
  Producer(const std::string& bootstrap, const std::string& client_id, const Properties& extra = {});
  ~Producer();  // flushes up to 10 s, then destroys
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues a record. When the local queue is full it waits for room (bounded by
  // queue_wait), then throws KafkaError. on_delivery is called exactly once.
  void produce(std::string_view topic, std::string_view key, std::string_view value,
               const std::vector<Header>& headers, DeliveryFn on_delivery,
               std::chrono::milliseconds queue_wait = std::chrono::seconds(10));
  // Waits until every queued record is reported; false when the timeout passed first.
  bool flush(std::chrono::milliseconds timeout);
  int64_t in_flight() const;

 private:
  rd_kafka_s* rk_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread poller_;
};

// One consumed record. Owns the librdkafka message; the views live as long as it.
class Record {
 public:
  explicit Record(rd_kafka_message_s* msg);
  ~Record();
  Record(Record&& other) noexcept;
  Record& operator=(Record&&) = delete;
  Record(const Record&) = delete;

  std::string_view topic() const;
  int32_t partition() const;
  int64_t offset() const;
  std::string_view key() const;
  std::string_view value() const;
  int64_t timestamp_ms() const;
  std::optional<std::string_view> header(std::string_view name) const;

 private:
  rd_kafka_message_s* msg_;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1;  // for commits: the next offset to read
};

// A group member with the eager range assignor, so equal partition numbers of
// co-partitioned topics land on one member. Thread-compatible: one thread polls.
class Consumer {
 public:
  // Where to start a newly assigned partition: an offset, or nullopt for the group's
  // committed offset (else auto.offset.reset=earliest). Called on the polling thread.
  using StartFn = std::function<std::optional<int64_t>(std::string_view topic, int32_t partition)>;
  // Called on the polling thread before partitions are taken away or after they arrive.
  using PartitionsFn = std::function<void(const std::vector<TopicPartition>&)>;

  Consumer(const std::string& bootstrap, const std::string& group_id, const std::string& client_id,
           std::chrono::milliseconds session_timeout, const std::vector<std::string>& topics,
           StartFn start = {}, PartitionsFn on_assigned = {}, PartitionsFn on_revoked = {},
           const Properties& extra = {});
  ~Consumer();  // leaves the group (close), then destroys
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Up to `max` records, waiting at most `timeout` for the first one. Errors that are
  // not fatal (partition EOF, transient broker errors) are logged and skipped. Rethrows
  // what a StartFn or PartitionsFn threw during a rebalance inside this poll (librdkafka
  // calls them from C; they must not unwind through it): partitions whose start could
  // not be read are not assigned. After it throws, the position may be past records this
  // call did not return: do not poll again (services exit and resume from their stores).
  std::vector<Record> poll(size_t max, std::chrono::milliseconds timeout);
  // Commits offsets (next to read) asynchronously; advisory when the service keeps its
  // own offsets in its store.
  void commit(const std::vector<TopicPartition>& offsets);
  std::vector<TopicPartition> assignment() const;
  void close();

  // Internal: called from librdkafka's rebalance callback.
  void on_rebalance(int err, void* partitions);

 private:
  rd_kafka_s* rk_ = nullptr;
  StartFn start_;
  PartitionsFn on_assigned_;
  PartitionsFn on_revoked_;
  std::exception_ptr callback_error_;  // thrown by a callback, rethrown by poll()
  bool closed_ = false;
};

// Produces `value` to `topic` and waits for the broker's answer (tests, tools, DLQ).
DeliveryReport produce_sync(Producer& producer, std::string_view topic, std::string_view key, std::string_view value,
                            const std::vector<Header>& headers, std::chrono::milliseconds timeout);

}  // namespace tierflow::kafka
