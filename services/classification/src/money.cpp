#include "tierflow/classification/money.h"

#include <limits>

#include "common/money/money.h"

namespace tierflow::classification {

int currency_exponent(std::string_view c) { return money::minor_digits(c); }

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

std::string format_money(int64_t minor, std::string_view currency) { return money::format(minor, currency); }

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

}  // namespace tierflow::classification
