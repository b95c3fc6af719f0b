// The outbox: every outcome the store records reaches notifications.deliveries.v1, however
// the broker answers: a failed delivery is produced again, a throwing produce() is retried
// on a later tick, nothing is marked published past a record the broker has not confirmed,
// and a restart publishes what the previous run did not.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "common/kafka/topics.h"
#include "src/outbox.h"
#include "src/store.h"
#include "tests/support/fake_kafka.h"
#include "tierflow/v1/campaign.pb.h"

namespace tierflow::notification {
namespace {

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tf-notification-outbox-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "notification.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Claims and confirms `n` deliveries (keys k-0 .. k-n-1); the last one FAILED when `fail_last`.
  void record(int n, bool fail_last = false) {
    Store store(path_);
    Store::Batch batch;
    for (int i = 0; i < n; ++i) {
      v1::Delivery d;
      d.set_dedupe_key("k-" + std::to_string(i));
      d.set_customer_id("c-" + std::to_string(i));
      d.set_status(v1::DELIVERY_STATUS_CLAIMED);
      batch.claims.push_back(d);
    }
    store.apply(batch);
    for (int i = 0; i < n; ++i) {
      const bool fail = fail_last && i == n - 1;
      store.confirm("k-" + std::to_string(i), fail ? v1::DELIVERY_STATUS_FAILED : v1::DELIVERY_STATUS_SENT,
                    fail ? "refused" : "");
    }
  }

  std::set<std::string> keys_on_topic(const testing::FakeProducer& p) const {
    std::set<std::string> keys;
    for (const auto& s : p.stored(topics::kDeliveries)) {
      v1::Delivery d;
      EXPECT_TRUE(d.ParseFromString(s.value));
      keys.insert(d.dedupe_key());
    }
    return keys;
  }
  int64_t unpublished() { return Store(path_).unpublished(); }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(OutboxTest, TheOutcomeIsInTheOutboxWithItsConfirmationAndPublishedOnATick) {
  record(3, /*fail_last=*/true);
  EXPECT_EQ(unpublished(), 4);  // three outcomes and the DLQ copy of the failed one
  testing::FakeProducer producer;
  OutboxPublisher outbox(path_, producer);
  EXPECT_EQ(outbox.tick().produced, 4u);
  EXPECT_EQ(keys_on_topic(producer), (std::set<std::string>{"k-0", "k-1", "k-2"}));
  const auto dlq = producer.stored(topics::dlq(topics::kDeliveries));
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].header(kafka::kErrorHeader), "refused");
  outbox.tick();  // marks the confirmed ones
  EXPECT_EQ(unpublished(), 0);
  EXPECT_EQ(outbox.tick().produced, 0u);  // nothing twice
}

TEST_F(OutboxTest, AFailedDeliveryIsRepublished) {
  record(3);
  testing::FakeProducer producer;
  OutboxPublisher outbox(path_, producer);
  producer.fail_deliveries(1);  // k-0's record is refused by the broker
  outbox.tick();
  EXPECT_EQ(keys_on_topic(producer), (std::set<std::string>{"k-1", "k-2"}));
  EXPECT_EQ(outbox.tick().failed, 1u);
  EXPECT_EQ(keys_on_topic(producer), (std::set<std::string>{"k-0", "k-1", "k-2"}));
  outbox.tick();
  EXPECT_EQ(unpublished(), 0);
  EXPECT_EQ(producer.stored(topics::kDeliveries).size(), 3u);  // k-1 and k-2 were not produced twice
}

TEST_F(OutboxTest, AThrowingProduceStopsTheRoundAndIsRetried) {
  record(3);
  testing::FakeProducer producer;
  OutboxPublisher outbox(path_, producer);
  producer.throw_on_produce(1);
  const auto first = outbox.tick();
  EXPECT_TRUE(first.stopped);
  EXPECT_EQ(first.produced, 0u);
  EXPECT_TRUE(producer.stored(topics::kDeliveries).empty());
  EXPECT_EQ(unpublished(), 3);
  EXPECT_EQ(outbox.tick().produced, 3u);
  outbox.tick();
  EXPECT_EQ(keys_on_topic(producer), (std::set<std::string>{"k-0", "k-1", "k-2"}));
  EXPECT_EQ(unpublished(), 0);
}

TEST_F(OutboxTest, NothingIsMarkedPastAnUnconfirmedRecord) {
  record(3);
  testing::FakeProducer producer(testing::FakeProducer::Mode::manual);
  OutboxPublisher outbox(path_, producer);
  EXPECT_EQ(outbox.tick().produced, 3u);
  EXPECT_EQ(outbox.in_flight(), 3u);
  EXPECT_EQ(outbox.tick().produced, 0u);  // in flight: not produced again
  producer.deliver(1);                    // k-0 confirmed
  producer.fail_deliveries(1);
  producer.deliver(1);  // k-1 refused
  producer.deliver(1);  // k-2 confirmed, behind k-1
  const auto t = outbox.tick();
  EXPECT_EQ(t.published, 1u);  // k-0 only: never past k-1
  EXPECT_EQ(t.failed, 1u);
  EXPECT_EQ(t.produced, 1u);  // k-1 again; k-2 is not produced twice
  EXPECT_EQ(unpublished(), 2);
  producer.deliver();
  outbox.tick();
  EXPECT_EQ(unpublished(), 0);
  EXPECT_EQ(keys_on_topic(producer), (std::set<std::string>{"k-0", "k-1", "k-2"}));
  EXPECT_EQ(producer.stored(topics::kDeliveries).size(), 3u);
}

TEST_F(OutboxTest, ARestartPublishesWhatThePreviousRunDidNot) {
  record(4);
  {
    testing::FakeProducer producer(testing::FakeProducer::Mode::manual);
    OutboxPublisher outbox(path_, producer);
    outbox.tick();
    producer.deliver(2);
    outbox.tick();
    EXPECT_EQ(unpublished(), 2);
    // The process dies here: k-2 and k-3 were produced but never confirmed.
  }
  testing::FakeProducer producer;
  OutboxPublisher outbox(path_, producer);
  EXPECT_EQ(outbox.tick().produced, 2u);
  EXPECT_EQ(keys_on_topic(producer), (std::set<std::string>{"k-2", "k-3"}));
  outbox.tick();
  EXPECT_EQ(unpublished(), 0);
}

}  // namespace
}  // namespace tierflow::notification
