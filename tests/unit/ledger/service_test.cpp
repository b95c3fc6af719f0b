// The ledger service's edge code without a broker: LedgerHandler driven through the real
// consumer loop (tests/support/fake_kafka.h's LoopDriver), and OutboxRelay against a
// FakeProducer with failing and throwing deliveries, each over a pipelined SQLite ledger in
// a temporary directory.
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fstream>

#include "common/config/config.h"
#include "common/kafka/topics.h"
#include "service/config.h"
#include "service/handler.h"
#include "service/metrics.h"
#include "service/relay.h"
#include "service/shared_ledger.h"
#include "tests/support/fake_kafka.h"
#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"
#include "tierflow/v1/events.pb.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::ledger {
namespace {

using namespace std::chrono_literals;

const std::string kPos(topics::kPosEvents);
const std::string kDlq = topics::dlq(topics::kPosEvents);
const std::string kAccounts(topics::kAccounts);

// 2024-01-01T00:00:00Z plus whole days.
absl::Time day(int d) { return absl::FromUnixSeconds(1704067200) + absl::Hours(24) * d; }

v1::PosEvent event(const std::string& id, const std::string& customer, absl::Time t) {
  v1::PosEvent e;
  e.set_event_id(id);
  e.set_customer_id(customer);
  e.mutable_event_time()->set_seconds(absl::ToUnixSeconds(t));
  return e;
}

std::string sale(const std::string& id, const std::string& customer, absl::Time t, int64_t total) {
  auto e = event(id, customer, t);
  e.mutable_sale()->mutable_total()->set_minor_units(total);
  e.mutable_sale()->mutable_total()->set_currency("CNY");
  return e.SerializeAsString();
}

std::string refund(const std::string& id, const std::string& customer, absl::Time t, int64_t amount,
                   const std::string& sale_id) {
  auto e = event(id, customer, t);
  e.mutable_refund()->mutable_amount()->set_minor_units(amount);
  e.mutable_refund()->mutable_amount()->set_currency("CNY");
  e.mutable_refund()->set_original_event_id(sale_id);
  e.mutable_refund()->set_method(v1::TENDER_METHOD_CASH);
  return e.SerializeAsString();
}

std::string payment(const std::string& id, const std::string& customer, absl::Time t, int64_t amount,
                    const std::string& invoice) {
  auto e = event(id, customer, t);
  e.mutable_payment()->mutable_amount()->set_minor_units(amount);
  e.mutable_payment()->mutable_amount()->set_currency("CNY");
  e.mutable_payment()->set_method(v1::TENDER_METHOD_TRANSFER);
  e.mutable_payment()->set_invoice_event_id(invoice);
  return e.SerializeAsString();
}

int64_t version_of(const testing::FakeProducer::Sent& s) {
  v1::AccountSnapshot snap;
  EXPECT_TRUE(snap.ParseFromString(s.value));
  return snap.version();
}

// The SQLite store with hooks: a commit that takes a while (so a batch is surely still
// being written when the test looks), and reads that fail on demand.
class HookedStore final : public Store {
 public:
  struct Hooks {
    std::atomic<int> commits_started{0}, commits_done{0};
    std::atomic<bool> slow_commit{false};
    std::atomic<bool> fail_offsets{false};
  };
  HookedStore(std::unique_ptr<Store> inner, std::shared_ptr<Hooks> hooks)
      : inner_(std::move(inner)), hooks_(std::move(hooks)) {}

