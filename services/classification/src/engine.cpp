#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "tierflow/classification/compact.h"
#include "tierflow/classification/engine.h"
#include "common/money/money.h"

namespace tierflow::classification {

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

bool eval_node(const Standard& s, uint32_t idx, const Features& f, const Classification& c) {
  const CondNode& n = s.nodes()[idx];
  const uint32_t* kids = s.children().data() + n.first_child;
  switch (n.kind) {
    case CondNode::Kind::always:
      return true;
    case CondNode::Kind::all:
      for (uint32_t i = 0; i < n.child_count; ++i)
        if (!eval_node(s, kids[i], f, c)) return false;
      return true;
    case CondNode::Kind::any:
      for (uint32_t i = 0; i < n.child_count; ++i)
        if (eval_node(s, kids[i], f, c)) return true;
      return false;
    case CondNode::Kind::negate:
      return !eval_node(s, kids[0], f, c);
    case CondNode::Kind::dimension_in: {
      const int cls = c.classes[n.index];
      return cls >= 0 && ((n.classes >> cls) & 1U);
    }
    case CondNode::Kind::feature_cmp: {
      const auto feat = static_cast<Feature>(n.index);
      if (!f.has(feat)) return n.op == Op::missing;
      const int64_t x = f.get(feat);
      switch (n.op) {
        case Op::ge:
          return x >= n.value;
        case Op::gt:
          return x > n.value;
        case Op::le:
          return x <= n.value;
        case Op::lt:
          return x < n.value;
        case Op::eq:
          return x == n.value;
        case Op::ne:
          return x != n.value;
        case Op::present:
          return true;
        case Op::missing:
          return false;
      }
    }
  }
  return false;
}

// Threshold a customer must reach on dim.features[0] to be in band `cls` (kMax: unknown).
int64_t band_threshold(const Dimension& dim, const Population& pop, size_t d, int cls) {
  if (cls < 0 || static_cast<size_t>(cls) + 1 >= dim.classes.size()) return kMax;
  if (dim.percentile) {
    const auto& thr = pop.thresholds(d);
    if (static_cast<size_t>(cls) >= thr.size()) return kMax;
    return std::max<int64_t>(thr[cls], 1);
  }
  return dim.mins[cls][0];
}

// `mapping(d)`: the class of mapping dimension d for this customer (-1: none).
template <class Mapping>
int classify_dimension(const Standard& s, const Population& pop, size_t d, const Features& f, const Mapping& mapping,
                       Classification& c) {
  const Dimension& dim = s.dimensions()[d];
  const int last = static_cast<int>(dim.classes.size()) - 1;
  switch (dim.kind) {
    case DimensionKind::bands: {
      if (dim.percentile) {
        const Feature feat = dim.features[0];
        if (!f.has(feat)) return -1;
        const int64_t x = f.get(feat);
        const auto& thr = pop.thresholds(d);
        if (thr.size() != dim.top_bp.size()) return last;  // population of another standard
        for (int i = 0; i < last; ++i)
          if (x > 0 && x >= thr[i]) return i;
        return last;
      }
      bool any_present = false;
      for (Feature feat : dim.features) any_present = any_present || f.has(feat);
      if (!any_present) return -1;
      for (int i = 0; i < last; ++i) {
        bool all_ok = true, any_ok = false;
        for (size_t k = 0; k < dim.features.size(); ++k) {
          const bool ok = f.has(dim.features[k]) && f.get(dim.features[k]) >= dim.mins[i][k];
          all_ok = all_ok && ok;
          any_ok = any_ok || ok;
        }
        if (dim.match_all ? all_ok : any_ok) return i;
      }
      return last;
    }
    case DimensionKind::matrix: {
      const int a = c.classes[dim.of[0]], b = c.classes[dim.of[1]];
      if (a < 0 || b < 0) return -1;
      for (size_t i = 0; i < dim.cells.size(); ++i)
        if (dim.cells[i].first == a && dim.cells[i].second == b) return static_cast<int>(i);
      return -1;
    }
    case DimensionKind::mapping:
      return mapping(d);
    case DimensionKind::rules: {
      for (size_t i = 0; i < dim.conditions.size(); ++i)
        if (eval_node(s, dim.conditions[i], f, c)) return static_cast<int>(i);
      return -1;
    }
    case DimensionKind::rfm: {
      if (!f.has(dim.monetary)) return -1;
      const auto& thr = pop.thresholds(d);
      const Feature fs[3] = {dim.recency, dim.frequency, dim.monetary};
      for (int k = 0; k < 3; ++k) {
        uint8_t score = 1;
        if (f.has(fs[k]) && thr.size() == 12) {
          const int64_t x = k == 0 ? -f.get(fs[k]) : f.get(fs[k]);
          for (int q = 0; q < 4; ++q)
            if (x > thr[k * 4 + q]) ++score;
        }
        c.rfm[k] = score;
      }
      for (size_t i = 0; i < dim.segments.size(); ++i) {
        const auto& r = dim.segments[i];
        bool ok = true;
        for (int k = 0; k < 3; ++k) ok = ok && c.rfm[k] >= r.lo[k] && c.rfm[k] <= r.hi[k];
        if (ok) return static_cast<int>(i);
      }
      return -1;
    }
  }
  return -1;
}

std::string feature_label(const Standard& s, Feature f) {
  if (f != Feature::value) return std::string(feature_info(f).label);
  const char* basis = s.value_basis() == ValueBasis::gross_profit ? "gross profit"
                      : s.value_basis() == ValueBasis::net_sales  ? "net sales"
                                                                   : "gross sales";
  if (s.value_months() == 0) return fmt::format("value ({}, lifetime)", basis);
  return fmt::format("value ({} in {} months)", basis, s.value_months());
}

std::string fmt_feature(const Standard& s, Feature f, int64_t v) { return format_feature(f, v, s.currency()); }

const char* op_text(Op op) {
  switch (op) {
    case Op::ge:
      return ">=";
    case Op::gt:
      return ">";
    case Op::le:
      return "<=";
    case Op::lt:
      return "<";
    case Op::eq:
      return "=";
    case Op::ne:
      return "!=";
    case Op::present:
      return "is known";
    case Op::missing:
      return "is unknown";
  }
  return "?";
}

// One unmet requirement of a rule, for distances.
struct Gap {
  uint32_t node = 0;
  bool numeric = false;
  bool increase = true;
  Feature feature = Feature::value;
  int64_t missing = 0;
};

void unmet(const Standard& s, const Population& pop, uint32_t idx, const Features& f, const Classification& c,
           std::vector<Gap>& out) {
  if (eval_node(s, idx, f, c)) return;
  const CondNode& n = s.nodes()[idx];
  const uint32_t* kids = s.children().data() + n.first_child;
  switch (n.kind) {
    case CondNode::Kind::all:
      for (uint32_t i = 0; i < n.child_count; ++i) unmet(s, pop, kids[i], f, c, out);
      return;
    case CondNode::Kind::any: {
      std::vector<Gap> best;
      bool have = false;
      for (uint32_t i = 0; i < n.child_count; ++i) {
        std::vector<Gap> g;
        unmet(s, pop, kids[i], f, c, g);
        if (!have || g.size() < best.size()) best = std::move(g), have = true;
      }
      out.insert(out.end(), best.begin(), best.end());
      return;
    }
    case CondNode::Kind::feature_cmp: {
      Gap g{idx};
      g.feature = static_cast<Feature>(n.index);
      const int64_t x = f.has(g.feature) ? f.get(g.feature) : 0;
      g.numeric = true;
      switch (n.op) {
        case Op::ge:
          g.missing = n.value - x;
          break;
        case Op::gt:
          g.missing = n.value + 1 - x;
          break;
        case Op::le:
          g.missing = x - n.value, g.increase = false;
          break;
        case Op::lt:
          g.missing = x - n.value + 1, g.increase = false;
          break;
        default:
          g.numeric = false;
      }
      out.push_back(g);
      return;
    }
    case CondNode::Kind::dimension_in: {
      Gap g{idx};
      const Dimension& dim = s.dimensions()[n.index];
      if (dim.kind == DimensionKind::bands) {
        const int cur = c.classes[n.index] < 0 ? static_cast<int>(dim.classes.size()) : c.classes[n.index];
        // The easiest accepted class better than the current one.
        for (int j = cur - 1; j >= 0; --j) {
          if (!((n.classes >> j) & 1U)) continue;
          const int64_t thr = band_threshold(dim, pop, n.index, j);
          if (thr == kMax) break;
          g.numeric = true;
          g.feature = dim.features[0];
          g.missing = thr - (f.has(g.feature) ? f.get(g.feature) : 0);
          break;
        }
      }
      out.push_back(g);
      return;
    }
    default:
      out.push_back(Gap{idx});
  }
}

std::string gap_text(const Standard& s, const Gap& g) {
  if (!g.numeric) return "needs " + describe_condition(s, g.node);
  const std::string label = feature_label(s, g.feature);
  const Unit unit = feature_info(g.feature).unit;
  if (!g.increase) return fmt::format("{} {} lower", label, fmt_feature(s, g.feature, g.missing));
  if (unit == Unit::months || unit == Unit::days) {
    const char* what = unit == Unit::months ? "month" : "day";
    return fmt::format("{} more {}{} of {}", money::format_grouped(g.missing), what, g.missing == 1 ? "" : "s", label);
  }
  return fmt::format("{} more {}", fmt_feature(s, g.feature, g.missing), label);
}

v1::Distance distance_to(const Standard& s, const Population& pop, const Features& f, const Classification& c,
                         int tier) {
  v1::Distance out;
  out.set_target_tier(s.tiers()[tier].name);
  std::vector<Gap> best;
  bool have = false;
  for (const Rule& r : s.rules()) {
    if (r.tier != tier) continue;
    std::vector<Gap> g;
    unmet(s, pop, r.condition, f, c, g);
    if (g.empty()) continue;  // met but shadowed by an earlier rule
    if (!have || g.size() < best.size()) best = std::move(g), have = true;
  }
  if (!have) {
    out.set_text(fmt::format("meets the rules of {} but an earlier rule decides", s.tiers()[tier].name));
    return out;
  }
  std::vector<std::string> parts;
  bool feature_set = false;
  for (const Gap& g : best) {
    parts.push_back(gap_text(s, g));
    if (g.numeric && !feature_set) {
      out.set_feature(std::string(feature_info(g.feature).name));
      out.set_missing(static_cast<double>(g.missing));
      feature_set = true;
    }
  }
  if (parts.size() == 1)
    out.set_text(fmt::format("{} to reach {}", parts[0], s.tiers()[tier].name));
  else
    out.set_text(fmt::format("to reach {}: {}", s.tiers()[tier].name, absl::StrJoin(parts, "; ")));
  return out;
}

struct Margin {
  bool numeric = false;  // false: nothing measurable guards this condition
  int64_t amount = 0;
  Feature feature = Feature::value;
};

// How far a satisfied condition is from failing: the smallest margin over an `all`, the
// largest over the satisfied branches of an `any` (one branch is enough to keep it).
Margin margin_of(const Standard& s, const Population& pop, uint32_t idx, const Features& f, const Classification& c) {
  const CondNode& n = s.nodes()[idx];
  const uint32_t* kids = s.children().data() + n.first_child;
  Margin m;
  switch (n.kind) {
    case CondNode::Kind::feature_cmp: {
      const auto feat = static_cast<Feature>(n.index);
      if ((n.op == Op::ge || n.op == Op::gt) && f.has(feat)) {
        m = {true, f.get(feat) - n.value - (n.op == Op::gt ? 1 : 0), feat};
      }
      return m;
    }
    case CondNode::Kind::dimension_in: {
      const Dimension& dim = s.dimensions()[n.index];
      if (dim.kind != DimensionKind::bands || c.classes[n.index] < 0) return m;
      // The worst accepted class at or below the current one is what must be kept.
      int keep = -1;
      for (int j = static_cast<int>(dim.classes.size()) - 1; j >= c.classes[n.index]; --j)
        if ((n.classes >> j) & 1U) {
          keep = j;
          break;
        }
      const int64_t thr = band_threshold(dim, pop, n.index, keep);
      const Feature feat = dim.features[0];
      if (thr != kMax && f.has(feat)) m = {true, f.get(feat) - thr, feat};
      return m;
    }
    case CondNode::Kind::all:
      for (uint32_t i = 0; i < n.child_count; ++i) {
        const Margin k = margin_of(s, pop, kids[i], f, c);
        if (k.numeric && (!m.numeric || k.amount < m.amount)) m = k;
      }
      return m;
    case CondNode::Kind::any:
      for (uint32_t i = 0; i < n.child_count; ++i) {
        if (!eval_node(s, kids[i], f, c)) continue;
        const Margin k = margin_of(s, pop, kids[i], f, c);
        if (!k.numeric) return Margin{};  // held by something that no amount changes
        if (!m.numeric || k.amount > m.amount) m = k;
      }
      return m;
    default:
      return m;
  }
}

v1::Distance keep_margin(const Standard& s, const Population& pop, const Features& f, const Classification& c) {
  v1::Distance out;
  const Rule& rule = s.rules()[c.rule];
  const std::string& tier = s.tiers()[c.tier].name;
  out.set_target_tier(tier);
  const Margin m = margin_of(s, pop, rule.condition, f, c);
  if (!m.numeric) {
    out.set_text(fmt::format("keeps {}: rule '{}' has no amount to watch", tier, rule.id));
    return out;
  }
  out.set_feature(std::string(feature_info(m.feature).name));
  out.set_missing(0);
  out.set_text(fmt::format("keeps {} with {} to spare on {}", tier, fmt_feature(s, m.feature, m.amount),
                           feature_label(s, m.feature)));
  return out;
}

std::string class_name(const Standard& s, size_t d, const Classification& c) {
  const int cls = c.classes[d];
  return cls < 0 ? std::string() : s.dimensions()[d].classes[cls];
}

std::string dimension_detail(const Standard& s, const Population& pop, size_t d, const Features& f,
                             const CustomerInputs& in, const Classification& c) {
  const Dimension& dim = s.dimensions()[d];
  // "label value, label value" without intermediate vectors: this runs for every
  // dimension of every changed customer.
  auto feats = [&](const std::vector<Feature>& list) {
    std::string out;
    for (Feature x : list) {
      if (!f.has(x)) continue;
      if (!out.empty()) out += ", ";
      if (x == Feature::value)
        out += feature_label(s, x);
      else
        out += feature_info(x).label;
      out += ' ';
      out += fmt_feature(s, x, f.get(x));
    }
    return out;
  };
  switch (dim.kind) {
    case DimensionKind::bands: {
      std::string out = feats(dim.features);
      const int cls = c.classes[d];
      if (dim.percentile && cls >= 0) {
        const int64_t thr = band_threshold(dim, pop, d, cls);
        if (thr != kMax)
          out +=
              fmt::format("; top {}% from {}", money::format(dim.top_bp[cls], ""), fmt_feature(s, dim.features[0], thr));
      }
      return out;
    }
    case DimensionKind::matrix:
      return fmt::format("{} {}, {} {}", s.dimensions()[dim.of[0]].name, class_name(s, dim.of[0], c),
                         s.dimensions()[dim.of[1]].name, class_name(s, dim.of[1], c));
    case DimensionKind::mapping:
      return dim.input + " " + (dim.input == "industry" ? in.profile->industry() : in.profile->region());
    case DimensionKind::rules:
      return feats(dim.detail_features);
    case DimensionKind::rfm:
      return fmt::format("R{} F{} M{}", c.rfm[0], c.rfm[1], c.rfm[2]);
  }
  return {};
}

double feature_double(Feature f, int64_t v) {
  switch (feature_info(f).unit) {
    case Unit::ratio:
      return static_cast<double>(v) / 1e6;
    case Unit::decimal:
      return static_cast<double>(v) / 1e3;
    default:
      return static_cast<double>(v);
  }
}

}  // namespace

