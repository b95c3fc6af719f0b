// The consumer loop through the in-memory fakes: order, dead letters confirmed before the
// handler commits, rebalance callbacks that throw, drain and close.
#include <gtest/gtest.h>

#include <stdexcept>

#include "common/kafka/consumer_loop.h"
#include "common/kafka/topics.h"
#include "tests/support/fake_kafka.h"

namespace tierflow {
namespace {

using testing::FakeProducer;
using testing::LoopDriver;

// Keeps "offsets" like a service's store: in handle(), after confirming its dead letters.
class RecordingHandler : public kafka::BatchHandler {
 public:
  explicit RecordingHandler(const FakeProducer& producer) : producer_(producer) {}

  std::optional<int64_t> start_offset(std::string_view topic, int32_t partition) override {
    starts.emplace_back(std::string(topic), partition);
    if (throw_on_start) throw std::runtime_error("store unreadable");
    auto it = stored.find({std::string(topic), partition});
    if (it == stored.end()) return std::nullopt;
    return it->second;
  }
  void on_assigned(const std::vector<kafka::TopicPartition>& p) override { assigned += p.size(); }
  void on_revoked(const std::vector<kafka::TopicPartition>& p) override {
    revoked += p.size();
    events.push_back("revoked");
  }
  void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) override {
    for (const auto& r : batch) {
      if (r.value() == "poison") {
        dead_letters.add(r, "value is not a PosEvent");
      } else {
        values.emplace_back(r.value());
      }
    }
    dead_letters.confirm();  // throws when the broker did not take them: nothing is "stored"
    dlq_at_commit = producer_.stored(topics::dlq(topics::kPosEvents)).size();
    for (const auto& r : batch) stored[{std::string(r.topic()), r.partition()}] = r.offset() + 1;
  }
  void tick() override { ++ticks; }
  void drain() override { events.push_back("drain"); }

  const FakeProducer& producer_;
  bool throw_on_start = false;
  std::map<std::pair<std::string, int32_t>, int64_t> stored;
  std::vector<std::pair<std::string, int32_t>> starts;
  std::vector<std::string> values;
  std::vector<std::string> events;
  size_t assigned = 0, revoked = 0, ticks = 0, dlq_at_commit = 0;
};

const std::string kTopic(topics::kPosEvents);

TEST(ConsumerLoop, HandsRecordsInOrderPerPartition) {
  FakeProducer producer;
  RecordingHandler handler(producer);
  LoopDriver driver(handler, producer);
  for (int i = 0; i < 5; ++i) driver.push(kTopic, 0, "c-1", "e" + std::to_string(i));
  driver.push(kTopic, 1, "c-2", "x0");
  driver.assign({{kTopic, 0}, {kTopic, 1}});
  EXPECT_EQ(driver.run_until_idle(), 6u);
  EXPECT_EQ(handler.assigned, 2u);
  EXPECT_EQ(handler.values, (std::vector<std::string>{"e0", "e1", "e2", "e3", "e4", "x0"}));
  EXPECT_EQ(driver.positions().at({kTopic, 0}), 5);
  EXPECT_EQ(driver.positions().at({kTopic, 1}), 1);
  EXPECT_GE(handler.ticks, 2u);  // also after the empty poll
}

TEST(ConsumerLoop, StartsEachPartitionWhereTheHandlersStoreSays) {
  FakeProducer producer;
  RecordingHandler handler(producer);
  handler.stored[{kTopic, 0}] = 3;
  LoopDriver driver(handler, producer);
  for (int i = 0; i < 5; ++i) driver.push(kTopic, 0, "c-1", "e" + std::to_string(i));
  driver.assign({{kTopic, 0}});
  driver.run_until_idle();
  EXPECT_EQ(handler.values, (std::vector<std::string>{"e3", "e4"}));
}

// A store that commits after handle() returns (the ledger's pipelined writer) may have no
// offset when the partition comes back after a crash or a rebalance: the partition is read
// again from its beginning, never from a position the loop remembered on the group's side.
TEST(ConsumerLoop, APartitionTheStoreHasNoOffsetForIsReadFromTheBeginningAgain) {
  FakeProducer producer;
  struct NotYetCommitted : RecordingHandler {
    using RecordingHandler::RecordingHandler;
    void handle(std::span<const kafka::Record> batch, kafka::DeadLetters&) override {
      for (const auto& r : batch) values.emplace_back(r.value());  // nothing stored yet
    }
  } handler(producer);
  LoopDriver driver(handler, producer);
  for (int i = 0; i < 3; ++i) driver.push(kTopic, 0, "c-1", "e" + std::to_string(i));
  driver.assign({{kTopic, 0}});
  driver.run_until_idle();
  driver.revoke();
  driver.step();
  driver.assign({{kTopic, 0}});
  driver.run_until_idle();
  EXPECT_EQ(handler.values, (std::vector<std::string>{"e0", "e1", "e2", "e0", "e1", "e2"}));
}

TEST(ConsumerLoop, PoisonGoesToTheDlqWithReasonAndOriginBeforeTheHandlerCommits) {
  FakeProducer producer;
  RecordingHandler handler(producer);
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "good");
  driver.push(kTopic, 0, "c-1", "poison", {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}});
  driver.push(kTopic, 0, "c-1", "good2");
  driver.assign({{kTopic, 0}});
  driver.run_until_idle();
  const auto dlq = producer.stored(topics::dlq(kTopic));
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].topic, "pos.events.v1.dlq");
  EXPECT_EQ(dlq[0].key, "c-1");
  EXPECT_EQ(dlq[0].value, "poison");
  EXPECT_EQ(dlq[0].header(kafka::kErrorHeader), "value is not a PosEvent");
  EXPECT_EQ(dlq[0].header(kafka::kOriginHeader), "pos.events.v1/0@1");
  EXPECT_EQ(dlq[0].header(kafka::kTypeHeader), "tierflow.v1.PosEvent");
  EXPECT_EQ(handler.dlq_at_commit, 1u);  // confirmed before the store moved past it
  EXPECT_EQ(handler.values, (std::vector<std::string>{"good", "good2"}));
  EXPECT_EQ(handler.stored.at({kTopic, 0}), 3);
  EXPECT_EQ(driver.loop().dead_letters().confirmed_total(), 1u);
}

