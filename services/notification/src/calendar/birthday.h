// Is a customer's birthday due on a date? Solar (Gregorian) and lunar (农历) birthdays.
//
// The date asked about is the customer's LOCAL civil date: the caller converts "now" with
// the customer's own time zone (absl::ToCivilDay(now, zone)) so that nobody is greeted a
// day early because the service runs in UTC. Nothing here knows about zones.
//
// Solar: a birthday on 29 February is greeted on 28 February in common years by default
// (Feb29Policy::kFeb28), or on 1 March (kMar1); every other birthday on its month-day.
// Lunar: by lunar.h's rules (day 30 of a 29-day month -> the 29th; a leap-month birthday
// in the leap month when the year has one, else the regular month; a regular-month
// birthday in the regular month only), once per lunar year.
//
// Occasion keys: a solar birthday is one occasion per Gregorian year, a lunar birthday one
// per lunar year (a 腊月 birthday can fall in January or February of the next Gregorian
// year); the functions return the year to put into the dedupe key.
//
// Threading: pure functions, thread-safe. Errors: std::invalid_argument for a birthday
// that is not a date (13-01, 04-31, lunar 0-5).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "absl/time/civil_time.h"
#include "services/notification/src/calendar/lunar.h"

namespace tierflow::notification::calendar {

enum class Feb29Policy { kFeb28, kMar1 };

// "feb28" / "mar1"; nullopt for anything else (for config validation).
std::optional<Feb29Policy> parse_feb29_policy(std::string_view text);

struct SolarBirthday {
  int month = 1;
  int day = 1;
  friend bool operator==(const SolarBirthday&, const SolarBirthday&) = default;
};

// The date the birthday is greeted on in the Gregorian `year`.
absl::CivilDay solar_birthday_in(int year, SolarBirthday birthday, Feb29Policy policy = Feb29Policy::kFeb28);

// True when the birthday is greeted on `local_day`; the occasion year is local_day.year().
bool solar_birthday_due(SolarBirthday birthday, absl::CivilDay local_day, Feb29Policy policy = Feb29Policy::kFeb28);

// Every solar birthday greeted on `local_day` (for looking customers up by birthday):
// the day itself, and 02-29 on 28 February (kFeb28) or 1 March (kMar1) of a common year.
std::vector<SolarBirthday> solar_birthdays_on(absl::CivilDay local_day, Feb29Policy policy = Feb29Policy::kFeb28);

// Every lunar birthday greeted on `local_day` (lunar.h's observed_dates_on).
std::vector<LunarDate> lunar_birthdays_on(absl::CivilDay local_day);

// The lunar year whose birthday is greeted on `local_day`, or nullopt.
std::optional<int> lunar_birthday_due(LunarDate birthday, absl::CivilDay local_day);

// The date a lunar birthday is greeted on in `lunar_year`.
absl::CivilDay lunar_birthday_in(int lunar_year, LunarDate birthday);

}  // namespace tierflow::notification::calendar
