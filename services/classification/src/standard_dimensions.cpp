// StandardLoader's parsers of the dimension kinds: bands, matrix, mapping, class rules
// and RFM segments.
#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "standard_loader.h"

namespace tierflow::classification {

void StandardLoader::parse_bands(const YAML::Node& d, const std::string& field, Dimension& dim) {
  check_keys(d, field, {"name", "kind", "classes", "feature", "method", "match", "description"});
  const YAML::Node fn = require(d, "feature", field);
  if (fn.IsSequence()) {
    expect_seq(fn, join(field, "feature"));
    for (size_t k = 0; k < fn.size(); ++k) dim.features.push_back(get_feature(fn[k], at(join(field, "feature"), k)));
  } else {
    dim.features.push_back(get_feature(fn, join(field, "feature")));
  }
  const std::string method = d["method"] ? get_string(d["method"], join(field, "method")) : "absolute";
  if (method == "percentile")
    dim.percentile = true;
  else if (method != "absolute")
    fail(d["method"], join(field, "method"), "must be percentile or absolute");
  if (d["match"]) {
    const std::string m = get_string(d["match"], join(field, "match"));
    if (m == "all")
      dim.match_all = true;
    else if (m != "any")
      fail(d["match"], join(field, "match"), "must be any or all");
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
      if (cn["min"] || cn["top_percent"]) fail(cn, f, "the last class takes the rest: no min / top_percent");
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

void StandardLoader::parse_matrix(const YAML::Node& d, const std::string& field, Dimension& dim) {
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
    if (!w.IsSequence() || w.size() != 2)
      fail(w, join(f, "when"),
           "wrong type: expected [class of " + s_->dimensions_[dim.of[0]].name + ", class of " +
               s_->dimensions_[dim.of[1]].name + "]");
    const auto cell = std::make_pair(static_cast<uint8_t>(class_of(dim.of[0], w[0], at(join(f, "when"), 0))),
                                     static_cast<uint8_t>(class_of(dim.of[1], w[1], at(join(f, "when"), 1))));
    if (std::find(dim.cells.begin(), dim.cells.end(), cell) != dim.cells.end())
      fail(w, join(f, "when"), "overlapping cells: this combination is already a class");
    dim.cells.push_back(cell);
  }
}

void StandardLoader::parse_mapping(const YAML::Node& d, const std::string& field, Dimension& dim) {
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

void StandardLoader::parse_class_rules(const YAML::Node& d, const std::string& field, int index) {
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
      fail(classes[c], f,
           fmt::format("unreachable: {}[{}] has no condition and always matches first", cf, unconditional));
    uint32_t root;
    if (classes[c]["when"]) {
      root = parse_condition(classes[c]["when"], join(f, "when"), index);
    } else {
      unconditional = static_cast<int>(c);
      root = push_node(CondNode{}, {});
    }
    conds.push_back(root);
  }
  if (unconditional < 0) fail(classes, cf, "the last class must have no `when` (it takes the rest)");
  Dimension& dim = s_->dimensions_[index];
  dim.conditions = std::move(conds);
  for (uint32_t r : dim.conditions) collect_features(r, dim.detail_features);
}

void StandardLoader::collect_features(uint32_t node, std::vector<Feature>& out) const {
  const CondNode& n = s_->nodes_[node];
  if (n.kind == CondNode::Kind::feature_cmp) {
    const auto f = static_cast<Feature>(n.index);
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
  }
  for (uint32_t i = 0; i < n.child_count; ++i) collect_features(s_->children_[n.first_child + i], out);
}

void StandardLoader::parse_rfm(const YAML::Node& d, const std::string& field, Dimension& dim) {
  check_keys(d, field, {"name", "kind", "classes", "recency", "frequency", "monetary", "description"});
  for (const auto& o : s_->dimensions_)
    if (o.kind == DimensionKind::rfm) fail(d, field, "only one rfm dimension is allowed");
  if (d["recency"])
    dim.recency = get_feature(d["recency"], join(field, "recency"));
  else
    dim.recency = get_feature_default(Feature::recency_days, d, join(field, "recency"));
  if (d["frequency"])
    dim.frequency = get_feature(d["frequency"], join(field, "frequency"));
  else
    dim.frequency = get_feature_default(Feature::orders_12m, d, join(field, "frequency"));
  if (d["monetary"])
    dim.monetary = get_feature(d["monetary"], join(field, "monetary"));
  else
    dim.monetary = get_feature_default(Feature::value, d, join(field, "monetary"));
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

Feature StandardLoader::get_feature_default(Feature f, const YAML::Node& d, const std::string& field) {
  if (std::find(s_->used_features_.begin(), s_->used_features_.end(), f) == s_->used_features_.end())
    fail(d, field, fmt::format("defaults to feature '{}', which is not declared in features:", feature_info(f).name));
  return f;
}

}  // namespace tierflow::classification