  void begin() override { inner_->begin(); }
  void commit() override {
    ++hooks_->commits_started;
    if (hooks_->slow_commit) std::this_thread::sleep_for(300ms);
    inner_->commit();
    ++hooks_->commits_done;
  }
  void rollback() noexcept override { inner_->rollback(); }
  std::vector<OffsetRow> load_offsets() override {
    if (hooks_->fail_offsets) throw std::runtime_error("test store: offsets unreadable");
    return inner_->load_offsets();
  }
  std::vector<BalanceRow> load_balances() override { return inner_->load_balances(); }
  std::vector<std::string> deferred_keys() override { return inner_->deferred_keys(); }
  std::vector<EventRow> find_events(const std::vector<std::string_view>& ids) override {
    return inner_->find_events(ids);
  }
  std::vector<CustomerState> load_customers(const std::vector<std::string_view>& ids, Micros window) override {
    return inner_->load_customers(ids, window);
  }
  std::vector<DeferredRow> load_deferred(std::string_view waiting_for) override {
    return inner_->load_deferred(waiting_for);
  }
  std::vector<DeferredRow> load_deferred_before(Micros before) override { return inner_->load_deferred_before(before); }
  std::vector<JournalRow> read_journal(std::string_view c, Micros from, Micros to, int64_t after,
                                       size_t limit) override {
    return inner_->read_journal(c, from, to, after, limit);
  }
  int64_t receivable_before(std::string_view c, Micros before) override { return inner_->receivable_before(c, before); }
  std::vector<OutboxMessage> pending_outbox(size_t limit) override { return inner_->pending_outbox(limit); }
  std::optional<std::vector<OutboxMessage>> committed_outbox(size_t limit) override {
    return inner_->committed_outbox(limit);
  }
  void write(const Changes& changes) override { inner_->write(changes); }
  void ack_outbox(int64_t up_to_id) override { inner_->ack_outbox(up_to_id); }
  bool reads_beside_writes() const override { return inner_->reads_beside_writes(); }

 private:
  std::unique_ptr<Store> inner_;
  std::shared_ptr<Hooks> hooks_;
};

// Throws KafkaError on the n-th produce() (1-based) and forwards every other call.
class ThrowOnNth final : public kafka::Producer {
 public:
  ThrowOnNth(kafka::Producer& inner, size_t n) : inner_(inner), n_(n) {}
  void produce(std::string_view topic, std::string_view key, std::string_view value,
               const std::vector<kafka::Header>& headers, DeliveryFn on_delivery) override {
    if (++calls_ == n_) throw kafka::KafkaError("test producer: local queue full");
    inner_.produce(topic, key, value, headers, std::move(on_delivery));
  }
  bool flush(std::chrono::milliseconds timeout) override { return inner_.flush(timeout); }
  int64_t in_flight() const override { return inner_.in_flight(); }

 private:
  kafka::Producer& inner_;
  const size_t n_;
  size_t calls_ = 0;
};

class LedgerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tf-ledger-service-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    now_ = day(0);
  }
  void TearDown() override {
    handler_.reset();
    relay_.reset();
    core_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string path() const { return (dir_ / "ledger.db").string(); }

  // The service's parts over a pipelined SQLite ledger that keeps rejections in its outbox,
  // as open_ledger() opens it.
  void open(kafka::Producer& producer, OutboxRelay::Options relay_options = {}, bool watermarks = false) {
    Options options;
    options.dlq_in_outbox = true;
    options.pipeline = true;
    options.watermark_records = watermarks;
    core_ = std::make_unique<SharedLedger>(
        Ledger::open(std::make_unique<HookedStore>(make_sqlite_store(path()), hooks_), options));
    relay_ = std::make_unique<OutboxRelay>(*core_, producer, metrics_, relay_options);
    LedgerHandler::Options handler_options;
    handler_options.now = [this] { return now_; };
    handler_ = std::make_unique<LedgerHandler>(*core_, *relay_, metrics_, handler_options);
  }

  // Applies records straight to the ledger (partition 0 from offset next_offset_), as the
  // loop would, and waits for the commit.
  void apply(const std::vector<std::pair<std::string, std::string>>& key_values) {
    std::vector<ConsumedRecord> batch;
    for (const auto& [key, value] : key_values) batch.push_back({kPos, 0, next_offset_++, key, value});
    core_->with([&](Ledger& l) {
      l.apply(batch);
      l.sync();
      return 0;
    });
  }

  size_t outbox_rows() {
    return core_->with([](Ledger& l) { return l.pending_outbox(1000).size(); });
  }

  std::filesystem::path dir_;
  absl::Time now_;
  std::shared_ptr<HookedStore::Hooks> hooks_ = std::make_shared<HookedStore::Hooks>();
  prometheus::Registry registry_;
  LedgerMetrics metrics_{registry_};
  testing::FakeProducer producer_;
  std::unique_ptr<SharedLedger> core_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<LedgerHandler> handler_;
  int64_t next_offset_ = 0;
};

