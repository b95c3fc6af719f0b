#pragma once
// Money and decimal helpers for the classification standard. Amounts are int64 minor units
// of an ISO 4217 currency; nothing here goes through floating point.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tierflow::classification {

// Number of minor-unit digits of an ISO 4217 currency (CNY, USD: 2; JPY, KRW: 0;
// BHD, KWD, JOD, OMR, TND: 3). Unknown codes are assumed to have 2.
int currency_exponent(std::string_view currency);

// "1234567" minor CNY -> "12,345.67 CNY"; negative amounts get a leading '-'.
// An empty currency prints the number alone.
std::string format_money(int64_t minor_units, std::string_view currency);

// Integer with thousands separators: 1234567 -> "1,234,567".
std::string format_grouped(int64_t value);

// Exact decimal parse scaled by 10^scale: ("1234.5", 2) -> 123450. Accepts an optional
// sign, digits, one '.', and at most `scale` fractional digits (more fractional digits,
// overflow or any other character -> nullopt).
std::optional<int64_t> parse_scaled_decimal(std::string_view text, int scale);

}  // namespace tierflow::classification
