#include "money.hpp"

#include <array>
#include <utility>

namespace tierflow::ledger {
namespace {

// Common ISO 4217 codes and their minor-unit exponents. A code missing here is rejected
// rather than guessed: adding one is a deliberate change.
constexpr std::array<std::pair<std::string_view, int>, 44> kCurrencies{{
    {"AED", 2}, {"AUD", 2}, {"BHD", 3}, {"BRL", 2}, {"CAD", 2}, {"CHF", 2}, {"CLP", 0},
    {"CNY", 2}, {"CZK", 2}, {"DKK", 2}, {"EGP", 2}, {"EUR", 2}, {"GBP", 2}, {"HKD", 2},
    {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"ISK", 0}, {"JOD", 3}, {"JPY", 0},
    {"KRW", 0}, {"KWD", 3}, {"MOP", 2}, {"MXN", 2}, {"MYR", 2}, {"NOK", 2}, {"NZD", 2},
    {"OMR", 3}, {"PHP", 2}, {"PLN", 2}, {"QAR", 2}, {"RUB", 2}, {"SAR", 2}, {"SEK", 2},
    {"SGD", 2}, {"THB", 2}, {"TND", 3}, {"TRY", 2}, {"TWD", 2}, {"USD", 2}, {"VND", 0},
    {"ZAR", 2}, {"NGN", 2},
}};

}  // namespace

std::optional<int> currency_exponent(std::string_view code) {
  for (const auto& [c, e] : kCurrencies) {
    if (c == code) return e;
  }
  return std::nullopt;
}

std::string format_money(int64_t minor, std::string_view currency) {
  int exp = currency_exponent(currency).value_or(2);
  // Magnitude as unsigned so INT64_MIN formats too.
  uint64_t mag = minor < 0 ? 0 - static_cast<uint64_t>(minor) : static_cast<uint64_t>(minor);
  std::string digits = std::to_string(mag);
  if (exp > 0) {
    if (digits.size() <= static_cast<size_t>(exp)) {
      digits.insert(0, static_cast<size_t>(exp) + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - static_cast<size_t>(exp), 1, '.');
  }
  std::string out = minor < 0 ? "-" : "";
  out += digits;
  if (!currency.empty()) {
    out += ' ';
    out += currency;
  }
  return out;
}

}  // namespace tierflow::ledger
