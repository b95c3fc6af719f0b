#pragma once
// Per-customer features: the numbers every dimension and rule of the standard reads.
// Computed once per (customer, clock) from the ledger's AccountSnapshot and the CRM
// CustomerProfile; plain values, no strings, ~250 bytes per customer.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::classification {

class Standard;

// What the service materialises per customer. Pointers are borrowed for the duration of
// the call that receives the struct; either may be null (profile only => prospect).
struct CustomerInputs {
  std::string customer_id;
  const v1::AccountSnapshot* account = nullptr;
  const v1::CustomerProfile* profile = nullptr;
};

// How a feature's int64 is to be read. YAML values are written in the natural unit and
// scaled by the loader: money in major units of the standard's currency ("500000" =
// 500,000.00 CNY), ratios as fractions ("0.95"), decimals as plain numbers ("8.5").
enum class Unit : uint8_t {
  money,  // minor units of the standard's currency
  count,  // orders, invoices, employees, ...
  days,
  months,
  ratio,    // parts per million: 0.95 -> 950000
  decimal,  // thousandths: 8.5 -> 8500
  score,    // plain integer score (NPS -100..100)
};

// The closed set of features a standard may name. Window features ("_12m", "_90d") are
// sums over calendar months of the account's monthly buckets: the month containing `now`
// (UTC) and the ones before it (12 months = current + 11; 90 days = current + 2), since
// monthly buckets are the finest grain the ledger publishes.
enum class Feature : uint8_t {
  value,      // per the standard's windows.value_basis and window, net of refunds
  sales_12m,  // gross sales
  refunds_12m,
  net_sales_12m,     // sales - refunds
  gross_profit_12m,  // the ledger's gross profit (already net of refunded margin)
  orders_12m,
  orders_90d,
  refund_count_12m,
  active_months_12m,  // months with at least one order
  recency_days,       // whole days since last purchase; missing without purchases
  tenure_months,      // whole months since the earlier of first purchase / contract start
  lifetime_net_sales,
  lifetime_gross_profit,
  lifetime_orders,
  receivable,
  overdue,          // open and past due now
  overdue_over_90,  // ageing bucket > 90 days
  on_time_ratio,    // missing when no invoice was paid in 12 months
  avg_days_late,
  max_days_late,
  invoices_paid,
  invoices_open,
  feedback_count,
  feedback_score,  // average score 0-10; missing without feedback
  nps,             // promoters% - detractors%, -100..100; missing without feedback
  employees,       // missing when the profile does not say (0)
  annual_revenue,  // missing when 0 or in another currency than the standard's
  kCount
};
inline constexpr size_t kFeatureCount = static_cast<size_t>(Feature::kCount);

struct FeatureInfo {
  std::string_view name;   // as written in YAML, e.g. "sales_12m"
  std::string_view label;  // readable, e.g. "sales in 12 months"
  Unit unit;
};
const FeatureInfo& feature_info(Feature f);
std::optional<Feature> feature_by_name(std::string_view name);

// Computed features of one customer. A feature may be missing (no account, no feedback,
// ...): comparisons on a missing feature are false. Value type, trivially copyable.
class Features {
 public:
  bool has(Feature f) const { return (present_ >> static_cast<unsigned>(f)) & 1U; }
  // 0 when missing.
  int64_t get(Feature f) const { return values_[static_cast<size_t>(f)]; }
  void set(Feature f, int64_t v) {
    values_[static_cast<size_t>(f)] = v;
    present_ |= uint64_t{1} << static_cast<unsigned>(f);
  }
  void clear(Feature f) {
    values_[static_cast<size_t>(f)] = 0;
    present_ &= ~(uint64_t{1} << static_cast<unsigned>(f));
  }
  bool operator==(const Features&) const = default;
  bool has_account() const { return has_account_; }
  bool has_profile() const { return has_profile_; }
  void set_sources(bool account, bool profile) {
    has_account_ = account;
    has_profile_ = profile;
  }

 private:
  std::array<int64_t, kFeatureCount> values_{};
  uint64_t present_ = 0;
  bool has_account_ = false;
  bool has_profile_ = false;
};

// Features of a customer as of `now` under the standard's windows and currency. Pure;
// never throws on odd input (a snapshot in another currency contributes no money features).
Features compute_features(const Standard& standard, const CustomerInputs& inputs, absl::Time now);

// A feature value for people: "8,120.00 CNY", "12 days", "96.5%", "8.5".
std::string format_feature(Feature f, int64_t v, std::string_view currency);

}  // namespace tierflow::classification