// Garbage bytes on pos.events.v1 end in pos.events.v1.dlq, unchanged, with the reason and
// the origin, shaped like kafka::DeadLetters' records; the rest of the batch is applied.
TEST_F(LedgerServiceTest, PoisonRecordEndsInTheDlqWithItsReason) {
  open(producer_);
  testing::LoopDriver driver(*handler_, producer_);
  const std::string garbage("\xff\xfe not a protobuf \x01", 19);
  driver.push(kPos, 0, "c-1", garbage);
  driver.push(kPos, 0, "c-2", sale("s-1", "c-2", day(0), 500));
  driver.assign({{kPos, 0}});
  EXPECT_EQ(driver.run_until_idle(), 2u);
  driver.finish();

  const auto dlq = producer_.stored(kDlq);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "c-1");
  EXPECT_EQ(dlq[0].value, garbage);
  EXPECT_EQ(dlq[0].header(kafka::kErrorHeader), "unparseable bytes: not a tierflow.v1.PosEvent");
  EXPECT_EQ(dlq[0].header(kafka::kOriginHeader), "pos.events.v1/0@0");
  EXPECT_EQ(dlq[0].header(kafka::kTypeHeader), "tierflow.v1.PosEvent");
  const auto snapshots = producer_.stored(kAccounts);
  ASSERT_EQ(snapshots.size(), 1u);
  EXPECT_EQ(snapshots[0].key, "c-2");
  EXPECT_EQ(snapshots[0].header(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot");
  EXPECT_FALSE(snapshots[0].header(kafka::kErrorHeader));
  EXPECT_EQ(outbox_rows(), 0u);  // everything relayed was acknowledged
  EXPECT_EQ(core_->with([](Ledger& l) { return l.next_offset(kPos, 0); }), 2);
}

// Rejections decided by the posting rules, and deferred events given up by the expiry
// timer (in tick(), not from a consumed record), reach the DLQ with reason and origin.
// Each batch's snapshots are followed, on ledger.accounts.v1, by a LedgerWatermark record
// per input partition it consumed: produced to that partition number, key
// "~watermark/<p>", type header tierflow.v1.LedgerWatermark.
TEST_F(LedgerServiceTest, WatermarkRecordsGoToTheirPartitionAfterTheSnapshots) {
  open(producer_, {}, /*watermarks=*/true);
  testing::LoopDriver driver(*handler_, producer_);
  driver.push(kPos, 3, "c-1", sale("s-1", "c-1", day(4), 500));
  driver.push(kPos, 3, "c-2", sale("s-2", "c-2", day(6), 700));
  driver.assign({{kPos, 3}});
  EXPECT_EQ(driver.run_until_idle(), 2u);
  driver.finish();

  const auto stored = producer_.stored(kAccounts);
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(stored[0].key, "c-1");
  EXPECT_EQ(stored[0].partition, -1);  // the partitioner's, by key
  EXPECT_EQ(stored[0].header(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot");
  EXPECT_EQ(stored[1].key, "c-2");
  EXPECT_EQ(stored[2].key, "~watermark/3");
  EXPECT_EQ(stored[2].partition, 3);
  EXPECT_EQ(stored[2].header(kafka::kTypeHeader), "tierflow.v1.LedgerWatermark");
  v1::LedgerWatermark mark;
  ASSERT_TRUE(mark.ParseFromString(stored[2].value));
  EXPECT_EQ(mark.partition(), 3);
  EXPECT_EQ(absl::FromUnixSeconds(mark.watermark().seconds()), day(5));
  EXPECT_EQ(mark.input_offset(), 2);
  EXPECT_EQ(outbox_rows(), 0u);
}

// Idle partitions through the loop's positions: partition 1 (empty) is marked from
// partition 0's clock as soon as it is caught up; partition 2 has a record still unread
// and is not marked until that record was applied (then, caught up and behind, it is).
TEST_F(LedgerServiceTest, CaughtUpIdlePartitionsAreMarkedLaggingOnesAreNot) {
  open(producer_, {}, /*watermarks=*/true);
  kafka::ConsumerOptions options;
  options.max_batch = 1;
  testing::LoopDriver driver(*handler_, producer_, options);
  driver.push(kPos, 0, "c-1", sale("s-1", "c-1", day(10), 500));
  driver.push(kPos, 0, "c-2", sale("s-2", "c-2", day(10), 700));
  driver.push(kPos, 2, "c-3", sale("s-3", "c-3", day(1), 300));
  driver.assign({{kPos, 0}, {kPos, 1}, {kPos, 2}});
  EXPECT_EQ(driver.run_until_idle(), 3u);
  driver.finish();

  std::vector<std::string> keys;
  std::map<std::string, absl::Time> last_mark;
  for (const auto& s : producer_.stored(kAccounts)) {
    keys.push_back(s.key);
    if (!s.key.starts_with("~watermark/")) continue;
    v1::LedgerWatermark mark;
    ASSERT_TRUE(mark.ParseFromString(s.value));
    EXPECT_EQ(s.partition, mark.partition());
    last_mark[s.key] = absl::FromUnixSeconds(mark.watermark().seconds());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"c-1", "~watermark/0", "~watermark/1", "c-2", "~watermark/0", "c-3",
                                            "~watermark/2"}));
  EXPECT_EQ(last_mark.at("~watermark/0"), day(9));
  EXPECT_EQ(last_mark.at("~watermark/1"), day(8));
  EXPECT_EQ(last_mark.at("~watermark/2"), day(8));  // its own would be day 0
  EXPECT_EQ(core_->with([](Ledger& l) { return l.next_offset(kPos, 1); }), 0);
}

// The snapshot clock's keys: defaults, values, and a zone that is not an IANA name.
TEST_F(LedgerServiceTest, SnapshotClockConfigKeys) {
  const std::string file = (dir_ / "ledger.yaml").string();
  auto write = [&](const std::string& text) {
    std::ofstream(file) << "kafka:\n  bootstrap_servers: 127.0.0.1:9\n" << text;
  };
  write("");
  Config defaults = load_config(file);
  EXPECT_EQ(defaults.allowed_lateness, absl::Hours(24));
  EXPECT_EQ(defaults.snapshot_day_zone, "UTC");
  write("allowed_lateness_s: 0\nsnapshot_day_zone: Asia/Shanghai\n");
  Config set = load_config(file);
  EXPECT_EQ(set.allowed_lateness, absl::ZeroDuration());
  EXPECT_EQ(set.snapshot_day_zone, "Asia/Shanghai");
  write("snapshot_day_zone: Mars/Olympus_Mons\n");
  try {
    load_config(file);
    ADD_FAILURE() << "an unknown zone was accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("snapshot_day_zone"), std::string::npos) << e.what();
  }
  write("allowed_lateness_s: -1\n");
  EXPECT_THROW(load_config(file), config::ConfigError);
  EXPECT_EQ(defaults.idle_partition_after, absl::Hours(24));
  write("idle_partition_after_s: 3600\n");
  EXPECT_EQ(load_config(file).idle_partition_after, absl::Hours(1));
  write("idle_partition_after_s: -5\n");
  try {
    load_config(file);
    ADD_FAILURE() << "a negative idle_partition_after_s was accepted";
  } catch (const config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("idle_partition_after_s"), std::string::npos) << e.what();
  }
}

