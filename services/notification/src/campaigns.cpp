#include "src/campaigns.h"

#include <absl/strings/str_format.h>

#include <google/protobuf/unknown_field_set.h>

#include <set>

#include "common/errors/errors.h"
#include "common/time/time.h"
#include "services/notification/src/calendar/birthday.h"
#include "services/notification/src/calendar/lunar.h"
#include "src/content.h"
#include "src/tier_change.h"

namespace tierflow::notification {

bool consents(const v1::CustomerProfile& p, int channel, bool marketing) {
  bool any = false;
  for (const auto& c : p.consents()) {
    const bool yes = marketing ? c.marketing() : c.transactional();
    if (c.channel() == channel) return yes;
    if (channel == v1::CHANNEL_FILE && yes) any = true;
  }
  if (channel == v1::CHANNEL_FILE && !p.consents().empty()) return any;
  return !marketing;
}

std::string contact_of(const v1::CustomerProfile& p, int channel) {
  switch (channel) {
    case v1::CHANNEL_EMAIL:
      return p.email();
    case v1::CHANNEL_SMS:
      return p.phone();
    case v1::CHANNEL_WEBHOOK:
      return p.webhook_url();
    default:
      return "";
  }
}

bool reachable(const v1::CustomerProfile& p, int channel) {
  return channel == v1::CHANNEL_FILE || channel == v1::CHANNEL_WEBHOOK || !contact_of(p, channel).empty();
}

int campaign_priority(const v1::CampaignRequest& r) {
  return r.priority() != 0 ? r.priority() : default_priority(r.kind());
}

void Planner::validate(const v1::CampaignRequest& r, absl::Time now) const {
  using errors::InvalidArgument;
  if (r.campaign_id().empty()) throw InvalidArgument("campaign_id: required (it is the campaign's idempotency key)");
  if (r.campaign_id().find(':') != std::string::npos) throw InvalidArgument("campaign_id: must not contain ':'");
  // A field this service does not know (a newer client's audience filter) would be
  // silently ignored and widen the audience: refuse it.
  for (const auto& [name, msg] : {std::pair<std::string, const google::protobuf::Message*>{"", &r},
                                  std::pair<std::string, const google::protobuf::Message*>{"audience.", &r.audience()},
                                  std::pair<std::string, const google::protobuf::Message*>{"window.", &r.window()}}) {
    const auto& unknown = msg->GetReflection()->GetUnknownFields(*msg);
    if (!unknown.empty()) {
      throw InvalidArgument(absl::StrFormat("%sfield %d: unknown to this service", name, unknown.field(0).number()));
    }
  }
  if (r.kind() == v1::CAMPAIGN_KIND_UNSPECIFIED || !v1::CampaignKind_IsValid(r.kind())) {
    throw InvalidArgument("kind: required (BIRTHDAY, HOLIDAY, TIER_CHANGE, RETENTION or CUSTOM)");
  }
  if (r.kind() == v1::CAMPAIGN_KIND_HOLIDAY) {
    if (r.holiday().empty()) throw InvalidArgument("holiday: required for a HOLIDAY campaign");
    if (holidays_.find(r.holiday()) == nullptr)
      throw InvalidArgument("holiday: '" + r.holiday() + "' is not in the holiday calendar");
  } else if (!r.holiday().empty()) {
    throw InvalidArgument("holiday: only for a HOLIDAY campaign");
  }
  if (r.kind() == v1::CAMPAIGN_KIND_CUSTOM && r.templates().empty()) {
    throw InvalidArgument("templates: a CUSTOM campaign needs at least one");
  }
  for (int i = 0; i < r.templates_size(); ++i) {
    const auto& t = r.templates(i);
    for (const auto& [field, text] : {std::pair{"subject", &t.subject()}, std::pair{"body", &t.body()}}) {
      if (auto bad = unknown_placeholder(*text)) {
        throw InvalidArgument(absl::StrFormat("templates[%d].%s: unknown placeholder {{%s}}", i, field, *bad));
      }
    }
    if (t.body().empty()) throw InvalidArgument(absl::StrFormat("templates[%d].body: required", i));
  }
  if (r.channels().empty()) throw InvalidArgument("channels: name at least one, in order of preference");
  for (int i = 0; i < r.channels_size(); ++i) {
    const int ch = r.channels(i);
    if (ch == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(ch))
      throw InvalidArgument(absl::StrFormat("channels[%d]: unknown channel", i));
    if (!channel_configured(cfg_, ch)) {
      throw InvalidArgument(absl::StrFormat("channels[%d]: %s has no config in this service", i, channel_name(ch)));
    }
  }
  const auto& w = r.window();
  for (const auto& [field, hour] : {std::pair{"window.quiet_start_hour", w.quiet_start_hour()},
                                    std::pair{"window.quiet_end_hour", w.quiet_end_hour()}}) {
    if (hour < 0 || hour > 23) throw InvalidArgument(std::string(field) + ": an hour 0..23");
  }
  if (w.has_not_after()) {
    const absl::Time end = timeutil::from_proto(w.not_after());
    if (w.has_not_before() && end <= timeutil::from_proto(w.not_before())) {
      throw InvalidArgument("window.not_after: must be after window.not_before");
    }
    if (end <= now) throw InvalidArgument("window.not_after: has passed");
  }
  const auto& a = r.audience();
  for (int i = 0; i < a.lifecycle_size(); ++i) {
    static const std::set<std::string> known{"new", "active", "at_risk", "churned"};
    if (!known.count(a.lifecycle(i))) {
      throw InvalidArgument(
          absl::StrFormat("audience.lifecycle[%d]: '%s' is not new, active, at_risk or churned", i, a.lifecycle(i)));
    }
  }
  for (int i = 0; i < a.tiers_size(); ++i) {
    if (cfg_.tier_names.count(a.tiers(i)) == 0 &&
        std::find(cfg_.policy.tier_order.begin(), cfg_.policy.tier_order.end(), a.tiers(i)) ==
            cfg_.policy.tier_order.end()) {
      throw InvalidArgument(absl::StrFormat("audience.tiers[%d]: unknown tier '%s'", i, a.tiers(i)));
    }
  }
}

AudienceQuery Planner::query_of(const v1::Audience& a) const {
  AudienceQuery q;
  q.tiers.assign(a.tiers().begin(), a.tiers().end());
  q.segments.assign(a.segments().begin(), a.segments().end());
  q.regions.assign(a.regions().begin(), a.regions().end());
  q.lifecycle.assign(a.lifecycle().begin(), a.lifecycle().end());
  q.customer_ids.assign(a.customer_ids().begin(), a.customer_ids().end());
  return q;
}

QueuedDelivery Planner::make(const v1::CampaignRequest& r, const Recipient& rec, const std::string& occasion,
                             const std::string& holiday_id, absl::Time due) const {
  const auto& p = rec.profile;
  const bool marketing = is_marketing(r.kind());
  QueuedDelivery q;
  q.priority = campaign_priority(r);
  q.marketing = marketing;
  v1::Delivery& d = q.record;
  d.set_campaign_id(r.campaign_id());
  d.set_customer_id(p.customer_id());
  d.set_occasion(occasion);
  d.set_dedupe_key(r.campaign_id() + ":" + p.customer_id() + ":" + occasion);
  const std::string language = p.language().empty() ? "zh-CN" : p.language();
  d.set_language(language);
  timeutil::to_proto(due, d.mutable_due_time());
  timeutil::to_proto(due, d.mutable_claimed_time());
  // The first channel with a contact and consent; else the first with a contact, which
  // the sender skips for want of consent (consent is decided at send time, and the
  // skip is an outcome published like any other).
  int channel = v1::CHANNEL_UNSPECIFIED;
  for (int ch : r.channels()) {
    if (reachable(p, ch) && consents(p, ch, marketing)) {
      channel = ch;
      break;
    }
  }
  for (int ch : r.channels()) {
    if (channel == v1::CHANNEL_UNSPECIFIED && reachable(p, ch)) channel = ch;
  }
  if (channel == v1::CHANNEL_UNSPECIFIED) {
    d.set_status(v1::DELIVERY_STATUS_SKIPPED);
    d.set_error("no contact on the campaign's channels");
    if (!r.channels().empty()) d.set_channel(static_cast<v1::Channel>(r.channels(0)));
    return q;
  }
  d.set_channel(static_cast<v1::Channel>(channel));
  d.set_status(v1::DELIVERY_STATUS_CLAIMED);
  std::vector<v1::Template> defaults;
  const google::protobuf::RepeatedPtrField<v1::Template>* templates = &r.templates();
  google::protobuf::RepeatedPtrField<v1::Template> owned;
  if (templates->empty()) {
    for (auto& t : default_templates(r.kind())) *owned.Add() = std::move(t);
    templates = &owned;
  }
  const v1::Template* t = pick_template(*templates, rec.tier, language);
  std::map<std::string, std::string> values{
      {"name", p.name().empty() ? (language.rfind("zh", 0) == 0 ? "客户" : "customer") : p.name()},
      {"tier", tier_display_name(cfg_.tier_names, rec.tier, language)},
      {"previous_tier", ""},
      {"benefits", ""},
      {"distance", ""},
      {"holiday", ""}};
  if (!holiday_id.empty()) {
    if (const auto* h = holidays_.find(holiday_id)) values["holiday"] = h->name(language);
  }
  if (t != nullptr) {
    d.set_subject(render(t->subject(), values));
    d.set_body(render(t->body(), values));
  }
  return q;
}

std::vector<QueuedDelivery> Planner::plan_birthdays(Store& store, const v1::CampaignRequest& r, const std::string& zone,
                                                    absl::CivilDay day, absl::Time due) const {
  AudienceQuery q = query_of(r.audience());
  q.zone = zone;
  for (const auto& b : calendar::solar_birthdays_on(day, cfg_.feb29)) q.birthdays_mmdd.push_back(b.month * 100 + b.day);
  for (const auto& l : calendar::lunar_birthdays_on(day))
    q.lunar_birthdays.push_back(lunar_key(l.month, l.day, l.leap));
  std::vector<QueuedDelivery> out;
  for (const auto& rec : store.audience(q)) {
    std::string occasion;
    const auto& p = rec.profile;
    if (p.has_lunar_birthday() && p.lunar_birthday().month() > 0) {
      const calendar::LunarDate ld{p.lunar_birthday().month(), p.lunar_birthday().day(),
                                   p.lunar_birthday().leap_month()};
      auto year = calendar::lunar_birthday_due(ld, day);
      if (!year) continue;
      occasion = "lunar-birthday:" + std::to_string(*year);
    } else {
      occasion = "birthday:" + std::to_string(day.year());
    }
    out.push_back(make(r, rec, occasion, "", due));
  }
  return out;
}

std::vector<QueuedDelivery> Planner::plan_holidays(Store& store, const v1::CampaignRequest& r, const std::string& zone,
                                                   absl::CivilDay day, absl::Time due) const {
  std::vector<QueuedDelivery> out;
  for (const auto* h : holidays_.holidays_on(day)) {
    if (!r.holiday().empty() && h->id != r.holiday()) continue;
    AudienceQuery q = query_of(r.audience());
    q.zone = zone;
    for (const auto& rec : store.audience(q)) {
      out.push_back(make(r, rec, "holiday:" + h->id + ":" + std::to_string(day.year()), h->id, due));
    }
  }
  return out;
}

std::vector<QueuedDelivery> Planner::plan(Store& store, const v1::CampaignRequest& r, absl::Time now) const {
  absl::Time due = now;
  if (r.window().has_not_before()) due = std::max(due, timeutil::from_proto(r.window().not_before()));
  std::vector<QueuedDelivery> out;
  if (r.kind() == v1::CAMPAIGN_KIND_BIRTHDAY || r.kind() == v1::CAMPAIGN_KIND_HOLIDAY) {
    std::set<std::string> zones;
    for (const auto& z : store.zones()) zones.insert(z);
    for (const auto& z : zones) {
      absl::TimeZone tz;
      absl::LoadTimeZone(zone_of(z), &tz);
      const absl::CivilDay today = absl::ToCivilDay(now, tz);
      std::vector<QueuedDelivery> part;
      if (r.kind() == v1::CAMPAIGN_KIND_BIRTHDAY) {
        part = plan_birthdays(store, r, z, today, due);
      } else {
        // The holiday's next date in the customer's zone, this year or next.
        const auto* h = holidays_.find(r.holiday());
        for (int y : {static_cast<int>(today.year()), static_cast<int>(today.year()) + 1}) {
          bool found = false;
          for (const auto& d : holidays_.dates_of(*h, y)) {
            if (d < today) continue;
            const absl::Time at = std::max(due, absl::FromCivil(absl::CivilHour(d) + cfg_.rules.quiet_end_hour, tz));
            part = plan_holidays(store, r, z, d, at);
            found = true;
            break;
          }
          if (found) break;
        }
      }
      for (auto& d : part) out.push_back(std::move(d));
    }
    return out;
  }
  const std::string occasion_kind = r.kind() == v1::CAMPAIGN_KIND_RETENTION     ? "retention"
                                    : r.kind() == v1::CAMPAIGN_KIND_TIER_CHANGE ? "tier-change"
                                                                                : "custom";
  for (const auto& rec : store.audience(query_of(r.audience()))) {
    out.push_back(make(r, rec, occasion_kind + ":" + r.campaign_id(), "", due));
  }
  return out;
}

}  // namespace tierflow::notification
