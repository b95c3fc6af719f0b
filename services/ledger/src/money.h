// Currency list and money formatting for readable rejection reasons. Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tierflow::ledger {

// Minor-unit exponent of an accepted ISO 4217 code (2 for CNY, 0 for JPY, 3 for KWD);
// nullopt when the code is not in the ledger's fixed list of common currencies.
std::optional<int> currency_exponent(std::string_view code);

// "1200.00 CNY", "-5 JPY". Exact for every int64 (no floating point).
std::string format_money(int64_t minor, std::string_view currency);

// Overflow-checked int64 arithmetic: false (and `out` untouched) on overflow.
inline bool checked_add(int64_t a, int64_t b, int64_t& out) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  out = r;
  return true;
}

}  // namespace tierflow::ledger
