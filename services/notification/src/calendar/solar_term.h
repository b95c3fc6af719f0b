// The 24 solar terms (二十四节气), e.g. 清明 (qingming), for the holiday calendar.
//
// ICU computes solar terms inside its Chinese calendar but has no public C++ API for them,
// so the date is computed here: the sun's apparent geocentric longitude by the
// low-precision formula of Meeus, "Astronomical Algorithms" (2nd ed.), chapter 25 (mean
// longitude, equation of the centre, nutation and aberration; error about 0.01 degree, a
// quarter of an hour of the sun's motion), with ΔT (TT - UT) taken as 69 s. A term begins
// when that longitude reaches its multiple of 15 degrees (清明: 15 degrees); its date is the
// civil date of that instant in China Standard Time (UTC+8), as the published calendar
// gives it. A term within a quarter of an hour of midnight could land on the neighbouring
// day; none does in 2024-2035 (the test checks 清明).
//
// Threading: pure functions. Errors: none (unknown names are nullopt).
#pragma once

#include <optional>
#include <string_view>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace tierflow::notification::calendar {

// The ecliptic longitude in degrees (0 = 春分 ... 345 = 惊蛰) at which a term begins, by its
// pinyin name without tones or spaces ("qingming", "dongzhi", "lichun"); nullopt if none.
std::optional<int> solar_term_longitude(std::string_view name);

// The sun's apparent longitude in degrees [0, 360) at an instant.
double sun_apparent_longitude(absl::Time t);

// The instant in `year` (Gregorian) at which the sun reaches `longitude` degrees (a
// multiple of 15; each one is reached once a year).
absl::Time solar_term_instant(int year, int longitude);

// Its civil date in China Standard Time.
absl::CivilDay solar_term_day(int year, int longitude);

}  // namespace tierflow::notification::calendar
