// The HTML report: one file, nothing fetched. A Content-Security-Policy of default-src
// 'none' makes the browser refuse any network access the file might attempt, so "opens
// offline" holds by construction and not only by review.
#include <cstdio>
#include <string>
#include <type_traits>

#include "common/money/money.h"
#include "fmt/format.h"
#include "text.h"
#include "tierflow/report/report.h"

namespace tierflow::report {
namespace {

using detail::html_escape;
using detail::js_string;
using detail::tr;

constexpr std::string_view kStyle = R"(
:root { color-scheme: light; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", "DejaVu Sans", sans-serif; margin: 24px; color: #1d2430; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 1px solid #d7dce3; padding-bottom: 4px; }
p.meta { color: #5b6573; margin: 0 0 16px; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figure { border: 1px solid #d7dce3; border-radius: 6px; padding: 8px 14px; min-width: 160px; }
.figure .label { color: #5b6573; font-size: 12px; }
.figure .number { font-size: 20px; font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { color: #5b6573; font-size: 12px; }
canvas { max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d7dce3; padding: 3px 8px; }
th { background: #f2f4f7; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
@media print { body { margin: 0; } section { break-inside: avoid; } details > *:not(summary) { display: none; } }
@page { size: A4; margin: 14mm; }
)";

std::string display(const Cell& c, std::string_view currency) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<V, std::int64_t>) {
          return money::format_grouped(v);
        } else if constexpr (std::is_same_v<V, Money>) {
          return money::format(v.minor, currency);
        } else {
          return detail::percent(v.value);
        }
      },
      c);
}

// The exact value behind a displayed number, for scripts and tests reading the page.
std::string raw(const Cell& c, std::string_view currency) {
  return std::visit(
      [&](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<V, std::int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<V, Money>) {
          return std::to_string(v.minor);
        } else {
          return fmt::format("{:.6f}", v.value);
        }
      },
      c);
}

std::string table_html(const Table& t, std::string_view currency) {
  std::string out = fmt::format("<table id=\"table-{0}\" data-testid=\"table-{0}\"><thead><tr>", html_escape(t.name));
  for (const auto& h : t.headers) out += "<th>" + html_escape(h) + "</th>";
  out += "</tr></thead><tbody>\n";
  for (const auto& row : t.rows) {
    out += "<tr>";
    for (const auto& c : row) {
      if (std::holds_alternative<std::string>(c)) {
        out += "<td>" + html_escape(std::get<std::string>(c)) + "</td>";
      } else {
        out += fmt::format("<td class=\"num\" data-value=\"{}\">{}</td>", html_escape(raw(c, currency)),
                           html_escape(display(c, currency)));
      }
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n";
}

std::string figure_html(std::string_view testid, std::string_view label, const Cell& value, std::string_view currency) {
  return fmt::format(
      "<div class=\"figure\"><div class=\"label\">{}</div>"
      "<div class=\"number\" data-testid=\"{}\" data-value=\"{}\">{}</div></div>\n",
      html_escape(label), testid, html_escape(raw(value, currency)), html_escape(display(value, currency)));
}

// Chart data as a JavaScript object literal (JSON with script-safe strings).
std::string chart_data(const v1::Overview& o, const Meta& meta) {
  const Lang l = meta.lang;
  const v1::Distribution& d = o.distribution();
  std::string curve = "[[0,0]";
  for (const auto& p : d.curve_size() > 0 ? d.curve() : d.pareto()) {
    curve += fmt::format(",[{:.4f},{:.4f}]", p.customer_share() * 100, p.value_share() * 100);
  }
  curve += "]";
  std::string reach80 = "null";
  if (const auto* r = detail::reach_80(d)) {
    reach80 = fmt::format("[{:.4f},{:.4f}]", r->customer_share() * 100, r->value_share() * 100);
  }
  // The A/B/C cuts: where each value class ends along the curve (cumulative, best first).
  std::string cuts = "[";
  for (const auto& c : o.value_cuts()) {
    if (c.customer_share() <= 0 || c.customer_share() >= 1) continue;  // the last class ends at 100%
    cuts += fmt::format("{}{{\"label\":{},\"x\":{:.4f}}}", cuts.size() > 1 ? "," : "", js_string(c.class_name()),
                        c.customer_share() * 100);
  }
  cuts += "]";
  std::string names = "[", customers = "[", shares = "[";
  for (const auto& t : d.tiers()) {
    const char* sep = names.size() > 1 ? "," : "";
    names += sep + js_string(t.tier().empty() ? std::string(tr(l, "(none)")) : t.tier());
    customers += fmt::format("{}{}", sep, t.customers());
    shares += fmt::format("{}{:.4f}", sep, t.value_share() * 100);
  }
  names += "]", customers += "]", shares += "]";
  return fmt::format(
      "{{\"curve\":{},\"reach80\":{},\"cuts\":{},\"tiers\":{{\"names\":{},\"customers\":{},\"valueShare\":{}}},"
      "\"text\":{{\"curve\":{},\"point\":{},\"cut\":{},\"x\":{},\"y\":{},\"customers\":{},\"valueShare\":{}}}}}",
      curve, reach80, cuts, names, customers, shares, js_string(tr(l, "Value share of the top customers")),
      js_string(tr(l, "80/20 point")), js_string(tr(l, "A/B/C cuts")),
      js_string(tr(l, "share of customers (best first)")), js_string(tr(l, "value share")),
      js_string(tr(l, "customers")), js_string(tr(l, "value share")));
}

// Draws both charts from REPORT, without animation so that printing right after load
// captures them; marks the body ready (or records the error) for whoever waits on it.
constexpr std::string_view kChartScript = R"JS(
(function () {
  try {
    if (typeof Chart === "undefined") { document.body.dataset.ready = "1"; return; }
    Chart.defaults.animation = false;
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    var d = REPORT;
    var pts = function (a) { return a.map(function (p) { return { x: p[0], y: p[1] }; }); };
    var sets = [{ label: d.text.curve, data: pts(d.curve), showLine: true, pointRadius: 0,
                  borderColor: "#2f6fde", backgroundColor: "#2f6fde", borderWidth: 2 }];
    if (d.reach80) sets.push({ label: d.text.point + " (" + d.reach80[0].toFixed(1) + "%, 80%)",
                               data: pts([d.reach80]), pointRadius: 6, borderColor: "#d9480f", backgroundColor: "#d9480f" });
    d.cuts.forEach(function (c) {
      sets.push({ label: d.text.cut + " " + c.label + " (" + c.x.toFixed(1) + "%)", data: [{ x: c.x, y: 0 }, { x: c.x, y: 100 }],
                  showLine: true, pointRadius: 0, borderDash: [6, 4], borderColor: "#868e96", borderWidth: 1 });
    });
    new Chart(document.getElementById("chart-pareto"), {
      type: "scatter", data: { datasets: sets },
      options: { responsive: false, devicePixelRatio: 2,
                 scales: { x: { min: 0, max: 100, title: { display: true, text: d.text.x } },
                           y: { min: 0, max: 100, title: { display: true, text: d.text.y } } } } });
    new Chart(document.getElementById("chart-tiers"), {
      type: "bar",
      data: { labels: d.tiers.names,
              datasets: [{ label: d.text.customers, data: d.tiers.customers, backgroundColor: "#2f6fde", yAxisID: "y" },
                         { label: d.text.valueShare + " %", data: d.tiers.valueShare, backgroundColor: "#f59f00", yAxisID: "y1" }] },
      options: { responsive: false, devicePixelRatio: 2,
                 scales: { y: { beginAtZero: true, position: "left" },
                           y1: { beginAtZero: true, max: 100, position: "right", grid: { drawOnChartArea: false } } } } });
    document.body.dataset.ready = "1";
  } catch (e) {
    document.body.dataset.error = String(e);
    throw e;
  }
})();
)JS";

}  // namespace

std::string render_html(const v1::Overview& o, const Meta& meta, std::string_view chart_js,
                        const v1::ListWatchResponse* watch) {
  const Lang l = meta.lang;
  const v1::Distribution& d = o.distribution();
  const std::string& currency = d.currency();
  const std::string title = std::string(tr(l, "Customer tiers: overview"));
  const std::string as_of = detail::as_of_text(o, meta);
  const std::vector<Table> all = tables(o, meta, watch);

  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
      "style-src 'unsafe-inline'; img-src data:\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>{} ({} {})</title>\n<style>{}</style>\n</head>\n<body>\n",
      lang_tag(l), html_escape(title), html_escape(tr(l, "as of")), html_escape(as_of), kStyle);
  std::string line = fmt::format("{} {}", tr(l, "as of"), as_of);
  if (!o.clock().empty()) line += fmt::format(" · {} {}", tr(l, "clock"), o.clock());
  if (!d.standard_version().empty()) line += fmt::format(" · {} {}", tr(l, "standard"), d.standard_version());
  if (!meta.generated_at.empty()) line += fmt::format(" · {} {}", tr(l, "generated"), meta.generated_at);
  out += fmt::format(
      "<header><h1>{}</h1><p class=\"meta\" data-testid=\"report-as-of\" data-value=\"{}\">{}</p>"
      "</header>\n",
      html_escape(title), html_escape(meta.as_of), html_escape(line));

