// StandardLoader: compiles the standard's YAML into a Standard. Private to the core
// (Standard::parse is the public entry): standard.cpp parses the document, windows,
// features, conditions, tiers and rules; standard_dimensions.cpp the dimension kinds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "tierflow/classification/standard.h"
#include "yaml-cpp/yaml.h"

namespace tierflow::classification {

// Compiles a YAML document into a Standard. Every error names the field by its path from
// the document root ("rules[2].when.all[0].feature") and the line of the offending node.
class StandardLoader {
 public:
  explicit StandardLoader(std::string name) : name_(std::move(name)) {}

  std::shared_ptr<const Standard> load(std::string_view text);

 private:
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field, const std::string& msg);
  static std::string join(const std::string& a, const std::string& b);
  static std::string at(const std::string& a, size_t i) { return fmt::format("{}[{}]", a, i); }

  const YAML::Node require(const YAML::Node& n, const char* key, const std::string& field);
  void check_keys(const YAML::Node& n, const std::string& field, std::initializer_list<std::string_view> allowed) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(it->first, join(field, k), "unknown key (allowed: " + list + ")");
      }
    }
  }
  void expect_map(const YAML::Node& n, const std::string& field);
  void expect_seq(const YAML::Node& n, const std::string& field);
  std::string get_string(const YAML::Node& n, const std::string& field);
  bool get_bool(const YAML::Node& n, const std::string& field);
  int64_t get_scaled(const YAML::Node& n, const std::string& field, int scale);
  int64_t get_int(const YAML::Node& n, const std::string& field) { return get_scaled(n, field, 0); }

  int scale_of(Feature f) const;
  int64_t get_feature_value(const YAML::Node& n, const std::string& field, Feature f);
  // A feature name that must be known and declared in `features:`.
  Feature get_feature(const YAML::Node& n, const std::string& field);
  void parse_windows(const YAML::Node& w);
  void parse_percentile(const YAML::Node& p);
  void parse_currencies(const YAML::Node& cs);
  void parse_features(const YAML::Node& fs);
  uint32_t push_node(const CondNode& n, const std::vector<uint32_t>& kids);

  // dims_visible: dimensions with index < dims_visible may be referenced (-1: all).
  uint32_t parse_condition(const YAML::Node& n, const std::string& field, int dims_visible);
  int class_of(int d, const YAML::Node& n, const std::string& field);
  void parse_dimensions(const YAML::Node& ds);
  void parse_bands(const YAML::Node& d, const std::string& field, Dimension& dim);
  void parse_matrix(const YAML::Node& d, const std::string& field, Dimension& dim);
  void parse_mapping(const YAML::Node& d, const std::string& field, Dimension& dim);
  void parse_class_rules(const YAML::Node& d, const std::string& field, int index);
  void collect_features(uint32_t node, std::vector<Feature>& out) const;
  void parse_rfm(const YAML::Node& d, const std::string& field, Dimension& dim);
  Feature get_feature_default(Feature f, const YAML::Node& d, const std::string& field);
  void parse_tiers(const YAML::Node& ts);
  void parse_rules(const YAML::Node& rs);

  std::string name_;
  std::unique_ptr<Standard> s_;
  std::vector<int> tier_lines_;
};

}  // namespace tierflow::classification
