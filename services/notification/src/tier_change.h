// Which tier changes deserve a message, and what it says. Pure: no I/O.
#pragma once

#include <absl/time/time.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  // A safety net, not the rule: backfills and provisional decisions are told apart by
  // their flags (unannounced_reason). This only catches what carries no flag: rows written
  // before classification set TierAssignment.backfill (a replay of old topic data), and a
  // consumer so far behind that the change is news no more. No message for an assignment
  // evaluated longer ago than this.
  absl::Duration max_age = absl::Hours(24 * 7);
  // At most one tier-change message per customer per period, measured on the
  // assignments' evaluation clock (so replays behave as live traffic would).
  absl::Duration cap_period = absl::Hours(24 * 7);
  // By language ("en", "zh-CN"); the language's prefix ("zh") and then "en" are fallbacks.
  std::map<std::string, Template> upgrade_templates;
  // Tier display names by tier, then language ("gold" -> {"zh-CN": "金牌"}); a tier
  // without one reads as its id. The service fills it from config (tier_names).
  std::map<std::string, std::map<std::string, std::string>> tier_names;
  // A downgrade the grace policy announced (TierAssignment.pending_downgrade) is warned
  // about, with the distance to keep the tier, for customers in these tiers.
  std::vector<std::string> downgrade_warning_tiers{"silver", "gold", "diamond"};
  std::map<std::string, Template> downgrade_templates;  // {{tier}}, {{previous_tier}} (the lower one), {{distance}}
  // A customer of these tiers whose RFM segment turns at-risk gets a retention message.
  std::vector<std::string> retention_tiers{"gold", "diamond"};
  std::map<std::string, Template> retention_templates;
};

TierChangePolicy default_policy();

struct Message {
  std::string dedupe_key;  // "tier-upgrade:<customer>:<version>": the same change is never sent twice
  std::string subject;
  std::string body;
};

// Why an assignment is never announced to the customer, by its flags: "backfill" (decided
// from backfilled history: the past is no news), "provisional" (decided between evaluation
// points: only the evaluation point's decision is announced); nullopt for an announceable
// one. Backfill wins when both are set. Every function below returns nullopt for these.
std::optional<std::string_view> unannounced_reason(const v1::TierAssignment& assignment);

// A message when the assignment moves the customer up the order into notify_from or
// above, and was evaluated within max_age of `now`; else nullopt. Tiers not in
// tier_order are never an upgrade (a standard with other names needs the order set).
// The cap is the caller's: it needs the customer's earlier messages.
std::optional<Message> upgrade_message(const TierChangePolicy& policy, const v1::TierAssignment& assignment,
                                       const v1::CustomerProfile* profile, absl::Time now);

// A warning when the assignment announces a pending downgrade of a customer in one of
// downgrade_warning_tiers (within max_age); key "tier-downgrade:<customer>:<to>:<effective unix s>",
// so one announced downgrade is warned about once.
std::optional<Message> downgrade_warning(const TierChangePolicy& policy, const v1::TierAssignment& assignment,
                                         const v1::CustomerProfile* profile, absl::Time now);

// A retention message when a customer of retention_tiers turns at-risk (`was_at_risk`:
// the segment before this assignment); key "tier-retention:<customer>:<version>".
std::optional<Message> retention_message(const TierChangePolicy& policy, const v1::TierAssignment& assignment,
                                         const v1::CustomerProfile* profile, bool was_at_risk, absl::Time now);

// The RFM segment of an assignment ("" when it has none), and whether it means at-risk.
std::string rfm_segment(const v1::TierAssignment& assignment);
bool at_risk_segment(const std::string& segment);

// Replaces {{key}} with values[key]; unknown placeholders stay as they are.
std::string render(const std::string& text, const std::map<std::string, std::string>& values);

}  // namespace tierflow::notification
