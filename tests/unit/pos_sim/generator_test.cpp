#include "generator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace tierflow::pos_sim {
namespace {

namespace v1 = tierflow::v1;

GeneratorConfig small(std::uint64_t seed) {
  GeneratorConfig c;
  c.seed = seed;
  c.customers = 300;
  c.months = 6;
  return c;
}

std::vector<v1::PosEvent> all_events(const GeneratorConfig& c) {
  EventGenerator g(c);
  std::vector<v1::PosEvent> out;
  v1::PosEvent e;
  while (g.next(&e)) out.push_back(e);
  return out;
}

TEST(Generator, SameSeedSameWorkload) {
  const auto a = all_events(small(7));
  const auto b = all_events(small(7));
  ASSERT_GT(a.size(), 1000u);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].SerializeAsString(), b[i].SerializeAsString()) << "event " << i;
  }
  EXPECT_EQ(generate_profile(small(7), 42).SerializeAsString(),
            generate_profile(small(7), 42).SerializeAsString());
}

TEST(Generator, DifferentSeedDifferentWorkload) {
  const auto a = all_events(small(1));
  const auto b = all_events(small(2));
  EXPECT_NE(a.front().event_id(), b.front().event_id());
  EXPECT_EQ(a.front().event_id().rfind("e-1-", 0), 0u);
  EXPECT_NE(a.size(), b.size());
}

TEST(Generator, CustomerBehaviourDoesNotDependOnPopulationSize) {
  GeneratorConfig big = small(3);
  big.customers = 5000;
  EXPECT_EQ(generate_profile(small(3), 17).SerializeAsString(), generate_profile(big, 17).SerializeAsString());
}

TEST(Generator, Invariants) {
  const GeneratorConfig c = small(11);
  const auto events = all_events(c);
  std::set<std::string> ids;
  std::map<std::string, std::int64_t> sale_total;
  std::map<std::string, std::int64_t> on_account;
  std::map<std::string, std::int64_t> refunded;
  std::map<std::string, std::int64_t> paid;
  std::map<std::string, std::string> sale_customer;
  std::int64_t last_time = 0;
  int sales = 0, payments = 0, refunds = 0, no_receipt = 0, feedback = 0;
  const std::int64_t start = 1735689600;  // 2025-01-01T00:00:00Z
  const std::int64_t end = 1751328000;    // 2025-07-01T00:00:00Z
  for (const auto& e : events) {
    ASSERT_TRUE(ids.insert(e.event_id()).second) << "duplicate id " << e.event_id();
    ASSERT_GE(e.event_time().seconds(), last_time) << "events leave in event-time order";
    last_time = e.event_time().seconds();
    ASSERT_GE(e.event_time().seconds(), start);
    ASSERT_LT(e.event_time().seconds(), end);
    ASSERT_FALSE(e.customer_id().empty());
    switch (e.body_case()) {
      case v1::PosEvent::kSale: {
        ++sales;
        const auto& s = e.sale();
        std::int64_t lines = 0, tenders = 0, account = 0;
        for (const auto& l : s.lines()) {
          lines += l.amount().minor_units();
          EXPECT_LE(l.amount().minor_units(), l.quantity() * l.unit_price().minor_units());
        }
        for (const auto& t : s.tenders()) {
          EXPECT_GT(t.amount().minor_units(), 0);
          tenders += t.amount().minor_units();
          if (t.method() == v1::TENDER_METHOD_ON_ACCOUNT) account += t.amount().minor_units();
        }
        EXPECT_EQ(lines, s.total().minor_units());
        EXPECT_EQ(tenders, s.total().minor_units()) << e.event_id();
        EXPECT_EQ(s.total().currency(), "CNY");
        if (account > 0) {
          EXPECT_EQ(s.payment_terms_days(), 30);
        }
        sale_total[e.event_id()] = s.total().minor_units();
        on_account[e.event_id()] = account;
        sale_customer[e.event_id()] = e.customer_id();
        break;
      }
      case v1::PosEvent::kRefund: {
        const auto& r = e.refund();
        EXPECT_GT(r.amount().minor_units(), 0);
        if (r.original_event_id().empty()) {
          ++no_receipt;
          break;
        }
        ++refunds;
        ASSERT_TRUE(sale_total.count(r.original_event_id())) << "refund before its sale";
        EXPECT_EQ(sale_customer[r.original_event_id()], e.customer_id());
        refunded[r.original_event_id()] += r.amount().minor_units();
        EXPECT_LE(refunded[r.original_event_id()], sale_total[r.original_event_id()]);
        break;
      }
      case v1::PosEvent::kPayment: {
        ++payments;
        const auto& p = e.payment();
        ASSERT_TRUE(on_account.count(p.invoice_event_id())) << "payment before its sale";
        paid[p.invoice_event_id()] += p.amount().minor_units();
        EXPECT_LE(paid[p.invoice_event_id()], on_account[p.invoice_event_id()]);
        break;
      }
      case v1::PosEvent::kFeedback:
        ++feedback;
        EXPECT_GE(e.feedback().score(), 0);
        EXPECT_LE(e.feedback().score(), 10);
        break;
      default:
        ADD_FAILURE() << "event without a body: " << e.event_id();
    }
  }
  EXPECT_GT(sales, 1000);
  EXPECT_GT(payments, 50);
  EXPECT_GT(refunds, 10);
  EXPECT_GT(feedback, 20);
  EXPECT_GE(no_receipt, 0);
}

