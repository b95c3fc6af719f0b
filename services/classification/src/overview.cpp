// OverviewBook: the kept aggregates behind GetDistribution and GetOverview.
#include "tierflow/classification/overview.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <stdexcept>

namespace tierflow::classification {

namespace {
constexpr std::string_view kBreakdowns[] = {"region", "industry", "lifecycle"};
constexpr std::string_view kValueDimension = "value";
}  // namespace

void OverviewBook::SortedValues::clear() {
  sorted_.clear();
  add_.clear();
  del_.clear();
}

void OverviewBook::SortedValues::merge() {
  if (add_.empty() && del_.empty()) return;
  std::sort(add_.begin(), add_.end());
  std::sort(del_.begin(), del_.end());
  // A value inserted and erased in the same batch cancels out.
  std::vector<int64_t> add, del;
  std::set_difference(add_.begin(), add_.end(), del_.begin(), del_.end(), std::back_inserter(add));
  std::set_difference(del_.begin(), del_.end(), add_.begin(), add_.end(), std::back_inserter(del));
  std::vector<int64_t> kept;
  kept.reserve(sorted_.size() - std::min(sorted_.size(), del.size()));
  std::set_difference(sorted_.begin(), sorted_.end(), del.begin(), del.end(), std::back_inserter(kept));
  std::vector<int64_t> out;
  out.reserve(kept.size() + add.size());
  std::merge(kept.begin(), kept.end(), add.begin(), add.end(), std::back_inserter(out));
  sorted_ = std::move(out);
  add_.clear();
  del_.clear();
}

OverviewBook::OverviewBook() : tracked_{Feature::value} {}

std::vector<Feature> OverviewBook::tracked_for(const Standard& standard) {
  std::vector<Feature> out{Feature::value};
  auto track = [&](Feature f) {
    if (std::find(out.begin(), out.end(), f) == out.end() && out.size() < kTracked) out.push_back(f);
  };
  bool rfm = false;
  for (const auto& d : standard.dimensions()) {
    if (d.kind != DimensionKind::rfm) continue;
    rfm = true;
    track(d.recency);
    track(d.frequency);
    track(d.monetary);
  }
  if (!rfm) {
    track(Feature::recency_days);
    track(Feature::orders_12m);
  }
  return out;
}

void OverviewBook::retrack(std::vector<Feature> features) {
  // Tracked values of the old set mean nothing under the new one: every row loses them
  // (the pareto value included, which is recomputed when the customer is noted again).
  for (auto& [id, r] : rows_) {
    if (counted(r)) add(r, -1);
    r.present = 0;
    r.tracked = {};
    if (counted(r)) add(r, +1);
  }
  for (auto& v : feature_values_) v.clear();
  tracked_ = std::move(features);
  ++generation_;
}

void OverviewBook::add(const Row& r, int sign) {
  const int64_t v = pareto_value(r);
  Acc& t = tier_acc_[r.tier];
  t.customers += sign;
  t.value += sign * v;
  for (size_t i = 0; i < r.class_count; ++i) {
    Acc& c = class_acc_[r.classes[i]];
    c.customers += sign;
    c.value += sign * v;
    auto& per_tier = class_tier_acc_[r.classes[i]];
    if (per_tier.size() <= r.tier) per_tier.resize(tier_names_.size());
    per_tier[r.tier].customers += sign;
    per_tier[r.tier].value += sign * v;
  }
  total_value_ += sign * v;
  credit_holds_ += sign * (r.credit_hold ? 1 : 0);
  pending_downgrades_ += sign * (r.pending_downgrade ? 1 : 0);
  counted_ = static_cast<size_t>(static_cast<int64_t>(counted_) + sign);
  if (sign > 0) {
    pareto_.insert(v);
  } else {
    pareto_.erase(v);
  }
  for (size_t i = 0; i < tracked_.size(); ++i) {
    if (!((r.present >> i) & 1U)) continue;
    if (sign > 0) {
      feature_values_[i].insert(r.tracked[i]);
    } else {
      feature_values_[i].erase(r.tracked[i]);
    }
  }
}

uint16_t OverviewBook::intern_tier(std::string_view name) {
  auto it = std::find(tier_names_.begin(), tier_names_.end(), name);
  if (it != tier_names_.end()) return static_cast<uint16_t>(it - tier_names_.begin());
  tier_names_.emplace_back(name);
  tier_acc_.emplace_back();
  return static_cast<uint16_t>(tier_names_.size() - 1);
}

uint16_t OverviewBook::intern_class(std::string_view dimension, std::string_view class_name) {
  for (size_t i = 0; i < class_names_.size(); ++i) {
    if (class_names_[i].first == dimension && class_names_[i].second == class_name) return static_cast<uint16_t>(i);
  }
  class_names_.emplace_back(std::string(dimension), std::string(class_name));
  class_acc_.emplace_back();
  class_tier_acc_.emplace_back();
  return static_cast<uint16_t>(class_names_.size() - 1);
}

void OverviewBook::note_features(const Standard& standard, const std::string& customer_id, const Features& f) {
  if (auto want = tracked_for(standard); want != tracked_) retrack(std::move(want));
  Row& r = rows_[customer_id];
  Row next = r;
  next.present = 0;
  next.tracked = {};
  for (size_t i = 0; i < tracked_.size(); ++i) {
    if (!f.has(tracked_[i])) continue;
    next.tracked[i] = f.get(tracked_[i]);
    next.present |= static_cast<uint8_t>(1U << i);
  }
  if (next.present == r.present && next.tracked == r.tracked) return;
  if (counted(r)) add(r, -1);
  r = next;
  if (counted(r)) add(r, +1);
  ++generation_;
}

void OverviewBook::note_assignment(const v1::TierAssignment& a) {
  Row& r = rows_[a.customer_id()];
  Row next = r;
  next.tier = intern_tier(a.tier());
  next.credit_hold = a.credit_hold();
  next.pending_downgrade = a.has_pending_downgrade();
  next.class_count = 0;
  for (const auto& dc : a.dimensions()) {
    if (next.class_count == kMaxDimensions) break;
    next.classes[next.class_count++] = intern_class(dc.dimension(), dc.class_name());
  }
  if (counted(r)) add(r, -1);
  r = next;
  add(r, +1);
  ++generation_;
}

namespace {
void put_uvarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
uint64_t get_uvarint(std::string_view& in) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) throw std::invalid_argument("overview rows: truncated");
    const auto b = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return v;
  }
  throw std::invalid_argument("overview rows: bad varint");
}
void put_text(std::string& out, std::string_view t) {
  put_uvarint(out, t.size());
  out.append(t);
}
std::string_view get_text(std::string_view& in) {
  const uint64_t n = get_uvarint(in);
  if (n > in.size()) throw std::invalid_argument("overview rows: truncated");
  std::string_view t = in.substr(0, n);
  in.remove_prefix(n);
  return t;
}
}  // namespace

