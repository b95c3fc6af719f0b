// Money: int64 minor units plus an ISO 4217 currency. Never floating point.
// The one list of accepted currencies: ingest validates against it, the ledger posts
// against it, classification formats with it. A target of its own (tierflow::money),
// free of other dependencies, so the pure domain libraries can link it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tierflow::money {

// True for the ISO 4217 codes the suite accepts (the active ones in everyday use).
bool is_known_currency(std::string_view code);
// Digits after the decimal point: 2 for CNY and USD, 0 for JPY and KRW, 3 for KWD...
// (2 for a code the suite does not know).
int minor_digits(std::string_view code);
// minor_digits for a known code; nullopt for one the suite does not accept.
std::optional<int> currency_exponent(std::string_view code);
// "1,234,567.89 CNY" from 123456789 and "CNY".
std::string format(int64_t minor_units, std::string_view currency);
// a + b, or nullopt on int64 overflow.
std::optional<int64_t> checked_add(int64_t a, int64_t b);
// An integer with thousands separators: 1234567 -> "1,234,567" (INT64_MIN included).
std::string format_grouped(int64_t value);
// An exact decimal scaled by 10^scale: ("1234.5", 2) -> 123450. Accepts an optional sign,
// digits (YAML's '_' separators are skipped), one '.', and at most `scale` fractional
// digits; more fractional digits, int64 overflow or any other character -> nullopt.
std::optional<int64_t> parse_scaled_decimal(std::string_view text, int scale);

}  // namespace tierflow::money
