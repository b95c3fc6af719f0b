// The ledger's scenarios, written once and run on every store backend: each test binary
// includes this header once and instantiates LedgerTest with its backend, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, LedgerTest, ::testing::Values(sqlite_backend()),
//                            backend_name);
// (tests/unit/ledger: SQLite, label unit; tests/integration/ledger_pg: PostgreSQL, label
// integration). Expectations are computed by hand in the comments; amounts are CNY minor
// units (fen) unless stated. The trial balance is checked after every batch and at the end
// of every scenario.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tierflow/ledger/ledger.h"
#include "tierflow/ledger/store.h"
#include "tierflow/v1/events.pb.h"

namespace tierflow::ledger {

// One test's database on some backend. open() may be called several times (reopen); every
// call opens the same database. Destroying the Backend removes the database.
class TestDatabase {
 public:
  virtual ~TestDatabase() = default;
  virtual std::unique_ptr<Store> open() = 0;
};

struct BackendParam {
  std::string name;  // used in test names: [A-Za-z0-9]
  // nullopt when the backend can run here, else why the tests are skipped.
  std::function<std::optional<std::string>()> unavailable;
  // A fresh, empty database for the test `test_name`.
  std::function<std::unique_ptr<TestDatabase>(const std::string& test_name)> create;
  // Every Ledger the scenarios open runs with Options::pipeline = pipeline.
  bool pipeline = false;
};

inline std::string backend_name(const ::testing::TestParamInfo<BackendParam>& info) {
  return info.param.name;
}

inline void PrintTo(const BackendParam& p, std::ostream* os) { *os << p.name; }

// The same backend with every ledger pipelined (a writer thread commits each batch while
// the next is processed); reads wait for the commit, so every scenario holds unchanged.
inline BackendParam pipelined(BackendParam p) {
  p.name += "Pipelined";
  p.pipeline = true;
  return p;
}

namespace {

using v1::TenderMethod;
constexpr auto kCash = v1::TENDER_METHOD_CASH;
constexpr auto kCard = v1::TENDER_METHOD_CARD;
constexpr auto kOnAccount = v1::TENDER_METHOD_ON_ACCOUNT;
constexpr auto kTransfer = v1::TENDER_METHOD_TRANSFER;

// 2024-01-01T00:00:00Z plus whole days.
absl::Time day(int d) { return absl::FromUnixSeconds(1704067200) + absl::Hours(24) * d; }

void set_time(absl::Time t, google::protobuf::Timestamp* ts) {
  ts->set_seconds(absl::ToUnixSeconds(t));
}

v1::PosEvent base(const std::string& id, const std::string& customer, absl::Time t) {
  v1::PosEvent e;
  e.set_event_id(id);
  e.set_customer_id(customer);
  e.set_store_id("store-1");
  set_time(t, e.mutable_event_time());
  return e;
}

void money(v1::Money* m, int64_t minor, const std::string& cur) {
  m->set_minor_units(minor);
  m->set_currency(cur);
}

struct T {
  TenderMethod method;
  int64_t amount;
};

v1::PosEvent sale(const std::string& id, const std::string& customer, absl::Time t, int64_t total,
                  std::vector<T> tenders = {}, int terms = 0, const std::string& cur = "CNY") {
  auto e = base(id, customer, t);
  auto* s = e.mutable_sale();
  money(s->mutable_total(), total, cur);
  for (const auto& tn : tenders) {
    auto* x = s->add_tenders();
    x->set_method(tn.method);
    money(x->mutable_amount(), tn.amount, cur);
  }
  s->set_payment_terms_days(terms);
  return e;
}

v1::PosEvent on_account(const std::string& id, const std::string& customer, absl::Time t,
                        int64_t total, int terms) {
  return sale(id, customer, t, total, {{kOnAccount, total}}, terms);
}

v1::PosEvent refund(const std::string& id, const std::string& customer, absl::Time t,
                    int64_t amount, const std::string& original, TenderMethod method = kCash,
                    const std::string& cur = "CNY") {
  auto e = base(id, customer, t);
  auto* r = e.mutable_refund();
  money(r->mutable_amount(), amount, cur);
  r->set_original_event_id(original);
  r->set_method(method);
  return e;
}

v1::PosEvent payment(const std::string& id, const std::string& customer, absl::Time t,
                     int64_t amount, const std::string& invoice = "",
                     TenderMethod method = kTransfer) {
  auto e = base(id, customer, t);
  auto* p = e.mutable_payment();
  money(p->mutable_amount(), amount, "CNY");
  p->set_method(method);
  p->set_invoice_event_id(invoice);
  return e;
}

v1::PosEvent feedback(const std::string& id, const std::string& customer, absl::Time t, int score) {
  auto e = base(id, customer, t);
  e.mutable_feedback()->set_score(score);
  return e;
}

class LedgerTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override {
    if (auto why = GetParam().unavailable()) GTEST_SKIP() << *why;
    db_ = GetParam().create(::testing::UnitTest::GetInstance()->current_test_info()->name());
    reopen();
  }
  void TearDown() override {
    if (ledger_) expect_balanced();  // after every scenario, whatever it did
    ledger_.reset();
    db_.reset();
  }

  void reopen(Options options = {}) {
    ledger_.reset();
    ledger_ = open_ledger(db_->open(), options);
  }

  std::unique_ptr<Ledger> open_ledger(std::unique_ptr<Store> store, Options options = {}) {
    options.pipeline = GetParam().pipeline;
    return Ledger::open(std::move(store), options);
  }

  // Applies events as the next records of `partition`; checks the trial balance after.
  ApplyResult feed(const std::vector<v1::PosEvent>& events, int32_t partition = 0) {
    std::vector<std::string> values;
    for (const auto& e : events) values.push_back(e.SerializeAsString());
    return feed_raw(values, partition);
  }

  ApplyResult feed_raw(const std::vector<std::string>& values, int32_t partition = 0) {
    std::vector<ConsumedRecord> batch;
    int64_t& next = next_[partition];
    for (const auto& v : values) {
      v1::PosEvent e;
      std::string_view key;
      if (e.ParseFromString(v)) key = keys_.emplace_back(e.customer_id());
      batch.push_back({"pos.events.v1", partition, next++, key, v});
    }
    last_batch_values_ = values;
    last_batch_ = batch;
    auto r = ledger_->apply(batch);
    expect_balanced();
    return r;
  }

  void expect_balanced() {
    auto tb = ledger_->trial_balance();
    EXPECT_TRUE(tb.balanced());
    int64_t net = 0;
    for (const auto& l : tb.lines()) net += l.debit_minor() - l.credit_minor();
    EXPECT_EQ(net, 0);
  }

  // Debit minus credit of an account in CNY.
  int64_t balance(const std::string& account) {
    const auto tb = ledger_->trial_balance();
    for (const auto& l : tb.lines()) {
      if (l.account() == account && l.currency() == "CNY") return l.debit_minor() - l.credit_minor();
    }
    return 0;
  }