std::string describe_condition(const Standard& s, uint32_t idx) {
  const CondNode& n = s.nodes()[idx];
  const uint32_t* kids = s.children().data() + n.first_child;
  switch (n.kind) {
    case CondNode::Kind::always:
      return "always";
    case CondNode::Kind::all:
    case CondNode::Kind::any: {
      std::vector<std::string> parts;
      for (uint32_t i = 0; i < n.child_count; ++i) {
        const auto k = s.nodes()[kids[i]].kind;
        std::string t = describe_condition(s, kids[i]);
        if (k == CondNode::Kind::all || k == CondNode::Kind::any) t = "(" + t + ")";
        parts.push_back(std::move(t));
      }
      if (parts.empty()) return n.kind == CondNode::Kind::all ? "always" : "never";
      return absl::StrJoin(parts, n.kind == CondNode::Kind::all ? " and " : " or ");
    }
    case CondNode::Kind::negate:
      return "not (" + describe_condition(s, kids[0]) + ")";
    case CondNode::Kind::dimension_in: {
      const Dimension& dim = s.dimensions()[n.index];
      std::vector<std::string> names;
      for (size_t i = 0; i < dim.classes.size(); ++i)
        if ((n.classes >> i) & 1U) names.push_back(dim.classes[i]);
      return fmt::format("{} is {}", dim.name, absl::StrJoin(names, " or "));
    }
    case CondNode::Kind::feature_cmp: {
      const auto f = static_cast<Feature>(n.index);
      if (n.op == Op::present || n.op == Op::missing) return fmt::format("{} {}", feature_label(s, f), op_text(n.op));
      return fmt::format("{} {} {}", feature_label(s, f), op_text(n.op), fmt_feature(s, f, n.value));
    }
  }
  return {};
}

