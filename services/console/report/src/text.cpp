#include "text.h"

#include <array>
#include <cstdio>
#include <ctime>
#include <utility>

#include "common/json/json.h"
#include "common/money/money.h"

namespace tierflow::report::detail {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 60> kZh = {{
    {"Customer tiers: overview", "客户分级概览"},
    {"as of", "截至"},
    {"now", "当前"},
    {"clock", "时钟"},
    {"generated", "生成时间"},
    {"standard", "分类标准"},
    {"Summary", "摘要"},
    {"figure", "指标"},
    {"value", "数值"},
    {"customers", "客户数"},
    {"total value", "总价值"},
    {"currency", "币种"},
    {"customers bringing 80% of value", "贡献 80% 价值的客户数"},
    {"share of customers bringing 80% of value", "贡献 80% 价值的客户占比"},
    {"Customers and value per tier", "各等级客户数与价值"},
    {"tier", "等级"},
    {"customer share", "客户占比"},
    {"value share", "价值占比"},
    {"Classes per dimension", "各维度分类"},
    {"dimension", "维度"},
    {"class", "类别"},
    {"Pareto curve", "帕累托曲线"},
    {"top customers", "前列客户占比"},
    {"Customers needed to reach a share of value", "达到价值占比所需客户数"},
    {"share of value", "价值占比"},
    {"Value of the top customers", "头部客户价值"},
    {"top N", "前 N 名"},
    {"80/20 point", "80/20 点"},
    {"A/B/C cuts", "A/B/C 分界"},
    {"Value share of the top customers", "头部客户的价值占比"},
    {"share of customers (best first)", "客户占比（按价值从高到低）"},
    {"Customers per tier", "各等级客户数"},
    {"Quadrants", "四象限"},
    {"quadrant", "象限"},
    {"tenure", "合作年限"},
    {"size or value", "规模或价值"},
    {"strategy", "策略"},
    {"Breakdown by", "分布："},
    {"key", "取值"},
    {"Watch", "关注"},
    {"pending downgrades", "待降级客户"},
    {"credit holds", "信用冻结客户"},
    {"turning at-risk", "转为流失风险的客户"},
    {"(none)", "（空）"},
    {"region", "地区"},
    {"industry", "行业"},
    {"lifecycle", "生命周期"},
    {"A/B/C value cuts", "A/B/C 价值分界"},
    {"cumulative customers", "累计客户数"},
    {"cumulative customer share", "累计客户占比"},
    {"cumulative value share", "累计价值占比"},
    {"customers in", "客户数："},
    {"evaluated", "评估时间"},
    {"Watch list", "关注名单"},
    {" (the first customers only)", "（仅列出前若干名客户）"},
    {"customer", "客户"},
    {"why", "原因类别"},
    {"reason", "说明"},
    {"pending downgrade", "待降级"},
    {"credit hold", "信用冻结"},
}};

}  // namespace

std::string_view tr(Lang lang, std::string_view en) {
  if (lang == Lang::kEn) return en;
  for (const auto& [k, zh] : kZh) {
    if (k == en) return zh;
  }
  return en;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string js_string(std::string_view text) { return json_quote(text, JsonEmbed::html_script); }

std::string plain_major(std::int64_t minor, std::string_view currency) {
  // money::format groups thousands and appends the code; the CSV wants neither.
  std::string grouped = money::format(minor, currency);
  std::string out;
  for (char c : grouped) {
    if (c == ' ') break;
    if (c != ',') out += c;
  }
  return out;
}

std::string as_of_text(const v1::Overview& o, const Meta& meta) {
  if (!meta.as_of.empty()) return meta.as_of;
  if (!o.has_as_of()) return std::string(tr(meta.lang, "now"));
  const std::time_t t = static_cast<std::time_t>(o.as_of().seconds());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

const v1::ValueReach* reach_80(const v1::Distribution& d) {
  for (const auto& r : d.reach()) {
    if (r.value_share() > 0.7999 && r.value_share() < 0.8001) return &r;
  }
  return nullptr;
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100.0);
  return buf;
}

}  // namespace tierflow::report::detail