  v1::AccountSnapshot account(const std::string& customer, absl::Time now = day(0)) {
    auto a = ledger_->account(customer, now);
    EXPECT_TRUE(a.has_value()) << customer;
    return a.value_or(v1::AccountSnapshot{});
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<Ledger> ledger_;
  std::map<int32_t, int64_t> next_;
  std::deque<std::string> keys_;
  std::vector<std::string> last_batch_values_;
  std::vector<ConsumedRecord> last_batch_;
};

// --- sales ----------------------------------------------------------------------------

TEST_P(LedgerTest, CashSaleWithoutTendersIsAllCash) {
  auto r = feed({sale("s-1", "c-1", day(0), 10000)});
  EXPECT_EQ(r.applied, 1);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(balance("cash"), 10000);
  EXPECT_EQ(balance("revenue"), -10000);
  EXPECT_EQ(balance("receivable"), 0);
  auto a = account("c-1");
  EXPECT_EQ(a.currency(), "CNY");
  EXPECT_EQ(a.lifetime_sales_minor(), 10000);
  EXPECT_EQ(a.lifetime_gross_profit_minor(), 10000);  // no cost given: profit = sales
  EXPECT_EQ(a.lifetime_orders(), 1);
  EXPECT_EQ(a.receivable_minor(), 0);
  EXPECT_EQ(a.first_purchase().seconds(), absl::ToUnixSeconds(day(0)));
  ASSERT_EQ(a.months_size(), 1);
  EXPECT_EQ(a.months(0).year(), 2024);
  EXPECT_EQ(a.months(0).month(), 1);
  EXPECT_EQ(a.months(0).sales_minor(), 10000);
  EXPECT_EQ(a.months(0).orders(), 1);
}

TEST_P(LedgerTest, CardOnAccountAndMixedTenders) {
  auto r = feed({sale("s-1", "c-1", day(0), 5000, {{kCard, 5000}}),
                 on_account("s-2", "c-1", day(1), 20000, 30),
                 sale("s-3", "c-1", day(2), 30000, {{kCash, 1000}, {kCard, 9000}, {kOnAccount, 20000}}, 15)});
  EXPECT_EQ(r.applied, 3);
  EXPECT_EQ(balance("cash"), 1000);
  EXPECT_EQ(balance("card"), 5000 + 9000);
  EXPECT_EQ(balance("receivable"), 20000 + 20000);
  EXPECT_EQ(balance("revenue"), -(5000 + 20000 + 30000));
  auto a = account("c-1", day(2));
  EXPECT_EQ(a.receivable_minor(), 40000);
  EXPECT_EQ(a.lifetime_sales_minor(), 55000);
  EXPECT_EQ(a.lifetime_orders(), 3);
  EXPECT_EQ(a.payment().invoices_open(), 2);
  EXPECT_EQ(a.ageing().current_minor(), 40000);

  // The statement shows the mixed sale as one balanced entry with the receivable after it.
  v1::GetStatementRequest req;
  req.set_customer_id("c-1");
  auto st = ledger_->statement(req);
  ASSERT_EQ(st.entries_size(), 3);
  const auto& e = st.entries(2);
  EXPECT_EQ(e.event_id(), "s-3");
  EXPECT_EQ(e.kind(), "sale");
  EXPECT_EQ(e.balance_after_minor(), 40000);
  int64_t debit = 0, credit = 0;
  for (const auto& l : e.lines()) {
    debit += l.debit_minor();
    credit += l.credit_minor();
  }
  EXPECT_EQ(debit, 30000);
  EXPECT_EQ(credit, 30000);
  EXPECT_EQ(e.lines_size(), 4);  // cash, card, receivable, revenue
  EXPECT_EQ(st.opening_balance_minor(), 0);
  EXPECT_EQ(st.closing_balance_minor(), 40000);
}

TEST_P(LedgerTest, ZeroValueLinesAndZeroSale) {
  auto s1 = sale("s-1", "c-1", day(0), 1000);
  auto* l1 = s1.mutable_sale()->add_lines();
  l1->set_sku("tea");
  l1->set_quantity(1);
  money(l1->mutable_amount(), 1000, "CNY");
  auto* l2 = s1.mutable_sale()->add_lines();
  l2->set_sku("free-cup");
  l2->set_quantity(0);
  money(l2->mutable_amount(), 0, "CNY");
  auto s2 = sale("s-2", "c-1", day(0), 0);  // a free sample: a sale of nothing
  auto* l3 = s2.mutable_sale()->add_lines();
  l3->set_sku("sample");
  l3->set_quantity(1);
  money(l3->mutable_amount(), 0, "CNY");
  auto r = feed({s1, s2});
  EXPECT_EQ(r.applied, 2);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(balance("cash"), 1000);
  auto a = account("c-1");
  EXPECT_EQ(a.lifetime_orders(), 2);
  EXPECT_EQ(a.lifetime_sales_minor(), 1000);
  v1::GetStatementRequest req;
  req.set_customer_id("c-1");
  auto st = ledger_->statement(req);
  ASSERT_EQ(st.entries_size(), 2);
  EXPECT_EQ(st.entries(1).lines_size(), 0);  // zero lines are not posted
}

TEST_P(LedgerTest, GrossProfitUsesCostAndRefundsReduceIt) {
  auto s = sale("s-1", "c-1", day(0), 10000);
  money(s.mutable_sale()->mutable_cost(), 6000, "CNY");
  feed({s});
  EXPECT_EQ(account("c-1").lifetime_gross_profit_minor(), 4000);
  // Refund of a quarter: the refunded margin is 2500 * 4000 / 10000 = 1000.
  feed({refund("r-1", "c-1", day(1), 2500, "s-1")});
  auto a = account("c-1");
  EXPECT_EQ(a.lifetime_gross_profit_minor(), 3000);
  EXPECT_EQ(a.lifetime_refunds_minor(), 2500);
  EXPECT_EQ(a.months(0).gross_profit_minor(), 3000);
  EXPECT_EQ(a.months(0).refund_count(), 1);
  EXPECT_EQ(balance("refunds"), 2500);
  EXPECT_EQ(balance("cash"), 7500);
}

// --- refunds --------------------------------------------------------------------------

TEST_P(LedgerTest, RefundAboveRemainingRejectedRestOfBatchApplied) {
  feed({sale("s-17", "c-1", day(0), 100000), refund("r-1", "c-1", day(1), 20000, "s-17")});
  auto r = feed({refund("r-2", "c-1", day(2), 120000, "s-17"), feedback("f-1", "c-1", day(2), 9),
                 refund("r-3", "c-1", day(2), 10000, "s-17", kCard)});
  EXPECT_EQ(r.applied, 2);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].event_id, "r-2");
  EXPECT_EQ(r.rejected[0].customer_id, "c-1");
  EXPECT_EQ(r.rejected[0].offset, 2);
  EXPECT_EQ(r.rejected[0].reason,
            "refund 1,200.00 CNY above the 800.00 CNY that remains refundable on sale s-17");
  EXPECT_EQ(r.rejected[0].value, last_batch_values_[0]);
  auto a = account("c-1");
  EXPECT_EQ(a.lifetime_refunds_minor(), 30000);
  EXPECT_EQ(a.feedback().count(), 1);
  EXPECT_EQ(balance("cash"), 100000 - 20000);
  EXPECT_EQ(balance("card"), -10000);
  // Exactly the remaining 700.00 is still refundable.
  auto r2 = feed({refund("r-4", "c-1", day(3), 70001, "s-17"), refund("r-5", "c-1", day(3), 70000, "s-17")});
  EXPECT_EQ(r2.applied, 1);
  ASSERT_EQ(r2.rejected.size(), 1u);
  EXPECT_EQ(r2.rejected[0].reason,
            "refund 700.01 CNY above the 700.00 CNY that remains refundable on sale s-17");
}

