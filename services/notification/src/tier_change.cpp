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
const Template* pick(const TierChangePolicy& policy, const std::string& language) {
  for (const std::string& lang : {language, language.substr(0, language.find('-')), std::string("en")}) {
    auto it = policy.upgrade_templates.find(lang);
    if (it != policy.upgrade_templates.end()) return &it->second;
  }
  return policy.upgrade_templates.empty() ? nullptr : &policy.upgrade_templates.begin()->second;
}
}  // namespace

std::optional<Message> upgrade_message(const TierChangePolicy& policy, const v1::TierAssignment& a,
                                       const v1::CustomerProfile* profile, absl::Time now) {
  const auto& order = policy.tier_order;
  if (order.empty()) return std::nullopt;
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
  const Template* tpl = pick(policy, profile ? profile->language() : "");
  if (tpl == nullptr) return std::nullopt;
  const std::map<std::string, std::string> values{
      {"name", profile && !profile->name().empty() ? profile->name() : "customer"},
      {"tier", a.tier()},
      {"previous_tier", previous}};
  return Message{"tier-upgrade:" + a.customer_id() + ":" + std::to_string(a.version()), render(tpl->subject, values),
                 render(tpl->body, values)};
}

}  // namespace tierflow::notification
