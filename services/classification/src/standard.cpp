#include "tierflow/classification/standard.h"

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "common/money/money.h"
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

// Compiles a YAML document into a Standard. Every error names the field by its path from
// the document root ("rules[2].when.all[0].feature") and the line of the offending node.
class StandardLoader {
 public:
  explicit StandardLoader(std::string name) : name_(std::move(name)) {}

  std::shared_ptr<const Standard> load(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      throw StandardError(name_, e.mark.line + 1, "", "not valid YAML: " + e.msg);
    }
    if (!root.IsMap()) fail(root, "", "the standard must be a YAML mapping");
    s_.reset(new Standard());
    s_->name_ = name_;
    check_keys(root, "", {"version", "currency", "windows", "features", "dimensions", "tiers",
                          "rules", "credit_hold", "description"});
    s_->version_ = get_string(require(root, "version", ""), "version");
    if (s_->version_.empty()) fail(root["version"], "version", "must not be empty");
    s_->currency_ = get_string(require(root, "currency", ""), "currency");
    if (s_->currency_.size() != 3 ||
        !std::all_of(s_->currency_.begin(), s_->currency_.end(), absl::ascii_isupper))
      fail(root["currency"], "currency", "must be an ISO 4217 code such as CNY");
    parse_windows(require(root, "windows", ""));
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

