// Evaluation points on the ledger's watermarks (issue 10, evaluation_points: watermarks):
// the same accounts stream gives byte-identical tiers, histories and distributions however
// the ledger batched it, however classification's batches fall, across a restart, and
// split over two instances; a same-day sale and refund leaves no trace in history; a point
// waits for the slowest partition; held snapshots survive a restart.
//
// A small ledger is simulated here (the contract of tierflow.v1.LedgerWatermark): per
// partition, events in time order, coalesced per customer and batch into one snapshot per
// evaluation day, then a watermark record. The keepers run on the real ConsumerLoop driven
// by tests/support/fake_kafka.h and share one FakeProducer, whose classification.points.v1
// records every keeper reads back (the points topic).
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "service/points.h"
#include "service/store.h"
#include "service/tier_consumer.h"
#include "service/tier_keeper.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/process.h"
#include "tierflow/classification/standard.h"

namespace tierflow::classification {
namespace {

absl::Time day(int y, int m, int d) { return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()); }
// The evaluation point that ends a day: the next midnight (days are (midnight, midnight]).
absl::Time end_of(int y, int m, int d) { return day(y, m, d) + absl::Hours(24); }

struct Event {
  std::string customer;
  absl::Time at;
  int64_t amount = 0;  // minor units; < 0: a refund of -amount (and its margin)
};

// A ledger.accounts.v1 record as the ledger writes it.
struct Out {
  std::string key;
  std::string value;
  std::string type;
};

// The ledger's output for one partition's events (time-ordered) in batches of `batch`.
std::vector<Out> ledger(const std::vector<Event>& events, int32_t partition, size_t batch, absl::Time close) {
  std::map<std::string, v1::AccountSnapshot> state;
  std::vector<Out> out;
  auto mark = [&](absl::Time w) {
    v1::LedgerWatermark m;
    m.set_partition(partition);
    timeutil::to_proto(w, m.mutable_watermark());
    out.push_back({"~watermark/" + std::to_string(partition), m.SerializeAsString(), "tierflow.v1.LedgerWatermark"});
  };
  absl::Time newest = absl::InfinitePast();
  for (size_t from = 0; from < events.size(); from += batch) {
    const size_t to = std::min(events.size(), from + batch);
    // Per customer (in id order, as the ledger sorts a batch): a snapshot at every change
    // of evaluation day, and at the batch's end.
    std::map<std::string, std::vector<const Event*>> by_customer;
    for (size_t i = from; i < to; ++i) by_customer[events[i].customer].push_back(&events[i]);
    for (const auto& [id, list] : by_customer) {
      v1::AccountSnapshot& a = state[id];
      a.set_customer_id(id);
      a.set_currency("CNY");
      for (size_t k = 0; k < list.size(); ++k) {
        const Event& e = *list[k];
        const absl::CivilDay d = absl::ToCivilDay(e.at, absl::UTCTimeZone());
        const absl::Time day_end = points::point_of(e.at, absl::UTCTimeZone());
        v1::MonthlyBucket* b = nullptr;
        for (auto& m : *a.mutable_months())
          if (m.year() == d.year() && m.month() == d.month()) b = &m;
        if (b == nullptr) {
          b = a.add_months();
          b->set_year(static_cast<int32_t>(d.year()));
          b->set_month(d.month());
        }
        if (e.amount > 0) {
          b->set_sales_minor(b->sales_minor() + e.amount);
          b->set_gross_profit_minor(b->gross_profit_minor() + e.amount / 4);
          b->set_orders(b->orders() + 1);
          a.set_lifetime_sales_minor(a.lifetime_sales_minor() + e.amount);
          a.set_lifetime_gross_profit_minor(a.lifetime_gross_profit_minor() + e.amount / 4);
          a.set_lifetime_orders(a.lifetime_orders() + 1);
          if (!a.has_first_purchase()) timeutil::to_proto(e.at, a.mutable_first_purchase());
          timeutil::to_proto(e.at, a.mutable_last_purchase());
        } else {
          b->set_refunds_minor(b->refunds_minor() - e.amount);
          b->set_gross_profit_minor(b->gross_profit_minor() + e.amount / 4);
          b->set_refund_count(b->refund_count() + 1);
          a.set_lifetime_refunds_minor(a.lifetime_refunds_minor() - e.amount);
          a.set_lifetime_gross_profit_minor(a.lifetime_gross_profit_minor() + e.amount / 4);
        }
        timeutil::to_proto(e.at, a.mutable_as_of());
        newest = std::max(newest, e.at);
        const bool day_ends = k + 1 == list.size() || points::point_of(list[k + 1]->at, absl::UTCTimeZone()) != day_end;
        if (day_ends) {
          a.set_version(a.version() + 1);
          out.push_back({id, a.SerializeAsString(), "tierflow.v1.AccountSnapshot"});
        }
      }
    }
    mark(newest);
  }
  mark(close);  // a later event closes the last day
  return out;
}

// Months of business for `customers` customers over `days` days from 2010-06-01, with
// refunds; partition = customer number % partitions.
std::vector<std::vector<Event>> history_of(int customers, int days, int partitions) {
  std::mt19937 rng(42);
  std::vector<std::vector<Event>> parts(static_cast<size_t>(partitions));
  for (int d = 0; d < days; ++d) {
    std::vector<std::pair<absl::Time, Event>> today;
    for (int c = 0; c < customers; ++c) {
      if (rng() % 3 != 0) continue;
      const std::string id = "c" + std::to_string(100 + c);
      const absl::Time at = day(2010, 6, 1) + absl::Hours(24 * d) + absl::Minutes(rng() % (24 * 60));
      const int64_t amount = static_cast<int64_t>(1 + rng() % 50) * 1000'00 * (1 + c % 7);
      today.push_back({at, Event{id, at, amount}});
      if (rng() % 5 == 0) today.push_back({at + absl::Minutes(1), Event{id, at + absl::Minutes(1), -amount / 2}});
    }
    std::sort(today.begin(), today.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second.customer < b.second.customer;
    });
    for (auto& [at, e] : today) {
      const int c = std::stoi(e.customer.substr(1)) - 100;
      parts[static_cast<size_t>(c % partitions)].push_back(std::move(e));
    }
  }
  return parts;
}

