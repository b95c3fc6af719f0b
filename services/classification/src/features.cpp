#include "tierflow/classification/features.h"

#include <algorithm>
#include <cmath>

#include "absl/time/civil_time.h"
#include "fmt/format.h"
#include "tierflow/classification/money.h"
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

absl::Time to_time(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}
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

Features compute_features(const Standard& standard, const CustomerInputs& in, absl::Time now) {
  Features f;
  const v1::AccountSnapshot* a = in.account;
  const v1::CustomerProfile* p = in.profile;
  f.set_sources(a != nullptr, p != nullptr);
  const absl::CivilDay today = absl::ToCivilDay(now, absl::UTCTimeZone());
  const absl::CivilMonth this_month(today);

  std::optional<absl::CivilDay> start;
  if (a != nullptr) {
    const bool money_ok = a->currency().empty() || a->currency() == standard.currency();
    int64_t sales = 0, refunds = 0, gp = 0, orders = 0, orders90 = 0, refund_n = 0, active = 0;
    int64_t v_sales = 0, v_refunds = 0, v_gp = 0;
    const int vm = standard.value_months();
    for (const auto& b : a->months()) {
      const absl::CivilMonth m(b.year(), b.month());
      const int64_t age = this_month - m;  // 0 = current month
      if (age < 0) continue;               // after `now`: not yet happened as of now
      if (age < 12) {
        sales += b.sales_minor();
        refunds += b.refunds_minor();
        gp += b.gross_profit_minor();
        orders += b.orders();
        refund_n += b.refund_count();
        if (b.orders() > 0) ++active;
      }
      if (age < 3) orders90 += b.orders();
      if (vm > 0 && age < vm) {
        v_sales += b.sales_minor();
        v_refunds += b.refunds_minor();
        v_gp += b.gross_profit_minor();
      }
    }
    if (money_ok) {
      f.set(Feature::sales_12m, sales);
      f.set(Feature::refunds_12m, refunds);
      f.set(Feature::net_sales_12m, sales - refunds);
      f.set(Feature::gross_profit_12m, gp);
      f.set(Feature::lifetime_net_sales, a->lifetime_sales_minor() - a->lifetime_refunds_minor());
      f.set(Feature::lifetime_gross_profit, a->lifetime_gross_profit_minor());
      if (vm > 0) {
        f.set(Feature::value, standard.value_basis_gross_profit() ? v_gp : v_sales - v_refunds);
      } else {
        f.set(Feature::value, standard.value_basis_gross_profit()
                                  ? a->lifetime_gross_profit_minor()
                                  : a->lifetime_sales_minor() - a->lifetime_refunds_minor());
      }
      f.set(Feature::receivable, a->receivable_minor());
      f.set(Feature::overdue, a->payment().overdue_minor());
      f.set(Feature::overdue_over_90, a->ageing().over_90_minor());
    }
    f.set(Feature::orders_12m, orders);
    f.set(Feature::orders_90d, orders90);
    f.set(Feature::refund_count_12m, refund_n);
    f.set(Feature::active_months_12m, active);
    f.set(Feature::lifetime_orders, a->lifetime_orders());
    if (is_set(a->last_purchase())) {
      const absl::Duration d = now - to_time(a->last_purchase());
      f.set(Feature::recency_days, std::max<int64_t>(0, absl::ToInt64Hours(d) / 24));
    }
    if (is_set(a->first_purchase()))
      start = absl::ToCivilDay(to_time(a->first_purchase()), absl::UTCTimeZone());
    const auto& pay = a->payment();
    f.set(Feature::invoices_paid, pay.invoices_paid());
    f.set(Feature::invoices_open, pay.invoices_open());
    if (pay.invoices_paid() > 0) {
      f.set(Feature::on_time_ratio, std::llround(std::clamp(pay.on_time_ratio(), 0.0, 1.0) * 1e6));
      f.set(Feature::avg_days_late, std::llround(std::max(pay.avg_days_late(), 0.0) * 1e3));
      f.set(Feature::max_days_late, std::max(pay.max_days_late(), 0));
    }
    const auto& fb = a->feedback();
    f.set(Feature::feedback_count, fb.count());
    if (fb.count() > 0) {
      f.set(Feature::feedback_score, std::llround(std::clamp(fb.average_score(), 0.0, 10.0) * 1e3));
      // Integer percentages, rounded toward zero, as NPS is usually reported.
      f.set(Feature::nps, (int64_t{100} * fb.promoters() - int64_t{100} * fb.detractors()) / fb.count());
    }
  }
  if (p != nullptr) {
    if (p->contract_start().year() > 0 && p->contract_start().month() >= 1) {
      const absl::CivilDay cs(p->contract_start().year(), p->contract_start().month(),
                              std::max(p->contract_start().day(), 1));
      if (!start || cs < *start) start = cs;
    }
    if (p->company_size().employees() > 0) f.set(Feature::employees, p->company_size().employees());
    const auto& rev = p->company_size().annual_revenue();
    if (rev.minor_units() > 0 && (rev.currency().empty() || rev.currency() == standard.currency()))
      f.set(Feature::annual_revenue, rev.minor_units());
  }
  if (start && *start <= today) f.set(Feature::tenure_months, whole_months(*start, today));
  return f;
}

std::string format_feature(Feature f, int64_t v, std::string_view currency) {
  switch (feature_info(f).unit) {
    case Unit::money:
      return format_money(v, currency);
    case Unit::count:
    case Unit::score:
      return format_grouped(v);
    case Unit::days:
      return fmt::format("{} day{}", format_grouped(v), v == 1 ? "" : "s");
    case Unit::months:
      return fmt::format("{} month{}", format_grouped(v), v == 1 ? "" : "s");
    case Unit::ratio: {
      // ppm -> percent with one decimal
      const int64_t tenths = (v + (v >= 0 ? 500 : -500)) / 1000;
      return fmt::format("{}{}.{}%", tenths < 0 ? "-" : "", std::abs(tenths) / 10, std::abs(tenths) % 10);
    }
    case Unit::decimal: {
      const int64_t hundredths = (v + (v >= 0 ? 5 : -5)) / 10;
      std::string s = fmt::format("{}{}.{:02}", hundredths < 0 ? "-" : "", std::abs(hundredths) / 100,
                                  std::abs(hundredths) % 100);
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
      return s;
    }
  }
  return std::to_string(v);
}

}  // namespace tierflow::classification
