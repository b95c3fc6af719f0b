// Classification you can audit (issue 10): one clock in a history, history rows that are
// changes only, an override that can be undone at once, and money in a foreign currency
// that is counted and explained rather than silently ignored. The keeper runs on the real
// kafka::ConsumerLoop driven by tests/support/fake_kafka.h; its store is SQLite in a
// temporary directory and Redis is down (which the keeper tolerates).
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>

#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "service/store.h"
#include "service/tier_consumer.h"
#include "service/tier_keeper.h"
#include "tests/support/accounts.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/process.h"
#include "tests/unit/classification_service/keeper_config.h"

namespace tierflow::classification {
namespace {

using test_support::steady_account;
using test_support::utc_day;

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg_ = offline_keeper_config(dir_, "events");
    cfg_.evaluation_points = "newest_event";  // no ledger watermarks in these scenarios
    keeper_ = std::make_unique<TierKeeper>(cfg_, producer_, registry_);
    handler_ = std::make_unique<TierConsumer>(*keeper_, cfg_);
    auto o = TierConsumer::options(cfg_);
    o.dead_letter_timeout = std::chrono::milliseconds(200);
    driver_ = std::make_unique<testing::LoopDriver>(*handler_, producer_, o);
    driver_->assign({{std::string(topics::kCustomers), 0}, {std::string(topics::kAccounts), 0}});
  }
  void TearDown() override {
    driver_->finish();
    driver_.reset();
    handler_.reset();
    keeper_.reset();
  }
  void account(const v1::AccountSnapshot& a) {
    driver_->push(topics::kAccounts, 0, a.customer_id(), a.SerializeAsString(),
                  {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}});
    driver_->run_until_idle();
  }
  void profile(const std::string& id) {
    v1::CustomerProfile p;
    p.set_customer_id(id);
    p.set_region("CN-31");
    driver_->push(topics::kCustomers, 0, id, p.SerializeAsString(),
                  {{std::string(kafka::kTypeHeader), "tierflow.v1.CustomerProfile"}});
    driver_->run_until_idle();
  }
  v1::TierAssignment current(const std::string& id) {
    auto a = Store(cfg_.store_path, Store::Mode::reader).current(id);
    EXPECT_TRUE(a.has_value()) << id;
    return a.value_or(v1::TierAssignment{});
  }
  std::vector<v1::TierAssignment> history(const std::string& id) {
    bool more = false;
    return keeper_->history(id, 0, 100, &more);
  }
  double metric(const std::string& family, const std::string& label, const std::string& value) {
    for (const auto& f : registry_.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        for (const auto& l : m.label) {
          if (l.name == label && l.value == value) return m.counter.value;
        }
      }
    }
    return -1;
  }

  test_support::TempDir dir_{"tf-cls-audit"};
  Config cfg_;
  prometheus::Registry registry_;
  testing::FakeProducer producer_;
  std::unique_ptr<TierKeeper> keeper_;
  std::unique_ptr<TierConsumer> handler_;
  std::unique_ptr<testing::LoopDriver> driver_;
};

// A profile arrives before any account: with the event clock there is no time to date an
// assignment with yet, so nothing may be dated with the wall clock (2026 before 2010).
TEST_F(AuditTest, EventClockNeverDatesAHistoryRowWithWallTime) {
  profile("c1");
  account(steady_account("c1", 1, 40'000'00, utc_day(2010, 6, 1)));
  account(steady_account("c1", 2, 40'000'00, utc_day(2010, 7, 1)));
  const auto rows = history("c1");
  ASSERT_FALSE(rows.empty());
  for (const auto& r : rows) {
    EXPECT_LE(timeutil::from_proto(r.evaluated_time()), utc_day(2010, 7, 1)) << r.ShortDebugString();
    EXPECT_LE(timeutil::from_proto(r.assigned_time()), utc_day(2010, 7, 1)) << r.ShortDebugString();
  }
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_GE(timeutil::from_proto(rows[i - 1].evaluated_time()), timeutil::from_proto(rows[i].evaluated_time()))
        << "history runs backwards";
  }
}

