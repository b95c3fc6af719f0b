// The notification worker driven through the real consumer loop by the in-memory fakes:
// poison records on both consumed topics land in their .dlq with the reason, and the
// rest of the batch goes on.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/kafka/topics.h"
#include "src/clock.h"
#include "src/outbox.h"
#include "src/sender.h"
#include "src/service.h"
#include "src/store.h"
#include "tests/support/fake_kafka.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {
namespace {

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tf-notification-worker-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cfg_.store_path = (dir_ / "notification.db").string();
    cfg_.file_channel_path = (dir_ / "messages.jsonl").string();
    cfg_.policy.max_age = absl::Hours(24 * 365 * 100);  // the fixture's assignments are "now"
    // These tests expect the message at once, at whatever hour they run (quiet hours have a test of their own).
    cfg_.rules.transactional_quiet_hours = false;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string messages() const {
    std::ifstream in(cfg_.file_channel_path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  static std::string upgrade(const std::string& id, int64_t version) {
    v1::TierAssignment a;
    a.set_customer_id(id);
    a.set_tier("gold");
    a.set_previous_tier("silver");
    a.set_version(version);
    a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    return a.SerializeAsString();
  }

  std::filesystem::path dir_;
  Config cfg_;
  prometheus::Registry registry_;
  testing::FakeProducer producer_;
};

TEST_F(WorkerTest, PoisonOnEitherTopicGoesToItsDlqAndTheBatchGoesOn) {
  Worker worker(cfg_, producer_, registry_);
  testing::LoopDriver driver(worker, producer_);
  const std::string customers(topics::kCustomers), assignments(topics::kAssignments);
  v1::CustomerProfile p;
  p.set_customer_id("c-1");
  p.set_name("Ada");
  p.set_language("en");
  driver.push(customers, 0, "c-1", p.SerializeAsString());
  driver.push(customers, 0, "c-2", "\xff\xff not a profile");
  driver.push(assignments, 0, "c-3", "\x0a\xff garbage");
  driver.push(assignments, 0, "c-1", upgrade("c-1", 2));
  v1::TierAssignment anonymous;
  anonymous.set_tier("gold");
  driver.push(assignments, 0, "c-4", anonymous.SerializeAsString());
  driver.assign({{customers, 0}, {assignments, 0}});
  EXPECT_EQ(driver.run_until_idle(), 5u);

  const auto profile_dlq = producer_.stored(topics::dlq(topics::kCustomers));
  ASSERT_EQ(profile_dlq.size(), 1u);
  EXPECT_EQ(profile_dlq[0].key, "c-2");
  EXPECT_EQ(profile_dlq[0].header(kafka::kErrorHeader), "value is not a tierflow.v1.CustomerProfile");
  EXPECT_EQ(profile_dlq[0].header(kafka::kOriginHeader), "crm.customers.v1/0@1");
  const auto assignment_dlq = producer_.stored(topics::dlq(topics::kAssignments));
  ASSERT_EQ(assignment_dlq.size(), 2u);
  EXPECT_EQ(assignment_dlq[0].header(kafka::kErrorHeader), "value is not a tierflow.v1.TierAssignment");
  EXPECT_EQ(assignment_dlq[1].key, "c-4");
  EXPECT_EQ(assignment_dlq[1].header(kafka::kErrorHeader), "assignment has no customer_id");

  // The good records were applied and their offsets stored past the poison ones.
  Store store(cfg_.store_path);
  EXPECT_EQ(store.next_offset(customers, 0), 2);
  EXPECT_EQ(store.next_offset(assignments, 0), 3);
  EXPECT_NE(messages().find("tier-upgrade:c-1:2"), std::string::npos);
  EXPECT_NE(messages().find("Dear Ada"), std::string::npos);
  ASSERT_EQ(producer_.stored(topics::kDeliveries).size(), 1u);
}

TEST_F(WorkerTest, ADlqTheBrokerRefusesStoresNothingAndARestartRedoesTheBatch) {
  const std::string assignments(topics::kAssignments);
  {
    Worker worker(cfg_, producer_, registry_);
    testing::LoopDriver driver(worker, producer_);
    driver.push(assignments, 0, "c-1", upgrade("c-1", 2));
    driver.push(assignments, 0, "c-3", "\x0a\xff garbage");
    driver.assign({{assignments, 0}});
    producer_.fail_deliveries(1);
    EXPECT_THROW(driver.step(), kafka::KafkaError);
    EXPECT_EQ(Store(cfg_.store_path).next_offset(assignments, 0), std::nullopt);
    EXPECT_EQ(messages(), "");  // nothing claimed, nothing sent
  }
  // The restart resumes from the store: the same batch again, now with a broker that works.
  Worker worker(cfg_, producer_, registry_);
  testing::LoopDriver driver(worker, producer_);
  driver.push(assignments, 0, "c-1", upgrade("c-1", 2));
  driver.push(assignments, 0, "c-3", "\x0a\xff garbage");
  driver.assign({{assignments, 0}});
  driver.run_until_idle();
  EXPECT_EQ(producer_.stored(topics::dlq(topics::kAssignments)).size(), 1u);
  EXPECT_EQ(Store(cfg_.store_path).next_offset(assignments, 0), 2);
  EXPECT_NE(messages().find("tier-upgrade:c-1:2"), std::string::npos);
}

TEST_F(WorkerTest, ADeliveryRecordThatCannotBeQueuedDoesNotUndoTheSend) {
  Worker worker(cfg_, producer_, registry_);
  testing::LoopDriver driver(worker, producer_);
  const std::string assignments(topics::kAssignments);
  driver.push(assignments, 0, "c-1", upgrade("c-1", 2));
  driver.assign({{assignments, 0}});
  producer_.throw_on_produce(1);  // the notifications.deliveries.v1 record
  EXPECT_EQ(driver.run_until_idle(), 1u);
  EXPECT_NE(messages().find("tier-upgrade:c-1:2"), std::string::npos);
  Store store(cfg_.store_path);
  EXPECT_TRUE(store.unconfirmed().empty());
  EXPECT_EQ(store.next_offset(assignments, 0), 1);
}

// The value of tierflow_notification_unannounced_assignments_total{reason}, 0 if absent.
double unannounced(prometheus::Registry& registry, const std::string& reason) {
  for (const auto& family : registry.Collect()) {
    if (family.name.rfind("tierflow_notification_unannounced_assignments", 0) != 0) continue;
    for (const auto& m : family.metric) {
      for (const auto& l : m.label) {
        if (l.name == "reason" && l.value == reason) return m.counter.value;
      }
    }
  }
  return 0;
}

TEST_F(WorkerTest, BackfilledAndProvisionalAssignmentsSendNothingAndAreCountedByReason) {
  Worker worker(cfg_, producer_, registry_);
  testing::LoopDriver driver(worker, producer_);
  const std::string assignments(topics::kAssignments);
  const auto flagged = [](const std::string& id, int64_t version, bool backfill, bool provisional) {
    v1::TierAssignment a;
    a.ParseFromString(upgrade(id, version));  // evaluated now: max_age would let it through
    a.set_backfill(backfill);
    a.set_provisional(provisional);
    return a.SerializeAsString();
  };
  driver.push(assignments, 0, "c-b", flagged("c-b", 1, true, false));
  driver.push(assignments, 0, "c-p", flagged("c-p", 1, false, true));
  driver.push(assignments, 0, "c-bp", flagged("c-bp", 1, true, true));
  driver.push(assignments, 0, "c-live", upgrade("c-live", 1));
  driver.assign({{assignments, 0}});
  EXPECT_EQ(driver.run_until_idle(), 4u);

  const std::string sent = messages();
  EXPECT_NE(sent.find("tier-upgrade:c-live:1"), std::string::npos);
  EXPECT_EQ(sent.find("tier-upgrade:c-b:"), std::string::npos);
  EXPECT_EQ(sent.find("tier-upgrade:c-p:"), std::string::npos);
  EXPECT_EQ(sent.find("tier-upgrade:c-bp:"), std::string::npos);
  EXPECT_EQ(producer_.stored(topics::kDeliveries).size(), 1u);
  EXPECT_EQ(unannounced(registry_, "backfill"), 2);  // both flags: backfill
  EXPECT_EQ(unannounced(registry_, "provisional"), 1);

  // The backfilled decision is the customer's state: the directory takes it. The
  // provisional one is not the record: the directory keeps the evaluation points'.
  Store store(cfg_.store_path);
  ASSERT_TRUE(store.recipient("c-b").has_value());
  EXPECT_EQ(store.recipient("c-b")->tier, "gold");
  EXPECT_FALSE(store.recipient("c-p").has_value());
  EXPECT_EQ(store.next_offset(assignments, 0), 4);

  // The evaluation point's decision for c-p, unflagged, is announced.
  driver.push(assignments, 0, "c-p", upgrade("c-p", 2));
  EXPECT_EQ(driver.run_until_idle(), 1u);
  EXPECT_NE(messages().find("tier-upgrade:c-p:2"), std::string::npos);
  EXPECT_EQ(store.recipient("c-p")->tier, "gold");
}

TEST_F(WorkerTest, ATierChangeDueAtNightWaitsForTheMorningInTheCustomersZone) {
  cfg_.rules.transactional_quiet_hours = true;
  // 23:00 in Asia/Shanghai (the default zone: the customer's profile has none).
  ManualClock clock(absl::FromUnixSeconds(1781535600));  // 2026-06-15T15:00:00Z
  auto outbox = std::make_shared<OutboxPublisher>(cfg_.store_path, producer_);
  Sender sender(cfg_, clock, producer_, make_channels(cfg_), nullptr, outbox);
  Worker worker(cfg_, producer_, registry_, outbox, &sender);
  testing::LoopDriver driver(worker, producer_);
  const std::string assignments(topics::kAssignments);
  driver.push(assignments, 0, "c-1", upgrade("c-1", 2));
  driver.push(assignments, 0, "c-1", upgrade("c-1", 2));  // the same change again: one message
  driver.assign({{assignments, 0}});
  driver.run_until_idle();
  EXPECT_EQ(sender.run_once().deferred, 1u);
  EXPECT_EQ(messages(), "");
  EXPECT_EQ(sender.run_once().handled(), 0u);  // deferred to 08:00 there
  clock.advance(absl::Hours(9));               // 08:00 in Shanghai
  EXPECT_EQ(sender.run_once().sent, 1u);
  EXPECT_NE(messages().find("tier-upgrade:c-1:2"), std::string::npos);
  EXPECT_EQ(sender.run_once().handled(), 0u);
  outbox->tick();
  ASSERT_EQ(producer_.stored(topics::kDeliveries).size(), 1u);
  int64_t last = 0;
  const auto stored = Store(cfg_.store_path).deliveries("c-1", 10, INT64_MAX, &last);
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].status(), v1::DELIVERY_STATUS_SENT);
}

}  // namespace
}  // namespace tierflow::notification
