// Money: int64 minor units plus an ISO 4217 currency. Never floating point.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tierflow::money {

// True for the ISO 4217 codes the suite accepts (the active ones in everyday use).
bool is_known_currency(std::string_view code);
// Digits after the decimal point: 2 for CNY and USD, 0 for JPY and KRW, 3 for KWD...
int minor_digits(std::string_view code);
// "1,234,567.89 CNY" from 123456789 and "CNY".
std::string format(int64_t minor_units, std::string_view currency);
// a + b, or nullopt on int64 overflow.
std::optional<int64_t> checked_add(int64_t a, int64_t b);

}  // namespace tierflow::money
