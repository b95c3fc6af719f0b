// The snapshot clock (issue 10; README "Snapshot clock"): when a customer's snapshot is
// dated, and where a batch must cut a customer's snapshots so that none straddles the end
// of an evaluation day. Internal; pure functions of event times and the zone.
#pragma once

#include <absl/time/time.h>

#include "tierflow/ledger/store.h"

namespace tierflow::ledger {

// Ends of evaluation days in one zone. A day ends at a local midnight, and holds the times
// in (previous midnight, midnight]: a time exactly at midnight belongs to the day that
// ends then, so "the newest snapshot with as_of <= T" is exact for a day end T.
// Thread-compatible: it keeps the last day it computed (batches are mostly in time order).
class DayClock {
 public:
  explicit DayClock(absl::TimeZone zone) : zone_(zone), utc_(zone == absl::UTCTimeZone()) {}

  // The end of the day that holds `t` (unix microseconds, a valid protobuf time).
  Micros day_end(Micros t);

 private:
  absl::TimeZone zone_;
  bool utc_;  // whole days of unix time: no zone lookup
  Micros start_ = 0, end_ = -1;  // the cached day: (start_, end_]
};

// The watermark of a partition whose newest event time is `newest`; kNoEventTime when it
// has seen none.
inline Micros partition_watermark(Micros newest, absl::Duration lateness) {
  return newest == kNoEventTime ? kNoEventTime : newest - absl::ToInt64Microseconds(lateness);
}

}  // namespace tierflow::ledger
