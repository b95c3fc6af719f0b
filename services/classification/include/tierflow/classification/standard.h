#pragma once
// The classification standard (客户分类标准表): a YAML file compiled into an immutable
// Standard. See deploy/local/standard.yaml for the documented format.
//
// Lifecycle: load_file/parse build a new Standard or throw StandardError; a Standard is
// never modified after construction, so one shared_ptr<const Standard> may be read from any
// number of threads. Reload = load a new one and swap the pointer; a bad file never
// replaces a good one because nothing is swapped when loading throws.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "tierflow/classification/features.h"

namespace tierflow::classification {

// A standard that cannot be used. what() is "<file>:<line>: <field>: <problem>",
// e.g. "standard.yaml:42:9: rules[3].when.feature: unknown feature 'salez_12m'".
class StandardError : public std::runtime_error {
 public:
  StandardError(std::string file, int line, std::string field, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }  // 1-based; 0 when unknown
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  int line_;
  std::string field_;
};

inline constexpr size_t kMaxDimensions = 16;
inline constexpr size_t kMaxClasses = 64;

enum class Op : uint8_t { ge, gt, le, lt, eq, ne, present, missing };

// A compiled condition: a node of a small tree stored flat in Standard::nodes().
struct CondNode {
  enum class Kind : uint8_t { always, all, any, negate, dimension_in, feature_cmp };
  Kind kind = Kind::always;
  Op op = Op::ge;
  uint16_t index = 0;        // feature (feature_cmp) or dimension (dimension_in)
  int64_t value = 0;         // feature_cmp: scaled per the feature's unit
  uint64_t classes = 0;      // dimension_in: bit i set = class i accepted
  uint32_t first_child = 0;  // into Standard::children()
  uint32_t child_count = 0;
  int line = 0;
};

enum class DimensionKind : uint8_t { bands, matrix, mapping, rules, rfm };

struct Dimension {
  std::string name;
  DimensionKind kind = DimensionKind::bands;
  std::vector<std::string> classes;      // ranked: best / first first
  std::vector<std::string> class_notes;  // per class: strategy / description ("" if none)

  // bands: classes[i] when any (or all, match_all) features[k] >= mins[i][k] (absolute),
  // or, with percentile, when features[0] >= population threshold of top_bp[i] and > 0.
  // The last class takes the rest.
  std::vector<Feature> features;
  bool percentile = false;
  bool match_all = false;
  std::vector<std::vector<int64_t>> mins;  // per class except the last
  std::vector<uint32_t> top_bp;            // cumulative top share in basis points

  // matrix: class i when dimension of[0] is class cells[i].first and of[1] cells[i].second.
  std::array<uint16_t, 2> of{};
  std::vector<std::pair<uint8_t, uint8_t>> cells;

  // mapping: profile field (industry | region), lower-cased key -> class.
  std::string input;
  absl::flat_hash_map<std::string, uint8_t> map;
  int default_class = -1;  // -1: no class when unmapped or empty

  // rules: first class whose condition holds (root node index per class).
  std::vector<uint32_t> conditions;
  std::vector<Feature> detail_features;  // features shown in the class detail

  // rfm: recency (lower is better), frequency, monetary scored 1-5 by population quintiles;
  // segments: first class whose score ranges all hold.
  Feature recency = Feature::recency_days, frequency = Feature::orders_12m, monetary = Feature::value;
  struct Ranges {
    uint8_t lo[3] = {1, 1, 1};
    uint8_t hi[3] = {5, 5, 5};
  };
  std::vector<Ranges> segments;