int mapping_class(const Dimension& dim, std::string_view raw) {
  if (raw.empty()) return -1;
  const std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(absl::string_view(raw.data(), raw.size())));
  const auto it = dim.map.find(key);
  return it != dim.map.end() ? it->second : dim.default_class;
}

namespace {
template <class Mapping>
Classification classify_with(const Standard& s, const Population& pop, const Features& f, const Mapping& mapping) {
  Classification c;
  c.classes.fill(-1);
  for (size_t d = 0; d < s.dimensions().size(); ++d)
    c.classes[d] = static_cast<int8_t>(classify_dimension(s, pop, d, f, mapping, c));
  for (size_t r = 0; r < s.rules().size(); ++r) {
    if (eval_node(s, s.rules()[r].condition, f, c)) {
      c.rule = static_cast<uint16_t>(r);
      c.tier = s.rules()[r].tier;
      break;
    }
  }
  c.credit_hold =
      s.credit_hold_condition() >= 0 && eval_node(s, static_cast<uint32_t>(s.credit_hold_condition()), f, c);
  return c;
}
}  // namespace

Classification classify(const Standard& s, const Population& pop, const Features& f, const CustomerInputs& in) {
  return classify_with(s, pop, f, [&](size_t d) {
    if (in.profile == nullptr) return -1;
    const Dimension& dim = s.dimensions()[d];
    return mapping_class(dim, dim.input == "industry" ? in.profile->industry() : in.profile->region());
  });
}

