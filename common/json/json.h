#pragma once

#include <string>
#include <string_view>

namespace tierflow {

// Where a quoted string ends up. `plain`: a JSON document (HTTP bodies, API answers).
// `html_script`: also inside an HTML <script> element, so `<`, `>` and `&` are written
// as \u escapes (no `</script>` or `<!--` can close the element) and U+2028/U+2029 too
// (line terminators in older JavaScript). Both give valid JSON that decodes to the input.
enum class JsonEmbed { plain, html_script };

// `text` as a JSON string literal, quotes included. `"`, `\` and the control characters
// below U+0020 are escaped (\n \r \t by name, the rest as \u00XX); every other byte,
// UTF-8 included, is copied as it is: the caller passes valid UTF-8, nothing is checked
// or replaced. Pure, callable from any thread.
std::string json_quote(std::string_view text, JsonEmbed embed = JsonEmbed::plain);

}  // namespace tierflow
