// The tier publisher through the in-memory producer (tests/support/fake_kafka.h): what the
// broker did not confirm (a failed delivery, a produce that threw) is published again with
// the same version; what it confirmed is not. Redis is down here (its socket path has no
// server): Kafka publishing goes on, Redis is marked for a refill retried once a second.
#include "service/tier_publisher.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>

#include "common/kafka/topics.h"
#include "service/probe.h"
#include "service/store.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/process.h"

namespace tierflow::classification {
namespace {

using Clock = std::chrono::steady_clock;

v1::TierAssignment assignment(const std::string& id, int64_t version, const std::string& tier) {
  v1::TierAssignment a;
  a.set_customer_id(id);
  a.set_version(version);
  a.set_tier(tier);
  a.set_standard_version("s1");
  return a;
}

class TierPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_.store_path = dir_.file("classification.db");
    cfg_.redis.unix_socket = dir_.file("no-redis-here.sock");
    cfg_.redis.timeout = std::chrono::milliseconds(200);
    store_ = std::make_unique<Store>(cfg_.store_path);
    publisher_ = std::make_unique<TierPublisher>(cfg_, producer_, *store_, probe_);
    publisher_->maintain(Clock::now());  // the start: nothing unpublished yet
  }
  void TearDown() override {
    publisher_.reset();
    store_.reset();
  }

  // Commits `a` as the keeper does before publishing it (its history row unpublished).
  void commit(const v1::TierAssignment& a) {
    Store::Batch b;
    b.changes.push_back(&a);
    store_->apply(b);
  }
  // Records the broker's confirmations, as the keeper's next commit does.
  void commit_confirmations() {
    Store::Batch b;
    publisher_->take_confirmed(b.published);
    store_->apply(b);
  }
  // (customer, version) -> how many times the broker stored it on tiers.assignments.v1.
  std::map<std::pair<std::string, int64_t>, int> on_topic() const {
    std::map<std::pair<std::string, int64_t>, int> out;
    for (const auto& s : producer_.stored(topics::kAssignments)) {
      v1::TierAssignment a;
      EXPECT_TRUE(a.ParseFromString(s.value));
      EXPECT_EQ(s.key, a.customer_id());
      EXPECT_EQ(s.header(kafka::kTypeHeader), "tierflow.v1.TierAssignment");
      ++out[{a.customer_id(), a.version()}];
    }
    return out;
  }

  test_support::TempDir dir_{"tf-cls-pub"};
  Config cfg_;
  prometheus::Registry registry_;
  Probe probe_{registry_};
  testing::FakeProducer producer_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<TierPublisher> publisher_;
};

TEST_F(TierPublisherTest, AFailedDeliveryIsRepublishedWithTheSameVersion) {
  const auto a = assignment("c1", 3, "gold");
  commit(a);
  producer_.fail_deliveries(1);
  publisher_->publish({&a});
  EXPECT_TRUE(on_topic().empty());
  const auto now = Clock::now();
  EXPECT_TRUE(publisher_->attention_due(now)) << "a failed delivery asks for maintain() without input";
  publisher_->maintain(now);
  EXPECT_EQ(on_topic(), (std::map<std::pair<std::string, int64_t>, int>{{{"c1", 3}, 1}}));
  EXPECT_EQ(producer_.attempts(), 2u);
  EXPECT_EQ(probe_.republished.Value(), 1);
  commit_confirmations();
  EXPECT_TRUE(store_->unpublished().empty());
}

TEST_F(TierPublisherTest, AThrowingProduceIsRepublished) {
  const auto a = assignment("c1", 1, "silver");
  commit(a);
  producer_.throw_on_produce(1);
  publisher_->publish({&a});  // never throws: the outbox keeps it
  EXPECT_TRUE(on_topic().empty());
  publisher_->maintain(Clock::now());
  EXPECT_EQ(on_topic(), (std::map<std::pair<std::string, int64_t>, int>{{{"c1", 1}, 1}}));
  commit_confirmations();
  EXPECT_TRUE(store_->unpublished().empty());
}

TEST_F(TierPublisherTest, ConfirmedAssignmentsAreNotRepublished) {
  const auto a = assignment("c1", 1, "gold");
  const auto b = assignment("c2", 1, "silver");
  const auto c = assignment("c3", 1, "bronze");
  commit(a);
  commit(b);
  publisher_->publish({&a, &b});
  commit_confirmations();  // a and b are marked published by a commit
  commit(c);
  producer_.fail_deliveries(1);
  publisher_->publish({&c});
  // c's failure republishes the outbox: only c, the others were confirmed.
  publisher_->maintain(Clock::now());
  EXPECT_EQ(on_topic(),
            (std::map<std::pair<std::string, int64_t>, int>{{{"c1", 1}, 1}, {{"c2", 1}, 1}, {{"c3", 1}, 1}}));
}

TEST_F(TierPublisherTest, ConfirmationsNotYetCommittedAreNotRepublishedEither) {
  const auto a = assignment("c1", 2, "gold");
  const auto b = assignment("c2", 2, "silver");
  commit(a);
  commit(b);
  producer_.fail_deliveries(1);
  publisher_->publish({&b, &a});  // b fails, a is confirmed (not committed yet)
  publisher_->maintain(Clock::now());
  EXPECT_EQ(on_topic(), (std::map<std::pair<std::string, int64_t>, int>{{{"c1", 2}, 1}, {{"c2", 2}, 1}}));
  commit_confirmations();
  EXPECT_TRUE(store_->unpublished().empty());
}

TEST_F(TierPublisherTest, RedisDownKeepsKafkaGoingAndRetriesTheRefillOnceASecond) {
  const auto a = assignment("c1", 1, "gold");
  commit(a);
  publisher_->publish({&a});
  EXPECT_EQ(on_topic().size(), 1u);
  // SetUp's maintain() already found Redis down: the next attempt is a second later.
  const auto later = Clock::now() + std::chrono::seconds(2);
  EXPECT_FALSE(publisher_->attention_due(Clock::now()));
  EXPECT_TRUE(publisher_->attention_due(later)) << "Redis missed a write: a refill is due";
  EXPECT_NO_THROW(publisher_->maintain(later));  // the refill fails: logged, retried later
  EXPECT_FALSE(publisher_->attention_due(later));
  EXPECT_TRUE(publisher_->attention_due(later + std::chrono::seconds(2)));
}

TEST_F(TierPublisherTest, WatchersSeePublishedChangesUntilClosed) {
  auto gold = publisher_->watch({"gold"});
  const auto a = assignment("c1", 1, "gold");
  const auto b = assignment("c2", 1, "silver");
  commit(a);
  commit(b);
  publisher_->publish({&a, &b});
  v1::TierAssignment seen;
  ASSERT_EQ(gold->next(&seen, std::chrono::milliseconds(10)), Watcher::Next::item);
  EXPECT_EQ(seen.customer_id(), "c1");
  EXPECT_EQ(gold->next(&seen, std::chrono::milliseconds(10)), Watcher::Next::timeout);
  publisher_->close_watchers();
  EXPECT_EQ(gold->next(&seen, std::chrono::milliseconds(10)), Watcher::Next::closed);
  EXPECT_EQ(publisher_->watch({})->next(&seen, std::chrono::milliseconds(10)), Watcher::Next::closed);
}

}  // namespace
}  // namespace tierflow::classification
