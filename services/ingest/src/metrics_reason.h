// A bounded label for a reason text (metrics.h), kept apart from prometheus so the
// fuzzer (tests/fuzz) can build it alone. Pure.
#pragma once

#include <string>
#include <string_view>

namespace tierflow::ingest {

// The kind of a validation reason, for a label: the field it names ("sale.lines[2].amount
// is negative" -> "sale.lines.amount"), never a value from the event.
inline std::string reason_kind(std::string_view reason) {
  std::string out;
  bool in_index = false;
  for (char c : reason) {
    if (c == ' ' || c == ':') break;
    if (c == '[') in_index = true;
    if (!in_index && ((c >= 'a' && c <= 'z') || c == '_' || c == '.')) out.push_back(c);
    if (c == ']') in_index = false;
  }
  if (out == "the") return "body";  // "the event has no body ..."
  return out.empty() ? "other" : out;
}

}  // namespace tierflow::ingest