TEST_P(LedgerTest, ReturnWithoutReceiptMakesNetNegative) {
  feed({sale("s-1", "c-1", day(0), 5000)});
  auto r = feed({refund("r-1", "c-1", day(1), 8000, "", kOnAccount)});
  EXPECT_EQ(r.applied, 1);
  auto a = account("c-1");
  EXPECT_EQ(a.lifetime_sales_minor() - a.lifetime_refunds_minor(), -3000);
  EXPECT_EQ(a.lifetime_gross_profit_minor(), -3000);
  EXPECT_EQ(a.credit_minor(), 8000);  // nothing owed, so all of it is customer credit
  EXPECT_EQ(a.receivable_minor(), 0);
  EXPECT_EQ(balance("customer_credit"), -8000);
  EXPECT_EQ(balance("refunds"), 8000);
  // A manual credit for a customer never seen opens the account in that currency.
  auto r2 = feed({refund("r-2", "c-2", day(1), 500, "", v1::TENDER_METHOD_UNSPECIFIED)});
  EXPECT_EQ(r2.applied, 1);
  EXPECT_EQ(account("c-2").currency(), "CNY");
  EXPECT_EQ(account("c-2").credit_minor(), 500);
}

TEST_P(LedgerTest, RefundOnAccountReducesReceivableFirst) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30), on_account("s-2", "c-1", day(1), 4000, 30)});
  // 5000 back on account for s-2: s-2's own invoice (4000) first, then the oldest (s-1).
  feed({refund("r-1", "c-1", day(2), 4000, "s-2", kOnAccount),
        refund("r-2", "c-1", day(2), 3000, "", kOnAccount)});
  auto a = account("c-1", day(2));
  EXPECT_EQ(a.receivable_minor(), 10000 - 3000);
  EXPECT_EQ(a.credit_minor(), 0);
  EXPECT_EQ(a.payment().invoices_open(), 1);
  EXPECT_EQ(a.payment().invoices_paid(), 0);  // closed by a credit, not a payment
  EXPECT_EQ(balance("receivable"), 7000);
}

TEST_P(LedgerTest, RefundValidation) {
  feed({sale("s-1", "c-1", day(0), 5000), sale("s-2", "c-2", day(0), 5000), payment("p-0", "c-1", day(0), 1)});
  auto r = feed({refund("r-1", "c-1", day(1), 100, "s-2"), refund("r-2", "c-1", day(1), -100, "s-1"),
                 refund("r-3", "c-1", day(1), 100, "p-0"), refund("r-4", "c-1", day(1), 100, "s-1", kCash, "USD")});
  ASSERT_EQ(r.rejected.size(), 4u);
  EXPECT_EQ(r.rejected[0].reason, "sale s-2 belongs to another customer");
  EXPECT_EQ(r.rejected[1].reason, "negative amount: refund -1.00 CNY");
  EXPECT_EQ(r.rejected[2].reason, "refund names p-0, which is not a sale");
  EXPECT_EQ(r.rejected[3].reason, "refund in USD of sale s-1 in CNY");
  EXPECT_EQ(r.applied, 0);
}

// --- payments -------------------------------------------------------------------------

TEST_P(LedgerTest, PaymentAllocatedOldestFirstThenNamedThenCredit) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30), on_account("s-2", "c-1", day(5), 20000, 30)});
  // 150.00: s-1 (100.00) closes, s-2 keeps 150.00 open.
  auto r = feed({payment("p-1", "c-1", day(10), 15000)});
  EXPECT_EQ(r.applied, 1);
  auto a = account("c-1", day(10));
  EXPECT_EQ(a.receivable_minor(), 15000);
  EXPECT_EQ(a.credit_minor(), 0);
  EXPECT_EQ(a.payment().invoices_paid(), 1);
  EXPECT_EQ(a.payment().invoices_open(), 1);
  // 300.00 naming s-2: 150.00 closes it, the other 150.00 is customer credit.
  feed({payment("p-2", "c-1", day(11), 30000, "s-2", kCash)});
  a = account("c-1", day(11));
  EXPECT_EQ(a.receivable_minor(), 0);
  EXPECT_EQ(a.credit_minor(), 15000);
  EXPECT_EQ(a.lifetime_payments_minor(), 45000);
  EXPECT_EQ(a.payment().invoices_paid(), 2);
  EXPECT_EQ(balance("bank"), 15000);
  EXPECT_EQ(balance("cash"), 30000);
  EXPECT_EQ(balance("receivable"), 0);
  EXPECT_EQ(balance("customer_credit"), -15000);
}

TEST_P(LedgerTest, PaymentToNamedInvoiceSkipsOlderOnes) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30), on_account("s-2", "c-1", day(5), 20000, 30)});
  feed({payment("p-1", "c-1", day(6), 5000, "s-2")});
  auto ag = ledger_->ageing("c-1", day(40));  // s-1 due day 30: 10 days past; s-2 due day 35: 5
  EXPECT_EQ(ag.days_1_30_minor(), 10000 + 15000);
  auto a = account("c-1", day(6));
  EXPECT_EQ(a.receivable_minor(), 25000);
  // Paying a named invoice that is already closed puts the money on credit.
  feed({payment("p-2", "c-1", day(7), 10000, "s-1"), payment("p-3", "c-1", day(8), 500, "s-1")});
  a = account("c-1", day(8));
  EXPECT_EQ(a.receivable_minor(), 15000);
  EXPECT_EQ(a.credit_minor(), 500);
}

TEST_P(LedgerTest, PaymentValidation) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30)});
  auto r = feed({payment("p-1", "c-9", day(1), 100), payment("p-2", "c-1", day(1), 0),
                 payment("p-3", "c-1", day(1), 100, "", kOnAccount)});
  ASSERT_EQ(r.rejected.size(), 3u);
  EXPECT_EQ(r.rejected[0].reason, "payment for unknown customer c-9 (no sale yet)");
  EXPECT_EQ(r.rejected[1].reason, "payment amount must be positive, got 0.00 CNY");
  EXPECT_EQ(r.rejected[2].reason, "payment method ON_ACCOUNT cannot settle an account");
  EXPECT_FALSE(ledger_->account("c-9", day(1)).has_value());
}

// --- exactly once ---------------------------------------------------------------------