// The points topic as every keeper reads it: the shared FakeProducer's records.
class SharedFeed final : public points::Feed {
 public:
  // `deaf`: while set, nothing is read (a restarted instance whose consumer group has not
  // joined yet).
  SharedFeed(const testing::FakeProducer& p, const bool* deaf = nullptr) : producer_(p), deaf_(deaf) {}
  std::vector<points::KeyValue> poll() override {
    if (deaf_ != nullptr && *deaf_) return {};
    const auto all = producer_.stored(topics::kPoints);
    std::vector<points::KeyValue> out;
    for (; next_ < all.size(); ++next_) out.emplace_back(all[next_].key, all[next_].value);
    return out;
  }

 private:
  const testing::FakeProducer& producer_;
  const bool* deaf_ = nullptr;
  size_t next_ = 0;
};

// One classification instance over some accounts partitions; restartable (kill -9: no
// drain, memory lost, the store kept).
class Instance {
 public:
  Instance(const std::string& store, std::vector<int32_t> owned, testing::FakeProducer& producer, int partitions,
           size_t max_batch, int chunk_bytes = 900000, int keep_days = 35)
      : owned_(std::move(owned)), producer_(producer), max_batch_(max_batch) {
    cfg_.points_keep_days = keep_days;
    cfg_.store_path = store;
    cfg_.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
    cfg_.kafka.bootstrap_servers = "127.0.0.1:1";
    cfg_.clock = "events";
    cfg_.evaluation_points = "watermarks";
    cfg_.accounts_partitions = partitions;
    cfg_.points_chunk_bytes = chunk_bytes;
    cfg_.redis.unix_socket = store + ".no-redis.sock";
    cfg_.redis.timeout = std::chrono::milliseconds(50);
    cfg_.reevaluate_interval = std::chrono::hours(1);
    start();
  }
  ~Instance() {
    if (driver_) driver_->finish();
  }
  void start() {
    registry_ = std::make_unique<prometheus::Registry>();
    keeper_ = std::make_unique<TierKeeper>(cfg_, producer_, *registry_);
    keeper_->set_points_feed(std::make_unique<SharedFeed>(producer_, &deaf_));
    handler_ = std::make_unique<TierConsumer>(*keeper_, cfg_);
    auto o = TierConsumer::options(cfg_);
    o.dead_letter_timeout = std::chrono::milliseconds(200);
    o.max_batch = max_batch_;
    driver_ = std::make_unique<testing::LoopDriver>(*handler_, producer_, o);
    std::vector<kafka::TopicPartition> tps;
    for (int32_t p : owned_) tps.push_back({std::string(topics::kAccounts), p});
    driver_->assign(tps);
    for (const auto& [p, list] : pushed_)
      for (const Out& r : list)
        driver_->push(topics::kAccounts, p, r.key, r.value, {{std::string(kafka::kTypeHeader), r.type}});
  }
  // kill -9 and start again from the store.
  void crash_and_restart() {
    driver_.reset();
    handler_.reset();
    keeper_.reset();
    start();
  }
  // While set, the points topic reads nothing (see SharedFeed).
  void set_deaf(bool deaf) { deaf_ = deaf; }
  void push(int32_t p, const Out& r) {
    pushed_[p].push_back(r);
    driver_->push(topics::kAccounts, p, r.key, r.value, {{std::string(kafka::kTypeHeader), r.type}});
  }
  size_t step() { return driver_->step(); }
  void idle() { driver_->run_until_idle(); }
  // One tick with nothing new: reads the points topic and evaluates what became complete.
  void tick() {
    driver_->step();
    keeper_->reevaluate();
  }
  TierKeeper& keeper() { return *keeper_; }
  const Config& cfg() const { return cfg_; }

