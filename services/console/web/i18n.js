// The console's words in en and zh-CN. The language is the server's choice from
// Accept-Language, given as <html lang>. TF.t(key, vars) looks a key up; TF.translate(root)
// fills every [data-i18n] element under root.
"use strict";
window.TF = window.TF || {};
(function (TF) {
  const words = {
    en: {
      "login.title": "Log in", "login.help": "Paste your access token (call-center, finance or admin).",
      "login.submit": "Log in",
      "login.error.unknown": "This token is not known.", "login.error.expired": "This token has expired.",
      "login.error.role": "This token's role may not use the console (call-center, finance or admin only).",
      "nav.overview": "Overview", "nav.customer": "Customer", "nav.watch": "Watch list", "nav.whatif": "What-if",
      "nav.report": "Report", "nav.logout": "Log out", "asof": "As of", "asof.now": "now", "asof.apply": "Show",
      "overview.title": "Overview", "overview.customers": "Customers", "overview.total_value": "Total value",
      "overview.reach80": "Customers bringing 80% of value", "overview.pending": "Pending downgrades",
      "overview.holds": "Credit holds", "overview.at_risk": "At risk", "overview.tiers": "Tiers",
      "overview.pareto": "Pareto curve", "overview.quadrants": "Four quadrants",
      "overview.breakdowns": "Breakdowns", "overview.clock": "clock", "overview.history": "from history",
      "overview.pareto.curve": "share of value", "overview.pareto.x": "share of customers (best first)",
      "overview.pareto.point": "80/20 point", "overview.cut": "cut",
      "col.tier": "Tier", "col.customers": "Customers", "col.value": "Value", "col.share": "Share of value",
      "col.key": "Class", "col.customer": "Customer", "col.kinds": "Why", "col.reasons": "Details",
      "col.from": "from \\ to", "dim.region": "Region", "dim.industry": "Industry", "dim.lifecycle": "Lifecycle",
      "none": "(none)",
      "customer.title": "Customer", "customer.search": "Search by id or name", "customer.find": "Find",
      "customer.tier": "Tier", "customer.dimensions": "Classes", "customer.explanation": "Explanation",
      "customer.to_keep": "To keep the tier", "customer.to_next": "To reach the next tier",
      "customer.account": "Receivable and ageing", "customer.receivable": "Receivable",
      "customer.history": "Tier changes", "customer.occasions": "Upcoming occasions (the next birthday; holidays within 60 days)",
      "customer.messages": "Messages sent", "customer.profile": "Profile", "customer.override": "Override",
      "customer.none": "none", "customer.pending": "Pending downgrade",
      "override.kind": "Kind", "override.pin": "pin (exactly)", "override.floor": "floor (at least)",
      "override.tier": "Tier", "override.reason": "Reason", "override.expires": "Expires (optional)",
      "override.set": "Set override", "override.clear": "Clear override", "override.done": "Done.",
      "override.current": "Current override",
      "ageing.current": "current", "ageing.d1_30": "1-30 days", "ageing.d31_60": "31-60 days",
      "ageing.d61_90": "61-90 days", "ageing.over_90": "over 90 days",
      "watch.title": "Watch list", "watch.csv": "Download CSV", "watch.count": "customers",
      "watch.pending_downgrade": "downgrade pending", "watch.credit_hold": "credit hold", "watch.at_risk": "at risk",
      "watch.truncated": "More customers match than are shown.",
      "whatif.title": "What-if", "whatif.help": "Paste or upload a candidate standard (YAML).",
      "whatif.run": "Compare", "whatif.file": "Upload", "whatif.matrix": "Migration matrix",
      "whatif.line": "line", "whatif.field": "field", "whatif.samples": "sample customers",
      "whatif.customers": "customers", "whatif.candidate": "candidate",
      "error.forbidden": "Your role may not see this.", "error.generic": "Something went wrong",
    },
    "zh-CN": {
      "login.title": "登录", "login.help": "请粘贴您的访问令牌（客服、财务或管理员）。", "login.submit": "登录",
      "login.error.unknown": "令牌无效。", "login.error.expired": "令牌已过期。",
      "login.error.role": "该令牌的角色不能使用控制台（仅限客服、财务、管理员）。",
      "nav.overview": "总览", "nav.customer": "客户", "nav.watch": "关注名单", "nav.whatif": "假设分析",
      "nav.report": "报告", "nav.logout": "退出", "asof": "截至", "asof.now": "现在", "asof.apply": "查看",
      "overview.title": "总览", "overview.customers": "客户数", "overview.total_value": "总价值",
      "overview.reach80": "贡献80%价值的客户数", "overview.pending": "待降级", "overview.holds": "信用冻结",
      "overview.at_risk": "流失风险", "overview.tiers": "等级", "overview.pareto": "帕累托曲线（二八）",
      "overview.quadrants": "四象限", "overview.breakdowns": "分布", "overview.clock": "时钟",
      "overview.history": "来自历史", "overview.pareto.curve": "价值占比",
      "overview.pareto.x": "客户占比（价值从高到低）", "overview.pareto.point": "二八点", "overview.cut": "分界",
      "col.tier": "等级", "col.customers": "客户数", "col.value": "价值", "col.share": "价值占比",
      "col.key": "类别", "col.customer": "客户", "col.kinds": "原因", "col.reasons": "详情",
      "col.from": "原 \\ 新", "dim.region": "地域", "dim.industry": "行业", "dim.lifecycle": "生命周期",
      "none": "（无）",
      "customer.title": "客户", "customer.search": "按编号或名称搜索", "customer.find": "搜索",
      "customer.tier": "等级", "customer.dimensions": "各维度分类", "customer.explanation": "说明",
      "customer.to_keep": "保级差距", "customer.to_next": "升级差距", "customer.account": "应收与账龄",
      "customer.receivable": "应收", "customer.history": "等级变更", "customer.occasions": "近期日子（下一个生日；60天内的节日）",
      "customer.messages": "已发送消息", "customer.profile": "资料", "customer.override": "人工调整",
      "customer.none": "无", "customer.pending": "待降级",
      "override.kind": "方式", "override.pin": "固定等级", "override.floor": "最低等级", "override.tier": "等级",
      "override.reason": "原因", "override.expires": "到期（可选）", "override.set": "设置调整",
      "override.clear": "取消调整", "override.done": "已完成。", "override.current": "当前调整",
      "ageing.current": "未到期", "ageing.d1_30": "1-30天", "ageing.d31_60": "31-60天", "ageing.d61_90": "61-90天",
      "ageing.over_90": "90天以上",
      "watch.title": "关注名单", "watch.csv": "下载CSV", "watch.count": "位客户",
      "watch.pending_downgrade": "待降级", "watch.credit_hold": "信用冻结", "watch.at_risk": "流失风险",
      "watch.truncated": "匹配的客户多于显示的数量。",
      "whatif.title": "假设分析", "whatif.help": "粘贴或上传候选分类标准（YAML）。", "whatif.run": "比较",
      "whatif.file": "上传", "whatif.matrix": "迁移矩阵", "whatif.line": "行", "whatif.field": "字段",
      "whatif.samples": "示例客户", "whatif.customers": "客户", "whatif.candidate": "候选",
      "error.forbidden": "您的角色无权查看。", "error.generic": "出错了",
    },
  };
  TF.lang = document.documentElement.lang === "zh-CN" ? "zh-CN" : "en";
  TF.t = function (key, vars) {
    let s = (words[TF.lang] && words[TF.lang][key]) || words.en[key] || key;
    if (vars) for (const k of Object.keys(vars)) s = s.replace("{" + k + "}", vars[k]);
    return s;
  };
  TF.translate = function (root) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = TF.t(el.dataset.i18n);
  };
})(window.TF);