// Versions that change nothing a history reader cares about (the matched rule, a class,
// the standard version) are not history rows; tier, credit hold and a pending downgrade
// set or cleared are.
TEST_F(AuditTest, HistoryHoldsChangesOnly) {
  Store s(dir_.file("history.db"));
  auto row = [](int64_t v, const std::string& tier, const std::string& rule, absl::Time t) {
    v1::TierAssignment a;
    a.set_customer_id("c9");
    a.set_version(v);
    a.set_tier(tier);
    a.set_matched_rule(rule);
    a.set_standard_version("s1");
    timeutil::to_proto(t, a.mutable_evaluated_time());
    return a;
  };
  std::vector<v1::TierAssignment> rows{
      row(1, "silver", "silver-value-b", utc_day(2010, 1, 1)), row(2, "silver", "silver-frequent", utc_day(2010, 1, 2)),
      row(3, "silver", "silver-value-b", utc_day(2010, 1, 3)), row(4, "gold", "gold-top-value", utc_day(2010, 1, 4)),
      row(5, "gold", "gold-top-value", utc_day(2010, 1, 5)),   row(6, "gold", "gold-top-value", utc_day(2010, 1, 6)),
      row(7, "gold", "gold-top-value", utc_day(2010, 1, 7))};
  rows[4].set_credit_hold(true);  // v5: credit hold set
  rows[5].set_credit_hold(true);  // v6: a pending downgrade announced
  rows[5].mutable_pending_downgrade()->set_to_tier("silver");
  rows[6].set_credit_hold(true);  // v7: the downgrade cancelled
  for (const auto& a : rows) {
    Store::Batch b;
    b.changes.push_back(&a);
    s.apply(b);
  }
  bool more = false;
  const auto h = s.history("c9", 0, 100, &more);
  std::vector<int64_t> versions;
  for (const auto& a : h) versions.push_back(a.version());
  EXPECT_EQ(versions, (std::vector<int64_t>{7, 6, 5, 4, 1}));
  // Paged: the same rows, two at a time.
  const auto p1 = s.history("c9", 0, 2, &more);
  ASSERT_EQ(p1.size(), 2u);
  EXPECT_TRUE(more);
  const auto p2 = s.history("c9", p1.back().version(), 2, &more);
  ASSERT_EQ(p2.size(), 2u);
  EXPECT_EQ(p2[0].version(), 5);
  EXPECT_EQ(p2[1].version(), 4);
  EXPECT_TRUE(more);
  const auto p3 = s.history("c9", p2.back().version(), 2, &more);
  ASSERT_EQ(p3.size(), 1u);
  EXPECT_EQ(p3[0].version(), 1);
  EXPECT_FALSE(more);
}

// Re-evaluations that change nothing add no rows to a customer's history.
TEST_F(AuditTest, ReevaluationsThatChangeNothingAddNoHistory) {
  account(steady_account("c1", 1, 40'000'00, utc_day(2010, 6, 1)));
  const auto before = history("c1").size();
  keeper_->reevaluate();
  keeper_->reevaluate();
  EXPECT_EQ(history("c1").size(), before);
}

// A pin set by mistake and cleared a second later: the customer is back where the
// standard puts it at once, with no grace period after the pin.
TEST_F(AuditTest, ClearingAPinReturnsToTheStandardAtOnce) {
  account(steady_account("c1", 1, 40'000'00, utc_day(2010, 6, 1)));
  const v1::TierAssignment held = current("c1");
  ASSERT_NE(held.tier(), "diamond");
  v1::TierOverride pin;
  pin.set_customer_id("c1");
  pin.set_kind(v1::OVERRIDE_KIND_PIN);
  pin.set_tier("diamond");
  pin.set_actor("agent-7");
  pin.set_reason_code("mistake");
  const auto set = keeper_->set_override(pin);
  EXPECT_EQ(current("c1").tier(), "diamond");
  // Overrides and their audit rows carry wall time.
  EXPECT_GT(timeutil::from_proto(set.set_time()), utc_day(2020, 1, 1));
  ASSERT_TRUE(keeper_->clear_override("c1", "agent-7", "undo"));
  const v1::TierAssignment back = current("c1");
  EXPECT_EQ(back.tier(), held.tier());
  EXPECT_FALSE(back.has_pending_downgrade()) << back.ShortDebugString();
  EXPECT_FALSE(back.has_override());
  // ... and it stays there.
  keeper_->reevaluate();
  EXPECT_EQ(current("c1").tier(), held.tier());
}