 private:
  Config cfg_;
  std::vector<int32_t> owned_;
  testing::FakeProducer& producer_;
  size_t max_batch_;
  std::unique_ptr<prometheus::Registry> registry_;
  std::unique_ptr<TierKeeper> keeper_;
  std::unique_ptr<TierConsumer> handler_;
  std::unique_ptr<testing::LoopDriver> driver_;
  std::map<int32_t, std::vector<Out>> pushed_;
  bool deaf_ = false;
};

// What must not depend on how the stream was delivered: every customer's current
// assignment and history (serialized), and the distribution.
struct Result {
  std::map<std::string, std::string> current;
  std::map<std::string, std::vector<std::string>> history;
  std::string distribution;
};

void collect(Instance& in, Result& r, bool with_distribution) {
  Store s(in.cfg().store_path, Store::Mode::reader);
  s.currents("", [&](v1::TierAssignment&& a) {
    r.current[a.customer_id()] = a.SerializeAsString();
    return true;
  });
  for (const auto& [id, bytes] : r.current) {
    bool more = false;
    if (!s.has_customer(id)) continue;
    for (const auto& h : s.history(id, 0, 1000, &more)) r.history[id].push_back(h.SerializeAsString());
  }
  if (with_distribution) r.distribution = in.keeper().distribution().SerializeAsString();
}

// The first difference between two results, readable; empty when equal.
std::string diff(const Result& a, const Result& b) {
  auto show = [](const std::string& bytes) {
    v1::TierAssignment t;
    t.ParseFromString(bytes);
    return t.ShortDebugString();
  };
  for (const auto& [id, bytes] : a.current) {
    auto it = b.current.find(id);
    if (it == b.current.end()) return "current: " + id + " missing";
    if (it->second != bytes) return "current of " + id + ":\n  " + show(bytes) + "\n  " + show(it->second);
  }
  if (a.current.size() != b.current.size()) return "current: sizes differ";
  for (const auto& [id, rows] : a.history) {
    auto it = b.history.find(id);
    if (it == b.history.end()) return "history: " + id + " missing";
    if (it->second.size() != rows.size()) {
      std::string out = "history of " + id + ": rows differ\n";
      for (const auto& r : rows) out += "  a " + show(r) + "\n";
      for (const auto& r : it->second) out += "  b " + show(r) + "\n";
      return out;
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i] != it->second[i]) return "history of " + id + ":\n  " + show(rows[i]) + "\n  " + show(it->second[i]);
    }
  }
  if (a.history.size() != b.history.size()) return "history: sizes differ";
  if (a.distribution != b.distribution) return "distribution differs";
  return "";
}

constexpr int kCustomers = 60;
constexpr int kDays = 8;
constexpr int kPartitions = 2;
const absl::Time kClose = day(2010, 6, 1 + kDays) + absl::Hours(1);

