#include "money.h"

#include "common/money/money.h"

namespace tierflow::ledger {

std::optional<int> currency_exponent(std::string_view code) { return money::currency_exponent(code); }

std::string format_money(int64_t minor, std::string_view currency) { return money::format(minor, currency); }

}  // namespace tierflow::ledger
