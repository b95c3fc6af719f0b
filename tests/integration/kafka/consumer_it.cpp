// The consumer's rebalance callbacks run inside librdkafka's C code: what they throw must
// come back out of poll(), not unwind through C (which would terminate the process), and
// partitions whose start could not be read must not be consumed.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "common/kafka/consumer_loop.h"

#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"

namespace tierflow {
namespace {

using namespace std::chrono_literals;

TEST(KafkaConsumer, StartFailureIsThrownByPollAndNothingIsConsumed) {
  test_support::TempDir dir;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 2, 1});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "consumer-it");
  for (int i = 0; i < 4; ++i) {
    auto r = kafka::produce_sync(producer, topics::kPosEvents, "c-" + std::to_string(i), "v", {}, 10s);
    ASSERT_TRUE(r.ok) << r.error;
  }

  int starts = 0;
  kafka::Consumer consumer(broker.bootstrap(), "consumer-it", "consumer-it", 6000ms, {std::string(topics::kPosEvents)},
                           [&](std::string_view, int32_t) -> std::optional<int64_t> {
                             ++starts;
                             throw std::runtime_error("offset store unavailable");
                           });
  size_t consumed = 0;
  std::string error;
  for (int i = 0; i < 100 && error.empty(); ++i) {
    try {
      consumed += consumer.poll(100, 200ms).size();
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
  }
  EXPECT_EQ(error, "offset store unavailable");
  EXPECT_EQ(starts, 1);  // the first partition's start threw; the rest were not asked
  EXPECT_EQ(consumed, 0u);
  EXPECT_TRUE(consumer.assignment().empty());
}

// ingest asks for its topics' leaders before it says it is ready: true from a broker that
// has them, false (not a hang, not a throw) when no broker answers.
TEST(KafkaProducer, PrefetchMetadataIsTrueFromABrokerAndFalseWithoutOne) {
  test_support::TempDir dir;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 2, 1});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "prefetch-it");
  EXPECT_TRUE(producer.prefetch_metadata({topics::kPosEvents, topics::kCustomers}, 10s));
  auto r = kafka::produce_sync(producer, topics::kPosEvents, "c-1", "v", {}, 10s);
  EXPECT_TRUE(r.ok) << r.error;

  kafka::RdkafkaProducer nobody("127.0.0.1:1", "prefetch-it");
  EXPECT_FALSE(nobody.prefetch_metadata({topics::kPosEvents}, 300ms));
}

// close() with fetched records still queued (the consumer took one of many): the close
// forwards them to its queue, and serving that queue in callback mode aborted the process
// in librdkafka (rdkafka_queue.c "res != RD_KAFKA_OP_RES_PASS"); seen when a service
// stopped mid-stream.
TEST(KafkaConsumer, CloseWithFetchedRecordsStillQueuedLeavesTheGroup) {
  test_support::TempDir dir;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 1, 1});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "close-it");
  for (int i = 0; i < 2000; ++i) {
    producer.produce(topics::kPosEvents, "c-" + std::to_string(i % 50), std::string(200, 'v'), {},
                     [](const kafka::DeliveryReport&) {});
  }
  ASSERT_TRUE(producer.flush(10s));
  for (int round = 0; round < 3; ++round) {
    kafka::Consumer consumer(broker.bootstrap(), "close-it", "close-it", 6000ms, {std::string(topics::kPosEvents)},
                             [](std::string_view, int32_t) -> std::optional<int64_t> { return 0; });
    size_t taken = 0;
    for (int i = 0; i < 200 && taken == 0; ++i) taken = consumer.poll(1, 100ms).size();
    ASSERT_EQ(taken, 1u) << "round " << round;
    consumer.close(5s);
    EXPECT_TRUE(consumer.assignment().empty()) << "round " << round;
  }
}

// The loop against a real broker: a poison record is in <topic>.dlq with its reason and
// origin before the handler stores its offset, and the good records are handled.
TEST(ConsumerLoop, PoisonLandsInTheDlqOnARealBroker) {
  test_support::TempDir dir;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 1, 1});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "loop-it");
  for (std::string v : {"good-1", "poison", "good-2"}) {
    auto r = kafka::produce_sync(producer, topics::kPosEvents, "c-1", v,
                                 {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}}, 10s);
    ASSERT_TRUE(r.ok) << r.error;
  }
  struct Handler : kafka::BatchHandler {
    std::optional<int64_t> start_offset(std::string_view, int32_t) override { return stored; }
    void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dlq) override {
      for (const auto& r : batch) {
        if (r.value() == "poison") {
          dlq.add(r, "not a PosEvent");
        } else {
          good.emplace_back(r.value());
        }
      }
      dlq.confirm();
      stored = batch.back().offset() + 1;
    }
    std::optional<int64_t> stored;
    std::vector<std::string> good;
  } handler;
  kafka::ConsumerOptions options;
  options.bootstrap = broker.bootstrap();
  options.group_id = "loop-it";
  options.client_id = "loop-it";
  options.topics = {std::string(topics::kPosEvents)};
  options.session_timeout = 6000ms;
  kafka::ConsumerLoop loop(options, handler, producer);
  for (int i = 0; i < 200 && handler.good.size() < 2; ++i) loop.step();
  loop.finish();
  EXPECT_EQ(handler.good, (std::vector<std::string>{"good-1", "good-2"}));
  EXPECT_EQ(handler.stored, 3);
  const auto dlq = test_support::read_topic(broker.bootstrap(), topics::dlq(topics::kPosEvents), 20s);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].value, "poison");
  EXPECT_EQ(dlq[0].key, "c-1");
  EXPECT_EQ(dlq[0].headers.at(std::string(kafka::kErrorHeader)), "not a PosEvent");
  EXPECT_EQ(dlq[0].headers.at(std::string(kafka::kOriginHeader)), "pos.events.v1/0@1");
  EXPECT_EQ(dlq[0].headers.at(std::string(kafka::kTypeHeader)), "tierflow.v1.PosEvent");
}