TEST(ConsumerLoop, AFailedDeadLetterStopsTheLoopBeforeAnythingIsCommitted) {
  FakeProducer producer;
  producer.fail_deliveries(1);
  RecordingHandler handler(producer);
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "poison");
  driver.assign({{kTopic, 0}});
  EXPECT_THROW(driver.step(), kafka::KafkaError);
  EXPECT_TRUE(handler.stored.empty());
  EXPECT_TRUE(producer.stored().empty());
}

TEST(ConsumerLoop, AThrowingDeadLetterProduceStopsTheLoopBeforeAnythingIsCommitted) {
  FakeProducer producer;
  producer.throw_on_produce(1);
  RecordingHandler handler(producer);
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "poison");
  driver.assign({{kTopic, 0}});
  try {
    driver.step();
    FAIL() << "expected KafkaError";
  } catch (const kafka::KafkaError& e) {
    EXPECT_NE(std::string(e.what()).find("pos.events.v1/0@0"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(handler.stored.empty());
}

TEST(ConsumerLoop, ADeadLetterTheBrokerNeverConfirmsTimesOut) {
  FakeProducer producer(FakeProducer::Mode::manual);
  RecordingHandler handler(producer);
  kafka::ConsumerOptions options;
  options.dead_letter_timeout = std::chrono::milliseconds(20);
  LoopDriver driver(handler, producer, options);
  driver.push(kTopic, 0, "c-1", "poison");
  driver.assign({{kTopic, 0}});
  EXPECT_THROW(driver.step(), kafka::KafkaError);
  EXPECT_TRUE(handler.stored.empty());
  // A late confirmation is harmless: it lands on the state the timeout left behind.
  EXPECT_EQ(producer.deliver(), 1u);
  EXPECT_EQ(driver.loop().dead_letters().pending(), 0u);
}

TEST(ConsumerLoop, AStartOffsetThatThrowsLeavesThePartitionsUnassignedAndStopsTheLoop) {
  FakeProducer producer;
  RecordingHandler handler(producer);
  handler.throw_on_start = true;
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "e0");
  driver.assign({{kTopic, 0}, {kTopic, 1}});
  EXPECT_THROW(driver.step(), std::runtime_error);
  EXPECT_TRUE(driver.positions().empty());
  EXPECT_EQ(handler.assigned, 0u);
  EXPECT_TRUE(handler.values.empty());
}

TEST(ConsumerLoop, RevokeReachesTheHandlerBeforeThePartitionsGo) {
  FakeProducer producer;
  RecordingHandler handler(producer);
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "e0");
  driver.assign({{kTopic, 0}});
  driver.run_until_idle();
  driver.revoke();
  driver.push(kTopic, 0, "c-1", "e1");
  EXPECT_EQ(driver.step(), 0u);  // revoked: nothing more from that partition
  EXPECT_EQ(handler.revoked, 1u);
  // Reassigned: resumes from the handler's store, not from the start.
  driver.assign({{kTopic, 0}});
  driver.run_until_idle();
  EXPECT_EQ(handler.values, (std::vector<std::string>{"e0", "e1"}));
}

TEST(ConsumerLoop, FinishDrainsThenLeavesTheGroup) {
  FakeProducer producer;
  RecordingHandler handler(producer);
  LoopDriver driver(handler, producer);
  driver.assign({{kTopic, 0}});
  driver.step();
  driver.finish();
  driver.finish();  // once
  EXPECT_EQ(handler.events, (std::vector<std::string>{"drain", "revoked"}));
}

TEST(ConsumerLoop, RunRethrowsWhatTheHandlerThrewAfterClosing) {
  FakeProducer producer;
  struct Throwing : RecordingHandler {
    using RecordingHandler::RecordingHandler;
    void handle(std::span<const kafka::Record>, kafka::DeadLetters&) override {
      throw std::runtime_error("disk full");
    }
  } handler(producer);
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "e0");
  driver.assign({{kTopic, 0}});
  std::stop_source stop;
  EXPECT_THROW(driver.loop().run(stop.get_token()), std::runtime_error);
  EXPECT_EQ(handler.events, (std::vector<std::string>{"revoked"}));  // closed, not drained
}