  out += "<section class=\"figures\">\n";
  out += figure_html("report-customers", tr(l, "customers"), std::int64_t{d.customers()}, currency);
  out += figure_html("report-total-value", tr(l, "total value"), Money{d.total_value_minor()}, currency);
  if (const auto* r = detail::reach_80(d)) {
    out += figure_html("report-reach-80-customers", tr(l, "customers bringing 80% of value"),
                       std::int64_t{r->customers()}, currency);
  }
  out += figure_html("report-pending-downgrades", tr(l, "pending downgrades"), std::int64_t{o.pending_downgrades()},
                     currency);
  out += figure_html("report-credit-holds", tr(l, "credit holds"), std::int64_t{o.credit_holds()}, currency);
  out += figure_html("report-at-risk", tr(l, "turning at-risk"), std::int64_t{o.at_risk()}, currency);
  out += "</section>\n";

  if (!chart_js.empty()) {
    out += fmt::format(
        "<section class=\"charts\">\n"
        "<figure><canvas id=\"chart-pareto\" width=\"640\" "
        "height=\"360\"></canvas><figcaption>{}</figcaption></figure>\n"
        "<figure><canvas id=\"chart-tiers\" width=\"520\" "
        "height=\"360\"></canvas><figcaption>{}</figcaption></figure>\n"
        "</section>\n",
        html_escape(tr(l, "Pareto curve")), html_escape(tr(l, "Customers per tier")));
  }
  for (const auto& t : all) {
    if (t.name == "summary") continue;  // shown as the figures above
    if (t.name == "pareto") {
      // A hundred rows: folded on screen and left out of print (the chart and CSV have them).
      out += fmt::format("<section><details><summary>{}</summary>\n{}</details></section>\n", html_escape(t.title),
                         table_html(t, currency));
      continue;
    }
    out += fmt::format("<section><h2>{}</h2>\n{}</section>\n", html_escape(t.title), table_html(t, currency));
  }
  if (!chart_js.empty()) {
    out += "<script>\n";
    out += chart_js;
    out += "\n</script>\n<script>\nvar REPORT = " + chart_data(o, meta) + ";\n";
    out += kChartScript;
    out += "</script>\n";
  } else {
    out += "<script>document.body.dataset.ready = \"1\";</script>\n";
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace tierflow::report