class PointsTest : public ::testing::Test {
 protected:
  std::string store(const std::string& name) { return dir_.file(name); }
  test_support::TempDir dir_{"tf-cls-points"};
};

// One instance over both partitions; `order` decides which partition's next record is
// delivered, `every` how many records go in before the loop runs; `crash_at` (records
// delivered) kills and restarts the instance once.
// A floor for every third customer (of those `owns` says the instance holds).
void set_floors(Instance& in, const std::function<bool(int)>& owns) {
  for (int k = 100; k < 100 + kCustomers; k += 3) {
    if (!owns(k - 100)) continue;
    v1::TierOverride o;
    o.set_customer_id("c" + std::to_string(k));
    o.set_kind(v1::OVERRIDE_KIND_FLOOR);
    o.set_tier("bronze");
    o.set_actor("test");
    o.set_reason_code("floors");
    if (in.keeper().known(o.customer_id())) in.keeper().set_override(o);
  }
}

// `override_at` (records delivered, after the loop ran): a floor is set for every third
// customer and cleared again 40 records later; `deaf_restart`: the restarted instance reads nothing of
// the points topic until the override is set (a consumer group that joins late);
// `floors_at_end`: set_floors once everything is evaluated.
Result run_single(const std::string& store, size_t ledger_batch, size_t max_batch, size_t every,
                  const std::function<int32_t(size_t)>& order, size_t crash_at = SIZE_MAX,
                  size_t override_at = SIZE_MAX, bool deaf_restart = false, bool floors_at_end = false) {
  const auto events = history_of(kCustomers, kDays, kPartitions);
  std::vector<std::vector<Out>> out;
  for (int32_t p = 0; p < kPartitions; ++p) out.push_back(ledger(events[p], p, ledger_batch, kClose));
  testing::FakeProducer producer;
  Instance in(store, {0, 1}, producer, kPartitions, max_batch);
  std::vector<size_t> next(kPartitions, 0);
  size_t delivered = 0, total = out[0].size() + out[1].size();
  while (delivered < total) {
    int32_t p = order(delivered);
    if (next[p] == out[p].size()) p = 1 - p;
    in.push(p, out[p][next[p]++]);
    ++delivered;
    if (delivered % every == 0) in.idle();
    if (delivered == crash_at) {
      in.set_deaf(deaf_restart);
      in.crash_and_restart();
    }
    if (delivered == override_at) {
      set_floors(in, [](int) { return true; });
      in.set_deaf(false);
    }
    if (override_at != SIZE_MAX && delivered == override_at + 40) {
      for (int k = 100; k < 100 + kCustomers; k += 3)
        in.keeper().clear_override("c" + std::to_string(k), "test", "restart");
    }
  }
  in.idle();
  in.tick();
  if (floors_at_end) set_floors(in, [](int) { return true; });
  Result r;
  collect(in, r, true);
  EXPECT_EQ(in.keeper().last_point(), end_of(2010, 6, kDays)) << "every day closed";
  return r;
}