TEST(Generator, ParetoSpread) {
  const GeneratorConfig c = small(5);
  std::map<std::string, std::int64_t> value;
  for (const auto& e : all_events(c)) {
    if (e.has_sale()) value[e.customer_id()] += e.sale().total().minor_units();
  }
  std::vector<std::int64_t> v;
  std::int64_t total = 0;
  for (const auto& [id, x] : value) {
    v.push_back(x);
    total += x;
  }
  std::sort(v.rbegin(), v.rend());
  std::int64_t top = 0;
  for (std::size_t i = 0; i < v.size() / 5; ++i) top += v[i];
  // A few customers buy a lot: the top fifth brings well over half of the sales.
  EXPECT_GT(top * 100 / total, 55);
}

TEST(Generator, Profiles) {
  const GeneratorConfig c = small(9);
  int shanghai = 0, lunar = 0;
  for (int i = 1; i <= 200; ++i) {
    const auto p = generate_profile(c, i);
    EXPECT_EQ(p.customer_id(), customer_id(i));
    EXPECT_NE(p.email().find("@example.com"), std::string::npos);
    EXPECT_NE(p.phone().find("555"), std::string::npos);
    EXPECT_TRUE(p.language() == "zh-CN" || p.language() == "en");
    EXPECT_FALSE(p.industry().empty());
    EXPECT_EQ(p.region().rfind("CN-", 0), 0u);
    EXPECT_GE(p.birthday().month(), 1);
    EXPECT_LE(p.birthday().day(), 28);
    EXPECT_EQ(p.consents_size(), 2);
    EXPECT_GT(p.company_size().employees(), 0);
    EXPECT_EQ(p.company_size().annual_revenue().currency(), "CNY");
    EXPECT_GT(p.contract_start().year(), 2017);
    shanghai += p.time_zone() == "Asia/Shanghai";
    lunar += p.has_lunar_birthday();
  }
  EXPECT_GT(shanghai, 120);
  EXPECT_GT(lunar, 10);
  EXPECT_EQ(customer_id(1), "c-000001");
}

TEST(Generator, ZeroMonthsYieldsNothing) {
  GeneratorConfig c = small(1);
  c.months = 0;
  EventGenerator g(c);
  v1::PosEvent e;
  EXPECT_FALSE(g.next(&e));
  EXPECT_DOUBLE_EQ(g.progress(), 1.0);
}

}  // namespace
}  // namespace tierflow::pos_sim