// Positions on a real broker (the seam of the ledger's idle watermarks): a partition with
// records still unread is never caught up; once all are handed out it is, and an empty
// partition read from the beginning is too, from the ends cached from the fetch answers.
void positions_case(bool verify) {
  test_support::TempDir dir;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 2, 1});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "positions-it");
  constexpr int kRecords = 5;
  for (int i = 0; i < kRecords; ++i) {
    std::promise<kafka::DeliveryReport> done;
    producer.produce_to(topics::kPosEvents, 0, "c-1", std::to_string(i), {},
                        [&](const kafka::DeliveryReport& r) { done.set_value(r); });
    ASSERT_TRUE(done.get_future().get().ok);
  }
  struct Handler : kafka::BatchHandler {
    std::optional<int64_t> start_offset(std::string_view, int32_t) override { return std::nullopt; }
    void on_positions(std::span<const kafka::PartitionPosition> p, kafka::EndQuery& e) override {
      last.assign(p.begin(), p.end());
      ends = &e;
    }
    kafka::EndQuery* ends = nullptr;
    void handle(std::span<const kafka::Record> batch, kafka::DeadLetters&) override {
      seen += batch.size();
      for (const auto& p : last) {
        if (p.partition == 0 && p.next_offset < kRecords && p.caught_up()) ++caught_up_too_early;
        if (p.partition == 0 && p.next_offset < kRecords) ++lagging_seen;
      }
    }
    const kafka::PartitionPosition* find(int32_t partition) const {
      for (const auto& p : last) {
        if (p.partition == partition) return &p;
      }
      return nullptr;
    }
    std::vector<kafka::PartitionPosition> last;
    size_t seen = 0;
    int caught_up_too_early = 0, lagging_seen = 0;
  } handler;
  kafka::ConsumerOptions options;
  options.bootstrap = broker.bootstrap();
  options.group_id = "positions-it";
  options.client_id = "positions-it";
  options.topics = {std::string(topics::kPosEvents)};
  options.session_timeout = 6000ms;
  options.max_batch = 1;  // one record per batch: partition 0 lags for four of them
  kafka::ConsumerLoop loop(options, handler, producer);
  const auto both_caught_up = [&] {
    const auto* p0 = handler.find(0);
    const auto* p1 = handler.find(1);
    return p0 != nullptr && p1 != nullptr && p0->caught_up() && p1->caught_up();
  };
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!(handler.seen == kRecords && both_caught_up()) && std::chrono::steady_clock::now() < deadline) loop.step();
  EXPECT_EQ(handler.seen, static_cast<size_t>(kRecords));
  ASSERT_TRUE(both_caught_up());
  EXPECT_EQ(handler.find(0)->next_offset, kRecords);
  EXPECT_EQ(handler.find(0)->high_watermark, kRecords);
  EXPECT_EQ(handler.find(1)->next_offset, 0);
  EXPECT_EQ(handler.caught_up_too_early, 0);
  EXPECT_GT(handler.lagging_seen, 0);
  if (verify) {  // the broker's answer, not the cached end
    ASSERT_NE(handler.ends, nullptr);
    EXPECT_EQ(handler.ends->query_end(topics::kPosEvents, 0), kRecords);
    EXPECT_EQ(handler.ends->query_end(topics::kPosEvents, 1), 0);
  }
  loop.finish();
}

TEST(ConsumerLoop, PositionsSayWhenAPartitionIsCaughtUp) { positions_case(false); }

// The same, and the ends as the broker answers them (EndQuery: rd_kafka_query_watermark_offsets).
TEST(ConsumerLoop, VerifiedPositionsSayWhenAPartitionIsCaughtUp) { positions_case(true); }

