// The classification consumer (TierConsumer on the real kafka::ConsumerLoop, driven by
// tests/support/fake_kafka.h): a poison record on either consumed topic lands in its
// `.dlq` unchanged, with the reason, and is confirmed by the broker before any offset past
// it is stored; a dead letter the broker does not take stops the batch with nothing of it
// applied or stored. The keeper's store is SQLite in a temporary directory; Redis is down
// (a socket path with no server), which the keeper tolerates.
#include "service/tier_consumer.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>

#include "common/kafka/topics.h"
#include "service/store.h"
#include "service/tier_keeper.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/process.h"
#include "tests/unit/classification_service/keeper_config.h"

namespace tierflow::classification {
namespace {

class TierConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Profiles alone carry no event time: the event clock would decide nothing.
    cfg_ = offline_keeper_config(dir_, "wall");
    keeper_ = std::make_unique<TierKeeper>(cfg_, producer_, registry_);
    handler_ = std::make_unique<TierConsumer>(*keeper_, cfg_);
  }
  void TearDown() override {
    handler_.reset();
    keeper_.reset();
  }

  kafka::ConsumerOptions options() const {
    auto o = TierConsumer::options(cfg_);
    o.dead_letter_timeout = std::chrono::milliseconds(200);
    return o;
  }
  std::map<Store::TopicPartition, int64_t> stored_offsets() const {
    return Store(cfg_.store_path, Store::Mode::reader).offsets();
  }
  static std::string profile(const std::string& id) {
    v1::CustomerProfile p;
    p.set_customer_id(id);
    p.set_region("CN-31");
    return p.SerializeAsString();
  }

  test_support::TempDir dir_{"tf-cls-consumer"};
  Config cfg_;
  prometheus::Registry registry_;
  testing::FakeProducer producer_;
  std::unique_ptr<TierKeeper> keeper_;
  std::unique_ptr<TierConsumer> handler_;
};

TEST_F(TierConsumerTest, PoisonOnEachTopicLandsInItsDlqWithTheReasonBeforeTheOffsetIsStored) {
  testing::LoopDriver driver(*handler_, producer_, options());
  driver.assign({{std::string(topics::kCustomers), 0}, {std::string(topics::kAccounts), 0}});
  v1::CustomerProfile no_id;  // parses, but names no customer
  no_id.set_region("CN-31");
  const std::string garbage = "\xff\xff\xff not a protobuf";
  driver.push(topics::kCustomers, 0, "c1", profile("c1"),
              {{std::string(kafka::kTypeHeader), "tierflow.v1.CustomerProfile"}});
  driver.push(topics::kCustomers, 0, "c2", no_id.SerializeAsString(),
              {{std::string(kafka::kTypeHeader), "tierflow.v1.CustomerProfile"}});
  driver.push(topics::kAccounts, 0, "c3", garbage, {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}});
  driver.run_until_idle();  // handles the batch, then an empty poll evaluates and commits

  const auto crm = producer_.stored(topics::dlq(topics::kCustomers));
  ASSERT_EQ(crm.size(), 1u);
  EXPECT_EQ(crm[0].key, "c2");
  EXPECT_EQ(crm[0].value, no_id.SerializeAsString());
  EXPECT_EQ(crm[0].header(kafka::kErrorHeader), "not a tierflow.v1.CustomerProfile with a customer_id");
  EXPECT_EQ(crm[0].header(kafka::kTypeHeader), "tierflow.v1.CustomerProfile");
  const auto ledger = producer_.stored(topics::dlq(topics::kAccounts));
  ASSERT_EQ(ledger.size(), 1u);
  EXPECT_EQ(ledger[0].key, "c3");
  EXPECT_EQ(ledger[0].value, garbage);
  EXPECT_EQ(ledger[0].header(kafka::kErrorHeader), "not a tierflow.v1.AccountSnapshot with a customer_id");

  // Past the poison in the store; the good record was applied and classified.
  const auto offsets = stored_offsets();
  EXPECT_EQ(offsets.at({std::string(topics::kCustomers), 0}), 2);
  EXPECT_EQ(offsets.at({std::string(topics::kAccounts), 0}), 1);
  EXPECT_TRUE(keeper_->known("c1"));
  EXPECT_FALSE(keeper_->known("c2"));
  EXPECT_EQ(producer_.stored(topics::kAssignments).size(), 1u);
  driver.finish();
}

