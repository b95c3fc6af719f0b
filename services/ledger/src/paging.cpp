#include "paging.h"

#include <algorithm>
#include <charconv>

#include "tierflow/ledger/ledger.h"

namespace tierflow::ledger::paging {

size_t page_size(int32_t requested) {
  return requested <= 0 ? kDefaultPageSize : std::min(static_cast<size_t>(requested), kMaxPageSize);
}

int64_t after_seq(const std::string& token) {
  int64_t after = 0;
  if (token.empty()) return after;
  auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), after);
  if (ec != std::errc() || p != token.data() + token.size() || after < 0) {
    throw InvalidArgument("invalid page_token '" + token + "'");
  }
  return after;
}

std::string next_token(int64_t last_seq) { return std::to_string(last_seq); }

}  // namespace tierflow::ledger::paging
