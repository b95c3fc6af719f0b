#pragma once
// Builders for classification unit tests: accounts, profiles and a small test standard.
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "tierflow/classification/engine.h"

namespace tierflow::classification::testing {

inline absl::Time at(int y, int m, int d, int hh = 12) {
  return absl::FromCivil(absl::CivilSecond(y, m, d, hh, 0, 0), absl::UTCTimeZone());
}
inline void set_ts(google::protobuf::Timestamp* ts, absl::Time t) {
  ts->set_seconds(absl::ToUnixSeconds(t));
}
inline absl::Time from_ts(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds());
}

struct Month {
  int year, month;
  int64_t sales, refunds, gross_profit, orders;
};

inline v1::AccountSnapshot account(const std::string& id, const std::vector<Month>& months,
                                   absl::Time first, absl::Time last) {
  v1::AccountSnapshot a;
  a.set_customer_id(id);
  a.set_currency("CNY");
  int64_t orders = 0;
  for (const auto& m : months) {
    auto* b = a.add_months();
    b->set_year(m.year);
    b->set_month(m.month);
    b->set_sales_minor(m.sales);
    b->set_refunds_minor(m.refunds);
    b->set_gross_profit_minor(m.gross_profit);
    b->set_orders(m.orders);
    orders += m.orders;
    a.set_lifetime_sales_minor(a.lifetime_sales_minor() + m.sales);
    a.set_lifetime_refunds_minor(a.lifetime_refunds_minor() + m.refunds);
    a.set_lifetime_gross_profit_minor(a.lifetime_gross_profit_minor() + m.gross_profit);
  }
  a.set_lifetime_orders(orders);
  set_ts(a.mutable_first_purchase(), first);
  set_ts(a.mutable_last_purchase(), last);
  return a;
}

// A small standard with hand-checkable numbers (money in CNY, sales basis).
inline const char* kTestStandard = R"(
version: t1
currency: CNY
windows: {value_months: 12, value_basis: sales}
features: [value, sales_12m, orders_12m, orders_90d, recency_days, tenure_months, lifetime_orders,
           on_time_ratio, max_days_late, overdue]
dimensions:
  - name: value
    kind: bands
    feature: value
    method: percentile
    classes: [{class: A, top_percent: 20}, {class: B, top_percent: 80}, {class: C}]
  - name: tenure
    kind: bands
    feature: tenure_months
    classes: [{class: old, min: 24}, {class: new}]
  - name: credit
    kind: rules
    classes:
      - {class: C, when: {feature: max_days_late, op: ">", value: 90}}
      - {class: OK}
tiers:
  - {name: diamond, price_level: P1, service_level: s1, account_manager: true, downgrade: {grace_days: 30, policy: drop_one}}
  - {name: gold, price_level: P2, service_level: s2, account_manager: true, downgrade: {grace_days: 30, policy: drop_one}}
  - {name: silver, price_level: P3, service_level: s3, downgrade: {grace_days: 10, policy: recompute}}
  - {name: bronze, price_level: P4, service_level: s4, downgrade: {policy: never}}
  - {name: prospect, price_level: P5, service_level: s5}
rules:
  - id: diamond-a-old
    tier: diamond
    when: {all: [{dimension: value, class: A}, {dimension: tenure, class: old}]}
  - id: gold-sales
    tier: gold
    when: {all: [{feature: sales_12m, op: ">=", value: 5000}, {not: {dimension: credit, class: C}}]}
  - id: silver-b-or-frequent
    tier: silver
    when: {any: [{dimension: value, class: [A, B]}, {feature: orders_12m, op: ">=", value: 10}]}
  - id: bronze-buyer
    tier: bronze
    when: {feature: lifetime_orders, op: ">", value: 0}
  - id: default
    tier: prospect
credit_hold:
  when: {dimension: credit, class: C}
)";

}  // namespace tierflow::classification::testing