// Clearing restores a tier the standard gave before the pin (a grace period it was in
// keeps running) rather than recomputing from the pinned tier.
TEST_F(AuditTest, ClearingAPinRestoresWhatTheStandardGaveBefore) {
  account(steady_account("c1", 1, 40'000'00, utc_day(2010, 6, 1)));
  const std::string held = current("c1").tier();
  v1::TierOverride pin;
  pin.set_customer_id("c1");
  pin.set_kind(v1::OVERRIDE_KIND_PIN);
  pin.set_tier("prospect");
  pin.set_actor("agent-7");
  pin.set_reason_code("mistake");
  keeper_->set_override(pin);
  EXPECT_EQ(current("c1").tier(), "prospect");
  ASSERT_TRUE(keeper_->clear_override("c1", "agent-7", "undo"));
  EXPECT_EQ(current("c1").tier(), held);
}

// Money in a currency the standard does not value: counted per currency, and explained.
TEST_F(AuditTest, ForeignCurrencyIsCountedAndExplained) {
  account(steady_account("c1", 1, 40'000'00, utc_day(2010, 6, 1), "GBP"));
  account(steady_account("c1", 2, 40'000'00, utc_day(2010, 7, 1), "GBP"));
  account(steady_account("c2", 1, 40'000'00, utc_day(2010, 7, 1), "GBP"));
  EXPECT_EQ(metric("tierflow_classification_foreign_currency_customers_total", "currency", "GBP"), 2);
  v1::TierAssignment cur;
  const auto e = keeper_->explain("c1", &cur);
  ASSERT_TRUE(e.has_value());
  bool said = false;
  for (const auto& line : e->explanation) said = said || line.find("GBP") != std::string::npos;
  EXPECT_TRUE(said) << "explain must say that GBP money was not counted";
}

// Between points a changed customer is evaluated at its own newest event time (not at the
// newest time any customer of the batch brought), so its result does not depend on what
// shared its batch.
TEST_F(AuditTest, BetweenPointsACustomerIsEvaluatedAtItsOwnEventTime) {
  account(steady_account("c0", 1, 10'000'00, utc_day(2010, 6, 1)));  // the first point: 2010-06-01
  const absl::Time c1_at = utc_day(2010, 6, 1) + absl::Hours(9);
  const absl::Time c2_at = utc_day(2010, 6, 1) + absl::Hours(22);
  driver_->push(topics::kAccounts, 0, "c1", steady_account("c1", 1, 40'000'00, c1_at).SerializeAsString(),
                {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}});
  driver_->push(topics::kAccounts, 0, "c2", steady_account("c2", 1, 40'000'00, c2_at).SerializeAsString(),
                {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}});
  driver_->run_until_idle();
  EXPECT_EQ(timeutil::from_proto(current("c1").evaluated_time()), c1_at);
  EXPECT_EQ(timeutil::from_proto(current("c2").evaluated_time()), c2_at);
}

// Between evaluation points the population's cut points are frozen: a changed customer is
// evaluated alone against them (no whole-population pass per batch). The next point (a
// new day of event time, or the schedule: reevaluate()) recomputes them for everyone.
TEST_F(AuditTest, CutPointsAreFrozenBetweenEvaluationPoints) {
  // Ten customers on one day: value A is the top 20% (2 customers): c9 and c10.
  for (int i = 1; i <= 10; ++i) {
    driver_->push(topics::kAccounts, 0, "c" + std::to_string(i),
                  steady_account("c" + std::to_string(i), 1, i * 10'000'00, utc_day(2010, 6, 1)).SerializeAsString(),
                  {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}});
  }
  driver_->run_until_idle();
  auto value_class = [&](const std::string& id) {
    const v1::TierAssignment a = current(id);
    for (const auto& d : a.dimensions())
      if (d.dimension() == "value") return d.class_name();
    return std::string("-");
  };
  ASSERT_EQ(value_class("c9"), "A");
  ASSERT_EQ(value_class("c8"), "B");
  // Two big customers arrive the same day: they reach A against the frozen cut points,
  // and c9 keeps its A until the next point.
  account(steady_account("c11", 1, 500'000'00, utc_day(2010, 6, 1)));
  account(steady_account("c12", 1, 600'000'00, utc_day(2010, 6, 1)));
  EXPECT_EQ(value_class("c11"), "A");
  EXPECT_EQ(value_class("c9"), "A") << "evaluated again although nothing of it changed";
  // The next point: 12 customers, top 20% = ceil(2.4) = 3: c12, c11, c10.
  keeper_->reevaluate();
  EXPECT_EQ(value_class("c9"), "B");
  EXPECT_EQ(value_class("c10"), "A");
}

}  // namespace
}  // namespace tierflow::classification
