#pragma once
// Compact per-customer inputs: what the classification service needs to hold per customer
// instead of a full v1::AccountSnapshot + v1::CustomerProfile (several KB of protobuf
// objects each). A CompactAccount is ~640 bytes inline (monthly amounts as int32, with an
// exact int64 fallback on the heap for the rare customer whose amounts do not fit), a
// CompactProfile ~48 bytes; industry and region are ids into a Vocabulary.
//
// Contract: compute_features() and classify() on compact inputs give exactly what the
// proto path gives on the snapshot and profile they were made from (tests/unit/
// classification/compact_test.cpp checks it on varied inputs), provided that
//  - the snapshot has at most one bucket per calendar month (the ledger publishes one;
//    compact() adds duplicates together, which only changes active_months_12m), and
//  - `now` is not before the newest bucket's month (buckets more than 23 months older than
//    the newest are dropped; they are outside every window as of any such `now`). The
//    service's clocks (wall clock, event-time watermark) always satisfy this.
//
// Value types; no pointers into the proto they were made from. Thread-compatible.
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "tierflow/classification/engine.h"
#include "tierflow/classification/features.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/ledger.pb.h"

namespace tierflow::classification {

inline constexpr int kCompactMonths = 24;  // windows reach at most 24 months back

// A currency code as the feature computation needs it: empty, a 3-byte code, or anything
// else (never equal to a standard's currency, which is always 3 upper-case letters).
struct CompactCurrency {
  enum class Kind : uint8_t { empty, code, other };
  Kind kind = Kind::empty;
  std::array<char, 3> code{};

  static CompactCurrency of(std::string_view c);
  // True when money in this currency counts under a standard of `standard_currency`
  // (empty means "the standard's").
  bool accepts(std::string_view standard_currency) const {
    return kind == Kind::empty || (kind == Kind::code && std::string_view(code.data(), 3) == standard_currency);
  }
  // For explanations: the code, "an unrecognised currency", or "" when empty.
  std::string text() const {
    if (kind == Kind::code) return std::string(code.data(), 3);
    return kind == Kind::other ? "an unrecognised currency" : "";
  }
  bool operator==(const CompactCurrency&) const = default;
};

struct CompactAccount {
  // Monthly buckets, dense: slot i is the calendar month newest_month - i, where months
  // are counted from 1970-01 (absl::CivilMonth difference). Months without a bucket are 0.
  enum Column : int { kSales, kRefunds, kGrossProfit, kOrders, kRefundCount, kColumns };
  using Narrow = std::array<std::array<int32_t, kCompactMonths>, kColumns>;
  using Wide = std::array<std::array<int64_t, kCompactMonths>, kColumns>;
  int64_t newest_month = 0;
  bool has_months = false;
  Narrow months{};
  // Set when a monthly value does not fit int32: then it holds every month and `months`
  // is unused. Immutable once built, shared by copies.
  std::shared_ptr<const Wide> wide;

  int64_t lifetime_sales = 0, lifetime_refunds = 0, lifetime_gross_profit = 0, lifetime_orders = 0;
  int64_t receivable = 0, overdue = 0, overdue_over_90 = 0;  // as of the snapshot
  // Open invoices, for ageing as of the evaluation clock; null when the snapshot listed
  // none (then the figures above hold). Immutable once built, shared by copies.
  struct OpenInvoice {
    int64_t due_seconds;
    int64_t open_minor;
  };
  std::shared_ptr<const std::vector<OpenInvoice>> open_invoices;
  // The snapshot's as_of (its customer's newest event time), unix microseconds; 0 = unset.
  int64_t as_of_micros = 0;
  // last_purchase as in the proto (seconds, nanos); both 0 = unset.
  int64_t last_purchase_seconds = 0;
  int32_t last_purchase_nanos = 0;
  // UTC civil day of first_purchase, in days since 1970-01-01; meaningful when has_first.
  int64_t first_purchase_day = 0;
  bool has_first = false;
  CompactCurrency currency;

  int32_t invoices_paid = 0, invoices_open = 0, max_days_late = 0;
  double on_time_ratio = 0, avg_days_late = 0;
  int32_t feedback_count = 0, promoters = 0, detractors = 0;
  double average_score = 0;

  int64_t month_value(Column column, int slot) const { return wide ? (*wide)[column][slot] : months[column][slot]; }
};

// Interned profile strings (industry, region), exactly as written in the profile. Ids are
// dense from 1; 0 is the empty string. Append-only: an id never changes meaning.
// Thread-compatible: intern() needs exclusive access; readers need intern() not running.
class Vocabulary {
 public:
  uint32_t intern(std::string_view text);
  std::string_view text(uint32_t id) const {
    if (id == 0 || id > texts_.size()) return {};
    return texts_[id - 1];
  }
  size_t size() const { return texts_.size() + 1; }  // ids are < size()

 private:
  std::deque<std::string> texts_;  // deque: stable addresses for the map's keys
  absl::flat_hash_map<std::string_view, uint32_t> ids_;
};

struct CompactProfile {
  int32_t contract_year = 0, contract_month = 0, contract_day = 0;  // as in the proto
  int32_t employees = 0;
  int64_t annual_revenue = 0;
  CompactCurrency revenue_currency;
  uint32_t industry = 0, region = 0;  // Vocabulary ids
};

// Either pointer may be null, as in CustomerInputs.
struct CompactInputs {
  std::string_view customer_id;
  const CompactAccount* account = nullptr;
  const CompactProfile* profile = nullptr;
};

CompactAccount compact(const v1::AccountSnapshot& account);
CompactProfile compact(const v1::CustomerProfile& profile, Vocabulary& vocabulary);

// Features from compact inputs; identical to compute_features on the protos (see the
// contract at the top).
Features compute_features(const Standard& standard, const CompactInputs& inputs, absl::Time now);

// The class of every mapping dimension (industry, region) for every vocabulary id, under
// one standard. Build it again when the standard changes or the vocabulary grew (ids at or
// above the size it was built with have no class: rebuild before classifying them).
class MappingTable {
 public:
  MappingTable() = default;
  MappingTable(const Standard& standard, const Vocabulary& vocabulary);
  // -1: no class (no profile, empty or unmapped without default, or an id unknown here).
  int8_t lookup(size_t dimension, uint32_t id) const {
    const auto& t = classes_[dimension];
    return id < t.size() ? t[id] : int8_t{-1};
  }
  size_t vocabulary_size() const { return vocabulary_size_; }

 private:
  std::vector<std::vector<int8_t>> classes_;  // per dimension (empty for non-mapping ones)
  size_t vocabulary_size_ = 0;
};

// classify() on compact inputs: mapping dimensions read `mappings` (built for the same
// standard and the vocabulary the profile's ids come from). Identical to the proto path.
Classification classify(const Standard& standard, const Population& population, const Features& features,
                        const CompactProfile* profile, const MappingTable& mappings);

// The profile fields evaluate() reads (industry, region), for the few customers that need
// a full evaluation: evaluate(standard, population, features, {id, nullptr, &expanded}).
v1::CustomerProfile expand_for_evaluation(const CompactProfile& profile, const Vocabulary& vocabulary);

}  // namespace tierflow::classification