std::string OverviewBook::export_rows(const Standard& standard, std::span<const std::string> ids) {
  if (tracked_for(standard) != tracked_) retrack(tracked_for(standard));
  std::string out;
  put_uvarint(out, tracked_.size());
  for (const std::string& id : ids) {
    auto it = rows_.find(id);
    if (it == rows_.end() || !counted(it->second)) continue;
    const Row& r = it->second;
    put_text(out, tier_names_[r.tier]);
    out.push_back(static_cast<char>((r.credit_hold ? 1 : 0) | (r.pending_downgrade ? 2 : 0)));
    put_uvarint(out, r.class_count);
    for (size_t k = 0; k < r.class_count; ++k) {
      put_text(out, class_names_[r.classes[k]].first);
      put_text(out, class_names_[r.classes[k]].second);
    }
    out.push_back(static_cast<char>(r.present));
    for (size_t i = 0; i < tracked_.size(); ++i) {
      if ((r.present >> i) & 1U)
        put_uvarint(out, (static_cast<uint64_t>(r.tracked[i]) << 1) ^ static_cast<uint64_t>(r.tracked[i] >> 63));
    }
  }
  return out;
}

void OverviewBook::import_rows(const Standard& standard, std::string_view in, const std::string& prefix) {
  if (tracked_for(standard) != tracked_) retrack(tracked_for(standard));
  if (get_uvarint(in) != tracked_.size()) throw std::invalid_argument("overview rows of another standard");
  for (size_t n = 0; !in.empty(); ++n) {
    v1::TierAssignment a;
    a.set_customer_id(prefix + std::to_string(n));
    a.set_tier(std::string(get_text(in)));
    if (in.empty()) throw std::invalid_argument("overview rows: truncated");
    const auto flags = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    a.set_credit_hold((flags & 1U) != 0);
    if ((flags & 2U) != 0) a.mutable_pending_downgrade();
    const uint64_t classes = get_uvarint(in);
    if (classes > kMaxDimensions) throw std::invalid_argument("overview rows: too many classes");
    for (uint64_t k = 0; k < classes; ++k) {
      auto* dc = a.add_dimensions();
      dc->set_dimension(std::string(get_text(in)));
      dc->set_class_name(std::string(get_text(in)));
    }
    if (in.empty()) throw std::invalid_argument("overview rows: truncated");
    const auto present = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    Row& r = rows_[a.customer_id()];
    if (counted(r)) add(r, -1);
    r = Row{};
    for (size_t i = 0; i < tracked_.size(); ++i) {
      if (((present >> i) & 1U) == 0) continue;
      const uint64_t z = get_uvarint(in);
      r.tracked[i] = static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
      r.present |= static_cast<uint8_t>(1U << i);
    }
    note_assignment(a);
  }
}

