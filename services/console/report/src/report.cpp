#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tierflow/report/report.h"

namespace tierflow::report {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

void replace_all(std::string& s, std::string_view from, std::string_view to, std::size_t begin, std::size_t end) {
  for (std::size_t at = s.find(from, begin); at != std::string::npos && at < end; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
    end = end - from.size() + to.size();
  }
}

// The value of an attribute starting at `at` (just after '='): quoted or bare.
std::string_view attr_value(std::string_view html, std::size_t at) {
  while (at < html.size() && std::isspace(static_cast<unsigned char>(html[at]))) ++at;
  if (at >= html.size()) return {};
  if (html[at] == '"' || html[at] == '\'') {
    const std::size_t end = html.find(html[at], at + 1);
    return html.substr(at + 1, end == std::string_view::npos ? std::string_view::npos : end - at - 1);
  }
  std::size_t end = at;
  while (end < html.size() && !std::isspace(static_cast<unsigned char>(html[end])) && html[end] != '>') ++end;
  return html.substr(at, end - at);
}

}  // namespace

Lang lang_from(std::string_view tag) {
  // The first language range of a header, or the whole tag.
  const std::size_t end = tag.find_first_of(",;");
  const std::string first = lower(tag.substr(0, end));
  std::size_t b = first.find_first_not_of(' ');
  if (b == std::string::npos) return Lang::kEn;
  return first.compare(b, 2, "zh") == 0 ? Lang::kZhCn : Lang::kEn;
}

std::string_view lang_tag(Lang lang) { return lang == Lang::kZhCn ? "zh-CN" : "en"; }

std::string load_chart_js(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read Chart.js at " + path + " (Debian package libjs-chart.js)");
  std::ostringstream text;
  text << in.rdbuf();
  std::string js = text.str();
  if (js.empty()) throw std::runtime_error("Chart.js at " + path + " is empty");
  // Licence banners (/*! ... */) stay, with their links written as host names.
  for (std::size_t at = js.find("/*!"); at != std::string::npos; at = js.find("/*!", at + 3)) {
    const std::size_t end = js.find("*/", at);
    if (end == std::string::npos) break;
    replace_all(js, "https://", "", at, end);
    replace_all(js, "http://", "", at, js.find("*/", at));
  }
  // A literal "</script" would end the inline element early.
  for (std::size_t at = js.find("</script"); at != std::string::npos; at = js.find("</script", at + 2)) {
    js.replace(at, 2, "<\\/");
  }
  return js;
}

std::vector<std::string> external_references(std::string_view html) {
  std::vector<std::string> found;
  const std::string low = lower(html);
  auto snippet = [&](std::size_t at) { return std::string(html.substr(at, 80)); };
  for (std::string_view scheme : {"http://", "https://"}) {
    for (std::size_t at = low.find(scheme); at != std::string::npos; at = low.find(scheme, at + 1)) {
      found.push_back(snippet(at));
    }
  }
  for (std::string_view attr : {"src", "href", "action", "poster", "srcset", "xlink:href"}) {
    for (std::size_t at = low.find(attr); at != std::string::npos; at = low.find(attr, at + 1)) {
      if (at == 0 || !std::isspace(static_cast<unsigned char>(low[at - 1]))) continue;
      std::size_t eq = at + attr.size();
      while (eq < low.size() && std::isspace(static_cast<unsigned char>(low[eq]))) ++eq;
      if (eq >= low.size() || low[eq] != '=') continue;
      if (attr_value(html, eq + 1).find("//") != std::string_view::npos) found.push_back(snippet(at));
    }
  }
  for (std::size_t at = low.find("url("); at != std::string::npos; at = low.find("url(", at + 1)) {
    const std::size_t end = low.find(')', at);
    if (low.substr(at, end == std::string::npos ? std::string::npos : end - at).find("//") != std::string::npos) {
      found.push_back(snippet(at));
    }
  }
  return found;
}

}  // namespace tierflow::report
