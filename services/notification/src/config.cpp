#include "src/config.h"

#include <absl/time/civil_time.h>

#include <algorithm>

#include "common/config/config.h"
#include "src/content.h"

namespace tierflow::notification {

std::map<std::string, std::map<std::string, std::string>> default_tier_names() {
  // English keeps the tier ids (the messages have always read "You are now gold").
  return {{"prospect", {{"zh-CN", "潜在"}, {"en", "prospect"}}},
          {"bronze", {{"zh-CN", "铜牌"}, {"en", "bronze"}}},
          {"silver", {{"zh-CN", "银牌"}, {"en", "silver"}}},
          {"gold", {{"zh-CN", "金牌"}, {"en", "gold"}}},
          {"diamond", {{"zh-CN", "钻石"}, {"en", "diamond"}}}};
}

namespace {

std::vector<int> read_channels(const config::Section& s, const std::vector<std::string>& fallback, const Config& c,
                               const std::string& file) {
  std::vector<int> out;
  for (const auto& name : s.get_string_list("channels", fallback)) {
    const auto ch = channel_from_name(name);
    if (!ch) throw config::ConfigError(file + ": key '" + s.path() + ".channels': unknown channel '" + name + "'");
    if (!channel_configured(c, *ch)) {
      throw config::ConfigError(file + ": key '" + s.path() + ".channels': channel '" + name +
                                "' has no config under channels");
    }
    out.push_back(*ch);
  }
  return out;
}

}  // namespace

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  const std::string file = loader.file();
  Config c;
  config::read_service(root, "notification", "127.0.0.1:7004", "127.0.0.1:9104", c);
  c.store_path = root.get_string("store_path", c.store_path);
  c.group_id = root.get_string("group_id", c.group_id);
  auto channels = root.section("channels");
  c.file_channel_path = channels.section("file").get_string("path", c.file_channel_path);
  auto tc = root.section("tier_change");
  c.policy.tier_order = tc.get_string_list("tier_order", c.policy.tier_order);
  c.policy.notify_from = tc.get_string("notify_from", c.policy.notify_from);
  c.policy.max_age =
      absl::Seconds(tc.get_int("max_age_s", absl::ToInt64Seconds(c.policy.max_age), 0, INT64_C(1) << 40));
  c.policy.cap_period =
      absl::Seconds(tc.get_int("cap_period_s", absl::ToInt64Seconds(c.policy.cap_period), 0, INT64_C(1) << 40));
  if (c.policy.tier_order.empty())
    throw config::ConfigError(file + ": key 'tier_change.tier_order': must list the tiers, lowest first");
  if (std::find(c.policy.tier_order.begin(), c.policy.tier_order.end(), c.policy.notify_from) ==
      c.policy.tier_order.end()) {
    throw config::ConfigError(file + ": key 'tier_change.notify_from': '" + c.policy.notify_from +
                              "' is not in tier_change.tier_order");
  }
  c.policy.downgrade_warning_tiers = tc.get_string_list("downgrade_warning_tiers", c.policy.downgrade_warning_tiers);
  c.policy.retention_tiers = tc.get_string_list("retention_tiers", c.policy.retention_tiers);

  // Campaign channels: a section with a url enables the channel; secrets from the environment.
  try {
    auto smtp = channels.section("smtp");
    if (std::string url = smtp.get_string("url", ""); !url.empty()) {
      channels::SmtpConfig s;
      s.url = url;
      s.from = smtp.get_string("from", "");
      s.from_name = smtp.get_string("from_name", "");
      s.username = smtp.get_string("username", "");
      s.password = smtp.get_string("password", "");
      s.require_tls = smtp.get_bool("require_tls", false);
      s.connections = static_cast<size_t>(smtp.get_int("connections", 4, 1, 256));
      s.validate();
      c.smtp = s;
    }
    auto sms = channels.section("sms");
    if (std::string url = sms.get_string("url", ""); !url.empty()) {
      channels::HttpSmsConfig s;
      s.url = url;
      s.api_key = sms.get_string("api_key", "");
      s.sender_id = sms.get_string("sender_id", "");
      s.connections = static_cast<size_t>(sms.get_int("connections", 4, 1, 256));
      s.validate();
      c.sms = s;
    }
    auto hook = channels.section("webhook");
    if (std::string url = hook.get_string("url", ""); !url.empty()) {
      channels::WebhookConfig s;
      s.url = url;
      s.secret = hook.get_string("secret", "");
      s.connections = static_cast<size_t>(hook.get_int("connections", 4, 1, 256));
      s.validate();
      c.webhook = s;
    }
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(file + ": key 'channels." + e.what());
  }