TEST_F(LedgerServiceTest, DlqRecordsCarryReasonAndOriginHeaders) {
  open(producer_);
  testing::LoopDriver driver(*handler_, producer_);
  driver.push(kPos, 0, "c-1", sale("s-1", "c-1", day(0), 500));
  driver.push(kPos, 0, "c-1", refund("r-1", "c-1", day(0), 900, "s-1"));     // above the sale
  driver.push(kPos, 0, "c-1", payment("p-1", "c-1", day(0), 100, "s-404"));  // waits for s-404
  driver.assign({{kPos, 0}});
  driver.run_until_idle();
  driver.finish();  // commits and relays the last batch
  auto dlq = producer_.stored(kDlq);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].header(kafka::kErrorHeader),
            "refund 9.00 CNY above the 5.00 CNY that remains refundable on sale s-1");
  EXPECT_EQ(dlq[0].header(kafka::kOriginHeader), "pos.events.v1/0@1");
  EXPECT_EQ(dlq[0].key, "c-1");
  EXPECT_EQ(core_->with([](Ledger& l) { return l.deferred_count(); }), 1);

  // A week and a day later the timer gives up on the payment.
  testing::LoopDriver later(*handler_, producer_);
  now_ = day(8);
  later.step();
  dlq = producer_.stored(kDlq);
  ASSERT_EQ(dlq.size(), 2u);
  EXPECT_EQ(dlq[1].header(kafka::kErrorHeader), "sale s-404 never arrived within 7 days");
  EXPECT_EQ(dlq[1].header(kafka::kOriginHeader), "pos.events.v1/0@2");
  EXPECT_EQ(dlq[1].key, "c-1");
  EXPECT_EQ(dlq[1].value, payment("p-1", "c-1", day(0), 100, "s-404"));
  EXPECT_EQ(core_->with([](Ledger& l) { return l.deferred_count(); }), 0);
  EXPECT_EQ(outbox_rows(), 0u);
}

