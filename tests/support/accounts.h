#pragma once
// Account snapshots as the ledger publishes them, for the tests of their consumers
// (classification's keeper, its integration test). Header-only builders; no I/O, no clock.
#include <cstdint>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/time/time.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::test_support {

// Midnight UTC starting the given day.
inline absl::Time utc_day(int y, int m, int d) { return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone()); }

// `months` (six unless said) of steady business up to `as_of`, the month of `as_of`
// included: each month sales of 4 x `monthly_profit`, gross profit `monthly_profit`, 2
// orders; first purchase early in the first month, last purchase a day before `as_of`.
inline v1::AccountSnapshot steady_account(const std::string& id, int64_t version, int64_t monthly_profit,
                                          absl::Time as_of, const std::string& currency = "CNY", int months = 6) {
  v1::AccountSnapshot a;
  a.set_customer_id(id);
  a.set_version(version);
  a.set_currency(currency);
  timeutil::to_proto(as_of, a.mutable_as_of());
  const absl::CivilMonth last = absl::CivilMonth(absl::ToCivilDay(as_of, absl::UTCTimeZone()));
  int64_t orders = 0;
  for (int i = months - 1; i >= 0; --i) {
    const absl::CivilMonth m = last - i;
    auto* b = a.add_months();
    b->set_year(static_cast<int32_t>(m.year()));
    b->set_month(m.month());
    b->set_sales_minor(monthly_profit * 4);
    b->set_gross_profit_minor(monthly_profit);
    b->set_orders(2);
    orders += 2;
    a.set_lifetime_sales_minor(a.lifetime_sales_minor() + monthly_profit * 4);
    a.set_lifetime_gross_profit_minor(a.lifetime_gross_profit_minor() + monthly_profit);
  }
  a.set_lifetime_orders(orders);
  timeutil::to_proto(absl::FromCivil(last - (months - 1), absl::UTCTimeZone()) + absl::Hours(30),
                     a.mutable_first_purchase());
  timeutil::to_proto(as_of - absl::Hours(24), a.mutable_last_purchase());
  return a;
}

}  // namespace tierflow::test_support
