// Overdue amounts are aged on the evaluation clock from the snapshot's open invoices: a
// quiet customer's snapshot keeps the ageing of its last event, and an invoice must still
// become 90 days overdue without a new event.
#include <gtest/gtest.h>

#include "tierflow/classification/compact.h"
#include "tierflow/classification/features.h"
#include "tierflow/classification/standard.h"

namespace tierflow::classification {
namespace {

absl::Time day(int y, int m, int d) { return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()); }

v1::AccountSnapshot quiet_debtor() {
  v1::AccountSnapshot a;
  a.set_customer_id("c-late");
  a.set_currency("CNY");
  a.set_receivable_minor(100000);
  a.set_lifetime_sales_minor(100000);
  a.set_lifetime_orders(1);
  a.mutable_first_purchase()->set_seconds(absl::ToUnixSeconds(day(2025, 1, 5)));
  a.mutable_last_purchase()->set_seconds(absl::ToUnixSeconds(day(2025, 1, 5)));
  a.mutable_as_of()->set_seconds(absl::ToUnixSeconds(day(2025, 1, 5)));  // stale: nothing due yet
  auto* m = a.add_months();
  m->set_year(2025);
  m->set_month(1);
  m->set_sales_minor(100000);
  m->set_gross_profit_minor(100000);
  m->set_orders(1);
  auto* inv = a.add_open_invoices();
  inv->set_event_id("s-1");
  inv->mutable_issued_time()->set_seconds(absl::ToUnixSeconds(day(2025, 1, 5)));
  inv->mutable_due_time()->set_seconds(absl::ToUnixSeconds(day(2025, 2, 4)));
  inv->set_open_minor(100000);
  return a;
}

TEST(classification_ageing, OverdueIsAgedOnTheEvaluationClock) {
  auto standard = Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
  const v1::AccountSnapshot a = quiet_debtor();
  const CustomerInputs in{"c-late", &a, nullptr};

  const Features before_due = compute_features(*standard, in, day(2025, 2, 1));
  EXPECT_EQ(before_due.get(Feature::overdue), 0);
  EXPECT_EQ(before_due.get(Feature::overdue_over_90), 0);

  const Features ten_days = compute_features(*standard, in, day(2025, 2, 14));
  EXPECT_EQ(ten_days.get(Feature::overdue), 100000);
  EXPECT_EQ(ten_days.get(Feature::overdue_over_90), 0);

  // 2025-02-04 + 90 days = 2025-05-05: exactly 90 days is not over 90.
  EXPECT_EQ(compute_features(*standard, in, day(2025, 5, 5)).get(Feature::overdue_over_90), 0);
  const Features later = compute_features(*standard, in, day(2025, 6, 12));
  EXPECT_EQ(later.get(Feature::overdue_over_90), 100000);

  // The compact path ages the same way.
  const CompactAccount compact_account = compact(a);
  const CompactInputs compact_in{"c-late", &compact_account, nullptr};
  EXPECT_EQ(compute_features(*standard, compact_in, day(2025, 6, 12)), later);
}

}  // namespace
}  // namespace tierflow::classification
