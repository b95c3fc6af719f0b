#include <string>

#include "text.h"
#include "tierflow/report/report.h"

namespace tierflow::report {
namespace {

using detail::tr;

std::string s(std::string_view v) { return std::string(v); }

std::string or_none(const std::string& v, Lang lang) { return v.empty() ? s(tr(lang, "(none)")) : v; }

}  // namespace

std::vector<Table> tables(const v1::Overview& o, const Meta& meta, const v1::ListWatchResponse* watch) {
  const Lang l = meta.lang;
  const v1::Distribution& d = o.distribution();
  std::vector<Table> out;

  Table summary{"summary", s(tr(l, "Summary")), {s(tr(l, "figure")), s(tr(l, "value"))}, {}};
  summary.rows.push_back({s(tr(l, "as of")), detail::as_of_text(o, meta)});
  if (!o.clock().empty()) summary.rows.push_back({s(tr(l, "clock")), o.clock()});
  if (!d.standard_version().empty()) summary.rows.push_back({s(tr(l, "standard")), d.standard_version()});
  summary.rows.push_back({s(tr(l, "customers")), std::int64_t{d.customers()}});
  summary.rows.push_back({s(tr(l, "total value")), Money{d.total_value_minor()}});
  summary.rows.push_back({s(tr(l, "currency")), d.currency()});
  if (const auto* r = detail::reach_80(d)) {
    summary.rows.push_back({s(tr(l, "customers bringing 80% of value")), std::int64_t{r->customers()}});
    summary.rows.push_back({s(tr(l, "share of customers bringing 80% of value")), Share{r->customer_share()}});
  }
  summary.rows.push_back({s(tr(l, "pending downgrades")), std::int64_t{o.pending_downgrades()}});
  summary.rows.push_back({s(tr(l, "credit holds")), std::int64_t{o.credit_holds()}});
  summary.rows.push_back({s(tr(l, "turning at-risk")), std::int64_t{o.at_risk()}});
  out.push_back(std::move(summary));

  Table tiers{"tiers",
              s(tr(l, "Customers and value per tier")),
              {s(tr(l, "tier")), s(tr(l, "customers")), s(tr(l, "customer share")), s(tr(l, "total value")),
               s(tr(l, "value share"))},
              {}};
  for (const auto& t : d.tiers()) {
    const double customer_share = d.customers() > 0 ? static_cast<double>(t.customers()) / d.customers() : 0.0;
    tiers.rows.push_back({or_none(t.tier(), l), std::int64_t{t.customers()}, Share{customer_share},
                          Money{t.value_minor()}, Share{t.value_share()}});
  }
  out.push_back(std::move(tiers));

  if (o.quadrants_size() > 0) {
    Table q{"quadrants",
            s(tr(l, "Quadrants")),
            {s(tr(l, "quadrant")), s(tr(l, "tenure")), s(tr(l, "size or value")), s(tr(l, "customers")),
             s(tr(l, "total value")), s(tr(l, "value share")), s(tr(l, "strategy"))},
            {}};
    for (const auto& x : o.quadrants()) {
      q.rows.push_back({or_none(x.name(), l), x.tenure(), x.size(), std::int64_t{x.customers()}, Money{x.value_minor()},
                        Share{x.value_share()}, x.strategy()});
    }
    out.push_back(std::move(q));
  }

  for (const auto& b : o.breakdowns()) {
    Table t{"breakdown-" + b.dimension(),
            s(tr(l, "Breakdown by")) + (l == Lang::kEn ? " " : "") + s(tr(l, b.dimension())),
            {s(tr(l, b.dimension())), s(tr(l, "customers")), s(tr(l, "total value")), s(tr(l, "value share"))},
            {}};
    // A customers column per tier, in the standard's order (the first row's: every row
    // lists every tier).
    if (b.rows_size() > 0) {
      for (const auto& tc : b.rows(0).tiers()) {
        t.headers.push_back(s(tr(l, "customers in")) + (l == Lang::kEn ? " " : "") + or_none(tc.tier(), l));
      }
    }
    for (const auto& r : b.rows()) {
      std::vector<Cell> row{or_none(r.key(), l), std::int64_t{r.customers()}, Money{r.value_minor()},
                            Share{r.value_share()}};
      for (const auto& tc : r.tiers()) row.emplace_back(std::int64_t{tc.customers()});
      row.resize(t.headers.size(), std::int64_t{0});
      t.rows.push_back(std::move(row));
    }
    out.push_back(std::move(t));
  }

  if (o.value_cuts_size() > 0) {
    Table cuts{"cuts",
               s(tr(l, "A/B/C value cuts")),
               {s(tr(l, "class")), s(tr(l, "cumulative customers")), s(tr(l, "cumulative customer share")),
                s(tr(l, "cumulative value share"))},
               {}};
    for (const auto& c : o.value_cuts()) {
      cuts.rows.push_back(
          {or_none(c.class_name(), l), std::int64_t{c.customers()}, Share{c.customer_share()}, Share{c.value_share()}});
    }
    out.push_back(std::move(cuts));
  }

  if (d.classes_size() > 0) {
    Table classes{"classes",
                  s(tr(l, "Classes per dimension")),
                  {s(tr(l, "dimension")), s(tr(l, "class")), s(tr(l, "customers")), s(tr(l, "total value")),
                   s(tr(l, "value share"))},
                  {}};
    for (const auto& c : d.classes()) {
      classes.rows.push_back({c.dimension(), or_none(c.class_name(), l), std::int64_t{c.customers()},
                              Money{c.value_minor()}, Share{c.value_share()}});
    }
    out.push_back(std::move(classes));
  }

  // The full curve when the service sends it, else its coarse points.
  const auto& curve = d.curve_size() > 0 ? d.curve() : d.pareto();
  if (!curve.empty()) {
    Table pareto{"pareto", s(tr(l, "Pareto curve")), {s(tr(l, "top customers")), s(tr(l, "value share"))}, {}};
    for (const auto& p : curve) pareto.rows.push_back({Share{p.customer_share()}, Share{p.value_share()}});
    out.push_back(std::move(pareto));
  }

  if (d.reach_size() > 0) {
    Table reach{"reach",
                s(tr(l, "Customers needed to reach a share of value")),
                {s(tr(l, "share of value")), s(tr(l, "customers")), s(tr(l, "customer share"))},
                {}};
    for (const auto& r : d.reach()) {
      reach.rows.push_back({Share{r.value_share()}, std::int64_t{r.customers()}, Share{r.customer_share()}});
    }
    out.push_back(std::move(reach));
  }

  if (d.top_size() > 0) {
    Table top{"top",
              s(tr(l, "Value of the top customers")),
              {s(tr(l, "top N")), s(tr(l, "customers")), s(tr(l, "total value")), s(tr(l, "value share"))},
              {}};
    for (const auto& t : d.top()) {
      top.rows.push_back(
          {std::int64_t{t.top_n()}, std::int64_t{t.customers()}, Money{t.value_minor()}, Share{t.value_share()}});
    }
    out.push_back(std::move(top));
  }

  if (watch != nullptr) {
    Table w{"watch",
            s(tr(l, "Watch list")) + (watch->truncated() ? s(tr(l, " (the first customers only)")) : ""),
            {s(tr(l, "customer")), s(tr(l, "tier")), s(tr(l, "why")), s(tr(l, "reason"))},
            {}};
    const auto kind = [&](const std::string& k) {
      if (k == "pending_downgrade") return s(tr(l, "pending downgrade"));
      if (k == "credit_hold") return s(tr(l, "credit hold"));
      if (k == "at_risk") return s(tr(l, "turning at-risk"));
      return k;
    };
    for (const auto& e : watch->entries()) {
      std::string kinds, reasons;
      for (const auto& k : e.kinds()) kinds += (kinds.empty() ? "" : "; ") + kind(k);
      for (const auto& r : e.reasons()) reasons += (reasons.empty() ? "" : "; ") + r;
      w.rows.push_back({e.assignment().customer_id(), or_none(e.assignment().tier(), l), kinds, reasons});
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace tierflow::report
