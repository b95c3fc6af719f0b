// RAII holders for librdkafka's producer and group consumer: the implementations of
// kafka::Producer (producer.h) and kafka::RecordSource (consumer_loop.h) that services run
// with. The C headers stay out of this header; every handle is destroyed in the order
// librdkafka requires, once, here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/kafka/consumer_loop.h"
#include "common/kafka/producer.h"
#include "common/kafka/record.h"

struct rd_kafka_s;

namespace tierflow::kafka {

// An idempotent producer (enable.idempotence=true, acks=all): a record reported delivered
// is stored by the broker. A thread of its own serves delivery reports; callbacks run on
// that thread. When the local queue is full, produce() waits for room up to `queue_wait`,
// then throws KafkaError.
//
// Fatal errors (rd_kafka_fatal_error: e.g. librdkafka 2.0.2's idempotence error after a
// broker disconnect with requests in flight, upstream issue 3584) do not end the process:
// the poller thread builds a new librdkafka handle with the same properties and swaps it
// in; the old handle's queued and in-flight records are purged, so their callbacks report
// failure (the caller answers RETRY; a purged in-flight record may still have been
// stored, which the idempotent consumers downstream tolerate). produce() calls between
// the error and the swap throw KafkaError.
class RdkafkaProducer final : public Producer {
 public:
  // `bootstrap` is a host:port list; `extra` are librdkafka properties that win.
  RdkafkaProducer(const std::string& bootstrap, const std::string& client_id, const Properties& extra = {},
                  std::chrono::milliseconds queue_wait = std::chrono::seconds(10));
  ~RdkafkaProducer() override;  // flushes up to 10 s, then destroys
  RdkafkaProducer(const RdkafkaProducer&) = delete;
  RdkafkaProducer& operator=(const RdkafkaProducer&) = delete;

  void produce(std::string_view topic, std::string_view key, std::string_view value, const std::vector<Header>& headers,
               DeliveryFn on_delivery) override;
  // No copy: `value` is kept with the callback until librdkafka reports the record.
  void produce_owned(std::string_view topic, std::string_view key, std::string value,
                     const std::vector<Header>& headers, DeliveryFn on_delivery) override;
  void produce_to(std::string_view topic, int32_t partition, std::string_view key, std::string_view value,
                  const std::vector<Header>& headers, DeliveryFn on_delivery) override;
  bool flush(std::chrono::milliseconds timeout) override;
  int64_t in_flight() const override;

  // Asks the brokers for the partition leaders of `topics` on this handle, so the first
  // record to each does not wait for that round trip (a service calls it before it says
  // it is ready). False when they do not answer within `timeout`; nothing else changes,
  // as produce() asks again when it needs to.
  bool prefetch_metadata(const std::vector<std::string_view>& topics, std::chrono::milliseconds timeout);
  // Handles replaced after a fatal error since construction.
  int64_t rebuilds() const { return rebuilds_.load(); }
  // Tests: raises a fatal error as librdkafka would (rd_kafka_test_fatal_error).
  void test_fatal_error(const std::string& reason);
  // Internal: librdkafka's error callback.
  void on_error(rd_kafka_s* rk, int err, const char* reason);
  // Internal: a queued record's callback (and owned value), freed by its delivery report.
  struct Pending;

 private:
  std::shared_ptr<rd_kafka_s> make_handle();
  std::shared_ptr<rd_kafka_s> handle() const;
  void rebuild();
  // produce(), produce_to() and produce_owned(); partition RD_KAFKA_PARTITION_UA (-1): the
  // partitioner's choice. msgflags 0 hands librdkafka `value` owned by `pending`.
  void enqueue(std::string_view topic, int32_t partition, std::string_view key, std::unique_ptr<Pending> pending,
               std::string_view value, int msgflags, const std::vector<Header>& headers);

  const Properties props_;
  const std::chrono::milliseconds queue_wait_;
  mutable std::mutex mu_;
  std::shared_ptr<rd_kafka_s> rk_;  // guarded by mu_; the current handle
  std::atomic<bool> fatal_{false};  // the current handle raised a fatal error
  std::atomic<int64_t> rebuilds_{0};
  std::atomic<bool> stopping_{false};
  std::thread poller_;
};

// A group member with the eager range assignor, so equal partition numbers of
// co-partitioned topics land on one member. Thread-compatible: one thread polls. Services
// reach it through ConsumerLoop; it is public for tools and integration tests.
class Consumer final : public RecordSource {
 public:
  // Joins the group of `options` and subscribes to its topics. The callbacks run on the
  // polling thread, inside poll(); what they throw is rethrown by poll() (never unwound
  // through librdkafka's C code): partitions whose start could not be read stay
  // unassigned. After poll() threw, the position may be past records it did not return:
  // do not poll again (services exit and resume from their stores).
  Consumer(const ConsumerOptions& options, Callbacks callbacks);
  // Transitional: the positional form the services used before ConsumerLoop. Goes when
  // the last service runs on ConsumerLoop.
  Consumer(const std::string& bootstrap, const std::string& group_id, const std::string& client_id,
           std::chrono::milliseconds session_timeout, const std::vector<std::string>& topics, StartFn start = {},
           PartitionsFn on_assigned = {}, PartitionsFn on_revoked = {}, const Properties& extra = {})
      : Consumer(ConsumerOptions{bootstrap, group_id, client_id, topics, session_timeout, 1000, {}, {}, {}, extra},
                 Callbacks{std::move(start), std::move(on_assigned), std::move(on_revoked)}) {}
  void close() { close(std::chrono::seconds(10)); }
  ~Consumer() override;  // close(10 s) if not done, then destroys
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Errors that are not fatal (partition EOF, transient broker errors) are logged and
  // skipped; a fatal consumer error throws KafkaError.
  std::vector<Record> poll(size_t max, std::chrono::milliseconds timeout) override;
  // next_offset: librdkafka's position (the last record poll() returned + 1); before any
  // record, the start offset given at assignment, or for a start at the beginning the log
  // start librdkafka last heard of (0 when the end is 0). high_watermark: the end cached
  // from the last fetch answer (rd_kafka_get_watermark_offsets: no round trip).
  std::vector<PartitionPosition> positions() const override;
  // rd_kafka_query_watermark_offsets' high offset, waiting up to 5 s.
  std::optional<int64_t> query_end(std::string_view topic, int32_t partition) override;
  // Leaves the group (the revoke callback runs), waiting at most `timeout`.
  void close(std::chrono::milliseconds timeout) override;
  std::vector<TopicPartition> assignment() const;

  // Internal: called from librdkafka's rebalance callback.
  void on_rebalance(int err, void* partitions);

 private:
  rd_kafka_s* rk_ = nullptr;
  Callbacks callbacks_;
  std::exception_ptr callback_error_;  // thrown by a callback, rethrown by poll()
  // Start offsets of the current assignment (a logical offset for "the beginning").
  std::map<std::pair<std::string, int32_t>, int64_t> starts_;
  bool closed_ = false;
};

// The partition count of `topic` from the brokers' metadata (a short-lived handle of its
// own). Throws KafkaError when the brokers do not answer within `timeout` or do not know
// the topic.
int partition_count(const std::string& bootstrap, const std::string& topic, const Properties& extra,
                    std::chrono::milliseconds timeout);

}  // namespace tierflow::kafka
