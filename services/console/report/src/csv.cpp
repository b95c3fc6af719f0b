#include <cstdio>
#include <string>
#include <type_traits>

#include "text.h"
#include "tierflow/report/report.h"

namespace tierflow::report {

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string to_csv(const Table& t, std::string_view currency) {
  std::string out = "\xEF\xBB\xBF";  // UTF-8 byte-order mark
  auto row = [&](const auto& cells, auto&& text_of) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out += ',';
      out += csv_field(text_of(cells[i]));
    }
    out += "\r\n";
  };
  row(t.headers, [](const std::string& h) { return h; });
  for (const auto& r : t.rows) {
    row(r, [&](const Cell& c) {
      return std::visit(
          [&](const auto& v) -> std::string {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::string>) {
              // Spreadsheets run a cell starting with one of these as a formula.
              if (!v.empty() && std::string_view("=+-@\t\r").find(v.front()) != std::string_view::npos) {
                return "'" + v;
              }
              return v;
            } else if constexpr (std::is_same_v<V, std::int64_t>) {
              return std::to_string(v);
            } else if constexpr (std::is_same_v<V, Money>) {
              return detail::plain_major(v.minor, currency);
            } else {
              char buf[32];
              std::snprintf(buf, sizeof buf, "%.6f", v.value);
              return buf;
            }
          },
          c);
    });
  }
  return out;
}

}  // namespace tierflow::report
