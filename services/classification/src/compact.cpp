#include "tierflow/classification/compact.h"

#include <limits>

#include "absl/time/civil_time.h"
#include "common/time/time.h"
#include "tierflow/classification/standard.h"

namespace tierflow::classification {

namespace {

const absl::CivilMonth kEpochMonth(1970, 1);
const absl::CivilDay kEpochDay(1970, 1, 1);

bool fits_int32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

}  // namespace

CompactCurrency CompactCurrency::of(std::string_view c) {
  CompactCurrency out;
  if (c.empty()) return out;
  if (c.size() != 3) {
    out.kind = Kind::other;
    return out;
  }
  out.kind = Kind::code;
  std::copy(c.begin(), c.end(), out.code.begin());
  return out;
}

CompactAccount compact(const v1::AccountSnapshot& a) {
  CompactAccount out;
  // Newest month first: the dense window ends there.
  bool any = false;
  int64_t newest = 0;
  for (const auto& b : a.months()) {
    const int64_t m = absl::CivilMonth(b.year(), b.month()) - kEpochMonth;
    if (!any || m > newest) newest = m;
    any = true;
  }
  if (any) {
    out.has_months = true;
    out.newest_month = newest;
    CompactAccount::Wide w{};
    bool narrow = true;
    for (const auto& b : a.months()) {
      const int64_t slot = newest - (absl::CivilMonth(b.year(), b.month()) - kEpochMonth);
      if (slot >= kCompactMonths) continue;  // outside every window as of any now >= newest
      const int64_t values[CompactAccount::kColumns] = {b.sales_minor(), b.refunds_minor(), b.gross_profit_minor(),
                                                        b.orders(), b.refund_count()};
      for (int c = 0; c < CompactAccount::kColumns; ++c) {
        // Duplicate months add up; wrap-around as the proto path's int64 sums would.
        w[c][slot] = static_cast<int64_t>(static_cast<uint64_t>(w[c][slot]) + static_cast<uint64_t>(values[c]));
        narrow = narrow && fits_int32(w[c][slot]);
      }
    }
    if (narrow) {
      for (int c = 0; c < CompactAccount::kColumns; ++c)
        for (int i = 0; i < kCompactMonths; ++i) out.months[c][i] = static_cast<int32_t>(w[c][i]);
    } else {
      out.wide = std::make_shared<const CompactAccount::Wide>(w);
    }
  }
  out.lifetime_sales = a.lifetime_sales_minor();
  out.lifetime_refunds = a.lifetime_refunds_minor();
  out.lifetime_gross_profit = a.lifetime_gross_profit_minor();
  out.lifetime_orders = a.lifetime_orders();
  out.receivable = a.receivable_minor();
  out.overdue = a.payment().overdue_minor();
  out.overdue_over_90 = a.ageing().over_90_minor();
  if (a.open_invoices_size() > 0) {
    auto open = std::make_shared<std::vector<CompactAccount::OpenInvoice>>();
    open->reserve(a.open_invoices_size());
    for (const auto& inv : a.open_invoices()) open->push_back({inv.due_time().seconds(), inv.open_minor()});
    out.open_invoices = std::move(open);
  }
  if (a.has_as_of()) out.as_of_micros = absl::ToUnixMicros(timeutil::from_proto(a.as_of()));
  out.last_purchase_seconds = a.last_purchase().seconds();
  out.last_purchase_nanos = a.last_purchase().nanos();
  const auto& fp = a.first_purchase();
  if (fp.seconds() != 0 || fp.nanos() != 0) {
    const absl::Time t = timeutil::from_proto(fp);
    out.first_purchase_day = absl::ToCivilDay(t, absl::UTCTimeZone()) - kEpochDay;
    out.has_first = true;
  }
  out.currency = CompactCurrency::of(a.currency());
  out.invoices_paid = a.payment().invoices_paid();
  out.invoices_open = a.payment().invoices_open();
  out.max_days_late = a.payment().max_days_late();
  out.on_time_ratio = a.payment().on_time_ratio();
  out.avg_days_late = a.payment().avg_days_late();
  out.feedback_count = a.feedback().count();
  out.promoters = a.feedback().promoters();
  out.detractors = a.feedback().detractors();
  out.average_score = a.feedback().average_score();
  return out;
}

uint32_t Vocabulary::intern(std::string_view text) {
  if (text.empty()) return 0;
  if (const auto it = ids_.find(text); it != ids_.end()) return it->second;
  texts_.emplace_back(text);
  const auto id = static_cast<uint32_t>(texts_.size());
  ids_.emplace(texts_.back(), id);
  return id;
}

CompactProfile compact(const v1::CustomerProfile& p, Vocabulary& vocabulary) {
  CompactProfile out;
  out.contract_year = p.contract_start().year();
  out.contract_month = p.contract_start().month();
  out.contract_day = p.contract_start().day();
  out.employees = p.company_size().employees();
  out.annual_revenue = p.company_size().annual_revenue().minor_units();
  out.revenue_currency = CompactCurrency::of(p.company_size().annual_revenue().currency());
  out.industry = vocabulary.intern(p.industry());
  out.region = vocabulary.intern(p.region());
  return out;
}

MappingTable::MappingTable(const Standard& standard, const Vocabulary& vocabulary)
    : classes_(standard.dimensions().size()), vocabulary_size_(vocabulary.size()) {
  for (size_t d = 0; d < standard.dimensions().size(); ++d) {
    const Dimension& dim = standard.dimensions()[d];
    if (dim.kind != DimensionKind::mapping) continue;
    auto& t = classes_[d];
    t.resize(vocabulary.size());
    for (uint32_t id = 0; id < vocabulary.size(); ++id)
      t[id] = static_cast<int8_t>(mapping_class(dim, vocabulary.text(id)));
  }
}

v1::CustomerProfile expand_for_evaluation(const CompactProfile& profile, const Vocabulary& vocabulary) {
  v1::CustomerProfile p;
  p.set_industry(std::string(vocabulary.text(profile.industry)));
  p.set_region(std::string(vocabulary.text(profile.region)));
  return p;
}

}  // namespace tierflow::classification
