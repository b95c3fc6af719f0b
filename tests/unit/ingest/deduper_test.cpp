// ingest::Deduper without Redis (its Mux points at a closed port): the in-flight rule
// (a copy waits for the first copy's outcome), batches, and the degraded mode, counted.
#include "src/deduper.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics/metrics.h"
#include "common/redis/mux.h"
#include "tests/support/redis_server.h"

namespace tierflow::ingest {
namespace {

using Seen = Deduper::Seen;

class DeduperTest : public ::testing::Test {
 protected:
  static config::RedisConfig closed_port() {
    config::RedisConfig cfg;
    cfg.port = test_support::pick_free_port();  // nothing listens there: connects fail at once
    cfg.timeout = std::chrono::milliseconds(200);
    return cfg;
  }
  Deduper::Options options(std::chrono::milliseconds backoff = std::chrono::milliseconds(0)) {
    Deduper::Options o;
    o.backoff = backoff;
    return o;
  }

  prometheus::Registry registry_;
  prometheus::Counter& errors_ = metrics::counter(registry_, "errors_total", "test");
  prometheus::Counter& degraded_ = metrics::counter(registry_, "degraded_total", "test");
  redis::Mux mux_{closed_port()};
};

TEST_F(DeduperTest, ACopyWaitsForTheFirstAndHearsStored) {
  Deduper d(options(), mux_, {errors_, degraded_});
  EXPECT_EQ(d.begin("e-1", [](bool) { FAIL() << "the first copy has no waiter"; }), Seen::kNew);
  std::optional<bool> heard;
  EXPECT_EQ(d.begin("e-1", [&](bool stored) { heard = stored; }), Seen::kWaiting);
  EXPECT_EQ(d.waiting(), 1u);
  EXPECT_FALSE(heard.has_value());  // nothing is answered before Kafka is
  d.finish("e-1", true);
  ASSERT_TRUE(heard.has_value());
  EXPECT_TRUE(*heard);
  EXPECT_EQ(d.waiting(), 0u);
}

TEST_F(DeduperTest, AFailedFirstCopyTellsItsWaitersAndFreesTheId) {
  Deduper d(options(), mux_, {errors_, degraded_});
  ASSERT_EQ(d.begin("e-1", {}), Seen::kNew);
  std::vector<bool> heard;
  ASSERT_EQ(d.begin("e-1", [&](bool stored) { heard.push_back(stored); }), Seen::kWaiting);
  ASSERT_EQ(d.begin("e-1", [&](bool stored) { heard.push_back(stored); }), Seen::kWaiting);
  d.finish("e-1", false);
  EXPECT_EQ(heard, (std::vector<bool>{false, false}));
  EXPECT_EQ(d.in_flight(), 0u);
  EXPECT_EQ(d.begin("e-1", {}), Seen::kNew);  // the resend may be written
}

TEST_F(DeduperTest, ABatchAnswersEachIdInOrderAndACopyInsideItWaits) {
  Deduper d(options(), mux_, {errors_, degraded_});
  std::vector<std::optional<bool>> heard(4);
  std::vector<Deduper::Waiter> waiters;
  for (size_t i = 0; i < heard.size(); ++i) waiters.emplace_back([&heard, i](bool stored) { heard[i] = stored; });
  const auto seen = d.begin({"a", "b", "a", "c"}, waiters);
  EXPECT_EQ(seen, (std::vector<Seen>{Seen::kNew, Seen::kNew, Seen::kWaiting, Seen::kNew}));
  EXPECT_EQ(mux_.stats().batches, 1u);  // one round trip for the batch
  d.finish("a", true);
  EXPECT_EQ(heard[2], std::optional<bool>(true));
  EXPECT_FALSE(heard[0] || heard[1] || heard[3]);
}

TEST_F(DeduperTest, UnreachableRedisDegradesToTheInFlightCheckAndIsCounted) {
  Deduper d(options(std::chrono::seconds(60)), mux_, {errors_, degraded_});
  std::vector<Deduper::Waiter> waiters(3);
  EXPECT_EQ(d.begin({"a", "b", "c"}, waiters), (std::vector<Seen>(3, Seen::kNew)));
  EXPECT_EQ(errors_.Value(), 1);    // one failed round trip
  EXPECT_EQ(degraded_.Value(), 3);  // three events checked in this process only
  // Within the backoff Redis is not asked again; the in-flight rule still holds.
  EXPECT_EQ(d.begin("d", {}), Seen::kNew);
  EXPECT_EQ(d.begin("a", [](bool) {}), Seen::kWaiting);
  EXPECT_EQ(errors_.Value(), 1);
  EXPECT_EQ(degraded_.Value(), 4);
  EXPECT_EQ(mux_.stats().batches, 1u);
}

TEST_F(DeduperTest, AStoredIdLeavesOnceItsMarkIsAnsweredEvenWhenTheMarkFails) {
  {
    Deduper d(options(), mux_, {errors_, degraded_});
    ASSERT_EQ(d.begin("e-1", {}), Seen::kNew);
    d.finish("e-1", true);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (d.in_flight() != 0 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    EXPECT_EQ(d.in_flight(), 0u);
  }
  EXPECT_EQ(errors_.Value(), 2);  // the check and the mark
  EXPECT_EQ(mux_.stats().batches, 2u);
}

TEST_F(DeduperTest, DisabledSaysNewAndKeepsNothing) {
  Deduper::Options o = options();
  o.enabled = false;
  Deduper d(o, mux_, {errors_, degraded_});
  EXPECT_EQ(d.begin("e-1", {}), Seen::kNew);
  EXPECT_EQ(d.begin("e-1", {}), Seen::kNew);
  d.finish("e-1", true);
  EXPECT_EQ(d.in_flight(), 0u);
  EXPECT_EQ(mux_.stats().batches, 0u);
}

}  // namespace
}  // namespace tierflow::ingest