  int line = 0;
};

// A mapping dimension's class for a raw profile value (industry or region as written):
// looked up lower-cased and trimmed; the default class when unmapped; -1 when `raw` is
// empty or unmapped without a default.
int mapping_class(const Dimension& dim, std::string_view raw);

enum class DowngradePolicy : uint8_t { drop_one, recompute, never };

struct Tier {
  std::string name;  // rank = position in Standard::tiers(), 0 = best
  std::string price_level;
  std::string service_level;
  bool account_manager = false;
  int64_t grace_days = 0;
  DowngradePolicy downgrade = DowngradePolicy::recompute;
  std::string description;
};

struct Rule {
  std::string id;
  uint8_t tier = 0;
  uint32_t condition = 0;  // root node
  std::string description;
  int line = 0;
};

// windows.value_basis: what `value` sums. gross_sales: sales, refunds not subtracted;
// net_sales: sales minus refunds; gross_profit: the ledger's gross profit (net of
// refunded margin).
enum class ValueBasis : uint8_t { gross_sales, net_sales, gross_profit };
// percentile.population: who percentile bands rank (every customer with the feature, or
// only those whose value of it is > 0). percentile.rounding: how p x n customers is
// turned into a count k (up: ceil, nearest: half up, down: floor).
enum class PercentilePopulation : uint8_t { all, positive };
enum class PercentileRounding : uint8_t { up, nearest, down };
// Money in another currency, converted at a fixed rate to the standard's minor units:
// x * num / den, rounded half away from zero.
struct MoneyConversion {
  int64_t num = 1, den = 1;
  int64_t operator()(int64_t minor) const;
};

std::string_view name(ValueBasis b);
std::string_view name(PercentilePopulation p);
std::string_view name(PercentileRounding r);

class Standard {
 public:
  // Throws StandardError naming the file (the path), line and field.
  static std::shared_ptr<const Standard> load_file(const std::string& path);
  // `name` is what errors call the file.
  static std::shared_ptr<const Standard> parse(std::string_view yaml, std::string_view name);

  const std::string& version() const { return version_; }
  const std::string& currency() const { return currency_; }
  std::vector<std::string> tier_names() const;
  // -1 when the standard has no such tier.
  int tier_index(std::string_view name) const;
  int dimension_index(std::string_view name) const;

  // How money in `code` counts: identity for the standard's currency (or no currency);
  // the fixed rate for a currency listed under `currencies:`; nullopt otherwise (money in
  // it is not counted).
  std::optional<MoneyConversion> conversion(std::string_view code) const;

  // windows
  int value_months() const { return value_months_; }  // 0 = lifetime
  bool value_basis_gross_profit() const { return value_basis_ == ValueBasis::gross_profit; }
  ValueBasis value_basis() const { return value_basis_; }
  // evaluation.time_zone: evaluation points are this zone's day ends (default UTC).
  const absl::TimeZone& evaluation_zone() const { return evaluation_zone_; }
  const std::string& evaluation_zone_name() const { return evaluation_zone_name_; }
  // percentile (defaults: all, up: every holder of the feature, ceil(p x n))
  PercentilePopulation percentile_population() const { return percentile_population_; }
  PercentileRounding percentile_rounding() const { return percentile_rounding_; }

  const std::vector<Dimension>& dimensions() const { return dimensions_; }
  const std::vector<Tier>& tiers() const { return tiers_; }
  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<CondNode>& nodes() const { return nodes_; }
  const std::vector<uint32_t>& children() const { return children_; }
  // Root node of the credit-hold condition (a node of kind `always`-false when absent).
  int credit_hold_condition() const { return credit_hold_; }
  // Features the standard reads anywhere (the explanation lists these).
  const std::vector<Feature>& used_features() const { return used_features_; }

 private:
  friend class StandardLoader;
  Standard() = default;

  std::string version_;
  std::string currency_;
  std::string name_;
  int value_months_ = 12;
  // currencies: code -> conversion to the standard's minor units.
  std::vector<std::pair<std::string, MoneyConversion>> currencies_;
  ValueBasis value_basis_ = ValueBasis::gross_profit;
  absl::TimeZone evaluation_zone_ = absl::UTCTimeZone();
  std::string evaluation_zone_name_ = "UTC";
  PercentilePopulation percentile_population_ = PercentilePopulation::all;
  PercentileRounding percentile_rounding_ = PercentileRounding::up;
  std::vector<Dimension> dimensions_;
  std::vector<Tier> tiers_;
  std::vector<Rule> rules_;
  std::vector<CondNode> nodes_;
  std::vector<uint32_t> children_;
  int credit_hold_ = -1;
  std::vector<Feature> used_features_;
};

}  // namespace tierflow::classification
