// String building for the ledger's messages (rejection reasons, errors). Internal.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

namespace tierflow::ledger {

namespace detail {
template <typename T>
void append_piece(std::string& out, const T& v) {
  if constexpr (std::is_integral_v<T>) {
    out += std::to_string(v);
  } else {
    out += std::string_view(v);
  }
}
}  // namespace detail

// Concatenates strings and integers (absl::StrCat of Debian's Abseil predates
// std::string_view, so it does not take one).
template <typename... Args>
std::string cat(const Args&... args) {
  std::string out;
  (detail::append_piece(out, args), ...);
  return out;
}

}  // namespace tierflow::ledger
