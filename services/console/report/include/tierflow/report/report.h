// The management report: an overview of the customer tiers as one self-contained HTML file
// (styles, Chart.js and the data inlined; no external reference of any kind, so it opens
// offline and prints the same anywhere) and the same tables as CSV files.
//
// Everything here is pure (data in, text out) except load_chart_js, which reads a file.
// The HTML tables and the CSV files are rendered from the same Table values, so a number
// is computed once. Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tierflow/v1/tier.pb.h"

namespace tierflow::report {

enum class Lang { kEn, kZhCn };

// "zh-CN", "zh_CN.UTF-8", "zh", or an Accept-Language header whose first preference is
// Chinese ("zh-CN,zh;q=0.9,en;q=0.8") -> kZhCn; anything else (empty included) -> kEn.
Lang lang_from(std::string_view tag);
// "zh-CN" or "en": the html lang attribute.
std::string_view lang_tag(Lang lang);

// Cell values keep their type, so CSV writes exact machine values and HTML readable ones.
struct Money {
  std::int64_t minor = 0;  // in the report's currency
};
struct Share {
  double value = 0;  // a fraction in [0, 1]
};
using Cell = std::variant<std::string, std::int64_t, Money, Share>;

struct Table {
  std::string name;   // file stem of its CSV and id of its HTML table: "tiers", "pareto", ...
  std::string title;  // in the report's language
  std::vector<std::string> headers;
  std::vector<std::vector<Cell>> rows;
};

// What a report shows besides the data: the date asked for and who reads it.
struct Meta {
  Lang lang = Lang::kEn;
  std::string as_of;         // the date as asked, "2026-11-30"; empty: the overview's as_of, or "now"
  std::string generated_at;  // RFC 3339 of when the report was made (the caller's clock)
};

// The tables of an overview (TierService.GetOverview), in report order: summary (the
// headline figures and the watch counters), tiers, quadrants, breakdown-<dimension> (one
// per breakdown, a customers column per tier), cuts (the A/B/C value cuts), classes,
// pareto (the curve), reach, top, and watch (one row per customer of `watch`, the
// ListWatch answer for the same date, when given); each only when there is data. An
// Overview with only `distribution` set is a valid input (the report of GetDistribution).
std::vector<Table> tables(const v1::Overview& o, const Meta& meta, const v1::ListWatchResponse* watch = nullptr);

// RFC 4180 CSV of one table: UTF-8 with a byte-order mark (so spreadsheet programs read
// Chinese text as UTF-8), CRLF line ends, the header row, then the rows. Money is written
// in major units with the currency's digits and no separators ("1234.50"), shares as
// fractions with 6 decimals, integers as is. A text cell that a spreadsheet would run as a
// formula (starting with = + - @, tab or CR) is prefixed with an apostrophe.
std::string to_csv(const Table& t, std::string_view currency);
// One CSV field: quoted (with quotes doubled) when it holds a comma, quote, CR or LF.
std::string csv_field(std::string_view text);

// The HTML report: the headline figures (data-testid report-customers, report-total-value,
// report-reach-80-customers, report-pending-downgrades, report-credit-holds, report-at-risk,
// each with data-value), the charts, then the tables. `chart_js` is the Chart.js source to inline (load_chart_js);
// empty renders the tables without charts.
std::string render_html(const v1::Overview& o, const Meta& meta, std::string_view chart_js,
                        const v1::ListWatchResponse* watch = nullptr);

// Where Debian's libjs-chart.js installs Chart.js 3.9.
inline constexpr std::string_view kChartJsPath = "/usr/share/javascript/chart.js/chart.min.js";
// Reads Chart.js for inlining: the licence banners are kept with their URLs written as
// plain host names (so the file has no URL in it at all), and any "</script" is escaped.
// Throws std::runtime_error naming the path when it cannot be read.
std::string load_chart_js(const std::string& path = std::string(kChartJsPath));

// Every external reference in an HTML text: "http://" or "https://" anywhere, and any src,
// href, action or CSS url() whose value contains "//". Empty for a self-contained file.
std::vector<std::string> external_references(std::string_view html);

}  // namespace tierflow::report