void OverviewBook::forget(const std::string& customer_id) {
  auto it = rows_.find(customer_id);
  if (it == rows_.end()) return;
  if (counted(it->second)) add(it->second, -1);
  rows_.erase(it);
  ++generation_;
}

void OverviewBook::add_cut_points(v1::Distribution& out, const Standard& standard) {
  // Cut k of q over the values present (sorted ascending): the ceil(k*n/q)-th smallest.
  auto add_cuts = [&](const std::string& dimension, const char* component, Feature f) {
    const auto at = std::find(tracked_.begin(), tracked_.end(), f);
    static const std::vector<int64_t> kEmpty;
    const std::vector<int64_t>& values =
        at == tracked_.end() ? kEmpty : feature_values_[static_cast<size_t>(at - tracked_.begin())].values();
    const size_t n = values.size();
    for (int q : {4, 5}) {
      auto* c = out.add_cut_points();
      c->set_dimension(dimension);
      c->set_component(component);
      c->set_feature(std::string(feature_info(f).name));
      c->set_quantiles(q);
      c->set_customers(static_cast<int64_t>(n));
      if (n == 0) continue;
      for (int k = 1; k < q; ++k) c->add_cuts(values[(static_cast<size_t>(k) * n + q - 1) / q - 1]);
    }
  };
  bool rfm = false;
  for (const auto& d : standard.dimensions()) {
    if (d.kind != DimensionKind::rfm) continue;
    rfm = true;
    add_cuts(d.name, "recency", d.recency);
    add_cuts(d.name, "frequency", d.frequency);
    add_cuts(d.name, "monetary", d.monetary);
  }
  if (!rfm) {
    add_cuts("", "recency", Feature::recency_days);
    add_cuts("", "frequency", Feature::orders_12m);
    add_cuts("", "monetary", Feature::value);
  }
}