  auto rules = root.section("rules");
  c.rules.quiet_start_hour = static_cast<int>(rules.get_int("quiet_start_hour", c.rules.quiet_start_hour, 0, 23));
  c.rules.quiet_end_hour = static_cast<int>(rules.get_int("quiet_end_hour", c.rules.quiet_end_hour, 0, 23));
  c.rules.cap_count = static_cast<int>(rules.get_int("cap_count", c.rules.cap_count, 1, 1000));
  c.rules.cap_period =
      absl::Seconds(rules.get_int("cap_period_s", absl::ToInt64Seconds(c.rules.cap_period), 1, INT64_C(1) << 40));
  c.rules.max_attempts = static_cast<int>(rules.get_int("max_attempts", c.rules.max_attempts, 1, 100));
  c.rules.backoff =
      absl::Milliseconds(rules.get_int("backoff_ms", absl::ToInt64Milliseconds(c.rules.backoff), 1, 3'600'000));
  for (const auto& [ch, rate] : rules.get_string_map("rate_per_s")) {
    if (!channel_from_name(ch))
      throw config::ConfigError(file + ": key 'rules.rate_per_s." + ch + "': unknown channel");
    int v = 0;
    try {
      v = std::stoi(rate);
    } catch (const std::exception&) {
      v = -1;
    }
    if (v < 0) throw config::ConfigError(file + ": key 'rules.rate_per_s." + ch + "': expected a count >= 0");
    c.rules.rate_per_s[std::string(channel_name(*channel_from_name(ch)))] = v;
  }
  c.rules.transactional_quiet_hours = rules.get_bool("transactional_quiet_hours", c.rules.transactional_quiet_hours);
  c.tier_change_channels = read_channels(tc, {}, c, file);
  auto sender = root.section("sender");
  c.sender.threads = static_cast<int>(sender.get_int("threads", c.sender.threads, 1, 256));
  c.sender.batch = static_cast<int>(sender.get_int("batch", c.sender.batch, 1, 10000));
  c.sender.idle_poll = absl::Milliseconds(sender.get_int("idle_poll_ms", 200, 1, 60'000));
  c.campaigns_enabled = root.section("campaigns").get_bool("enabled", true);
  c.holidays_path = root.get_string("holidays_path", "");
  c.default_time_zone = root.get_string("default_time_zone", c.default_time_zone);
  if (absl::TimeZone tz; !absl::LoadTimeZone(c.default_time_zone, &tz)) {
    throw config::ConfigError(file + ": key 'default_time_zone': '" + c.default_time_zone +
                              "' is not an IANA time zone");
  }
  const std::string feb29 = root.get_enum("feb29", "feb28", {"feb28", "mar1"});
  c.feb29 = *calendar::parse_feb29_policy(feb29);
  if (std::string start = root.section("clock").get_string("start", ""); !start.empty()) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, start, &t, &err)) {
      throw config::ConfigError(file + ": key 'clock.start': '" + start + "' is not an RFC 3339 time");
    }
    c.clock_start = t;
  }

  c.tier_names = default_tier_names();
  auto names = root.section("tier_names");
  for (const std::string lang : {"zh-CN", "en"}) {
    for (const auto& [tier, name] : names.get_string_map(lang)) c.tier_names[tier][lang] = name;
  }
  c.policy.tier_names = c.tier_names;

  auto standing = root.section("standing");
  c.standing_tick = absl::Milliseconds(standing.get_int("tick_ms", 30'000, 10, 3'600'000));
  for (const std::string which : {"birthday", "holidays"}) {
    auto s = standing.section(which);
    if (!s.get_bool("enabled", false)) continue;
    StandingCampaign sc;
    sc.birthday = which == "birthday";
    sc.id = s.get_string("id", "standing-" + which);
    sc.at_hour = static_cast<int>(s.get_int("at_hour", 9, 0, 23));
    sc.tiers_from = s.get_string_list("tiers", {});
    sc.channels = read_channels(s, {"file"}, c, file);
    sc.missed = s.get_enum("missed", "catch_up", {"catch_up", "report"}) == "report" ? MissedPolicy::kReport
                                                                                     : MissedPolicy::kCatchUp;
    c.standing.push_back(std::move(sc));
  }
  loader.finish();
  return c;
}

}  // namespace tierflow::notification