TEST_F(PointsTest, SameStreamAnyBatchingOrderRestartOrInstancesGivesTheSameTiers) {
  // Record by record, the ledger's smallest batches, partitions alternating.
  const Result a = run_single(store("a.db"), 1, 1, 1, [](size_t i) { return static_cast<int32_t>(i % 2); });
  ASSERT_FALSE(a.current.empty());
  // Big ledger batches, everything delivered before the loop runs, partition 1 first.
  const Result b = run_single(store("b.db"), 50, 5000, 100000, [](size_t) { return 1; });
  // Odd batches, partition 0 first, with a kill -9 in the middle.
  const Result c = run_single(
      store("c.db"), 7, 13, 5, [](size_t) { return 0; }, 300);
  EXPECT_EQ(diff(a, b), "") << "big batches";
  EXPECT_EQ(diff(a, c), "") << "odd batches and a restart";
  // An override right after a restart, before the points topic was read again: it decides
  // with the frozen cut points of the last point (restored from the store), as the
  // uninterrupted run does.
  const Result d = run_single(
      store("d.db"), 7, 13, 5, [](size_t) { return 0; }, SIZE_MAX, 300);
  const Result e = run_single(
      store("e.db"), 7, 13, 5, [](size_t) { return 0; }, 300, 300, true);
  EXPECT_EQ(diff(d, e), "") << "an override right after a restart";

  // Two instances, one partition each, over one points topic (summaries in small chunks):
  // x runs far ahead of y (its points wait for y's summaries), then y catches up.
  const auto events = history_of(kCustomers, kDays, kPartitions);
  const auto out0 = ledger(events[0], 0, 3, kClose);
  const auto out1 = ledger(events[1], 1, 20, kClose);
  testing::FakeProducer producer;
  Result xy;
  {
    Instance x(store("x.db"), {0}, producer, kPartitions, 3, 64);
    Instance y(store("y.db"), {1}, producer, kPartitions, 11, 64);
    size_t j = 0;
    for (size_t i = 0; i < out0.size(); ++i) {
      x.push(0, out0[i]);
      if (i % 4 == 0) x.idle();
      if (i % 3 == 0 && j < out1.size() / 2) {
        y.push(1, out1[j++]);
        y.idle();
      }
    }
    x.idle();
    while (j < out1.size()) y.push(1, out1[j++]);
    y.idle();
    // The instances take turns: each point needs both partitions' summaries.
    for (int round = 0; round < 2 * kDays + 2; ++round) {
      x.tick();
      y.tick();
    }
    EXPECT_EQ(x.keeper().last_point(), end_of(2010, 6, kDays));
    EXPECT_EQ(y.keeper().last_point(), end_of(2010, 6, kDays));
    // Overrides are dated on a clock both instances share, not each one's newest event.
    set_floors(x, [](int k) { return k % kPartitions == 0; });
    set_floors(y, [](int k) { return k % kPartitions == 1; });
    collect(x, xy, false);
    collect(y, xy, false);
    // Each instance's distribution is over every partition, the same bytes.
    x.tick();
    y.tick();
    xy.distribution = x.keeper().distribution().SerializeAsString();
    EXPECT_EQ(y.keeper().distribution().SerializeAsString(), xy.distribution) << "the instances' distributions";
    EXPECT_EQ(y.keeper().overview({})->SerializeAsString(), x.keeper().overview({})->SerializeAsString())
        << "the instances' overviews";
  }
  const Result a_floors = run_single(
      store("af.db"), 1, 1, 1, [](size_t i) { return static_cast<int32_t>(i % 2); }, SIZE_MAX, SIZE_MAX, false, true);
  EXPECT_EQ(diff(a_floors, xy), "") << "two instances";
  // Summaries were cut into chunks, each record under the limit.
  size_t chunks = 0;
  for (const auto& r : producer.stored(topics::kPoints)) {
    EXPECT_LT(r.value.size(), 64u + 32) << r.key;
    chunks += !r.key.starts_with("~") && r.key.ends_with("/1") ? 1 : 0;
  }
  EXPECT_GT(chunks, 0u) << "no summary needed a second chunk: the chunking is not exercised";
}

// The cut points between points are those of the last point, at once after a restart
// (restored from the store), not a population computed from whatever the restarted
// instance holds while the points topic is not read yet.
TEST_F(PointsTest, ARestartDecidesWithTheLastPointsCutPointsBeforeThePointsTopicIsRead) {
  const auto events = history_of(kCustomers, kDays, kPartitions);
  std::vector<std::vector<Out>> out;
  for (int32_t p = 0; p < kPartitions; ++p) out.push_back(ledger(events[p], p, 7, kClose));
  testing::FakeProducer producer;
  Instance in(store("r.db"), {0, 1}, producer, kPartitions, 13);
  // Up to the middle of a day: customers have new sales since the last point.
  size_t n = 0;
  for (int32_t p = 0; p < kPartitions; ++p)
    for (size_t i = 0; i < out[p].size() * 2 / 3; ++i, ++n) in.push(p, out[p][i]);
  in.idle();
  const absl::Time point = in.keeper().last_point();
  ASSERT_NE(point, absl::InfinitePast());
  auto explain_all = [&]() {
    std::map<std::string, std::string> texts;
    for (int k = 100; k < 100 + kCustomers; ++k) {
      const std::string id = "c" + std::to_string(k);
      v1::TierAssignment current;
      if (auto e = in.keeper().explain(id, &current)) {
        std::string t;
        for (const auto& line : e->explanation) t += line + "\n";
        texts[id] = t + e->assignment.ShortDebugString();
      }
    }
    return texts;
  };
  const auto before = explain_all();
  ASSERT_FALSE(before.empty());
  in.set_deaf(true);
  in.crash_and_restart();
  in.idle();
  EXPECT_EQ(in.keeper().last_point(), point);
  const auto after = explain_all();
  for (const auto& [id, text] : before) EXPECT_EQ(after.at(id), text) << id;
}

