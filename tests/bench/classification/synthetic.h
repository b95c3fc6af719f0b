#pragma once
// Deterministic synthetic customers for classification benchmarks and equality tests:
// AccountSnapshots and CustomerProfiles with realistic spreads (Pareto-ish value, 1-24
// active months, refunds, payment behaviour, feedback, company size, industry and region
// written in varied case and spacing). Customer i is the same on every run and machine.
// Header-only; no I/O, no clocks.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::classification::synthetic {

// splitmix64: tiny, fast, and the same everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(next() % uint64_t(hi - lo + 1)); }
  bool chance(double p) { return uniform() < p; }
  // Pareto with minimum 1 and shape alpha (1.16: the 80/20 rule).
  double pareto(double alpha) { return std::pow(1.0 - uniform(), -1.0 / alpha); }

 private:
  uint64_t s_;
};

// The instant the synthetic data describes ("now" of the first evaluation).
inline absl::Time as_of() { return absl::FromCivil(absl::CivilSecond(2024, 6, 15, 12, 0, 0), absl::UTCTimeZone()); }

inline std::string customer_id(uint64_t i) { return "c-" + std::to_string(i); }

inline void set_ts(google::protobuf::Timestamp* ts, absl::Time t) {
  const int64_t ns = absl::ToUnixNanos(t);
  ts->set_seconds(ns / 1000000000);
  ts->set_nanos(static_cast<int32_t>(ns % 1000000000));
}

inline constexpr const char* kIndustries[] = {
    "retail", "Retail", " manufacturing", "software",   "Finance",     "logistics", "mining",    "E-Commerce",
    "",       "制造业", "wholesale",      "consulting", "agriculture", "IT",        "insurance", "catering"};
inline constexpr const char* kRegions[] = {"CN-31", "CN-44", "CN-11", "CN-32", "CN-33", "CN-51", "CN-42", "CN-SH",
                                           "cn-gd", "CN-61", "CN-21", "CN-HK", "US-CA", "",      "CN-37", "CN-50"};

// Customer i's profile. `rng` state is derived from i, so customers are independent.
inline v1::CustomerProfile profile(uint64_t i) {
  Rng r(i * 2 + 1);
  v1::CustomerProfile p;
  p.set_customer_id(customer_id(i));
  p.set_industry(kIndustries[r.next() % std::size(kIndustries)]);
  p.set_region(kRegions[r.next() % std::size(kRegions)]);
  if (r.chance(0.7))
    p.mutable_company_size()->set_employees(static_cast<int32_t>(std::min(r.pareto(0.7) * 5, 200000.0)));
  if (r.chance(0.3)) {
    auto* rev = p.mutable_company_size()->mutable_annual_revenue();
    rev->set_minor_units(static_cast<int64_t>(std::min(r.pareto(0.8) * 1e8, 1e14)));
    rev->set_currency(r.chance(0.9) ? "CNY" : "USD");
  }
  if (r.chance(0.4)) {
    p.mutable_contract_start()->set_year(static_cast<int32_t>(r.between(2014, 2024)));
    p.mutable_contract_start()->set_month(static_cast<int32_t>(r.between(1, 12)));
    p.mutable_contract_start()->set_day(static_cast<int32_t>(r.between(1, 28)));
  }
  return p;
}