Classification classify(const Standard& s, const Population& pop, const Features& f, const CompactProfile* profile,
                        const MappingTable& mappings) {
  return classify_with(s, pop, f, [&](size_t d) -> int {
    if (profile == nullptr) return -1;
    const Dimension& dim = s.dimensions()[d];
    return mappings.lookup(d, dim.input == "industry" ? profile->industry : profile->region);
  });
}

namespace {
Evaluation evaluate_impl(const Standard& s, const Population& pop, const Features& f, const CustomerInputs& in,
                         bool explain) {
  Evaluation ev;
  const Classification c = classify(s, pop, f, in);
  ev.classification = c;
  const Tier& tier = s.tiers()[c.tier];
  const Rule& rule = s.rules()[c.rule];
  v1::TierAssignment& a = ev.assignment;
  a.set_customer_id(in.customer_id);
  a.set_tier(tier.name);
  a.set_standard_version(s.version());
  a.set_credit_hold(c.credit_hold);
  a.set_price_level(tier.price_level);
  a.set_service_level(tier.service_level);
  a.set_account_manager(tier.account_manager);
  a.set_matched_rule(rule.id);

  for (size_t d = 0; d < s.dimensions().size(); ++d) {
    if (c.classes[d] < 0) continue;
    auto* dc = a.add_dimensions();
    dc->set_dimension(s.dimensions()[d].name);
    dc->set_class_name(class_name(s, d, c));
    dc->set_detail(dimension_detail(s, pop, d, f, in, c));
  }

  const std::string cond = describe_condition(s, rule.condition);
  a.add_reasons(rule.description.empty() ? fmt::format("rule '{}': {}", rule.id, cond)
                                         : fmt::format("rule '{}' ({}): {}", rule.id, rule.description, cond));
  if (c.credit_hold) a.add_reasons("credit hold: " + describe_condition(s, s.credit_hold_condition()));

  ev.distance_to_tier.resize(s.tiers().size());
  for (int t = 0; t < c.tier; ++t) ev.distance_to_tier[t] = distance_to(s, pop, f, c, t);
  if (c.tier > 0) *a.mutable_to_next() = ev.distance_to_tier[c.tier - 1];
  *a.mutable_to_keep() = keep_margin(s, pop, f, c);

  if (!explain) return ev;

  for (Feature x : s.used_features()) {
    if (!f.has(x)) continue;
    auto& fv = ev.features.emplace_back();
    fv.set_name(std::string(feature_info(x).name));
    fv.set_value(feature_double(x, f.get(x)));
    fv.set_text(fmt_feature(s, x, f.get(x)));
  }

  // Sentences for a call-center agent.
  auto& ex = ev.explanation;
  ex.push_back(
      fmt::format("Customer {} is {} under standard {}: {}.", in.customer_id, tier.name, s.version(), a.reasons(0)));
  ex.push_back(fmt::format("Price level {}, service level {}, {}.", tier.price_level, tier.service_level,
                           tier.account_manager ? "with an account manager" : "no account manager"));
  if (c.credit_hold)
    ex.push_back("On credit hold (stricter payment terms): " + describe_condition(s, s.credit_hold_condition()) + ".");
  for (size_t d = 0, k = 0; d < s.dimensions().size(); ++d) {
    if (c.classes[d] < 0) continue;
    const auto& dc = a.dimensions(static_cast<int>(k++));
    const std::string& note = s.dimensions()[d].class_notes[c.classes[d]];
    ex.push_back(fmt::format("{}: {}{}{}{}.", dc.dimension(), dc.class_name(),
                             dc.detail().empty() ? "" : " (" + dc.detail() + ")", note.empty() ? "" : " - ", note));
  }
  if (a.has_to_next()) ex.push_back(a.to_next().text() + ".");
  ex.push_back(a.to_keep().text() + ".");
  // The standard's options behind the numbers above, so an audit can redo them.
  bool percentile = false;
  for (const auto& d : s.dimensions()) percentile = percentile || (d.kind == DimensionKind::bands && d.percentile);
  ex.push_back(fmt::format(
      "Standard options: value_basis {}{}.", name(s.value_basis()),
      percentile ? fmt::format(", percentile population {} ({}), rounding {} (top p% of n customers is {} of p x n)",
                               name(s.percentile_population()),
                               s.percentile_population() == PercentilePopulation::all
                                   ? "every customer with the feature"
                                   : "only customers whose value is above 0",
                               name(s.percentile_rounding()),
                               s.percentile_rounding() == PercentileRounding::up        ? "the ceiling"
                               : s.percentile_rounding() == PercentileRounding::nearest ? "the nearest whole number"
                                                                                        : "the floor")
                 : std::string()));
  return ev;
}
}  // namespace

Evaluation evaluate(const Standard& s, const Population& pop, const Features& f, const CustomerInputs& in) {
  return evaluate_impl(s, pop, f, in, true);
}

Evaluation evaluate_assignment(const Standard& s, const Population& pop, const Features& f, const CustomerInputs& in) {
  return evaluate_impl(s, pop, f, in, false);
}

}  // namespace tierflow::classification
