// The Chinese lunisolar calendar (农历) on civil dates, computed by ICU's Chinese calendar
// (icu::ChineseCalendar, reached through `icu::Calendar::createInstance` with
// "zh_CN@calendar=chinese": its header is not public), so that no year's dates are typed in.
//
// ICU gives the months of a year (their numbers, which one is the leap month); the day
// each month starts is then re-timed to the day of its new moon in China Standard Time
// by Meeus' new-moon algorithm (new_moon.h), because ICU's low-precision astronomy puts
// new moons that fall within minutes of midnight on the wrong day (春节 2027 and 2030
// would be a day off). Years are built once, on first use, and cached.
//
// Supported lunar years: 1901..2099 (std::invalid_argument outside).
//
// Years: a lunar year is named by the Gregorian year in which its first day (正月初一,
// 春节) falls; lunar year 2025 runs from 2025-01-29 to 2026-02-16.
//
// Time zones: everything here is on civil dates (absl::CivilDay). ICU places the new moons
// and solar terms in China Standard Time (UTC+8), which is what the published calendar
// does; a customer's own zone only decides which civil date is "today" for them, and that
// is computed at the edge (absl::ToCivilDay(now, zone)) before calling in here.
//
// Greeting rules for a lunar anniversary (a lunar birthday, a lunar holiday) in a given
// lunar year, implemented by observed_in():
//  - day 30 in a year whose month has only 29 days: the 29th, the last day of that month;
//  - recorded in a leap month (闰月): the leap month of the same number when the year has
//    one, else the regular month of that number;
//  - recorded in a regular month: the regular month only (never its leap twin), so a
//    birthday is greeted once per lunar year.
//
// Threading: every function is pure and thread-safe (each thread keeps its own ICU
// calendar). Errors: std::invalid_argument for a month outside 1..12 or a day outside
// 1..30 or a year outside 1901..2099; std::runtime_error if ICU fails.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/civil_time.h"

namespace tierflow::notification::calendar {

// A month and day of the lunar calendar, without a year (a birthday, a holiday rule).
struct LunarDate {
  int month = 1;      // 1..12
  int day = 1;        // 1..30
  bool leap = false;  // the leap month (闰月) of that number
  friend bool operator==(const LunarDate&, const LunarDate&) = default;
};

// A full lunar date: the lunar year (see above) and the month and day in it.
struct LunarDay {
  int year = 0;
  LunarDate date;
  friend bool operator==(const LunarDay&, const LunarDay&) = default;
};

// The lunar date of a civil date.
LunarDay to_lunar(absl::CivilDay day);

// The civil date of that exact lunar date; nullopt when the year has no such month (no
// leap month of that number) or the month is shorter than `date.day`.
std::optional<absl::CivilDay> to_gregorian(int lunar_year, LunarDate date);

// Days in a month of a lunar year (29 or 30); 0 when the year has no such month.
int month_length(int lunar_year, int month, bool leap = false);

// The number of the month that is doubled in a lunar year (闰N月 -> N), 0 if none.
int leap_month(int lunar_year);

// The civil date on which an anniversary recorded as `date` is greeted in `lunar_year`,
// by the rules above. Always exists.
absl::CivilDay observed_in(int lunar_year, LunarDate date);

// If an anniversary recorded as `date` is greeted on `day`, the lunar year it is greeted
// for (an occasion key: one greeting per lunar year); else nullopt.
std::optional<int> observed_on(LunarDate date, absl::CivilDay day);

// Every recorded date greeted on `day` (for looking customers up by birthday): the day
// itself, its leap twin when `day` is in a regular month and the year has no leap month
// of that number, and day 30 when `day` is the 29th and last day of its month. Each
// returned date satisfies observed_on(date, day), and no other date does.
std::vector<LunarDate> observed_dates_on(absl::CivilDay day);

// The days in Gregorian `year` on which a date recorded as `date` is greeted (0, 1 or 2:
// a 腊月 date can fall in January of one lunar year and December of the next).
std::vector<absl::CivilDay> observed_in_gregorian_year(int year, LunarDate date);

// "闰六月初一"-like text for logs and previews; "6-1" / "L6-1" with `chinese` false.
std::string to_string(LunarDate date, bool chinese = false);

// Parses "M-D" or "LM-D" (leap month), e.g. "8-15", "L4-10"; nullopt on anything else.
std::optional<LunarDate> parse_lunar_date(std::string_view text);

}  // namespace tierflow::notification::calendar
