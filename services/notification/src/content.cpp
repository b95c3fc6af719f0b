#include "src/content.h"

#include <algorithm>

#include "src/config.h"

namespace tierflow::notification {

std::optional<int> channel_from_name(std::string_view name) {
  if (name == "email" || name == "smtp" || name == "CHANNEL_EMAIL") return v1::CHANNEL_EMAIL;
  if (name == "sms" || name == "CHANNEL_SMS") return v1::CHANNEL_SMS;
  if (name == "webhook" || name == "CHANNEL_WEBHOOK") return v1::CHANNEL_WEBHOOK;
  if (name == "file" || name == "CHANNEL_FILE") return v1::CHANNEL_FILE;
  return std::nullopt;
}

std::string_view channel_name(int channel) {
  switch (channel) {
    case v1::CHANNEL_EMAIL:
      return "smtp";
    case v1::CHANNEL_SMS:
      return "sms";
    case v1::CHANNEL_WEBHOOK:
      return "webhook";
    case v1::CHANNEL_FILE:
      return "file";
    default:
      return "unspecified";
  }
}

bool channel_configured(const Config& cfg, int channel) {
  switch (channel) {
    case v1::CHANNEL_EMAIL:
      return cfg.smtp.has_value();
    case v1::CHANNEL_SMS:
      return cfg.sms.has_value();
    case v1::CHANNEL_WEBHOOK:
      return cfg.webhook.has_value();
    case v1::CHANNEL_FILE:
      return cfg.file_channel;
    default:
      return false;
  }
}

const std::vector<std::string>& known_placeholders() {
  static const std::vector<std::string> keys{"name", "tier", "previous_tier", "holiday", "benefits", "distance"};
  return keys;
}

std::optional<std::string> unknown_placeholder(const std::string& text) {
  size_t i = 0;
  while ((i = text.find("{{", i)) != std::string::npos) {
    const size_t close = text.find("}}", i + 2);
    if (close == std::string::npos) return text.substr(i);  // "{{" never closed
    std::string key = text.substr(i + 2, close - i - 2);
    const auto& known = known_placeholders();
    if (std::find(known.begin(), known.end(), key) == known.end()) return key;
    i = close + 2;
  }
  return std::nullopt;
}

bool is_marketing(v1::CampaignKind kind) { return kind != v1::CAMPAIGN_KIND_TIER_CHANGE; }

int default_priority(v1::CampaignKind kind) {
  switch (kind) {
    case v1::CAMPAIGN_KIND_TIER_CHANGE:
      return 30;
    case v1::CAMPAIGN_KIND_BIRTHDAY:
      return 20;
    case v1::CAMPAIGN_KIND_HOLIDAY:
    case v1::CAMPAIGN_KIND_RETENTION:
      return 10;
    default:
      return 0;
  }
}

namespace {
v1::Template make(std::string language, std::string tier, std::string subject, std::string body) {
  v1::Template t;
  t.set_language(std::move(language));
  t.set_tier(std::move(tier));
  t.set_subject(std::move(subject));
  t.set_body(std::move(body));
  return t;
}
}  // namespace

std::vector<v1::Template> default_templates(v1::CampaignKind kind) {
  switch (kind) {
    case v1::CAMPAIGN_KIND_BIRTHDAY:
      return {make("zh-CN", "", "生日快乐，{{name}}",
                   "尊敬的{{name}}：祝您生日快乐！感谢您作为我们的{{tier}}客户一路相伴。"),
              make("en", "", "Happy birthday, {{name}}",
                   "Dear {{name}}, happy birthday! Thank you for being our {{tier}} customer.")};
    case v1::CAMPAIGN_KIND_HOLIDAY:
      return {make("zh-CN", "", "{{holiday}}快乐", "尊敬的{{name}}：值此{{holiday}}之际，祝您节日快乐！"),
              make("en", "", "Happy {{holiday}}", "Dear {{name}}, our best wishes for {{holiday}}.")};
    case v1::CAMPAIGN_KIND_RETENTION:
      return {make("zh-CN", "", "我们想念您，{{name}}",
                   "尊敬的{{name}}：好久不见，作为{{tier}}客户，您的专属权益仍在等您。"),
              make("en", "", "We miss you, {{name}}",
                   "Dear {{name}}, it has been a while: as a {{tier}} customer your benefits are waiting.")};
    case v1::CAMPAIGN_KIND_TIER_CHANGE:
      return {make("zh-CN", "", "您的客户等级即将调整", "尊敬的{{name}}：{{distance}}"),
              make("en", "", "Keep your {{tier}} status", "Dear {{name}}, {{distance}}")};
    default:
      return {};
  }
}

const v1::Template* pick_template(const google::protobuf::RepeatedPtrField<v1::Template>& templates,
                                  const std::string& tier, const std::string& language) {
  if (templates.empty()) return nullptr;
  const std::string prefix = language.substr(0, language.find('-'));
  auto lang_score = [&](const std::string& l) -> int {
    if (l.empty()) return 1;
    if (l == language) return 4;
    if (l.substr(0, l.find('-')) == prefix && !prefix.empty()) return 3;
    if (l == "en") return 0;  // the fallback language
    return -1;
  };
  const v1::Template* best = nullptr;
  int best_score = -1000;
  for (const auto& t : templates) {
    const int ls = lang_score(t.language());
    if (!t.tier().empty() && t.tier() != tier) continue;
    const int score = (ls < 0 ? -100 : ls * 10) + (t.tier().empty() ? 0 : 5);
    if (score > best_score) {
      best = &t;
      best_score = score;
    }
  }
  return best ? best : &templates[0];
}

std::string tier_display_name(const std::map<std::string, std::map<std::string, std::string>>& names,
                              const std::string& tier, const std::string& language) {
  auto it = names.find(tier);
  if (it == names.end()) return tier;
  const std::string prefix = language.substr(0, language.find('-'));
  if (auto n = it->second.find(language); n != it->second.end()) return n->second;
  for (const auto& [lang, name] : it->second) {
    if (lang.substr(0, lang.find('-')) == prefix) return name;
  }
  if (auto n = it->second.find("en"); n != it->second.end()) return n->second;
  return tier;
}

}  // namespace tierflow::notification
