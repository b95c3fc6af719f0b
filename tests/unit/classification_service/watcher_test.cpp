// WatchTierChanges' per-caller queue: tier filter, bounded queue (an overflowing watcher is
// dropped, the engine never blocks), close on shutdown.
#include <gtest/gtest.h>

#include <thread>

#include "service/watcher.h"

namespace tierflow::classification {
namespace {

v1::TierAssignment change(const std::string& id, const std::string& tier, const std::string& previous) {
  v1::TierAssignment a;
  a.set_customer_id(id);
  a.set_tier(tier);
  a.set_previous_tier(previous);
  return a;
}

TEST(Watcher, FiltersByTierIntoOrOutOf) {
  Watcher w({"gold"}, 10);
  EXPECT_TRUE(w.offer(change("c1", "silver", "bronze")));  // neither: skipped
  EXPECT_TRUE(w.offer(change("c2", "gold", "silver")));    // into gold
  EXPECT_TRUE(w.offer(change("c3", "silver", "gold")));    // out of gold
  v1::TierAssignment a;
  ASSERT_EQ(w.next(&a, std::chrono::milliseconds(10)), Watcher::Next::item);
  EXPECT_EQ(a.customer_id(), "c2");
  ASSERT_EQ(w.next(&a, std::chrono::milliseconds(10)), Watcher::Next::item);
  EXPECT_EQ(a.customer_id(), "c3");
  EXPECT_EQ(w.next(&a, std::chrono::milliseconds(10)), Watcher::Next::timeout);
}

TEST(Watcher, OverflowDropsTheWatcherWithoutBlocking) {
  Watcher w({}, 2);
  EXPECT_TRUE(w.offer(change("c1", "gold", "")));
  EXPECT_TRUE(w.offer(change("c2", "gold", "")));
  EXPECT_FALSE(w.offer(change("c3", "gold", "")));  // full: dropped, returns at once
  EXPECT_FALSE(w.offer(change("c4", "gold", "")));
  v1::TierAssignment a;
  EXPECT_EQ(w.next(&a, std::chrono::milliseconds(10)), Watcher::Next::overflowed);
}

TEST(Watcher, CloseWakesAWaitingReader) {
  Watcher w({}, 4);
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    w.close();
  });
  v1::TierAssignment a;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(w.next(&a, std::chrono::seconds(10)), Watcher::Next::closed);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  closer.join();
  EXPECT_TRUE(w.offer(change("c1", "gold", "")));  // a closed watcher takes nothing, but is not an overflow
  EXPECT_EQ(w.next(&a, std::chrono::milliseconds(10)), Watcher::Next::closed);
}

}  // namespace
}  // namespace tierflow::classification