// on_positions: after every poll, before handle(), each assigned partition's next offset and
// end; a partition is caught up only once everything in it was handed out (an empty one at
// once).
TEST(ConsumerLoop, PositionsReachTheHandlerBeforeEachBatch) {
  FakeProducer producer;
  struct Handler : RecordingHandler {
    using RecordingHandler::RecordingHandler;
    void on_positions(std::span<const kafka::PartitionPosition> p, kafka::EndQuery&) override {
      last.assign(p.begin(), p.end());
    }
    void handle(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) override {
      at_handle.push_back(last);
      RecordingHandler::handle(batch, dead_letters);
    }
    std::vector<kafka::PartitionPosition> last;
    std::vector<std::vector<kafka::PartitionPosition>> at_handle;
  } handler(producer);
  kafka::ConsumerOptions options;
  options.max_batch = 2;
  LoopDriver driver(handler, producer, options);
  for (int i = 0; i < 3; ++i) driver.push(kTopic, 0, "c-1", "e" + std::to_string(i));
  driver.assign({{kTopic, 0}, {kTopic, 1}});
  EXPECT_EQ(driver.run_until_idle(), 3u);
  ASSERT_EQ(handler.at_handle.size(), 2u);
  const auto& first = handler.at_handle[0];
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].partition, 0);
  EXPECT_EQ(first[0].next_offset, 2);
  EXPECT_EQ(first[0].high_watermark, 3);
  EXPECT_FALSE(first[0].caught_up());  // one record still unread
  EXPECT_EQ(first[1].partition, 1);
  EXPECT_TRUE(first[1].caught_up());  // empty
  EXPECT_TRUE(handler.at_handle[1][0].caught_up());
  driver.push(kTopic, 1, "c-2", "x0");  // the end moved: partition 1 lags until polled
  EXPECT_FALSE(kafka::PartitionPosition({kTopic, 1, 0, 1}).caught_up());
  EXPECT_EQ(driver.step(), 1u);
  ASSERT_EQ(handler.last.size(), 2u);
  EXPECT_EQ(handler.last[1].next_offset, 1);
  EXPECT_TRUE(handler.last[1].caught_up());
  // Unknown position or end: never caught up.
  EXPECT_FALSE(kafka::PartitionPosition({kTopic, 0, -1, 0}).caught_up());
  EXPECT_FALSE(kafka::PartitionPosition({kTopic, 0, 5, -1}).caught_up());
}

// on_positions' EndQuery asks the source where a partition ends now: the in-memory log's
// end, records pushed since the poll included (the broker's answer on librdkafka).
TEST(ConsumerLoop, EndQueryAnswersTheEndNow) {
  FakeProducer producer;
  struct Handler : RecordingHandler {
    using RecordingHandler::RecordingHandler;
    void on_positions(std::span<const kafka::PartitionPosition>, kafka::EndQuery& e) override { ends = &e; }
    kafka::EndQuery* ends = nullptr;
  } handler(producer);
  LoopDriver driver(handler, producer);
  driver.push(kTopic, 0, "c-1", "e0");
  driver.assign({{kTopic, 0}, {kTopic, 1}});
  EXPECT_EQ(driver.step(), 1u);
  ASSERT_NE(handler.ends, nullptr);
  EXPECT_EQ(handler.ends->query_end(kTopic, 0), 1);
  EXPECT_EQ(handler.ends->query_end(kTopic, 1), 0);
  driver.push(kTopic, 1, "c-2", "x0");  // written, not polled yet
  EXPECT_EQ(handler.ends->query_end(kTopic, 1), 1);
}

TEST(FakeProducer, ThrowsAndFailsAsAsked) {
  FakeProducer producer;
  producer.throw_on_produce(1);
  EXPECT_THROW(producer.produce("t", "k", "v", {}, [](const kafka::DeliveryReport&) { FAIL(); }), kafka::KafkaError);
  producer.fail_deliveries(1, "broker down");
  kafka::DeliveryReport seen;
  producer.produce("t", "k", "v1", {}, [&](const kafka::DeliveryReport& r) { seen = r; });
  EXPECT_FALSE(seen.ok);
  EXPECT_EQ(seen.error, "broker down");
  producer.produce("t", "k", "v2", {}, [&](const kafka::DeliveryReport& r) { seen = r; });
  EXPECT_TRUE(seen.ok);
  ASSERT_EQ(producer.stored("t").size(), 1u);
  EXPECT_EQ(producer.stored("t")[0].value, "v2");
  EXPECT_EQ(producer.attempts(), 3u);
  const auto sync = kafka::produce_sync(producer, "t", "k", "v3", {}, std::chrono::seconds(1));
  EXPECT_TRUE(sync.ok);
}

}  // namespace
}  // namespace tierflow