// The ledger's completeness marks on ledger.accounts.v1 (v1::LedgerWatermark, key
// "~watermark/<p>") are consumed and skipped: no dead letter, no customer, offset stored.
TEST_F(TierConsumerTest, LedgerWatermarkRecordsAreSkippedNotDeadLettered) {
  testing::LoopDriver driver(*handler_, producer_, options());
  driver.assign({{std::string(topics::kCustomers), 0}, {std::string(topics::kAccounts), 0}});
  v1::LedgerWatermark mark;
  mark.set_partition(0);
  mark.mutable_watermark()->set_seconds(1704067200);
  mark.set_input_offset(12);
  driver.push(topics::kAccounts, 0, "~watermark/0", mark.SerializeAsString(),
              {{std::string(kafka::kTypeHeader), "tierflow.v1.LedgerWatermark"}});
  driver.run_until_idle();
  EXPECT_TRUE(producer_.stored(topics::dlq(topics::kAccounts)).empty());
  EXPECT_FALSE(keeper_->known("~watermark/0"));
  EXPECT_EQ(stored_offsets().at({std::string(topics::kAccounts), 0}), 1);
  driver.finish();
}

TEST_F(TierConsumerTest, ADeadLetterTheBrokerDoesNotTakeStopsTheBatchWithNothingStored) {
  testing::FakeProducer dlq(testing::FakeProducer::Mode::manual);  // never confirms
  testing::LoopDriver driver(*handler_, dlq, options());
  driver.assign({{std::string(topics::kCustomers), 0}});
  driver.push(topics::kCustomers, 0, "c1", profile("c1"));
  driver.push(topics::kCustomers, 0, "bad", "\xff\xff\xff");
  EXPECT_THROW(driver.step(), kafka::KafkaError);
  EXPECT_FALSE(keeper_->known("c1")) << "nothing of the batch is applied before its dead letters are confirmed";
  keeper_->reevaluate();  // a commit now (e.g. an override's) stores no offset either
  EXPECT_TRUE(stored_offsets().empty());
}

TEST_F(TierConsumerTest, ARevokeCommitsWhatWasConsumedBeforeThePartitionsMove) {
  cfg_.evaluate_delay = std::chrono::hours(1);  // only the revoke evaluates here
  testing::LoopDriver driver(*handler_, producer_, options());
  driver.assign({{std::string(topics::kCustomers), 0}});
  driver.push(topics::kCustomers, 0, "c1", profile("c1"));
  driver.push(topics::kCustomers, 0, "c2", profile("c2"));
  ASSERT_EQ(driver.step(), 2u);  // applied to memory; the evaluation waits for the input to settle
  EXPECT_TRUE(stored_offsets().empty());
  driver.revoke();
  driver.step();
  EXPECT_EQ(stored_offsets().at({std::string(topics::kCustomers), 0}), 2);
  EXPECT_EQ(producer_.stored(topics::kAssignments).size(), 2u);
}

TEST_F(TierConsumerTest, StartsWhereTheStoreSaysOrAtTheBeginning) {
  {
    testing::LoopDriver driver(*handler_, producer_, options());
    driver.assign({{std::string(topics::kCustomers), 0}});
    driver.push(topics::kCustomers, 0, "c1", profile("c1"));
    driver.push(topics::kCustomers, 0, "c2", profile("c2"));
    driver.run_until_idle();
    driver.finish();
  }
  EXPECT_EQ(handler_->start_offset(topics::kCustomers, 0), 2);
  EXPECT_EQ(handler_->start_offset(topics::kAccounts, 0), -2) << "never read: from the beginning";
  // A restart on the same store resumes there.
  handler_.reset();
  keeper_.reset();
  prometheus::Registry registry;
  TierKeeper restarted(cfg_, producer_, registry);
  EXPECT_EQ(TierConsumer(restarted, cfg_).start_offset(topics::kCustomers, 0), 2);
}

}  // namespace
}  // namespace tierflow::classification
