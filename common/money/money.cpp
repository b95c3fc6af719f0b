#include "common/money/money.h"

#include <algorithm>
#include <array>

namespace tierflow::money {

namespace {
// Sorted, for binary search.
constexpr std::array<std::string_view, 62> kCurrencies = {"AED", "ARS", "AUD", "BDT", "BGN", "BHD", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "GHS", "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JOD", "JPY", "KES", "KRW", "KWD", "KZT", "LAK", "LKR", "MAD", "MOP", "MXN", "MYR", "NGN", "NOK", "NZD", "OMR", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TND", "TRY", "TWD", "UAH", "USD", "UYU", "VND", "XAF", "XOF", "ZAR", "ZMW"};

bool sorted_contains(std::string_view code) {
  return std::binary_search(kCurrencies.begin(), kCurrencies.end(), code);
}
}  // namespace

bool is_known_currency(std::string_view code) { return code.size() == 3 && sorted_contains(code); }

int minor_digits(std::string_view code) {
  if (code == "JPY" || code == "KRW" || code == "CLP" || code == "ISK" || code == "VND" || code == "XAF" ||
      code == "XOF") {
    return 0;
  }
  if (code == "BHD" || code == "IQD" || code == "JOD" || code == "KWD" || code == "LYD" || code == "OMR" ||
      code == "TND") {
    return 3;
  }
  return 2;
}

std::optional<int> currency_exponent(std::string_view code) {
  if (!is_known_currency(code)) return std::nullopt;
  return minor_digits(code);
}

std::string format(int64_t minor_units, std::string_view currency) {
  const int digits = minor_digits(currency);
  int64_t scale = 1;
  for (int i = 0; i < digits; ++i) scale *= 10;
  const bool negative = minor_units < 0;
  // Work in unsigned to survive INT64_MIN.
  const uint64_t abs = negative ? 0 - static_cast<uint64_t>(minor_units) : static_cast<uint64_t>(minor_units);
  const uint64_t major = abs / static_cast<uint64_t>(scale);
  const uint64_t minor = abs % static_cast<uint64_t>(scale);
  std::string whole = std::to_string(major);
  std::string grouped;
  for (size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) grouped += ',';
    grouped += whole[i];
  }
  std::string out = negative ? "-" + grouped : grouped;
  if (digits > 0) {
    std::string frac = std::to_string(minor);
    out += "." + std::string(static_cast<size_t>(digits) - frac.size(), '0') + frac;
  }
  if (!currency.empty()) out += " " + std::string(currency);
  return out;
}

std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

}  // namespace tierflow::money
