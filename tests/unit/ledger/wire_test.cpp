// The ledger's hand-written wire encoder must produce exactly the bytes the generated
// code would: readers compare and parse what the journal stores.
#include "wire.h"
#include "state.h"

#include <gtest/gtest.h>

#include <climits>
#include <tuple>

#include "tierflow/v1/ledger.pb.h"

namespace tierflow::ledger {
namespace {

std::string encode_line(std::string_view account, int64_t debit, int64_t credit) {
  std::string out;
  wire::string_field(out, 1, account);
  wire::int64_field(out, 2, debit);
  wire::int64_field(out, 3, credit);
  return out;
}

TEST(LedgerWire, JournalLinesMatchTheGeneratedEncoder) {
  for (int64_t debit : {int64_t{0}, int64_t{1}, int64_t{127}, int64_t{128}, int64_t{-5}, INT64_MAX, INT64_MIN}) {
    v1::JournalLine line;
    line.set_account("receivable");
    line.set_debit_minor(debit);
    line.set_credit_minor(300);
    EXPECT_EQ(encode_line("receivable", debit, 300), line.SerializeAsString()) << debit;
  }
  EXPECT_EQ(encode_line("", 0, 0), v1::JournalLine().SerializeAsString());
}

// The stored customer state: the compact form round-trips every total (extremes
// included), and rows in the older form (an AccountSnapshot) still decode.
CustomerState sample_state(bool full) {
  CustomerState s;
  s.customer_id = "cust-1";
  s.version = 7;
  s.last_event_time = 1'700'000'000'123'456;
  if (!full) return s;
  s.currency = "EUR";
  s.receivable = INT64_MAX;
  s.credit = INT64_MIN;
  s.lifetime_sales = 123456789;
  s.lifetime_refunds = -5;
  s.lifetime_gross_profit = -1;
  s.lifetime_orders = 3;
  s.lifetime_payments = 0;
  s.first_purchase = -86'400'000'000;  // before the epoch
  s.last_purchase = 1'700'000'000'000'001;
  s.months[2023 * 12 + 11] = {100, 2, -30, 4, 1};
  s.months[2024 * 12 + 0] = {INT64_MAX, INT64_MIN, 0, 0, 0};
  s.months[1969 * 12 + 0] = {1, 1, 1, 1, 1};
  s.feedback_count = 5;
  s.feedback_score_sum = 37;  // average 7.4: a double on the wire
  s.promoters = 2;
  s.passives = INT32_MAX;
  s.detractors = INT32_MIN;
  s.feedback_last = 1'600'000'000'000'000;
  return s;
}

void expect_same_totals(const CustomerState& a, const CustomerState& b) {
  EXPECT_EQ(a.currency, b.currency);
  EXPECT_EQ(a.last_event_time, b.last_event_time);
  EXPECT_EQ(a.receivable, b.receivable);
  EXPECT_EQ(a.credit, b.credit);
  EXPECT_EQ(a.lifetime_sales, b.lifetime_sales);
  EXPECT_EQ(a.lifetime_refunds, b.lifetime_refunds);
  EXPECT_EQ(a.lifetime_gross_profit, b.lifetime_gross_profit);
  EXPECT_EQ(a.lifetime_orders, b.lifetime_orders);
  EXPECT_EQ(a.lifetime_payments, b.lifetime_payments);
  EXPECT_EQ(a.first_purchase, b.first_purchase);
  EXPECT_EQ(a.last_purchase, b.last_purchase);
  ASSERT_EQ(a.months.size(), b.months.size());
  for (const auto& [k, m] : a.months) {
    ASSERT_TRUE(b.months.count(k)) << k;
    const MonthTotals& n = b.months.at(k);
    EXPECT_EQ(std::tie(m.sales, m.refunds, m.gross_profit, m.orders, m.refund_count),
              std::tie(n.sales, n.refunds, n.gross_profit, n.orders, n.refund_count));
  }
  EXPECT_EQ(a.feedback_count, b.feedback_count);
  EXPECT_EQ(a.promoters, b.promoters);
  EXPECT_EQ(a.passives, b.passives);
  EXPECT_EQ(a.detractors, b.detractors);
  EXPECT_EQ(a.feedback_last, b.feedback_last);
}

TEST(LedgerState, CompactFormRoundTripsAndOldRowsStillDecode) {
  for (bool full : {false, true}) {
    const CustomerState s = sample_state(full);
    CustomerState back;
    ASSERT_TRUE(decode_state(encode_state(s), back));
    expect_same_totals(s, back);

    // The older stored form: the totals as an AccountSnapshot, as_of = newest event time.
    v1::AccountSnapshot old = build_snapshot(s, s.last_event_time);
    old.clear_ageing();
    old.clear_payment();
    CustomerState from_old;
    ASSERT_TRUE(decode_state(old.SerializeAsString(), from_old));
    expect_same_totals(s, from_old);

    // encode_state_and_snapshot: the stored half is encode_state(), the snapshot parses
    // as build_snapshot() does.
    std::string stored, snapshot;
    google::protobuf::Arena arena;
    encode_state_and_snapshot(s, s.invoices, s.last_event_time + 5, arena, stored, snapshot);
    EXPECT_EQ(stored, encode_state(s));
    v1::AccountSnapshot parsed;
    ASSERT_TRUE(parsed.ParseFromString(snapshot));
    EXPECT_EQ(parsed.SerializeAsString(), build_snapshot(s, s.last_event_time + 5).SerializeAsString());
  }
  CustomerState bad;
  std::string truncated = encode_state(sample_state(true));
  truncated.pop_back();
  EXPECT_FALSE(decode_state(truncated, bad));
}

TEST(LedgerWire, TimestampsMatchIncludingBeforeTheEpoch) {
  for (Micros t : {Micros{0}, Micros{1}, Micros{1'700'000'000'123'456}, Micros{-1}, Micros{-1'500'000}}) {
    std::string mine;
    wire::timestamp_field(mine, 4, t);
    v1::JournalEntry entry;
    set_timestamp(t, entry.mutable_event_time());
    EXPECT_EQ(mine, entry.SerializeAsString()) << t;
  }
}

}  // namespace
}  // namespace tierflow::ledger