v1::Distribution OverviewBook::distribution(const Standard& s, const v1::GetDistributionRequest& request) {
  if (tracked_for(s) != tracked_) retrack(tracked_for(s));
  pareto_.merge();
  for (auto& v : feature_values_) v.merge();

  v1::Distribution out;
  out.set_currency(s.currency());
  out.set_standard_version(s.version());
  const size_t n = counted_;
  out.set_customers(static_cast<int64_t>(n));
  const int64_t total = total_value_;
  out.set_total_value_minor(total);
  auto share = [&](int64_t v) { return total > 0 ? static_cast<double>(v) / static_cast<double>(total) : 0.0; };

  // Tiers in the standard's order; tiers it does not have (an older standard's) after them.
  std::vector<std::string> tier_order = s.tier_names();
  for (size_t t = 0; t < tier_names_.size(); ++t) {
    if (tier_acc_[t].customers > 0 &&
        std::find(tier_order.begin(), tier_order.end(), tier_names_[t]) == tier_order.end()) {
      tier_order.push_back(tier_names_[t]);
    }
  }
  for (const auto& name : tier_order) {
    auto it = std::find(tier_names_.begin(), tier_names_.end(), name);
    const Acc acc = it == tier_names_.end() ? Acc{} : tier_acc_[static_cast<size_t>(it - tier_names_.begin())];
    auto* tc = out.add_tiers();
    tc->set_tier(name);
    tc->set_customers(acc.customers);
    tc->set_value_minor(acc.value);
    tc->set_value_share(share(acc.value));
  }
  // Classes: the standard's dimension and class order, then classes it does not have.
  std::vector<std::pair<std::string, std::string>> class_order;
  for (const auto& d : s.dimensions())
    for (const auto& c : d.classes) class_order.emplace_back(d.name, c);
  for (size_t c = 0; c < class_names_.size(); ++c) {
    if (class_acc_[c].customers > 0 &&
        std::find(class_order.begin(), class_order.end(), class_names_[c]) == class_order.end()) {
      class_order.push_back(class_names_[c]);
    }
  }
  for (const auto& key : class_order) {
    auto it = std::find(class_names_.begin(), class_names_.end(), key);
    const Acc acc = it == class_names_.end() ? Acc{} : class_acc_[static_cast<size_t>(it - class_names_.begin())];
    auto* cc = out.add_classes();
    cc->set_dimension(key.first);
    cc->set_class_name(key.second);
    cc->set_customers(acc.customers);
    cc->set_value_minor(acc.value);
    cc->set_value_share(share(acc.value));
  }

  // cum[k]: the value of the best k customers.
  const std::vector<int64_t>& asc = pareto_.values();
  std::vector<int64_t> cum(n + 1, 0);
  for (size_t i = 0; i < n && i < asc.size(); ++i) cum[i + 1] = cum[i] + asc[asc.size() - 1 - i];
  if (n > 0) {
    for (int pct : {5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}) {
      const size_t k = (static_cast<size_t>(pct) * n + 99) / 100;  // ceil(pct% of n)
      auto* p = out.add_pareto();
      p->set_customer_share(pct / 100.0);
      p->set_value_share(share(cum[k]));
    }
    for (int pct = 1; pct <= 100; ++pct) {
      const size_t k = (static_cast<size_t>(pct) * n + 99) / 100;
      auto* p = out.add_curve();
      p->set_customer_share(pct / 100.0);
      p->set_value_share(share(cum[k]));
    }
  }
  std::vector<double> shares(request.value_shares().begin(), request.value_shares().end());
  if (shares.empty()) shares = {0.5, 0.8, 0.9, 0.95};
  for (double want : shares) {
    if (!(want > 0 && want <= 1)) continue;
    // In integers where the share is a whole basis point (0.8 -> 8000), so that the figure
    // equals one computed from the raw data; cum[k] >= ceil(share x total).
    const int64_t bp = std::llround(want * 10000);
    const int64_t need = std::abs(want * 10000 - static_cast<double>(bp)) < 1e-9
                             ? (bp * total + 9999) / 10000
                             : static_cast<int64_t>(std::ceil(want * static_cast<double>(total)));
    const size_t k = static_cast<size_t>(std::lower_bound(cum.begin(), cum.end(), need) - cum.begin());
    auto* r = out.add_reach();
    r->set_value_share(want);
    r->set_customers(static_cast<int64_t>(std::min(k, n)));
    r->set_customer_share(n > 0 ? static_cast<double>(std::min(k, n)) / static_cast<double>(n) : 0.0);
  }
  std::vector<int64_t> tops(request.top_n().begin(), request.top_n().end());
  if (tops.empty()) tops = {10, 100, 1000};
  for (int64_t top_n : tops) {
    if (top_n < 1) continue;
    const size_t k = std::min(static_cast<size_t>(top_n), n);
    auto* t = out.add_top();
    t->set_top_n(top_n);
    t->set_customers(static_cast<int64_t>(k));
    t->set_value_minor(cum[k]);
    t->set_value_share(share(cum[k]));
  }
  add_cut_points(out, s);
  return out;
}

