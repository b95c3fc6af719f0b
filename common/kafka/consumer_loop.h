// The one consumer loop every service uses (shaped like userver's ConsumerScope): it owns
// polling, the rebalance callbacks, where each assigned partition starts, the dead-letter
// policy and a bounded close; the service supplies a BatchHandler.
//
//   poll ─▶ handler.on_positions() ─▶ handler.handle(batch, dead_letters) ─▶ dead_letters.confirm()
//     └──▶ handler.tick()  (after every poll, with or without records: relays, timers)
//   stop ─▶ handler.drain() ─▶ leave the group (bounded) ─▶ run() returns
//
// Offsets: services keep the offsets they applied in their own store, in the same
// transaction as the effects (exactly once); `start_offset` reads them back at every
// assignment, and a partition the store knows nothing of starts at the beginning. The loop
// commits nothing to the consumer group: a group offset could run ahead of a store that
// commits later (a pipelined writer) and make a restart skip records never stored.
//
// Dead letters (the one policy, DESIGN.md): a record a handler cannot use goes to
// `<topic>.dlq` unchanged (key, value, type header) with the reason in `tierflow-error`
// and its origin in `tierflow-origin`, and is confirmed by the broker before any offset
// past it is committed: the handler calls `dead_letters.confirm()` before it commits its
// store; the loop confirms again after handle() returns. A DLQ the broker will not take
// (within `dead_letter_timeout`) throws out of run(): the service stops and its restart
// resumes from the stored offsets, before the poison record.
//
// Threading: run() polls and calls the handler on the calling thread; every handler
// method runs on that thread (the rebalance callbacks run inside poll). What a handler
// method throws ends run() with that exception, after a bounded close.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "common/kafka/producer.h"
#include "common/kafka/record.h"

namespace tierflow::kafka {

using Properties = std::map<std::string, std::string>;

// Sends poison records to their `.dlq` and waits for the broker. One per loop; used on the
// loop's thread only.
class DeadLetters {
 public:
  DeadLetters(Producer& producer, std::chrono::milliseconds timeout);
  ~DeadLetters();
  DeadLetters(const DeadLetters&) = delete;
  DeadLetters& operator=(const DeadLetters&) = delete;

  // Queues `record` to `<its topic>.dlq` with `reason` (does not wait). Logs the origin and
  // the reason once (never the value: it may hold personal data).
  void add(const Record& record, std::string_view reason);
  // Waits until everything added is stored by the broker. Throws KafkaError naming the
  // first record that failed or was not confirmed within the timeout (and, when the
  // producer itself threw, that error). Nothing is pending after it returns or throws.
  void confirm();
  // Added and not yet confirmed.
  size_t pending() const;
  // Confirmed since the loop started.
  uint64_t confirmed_total() const;

 private:
  struct State;
  Producer& producer_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<State> state_;  // shared with delivery callbacks, which may outlive a wait
};

// Asks the brokers where a partition ends now: one round trip, for a decision that must not
// rest on the end the client cached (one fetch old). Used on the loop's thread; valid until
// the next poll.
class EndQuery {
 public:
  virtual ~EndQuery() = default;
  // nullopt when it cannot tell (no answer in time, or a source without brokers).
  virtual std::optional<int64_t> query_end(std::string_view topic, int32_t partition) { return std::nullopt; }
};

class BatchHandler {
 public:
  virtual ~BatchHandler() = default;

