// Standing campaigns from config ("every day at 09:00 in each customer's own zone, greet
// today's birthdays"; "on each holiday, greet gold and above"): a scheduler that claims
// each zone's local day once, when at_hour has come there.
//
// Restarts: the days done are in the store per (campaign, zone). A day whose at_hour
// passed while the service was down is caught up when it comes back the same local day;
// a day missed entirely is caught up late (policy catch_up) or counted as missed with the
// number of customers it would have greeted (policy report: log, metric, GetCampaign's
// `skipped`), never silently. Claims carry the occasion, so a day claimed twice (a crash
// between the claims and the mark) sends nothing twice. A zone seen for the first time
// starts today.
//
// Threading: run() on one thread; it owns its Store.
#pragma once

#include <stop_token>

#include "src/campaigns.h"
#include "src/clock.h"
#include "src/config.h"
#include "src/store.h"

namespace tierflow::notification {

// The CampaignRequest a standing campaign claims under (its id, kind, audience, channels).
v1::CampaignRequest standing_request(const StandingCampaign& campaign);

class Scheduler {
 public:
  Scheduler(const Config& cfg, const Clock& clock, const Planner& planner);
  struct Pass {
    int64_t claimed = 0;
    int64_t missed = 0;
  };
  // One pass over every standing campaign and zone.
  Pass run_once();
  // Passes every standing_tick until stop.
  void run(std::stop_token stop);

 private:
  const Config& cfg_;
  const Clock& clock_;
  const Planner& planner_;
  Store store_;
};

}  // namespace tierflow::notification