TEST_P(LedgerTest, DuplicateEventIdChangesNothing) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30)});
  auto before = account("c-1");
  auto outbox_before = ledger_->pending_outbox(100).size();
  auto r = feed({on_account("s-1", "c-1", day(0), 10000, 30), payment("s-1", "c-1", day(1), 50)});
  EXPECT_EQ(r.duplicates, 2);
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.changed_customers.empty());
  auto after = account("c-1");
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  EXPECT_EQ(ledger_->pending_outbox(100).size(), outbox_before);
  EXPECT_EQ(balance("receivable"), 10000);
  // The offsets still moved on: the duplicates were consumed.
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 0), 3);
}

TEST_P(LedgerTest, ReplayOfSameOffsetsChangesNothing) {
  feed({sale("s-1", "c-1", day(0), 1000), sale("s-2", "c-2", day(0), 2000)});
  auto batch = last_batch_;
  auto values = last_batch_values_;
  auto before = account("c-1");
  auto outbox_before = ledger_->pending_outbox(100).size();
  auto r = ledger_->apply(batch);
  EXPECT_EQ(r.replayed, 2);
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_TRUE(r.changed_customers.empty());
  EXPECT_EQ(account("c-1").version(), before.version());
  EXPECT_EQ(ledger_->pending_outbox(100).size(), outbox_before);
  EXPECT_EQ(balance("cash"), 3000);
  expect_balanced();
}

TEST_P(LedgerTest, ReopenResumesFromStoredOffsets) {
  EXPECT_FALSE(ledger_->next_offset("pos.events.v1", 3).has_value());
  feed({on_account("s-1", "c-1", day(0), 10000, 30), sale("s-2", "c-1", day(1), 500),
        refund("r-9", "c-1", day(1), 100, "s-404")},
       3);
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 3), 3);
  reopen();
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 3), 3);
  EXPECT_FALSE(ledger_->next_offset("pos.events.v1", 0).has_value());
  EXPECT_EQ(ledger_->deferred_count(), 1);
  auto a = account("c-1", day(1));
  EXPECT_EQ(a.version(), 2);  // one snapshot per evaluation day: day 0's end, then day 1's
  EXPECT_EQ(a.receivable_minor(), 10000);
  EXPECT_EQ(a.lifetime_sales_minor(), 10500);
  EXPECT_EQ(balance("receivable"), 10000);
  // The state loaded from the file goes on: invoices, versions, dedupe.
  auto r = feed({payment("p-1", "c-1", day(2), 10000), sale("s-1", "c-1", day(0), 1)}, 3);
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(r.duplicates, 1);
  a = account("c-1", day(2));
  EXPECT_EQ(a.version(), 3);
  EXPECT_EQ(a.receivable_minor(), 0);
  EXPECT_EQ(a.payment().invoices_paid(), 1);
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 3), 5);
}

// --- late and out of order ------------------------------------------------------------

TEST_P(LedgerTest, RefundBeforeItsSaleIsDeferredThenReleased) {
  auto r1 = feed({refund("r-1", "c-1", day(1), 3000, "s-9")});
  EXPECT_EQ(r1.deferred, 1);
  EXPECT_EQ(r1.applied, 0);
  EXPECT_TRUE(r1.changed_customers.empty());
  EXPECT_EQ(ledger_->deferred_count(), 1);
  // The same refund sent again while it waits is a duplicate.
  EXPECT_EQ(feed({refund("r-1", "c-1", day(1), 3000, "s-9")}).duplicates, 1);
  EXPECT_EQ(ledger_->deferred_count(), 1);

  auto r2 = feed({sale("s-9", "c-1", day(0), 10000)});
  EXPECT_EQ(r2.applied, 1);
  EXPECT_EQ(r2.released, 1);
  EXPECT_EQ(ledger_->deferred_count(), 0);
  auto a = account("c-1");
  EXPECT_EQ(a.lifetime_refunds_minor(), 3000);
  EXPECT_EQ(balance("cash"), 7000);
  // Two snapshots: the sale's day 0, then the released refund's own later day 1.
  EXPECT_EQ(a.version(), 2);

  // Both in one batch, refund first; and a payment waiting for its invoice.
  auto r3 = feed({refund("r-2", "c-2", day(1), 1000, "s-10"), payment("p-1", "c-2", day(3), 2000, "s-10"),
                  on_account("s-10", "c-2", day(0), 5000, 30)});
  EXPECT_EQ(r3.deferred, 2);
  EXPECT_EQ(r3.applied, 1);
  EXPECT_EQ(r3.released, 2);
  EXPECT_EQ(ledger_->deferred_count(), 0);
  auto b = account("c-2", day(3));
  EXPECT_EQ(b.receivable_minor(), 5000 - 2000);
  EXPECT_EQ(b.lifetime_refunds_minor(), 1000);
  EXPECT_EQ(r3.changed_customers, std::vector<std::string>{"c-2"});
}

TEST_P(LedgerTest, ReleasedRefundAboveRemainingIsRejected) {
  auto r1 = feed({refund("r-1", "c-1", day(1), 30000, "s-9")});
  EXPECT_EQ(r1.deferred, 1);
  auto r2 = feed({sale("s-9", "c-1", day(0), 10000)}, 1);
  EXPECT_EQ(r2.applied, 1);
  EXPECT_EQ(r2.released, 0);
  ASSERT_EQ(r2.rejected.size(), 1u);
  EXPECT_EQ(r2.rejected[0].event_id, "r-1");
  EXPECT_EQ(r2.rejected[0].partition, 0);  // where the refund itself was read
  EXPECT_EQ(r2.rejected[0].offset, 0);
  EXPECT_EQ(r2.rejected[0].reason,
            "refund 300.00 CNY above the 100.00 CNY that remains refundable on sale s-9");
}

TEST_P(LedgerTest, ExpireDeferred) {
  auto late = refund("r-1", "c-1", day(1), 3000, "s-9");
  set_time(day(2), late.mutable_received_time());  // the wait starts when ingest received it
  feed({late, payment("p-1", "c-1", day(5), 100, "s-8")});
  EXPECT_EQ(ledger_->deferred_count(), 2);
  EXPECT_TRUE(ledger_->expire_deferred(day(8), absl::Hours(24 * 7)).empty());
  auto gone = ledger_->expire_deferred(day(10), absl::Hours(24 * 7));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].event_id, "r-1");
  EXPECT_EQ(gone[0].customer_id, "c-1");
  EXPECT_EQ(gone[0].reason, "sale s-9 never arrived within 7 days");
  EXPECT_EQ(gone[0].value, late.SerializeAsString());
  EXPECT_EQ(ledger_->deferred_count(), 1);
  auto gone2 = ledger_->expire_deferred(day(6));
  ASSERT_EQ(gone2.size(), 1u);
  EXPECT_EQ(gone2[0].reason, "sale s-8 never arrived before 2024-01-07T00:00:00Z");
  EXPECT_EQ(ledger_->deferred_count(), 0);
  // The sale arriving now releases nothing; a resent refund is considered afresh.
  auto r = feed({sale("s-9", "c-1", day(0), 10000), late});
  EXPECT_EQ(r.applied, 2);
  EXPECT_EQ(r.released, 0);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(account("c-1").lifetime_refunds_minor(), 3000);
  reopen();
  EXPECT_EQ(ledger_->deferred_count(), 0);
}