  // Where a newly assigned partition starts: the next offset from the service's store, or
  // nullopt when the store has none (then the partition's beginning). Throwing leaves the
  // partitions unassigned and ends run().
  virtual std::optional<int64_t> start_offset(std::string_view topic, int32_t partition) = 0;
  // After partitions are assigned (after every start_offset of the rebalance).
  virtual void on_assigned(const std::vector<TopicPartition>& partitions) {}
  // Before partitions are taken away: commit what is in flight for them, because another
  // instance reads their stored offsets next.
  virtual void on_revoked(const std::vector<TopicPartition>& partitions) {}
  // One batch in consumed order (per partition, offsets ascending). Records that cannot be
  // used go to dead_letters.add(); call dead_letters.confirm() before committing the
  // batch's offsets.
  virtual void handle(std::span<const Record> batch, DeadLetters& dead_letters) = 0;
  // After every poll, before handle() and tick(): where each assigned partition stands once
  // the poll's records are consumed (empty when the source cannot tell), and `ends` to
  // confirm a caught-up one with the broker. For handlers that act on partitions with
  // nothing left to read (the ledger's idle watermarks); the span is valid for the call
  // only, `ends` until the next poll.
  virtual void on_positions(std::span<const PartitionPosition> positions, EndQuery& ends) {}
  // After every poll, also when it returned nothing: relays, schedules, retries.
  virtual void tick() {}
  // Once, when stop was requested, before the group is left: commit and publish what is
  // still in flight.
  virtual void drain() {}
};

struct ConsumerOptions {
  std::string bootstrap;  // host:port list
  std::string group_id;
  std::string client_id;
  std::vector<std::string> topics;
  std::chrono::milliseconds session_timeout{10000};
  size_t max_batch = 1000;                            // records handed to one handle()
  std::chrono::milliseconds poll_timeout{100};        // wait for the first record of a batch
  std::chrono::milliseconds dead_letter_timeout{10000};
  std::chrono::milliseconds close_timeout{10000};     // leaving the group at shutdown
  Properties properties;                              // librdkafka properties that win
};

// Where records come from: the group consumer (kafka.h), or a fake in tests. The loop
// gives the source its rebalance callbacks; the source calls them inside poll().
class RecordSource : public EndQuery {
 public:
  using StartFn = std::function<std::optional<int64_t>(std::string_view topic, int32_t partition)>;
  using PartitionsFn = std::function<void(const std::vector<TopicPartition>&)>;
  struct Callbacks {
    StartFn start;
    PartitionsFn assigned;
    PartitionsFn revoked;
  };
  virtual ~RecordSource() = default;
  // Up to `max` records, waiting at most `timeout` for the first. Rethrows what a callback
  // threw during a rebalance inside this poll.
  virtual std::vector<Record> poll(size_t max, std::chrono::milliseconds timeout) = 0;
  // The assigned partitions' positions after the last poll(), from what the client already
  // knows (no broker round trip). Default: none known.
  virtual std::vector<PartitionPosition> positions() const { return {}; }
  // Leaves the group (revoking what is assigned), bounded by `timeout`.
  virtual void close(std::chrono::milliseconds timeout) = 0;
};

using SourceFactory = std::function<std::unique_ptr<RecordSource>(const ConsumerOptions&, RecordSource::Callbacks)>;

class ConsumerLoop {
 public:
  // With the librdkafka group consumer.
  ConsumerLoop(ConsumerOptions options, BatchHandler& handler, Producer& dead_letter_producer);
  // With another source (tests/support/fake_kafka.h drives the loop this way).
  ConsumerLoop(ConsumerOptions options, BatchHandler& handler, Producer& dead_letter_producer, SourceFactory source);
  ~ConsumerLoop();
  ConsumerLoop(const ConsumerLoop&) = delete;
  ConsumerLoop& operator=(const ConsumerLoop&) = delete;

  // Polls and handles until `stop`; then drain(), close. Rethrows what the handler threw
  // (after closing). Creates the source (joins the group) on entry.
  void run(std::stop_token stop);

  // One iteration of run(): poll, handle, confirm, tick. For drivers that step the
  // loop themselves; the source is created on the first call. Returns the records handled.
  size_t step();
  // What run() does after the stop: drain, then close the source.
  void finish();

  const DeadLetters& dead_letters() const { return dead_letters_; }

 private:
  ConsumerOptions options_;
  BatchHandler& handler_;
  DeadLetters dead_letters_;
  SourceFactory factory_;
  std::unique_ptr<RecordSource> source_;
  bool finished_ = false;
};

}  // namespace tierflow::kafka
