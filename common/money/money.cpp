#include "common/money/money.h"

#include <algorithm>
#include <array>
#include <limits>

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

namespace {
// Digits of |v| with separators; works for INT64_MIN by using unsigned arithmetic.
std::string group_unsigned(uint64_t v) {
  char buf[32];
  int pos = sizeof(buf);
  int digits = 0;
  do {
    if (digits > 0 && digits % 3 == 0) buf[--pos] = ',';
    buf[--pos] = static_cast<char>('0' + v % 10);
    v /= 10;
    ++digits;
  } while (v != 0);
  return std::string(buf + pos, sizeof(buf) - pos);
}
uint64_t magnitude(int64_t v) {
  return v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
}
}  // namespace

std::string format_grouped(int64_t value) {
  std::string s = group_unsigned(magnitude(value));
  return value < 0 ? "-" + s : s;
}

std::optional<int64_t> parse_scaled_decimal(std::string_view t, int scale) {
  if (t.empty()) return std::nullopt;
  bool neg = false;
  if (t.front() == '-' || t.front() == '+') {
    neg = t.front() == '-';
    t.remove_prefix(1);
  }
  if (t.empty()) return std::nullopt;
  __int128 acc = 0;
  int frac_digits = -1;  // -1: no '.' seen yet
  bool any_digit = false;
  for (char ch : t) {
    if (ch == '_') continue;  // YAML 1.1 digit separator
    if (ch == '.') {
      if (frac_digits >= 0) return std::nullopt;
      frac_digits = 0;
      continue;
    }
    if (ch < '0' || ch > '9') return std::nullopt;
    any_digit = true;
    if (frac_digits >= 0 && ++frac_digits > scale) return std::nullopt;
    acc = acc * 10 + (ch - '0');
    if (acc > std::numeric_limits<int64_t>::max()) return std::nullopt;
  }
  if (!any_digit) return std::nullopt;
  for (int i = std::max(frac_digits, 0); i < scale; ++i) {
    acc *= 10;
    if (acc > std::numeric_limits<int64_t>::max()) return std::nullopt;
  }
  return static_cast<int64_t>(neg ? -acc : acc);
}

}  // namespace tierflow::money
