#include "src/tier_change.h"

#include <algorithm>

#include "common/time/time.h"
#include "tierflow/v1/customer.pb.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {

TierChangePolicy default_policy() {
  TierChangePolicy p;
  p.upgrade_templates["en"] = {"You are now {{tier}}",
                               "Dear {{name}}, thank you for your business: your account has moved up from "
                               "{{previous_tier}} to {{tier}}, with the prices and service that come with it."};
  p.upgrade_templates["zh"] = {"恭喜您升级为{{tier}}客户",
                               "尊敬的{{name}}：感谢您的支持，您的客户等级已由{{previous_tier}}升级为{{tier}}，"
                               "将享受相应的价格与服务。"};
  p.downgrade_templates["en"] = {"Keep your {{tier}} status",
                                 "Dear {{name}}, your account is due to move from {{tier}} to {{previous_tier}}. "
                                 "To keep {{tier}}: {{distance}}"};
  p.downgrade_templates["zh"] = {
      "您的{{tier}}客户等级即将调整",
      "尊敬的{{name}}：您的客户等级将由{{tier}}调整为{{previous_tier}}。保级还需：{{distance}}"};
  p.retention_templates["en"] = {
      "We miss you, {{name}}", "Dear {{name}}, it has been a while. As a {{tier}} customer your benefits are waiting."};
  p.retention_templates["zh"] = {"{{name}}，我们想念您",
                                 "尊敬的{{name}}：好久不见，作为{{tier}}客户，您的专属权益一直为您保留。"};
  return p;
}

std::string render(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find("{{", i);
    if (open == std::string::npos) break;
    const size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) break;
    out.append(text, i, open - i);
    const std::string key = text.substr(open + 2, close - open - 2);
    auto it = values.find(key);
    out += it != values.end() ? it->second : text.substr(open, close + 2 - open);
    i = close + 2;
  }
  out.append(text, i, std::string::npos);
  return out;
}

namespace {
const Template* pick(const std::map<std::string, Template>& templates, const std::string& language) {
  for (const std::string& lang : {language, language.substr(0, language.find('-')), std::string("en")}) {
    auto it = templates.find(lang);
    if (it != templates.end()) return &it->second;
  }
  return templates.empty() ? nullptr : &templates.begin()->second;
}

std::string display(const TierChangePolicy& policy, const std::string& tier, const std::string& language) {
  auto it = policy.tier_names.find(tier);
  if (it == policy.tier_names.end()) return tier;
  for (const std::string& lang : {language, language.substr(0, language.find('-')), std::string("en")}) {
    if (auto n = it->second.find(lang); n != it->second.end()) return n->second;
    for (const auto& [l, name] : it->second) {
      if (l.substr(0, l.find('-')) == lang) return name;
    }
  }
  return tier;
}

bool listed(const std::vector<std::string>& tiers, const std::string& tier) {
  return std::find(tiers.begin(), tiers.end(), tier) != tiers.end();
}

bool fresh(const TierChangePolicy& policy, const v1::TierAssignment& a, absl::Time now) {
  return !a.has_evaluated_time() || timeutil::from_proto(a.evaluated_time()) >= now - policy.max_age;
}

std::string name_of(const v1::CustomerProfile* profile) {
  return profile && !profile->name().empty() ? profile->name() : "customer";
}
}  // namespace

std::optional<std::string_view> unannounced_reason(const v1::TierAssignment& a) {
  if (a.backfill()) return "backfill";
  if (a.provisional()) return "provisional";
  return std::nullopt;
}

std::optional<Message> upgrade_message(const TierChangePolicy& policy, const v1::TierAssignment& a,
                                       const v1::CustomerProfile* profile, absl::Time now) {
  const auto& order = policy.tier_order;
  if (order.empty() || unannounced_reason(a)) return std::nullopt;
  const auto rank = [&](const std::string& tier) -> int {
    auto it = std::find(order.begin(), order.end(), tier);
    return it == order.end() ? -1 : static_cast<int>(it - order.begin());
  };
  const std::string previous = a.previous_tier().empty() ? order.front() : a.previous_tier();
  const int to = rank(a.tier());
  const int from = rank(previous);
  if (to < 0 || from < 0 || to <= from) return std::nullopt;
  const int floor = rank(policy.notify_from);
  if (floor >= 0 && to < floor) return std::nullopt;
  if (a.has_evaluated_time() && timeutil::from_proto(a.evaluated_time()) < now - policy.max_age) return std::nullopt;
  const std::string language = profile ? profile->language() : "";
  const Template* tpl = pick(policy.upgrade_templates, language);
  if (tpl == nullptr) return std::nullopt;
  const std::map<std::string, std::string> values{{"name", name_of(profile)},
                                                  {"tier", display(policy, a.tier(), language)},
                                                  {"previous_tier", display(policy, previous, language)}};
  return Message{"tier-upgrade:" + a.customer_id() + ":" + std::to_string(a.version()), render(tpl->subject, values),
                 render(tpl->body, values)};
}

std::optional<Message> downgrade_warning(const TierChangePolicy& policy, const v1::TierAssignment& a,
                                         const v1::CustomerProfile* profile, absl::Time now) {
  if (unannounced_reason(a)) return std::nullopt;
  if (!a.has_pending_downgrade() || a.pending_downgrade().to_tier().empty()) return std::nullopt;
  if (!listed(policy.downgrade_warning_tiers, a.tier()) || !fresh(policy, a, now)) return std::nullopt;
  const std::string language = profile ? profile->language() : "";
  const Template* tpl = pick(policy.downgrade_templates, language);
  if (tpl == nullptr) return std::nullopt;
  const auto& pd = a.pending_downgrade();
  std::string distance = a.to_keep().text();
  if (distance.empty()) distance = pd.reason();
  const std::map<std::string, std::string> values{{"name", name_of(profile)},
                                                  {"tier", display(policy, a.tier(), language)},
                                                  {"previous_tier", display(policy, pd.to_tier(), language)},
                                                  {"distance", distance}};
  return Message{
      "tier-downgrade:" + a.customer_id() + ":" + pd.to_tier() + ":" + std::to_string(pd.effective_time().seconds()),
      render(tpl->subject, values), render(tpl->body, values)};
}

std::string rfm_segment(const v1::TierAssignment& a) {
  for (const auto& d : a.dimensions()) {
    if (d.dimension() == "rfm") return d.class_name();
  }
  return "";
}

bool at_risk_segment(const std::string& s) {
  return s == "At Risk" || s == "Can't Lose Them" || s == "About To Sleep" || s == "Hibernating" || s == "at_risk";
}

std::optional<Message> retention_message(const TierChangePolicy& policy, const v1::TierAssignment& a,
                                         const v1::CustomerProfile* profile, bool was_at_risk, absl::Time now) {
  if (unannounced_reason(a) || was_at_risk || !at_risk_segment(rfm_segment(a))) return std::nullopt;
  if (!listed(policy.retention_tiers, a.tier()) || !fresh(policy, a, now)) return std::nullopt;
  const std::string language = profile ? profile->language() : "";
  const Template* tpl = pick(policy.retention_templates, language);
  if (tpl == nullptr) return std::nullopt;
  const std::map<std::string, std::string> values{{"name", name_of(profile)},
                                                  {"tier", display(policy, a.tier(), language)}};
  return Message{"tier-retention:" + a.customer_id() + ":" + std::to_string(a.version()), render(tpl->subject, values),
                 render(tpl->body, values)};
}

}  // namespace tierflow::notification