// Leaving the group is bounded: with the broker paused (SIGSTOP, as in a partition), close
// returns after close_timeout instead of hanging shutdown.
TEST(ConsumerLoop, CloseIsBoundedWhenTheBrokerDoesNotAnswer) {
  test_support::TempDir dir;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 1, 1});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "close-it");
  ASSERT_TRUE(kafka::produce_sync(producer, topics::kPosEvents, "c-1", "v", {}, 10s).ok);
  struct Handler : kafka::BatchHandler {
    std::optional<int64_t> start_offset(std::string_view, int32_t) override { return std::nullopt; }
    void handle(std::span<const kafka::Record> batch, kafka::DeadLetters&) override { seen += batch.size(); }
    size_t seen = 0;
  } handler;
  kafka::ConsumerOptions options;
  options.bootstrap = broker.bootstrap();
  options.group_id = "close-it";
  options.client_id = "close-it";
  options.topics = {std::string(topics::kPosEvents)};
  options.session_timeout = 6000ms;
  options.close_timeout = 1500ms;
  kafka::ConsumerLoop loop(options, handler, producer);
  for (int i = 0; i < 200 && handler.seen == 0; ++i) loop.step();
  ASSERT_EQ(handler.seen, 1u);
  ::kill(broker.process().pid(), SIGSTOP);
  const auto started = std::chrono::steady_clock::now();
  loop.finish();
  const auto took = std::chrono::steady_clock::now() - started;
  ::kill(broker.process().pid(), SIGCONT);
  EXPECT_LT(took, 6s);  // close_timeout plus the consumer's own teardown, far below a hang
}

// The broker paused (SIGSTOP, as in a network partition) for longer than the session
// timeout and resumed: the group member comes back, every partition is assigned again and
// what is produced after the pause is consumed, within a bound, from the offsets the
// handler stored (nothing skipped, nothing handled twice).
TEST(ConsumerLoop, PartitionsAreConsumedAgainAfterTheBrokerWasPaused) {
  test_support::TempDir dir;
  constexpr int kPartitions = 12;
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), kPartitions, 3});
  kafka::RdkafkaProducer producer(broker.bootstrap(), "pause-it");
  constexpr int kPerRound = 120;
  std::map<int32_t, int64_t> produced;  // records per partition, from the delivery reports
  const auto produce_round = [&](int round) {
    for (int i = 0; i < kPerRound; ++i) {
      auto r = kafka::produce_sync(producer, topics::kPosEvents, "r" + std::to_string(round) + "-" + std::to_string(i),
                                   std::to_string(round), {}, 20s);
      ASSERT_TRUE(r.ok) << r.error;
      ++produced[r.partition];
    }
  };
  struct Handler : kafka::BatchHandler {
    std::optional<int64_t> start_offset(std::string_view, int32_t partition) override {
      auto it = next.find(partition);
      return it == next.end() ? std::nullopt : std::optional<int64_t>(it->second);
    }
    void handle(std::span<const kafka::Record> batch, kafka::DeadLetters&) override {
      for (const auto& r : batch) {
        if (auto it = next.find(r.partition()); it != next.end() && r.offset() != it->second) ++out_of_order;
        next[r.partition()] = r.offset() + 1;
        seen.insert(std::string(r.key()));
      }
    }
    void on_assigned(const std::vector<kafka::TopicPartition>&) override { ++assignments; }
    std::map<int32_t, int64_t> next;  // the "store": next offset per partition
    std::set<std::string> seen;
    int out_of_order = 0;
    int assignments = 0;
  } handler;
  kafka::ConsumerOptions options;
  options.bootstrap = broker.bootstrap();
  options.group_id = "pause-it";
  options.client_id = "pause-it";
  options.topics = {std::string(topics::kPosEvents)};
  options.session_timeout = 6000ms;  // the local stack's
  kafka::ConsumerLoop loop(options, handler, producer);
  const auto consume_until = [&](size_t want, std::chrono::seconds bound) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (handler.seen.size() < want && std::chrono::steady_clock::now() < deadline) loop.step();
    return handler.seen.size() >= want;
  };
  produce_round(1);
  ASSERT_EQ(produced.size(), static_cast<size_t>(kPartitions));  // the keys reach every partition
  ASSERT_TRUE(consume_until(kPerRound, 60s)) << handler.seen.size() << " of " << kPerRound;
  const int assignments_before = handler.assignments;

  ::kill(broker.process().pid(), SIGSTOP);
  // The service goes on polling through the pause, as ConsumerLoop::run does.
  const auto resume_at = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < resume_at) loop.step();
  ::kill(broker.process().pid(), SIGCONT);

  produce_round(2);
  EXPECT_TRUE(consume_until(2 * kPerRound, 60s))
      << handler.seen.size() - kPerRound << " of " << kPerRound << " records produced after the pause consumed";
  EXPECT_EQ(handler.out_of_order, 0);
  EXPECT_GE(handler.assignments, assignments_before);
  EXPECT_EQ(handler.next, produced);
  loop.finish();
}

}  // namespace
}  // namespace tierflow