 private:
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field, const std::string& msg) {
    int line = 0;
    if (n.IsDefined()) line = n.Mark().line + 1;
    throw StandardError(name_, line, field, msg);
  }
  static std::string join(const std::string& a, const std::string& b) {
    return a.empty() ? b : a + "." + b;
  }
  static std::string at(const std::string& a, size_t i) { return fmt::format("{}[{}]", a, i); }

  const YAML::Node require(const YAML::Node& n, const char* key, const std::string& field) {
    const YAML::Node c = n[key];
    if (!c) fail(n, join(field, key), "missing");
    return c;
  }
  void check_keys(const YAML::Node& n, const std::string& field,
                  std::initializer_list<std::string_view> allowed) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(it->first, join(field, k), "unknown key (allowed: " + list + ")");
      }
    }
  }
  void expect_map(const YAML::Node& n, const std::string& field) {
    if (!n.IsMap()) fail(n, field, "wrong type: expected a mapping");
  }
  void expect_seq(const YAML::Node& n, const std::string& field) {
    if (!n.IsSequence() || n.size() == 0) fail(n, field, "wrong type: expected a non-empty list");
  }
  std::string get_string(const YAML::Node& n, const std::string& field) {
    if (!n.IsScalar()) fail(n, field, "wrong type: expected a string");
    return n.Scalar();
  }
  bool get_bool(const YAML::Node& n, const std::string& field) {
    if (n.IsScalar()) {
      const std::string v = absl::AsciiStrToLower(n.Scalar());
      if (v == "true" || v == "yes") return true;
      if (v == "false" || v == "no") return false;
    }
    fail(n, field, "wrong type: expected true or false");
  }
  int64_t get_scaled(const YAML::Node& n, const std::string& field, int scale) {
    if (n.IsScalar()) {
      if (auto v = money::parse_scaled_decimal(n.Scalar(), scale)) return *v;
    }
    fail(n, field,
         scale == 0 ? "wrong type: expected an integer"
                    : fmt::format("wrong type: expected a number with at most {} decimals", scale));
  }
  int64_t get_int(const YAML::Node& n, const std::string& field) { return get_scaled(n, field, 0); }

  int scale_of(Feature f) const {
    switch (feature_info(f).unit) {
      case Unit::money: return money::minor_digits(s_->currency_);
      case Unit::ratio: return 6;
      case Unit::decimal: return 3;
      default: return 0;
    }
  }
  int64_t get_feature_value(const YAML::Node& n, const std::string& field, Feature f) {
    return get_scaled(n, field, scale_of(f));
  }
  // A feature name that must be known and declared in `features:`.
  Feature get_feature(const YAML::Node& n, const std::string& field) {
    const std::string name = get_string(n, field);
    const auto f = feature_by_name(name);
    if (!f) fail(n, field, "unknown feature '" + name + "'");
    if (std::find(s_->used_features_.begin(), s_->used_features_.end(), *f) ==
        s_->used_features_.end())
      fail(n, field, "feature '" + name + "' is not declared in features:");
    return *f;
  }

  void parse_windows(const YAML::Node& w) {
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
      if (b == "gross_profit") s_->value_gross_profit_ = true;
      else if (b == "sales") s_->value_gross_profit_ = false;
      else fail(w["value_basis"], "windows.value_basis", "must be gross_profit or sales");
    }
  }

  void parse_features(const YAML::Node& fs) {
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

  uint32_t push_node(const CondNode& n, const std::vector<uint32_t>& kids) {
    CondNode c = n;
    c.first_child = static_cast<uint32_t>(s_->children_.size());
    c.child_count = static_cast<uint32_t>(kids.size());
    s_->children_.insert(s_->children_.end(), kids.begin(), kids.end());
    s_->nodes_.push_back(c);
    return static_cast<uint32_t>(s_->nodes_.size() - 1);
  }

  // dims_visible: dimensions with index < dims_visible may be referenced (-1: all).
  uint32_t parse_condition(const YAML::Node& n, const std::string& field, int dims_visible) {
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

  int class_of(int d, const YAML::Node& n, const std::string& field) {
    const std::string name = get_string(n, field);
    const auto& cls = s_->dimensions_[d].classes;
    const auto it = std::find(cls.begin(), cls.end(), name);
    if (it == cls.end())
      fail(n, field, "unknown class '" + name + "' of dimension '" + s_->dimensions_[d].name + "'");
    return static_cast<int>(it - cls.begin());
  }

  void parse_dimensions(const YAML::Node& ds) {
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

  void parse_bands(const YAML::Node& d, const std::string& field, Dimension& dim) {
    check_keys(d, field, {"name", "kind", "classes", "feature", "method", "match", "description"});
    const YAML::Node fn = require(d, "feature", field);
    if (fn.IsSequence()) {
      expect_seq(fn, join(field, "feature"));
      for (size_t k = 0; k < fn.size(); ++k) dim.features.push_back(get_feature(fn[k], at(join(field, "feature"), k)));
    } else {
      dim.features.push_back(get_feature(fn, join(field, "feature")));
    }
    const std::string method = d["method"] ? get_string(d["method"], join(field, "method")) : "absolute";
    if (method == "percentile") dim.percentile = true;
    else if (method != "absolute") fail(d["method"], join(field, "method"), "must be percentile or absolute");
    if (d["match"]) {
      const std::string m = get_string(d["match"], join(field, "match"));
      if (m == "all") dim.match_all = true;
      else if (m != "any") fail(d["match"], join(field, "match"), "must be any or all");
    }
    if (dim.percentile && dim.features.size() != 1)
      fail(fn, join(field, "feature"), "method percentile takes exactly one feature");
    const YAML::Node classes = d["classes"];
    const std::string cf = join(field, "classes");
    if (classes.size() < 2) fail(classes, cf, "bands need at least two classes");
    for (size_t c = 0; c < classes.size(); ++c) {
      const YAML::Node cn = classes[c];
      const std::string f = at(cf, c);
      const bool last = c + 1 == classes.size();
      check_keys(cn, f, {"class", "note", "min", "top_percent"});
      if (last) {
        if (cn["min"] || cn["top_percent"])
          fail(cn, f, "the last class takes the rest: no min / top_percent");
        continue;
      }
      if (dim.percentile) {
        if (cn["min"]) fail(cn["min"], join(f, "min"), "not allowed with method percentile (use top_percent)");
        const YAML::Node tp = require(cn, "top_percent", f);
        const int64_t bp = get_scaled(tp, join(f, "top_percent"), 2);
        if (bp <= 0 || bp >= 10000) fail(tp, join(f, "top_percent"), "must be between 0 and 100, exclusive");
        if (!dim.top_bp.empty() && bp <= static_cast<int64_t>(dim.top_bp.back()))
          fail(tp, join(f, "top_percent"),
               "overlapping or unordered cut points: cumulative top_percent must grow from class to class");
        dim.top_bp.push_back(static_cast<uint32_t>(bp));
      } else {
        if (cn["top_percent"]) fail(cn["top_percent"], join(f, "top_percent"), "only with method percentile");
        const YAML::Node mn = require(cn, "min", f);
        std::vector<int64_t> mins;
        if (mn.IsSequence()) {
          if (mn.size() != dim.features.size())
            fail(mn, join(f, "min"), fmt::format("expected {} values, one per feature", dim.features.size()));
          for (size_t k = 0; k < mn.size(); ++k)
            mins.push_back(get_feature_value(mn[k], at(join(f, "min"), k), dim.features[k]));
        } else {
          if (dim.features.size() != 1)
            fail(mn, join(f, "min"), fmt::format("expected a list of {} values, one per feature", dim.features.size()));
          mins.push_back(get_feature_value(mn, join(f, "min"), dim.features[0]));
        }
        if (!dim.mins.empty()) {
          for (size_t k = 0; k < mins.size(); ++k)
            if (mins[k] >= dim.mins.back()[k])
              fail(mn, join(f, "min"),
                   fmt::format("overlapping or unordered cut points: {} must be below the previous class's {}",
                               feature_info(dim.features[k]).name, feature_info(dim.features[k]).name));
        }
        dim.mins.push_back(std::move(mins));
      }
    }
  }

  void parse_matrix(const YAML::Node& d, const std::string& field, Dimension& dim) {
    check_keys(d, field, {"name", "kind", "classes", "of", "description"});
    const YAML::Node of = require(d, "of", field);
    const std::string off = join(field, "of");
    if (!of.IsSequence() || of.size() != 2) fail(of, off, "wrong type: expected a list of two dimensions");
    for (size_t k = 0; k < 2; ++k) {
      const std::string n = get_string(of[k], at(off, k));
      const int di = s_->dimension_index(n);
      if (di < 0) fail(of[k], at(off, k), "unknown dimension '" + n + "'");
      dim.of[k] = static_cast<uint16_t>(di);
    }
    const YAML::Node classes = d["classes"];
    const std::string cf = join(field, "classes");
    for (size_t c = 0; c < classes.size(); ++c) {
      const std::string f = at(cf, c);
      check_keys(classes[c], f, {"class", "note", "when"});
      const YAML::Node w = require(classes[c], "when", f);
      if (!w.IsSequence() || w.size() != 2) fail(w, join(f, "when"), "wrong type: expected [class of " +
          s_->dimensions_[dim.of[0]].name + ", class of " + s_->dimensions_[dim.of[1]].name + "]");
      const auto cell = std::make_pair(static_cast<uint8_t>(class_of(dim.of[0], w[0], at(join(f, "when"), 0))),
                                       static_cast<uint8_t>(class_of(dim.of[1], w[1], at(join(f, "when"), 1))));
      if (std::find(dim.cells.begin(), dim.cells.end(), cell) != dim.cells.end())
        fail(w, join(f, "when"), "overlapping cells: this combination is already a class");
      dim.cells.push_back(cell);
    }
  }

  void parse_mapping(const YAML::Node& d, const std::string& field, Dimension& dim) {
    check_keys(d, field, {"name", "kind", "classes", "input", "default", "description"});
    dim.input = get_string(require(d, "input", field), join(field, "input"));
    if (dim.input != "industry" && dim.input != "region")
      fail(d["input"], join(field, "input"), "must be industry or region (profile fields)");
    const YAML::Node classes = d["classes"];
    const std::string cf = join(field, "classes");
    for (size_t c = 0; c < classes.size(); ++c) {
      const std::string f = at(cf, c);
      check_keys(classes[c], f, {"class", "note", "values"});
      if (!classes[c]["values"]) continue;
      const YAML::Node vs = classes[c]["values"];
      expect_seq(vs, join(f, "values"));
      for (size_t k = 0; k < vs.size(); ++k) {
        const std::string key = absl::AsciiStrToLower(get_string(vs[k], at(join(f, "values"), k)));
        if (!dim.map.emplace(key, static_cast<uint8_t>(c)).second)
          fail(vs[k], at(join(f, "values"), k), "value '" + vs[k].Scalar() + "' is mapped twice");
      }
    }
    if (d["default"]) {
      const std::string n = get_string(d["default"], join(field, "default"));
      const auto it = std::find(dim.classes.begin(), dim.classes.end(), n);
      if (it == dim.classes.end()) fail(d["default"], join(field, "default"), "unknown class '" + n + "'");
      dim.default_class = static_cast<int>(it - dim.classes.begin());
    }
  }

  void parse_class_rules(const YAML::Node& d, const std::string& field, int index) {
    check_keys(d, field, {"name", "kind", "classes", "description"});
    const YAML::Node classes = d["classes"];
    const std::string cf = join(field, "classes");
    std::vector<uint32_t> conds;
    std::vector<Feature> detail;
    int unconditional = -1;
    for (size_t c = 0; c < classes.size(); ++c) {
      const std::string f = at(cf, c);
      check_keys(classes[c], f, {"class", "note", "when"});
      if (unconditional >= 0)
        fail(classes[c], f, fmt::format("unreachable: {}[{}] has no condition and always matches first",
                                        cf, unconditional));
      uint32_t root;
      if (classes[c]["when"]) {
        root = parse_condition(classes[c]["when"], join(f, "when"), index);
      } else {
        unconditional = static_cast<int>(c);
        root = push_node(CondNode{}, {});
      }
      conds.push_back(root);
    }
    if (unconditional < 0)
      fail(classes, cf, "the last class must have no `when` (it takes the rest)");
    Dimension& dim = s_->dimensions_[index];
    dim.conditions = std::move(conds);
    for (uint32_t r : dim.conditions) collect_features(r, dim.detail_features);
  }

  void collect_features(uint32_t node, std::vector<Feature>& out) const {
    const CondNode& n = s_->nodes_[node];
    if (n.kind == CondNode::Kind::feature_cmp) {
      const auto f = static_cast<Feature>(n.index);
      if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    }
    for (uint32_t i = 0; i < n.child_count; ++i) collect_features(s_->children_[n.first_child + i], out);
  }

  void parse_rfm(const YAML::Node& d, const std::string& field, Dimension& dim) {
    check_keys(d, field, {"name", "kind", "classes", "recency", "frequency", "monetary", "description"});
    for (const auto& o : s_->dimensions_)
      if (o.kind == DimensionKind::rfm) fail(d, field, "only one rfm dimension is allowed");
    if (d["recency"]) dim.recency = get_feature(d["recency"], join(field, "recency"));
    else dim.recency = get_feature_default(Feature::recency_days, d, join(field, "recency"));
    if (d["frequency"]) dim.frequency = get_feature(d["frequency"], join(field, "frequency"));
    else dim.frequency = get_feature_default(Feature::orders_12m, d, join(field, "frequency"));
    if (d["monetary"]) dim.monetary = get_feature(d["monetary"], join(field, "monetary"));
    else dim.monetary = get_feature_default(Feature::value, d, join(field, "monetary"));
    const YAML::Node classes = d["classes"];
    const std::string cf = join(field, "classes");
    int unconditional = -1;
    for (size_t c = 0; c < classes.size(); ++c) {
      const std::string f = at(cf, c);
      check_keys(classes[c], f, {"class", "note", "r", "f", "m"});
      if (unconditional >= 0)
        fail(classes[c], f, fmt::format("unreachable: {}[{}] accepts every score and matches first", cf, unconditional));
      Dimension::Ranges rg;
      const char* keys[3] = {"r", "f", "m"};
      for (int k = 0; k < 3; ++k) {
        const YAML::Node v = classes[c][keys[k]];
        if (!v) continue;
        const std::string vf = join(f, keys[k]);
        int64_t lo, hi;
        if (v.IsSequence()) {
          if (v.size() != 2) fail(v, vf, "wrong type: expected a score or [low, high]");
          lo = get_int(v[0], at(vf, 0));
          hi = get_int(v[1], at(vf, 1));
        } else {
          lo = hi = get_int(v, vf);
        }
        if (lo < 1 || hi > 5 || lo > hi) fail(v, vf, "scores are 1..5 with low <= high");
        rg.lo[k] = static_cast<uint8_t>(lo);
        rg.hi[k] = static_cast<uint8_t>(hi);
      }
      bool all = true;
      for (int k = 0; k < 3; ++k) all = all && rg.lo[k] == 1 && rg.hi[k] == 5;
      if (all) unconditional = static_cast<int>(c);
      dim.segments.push_back(rg);
    }
    if (unconditional < 0) fail(classes, cf, "the last segment must accept every score (no r, f, m)");
  }

  Feature get_feature_default(Feature f, const YAML::Node& d, const std::string& field) {
    if (std::find(s_->used_features_.begin(), s_->used_features_.end(), f) == s_->used_features_.end())
      fail(d, field, fmt::format("defaults to feature '{}', which is not declared in features:", feature_info(f).name));
    return f;
  }

  void parse_tiers(const YAML::Node& ts) {
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

  void parse_rules(const YAML::Node& rs) {
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

  std::string name_;
  std::unique_ptr<Standard> s_;
  std::vector<int> tier_lines_;
};

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
