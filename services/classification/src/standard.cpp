#include "tierflow/classification/standard.h"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "common/money/money.h"
#include "standard_loader.h"
#include "yaml-cpp/yaml.h"

namespace tierflow::classification {

StandardError::StandardError(std::string file, int line, std::string field,
                             const std::string& message)
    : std::runtime_error(fmt::format("{}:{}: {}{}{}", file, line, field, field.empty() ? "" : ": ",
                                     message)),
      file_(std::move(file)),
      line_(line),
      field_(std::move(field)) {}

std::vector<std::string> Standard::tier_names() const {
  std::vector<std::string> out;
  out.reserve(tiers_.size());
  for (const auto& t : tiers_) out.push_back(t.name);
  return out;
}

int Standard::tier_index(std::string_view name) const {
  for (size_t i = 0; i < tiers_.size(); ++i)
    if (tiers_[i].name == name) return static_cast<int>(i);
  return -1;
}

int Standard::dimension_index(std::string_view name) const {
  for (size_t i = 0; i < dimensions_.size(); ++i)
    if (dimensions_[i].name == name) return static_cast<int>(i);
  return -1;
}

std::shared_ptr<const Standard> StandardLoader::load(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw StandardError(name_, e.mark.line + 1, "", "not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) fail(root, "", "the standard must be a YAML mapping");
  s_.reset(new Standard());
  s_->name_ = name_;
  check_keys(root, "", {"version", "currency", "currencies", "windows", "percentile", "evaluation", "features", "dimensions", "tiers",
                        "rules", "credit_hold", "description"});
  s_->version_ = get_string(require(root, "version", ""), "version");
  if (s_->version_.empty()) fail(root["version"], "version", "must not be empty");
  s_->currency_ = get_string(require(root, "currency", ""), "currency");
  if (s_->currency_.size() != 3 ||
      !std::all_of(s_->currency_.begin(), s_->currency_.end(), absl::ascii_isupper))
    fail(root["currency"], "currency", "must be an ISO 4217 code such as CNY");
  if (root["currencies"]) parse_currencies(root["currencies"]);
  parse_windows(require(root, "windows", ""));
  if (root["percentile"]) parse_percentile(root["percentile"]);
  if (root["evaluation"]) {
    const YAML::Node e = root["evaluation"];
    expect_map(e, "evaluation");
    check_keys(e, "evaluation", {"time_zone"});
    if (e["time_zone"]) {
      const std::string z = get_string(e["time_zone"], "evaluation.time_zone");
      if (!absl::LoadTimeZone(z, &s_->evaluation_zone_)) {
        fail(e["time_zone"], "evaluation.time_zone", "must be an IANA time zone such as Asia/Shanghai or UTC");
      }
      s_->evaluation_zone_name_ = z;
    }
  }
  parse_features(require(root, "features", ""));
  parse_dimensions(require(root, "dimensions", ""));
  parse_tiers(require(root, "tiers", ""));
  parse_rules(require(root, "rules", ""));
  if (root["credit_hold"]) {
    const YAML::Node ch = root["credit_hold"];
    expect_map(ch, "credit_hold");
    check_keys(ch, "credit_hold", {"when", "description"});
    s_->credit_hold_ = static_cast<int>(
        parse_condition(require(ch, "when", "credit_hold"), "credit_hold.when", -1));
  } else {
    CondNode never;
    never.kind = CondNode::Kind::any;  // any of nothing: false
    s_->credit_hold_ = push_node(never, {});
  }
  return std::shared_ptr<const Standard>(s_.release());
}

void StandardLoader::fail(const YAML::Node& n, const std::string& field, const std::string& msg) {
  int line = 0;
  if (n.IsDefined()) line = n.Mark().line + 1;
  throw StandardError(name_, line, field, msg);
}

std::string StandardLoader::join(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "." + b;
}

const YAML::Node StandardLoader::require(const YAML::Node& n, const char* key, const std::string& field) {
  const YAML::Node c = n[key];
  if (!c) fail(n, join(field, key), "missing");
  return c;
}

void StandardLoader::expect_map(const YAML::Node& n, const std::string& field) {
  if (!n.IsMap()) fail(n, field, "wrong type: expected a mapping");
}

void StandardLoader::expect_seq(const YAML::Node& n, const std::string& field) {
  if (!n.IsSequence() || n.size() == 0) fail(n, field, "wrong type: expected a non-empty list");
}

std::string StandardLoader::get_string(const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) fail(n, field, "wrong type: expected a string");
  return n.Scalar();
}

bool StandardLoader::get_bool(const YAML::Node& n, const std::string& field) {
  if (n.IsScalar()) {
    const std::string v = absl::AsciiStrToLower(n.Scalar());
    if (v == "true" || v == "yes") return true;
    if (v == "false" || v == "no") return false;
  }
  fail(n, field, "wrong type: expected true or false");
}

int64_t StandardLoader::get_scaled(const YAML::Node& n, const std::string& field, int scale) {
  if (n.IsScalar()) {
    if (auto v = money::parse_scaled_decimal(n.Scalar(), scale)) return *v;
  }
  fail(n, field,
       scale == 0 ? "wrong type: expected an integer"
                  : fmt::format("wrong type: expected a number with at most {} decimals", scale));
}

int StandardLoader::scale_of(Feature f) const {
  switch (feature_info(f).unit) {
    case Unit::money: return money::minor_digits(s_->currency_);
    case Unit::ratio: return 6;
    case Unit::decimal: return 3;
    default: return 0;
  }
}

int64_t StandardLoader::get_feature_value(const YAML::Node& n, const std::string& field, Feature f) {
  return get_scaled(n, field, scale_of(f));
}

Feature StandardLoader::get_feature(const YAML::Node& n, const std::string& field) {
  const std::string name = get_string(n, field);
  const auto f = feature_by_name(name);
  if (!f) fail(n, field, "unknown feature '" + name + "'");
  if (std::find(s_->used_features_.begin(), s_->used_features_.end(), *f) ==
      s_->used_features_.end())
    fail(n, field, "feature '" + name + "' is not declared in features:");
  return *f;
}

void StandardLoader::parse_windows(const YAML::Node& w) {
  expect_map(w, "windows");
  check_keys(w, "windows", {"value_months", "value_basis"});
  if (w["value_months"]) {
    const YAML::Node m = w["value_months"];
    if (m.IsScalar() && m.Scalar() == "lifetime") {
      s_->value_months_ = 0;
    } else {
      const int64_t v = get_int(m, "windows.value_months");
      if (v < 1 || v > 24) fail(m, "windows.value_months", "must be 1..24 or lifetime");
      s_->value_months_ = static_cast<int>(v);
    }
  }
  if (w["value_basis"]) {
    const std::string b = get_string(w["value_basis"], "windows.value_basis");
    if (b == "gross_profit") s_->value_basis_ = ValueBasis::gross_profit;
    else if (b == "net_sales" || b == "sales") s_->value_basis_ = ValueBasis::net_sales;  // sales: older name
    else if (b == "gross_sales") s_->value_basis_ = ValueBasis::gross_sales;
    else fail(w["value_basis"], "windows.value_basis", "must be gross_sales, net_sales or gross_profit");
  }
}

void StandardLoader::parse_currencies(const YAML::Node& cs) {
  expect_map(cs, "currencies");
  const int to_digits = money::minor_digits(s_->currency_);
  for (const auto& kv : cs) {
    const std::string code = kv.first.as<std::string>();
    const std::string field = "currencies." + code;
    const auto digits = money::currency_exponent(code);
    if (!digits || code == s_->currency_) {
      fail(kv.first, field, "must be an ISO 4217 code the suite knows, other than the standard's currency");
    }
    // Units of the standard's currency per unit of `code`, to 6 decimals.
    const int64_t micro = get_scaled(kv.second, field, 6);
    if (micro <= 0 || micro > int64_t{1'000'000'000'000}) fail(kv.second, field, "must be a rate above 0");
    MoneyConversion c;
    c.num = micro;
    c.den = 1'000'000;
    for (int i = 0; i < to_digits; ++i) c.num *= 10;
    for (int i = 0; i < *digits; ++i) c.den *= 10;
    s_->currencies_.emplace_back(code, c);
  }
}

int64_t MoneyConversion::operator()(int64_t minor) const {
  if (num == den) return minor;
  const __int128 x = static_cast<__int128>(minor) * num;
  const __int128 q = (x >= 0 ? x + den / 2 : x - den / 2) / den;
  return static_cast<int64_t>(q);
}

std::optional<MoneyConversion> Standard::conversion(std::string_view code) const {
  if (code.empty() || code == currency_) return MoneyConversion{};
  for (const auto& [c, conv] : currencies_)
    if (c == code) return conv;
  return std::nullopt;
}

void StandardLoader::parse_percentile(const YAML::Node& p) {
  expect_map(p, "percentile");
  check_keys(p, "percentile", {"population", "rounding"});
  if (p["population"]) {
    const std::string v = get_string(p["population"], "percentile.population");
    if (v == "all") s_->percentile_population_ = PercentilePopulation::all;
    else if (v == "positive") s_->percentile_population_ = PercentilePopulation::positive;
    else fail(p["population"], "percentile.population", "must be all or positive");
  }
  if (p["rounding"]) {
    const std::string v = get_string(p["rounding"], "percentile.rounding");
    if (v == "up") s_->percentile_rounding_ = PercentileRounding::up;
    else if (v == "nearest") s_->percentile_rounding_ = PercentileRounding::nearest;
    else if (v == "down") s_->percentile_rounding_ = PercentileRounding::down;
    else fail(p["rounding"], "percentile.rounding", "must be up, nearest or down");
  }
}

std::string_view name(ValueBasis b) {
  switch (b) {
    case ValueBasis::gross_sales: return "gross_sales";
    case ValueBasis::net_sales: return "net_sales";
    case ValueBasis::gross_profit: return "gross_profit";
  }
  return "";
}
std::string_view name(PercentilePopulation p) { return p == PercentilePopulation::all ? "all" : "positive"; }
std::string_view name(PercentileRounding r) {
  return r == PercentileRounding::up ? "up" : r == PercentileRounding::nearest ? "nearest" : "down";
}

void StandardLoader::parse_features(const YAML::Node& fs) {
  expect_seq(fs, "features");
  for (size_t i = 0; i < fs.size(); ++i) {
    const std::string field = at("features", i);
    const std::string name = get_string(fs[i], field);
    const auto f = feature_by_name(name);
    if (!f) fail(fs[i], field, "unknown feature '" + name + "'");
    if (std::find(s_->used_features_.begin(), s_->used_features_.end(), *f) !=
        s_->used_features_.end())
      fail(fs[i], field, "feature '" + name + "' listed twice");
    s_->used_features_.push_back(*f);
  }
}

uint32_t StandardLoader::push_node(const CondNode& n, const std::vector<uint32_t>& kids) {
  CondNode c = n;
  c.first_child = static_cast<uint32_t>(s_->children_.size());
  c.child_count = static_cast<uint32_t>(kids.size());
  s_->children_.insert(s_->children_.end(), kids.begin(), kids.end());
  s_->nodes_.push_back(c);
  return static_cast<uint32_t>(s_->nodes_.size() - 1);
}

uint32_t StandardLoader::parse_condition(const YAML::Node& n, const std::string& field, int dims_visible) {
  expect_map(n, field);
  CondNode c;
  c.line = n.Mark().line + 1;
  for (const char* k : {"all", "any"}) {
    if (!n[k]) continue;
    check_keys(n, field, {k});
    const std::string f = join(field, k);
    expect_seq(n[k], f);
    std::vector<uint32_t> kids;
    for (size_t i = 0; i < n[k].size(); ++i)
      kids.push_back(parse_condition(n[k][i], at(f, i), dims_visible));
    c.kind = std::string_view(k) == "all" ? CondNode::Kind::all : CondNode::Kind::any;
    return push_node(c, kids);
  }
  if (n["not"]) {
    check_keys(n, field, {"not"});
    const uint32_t kid = parse_condition(n["not"], join(field, "not"), dims_visible);
    c.kind = CondNode::Kind::negate;
    return push_node(c, {kid});
  }
  if (n["dimension"]) {
    check_keys(n, field, {"dimension", "class"});
    const std::string dname = get_string(n["dimension"], join(field, "dimension"));
    const int d = s_->dimension_index(dname);
    if (d < 0) fail(n["dimension"], join(field, "dimension"), "unknown dimension '" + dname + "'");
    if (dims_visible >= 0 && d >= dims_visible)
      fail(n["dimension"], join(field, "dimension"),
           "dimension '" + dname + "' is not defined before this one");
    const YAML::Node cls = require(n, "class", field);
    const std::string cf = join(field, "class");
    std::vector<YAML::Node> names;
    if (cls.IsSequence()) {
      expect_seq(cls, cf);
      for (size_t i = 0; i < cls.size(); ++i) names.push_back(cls[i]);
    } else {
      names.push_back(cls);
    }
    c.kind = CondNode::Kind::dimension_in;
    c.index = static_cast<uint16_t>(d);
    for (const auto& cn : names) c.classes |= uint64_t{1} << class_of(d, cn, cf);
    return push_node(c, {});
  }
  if (n["feature"]) {
    check_keys(n, field, {"feature", "op", "value"});
    const Feature f = get_feature(n["feature"], join(field, "feature"));
    const std::string op = get_string(require(n, "op", field), join(field, "op"));
    static const std::pair<std::string_view, Op> kOps[] = {
        {">=", Op::ge}, {">", Op::gt},        {"<=", Op::le},          {"<", Op::lt},
        {"==", Op::eq}, {"!=", Op::ne}, {"present", Op::present}, {"missing", Op::missing}};
    const auto it = std::find_if(std::begin(kOps), std::end(kOps),
                                 [&](const auto& p) { return p.first == op; });
    if (it == std::end(kOps))
      fail(n["op"], join(field, "op"), "unknown op '" + op + "' (>=, >, <=, <, ==, !=, present, missing)");
    c.kind = CondNode::Kind::feature_cmp;
    c.index = static_cast<uint16_t>(f);
    c.op = it->second;
    if (c.op == Op::present || c.op == Op::missing) {
      if (n["value"]) fail(n["value"], join(field, "value"), "not allowed with op " + op);
    } else {
      c.value = get_feature_value(require(n, "value", field), join(field, "value"), f);
    }
    return push_node(c, {});
  }
  fail(n, field, "a condition needs one of all, any, not, dimension, feature");
}

int StandardLoader::class_of(int d, const YAML::Node& n, const std::string& field) {
  const std::string name = get_string(n, field);
  const auto& cls = s_->dimensions_[d].classes;
  const auto it = std::find(cls.begin(), cls.end(), name);
  if (it == cls.end())
    fail(n, field, "unknown class '" + name + "' of dimension '" + s_->dimensions_[d].name + "'");
  return static_cast<int>(it - cls.begin());
}

void StandardLoader::parse_dimensions(const YAML::Node& ds) {
  expect_seq(ds, "dimensions");
  if (ds.size() > kMaxDimensions) fail(ds, "dimensions", fmt::format("at most {}", kMaxDimensions));
  for (size_t i = 0; i < ds.size(); ++i) {
    const std::string field = at("dimensions", i);
    const YAML::Node d = ds[i];
    expect_map(d, field);
    Dimension dim;
    dim.line = d.Mark().line + 1;
    dim.name = get_string(require(d, "name", field), join(field, "name"));
    if (s_->dimension_index(dim.name) >= 0) fail(d["name"], join(field, "name"), "dimension '" + dim.name + "' defined twice");
    const std::string kind = get_string(require(d, "kind", field), join(field, "kind"));
    const YAML::Node classes = require(d, "classes", field);
    const std::string cf = join(field, "classes");
    expect_seq(classes, cf);
    if (classes.size() > kMaxClasses) fail(classes, cf, fmt::format("at most {} classes", kMaxClasses));
    for (size_t c = 0; c < classes.size(); ++c) {
      expect_map(classes[c], at(cf, c));
      const std::string name = get_string(require(classes[c], "class", at(cf, c)), join(at(cf, c), "class"));
      if (std::find(dim.classes.begin(), dim.classes.end(), name) != dim.classes.end())
        fail(classes[c]["class"], join(at(cf, c), "class"), "class '" + name + "' listed twice");
      dim.classes.push_back(name);
      dim.class_notes.push_back(classes[c]["note"] ? get_string(classes[c]["note"], join(at(cf, c), "note")) : "");
    }
    const int index = static_cast<int>(s_->dimensions_.size());
    if (kind == "bands") {
      dim.kind = DimensionKind::bands;
      parse_bands(d, field, dim);
    } else if (kind == "matrix") {
      dim.kind = DimensionKind::matrix;
      parse_matrix(d, field, dim);
    } else if (kind == "mapping") {
      dim.kind = DimensionKind::mapping;
      parse_mapping(d, field, dim);
    } else if (kind == "rules") {
      dim.kind = DimensionKind::rules;
      // Registered before its conditions are parsed; they may refer only to dimensions
      // defined above it (dims_visible = index), never to itself.
      s_->dimensions_.push_back(dim);
      parse_class_rules(d, field, index);
      continue;
    } else if (kind == "rfm") {
      dim.kind = DimensionKind::rfm;
      parse_rfm(d, field, dim);
    } else {
      fail(d["kind"], join(field, "kind"), "unknown kind '" + kind + "' (bands, matrix, mapping, rules, rfm)");
    }
    s_->dimensions_.push_back(std::move(dim));
  }
}

void StandardLoader::parse_tiers(const YAML::Node& ts) {
  expect_seq(ts, "tiers");
  if (ts.size() > 255) fail(ts, "tiers", "too many tiers");
  for (size_t i = 0; i < ts.size(); ++i) {
    const std::string f = at("tiers", i);
    const YAML::Node t = ts[i];
    expect_map(t, f);
    check_keys(t, f, {"name", "price_level", "service_level", "account_manager", "downgrade", "description"});
    Tier tier;
    tier.name = get_string(require(t, "name", f), join(f, "name"));
    if (s_->tier_index(tier.name) >= 0) fail(t["name"], join(f, "name"), "tier '" + tier.name + "' defined twice");
    tier.price_level = get_string(require(t, "price_level", f), join(f, "price_level"));
    tier.service_level = get_string(require(t, "service_level", f), join(f, "service_level"));
    if (t["account_manager"]) tier.account_manager = get_bool(t["account_manager"], join(f, "account_manager"));
    if (t["description"]) tier.description = get_string(t["description"], join(f, "description"));
    if (t["downgrade"]) {
      const YAML::Node dg = t["downgrade"];
      const std::string df = join(f, "downgrade");
      expect_map(dg, df);
      check_keys(dg, df, {"grace_days", "policy"});
      if (dg["grace_days"]) {
        tier.grace_days = get_int(dg["grace_days"], join(df, "grace_days"));
        if (tier.grace_days < 0 || tier.grace_days > 3660)
          fail(dg["grace_days"], join(df, "grace_days"), "must be 0..3660");
      }
      const std::string p = get_string(require(dg, "policy", df), join(df, "policy"));
      if (p == "drop_one") tier.downgrade = DowngradePolicy::drop_one;
      else if (p == "recompute") tier.downgrade = DowngradePolicy::recompute;
      else if (p == "never") tier.downgrade = DowngradePolicy::never;
      else fail(dg["policy"], join(df, "policy"), "must be drop_one, recompute or never");
    }
    s_->tiers_.push_back(std::move(tier));
    tier_lines_.push_back(t.Mark().line + 1);
  }
}

void StandardLoader::parse_rules(const YAML::Node& rs) {
  expect_seq(rs, "rules");
  int unconditional = -1;
  for (size_t i = 0; i < rs.size(); ++i) {
    const std::string f = at("rules", i);
    const YAML::Node r = rs[i];
    expect_map(r, f);
    check_keys(r, f, {"id", "tier", "when", "description"});
    Rule rule;
    rule.line = r.Mark().line + 1;
    rule.id = get_string(require(r, "id", f), join(f, "id"));
    for (const auto& o : s_->rules_)
      if (o.id == rule.id) fail(r["id"], join(f, "id"), "rule id '" + rule.id + "' used twice");
    if (unconditional >= 0)
      fail(r, f, fmt::format("unreachable rule '{}': shadowed by rules[{}] ('{}'), which has no condition",
                             rule.id, unconditional, s_->rules_[unconditional].id));
    const std::string tn = get_string(require(r, "tier", f), join(f, "tier"));
    const int t = s_->tier_index(tn);
    if (t < 0) fail(r["tier"], join(f, "tier"), "unknown tier '" + tn + "'");
    rule.tier = static_cast<uint8_t>(t);
    if (r["description"]) rule.description = get_string(r["description"], join(f, "description"));
    if (r["when"]) {
      rule.condition = parse_condition(r["when"], join(f, "when"), -1);
    } else {
      unconditional = static_cast<int>(i);
      rule.condition = push_node(CondNode{}, {});
    }
    s_->rules_.push_back(std::move(rule));
  }
  if (unconditional < 0)
    fail(rs, "rules", "the last rule must have no `when`: the default tier for everyone else");
  for (size_t t = 0; t < s_->tiers_.size(); ++t) {
    const bool has = std::any_of(s_->rules_.begin(), s_->rules_.end(),
                                 [&](const Rule& r) { return r.tier == t; });
    if (!has)
      throw StandardError(name_, tier_lines_[t], at("tiers", t),
                          "tier '" + s_->tiers_[t].name + "' has no rule");
  }
}

std::shared_ptr<const Standard> Standard::parse(std::string_view yaml, std::string_view name) {
  return StandardLoader(std::string(name)).load(yaml);
}

std::shared_ptr<const Standard> Standard::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw StandardError(path, 0, "", "cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path);
}

}  // namespace tierflow::classification