v1::Overview OverviewBook::overview(const Standard& s) {
  v1::Overview out;
  *out.mutable_distribution() = distribution(s);
  const v1::Distribution& d = out.distribution();
  const int64_t total = total_value_;
  auto share = [&](int64_t v) { return total > 0 ? static_cast<double>(v) / static_cast<double>(total) : 0.0; };
  auto class_acc = [&](std::string_view dim, std::string_view cls) {
    for (size_t c = 0; c < class_names_.size(); ++c) {
      if (class_names_[c].first == dim && class_names_[c].second == cls) return std::make_pair(class_acc_[c], c);
    }
    return std::make_pair(Acc{}, class_names_.size());
  };

  for (const auto& dim : s.dimensions()) {
    if (dim.kind != DimensionKind::matrix) continue;
    const auto& axes = s.dimensions();
    for (size_t i = 0; i < dim.classes.size(); ++i) {
      const auto acc = class_acc(dim.name, dim.classes[i]).first;
      auto* q = out.add_quadrants();
      q->set_name(dim.classes[i]);
      q->set_dimension(dim.name);
      if (i < dim.cells.size()) {
        const auto& a = axes[dim.of[0]];
        const auto& b = axes[dim.of[1]];
        if (dim.cells[i].first < a.classes.size()) q->set_tenure(a.classes[dim.cells[i].first]);
        if (dim.cells[i].second < b.classes.size()) q->set_size(b.classes[dim.cells[i].second]);
      }
      q->set_customers(acc.customers);
      q->set_value_minor(acc.value);
      q->set_value_share(share(acc.value));
      if (i < dim.class_notes.size()) q->set_strategy(dim.class_notes[i]);
    }
  }

  // Per-tier rows over the standard's tiers (d.tiers: its order, then older tiers).
  auto fill_tiers = [&](v1::BreakdownRow* row, const std::function<Acc(size_t)>& per_tier) {
    for (const auto& tc : d.tiers()) {
      auto it = std::find(tier_names_.begin(), tier_names_.end(), tc.tier());
      const Acc acc = it == tier_names_.end() ? Acc{} : per_tier(static_cast<size_t>(it - tier_names_.begin()));
      auto* t = row->add_tiers();
      t->set_tier(tc.tier());
      t->set_customers(acc.customers);
      t->set_value_minor(acc.value);
      t->set_value_share(share(acc.value));
    }
  };
  for (std::string_view name : kBreakdowns) {
    const int di = s.dimension_index(name);
    if (di < 0) continue;
    const Dimension& dim = s.dimensions()[static_cast<size_t>(di)];
    auto* b = out.add_breakdowns();
    b->set_dimension(dim.name);
    Acc rest{static_cast<int64_t>(counted_), total};
    std::vector<Acc> rest_tiers = tier_acc_;
    for (const auto& cls : dim.classes) {
      const auto [acc, c] = class_acc(dim.name, cls);
      auto* row = b->add_rows();
      row->set_key(cls);
      row->set_customers(acc.customers);
      row->set_value_minor(acc.value);
      row->set_value_share(share(acc.value));
      rest.customers -= acc.customers;
      rest.value -= acc.value;
      fill_tiers(row, [&](size_t t) {
        if (c == class_names_.size() || t >= class_tier_acc_[c].size()) return Acc{};
        rest_tiers[t].customers -= class_tier_acc_[c][t].customers;
        rest_tiers[t].value -= class_tier_acc_[c][t].value;
        return class_tier_acc_[c][t];
      });
    }
    if (rest.customers > 0) {  // customers with no class in this dimension
      auto* row = b->add_rows();
      row->set_customers(rest.customers);
      row->set_value_minor(rest.value);
      row->set_value_share(share(rest.value));
      fill_tiers(row, [&](size_t t) { return rest_tiers[t]; });
    }
  }

  if (const int vi = s.dimension_index(kValueDimension); vi >= 0) {
    out.set_value_dimension(std::string(kValueDimension));
    Acc cum;
    const auto n = static_cast<double>(counted_);
    for (const auto& cls : s.dimensions()[static_cast<size_t>(vi)].classes) {
      const Acc acc = class_acc(kValueDimension, cls).first;
      cum.customers += acc.customers;
      cum.value += acc.value;
      auto* v = out.add_value_cuts();
      v->set_class_name(cls);
      v->set_customers(cum.customers);
      v->set_customer_share(n > 0 ? static_cast<double>(cum.customers) / n : 0.0);
      v->set_value_share(share(cum.value));
    }
  }
  out.set_pending_downgrades(pending_downgrades_);
  out.set_credit_holds(credit_holds_);
  if (const int li = s.dimension_index("lifecycle"); li >= 0) {
    out.set_at_risk(class_acc("lifecycle", "at-risk").first.customers +
                    class_acc("lifecycle", "at_risk").first.customers);
  }
  return out;
}

}  // namespace tierflow::classification
