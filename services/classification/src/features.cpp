#include "tierflow/classification/features.h"

#include <algorithm>
#include <cmath>

#include "absl/time/civil_time.h"
#include "fmt/format.h"
#include "tierflow/classification/compact.h"
#include "common/money/money.h"
#include "common/time/time.h"
#include "tierflow/classification/standard.h"

namespace tierflow::classification {

namespace {

constexpr std::array<FeatureInfo, kFeatureCount> kFeatures{{
    {"value", "value", Unit::money},
    {"sales_12m", "sales in 12 months", Unit::money},
    {"refunds_12m", "refunds in 12 months", Unit::money},
    {"net_sales_12m", "net sales in 12 months", Unit::money},
    {"gross_profit_12m", "gross profit in 12 months", Unit::money},
    {"orders_12m", "orders in 12 months", Unit::count},
    {"orders_90d", "orders in 90 days", Unit::count},
    {"refund_count_12m", "refunds in 12 months (count)", Unit::count},
    {"active_months_12m", "active months in 12 months", Unit::count},
    {"recency_days", "days since last purchase", Unit::days},
    {"tenure_months", "tenure", Unit::months},
    {"lifetime_net_sales", "lifetime net sales", Unit::money},
    {"lifetime_gross_profit", "lifetime gross profit", Unit::money},
    {"lifetime_orders", "lifetime orders", Unit::count},
    {"receivable", "receivable", Unit::money},
    {"overdue", "overdue amount", Unit::money},
    {"overdue_over_90", "amount overdue more than 90 days", Unit::money},
    {"on_time_ratio", "on-time payment ratio", Unit::ratio},
    {"avg_days_late", "average days late", Unit::decimal},
    {"max_days_late", "maximum days late", Unit::days},
    {"invoices_paid", "invoices paid", Unit::count},
    {"invoices_open", "open invoices", Unit::count},
    {"feedback_count", "feedback count", Unit::count},
    {"feedback_score", "average feedback score", Unit::decimal},
    {"nps", "net promoter score", Unit::score},
    {"employees", "employees", Unit::count},
    {"annual_revenue", "annual revenue", Unit::money},
}};

bool is_set(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

// Whole months from `from` to `to` (both UTC civil days); a month counts once its day of
// month is reached (Jan 31 -> Feb 28 is 0 months).
int64_t whole_months(absl::CivilDay from, absl::CivilDay to) {
  int64_t m = (to.year() - from.year()) * 12 + (to.month() - from.month());
  if (to.day() < from.day()) --m;
  return std::max<int64_t>(m, 0);
}

}  // namespace

const FeatureInfo& feature_info(Feature f) { return kFeatures[static_cast<size_t>(f)]; }

std::optional<Feature> feature_by_name(std::string_view name) {
  for (size_t i = 0; i < kFeatureCount; ++i)
    if (kFeatures[i].name == name) return static_cast<Feature>(i);
  return std::nullopt;
}

namespace {

// More than 90 days past due, as the ledger's ageing buckets count it (a day late is any
// part of a day).
constexpr int64_t kOver90Seconds = 90 * 86400;

// The account and profile as compute() reads them: one view over the protos, one over the
// compact inputs, so that both paths share every line of arithmetic below.
struct ProtoAccount {
  const v1::AccountSnapshot& a;
  std::optional<MoneyConversion> money(const Standard& s) const { return s.conversion(a.currency()); }
  // fn(age in months, sales, refunds, gross profit, orders, refund count) per bucket.
  template <class Fn>
  void for_each_month(absl::CivilMonth this_month, Fn&& fn) const {
    for (const auto& b : a.months()) {
      const absl::CivilMonth m(b.year(), b.month());
      fn(this_month - m, b.sales_minor(), b.refunds_minor(), b.gross_profit_minor(), b.orders(), b.refund_count());
    }
  }
  int64_t lifetime_sales() const { return a.lifetime_sales_minor(); }
  int64_t lifetime_refunds() const { return a.lifetime_refunds_minor(); }
  int64_t lifetime_gross_profit() const { return a.lifetime_gross_profit_minor(); }
  int64_t lifetime_orders() const { return a.lifetime_orders(); }
  int64_t receivable() const { return a.receivable_minor(); }
  // Aged as of `now` from the open invoices (the snapshot's own ageing is as of its last
  // event and goes stale for a quiet customer); the stored figures when none are listed.
  int64_t overdue(absl::Time now) const {
    if (a.open_invoices_size() == 0) return a.payment().overdue_minor();
    int64_t sum = 0;
    for (const auto& inv : a.open_invoices()) {
      if (inv.due_time().seconds() < absl::ToUnixSeconds(now)) sum += inv.open_minor();
    }
    return sum;
  }
  int64_t overdue_over_90(absl::Time now) const {
    if (a.open_invoices_size() == 0) return a.ageing().over_90_minor();
    int64_t sum = 0;
    for (const auto& inv : a.open_invoices()) {
      if (absl::ToUnixSeconds(now) - inv.due_time().seconds() > kOver90Seconds) sum += inv.open_minor();
    }
    return sum;
  }
  std::optional<absl::Time> last_purchase() const {
    if (!is_set(a.last_purchase())) return std::nullopt;
    return timeutil::from_proto(a.last_purchase());
  }
  std::optional<absl::CivilDay> first_purchase() const {
    if (!is_set(a.first_purchase())) return std::nullopt;
    return absl::ToCivilDay(timeutil::from_proto(a.first_purchase()), absl::UTCTimeZone());
  }
  int32_t invoices_paid() const { return a.payment().invoices_paid(); }
  int32_t invoices_open() const { return a.payment().invoices_open(); }
  double on_time_ratio() const { return a.payment().on_time_ratio(); }
  double avg_days_late() const { return a.payment().avg_days_late(); }
  int32_t max_days_late() const { return a.payment().max_days_late(); }
  int32_t feedback_count() const { return a.feedback().count(); }
  int32_t promoters() const { return a.feedback().promoters(); }
  int32_t detractors() const { return a.feedback().detractors(); }
  double average_score() const { return a.feedback().average_score(); }
};

struct ProtoProfile {
  const v1::CustomerProfile& p;
  int32_t contract_year() const { return p.contract_start().year(); }
  int32_t contract_month() const { return p.contract_start().month(); }
  int32_t contract_day() const { return p.contract_start().day(); }
  int32_t employees() const { return p.company_size().employees(); }
  int64_t annual_revenue() const { return p.company_size().annual_revenue().minor_units(); }
  bool revenue_ok(const Standard& s) const {
    const auto& c = p.company_size().annual_revenue().currency();
    return c.empty() || c == s.currency();
  }
};

const absl::CivilMonth kEpochMonth(1970, 1);
const absl::CivilDay kEpochDay(1970, 1, 1);

struct CompactAccountView {
  const CompactAccount& a;
  std::optional<MoneyConversion> money(const Standard& s) const {
    if (a.currency.accepts(s.currency())) return MoneyConversion{};
    if (a.currency.kind != CompactCurrency::Kind::code) return std::nullopt;
    return s.conversion(a.currency.text());
  }
  template <class Fn>
  void for_each_month(absl::CivilMonth this_month, Fn&& fn) const {
    if (!a.has_months) return;
    const int64_t base = (this_month - kEpochMonth) - a.newest_month;  // age of slot 0
    if (a.wide) {
      const auto& w = *a.wide;
      for (int i = 0; i < kCompactMonths; ++i)
        fn(base + i, w[CompactAccount::kSales][i], w[CompactAccount::kRefunds][i], w[CompactAccount::kGrossProfit][i],
           w[CompactAccount::kOrders][i], w[CompactAccount::kRefundCount][i]);
      return;
    }
    const auto& n = a.months;
    for (int i = 0; i < kCompactMonths; ++i)
      fn(base + i, int64_t{n[CompactAccount::kSales][i]}, int64_t{n[CompactAccount::kRefunds][i]},
         int64_t{n[CompactAccount::kGrossProfit][i]}, int64_t{n[CompactAccount::kOrders][i]},
         int64_t{n[CompactAccount::kRefundCount][i]});
  }
  int64_t lifetime_sales() const { return a.lifetime_sales; }
  int64_t lifetime_refunds() const { return a.lifetime_refunds; }
  int64_t lifetime_gross_profit() const { return a.lifetime_gross_profit; }
  int64_t lifetime_orders() const { return a.lifetime_orders; }
  int64_t receivable() const { return a.receivable; }
  int64_t overdue(absl::Time now) const {
    if (!a.open_invoices) return a.overdue;
    int64_t sum = 0;
    for (const auto& inv : *a.open_invoices) {
      if (inv.due_seconds < absl::ToUnixSeconds(now)) sum += inv.open_minor;
    }
    return sum;
  }
  int64_t overdue_over_90(absl::Time now) const {
    if (!a.open_invoices) return a.overdue_over_90;
    int64_t sum = 0;
    for (const auto& inv : *a.open_invoices) {
      if (absl::ToUnixSeconds(now) - inv.due_seconds > kOver90Seconds) sum += inv.open_minor;
    }
    return sum;
  }
  std::optional<absl::Time> last_purchase() const {
    if (a.last_purchase_seconds == 0 && a.last_purchase_nanos == 0) return std::nullopt;
    return absl::FromUnixSeconds(a.last_purchase_seconds) + absl::Nanoseconds(a.last_purchase_nanos);
  }
  std::optional<absl::CivilDay> first_purchase() const {
    if (!a.has_first) return std::nullopt;
    return kEpochDay + a.first_purchase_day;
  }
  int32_t invoices_paid() const { return a.invoices_paid; }
  int32_t invoices_open() const { return a.invoices_open; }
  double on_time_ratio() const { return a.on_time_ratio; }
  double avg_days_late() const { return a.avg_days_late; }
  int32_t max_days_late() const { return a.max_days_late; }
  int32_t feedback_count() const { return a.feedback_count; }
  int32_t promoters() const { return a.promoters; }
  int32_t detractors() const { return a.detractors; }
  double average_score() const { return a.average_score; }
};

struct CompactProfileView {
  const CompactProfile& p;
  int32_t contract_year() const { return p.contract_year; }
  int32_t contract_month() const { return p.contract_month; }
  int32_t contract_day() const { return p.contract_day; }
  int32_t employees() const { return p.employees; }
  int64_t annual_revenue() const { return p.annual_revenue; }
  bool revenue_ok(const Standard& s) const { return p.revenue_currency.accepts(s.currency()); }
};

template <class Account, class Profile>
Features compute(const Standard& standard, const Account* a, const Profile* p, absl::Time now) {
  Features f;
  f.set_sources(a != nullptr, p != nullptr);
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  const absl::CivilMonth this_month(today);

  std::optional<absl::CivilDay> start;
  if (a != nullptr) {
    const std::optional<MoneyConversion> money = a->money(standard);
    int64_t sales = 0, refunds = 0, gp = 0, orders = 0, orders90 = 0, refund_n = 0, active = 0;
    int64_t v_sales = 0, v_refunds = 0, v_gp = 0;
    const int vm = standard.value_months();
    a->for_each_month(this_month, [&](int64_t age, int64_t b_sales, int64_t b_refunds, int64_t b_gp, int64_t b_orders,
                                      int64_t b_refund_n) {
      // age 0 = current month; < 0: after `now`, not yet happened as of now.
      if (age < 0) return;
      if (age < 12) {
        sales += b_sales;
        refunds += b_refunds;
        gp += b_gp;
        orders += b_orders;
        refund_n += b_refund_n;
        if (b_orders > 0) ++active;
      }
      if (age < 3) orders90 += b_orders;
      if (vm > 0 && age < vm) {
        v_sales += b_sales;
        v_refunds += b_refunds;
        v_gp += b_gp;
      }
    });
    if (money) {
      // Sums first, converted once (a fixed rate; identity for the standard's currency).
      const MoneyConversion& m = *money;
      f.set(Feature::sales_12m, m(sales));
      f.set(Feature::refunds_12m, m(refunds));
      f.set(Feature::net_sales_12m, m(sales - refunds));
      f.set(Feature::gross_profit_12m, m(gp));
      f.set(Feature::lifetime_net_sales, m(a->lifetime_sales() - a->lifetime_refunds()));
      f.set(Feature::lifetime_gross_profit, m(a->lifetime_gross_profit()));
      const bool window = vm > 0;
      switch (standard.value_basis()) {
        case ValueBasis::gross_profit:
          f.set(Feature::value, m(window ? v_gp : a->lifetime_gross_profit()));
          break;
        case ValueBasis::net_sales:
          f.set(Feature::value, m(window ? v_sales - v_refunds : a->lifetime_sales() - a->lifetime_refunds()));
          break;
        case ValueBasis::gross_sales:
          f.set(Feature::value, m(window ? v_sales : a->lifetime_sales()));
          break;
      }
      f.set(Feature::receivable, m(a->receivable()));
      f.set(Feature::overdue, m(a->overdue(now)));
      f.set(Feature::overdue_over_90, m(a->overdue_over_90(now)));
    }
    f.set(Feature::orders_12m, orders);
    f.set(Feature::orders_90d, orders90);
    f.set(Feature::refund_count_12m, refund_n);
    f.set(Feature::active_months_12m, active);
    f.set(Feature::lifetime_orders, a->lifetime_orders());
    if (const std::optional<absl::Time> last = a->last_purchase()) {
      const absl::Duration d = now - *last;
      f.set(Feature::recency_days, std::max<int64_t>(0, absl::ToInt64Hours(d) / 24));
    }
    start = a->first_purchase();
    f.set(Feature::invoices_paid, a->invoices_paid());
    f.set(Feature::invoices_open, a->invoices_open());
    if (a->invoices_paid() > 0) {
      f.set(Feature::on_time_ratio, std::llround(std::clamp(a->on_time_ratio(), 0.0, 1.0) * 1e6));
      f.set(Feature::avg_days_late, std::llround(std::max(a->avg_days_late(), 0.0) * 1e3));
      f.set(Feature::max_days_late, std::max(a->max_days_late(), 0));
    }
    const int32_t fb_count = a->feedback_count();
    f.set(Feature::feedback_count, fb_count);
    if (fb_count > 0) {
      f.set(Feature::feedback_score, std::llround(std::clamp(a->average_score(), 0.0, 10.0) * 1e3));
      // Integer percentages, rounded toward zero, as NPS is usually reported.
      f.set(Feature::nps, (int64_t{100} * a->promoters() - int64_t{100} * a->detractors()) / fb_count);
    }
  }
  if (p != nullptr) {
    if (p->contract_year() > 0 && p->contract_month() >= 1) {
      const absl::CivilDay cs(p->contract_year(), p->contract_month(), std::max(p->contract_day(), 1));
      if (!start || cs < *start) start = cs;
    }
    if (p->employees() > 0) f.set(Feature::employees, p->employees());
    if (p->annual_revenue() > 0 && p->revenue_ok(standard)) f.set(Feature::annual_revenue, p->annual_revenue());
  }
  if (start && *start <= today) f.set(Feature::tenure_months, whole_months(*start, today));
  return f;
}

}  // namespace

Features compute_features(const Standard& standard, const CustomerInputs& in, absl::Time now) {
  const ProtoAccount a{in.account != nullptr ? *in.account : v1::AccountSnapshot::default_instance()};
  const ProtoProfile p{in.profile != nullptr ? *in.profile : v1::CustomerProfile::default_instance()};
  return compute(standard, in.account ? &a : nullptr, in.profile ? &p : nullptr, now);
}

Features compute_features(const Standard& standard, const CompactInputs& in, absl::Time now) {
  static const CompactAccount kNoAccount;
  static const CompactProfile kNoProfile;
  const CompactAccountView a{in.account != nullptr ? *in.account : kNoAccount};
  const CompactProfileView p{in.profile != nullptr ? *in.profile : kNoProfile};
  return compute(standard, in.account ? &a : nullptr, in.profile ? &p : nullptr, now);
}

std::string format_feature(Feature f, int64_t v, std::string_view currency) {
  switch (feature_info(f).unit) {
    case Unit::money:
      return money::format(v, currency);
    case Unit::count:
    case Unit::score:
      return money::format_grouped(v);
    case Unit::days:
      return fmt::format("{} day{}", money::format_grouped(v), v == 1 ? "" : "s");
    case Unit::months:
      return fmt::format("{} month{}", money::format_grouped(v), v == 1 ? "" : "s");
    case Unit::ratio: {
      // ppm -> percent with one decimal
      const int64_t tenths = (v + (v >= 0 ? 500 : -500)) / 1000;
      return fmt::format("{}{}.{}%", tenths < 0 ? "-" : "", std::abs(tenths) / 10, std::abs(tenths) % 10);
    }
    case Unit::decimal: {
      const int64_t hundredths = (v + (v >= 0 ? 5 : -5)) / 10;
      std::string s =
          fmt::format("{}{}.{:02}", hundredths < 0 ? "-" : "", std::abs(hundredths) / 100, std::abs(hundredths) % 100);
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
      return s;
    }
  }
  return std::to_string(v);
}

}  // namespace tierflow::classification