Out snapshot_record(const std::string& id, int64_t version, absl::Time as_of, int64_t orders, bool backfill = false) {
  v1::AccountSnapshot a;
  a.set_customer_id(id);
  a.set_version(version);
  a.set_currency("CNY");
  a.set_backfill(backfill);
  timeutil::to_proto(as_of, a.mutable_as_of());
  const absl::CivilDay d = absl::ToCivilDay(as_of, absl::UTCTimeZone());
  auto* b = a.add_months();
  b->set_year(static_cast<int32_t>(d.year()));
  b->set_month(d.month());
  b->set_sales_minor(orders * 1000'00);
  b->set_gross_profit_minor(orders * 250'00);
  b->set_orders(orders);
  a.set_lifetime_sales_minor(orders * 1000'00);
  a.set_lifetime_gross_profit_minor(orders * 250'00);
  a.set_lifetime_orders(orders);
  timeutil::to_proto(day(2010, 6, 1) + absl::Hours(9), a.mutable_first_purchase());
  timeutil::to_proto(as_of, a.mutable_last_purchase());
  return {id, a.SerializeAsString(), "tierflow.v1.AccountSnapshot"};
}

Out mark_record(int32_t p, absl::Time w) {
  v1::LedgerWatermark m;
  m.set_partition(p);
  timeutil::to_proto(w, m.mutable_watermark());
  return {"~watermark/" + std::to_string(p), m.SerializeAsString(), "tierflow.v1.LedgerWatermark"};
}

std::optional<v1::TierAssignment> current_of(const Instance& in, const std::string& id) {
  return Store(in.cfg().store_path, Store::Mode::reader).current(id);
}

// A sale that lifts a customer into gold and its refund the same day: whether the ledger
// coalesced them into one snapshot or not, no gold row, no grace period. Between the two
// (separate snapshots) the customer is gold provisionally, for lookups only.
TEST_F(PointsTest, SameDaySaleAndRefundLeaveNoHistoryRowAndNoGracePeriod) {
  std::vector<Event> events;
  for (int c = 0; c < 10; ++c) {
    const std::string id = "c" + std::to_string(10 + c);
    events.push_back({id, day(2010, 6, 1) + absl::Hours(8) + absl::Minutes(c), (c + 1) * 1000'00});
  }
  // Day 2: c10 (the smallest) sells 400,000 CNY (top value, below gold's 500,000 of
  // sales), and refunds it a minute later.
  events.push_back({"c10", day(2010, 6, 2) + absl::Hours(10), 400'000'00});
  events.push_back({"c10", day(2010, 6, 2) + absl::Hours(10) + absl::Minutes(1), -400'000'00});
  events.push_back({"c11", day(2010, 6, 3) + absl::Hours(10), 1000'00});
  for (size_t batch : {size_t{1}, size_t{100}}) {
    SCOPED_TRACE("ledger batches of " + std::to_string(batch));
    testing::FakeProducer producer;
    Instance in(store("refund-" + std::to_string(batch) + ".db"), {0}, producer, 1, 1);
    for (const Out& r : ledger(events, 0, batch, day(2010, 6, 5) + absl::Hours(1))) {
      in.push(0, r);
      in.idle();
    }
    in.tick();
    ASSERT_EQ(in.keeper().last_point(), end_of(2010, 6, 4));
    bool more = false;
    const auto rows = Store(in.cfg().store_path, Store::Mode::reader).history("c10", 0, 100, &more);
    ASSERT_FALSE(rows.empty());
    for (const auto& r : rows) {
      EXPECT_NE(r.tier(), "gold") << r.ShortDebugString();
      EXPECT_FALSE(r.has_pending_downgrade()) << r.ShortDebugString();
      EXPECT_FALSE(r.provisional());
    }
    const auto cur = current_of(in, "c10");
    ASSERT_TRUE(cur);
    EXPECT_NE(cur->tier(), "gold");
    EXPECT_FALSE(cur->has_pending_downgrade());
    EXPECT_FALSE(cur->provisional());
    bool provisional_gold = false;
    for (const auto& sent : producer.stored(topics::kAssignments)) {
      v1::TierAssignment a;
      a.ParseFromString(sent.value);
      if (a.customer_id() == "c10" && a.tier() == "gold") {
        EXPECT_TRUE(a.provisional()) << "gold was only ever provisional";
        provisional_gold = true;
      }
    }
    EXPECT_EQ(provisional_gold, batch == 1) << "separate snapshots are decided between points, provisionally";
  }
}

// A point is evaluated only when every partition's watermark passed it; newer snapshots
// wait (held in the store) and survive a kill -9.
TEST_F(PointsTest, APointWaitsForTheSlowestPartitionAndHeldSnapshotsSurviveARestart) {
  testing::FakeProducer producer;
  Instance in(store("slow.db"), {0, 1}, producer, 2, 1);
  const absl::Time d1 = day(2010, 6, 1) + absl::Hours(9);
  in.push(0, snapshot_record("a", 1, d1, 1));
  in.push(1, snapshot_record("b", 1, d1, 1));
  in.push(0, snapshot_record("a", 2, d1 + absl::Hours(24), 2));
  in.push(0, snapshot_record("a", 3, d1 + absl::Hours(48), 300));  // big volume from day 3
  in.push(0, mark_record(0, day(2010, 6, 4) + absl::Hours(1)));
  in.push(1, mark_record(1, day(2010, 6, 2) + absl::Hours(1)));
  in.idle();
  in.tick();
  EXPECT_EQ(in.keeper().last_point(), end_of(2010, 6, 1)) << "partition 1 has passed only day 1";
  {
    Store s(in.cfg().store_path, Store::Mode::reader);
    const auto held = s.held();
    ASSERT_EQ(held.size(), 1u) << "a's day-3 snapshot waits for the day-2 point";
    EXPECT_EQ(held[0].snapshot.version(), 3);
    const auto a = s.current("a");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->provisional()) << "day 2 is open: a's day-2 snapshot is decided provisionally";
  }
  in.crash_and_restart();
  in.idle();
  in.tick();
  EXPECT_EQ(in.keeper().last_point(), end_of(2010, 6, 1));
  in.push(1, mark_record(1, day(2010, 6, 4) + absl::Hours(1)));
  in.idle();
  in.tick();
  EXPECT_EQ(in.keeper().last_point(), end_of(2010, 6, 3));
  Store s(in.cfg().store_path, Store::Mode::reader);
  EXPECT_TRUE(s.held().empty());
  const auto a = s.current("a");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->provisional());
  EXPECT_EQ(timeutil::from_proto(a->evaluated_time()), end_of(2010, 6, 3)) << a->ShortDebugString();
  bool three = false;
  for (const auto& d : a->dimensions()) three = three || d.detail().find("lifetime orders 300") != std::string::npos;
  EXPECT_TRUE(three) << "decided from the held snapshot: " << a->ShortDebugString();
}

// Retention of classification.points.v1: after each point an instance writes one
// tombstone for each summary and overview-row record of its partitions at points more than
// points_keep_days before it, and none for newer ones; after a kill -9 the next point is
// still evaluated (the last point's cut points come from the store) and no record gets a
// second tombstone (the feed reads the tombstones back).
TEST_F(PointsTest, OldPointsGetTombstonesAndARestartStillEvaluatesTheNext) {
  testing::FakeProducer producer;
  Instance in(store("keep.db"), {0, 1}, producer, 2, 1, 900000, /*keep_days=*/2);
  auto day_of = [&](int d) {
    in.push(0, snapshot_record("a", d, day(2010, 6, d) + absl::Hours(9), d == 7 ? 300 : d));  // big on day 7
    in.push(1, snapshot_record("b", d, day(2010, 6, d) + absl::Hours(10), 2 * d));
    in.push(0, mark_record(0, day(2010, 6, d + 1) + absl::Hours(1)));
    in.push(1, mark_record(1, day(2010, 6, d + 1) + absl::Hours(1)));
  };
  for (int d = 1; d <= 6; ++d) day_of(d);
  in.idle();
  in.tick();
  ASSERT_EQ(in.keeper().last_point(), end_of(2010, 6, 6));
  // Keys are "<day of the point>/<p>/<k>" and "<day>/<p>/d<k>"; the point that ends June d
  // is named June d + 1.
  auto check = [&](const std::string& kept_from) {
    std::set<std::string> records;
    std::map<std::string, int> tombstones;
    for (const auto& r : producer.stored(topics::kPoints)) {
      if (r.key.starts_with("~")) continue;
      if (r.tombstone) {
        EXPECT_TRUE(records.contains(r.key)) << "a tombstone for a key never written: " << r.key;
        ++tombstones[r.key];
      } else {
        records.insert(r.key);
      }
    }
    const size_t written = tombstones.size();
    for (const auto& key : records) {
      const bool old = key.substr(0, 10) < kept_from;
      auto it = tombstones.find(key);
      EXPECT_EQ(it == tombstones.end() ? 0 : it->second, old ? 1 : 0) << key;
    }
    return written;
  };
  // 2010-06-07 less two days: the points named June 2, 3 and 4 go; each had one summary
  // and one rows record per partition.
  EXPECT_EQ(check("2010-06-05"), 3u * 2u * 2u);
  in.crash_and_restart();
  day_of(7);
  in.idle();
  in.tick();
  EXPECT_EQ(in.keeper().last_point(), end_of(2010, 6, 7));
  EXPECT_EQ(check("2010-06-06"), 4u * 2u * 2u);
  const auto a = current_of(in, "a");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->provisional());
  EXPECT_EQ(timeutil::from_proto(a->evaluated_time()), end_of(2010, 6, 7)) << a->ShortDebugString();
  bool big = false;
  for (const auto& d : a->dimensions()) big = big || d.detail().find("lifetime orders 300") != std::string::npos;
  EXPECT_TRUE(big) << "decided at the June 7 point after the restart: " << a->ShortDebugString();
}

// TierAssignment.backfill follows the newest applied snapshot.
TEST_F(PointsTest, BackfillFollowsTheNewestAppliedSnapshot) {
  testing::FakeProducer producer;
  Instance in(store("backfill.db"), {0}, producer, 1, 1);
  in.push(0, snapshot_record("a", 1, day(2010, 6, 1) + absl::Hours(9), 1, true));
  in.push(0, mark_record(0, day(2010, 6, 2) + absl::Hours(1)));
  in.idle();
  in.tick();
  ASSERT_EQ(in.keeper().last_point(), end_of(2010, 6, 1));
  EXPECT_TRUE(current_of(in, "a")->backfill());
  in.push(0, snapshot_record("a", 2, day(2010, 6, 2) + absl::Hours(9), 5, false));
  in.push(0, mark_record(0, day(2010, 6, 3) + absl::Hours(1)));
  in.idle();
  in.tick();
  ASSERT_EQ(in.keeper().last_point(), end_of(2010, 6, 2));
  EXPECT_FALSE(current_of(in, "a")->backfill());
}

// Merged per-partition summaries give exactly the cut points of the whole population, and
// survive their byte form.
TEST(PopulationSummaryTest, MergedSummariesGiveTheSingleProcessCutPoints) {
  const auto standard = Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
  std::mt19937 rng(7);
  std::vector<Features> all, part[3];
  for (int i = 0; i < 5000; ++i) {
    Features f;
    f.set(Feature::value, static_cast<int64_t>(rng() % 2000) - 100);
    f.set(Feature::recency_days, static_cast<int64_t>(rng() % 400));
    f.set(Feature::orders_12m, static_cast<int64_t>(rng() % 30));
    all.push_back(f);
    part[rng() % 3].push_back(f);
  }
  PopulationSummary merged = PopulationSummary::decode(PopulationSummary::of(*standard, part[0]).encode());
  for (int k = 1; k < 3; ++k)
    merged.merge(PopulationSummary::decode(PopulationSummary::of(*standard, part[k]).encode()));
  EXPECT_EQ(merged, PopulationSummary::of(*standard, all));
  const Population whole = Population::compute(*standard, all);
  const Population from = Population::from_summary(*standard, merged);
  for (size_t d = 0; d < standard->dimensions().size(); ++d) EXPECT_EQ(from.thresholds(d), whole.thresholds(d)) << d;
}

}  // namespace
}  // namespace tierflow::classification