// A failed delivery: nothing past it is acknowledged; the next call publishes it again,
// and the records confirmed behind it are not produced twice.
TEST_F(LedgerServiceTest, RelayWithAFailedDeliveryAcknowledgesNothingPastItAndRetries) {
  open(producer_);
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)},
         {"c-2", sale("s-2", "c-2", day(0), 200)},
         {"c-3", sale("s-3", "c-3", day(0), 300)}});
  producer_.fail_deliveries(1);  // c-1's snapshot
  EXPECT_EQ(relay_->relay(), 0u);
  EXPECT_EQ(outbox_rows(), 3u);
  EXPECT_EQ(producer_.stored(kAccounts).size(), 2u);

  EXPECT_EQ(relay_->relay(), 3u);  // the next tick
  EXPECT_EQ(outbox_rows(), 0u);
  std::map<std::string, std::vector<int64_t>> versions;
  for (const auto& s : producer_.stored(kAccounts)) versions[s.key].push_back(version_of(s));
  EXPECT_EQ(versions, (std::map<std::string, std::vector<int64_t>>{{"c-1", {1}}, {"c-2", {1}}, {"c-3", {1}}}));
  EXPECT_EQ(producer_.attempts(), 4u);
  EXPECT_EQ(relay_->relay(), 0u);
  EXPECT_EQ(producer_.attempts(), 4u);
}

// Two versions of one customer served from memory, the older one not delivered: the retry
// reads the table, where the older version is superseded, so it is never published after
// the newer one (the newest version stays the last one on the topic).
TEST_F(LedgerServiceTest, RelayRetryNeverPublishesAnOlderVersionAfterANewerOne) {
  open(producer_);
  EXPECT_EQ(outbox_rows(), 0u);  // from now on the store serves its rows from memory
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)}});
  apply({{"c-1", sale("s-2", "c-1", day(1), 200)}, {"c-2", sale("s-3", "c-2", day(1), 300)}});
  producer_.fail_deliveries(1);  // c-1 version 1
  EXPECT_EQ(relay_->relay(), 0u);
  EXPECT_EQ(relay_->relay(), 2u);  // c-1 v2 and c-2 v1, both confirmed in the first round
  std::vector<std::pair<std::string, int64_t>> order;
  for (const auto& s : producer_.stored(kAccounts)) order.emplace_back(s.key, version_of(s));
  EXPECT_EQ(order, (std::vector<std::pair<std::string, int64_t>>{{"c-1", 2}, {"c-2", 1}}));
  EXPECT_EQ(producer_.attempts(), 3u);
  EXPECT_EQ(outbox_rows(), 0u);
}