// --- ageing and payment behaviour -----------------------------------------------------

TEST_P(LedgerTest, AgeingBuckets) {
  // Invoices with terms 0 are due on their sale day. As of day 200:
  feed({on_account("s-a", "c-1", day(200), 100, 0),    // due day 200: current
        on_account("s-b", "c-1", day(190), 200, 0),    // 10 days past due
        on_account("s-c", "c-1", day(160), 400, 0),    // 40
        on_account("s-d", "c-1", day(130), 800, 0),    // 70
        on_account("s-e", "c-1", day(100), 1600, 0),   // 100
        on_account("s-f", "c-1", day(170), 3200, 30),  // due day 200: current
        on_account("s-g", "c-1", day(300), 6400, 0)}); // issued after as_of: not aged
  auto ag = ledger_->ageing("c-1", day(200));
  EXPECT_EQ(ag.current_minor(), 100 + 3200);
  EXPECT_EQ(ag.days_1_30_minor(), 200);
  EXPECT_EQ(ag.days_31_60_minor(), 400);
  EXPECT_EQ(ag.days_61_90_minor(), 800);
  EXPECT_EQ(ag.over_90_minor(), 1600);
  // Boundaries: exactly 30 days past due is 1-30; 30 days and an hour is 31-60.
  auto at30 = ledger_->ageing("c-1", day(220));  // s-b: 30 days past due
  EXPECT_EQ(at30.days_1_30_minor(), 200 + 3200 + 100);
  auto later = ledger_->ageing("c-1", day(220) + absl::Hours(1));
  EXPECT_EQ(later.days_31_60_minor(), 200);
  EXPECT_THROW(ledger_->ageing("c-404", day(0)), NotFound);
  // The snapshot lists every open invoice oldest first, so readers can age them later.
  auto snap = ledger_->account("c-1", day(200));
  ASSERT_TRUE(snap.has_value());
  ASSERT_EQ(snap->open_invoices_size(), 7);
  EXPECT_EQ(snap->open_invoices(0).event_id(), "s-e");
  EXPECT_EQ(snap->open_invoices(0).open_minor(), 1600);
  EXPECT_EQ(snap->open_invoices(2).event_id(), "s-c");
  EXPECT_EQ(snap->open_invoices(6).event_id(), "s-g");
  EXPECT_EQ(snap->open_invoices(3).due_time().seconds() - snap->open_invoices(3).issued_time().seconds(),
            30 * 86400);  // s-f: 30 days of terms
}

TEST_P(LedgerTest, PaymentBehaviourOverTwelveMonths) {
  feed({on_account("s-old", "c-1", day(0), 1000, 0),     // paid day 10: 10 late, but > 12 months ago
        on_account("s-a", "c-1", day(400), 1000, 30),    // due 430, paid 425: on time
        on_account("s-b", "c-1", day(410), 2000, 30),    // due 440, paid 450: 10 late
        on_account("s-c", "c-1", day(420), 4000, 30),    // due 450, paid 470: 20 late
        on_account("s-d", "c-1", day(440), 8000, 30)});  // due 470, open
  feed({payment("p-0", "c-1", day(10), 1000, "s-old"), payment("p-a", "c-1", day(425), 1000, "s-a"),
        payment("p-b", "c-1", day(450), 2000, "s-b"), payment("p-c", "c-1", day(470), 4000, "s-c")});
  auto a = account("c-1", day(500));
  const auto& p = a.payment();
  EXPECT_EQ(p.invoices_paid(), 3);
  EXPECT_DOUBLE_EQ(p.on_time_ratio(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(p.avg_days_late(), 15.0);
  EXPECT_EQ(p.max_days_late(), 20);
  EXPECT_EQ(p.invoices_open(), 1);
  EXPECT_EQ(p.overdue_minor(), 8000);  // s-d, 30 days past due at day 500
  EXPECT_EQ(a.ageing().days_1_30_minor(), 8000);
  // Before s-d falls due nothing is overdue.
  EXPECT_EQ(account("c-1", day(470)).payment().overdue_minor(), 0);
  // A customer who never paid an invoice has no evidence of lateness.
  feed({sale("s-x", "c-2", day(0), 10)});
  EXPECT_DOUBLE_EQ(account("c-2").payment().on_time_ratio(), 1.0);
}

// --- snapshots and outbox -------------------------------------------------------------

// (Within one evaluation day: a batch that crosses a day end gives a snapshot per day, see
// SnapshotsNeverStraddleADayEnd.)
TEST_P(LedgerTest, OneOutboxRowPerChangedCustomerPerBatchAndVersionGrows) {
  auto r1 = feed({sale("s-1", "c-1", day(1) + absl::Hours(1), 1000), sale("s-3", "c-1", day(1) + absl::Hours(2), 500),
                  feedback("f-1", "c-1", day(2), 4), sale("s-2", "c-2", day(3), 2000)});
  EXPECT_EQ(r1.changed_customers, (std::vector<std::string>{"c-1", "c-2"}));
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].customer_id, "c-1");
  v1::AccountSnapshot s;
  ASSERT_TRUE(s.ParseFromString(out[0].payload));
  EXPECT_EQ(s.customer_id(), "c-1");
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.lifetime_sales_minor(), 1500);
  EXPECT_EQ(s.as_of().seconds(), absl::ToUnixSeconds(day(2)));  // c-1's own newest event, not c-2's day 3
  EXPECT_EQ(s.feedback().detractors(), 1);

  ledger_->ack_outbox(out[1].id);  // relayed, as the service does after every batch

  auto r2 = feed({sale("s-4", "c-1", day(4), 100), feedback("f-2", "c-1", day(4), 10)});
  EXPECT_EQ(r2.changed_customers, std::vector<std::string>{"c-1"});
  out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(s.ParseFromString(out[0].payload));
  EXPECT_EQ(s.version(), 2);
  EXPECT_EQ(s.feedback().count(), 2);
  EXPECT_EQ(s.feedback().promoters(), 1);
  EXPECT_DOUBLE_EQ(s.feedback().average_score(), 7.0);
  ledger_->ack_outbox(out[0].id);
  EXPECT_TRUE(ledger_->pending_outbox(100).empty());
  EXPECT_EQ(ledger_->pending_outbox(0).size(), 0u);
}

// A snapshot is as of its customer's own newest event, whatever else shares the batch: a
// customer evaluated at another customer's clock looks idle ("1 order in 90 days") where
// its data had 3, and the answer would depend on how the events were batched.
// (c-2 is on another partition: on c-1's, c-2's day 200 would move the watermark, and c-1's
// later record would count at it, see LateEventCountsAtThePartitionWatermark.)
TEST_P(LedgerTest, SnapshotAsOfIsTheCustomersOwnNewestEventNotTheBatchs) {
  const std::vector<std::pair<int32_t, std::string>> records{
      {0, sale("s-1", "c-1", day(12) - absl::Hours(5), 1000).SerializeAsString()},
      {1, sale("s-2", "c-2", day(200), 2000).SerializeAsString()},
      {0, sale("s-3", "c-1", day(12), 500).SerializeAsString()}};
  std::vector<ConsumedRecord> batch;
  const std::vector<std::string> keys{"c-1", "c-2", "c-1"};
  for (size_t i = 0; i < records.size(); ++i) {
    batch.push_back({"pos.events.v1", records[i].first, static_cast<int64_t>(i), keys[i], records[i].second});
  }
  ledger_->apply(batch);
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& row : out) {
    v1::AccountSnapshot s;
    ASSERT_TRUE(s.ParseFromString(row.payload));
    const absl::Time want = s.customer_id() == "c-1" ? day(12) : day(200);
    EXPECT_EQ(s.as_of().seconds(), absl::ToUnixSeconds(want)) << s.customer_id();
  }
}

