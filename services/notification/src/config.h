// The notification service's configuration (deploy/local/notification.yaml; every key
// overridable by TIERFLOW_* variables). load_config() validates everything and throws
// config::ConfigError naming the key; nothing starts on a bad config.
#pragma once

#include <absl/time/time.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config/sections.h"
#include "services/notification/src/calendar/birthday.h"
#include "services/notification/src/channels/http_sms.h"
#include "services/notification/src/channels/smtp.h"
#include "services/notification/src/channels/webhook.h"
#include "src/tier_change.h"

namespace tierflow::notification {

// Rules every campaign send obeys (campaign requests may narrow the quiet hours).
struct SendRules {
  int quiet_start_hour = 21;  // local, in the customer's zone; [start, end) wraps midnight
  int quiet_end_hour = 8;
  // Whether transactional messages (tier changes) wait out the quiet hours too. Off in the
  // local stack and its e2e, which run at any hour and expect the upgrade messages at once.
  bool transactional_quiet_hours = true;
  // At most cap_count marketing messages per customer per cap_period; more are deferred
  // to the next free slot (transactional messages are exempt and do not count).
  int cap_count = 2;
  absl::Duration cap_period = absl::Hours(24 * 7);
  // Per channel ("smtp", "sms", "webhook", "file"): messages per second; 0 = unlimited.
  std::map<std::string, int> rate_per_s;
  int max_attempts = 5;                       // then FAILED and to the DLQ
  absl::Duration backoff = absl::Seconds(2);  // doubled per attempt
  absl::Duration max_backoff = absl::Minutes(10);
};

struct SenderConfig {
  int threads = 8;  // concurrent sends
  int batch = 256;  // deliveries marked in flight per store transaction
  absl::Duration idle_poll = absl::Milliseconds(200);
};

enum class MissedPolicy { kCatchUp, kReport };

// A standing campaign: runs by itself every local day (at_hour in each customer's zone).
struct StandingCampaign {
  std::string id;        // campaign id ("standing-birthday"): part of every dedupe key
  bool birthday = true;  // else holiday
  int at_hour = 9;
  std::vector<std::string> tiers_from;  // audience: these tiers ("gold", "diamond"); empty = all
  std::vector<int> channels;            // v1::Channel values in order of preference
  // A day the service was down for entirely: sent late (catch_up) or counted as missed
  // (report: metric, log, and GetCampaign). A day it comes back on is always caught up.
  MissedPolicy missed = MissedPolicy::kCatchUp;
};

struct Config : config::ServiceConfig {  // kafka, grpc, metrics, log, access, ready_file
  std::string store_path = "notification.db";
  std::string file_channel_path = "messages.jsonl";
  std::string group_id = "notification";
  TierChangePolicy policy = default_policy();

  // Campaign channels; absent ones are nullopt (a campaign naming one is INVALID_ARGUMENT).
  std::optional<channels::SmtpConfig> smtp;
  std::optional<channels::HttpSmsConfig> sms;
  std::optional<channels::WebhookConfig> webhook;
  bool file_channel = true;
  SendRules rules;
  SenderConfig sender;
  std::string holidays_path;
  // The zone of customers whose profile has none (or an invalid one).
  std::string default_time_zone = "Asia/Shanghai";  // the holiday calendar (empty: no holidays)
  calendar::Feb29Policy feb29 = calendar::Feb29Policy::kFeb28;
  std::vector<StandingCampaign> standing;
  absl::Duration standing_tick = absl::Seconds(30);
  // tier -> language -> display name ("gold" -> {"zh-CN": "金卡", "en": "gold"}).
  std::map<std::string, std::map<std::string, std::string>> tier_names;
  // Start the clock at this instant (tests); unset: wall time.
  std::optional<absl::Time> clock_start;
  bool campaigns_enabled = true;  // the scheduler thread (the sender always runs: tier changes)
  // Tier-change messages: v1::Channel values in order of preference (tier_change.channels);
  // empty: every configured channel, e-mail, SMS, webhook, then the file channel.
  std::vector<int> tier_change_channels;
};

Config load_config(const std::string& path);
std::map<std::string, std::map<std::string, std::string>> default_tier_names();

}  // namespace tierflow::notification
