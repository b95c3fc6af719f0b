// The consumer's rebalance callbacks run inside librdkafka's C code: what they throw must
// come back out of poll(), not unwind through C (which would terminate the process), and
// partitions whose start could not be read must not be consumed.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

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
  kafka::Producer producer(broker.bootstrap(), "consumer-it");
  for (int i = 0; i < 4; ++i) {
    auto r = kafka::produce_sync(producer, topics::kPosEvents, "c-" + std::to_string(i), "v", {}, 10s);
    ASSERT_TRUE(r.ok) << r.error;
  }

  int starts = 0;
  kafka::Consumer consumer(broker.bootstrap(), "consumer-it", "consumer-it", 6000ms,
                           {std::string(topics::kPosEvents)},
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

}  // namespace
}  // namespace tierflow