// With room for one customer, the cache is dropped after every batch (pipelined: all but
// the customers of the batch handed to the writer); accounts reload from the store and
// every total stays exact. (Whether a reload could overtake the writer's commit depends on
// timing, so this checks the reload path, not that rule.)
TEST_P(LedgerTest, CustomerCacheOverflowReloadsFromTheStore) {
  reopen(Options{.customer_cache_capacity = 1});
  feed({on_account("s-1", "c-1", day(0), 10000, 30), sale("s-2", "c-2", day(0), 500)});
  feed({sale("s-3", "c-2", day(1), 700), sale("s-4", "c-3", day(1), 100)});
  feed({payment("p-1", "c-1", day(2), 4000), refund("r-1", "c-2", day(2), 200, "s-3")});
  feed({payment("p-2", "c-1", day(3), 1000), sale("s-5", "c-3", day(3), 50)});
  EXPECT_EQ(account("c-1").receivable_minor(), 5000);
  EXPECT_EQ(account("c-1").version(), 3);
  EXPECT_EQ(account("c-2").lifetime_sales_minor(), 1200);
  EXPECT_EQ(account("c-2").lifetime_refunds_minor(), 200);
  EXPECT_EQ(account("c-2").version(), 3);
  EXPECT_EQ(account("c-3").lifetime_orders(), 2);
  EXPECT_EQ(balance("bank"), 5000);
  EXPECT_EQ(balance("cash"), 500 + 700 + 100 - 200 + 50);
}

// Snapshots not yet relayed when a later commit changes the customer again: a relay that
// reads the table (after a restart) publishes every one, in outbox order. The older one
// is the customer's last state of its day, which a reader evaluating that day needs
// (before issue 10 the table kept (version, as_of) and skipped the superseded row).
TEST_P(LedgerTest, UnrelayedSupersededSnapshotIsRelayedInOrderAfterRestart) {
  feed({sale("s-1", "c-1", day(0), 1000), sale("s-2", "c-2", day(1), 2000)});
  feed({payment("p-1", "c-1", day(2), 300), on_account("s-3", "c-1", day(2), 700, 30)});
  reopen();
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 3u);
  v1::AccountSnapshot s;
  EXPECT_EQ(out[0].customer_id, "c-1");
  ASSERT_TRUE(s.ParseFromString(out[0].payload));
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.lifetime_sales_minor(), 1000);
  EXPECT_EQ(s.as_of().seconds(), absl::ToUnixSeconds(day(0)));
  out.erase(out.begin());
  EXPECT_EQ(out[0].customer_id, "c-2");
  ASSERT_TRUE(s.ParseFromString(out[0].payload));
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.lifetime_sales_minor(), 2000);
  EXPECT_EQ(out[1].customer_id, "c-1");
  EXPECT_GT(out[1].id, out[0].id);
  ASSERT_TRUE(s.ParseFromString(out[1].payload));
  EXPECT_EQ(s.version(), 2);
  EXPECT_EQ(s.lifetime_sales_minor(), 1700);
  EXPECT_EQ(s.credit_minor(), 300);
  EXPECT_EQ(s.receivable_minor(), 700);
  EXPECT_EQ(s.open_invoices_size(), 1);
  EXPECT_EQ(s.as_of().seconds(), absl::ToUnixSeconds(day(2)));
  ledger_->ack_outbox(out[1].id);
  EXPECT_TRUE(ledger_->pending_outbox(100).empty());
}

TEST_P(LedgerTest, MonthlyBucketsKeepLastTwentyFourMonths) {
  std::vector<v1::PosEvent> evs;
  for (int m = 0; m < 26; ++m) evs.push_back(sale("s-" + std::to_string(m), "c-1", day(31 * m), 100));
  feed(evs);
  auto a = account("c-1");
  ASSERT_EQ(a.months_size(), 24);
  EXPECT_EQ(a.lifetime_orders(), 26);
  // day(31*25) = 2026-02-14, day(31*2) = 2024-03-03: the oldest kept.
  EXPECT_EQ(a.months(0).year(), 2024);
  EXPECT_EQ(a.months(0).month(), 3);
  EXPECT_EQ(a.months(23).year(), 2026);
  EXPECT_EQ(a.months(23).month(), 2);
}

// --- validation -----------------------------------------------------------------------

TEST_P(LedgerTest, UnknownCurrencyAndOverflowRejectedWithReasons) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  auto r = feed({sale("s-1", "c-1", day(0), 100, {}, 0, "XYZ"),
                 sale("s-2", "c-1", day(0), 100, {{kCash, kMax}, {kCard, 1}}),
                 sale("s-3", "c-1", day(0), kMax),
                 sale("s-4", "c-1", day(0), 1)});
  ASSERT_EQ(r.rejected.size(), 3u);
  EXPECT_EQ(r.rejected[0].reason, "unknown currency 'XYZ' (not an accepted ISO 4217 code)");
  EXPECT_EQ(r.rejected[1].reason, "tender amounts overflow a 64-bit amount");
  EXPECT_EQ(r.rejected[2].event_id, "s-4");
  EXPECT_EQ(r.rejected[2].reason, "sale of 0.01 CNY overflows the account's 64-bit totals");
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(account("c-1").lifetime_sales_minor(), kMax);
}

