// The report's words in its two languages, and the escapes its output formats need.
// Internal to the report library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tierflow/report/report.h"

namespace tierflow::report::detail {

// The Chinese of an English label of the report; the label itself for kEn, or when no
// translation is listed.
std::string_view tr(Lang lang, std::string_view en);

// Text for HTML element content and double-quoted attribute values.
std::string html_escape(std::string_view text);
// A JSON string literal (with quotes) that is also safe inside an HTML <script>: "<", ">"
// "&", U+2028 and U+2029 are written as \u escapes (json_quote's html_script).
std::string js_string(std::string_view text);
// Minor units as a plain decimal in the currency's major units: (123450, "CNY") -> "1234.50".
std::string plain_major(std::int64_t minor, std::string_view currency);
// The "as of" a report shows: meta.as_of as asked, else the overview's as_of ("2026-11-30
// 16:00:00 UTC"), else "now" in the report's language.
std::string as_of_text(const v1::Overview& o, const Meta& meta);
// The distribution's reach at exactly 80% of value, or null.
const v1::ValueReach* reach_80(const v1::Distribution& d);
// A share as a percentage with one decimal: 0.8012 -> "80.1%".
std::string percent(double share);

}  // namespace tierflow::report::detail
