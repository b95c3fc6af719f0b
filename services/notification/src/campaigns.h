// Campaign planning: validates a CampaignRequest (every error names the field, before
// anything is claimed), resolves its audience from the directory, picks each customer's
// channel (the first of the request's, in order, with a contact and consent for the
// purpose), renders the message and builds the queued deliveries with their dedupe key
// "<campaign>:<customer>:<occasion>". Pure over the store it is given; no sending.
//
// Occasions (one per customer however many campaigns ask): birthday:<year>,
// lunar-birthday:<lunar year>, holiday:<id>:<year>; retention, tier-change and custom
// campaigns are their own occasion (<kind>:<campaign>).
//
// Threading: const methods are thread-safe; each caller passes its own Store.
#pragma once

#include <absl/time/civil_time.h>
#include <absl/time/time.h>

#include <string>
#include <vector>

#include "services/notification/src/calendar/holidays.h"
#include "src/config.h"
#include "src/store.h"
#include "tierflow/v1/campaign.pb.h"

namespace tierflow::notification {

class Planner {
 public:
  Planner(const Config& cfg, const calendar::HolidayCalendar& holidays) : cfg_(cfg), holidays_(holidays) {}

  // Throws errors::InvalidArgument naming the field: unknown kind, holiday, channel or a
  // channel without config, a template's unknown placeholder, an hour outside 0..23, a
  // window that ends before it starts or has passed.
  void validate(const v1::CampaignRequest& request, absl::Time now) const;

  // Every delivery of the request as of `now` (birthdays: today's, in each customer's own
  // zone; holidays: the holiday must fall on the customer's local today or later this year).
  std::vector<QueuedDelivery> plan(Store& store, const v1::CampaignRequest& request, absl::Time now) const;

  // A birthday campaign's deliveries for customers in `zone` whose birthday is greeted on
  // `local_day`, due at `due` (standing campaigns).
  std::vector<QueuedDelivery> plan_birthdays(Store& store, const v1::CampaignRequest& request, const std::string& zone,
                                             absl::CivilDay local_day, absl::Time due) const;
  // A holiday campaign's deliveries for `zone` on `local_day` (every holiday falling on it).
  std::vector<QueuedDelivery> plan_holidays(Store& store, const v1::CampaignRequest& request, const std::string& zone,
                                            absl::CivilDay local_day, absl::Time due) const;

  // The directory's zone for a customer ("" -> the default zone).
  std::string zone_of(const std::string& zone) const { return zone.empty() ? cfg_.default_time_zone : zone; }

 private:
  QueuedDelivery make(const v1::CampaignRequest& request, const Recipient& r, const std::string& occasion,
                      const std::string& holiday_id, absl::Time due) const;
  AudienceQuery query_of(const v1::Audience& audience) const;

  const Config& cfg_;
  const calendar::HolidayCalendar& holidays_;
};

// The request's channel preference, or the kind's default when it names none.
int campaign_priority(const v1::CampaignRequest& request);

}  // namespace tierflow::notification

namespace tierflow::notification {
// Consent of the customer for a channel and purpose. Marketing needs an explicit yes;
// transactional is allowed unless explicitly refused. The file channel (the local
// stack's outbox) stands for every channel: it follows the customer's e-mail and SMS
// consents (any yes).
bool consents(const v1::CustomerProfile& profile, int channel, bool marketing);
// The address for a channel ("" when the customer has none; webhooks and the file need none).
std::string contact_of(const v1::CustomerProfile& profile, int channel);
bool reachable(const v1::CustomerProfile& profile, int channel);
}  // namespace tierflow::notification