TEST_P(LedgerTest, MalformedEventsRejectedAndBatchGoesOn) {
  feed({sale("s-0", "c-1", day(0), 100)});
  auto no_id = sale("", "c-1", day(0), 100);
  auto no_customer = sale("s-2", "", day(0), 100);
  auto no_time = sale("s-3", "c-1", day(0), 100);
  no_time.clear_event_time();
  auto no_body = base("s-4", "c-1", day(0));
  auto negative = sale("s-5", "c-1", day(0), -100);
  auto tenders = sale("s-6", "c-1", day(0), 1000, {{kCash, 500}, {kCard, 400}});
  auto usd = sale("s-7", "c-1", day(0), 100, {}, 0, "USD");
  auto bad_score = feedback("f-1", "c-1", day(0), 11);
  std::vector<std::string> values{"\xff\xff\xff garbage", no_id.SerializeAsString(),
                                  no_customer.SerializeAsString(), no_time.SerializeAsString(),
                                  no_body.SerializeAsString(), negative.SerializeAsString(),
                                  tenders.SerializeAsString(), usd.SerializeAsString(),
                                  bad_score.SerializeAsString(),
                                  sale("s-8", "c-1", day(0), 100).SerializeAsString()};
  auto r = feed_raw(values);
  EXPECT_EQ(r.applied, 1);
  ASSERT_EQ(r.rejected.size(), 9u);
  EXPECT_EQ(r.rejected[0].reason, "unparseable bytes: not a tierflow.v1.PosEvent");
  EXPECT_EQ(r.rejected[0].value, values[0]);
  EXPECT_EQ(r.rejected[1].reason, "missing event_id");
  EXPECT_EQ(r.rejected[2].reason, "missing customer_id");
  EXPECT_EQ(r.rejected[3].reason, "missing event_time");
  EXPECT_EQ(r.rejected[4].reason, "event has no body (sale, refund, payment or feedback)");
  EXPECT_EQ(r.rejected[5].reason, "negative amount: sale total -1.00 CNY");
  EXPECT_EQ(r.rejected[6].reason, "tenders sum to 9.00 CNY but the total is 10.00 CNY");
  EXPECT_EQ(r.rejected[7].reason, "currency USD differs from the account's currency CNY");
  EXPECT_EQ(r.rejected[8].reason, "feedback score 11 outside 0-10");
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 0), 11);
  // A rejected event id is not remembered: a corrected copy is applied.
  auto r2 = feed({sale("s-6", "c-1", day(0), 1000, {{kCash, 500}, {kCard, 500}})});
  EXPECT_EQ(r2.applied, 1);
}

// --- statement ------------------------------------------------------------------------

TEST_P(LedgerTest, StatementPagesAndBalances) {
  feed({on_account("s-1", "c-1", day(0), 1000, 30), on_account("s-2", "c-1", day(1), 2000, 30),
        payment("p-1", "c-1", day(2), 500), feedback("f-1", "c-1", day(2), 8),
        on_account("s-3", "c-1", day(3), 4000, 30), refund("r-1", "c-1", day(4), 1000, "s-3", kOnAccount)});
  v1::GetStatementRequest req;
  req.set_customer_id("c-1");
  req.mutable_page()->set_page_size(2);
  std::vector<std::string> ids;
  std::string token;
  int pages = 0;
  do {
    req.mutable_page()->set_page_token(token);
    auto resp = ledger_->statement(req);
    for (const auto& e : resp.entries()) ids.push_back(e.event_id());
    EXPECT_EQ(resp.closing_balance_minor(), 1000 + 2000 - 500 + 4000 - 1000);
    token = resp.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(ids, (std::vector<std::string>{"s-1", "s-2", "p-1", "s-3", "r-1"}));  // no feedback

  // Days 1 to 3 (exclusive): s-2 and p-1; opening = s-1, closing = s-1 + s-2 - p-1.
  v1::GetStatementRequest win;
  win.set_customer_id("c-1");
  set_time(day(1), win.mutable_from());
  set_time(day(3), win.mutable_to());
  auto w = ledger_->statement(win);
  ASSERT_EQ(w.entries_size(), 2);
  EXPECT_EQ(w.opening_balance_minor(), 1000);
  EXPECT_EQ(w.closing_balance_minor(), 2500);
  EXPECT_EQ(w.entries(1).balance_after_minor(), 2500);
  EXPECT_TRUE(w.next_page_token().empty());

  v1::GetStatementRequest unknown;
  unknown.set_customer_id("c-404");
  EXPECT_THROW(ledger_->statement(unknown), NotFound);
  req.mutable_page()->set_page_token("abc");
  EXPECT_THROW(ledger_->statement(req), InvalidArgument);
}

TEST_P(LedgerTest, TrialBalanceSurvivesReopen) {
  feed({sale("s-1", "c-1", day(0), 1000, {{kCard, 400}, {kOnAccount, 600}}, 10),
        payment("p-1", "c-1", day(1), 1000), refund("r-1", "c-1", day(2), 200, "s-1", kCash)});
  auto before = ledger_->trial_balance();
  reopen();
  auto after = ledger_->trial_balance();
  EXPECT_EQ(after.SerializeAsString(), before.SerializeAsString());
  EXPECT_TRUE(after.balanced());
  // receivable: +600 -600; customer_credit: -400 (overpayment); cash: -200; card +400; bank +1000
  EXPECT_EQ(balance("receivable"), 0);
  EXPECT_EQ(balance("customer_credit"), -400);
  EXPECT_EQ(balance("bank"), 1000);
  EXPECT_EQ(balance("cash"), -200);
  EXPECT_EQ(balance("revenue"), -1000);
  EXPECT_EQ(balance("refunds"), 200);
}

// A store that fails the first time a batch is written: after the postings were computed,
// before the commit. The batch must leave no trace, and a retry must apply it exactly once.
class FailOnceStore final : public Store {
 public:
  explicit FailOnceStore(std::unique_ptr<Store> inner) : in_(std::move(inner)) {}
  bool armed = false;

  void begin() override { in_->begin(); }
  void commit() override { in_->commit(); }
  void rollback() noexcept override { in_->rollback(); }
  std::vector<OffsetRow> load_offsets() override { return in_->load_offsets(); }
  std::vector<BalanceRow> load_balances() override { return in_->load_balances(); }
  std::vector<std::string> deferred_keys() override { return in_->deferred_keys(); }
  std::vector<EventRow> find_events(const std::vector<std::string_view>& ids) override {
    return in_->find_events(ids);
  }
  std::vector<CustomerState> load_customers(const std::vector<std::string_view>& ids,
                                            Micros w) override {
    return in_->load_customers(ids, w);
  }
  std::vector<DeferredRow> load_deferred(std::string_view w) override { return in_->load_deferred(w); }
  std::vector<DeferredRow> load_deferred_before(Micros b) override {
    return in_->load_deferred_before(b);
  }
  std::vector<JournalRow> read_journal(std::string_view c, Micros f, Micros t, int64_t a,
                                       size_t l) override {
    return in_->read_journal(c, f, t, a, l);
  }
  int64_t receivable_before(std::string_view c, Micros b) override {
    return in_->receivable_before(c, b);
  }
  std::vector<OutboxMessage> pending_outbox(size_t l) override { return in_->pending_outbox(l); }
  void write(const Changes& c) override {
    // Half of the batch reaches the database before the failure: the rollback must undo it.
    if (armed) {
      armed = false;
      Changes part;
      part.journal = c.journal;
      part.events = c.events;
      in_->write(part);
      throw std::runtime_error("disk full (injected)");
    }
    in_->write(c);
  }
  void ack_outbox(int64_t id) override { in_->ack_outbox(id); }

 private:
  std::unique_ptr<Store> in_;
};

TEST_P(LedgerTest, FailedBatchLeavesNoTraceAndRetryAppliesOnce) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30)});
  ledger_.reset();
  auto store = std::make_unique<FailOnceStore>(db_->open());
  FailOnceStore* fail = store.get();
  ledger_ = open_ledger(std::move(store));

  std::vector<std::string> values{payment("p-1", "c-1", day(1), 4000).SerializeAsString(),
                                  refund("r-1", "c-1", day(1), 100, "s-404").SerializeAsString(),
                                  sale("s-2", "c-2", day(1), 700).SerializeAsString()};
  std::vector<ConsumedRecord> batch;
  for (size_t i = 0; i < values.size(); ++i) {
    batch.push_back({"pos.events.v1", 0, static_cast<int64_t>(1 + i), {}, values[i]});
  }
  fail->armed = true;
  // Pipelined, the commit fails on the writer thread and sync() throws it.
  EXPECT_THROW(
      {
        ledger_->apply(batch);
        ledger_->sync();
      },
      std::runtime_error);
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 0), 1);
  EXPECT_EQ(account("c-1").receivable_minor(), 10000);
  EXPECT_EQ(account("c-1").version(), 1);
  EXPECT_FALSE(ledger_->account("c-2", day(1)).has_value());
  EXPECT_EQ(ledger_->deferred_count(), 0);
  EXPECT_EQ(ledger_->pending_outbox(100).size(), 1u);
  expect_balanced();

  auto r = ledger_->apply(batch);
  EXPECT_EQ(r.applied, 2);
  EXPECT_EQ(r.deferred, 1);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(account("c-1").receivable_minor(), 6000);
  EXPECT_EQ(account("c-1").version(), 2);
  EXPECT_EQ(account("c-2").lifetime_sales_minor(), 700);
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 0), 4);
  EXPECT_EQ(ledger_->deferred_count(), 1);
  EXPECT_EQ(balance("cash"), 700);
  EXPECT_EQ(balance("bank"), 4000);
  expect_balanced();
}

