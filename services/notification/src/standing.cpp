#include "src/standing.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "src/content.h"

namespace tierflow::notification {

v1::CampaignRequest standing_request(const StandingCampaign& c) {
  v1::CampaignRequest r;
  r.set_campaign_id(c.id);
  r.set_kind(c.birthday ? v1::CAMPAIGN_KIND_BIRTHDAY : v1::CAMPAIGN_KIND_HOLIDAY);
  for (const auto& t : c.tiers_from) r.mutable_audience()->add_tiers(t);
  for (int ch : c.channels) r.add_channels(static_cast<v1::Channel>(ch));
  return r;
}

Scheduler::Scheduler(const Config& cfg, const Clock& clock, const Planner& planner)
    : cfg_(cfg), clock_(clock), planner_(planner), store_(cfg.store_path) {
  for (const auto& c : cfg_.standing) {
    CampaignRow row;
    row.campaign_id = c.id;
    row.request = standing_request(c);
    row.state = "standing";
    row.started_unix_s = absl::ToUnixSeconds(clock_.now());
    store_.put_campaign(row);
  }
}

Scheduler::Pass Scheduler::run_once() {
  Pass pass;
  const absl::Time now = clock_.now();
  const auto zones = store_.zones();
  for (const auto& c : cfg_.standing) {
    const v1::CampaignRequest request = standing_request(c);
    for (const auto& zone : zones) {
      absl::TimeZone tz;
      if (!absl::LoadTimeZone(planner_.zone_of(zone), &tz)) continue;
      const absl::CivilSecond local = absl::ToCivilSecond(now, tz);
      const absl::CivilDay today(local);
      const absl::CivilDay eligible = local.hour() >= c.at_hour ? today : today - 1;
      absl::CivilDay last = today - 1;
      if (auto done = store_.last_standing_day(c.id, zone)) {
        absl::ParseCivilTime(*done, &last);
      } else if (eligible < today) {
        continue;  // a new zone: its first day is today, once at_hour comes
      }
      for (absl::CivilDay day = last + 1; day <= eligible; ++day) {
        const bool late = day < today;
        const absl::Time at = std::max(now, absl::FromCivil(absl::CivilHour(day) + c.at_hour, tz));
        auto deliveries = c.birthday ? planner_.plan_birthdays(store_, request, zone, day, late ? now : at)
                                     : planner_.plan_holidays(store_, request, zone, day, late ? now : at);
        int64_t claimed = 0, missed = 0;
        if (late && c.missed == MissedPolicy::kReport) {
          missed = static_cast<int64_t>(deliveries.size());
          if (missed > 0) {
            spdlog::warn("standing campaign {}: {} greetings of {} in zone {} missed (the service was down that day)",
                         c.id, missed, absl::FormatCivilTime(day), planner_.zone_of(zone));
          }
        } else if (!deliveries.empty()) {
          claimed = store_.add_deliveries(deliveries);
        }
        store_.mark_standing_day(c.id, zone, absl::FormatCivilTime(day), claimed, missed);
        pass.claimed += claimed;
        pass.missed += missed;
      }
    }
  }
  return pass;
}

void Scheduler::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    run_once();
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(absl::ToInt64Milliseconds(cfg_.standing_tick));
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

}  // namespace tierflow::notification