// produce() throwing (allowed by kafka::Producer): no crash, nothing acknowledged past the
// record it refused, nothing more queued in that call; the next call publishes the rest.
TEST_F(LedgerServiceTest, RelayWithAThrowingProduceStopsAndRetriesLater) {
  ThrowOnNth producer(producer_, 2);
  open(producer);
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)},
         {"c-2", sale("s-2", "c-2", day(0), 200)},
         {"c-3", sale("s-3", "c-3", day(0), 300)}});
  EXPECT_EQ(relay_->relay(), 1u);  // c-1 confirmed; c-2 refused; c-3 not queued
  EXPECT_EQ(outbox_rows(), 2u);
  EXPECT_EQ(producer_.stored(kAccounts).size(), 1u);

  EXPECT_EQ(relay_->relay(), 2u);
  EXPECT_EQ(outbox_rows(), 0u);
  std::vector<std::string> keys;
  for (const auto& s : producer_.stored(kAccounts)) keys.push_back(s.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"c-1", "c-2", "c-3"}));

  producer_.throw_on_produce(1);  // the very first record of a call
  apply({{"c-4", sale("s-4", "c-4", day(0), 400)}});
  EXPECT_EQ(relay_->relay(), 0u);
  EXPECT_EQ(outbox_rows(), 1u);
  EXPECT_EQ(relay_->relay(), 1u);
  EXPECT_EQ(producer_.stored(kAccounts).size(), 4u);
}

// Reports that arrive after the relay stopped waiting land in state the relay shares with
// its callbacks (not in its finished stack frame), and acknowledge nothing.
TEST_F(LedgerServiceTest, LateDeliveryReportsAfterATimedOutRoundAreHarmless) {
  testing::FakeProducer manual(testing::FakeProducer::Mode::manual);
  open(manual, {.rows_per_round = 5000, .delivery_timeout = 50ms});
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)}, {"c-2", sale("s-2", "c-2", day(0), 200)}});
  EXPECT_EQ(relay_->relay(), 0u);
  EXPECT_EQ(manual.in_flight(), 2);
  EXPECT_EQ(manual.deliver(), 2u);  // the callbacks run now, after relay() returned
  EXPECT_EQ(manual.stored(kAccounts).size(), 2u);
  EXPECT_EQ(outbox_rows(), 2u);  // not acknowledged: the next call publishes them again
}

// The loop's tick pumps the relay: it queues a round and returns without waiting for the
// broker, the loop goes on posting, and a later tick acknowledges the round once its
// reports are in and queues what was committed meanwhile.
TEST_F(LedgerServiceTest, TickQueuesTheOutboxWithoutWaitingForTheBroker) {
  testing::FakeProducer manual(testing::FakeProducer::Mode::manual);
  open(manual, {.rows_per_round = 5000, .delivery_timeout = 1h});
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)}, {"c-2", sale("s-2", "c-2", day(0), 200)}});
  handler_->tick();  // would block for an hour if it waited
  EXPECT_TRUE(relay_->in_flight());
  EXPECT_EQ(manual.in_flight(), 2);
  apply({{"c-3", sale("s-3", "c-3", day(0), 300)}});  // posting goes on meanwhile
  handler_->tick();
  EXPECT_EQ(manual.in_flight(), 2);  // one round at a time: c-3 waits for it
  EXPECT_EQ(outbox_rows(), 3u);

  EXPECT_EQ(manual.deliver(), 2u);
  EXPECT_EQ(relay_->pump(), 2u);  // acknowledges c-1 and c-2, queues c-3
  EXPECT_EQ(outbox_rows(), 1u);
  EXPECT_EQ(manual.in_flight(), 1);
  EXPECT_EQ(manual.deliver(), 1u);
  EXPECT_EQ(relay_->pump(), 1u);
  EXPECT_FALSE(relay_->in_flight());
  EXPECT_EQ(outbox_rows(), 0u);
  std::vector<std::string> keys;
  for (const auto& s : manual.stored(kAccounts)) keys.push_back(s.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"c-1", "c-2", "c-3"}));
}

// A pumped round whose reports do not come within delivery_timeout is finished
// unacknowledged, and the next pump produces its rows again; the late reports of the
// finished round acknowledge nothing.
TEST_F(LedgerServiceTest, PumpedRoundPastItsTimeoutIsRetriedByTheNextPump) {
  testing::FakeProducer manual(testing::FakeProducer::Mode::manual);
  open(manual, {.rows_per_round = 5000, .delivery_timeout = 0ms});
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)}});
  EXPECT_EQ(relay_->pump(), 0u);  // queued, and already past its deadline
  EXPECT_FALSE(relay_->in_flight());
  EXPECT_EQ(manual.in_flight(), 1);
  EXPECT_EQ(relay_->pump(), 0u);
  EXPECT_EQ(manual.in_flight(), 2);  // produced again
  EXPECT_EQ(manual.deliver(), 2u);
  EXPECT_EQ(outbox_rows(), 1u);
}

