#include "workload.h"

#include <absl/time/civil_time.h>

namespace tierflow::notification::workload {

namespace {
const std::vector<std::string> kZones{"Asia/Shanghai", "Asia/Tokyo",       "Asia/Kolkata",       "Pacific/Auckland",
                                      "Europe/London", "America/New_York", "America/Los_Angeles"};
}

absl::Time now() { return absl::FromCivil(absl::CivilSecond(2026, 6, 15, 6, 0, 0), absl::UTCTimeZone()); }

Population make(int n, const std::string& campaign_id) {
  Population pop;
  for (int i = 0; i < n; ++i) {
    v1::CustomerProfile p;
    const std::string id = "c-" + std::to_string(i);
    p.set_customer_id(id);
    p.set_name("Customer " + std::to_string(i));
    const std::string& zone = kZones[i % kZones.size()];
    p.set_time_zone(zone);
    p.set_language(i % 3 == 0 ? "en" : "zh-CN");
    absl::TimeZone tz;
    absl::LoadTimeZone(zone, &tz);
    const absl::CivilSecond local = absl::ToCivilSecond(now(), tz);
    absl::CivilDay birthday(local);
    const bool not_today = i % 10 == 9;
    if (not_today) birthday += 1;
    p.mutable_birthday()->set_year(1980 + i % 30);
    p.mutable_birthday()->set_month(birthday.month());
    p.mutable_birthday()->set_day(birthday.day());
    const bool email = i % 2 == 0;
    const bool opted_out = i % 20 == 7;
    auto* c = p.add_consents();
    c->set_channel(email ? v1::CHANNEL_EMAIL : v1::CHANNEL_SMS);
    c->set_marketing(!opted_out);
    c->set_transactional(true);
    if (email) {
      p.set_email("customer" + std::to_string(i) + "@example.com");
    } else {
      p.set_phone("+86138" + std::to_string(10000000 + i));
    }
    const bool quiet = local.hour() >= 21 || local.hour() < 8;
    const bool capped = i % 25 == 11;
    if (capped) pop.capped.push_back({id, absl::ToUnixSeconds(now() - absl::Hours(24))});
    if (not_today) {
      ++pop.reasons["not today"];
    } else if (opted_out) {
      ++pop.reasons["opted out"];
    } else if (quiet) {
      ++pop.reasons["quiet hours"];
    } else if (capped) {
      ++pop.reasons["over the cap"];
    } else {
      const std::string key = campaign_id + ":" + id + ":birthday:" + std::to_string(birthday.year());
      (email ? pop.expected_email_keys : pop.expected_sms_keys).insert(key);
    }
    pop.recipients.push_back({p, i % 4 == 0 ? "gold" : "silver", "", "", zone, false});
  }
  return pop;
}

void load(const Population& population, const std::string& path) {
  Store store(path);
  store.put_recipients(population.recipients);
  store.note_marketing_sends(population.capped, "history");
}

Config local_config(const test_support::TempDir& dir, const test_support::SmtpServer& smtp,
                    const test_support::HttpServer& gateway) {
  Config cfg;
  cfg.store_path = dir.file("n.db");
  cfg.file_channel_path = dir.file("messages.jsonl");
  cfg.smtp = channels::SmtpConfig{};
  cfg.smtp->url = smtp.url();
  cfg.smtp->from = "shop@example.com";
  cfg.smtp->connections = 4;
  cfg.sms = channels::HttpSmsConfig{};
  cfg.sms->url = gateway.url() + "/sms";
  cfg.sms->connections = 4;
  cfg.tier_names = default_tier_names();
  return cfg;
}

}  // namespace tierflow::notification::workload
