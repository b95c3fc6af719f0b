// Paging of statements: page sizes and the tokens the ledger hands out (the journal
// sequence number of a page's last entry, in decimal). Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tierflow::ledger::paging {

inline constexpr size_t kDefaultPageSize = 100;
inline constexpr size_t kMaxPageSize = 1000;

// The requested size, 0 (or less) meaning the default, capped at the maximum.
size_t page_size(int32_t requested);
// The sequence number after which the page starts: 0 for an empty token. Throws
// InvalidArgument for a token this ledger did not issue.
int64_t after_seq(const std::string& token);
// The token of the page after the one ending with the entry `last_seq`.
std::string next_token(int64_t last_seq);

}  // namespace tierflow::ledger::paging