// drain() (shutdown, revocation) waits for a round a tick left in flight.
TEST_F(LedgerServiceTest, DrainFinishesARoundTheTickLeftInFlight) {
  testing::FakeProducer manual(testing::FakeProducer::Mode::manual);
  open(manual, {.rows_per_round = 5000, .delivery_timeout = 1h});
  apply({{"c-1", sale("s-1", "c-1", day(0), 100)}});
  handler_->tick();
  ASSERT_EQ(manual.in_flight(), 1);
  std::thread broker([&] { manual.deliver(); });  // before or while drain() waits
  handler_->drain();
  broker.join();
  EXPECT_FALSE(relay_->in_flight());
  EXPECT_EQ(outbox_rows(), 0u);
}

// on_revoked() returns only once the batch the writer thread is still committing is
// committed: the next owner of the partition reads offsets that include it.
TEST_F(LedgerServiceTest, OnRevokedCommitsTheInFlightPipelinedBatch) {
  open(producer_);
  hooks_->slow_commit = true;
  std::vector<kafka::Record> records;
  records.emplace_back(kPos, 0, 0, "c-1", sale("s-1", "c-1", day(0), 100));
  records.emplace_back(kPos, 0, 1, "c-2", sale("s-2", "c-2", day(0), 200));
  kafka::DeadLetters dead_letters(producer_, 1s);
  handler_->handle(records, dead_letters);  // handed to the writer, whose commit takes 300 ms
  handler_->on_revoked({{kPos, 0, 2}});
  EXPECT_EQ(hooks_->commits_started.load(), 1);
  EXPECT_EQ(hooks_->commits_done.load(), 1);
  auto other = make_sqlite_store(path());  // what another instance would read
  const auto offsets = other->load_offsets();
  ASSERT_EQ(offsets.size(), 1u);
  EXPECT_EQ(offsets[0].next_offset, 2);
}

// A start offset that cannot be read (here: the store fails in the refresh that follows a
// revocation) leaves the partition unassigned and makes the loop rethrow.
TEST_F(LedgerServiceTest, ThrowingStartOffsetMakesTheLoopRethrow) {
  open(producer_);
  testing::LoopDriver driver(*handler_, producer_);
  driver.push(kPos, 0, "c-1", sale("s-1", "c-1", day(0), 100));
  driver.assign({{kPos, 0}});
  EXPECT_EQ(driver.run_until_idle(), 1u);
  driver.revoke();
  driver.step();
  hooks_->fail_offsets = true;
  driver.assign({{kPos, 0}});
  EXPECT_THROW(driver.step(), std::runtime_error);
  EXPECT_TRUE(driver.positions().empty());
}

// After a revocation the start offset comes from the store, not from memory: another
// instance (sharing the database) may have applied the partition meanwhile.
TEST_F(LedgerServiceTest, StartOffsetAfterARevocationIsReadFromTheStore) {
  open(producer_);
  testing::LoopDriver driver(*handler_, producer_);
  for (int i = 0; i < 3; ++i) {
    driver.push(kPos, 0, "c-1", sale("s-" + std::to_string(i), "c-1", day(0), 100));
  }
  driver.assign({{kPos, 0, 0}});
  driver.step();  // all three
  driver.revoke();
  driver.step();
  {
    // Another instance applies two more records of the partition.
    auto other = Ledger::open_sqlite(path());
    const std::string a = sale("s-3", "c-1", day(1), 100), b = sale("s-4", "c-1", day(1), 100);
    std::vector<ConsumedRecord> batch{{kPos, 0, 3, "c-1", a}, {kPos, 0, 4, "c-1", b}};
    EXPECT_EQ(other->apply(batch).applied, 2);
  }
  driver.assign({{kPos, 0}});
  driver.step();
  EXPECT_EQ(driver.positions().at({kPos, 0}), 5);
  v1::AccountSnapshot account = *core_->with([](Ledger& l) { return l.account("c-1", day(2)); });
  EXPECT_EQ(account.lifetime_sales_minor(), 500);  // the cache was dropped, not stale
}

}  // namespace
}  // namespace tierflow::ledger
