// What campaign messages say: templates per kind, tier and language, their placeholders,
// tier display names in the message's language, and the names of channels. Pure.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tierflow/v1/campaign.pb.h"

namespace tierflow::notification {

struct Config;

// "email"/"smtp", "sms", "webhook", "file" <-> v1::Channel.
std::optional<int> channel_from_name(std::string_view name);
std::string_view channel_name(int channel);
bool channel_configured(const Config& cfg, int channel);

// The placeholders a template may use.
const std::vector<std::string>& known_placeholders();
// The first {{placeholder}} in `text` that is not known, or nullopt.
std::optional<std::string> unknown_placeholder(const std::string& text);

// Marketing (needs marketing consent, counts against the cap) or transactional.
bool is_marketing(v1::CampaignKind kind);
int default_priority(v1::CampaignKind kind);

// Built-in templates of a kind (zh-CN and en), used when a request brings none.
std::vector<v1::Template> default_templates(v1::CampaignKind kind);

// The most specific template for a tier and language: language and tier, then language,
// then tier, then any; a language matches exactly or by its prefix ("zh" for "zh-CN");
// when none matches the language, English, then the first. nullptr only when empty.
const v1::Template* pick_template(const google::protobuf::RepeatedPtrField<v1::Template>& templates,
                                  const std::string& tier, const std::string& language);

// The tier's display name in `language` (exact, prefix, "en", then the id itself).
std::string tier_display_name(const std::map<std::string, std::map<std::string, std::string>>& names,
                              const std::string& tier, const std::string& language);

}  // namespace tierflow::notification
