// tierflow::report on a hand-made Overview: the totals in the HTML and in every CSV are
// the proto's, the HTML has no external reference (with the real Chart.js inlined),
// CSV fields are escaped, and both languages render.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tierflow/report/report.h"

namespace tierflow::report {
namespace {

v1::Distribution hand_made() {
  v1::Distribution d;
  d.set_customers(10);
  d.set_total_value_minor(1'000'000'05);  // 1,000,000.05 CNY
  d.set_currency("CNY");
  d.set_standard_version("std-2026-11");
  struct T {
    const char* tier;
    int64_t customers;
    int64_t value;
  };
  for (const T& t :
       {T{"diamond", 1, 600'000'00}, T{"gold", 2, 300'000'05}, T{"silver", 3, 90'000'00}, T{"bronze", 4, 10'000'00}}) {
    auto* c = d.add_tiers();
    c->set_tier(t.tier);
    c->set_customers(t.customers);
    c->set_value_minor(t.value);
    c->set_value_share(static_cast<double>(t.value) / static_cast<double>(d.total_value_minor()));
  }
  for (const T& t : {T{"A", 2, 800'000'00}, T{"B", 3, 150'000'05}, T{"C", 5, 50'000'00}}) {
    auto* c = d.add_classes();
    c->set_dimension("value");
    c->set_class_name(t.tier);
    c->set_customers(t.customers);
    c->set_value_minor(t.value);
  }
  for (int i = 1; i <= 100; ++i) {
    auto* p = d.add_curve();
    p->set_customer_share(i / 100.0);
    p->set_value_share(i >= 20 ? 0.8 + 0.2 * (i - 20) / 80.0 : 0.04 * i);
  }
  auto* r = d.add_reach();
  r->set_value_share(0.8);
  r->set_customers(2);
  r->set_customer_share(0.2);
  auto* top = d.add_top();
  top->set_top_n(10);
  top->set_customers(10);
  top->set_value_minor(d.total_value_minor());
  top->set_value_share(1.0);
  return d;
}

v1::Overview overview(v1::Distribution d = hand_made()) {
  v1::Overview o;
  *o.mutable_distribution() = std::move(d);
  o.set_clock("events");
  o.set_pending_downgrades(3);
  o.set_credit_holds(1);
  o.set_at_risk(4);
  struct Q {
    const char* name;
    int64_t customers;
    int64_t value;
    const char* strategy;
  };
  for (const Q& q :
       {Q{"old-big", 2, 800'000'00, "keep, account manager"}, Q{"new-big", 1, 150'000'05, "grow, \"fast\""},
        Q{"old-small", 3, 40'000'00, "=serve cheaply"}, Q{"new-small", 4, 10'000'00, "nurture"}}) {
    auto* x = o.add_quadrants();
    x->set_name(q.name);
    x->set_dimension("quadrant");
    x->set_tenure(std::string(q.name).substr(0, 3));
    x->set_size(std::string(q.name).substr(4));
    x->set_customers(q.customers);
    x->set_value_minor(q.value);
    x->set_strategy(q.strategy);
  }
  auto* b = o.add_breakdowns();
  b->set_dimension("region");
  struct R {
    const char* key;
    int64_t customers;
    int64_t value;
    int64_t gold;
  };
  for (const R& r : {R{"华东", 6, 900'000'05, 2}, R{"south, coast", 3, 99'000'00, 0}, R{"", 1, 1'000'00, 0}}) {
    auto* row = b->add_rows();
    row->set_key(r.key);
    row->set_customers(r.customers);
    row->set_value_minor(r.value);
    for (const char* tier : {"diamond", "gold", "silver", "bronze"}) {
      auto* tc = row->add_tiers();
      tc->set_tier(tier);
      tc->set_customers(std::string(tier) == "gold" ? r.gold : 0);
    }
  }
  struct C {
    const char* cls;
    int64_t customers;
    double share;
  };
  for (const C& c : {C{"A", 2, 0.2}, C{"B", 5, 0.5}, C{"C", 10, 1.0}}) {
    auto* cut = o.add_value_cuts();
    cut->set_class_name(c.cls);
    cut->set_customers(c.customers);
    cut->set_customer_share(c.share);
  }
  return o;
}

Meta meta(Lang lang = Lang::kEn) { return Meta{lang, "2026-11-30", "2026-11-30T15:00:00Z"}; }

// The data-value of the element carrying data-testid="<id>".
std::string value_of(const std::string& html, const std::string& testid) {
  const std::string key = "data-testid=\"" + testid + "\" data-value=\"";
  const auto at = html.find(key);
  if (at == std::string::npos) return "<missing " + testid + ">";
  const auto begin = at + key.size();
  return html.substr(begin, html.find('"', begin) - begin);
}

// The data-value attributes of one column of the HTML table "table-<name>", in row order.
std::vector<std::string> column(const std::string& html, const std::string& name, std::size_t col) {
  const auto begin = html.find("id=\"table-" + name + "\"");
  const auto end = html.find("</table>", begin);
  std::vector<std::string> out;
  if (begin == std::string::npos) return out;
  for (auto row = html.find("<tr>", html.find("<tbody>", begin)); row < end; row = html.find("<tr>", row + 1)) {
    auto cell = row;
    for (std::size_t i = 0; i <= col; ++i) cell = html.find("<td", cell + 1);
    const auto dv = html.find("data-value=\"", cell);
    const auto close = html.find('>', cell);
    if (dv > close) {
      out.push_back(html.substr(close + 1, html.find("</td>", close) - close - 1));
    } else {
      out.push_back(html.substr(dv + 12, html.find('"', dv + 12) - dv - 12));
    }
  }
  return out;
}

// RFC 4180 parse of a whole CSV text (after the byte-order mark).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 3; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
      ++i;
    } else {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

const Table& find(const std::vector<Table>& all, const std::string& name) {
  for (const auto& t : all) {
    if (t.name == name) return t;
  }
  throw std::runtime_error("no table " + name);
}

TEST(ReportHtml, TotalsAreTheDistributions) {
  const v1::Distribution d = hand_made();
  const std::string html = render_html(overview(d), meta(), load_chart_js());
  EXPECT_EQ(value_of(html, "report-customers"), "10");
  EXPECT_EQ(value_of(html, "report-total-value"), "100000005");
  EXPECT_EQ(value_of(html, "report-reach-80-customers"), "2");
  EXPECT_NE(html.find("1,000,000.05 CNY"), std::string::npos);
  const auto tiers = column(html, "tiers", 0), customers = column(html, "tiers", 1), value = column(html, "tiers", 3);
  ASSERT_EQ(tiers.size(), 4u);
  EXPECT_EQ(tiers[1], "gold");
  int64_t sum_customers = 0, sum_value = 0;
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    EXPECT_EQ(customers[i], std::to_string(d.tiers(static_cast<int>(i)).customers())) << tiers[i];
    EXPECT_EQ(value[i], std::to_string(d.tiers(static_cast<int>(i)).value_minor())) << tiers[i];
    sum_customers += std::stoll(customers[i]);
    sum_value += std::stoll(value[i]);
  }
  EXPECT_EQ(sum_customers, d.customers());
  EXPECT_EQ(sum_value, d.total_value_minor());
  EXPECT_EQ(column(html, "pareto", 0).size(), 100u);
  EXPECT_EQ(value_of(html, "report-pending-downgrades"), "3");
  EXPECT_EQ(value_of(html, "report-credit-holds"), "1");
  EXPECT_EQ(value_of(html, "report-at-risk"), "4");
  EXPECT_EQ(value_of(html, "report-as-of"), "2026-11-30");
  int64_t quadrant_customers = 0;
  for (const auto& c : column(html, "quadrants", 3)) quadrant_customers += std::stoll(c);
  EXPECT_EQ(quadrant_customers, d.customers());
  EXPECT_EQ(column(html, "breakdown-region", 0), (std::vector<std::string>{"华东", "south, coast", "(none)"}));
  EXPECT_EQ(column(html, "breakdown-region", 5), (std::vector<std::string>{"2", "0", "0"})) << "gold's column";
}

TEST(ReportHtml, AsOfFromTheOverviewWhenNotGiven) {
  v1::Overview o = overview();
  o.mutable_as_of()->set_seconds(1764460800);  // 2025-11-30 00:00:00 UTC
  EXPECT_NE(render_html(o, Meta{Lang::kEn, "", ""}, "").find("as of 2025-11-30 00:00:00 UTC"), std::string::npos);
  EXPECT_NE(render_html(overview(), Meta{Lang::kEn, "", ""}, "").find("as of now"), std::string::npos);
}

TEST(ReportHtml, HasNoExternalReferenceWithChartJsInlined) {
  const std::string js = load_chart_js();
  EXPECT_NE(js.find("Chart.js v3.9"), std::string::npos) << "the licence banner stays";
  EXPECT_NE(js.find("www.chartjs.org"), std::string::npos);
  const std::string html = render_html(overview(), meta(), js);
  EXPECT_NE(html.find("Chart.js v3.9"), std::string::npos) << "Chart.js is inlined";
  EXPECT_NE(html.find("id=\"chart-pareto\""), std::string::npos);
  EXPECT_EQ(external_references(html), std::vector<std::string>{});
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // The browser is told to fetch nothing at all.
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
}

TEST(ReportHtml, ExternalReferenceScannerFindsEachKind) {
  EXPECT_EQ(external_references("<p>see http://example.com</p>").size(), 1u);
  EXPECT_EQ(external_references("<p>HTTPS://EXAMPLE.COM</p>").size(), 1u);
  EXPECT_EQ(external_references("<script src=\"//cdn.example/x.js\"></script>").size(), 1u);
  EXPECT_EQ(external_references("<a href='//x.example/'>x</a>").size(), 1u);
  EXPECT_EQ(external_references("<img\nsrc=//x.example/a.png>").size(), 1u);
  EXPECT_EQ(external_references("<style>b{background:url(//x.example/a.png)}</style>").size(), 1u);
  EXPECT_EQ(external_references("<form action=\"//x.example/post\"></form>").size(), 1u);
  // Not references: a comment in a script, a data-src attribute, a local anchor.
  EXPECT_EQ(external_references("<script>// a comment\n</script><a href=\"#tiers\">t</a><i data-src=\"//\">"),
            std::vector<std::string>{});
}

TEST(ReportHtml, EscapesTextFromTheData) {
  v1::Distribution d = hand_made();
  d.mutable_tiers(0)->set_tier("</script><script>alert(1)</script>");
  d.set_standard_version("a&b <i>");
  const std::string html = render_html(overview(d), meta(), load_chart_js());
  EXPECT_EQ(html.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(html.find("&lt;/script&gt;&lt;script&gt;alert(1)"), std::string::npos) << "the tier table";
  EXPECT_NE(html.find("\\u003c/script\\u003e"), std::string::npos) << "the chart data";
  EXPECT_NE(html.find("a&amp;b &lt;i&gt;"), std::string::npos);
}

TEST(ReportHtml, ChineseAndEnglish) {
  const std::string zh = render_html(overview(), meta(Lang::kZhCn), "");
  EXPECT_NE(zh.find("<html lang=\"zh-CN\">"), std::string::npos);
  EXPECT_NE(zh.find("客户分级概览"), std::string::npos);
  EXPECT_NE(zh.find("<th>客户数</th>"), std::string::npos);
  EXPECT_EQ(value_of(zh, "report-customers"), "10");
  const std::string en = render_html(overview(), meta(Lang::kEn), "");
  EXPECT_NE(en.find("<html lang=\"en\">"), std::string::npos);
  EXPECT_NE(en.find("<th>customers</th>"), std::string::npos);
  EXPECT_EQ(en.find("客户数"), std::string::npos);
  // Without Chart.js the page still says it is ready.
  EXPECT_NE(en.find("dataset.ready"), std::string::npos);
  EXPECT_EQ(en.find("<canvas"), std::string::npos);
}

TEST(ReportLang, FromTagsAndHeaders) {
  EXPECT_EQ(lang_from("zh-CN"), Lang::kZhCn);
  EXPECT_EQ(lang_from("zh_CN.UTF-8"), Lang::kZhCn);
  EXPECT_EQ(lang_from("zh-CN,zh;q=0.9,en;q=0.8"), Lang::kZhCn);
  EXPECT_EQ(lang_from("ZH"), Lang::kZhCn);
  EXPECT_EQ(lang_from("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::kEn);
  EXPECT_EQ(lang_from(""), Lang::kEn);
  EXPECT_EQ(lang_from("C.UTF-8"), Lang::kEn);
}

TEST(ReportCsv, TotalsAreTheDistributions) {
  const v1::Distribution d = hand_made();
  const auto all = tables(overview(d), meta());
  std::vector<std::string> names;
  for (const auto& t : all) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"summary", "tiers", "quadrants", "breakdown-region", "cuts", "classes",
                                             "pareto", "reach", "top"}));

  const auto tiers = parse_csv(to_csv(find(all, "tiers"), d.currency()));
  ASSERT_EQ(tiers.size(), 5u);
  EXPECT_EQ(tiers[0], (std::vector<std::string>{"tier", "customers", "customer share", "total value", "value share"}));
  int64_t customers = 0, minor = 0;
  for (std::size_t i = 1; i < tiers.size(); ++i) {
    customers += std::stoll(tiers[i][1]);
    // Major units with the currency's two digits: back to minor units exactly.
    const std::string& v = tiers[i][3];
    ASSERT_EQ(v[v.size() - 3], '.') << v;
    minor += std::stoll(v.substr(0, v.size() - 3)) * 100 + std::stoll(v.substr(v.size() - 2));
  }
  EXPECT_EQ(customers, d.customers());
  EXPECT_EQ(minor, d.total_value_minor());
  EXPECT_EQ(tiers[2], (std::vector<std::string>{"gold", "2", "0.200000", "300000.05", "0.300000"}));

  const auto summary = parse_csv(to_csv(find(all, "summary"), d.currency()));
  std::map<std::string, std::string> figures;
  for (const auto& row : summary) figures[row[0]] = row[1];
  EXPECT_EQ(figures["customers"], "10");
  EXPECT_EQ(figures["total value"], "1000000.05");
  EXPECT_EQ(figures["as of"], "2026-11-30");
  EXPECT_EQ(figures["customers bringing 80% of value"], "2");
  EXPECT_EQ(figures["pending downgrades"], "3");
  EXPECT_EQ(figures["credit holds"], "1");
  EXPECT_EQ(figures["turning at-risk"], "4");
  EXPECT_EQ(parse_csv(to_csv(find(all, "pareto"), d.currency())).size(), 101u);

  const auto quadrants = parse_csv(to_csv(find(all, "quadrants"), d.currency()));
  ASSERT_EQ(quadrants.size(), 5u);
  int64_t quadrant_customers = 0;
  for (std::size_t i = 1; i < quadrants.size(); ++i) quadrant_customers += std::stoll(quadrants[i][3]);
  EXPECT_EQ(quadrant_customers, d.customers());
  EXPECT_EQ(quadrants[2][6], "grow, \"fast\"") << "strategy text round-trips through CSV quoting";
  EXPECT_EQ(quadrants[3][6], "'=serve cheaply") << "no formula";

  const auto region = parse_csv(to_csv(find(all, "breakdown-region"), d.currency()));
  ASSERT_EQ(region.size(), 4u);
  EXPECT_EQ(region[0],
            (std::vector<std::string>{"region", "customers", "total value", "value share", "customers in diamond",
                                      "customers in gold", "customers in silver", "customers in bronze"}));
  EXPECT_EQ(region[2][0], "south, coast");
  int64_t region_customers = 0, region_minor = 0;
  for (std::size_t i = 1; i < region.size(); ++i) {
    region_customers += std::stoll(region[i][1]);
    const std::string& v = region[i][2];
    region_minor += std::stoll(v.substr(0, v.size() - 3)) * 100 + std::stoll(v.substr(v.size() - 2));
  }
  EXPECT_EQ(region_customers, d.customers());
  EXPECT_EQ(region_minor, d.total_value_minor());
  const auto cuts = parse_csv(to_csv(find(all, "cuts"), d.currency()));
  EXPECT_EQ(cuts[1], (std::vector<std::string>{"A", "2", "0.200000", "0.000000"}));
}

TEST(ReportCsv, WatchListWhenGiven) {
  v1::ListWatchResponse w;
  auto* e = w.add_entries();
  e->mutable_assignment()->set_customer_id("c-1");
  e->mutable_assignment()->set_tier("gold");
  e->add_kinds("pending_downgrade");
  e->add_kinds("at_risk");
  e->add_reasons("to silver on 2026-12-31");
  e->add_reasons("no order for 120 days");
  w.set_truncated(true);
  EXPECT_EQ(tables(overview(), meta()).back().name, "top") << "no watch table without a watch list";
  const auto all = tables(overview(), meta(), &w);
  const Table& t = find(all, "watch");
  EXPECT_EQ(t.title, "Watch list (the first customers only)");
  const auto rows = parse_csv(to_csv(t, "CNY"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"c-1", "gold", "pending downgrade; turning at-risk",
                                               "to silver on 2026-12-31; no order for 120 days"}));
  EXPECT_NE(render_html(overview(), meta(), "", &w).find("id=\"table-watch\""), std::string::npos);
}

TEST(ReportCsv, ChineseHeaders) {
  const auto all = tables(overview(), meta(Lang::kZhCn));
  const auto tiers = parse_csv(to_csv(find(all, "tiers"), "CNY"));
  EXPECT_EQ(tiers[0][1], "客户数");
  const auto region = parse_csv(to_csv(find(all, "breakdown-region"), "CNY"));
  EXPECT_EQ(region[0][0], "地区");
  EXPECT_EQ(region[0][5], "客户数：gold");
}

TEST(ReportCsv, EscapesFields) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\rhere"), "\"cr\rhere\"");
  EXPECT_EQ(csv_field("制造业"), "制造业");
  Table t{"t",
          "t",
          {"name", "n"},
          {{std::string("=HYPERLINK(\"x\")"), std::int64_t{-5}},
           {std::string("Acme, \"Ltd\""), std::int64_t{7}},
           {std::string("+1"), std::int64_t{0}}}};
  const std::string csv = to_csv(t, "CNY");
  EXPECT_EQ(csv.substr(0, 3), "\xEF\xBB\xBF");
  EXPECT_EQ(csv.substr(3), "name,n\r\n\"'=HYPERLINK(\"\"x\"\")\",-5\r\n\"Acme, \"\"Ltd\"\"\",7\r\n'+1,0\r\n");
  const auto rows = parse_csv(csv);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[2][0], "Acme, \"Ltd\"");
}

TEST(ReportCsv, MoneyUsesTheCurrencysDigits) {
  Table t{"t", "t", {"v"}, {{Money{123456}}, {Money{-5}}}};
  EXPECT_EQ(to_csv(t, "CNY").substr(3), "v\r\n1234.56\r\n-0.05\r\n");
  EXPECT_EQ(to_csv(t, "JPY").substr(3), "v\r\n123456\r\n-5\r\n");
  EXPECT_EQ(to_csv(t, "KWD").substr(3), "v\r\n123.456\r\n-0.005\r\n");
}

TEST(ReportChartJs, MissingFileNamesThePath) {
  try {
    (void)load_chart_js("/nonexistent/chart.min.js");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/chart.min.js"), std::string::npos);
  }
}

}  // namespace
}  // namespace tierflow::report
