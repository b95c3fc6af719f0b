// ingest::Deduper against a real redis-server: stored ids are marked with the window as
// TTL and found again by another process's deduper in one round trip per batch, and a
// slow Redis degrades to the in-flight check instead of holding the caller.
#include "src/deduper.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include "common/metrics/metrics.h"
#include "common/redis/mux.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace tierflow::ingest {
namespace {

using Seen = Deduper::Seen;
constexpr auto kTimeout = std::chrono::seconds(5);

class DedupeTest : public ::testing::Test {
 protected:
  Deduper::Options options() {
    Deduper::Options o;
    o.window = absl::Hours(1);
    o.check_timeout = std::chrono::milliseconds(1000);
    o.backoff = std::chrono::milliseconds(0);
    return o;
  }
  Deduper::Counters counters() { return {errors_, degraded_}; }

  test_support::TempDir dir_{"tierflow-dedupe-it"};
  test_support::RedisServer server_{dir_.path().string()};
  prometheus::Registry registry_;
  prometheus::Counter& errors_ = metrics::counter(registry_, "errors_total", "test");
  prometheus::Counter& degraded_ = metrics::counter(registry_, "degraded_total", "test");
  redis::Mux mux_{server_.config()};
};

TEST_F(DedupeTest, AStoredIdIsMarkedWithTheWindowAndFoundByAnotherProcess) {
  {
    Deduper first(options(), mux_, counters());
    ASSERT_EQ(first.begin("e-1", {}), Seen::kNew);
    first.finish("e-1", true);
    EXPECT_EQ(first.begin("e-1", {}), Seen::kStored);  // known here until Redis has it, then from Redis
  }                                                    // waits for the mark
  const int64_t ttl = mux_.call({"TTL", Deduper::key("e-1")}, kTimeout).integer;
  EXPECT_GT(ttl, 3500);
  EXPECT_LE(ttl, 3600);

  redis::Mux other_mux(server_.config());  // another ingest process
  Deduper other(options(), other_mux, counters());
  std::vector<Deduper::Waiter> waiters(3);
  EXPECT_EQ(other.begin({"e-0", "e-1", "e-2"}, waiters), (std::vector<Seen>{Seen::kNew, Seen::kStored, Seen::kNew}));
  EXPECT_EQ(other_mux.stats().batches, 1u);  // one round trip for the three ids
  EXPECT_EQ(other.in_flight(), 2u);          // e-0 and e-2 are now this process's to write
  EXPECT_EQ(errors_.Value(), 0);
  EXPECT_EQ(degraded_.Value(), 0);
}

TEST_F(DedupeTest, AFailedWriteLeavesNoMark) {
  Deduper d(options(), mux_, counters());
  ASSERT_EQ(d.begin("e-1", {}), Seen::kNew);
  d.finish("e-1", false);
  EXPECT_EQ(mux_.call({"EXISTS", Deduper::key("e-1")}, kTimeout).integer, 0);
  EXPECT_EQ(d.begin("e-1", {}), Seen::kNew);
}

TEST_F(DedupeTest, ASlowRedisDegradesWithinTheCheckTimeout) {
  Deduper::Options o = options();
  o.check_timeout = std::chrono::milliseconds(50);
  Deduper d(o, mux_, counters());
  // A BLPOP holds the one connection for 500 ms: the check queued behind it times out.
  std::promise<void> released;
  mux_.submit({{"BLPOP", "empty", "0.5"}},
              [&](std::span<const redis::Mux::Reply>, std::string_view) { released.set_value(); });
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(d.begin("e-1", {}), Seen::kNew);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(450));
  EXPECT_EQ(errors_.Value(), 1);
  EXPECT_EQ(degraded_.Value(), 1);
  released.get_future().wait();
  // The in-flight rule held meanwhile, and the first copy's outcome reaches the copy.
  std::optional<bool> heard;
  EXPECT_EQ(d.begin("e-1", [&](bool stored) { heard = stored; }), Seen::kWaiting);
  d.finish("e-1", true);
  EXPECT_EQ(heard, std::optional<bool>(true));
}

}  // namespace
}  // namespace tierflow::ingest
