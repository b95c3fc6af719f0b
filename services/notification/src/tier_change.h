// Which tier changes deserve a message, and what it says. Pure: no I/O.
#pragma once

#include <absl/time/time.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tierflow::v1 {
class TierAssignment;
class CustomerProfile;
}  // namespace tierflow::v1

namespace tierflow::notification {

struct Template {
  std::string subject;
  std::string body;  // placeholders: {{name}}, {{tier}}, {{previous_tier}}
};

struct TierChangePolicy {
  // Lowest first. A customer seen for the first time counts as coming from the lowest.
  std::vector<std::string> tier_order{"prospect", "bronze", "silver", "gold", "diamond"};
  // Upgrades into this tier or above are congratulated; below it they pass silently
  // (every first purchase makes a prospect bronze: that is no news to the customer).
  std::string notify_from = "silver";
  // An assignment evaluated longer ago than this (a replay of history, a consumer far
  // behind) is news no more: no message.
  absl::Duration max_age = absl::Hours(24 * 7);
  // At most one tier-change message per customer per period, measured on the
  // assignments' evaluation clock (so replays behave as live traffic would).
  absl::Duration cap_period = absl::Hours(24 * 7);
  // By language ("en", "zh-CN"); the language's prefix ("zh") and then "en" are fallbacks.
  std::map<std::string, Template> upgrade_templates;
};

TierChangePolicy default_policy();

struct Message {
  std::string dedupe_key;  // "tier-upgrade:<customer>:<version>": the same change is never sent twice
  std::string subject;
  std::string body;
};

// A message when the assignment moves the customer up the order into notify_from or
// above, and was evaluated within max_age of `now`; else nullopt. Tiers not in
// tier_order are never an upgrade (a standard with other names needs the order set).
// The cap is the caller's: it needs the customer's earlier messages.
std::optional<Message> upgrade_message(const TierChangePolicy& policy, const v1::TierAssignment& assignment,
                                       const v1::CustomerProfile* profile, absl::Time now);

// Replaces {{key}} with values[key]; unknown placeholders stay as they are.
std::string render(const std::string& text, const std::map<std::string, std::string>& values);

}  // namespace tierflow::notification