// Customer i's account as of as_of(), or false when the customer never bought (a prospect:
// about 8% of customers).
inline bool account(uint64_t i, v1::AccountSnapshot* a) {
  Rng r(i * 2 + 2);
  if (r.chance(0.08)) return false;
  a->set_customer_id(customer_id(i));
  a->set_version(static_cast<int64_t>(r.between(1, 500)));
  a->set_currency("CNY");
  const absl::CivilMonth now_month(absl::ToCivilDay(as_of(), absl::UTCTimeZone()));
  // Last active month: most customers are current, a tail has lapsed (up to 3 years ago).
  const int64_t lapse = r.chance(0.7) ? r.between(0, 2) : r.between(3, 36);
  const absl::CivilMonth last_month = now_month - lapse;
  const int active = static_cast<int>(r.between(1, 24));
  // Active months: `active` distinct months in the 24 ending at last_month, newest included.
  uint32_t mask = 1;
  while (std::popcount(mask) < active) mask |= uint32_t{1} << r.between(1, 23);
  const double scale = std::min(r.pareto(1.16), 5000.0);  // Pareto-ish value per customer
  const double margin = 0.12 + 0.25 * r.uniform();
  int64_t sales_total = 0, refunds_total = 0, gp_total = 0, orders_total = 0;
  for (int k = 23; k >= 0; --k) {  // oldest first, as the ledger publishes
    if (!((mask >> k) & 1U)) continue;
    const absl::CivilMonth m = last_month - k;
    auto* b = a->add_months();
    b->set_year(static_cast<int32_t>(m.year()));
    b->set_month(m.month());
    const int64_t orders = 1 + static_cast<int64_t>(scale * r.uniform() * 0.6) % 40;
    const int64_t sales = static_cast<int64_t>(orders * scale * (20000 + 60000 * r.uniform()));
    int64_t refunds = 0, refund_n = 0;
    if (r.chance(0.15)) {
      refund_n = r.between(1, std::min<int64_t>(orders, 3));
      refunds = static_cast<int64_t>(sales * 0.3 * r.uniform());
    }
    const int64_t gp = static_cast<int64_t>((sales - refunds) * margin);
    b->set_sales_minor(sales);
    b->set_refunds_minor(refunds);
    b->set_gross_profit_minor(gp);
    b->set_orders(orders);
    b->set_refund_count(refund_n);
    sales_total += sales, refunds_total += refunds, gp_total += gp, orders_total += orders;
  }
  // History before the buckets (older than 24 months) for long-standing customers.
  const int64_t history_months = r.chance(0.5) ? r.between(0, 60) : 0;
  const double history = static_cast<double>(history_months) / 24.0;
  a->set_lifetime_sales_minor(sales_total + static_cast<int64_t>(sales_total * history));
  a->set_lifetime_refunds_minor(refunds_total + static_cast<int64_t>(refunds_total * history));
  a->set_lifetime_gross_profit_minor(gp_total + static_cast<int64_t>(gp_total * history));
  a->set_lifetime_orders(orders_total + static_cast<int64_t>(orders_total * history));
  const absl::CivilMonth first_month = last_month - (31 - std::countl_zero(mask)) - history_months;
  const absl::Time first = absl::FromCivil(absl::CivilSecond(first_month.year(), first_month.month(), r.between(1, 28),
                                                             r.between(0, 23), r.between(0, 59), 0),
                                           absl::UTCTimeZone());
  absl::Time last = absl::FromCivil(absl::CivilSecond(last_month.year(), last_month.month(), r.between(1, 28),
                                                      r.between(0, 23), r.between(0, 59), r.between(0, 59)),
                                    absl::UTCTimeZone()) +
                    absl::Milliseconds(r.between(0, 999));
  last = std::min(last, as_of() - absl::Minutes(r.between(1, 600)));
  set_ts(a->mutable_first_purchase(), std::min(first, last));
  set_ts(a->mutable_last_purchase(), last);
  set_ts(a->mutable_as_of(), last);

  // Payment behaviour: most pay on time, a tail pays late and some are overdue.
  auto* pay = a->mutable_payment();
  const int32_t paid = static_cast<int32_t>(r.between(0, std::min<int64_t>(orders_total, 40)));
  pay->set_invoices_paid(paid);
  pay->set_invoices_open(static_cast<int32_t>(r.between(0, 3)));
  const bool late_payer = r.chance(0.15);
  if (paid > 0) {
    pay->set_on_time_ratio(late_payer ? 0.3 + 0.6 * r.uniform() : 0.9 + 0.1 * r.uniform());
    pay->set_avg_days_late(late_payer ? 5 + 60 * r.uniform() : 3 * r.uniform());
    pay->set_max_days_late(static_cast<int32_t>(late_payer ? r.between(5, 150) : r.between(0, 12)));
  }
  const int64_t receivable = r.chance(0.4) ? static_cast<int64_t>(scale * 10000 * r.uniform()) : 0;
  a->set_receivable_minor(receivable);
  if (late_payer && receivable > 0) {
    pay->set_overdue_minor(receivable / 2);
    if (r.chance(0.3)) a->mutable_ageing()->set_over_90_minor(receivable / 4);
  }
  // Feedback from about 40% of buyers.
  if (r.chance(0.4)) {
    auto* fb = a->mutable_feedback();
    const int32_t n = static_cast<int32_t>(r.between(1, 12));
    int32_t pro = 0, pas = 0, det = 0;
    double sum = 0;
    for (int32_t k = 0; k < n; ++k) {
      const int score = static_cast<int>(r.chance(0.6) ? r.between(8, 10) : r.between(0, 8));
      sum += score;
      (score >= 9 ? pro : score >= 7 ? pas : det) += 1;
    }
    fb->set_count(n);
    fb->set_promoters(pro);
    fb->set_passives(pas);
    fb->set_detractors(det);
    fb->set_average_score(sum / n);
  }
  return true;
}

}  // namespace tierflow::classification::synthetic