// Batch B's commit fails while batch C follows. Pipelined, the failure happens on the
// writer thread while C is processed on top of B: apply(C) throws it. Serial, apply(B)
// throws. Either way neither B nor C leaves anything, in the store or in memory, and
// replaying both from the stored offset applies each event once.
TEST_P(LedgerTest, CommitFailureDropsEverythingAfterTheLastCommit) {
  feed({on_account("s-1", "c-1", day(0), 10000, 30)});
  ledger_.reset();
  auto store = std::make_unique<FailOnceStore>(db_->open());
  FailOnceStore* fail = store.get();
  ledger_ = open_ledger(std::move(store));

  std::vector<std::string> b_values{payment("p-1", "c-1", day(1), 4000).SerializeAsString(),
                                    sale("s-2", "c-2", day(1), 700).SerializeAsString()};
  std::vector<std::string> c_values{refund("r-1", "c-2", day(2), 200, "s-2").SerializeAsString(),
                                    payment("p-2", "c-1", day(2), 1000).SerializeAsString()};
  std::vector<ConsumedRecord> b, c;
  for (size_t i = 0; i < b_values.size(); ++i) b.push_back({"pos.events.v1", 0, static_cast<int64_t>(1 + i), {}, b_values[i]});
  for (size_t i = 0; i < c_values.size(); ++i) c.push_back({"pos.events.v1", 0, static_cast<int64_t>(3 + i), {}, c_values[i]});

  fail->armed = true;
  if (GetParam().pipeline) {
    EXPECT_EQ(ledger_->apply(b).applied, 2);  // handed to the writer, whose commit fails
    EXPECT_THROW(ledger_->apply(c), std::runtime_error);
  } else {
    EXPECT_THROW(ledger_->apply(b), std::runtime_error);
  }
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 0), 1);
  EXPECT_EQ(account("c-1").receivable_minor(), 10000);
  EXPECT_EQ(account("c-1").version(), 1);
  EXPECT_FALSE(ledger_->account("c-2", day(2)).has_value());
  expect_balanced();

  EXPECT_EQ(ledger_->apply(b).applied, 2);
  EXPECT_EQ(ledger_->apply(c).applied, 2);
  ledger_->sync();
  EXPECT_EQ(account("c-1").receivable_minor(), 5000);
  EXPECT_EQ(account("c-1").version(), 3);
  EXPECT_EQ(account("c-2").lifetime_refunds_minor(), 200);
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 0), 5);
  EXPECT_EQ(balance("bank"), 5000);
  EXPECT_EQ(balance("cash"), 500);
  expect_balanced();
}

// With dlq_in_outbox, rejections are stored in the batch's transaction and come back from
// pending_outbox with their DLQ topic, reason, origin and original bytes, in order with
// snapshots.
TEST_P(LedgerTest, RejectionsGoToTheOutboxInTheSameTransaction) {
  reopen(Options{.dlq_in_outbox = true});
  auto bad = refund("r-1", "c-1", day(1), 900, "s-1");
  auto r = feed({sale("s-1", "c-1", day(0), 500), bad});
  ASSERT_EQ(r.rejected.size(), 1u);
  auto out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].topic, "pos.events.v1.dlq");
  EXPECT_EQ(out[0].customer_id, "c-1");
  EXPECT_EQ(out[0].payload, bad.SerializeAsString());
  EXPECT_EQ(out[0].error, "refund 9.00 CNY above the 5.00 CNY that remains refundable on sale s-1");
  EXPECT_EQ(out[0].origin, "pos.events.v1/0@1");
  EXPECT_EQ(out[1].topic, "ledger.accounts.v1");
  EXPECT_TRUE(out[1].error.empty());
  EXPECT_TRUE(out[1].origin.empty());
  ledger_->ack_outbox(out[1].id);

  // A deferred event that expires goes the same way.
  feed({payment("p-1", "c-1", day(2), 100, "s-404")});
  auto gone = ledger_->expire_deferred(day(30), absl::Hours(24 * 7));
  ASSERT_EQ(gone.size(), 1u);
  out = ledger_->pending_outbox(100);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].topic, "pos.events.v1.dlq");
  EXPECT_EQ(out[0].error, "sale s-404 never arrived within 7 days");
  EXPECT_EQ(out[0].origin, "pos.events.v1/0@2");
  ledger_->ack_outbox(out[0].id);
  // Without the option nothing but snapshots is stored.
  reopen();
  auto r2 = feed({refund("r-2", "c-1", day(3), 100000, "s-1")});
  EXPECT_EQ(r2.rejected.size(), 1u);
  EXPECT_TRUE(ledger_->pending_outbox(100).empty());
}

// Replacing the store's rows under a running ledger (what another instance does while it
// owns a partition) is picked up by refresh().
TEST_P(LedgerTest, RefreshRereadsOffsetsFromTheStore) {
  feed({sale("s-1", "c-1", day(0), 500)}, 2);
  auto other = open_ledger(db_->open());
  std::string v = sale("s-2", "c-1", day(1), 700).SerializeAsString();
  std::vector<ConsumedRecord> batch{{"pos.events.v1", 2, 1, "c-1", v}};
  EXPECT_EQ(other->apply(batch).applied, 1);
  other->sync();
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 2), 1);  // stale cache
  ledger_->refresh();
  EXPECT_EQ(ledger_->next_offset("pos.events.v1", 2), 2);
  EXPECT_EQ(account("c-1").lifetime_sales_minor(), 1200);
  EXPECT_EQ(balance("cash"), 1200);
}

}  // namespace
}  // namespace tierflow::ledger
