// New moons by Meeus, "Astronomical Algorithms" (2nd ed.), chapter 49 (the periodic terms
// of table 49.A and the 14 planetary arguments; error under a minute for 1900-2100), with
// ΔT (TT - UT) taken as 69 s. lunar.cpp uses it to re-time ICU's month boundaries: ICU's
// own astronomer is low-precision and misplaces new moons that fall within minutes of
// midnight in China (2027-02-06 23:56 and 2030-02-03 00:07 CST, for two), which moves
// 春节 2027 and 2030 by a day.
//
// Threading: pure functions.
#pragma once

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace tierflow::notification::calendar {

// The instant of the new moon nearest to `t`.
absl::Time nearest_new_moon(absl::Time t);

// The civil date, in China Standard Time (UTC+8), of the new moon nearest to `day`.
absl::CivilDay new_moon_day_cst(absl::CivilDay day);

}  // namespace tierflow::notification::calendar
