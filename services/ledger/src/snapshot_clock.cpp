#include "snapshot_clock.h"

#include <absl/time/civil_time.h>

namespace tierflow::ledger {

Micros DayClock::day_end(Micros t) {
  if (start_ < t && t <= end_) return end_;
  if (utc_) {
    constexpr Micros kDayMicros = 86'400'000'000;
    Micros q = t / kDayMicros;
    if (q * kDayMicros > t) --q;  // floor for times before 1970
    end_ = q * kDayMicros == t ? t : (q + 1) * kDayMicros;
    start_ = end_ - kDayMicros;
    return end_;
  }
  const absl::Time at = absl::FromUnixMicros(t);
  const absl::CivilDay day = absl::ToCivilDay(at, zone_);
  const absl::Time midnight = absl::FromCivil(day, zone_);
  if (midnight >= at) {
    // At the midnight itself (or, in a zone that skips its midnight, before the day's first
    // instant): the day that ends here.
    start_ = absl::ToUnixMicros(absl::FromCivil(day - 1, zone_));
    end_ = absl::ToUnixMicros(midnight);
  } else {
    start_ = absl::ToUnixMicros(midnight);
    end_ = absl::ToUnixMicros(absl::FromCivil(day + 1, zone_));
  }
  return end_;
}

}  // namespace tierflow::ledger
