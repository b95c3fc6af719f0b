// The holiday calendar: holidays as rules, loaded from a YAML file, computed for any year.
//
//   holidays:
//     - id: mid_autumn                      # [a-z0-9_]+, unique
//       names: {zh-CN: 中秋节, en: Mid-Autumn Festival}   # zh-CN and en required
//       lunar: 8-15                         # exactly one rule key, one of:
//   #   solar: 10-01          a Gregorian month-day every year (02-29: leap years only)
//   #   lunar: 8-15           a regular lunar month-day (lunar.h's rule: day 30 of a 29-day
//   #                         month is the 29th); lunar: last-of-12 is the month's last day
//   #                         (除夕, the 29th or 30th of the 12th month)
//   #   solar_term: qingming  the civil date (China Standard Time) a solar term begins (solar_term.h)
//   #   date: 2026-05-01      explicit dates, one or a list ([2026-05-01, 2027-05-01])
//
// A lunar holiday of lunar year Y can fall in Gregorian year Y or Y+1 (除夕 of lunar year
// 2025 is 2026-02-16); occurrences(year) returns what falls in the Gregorian year.
//
// Lifecycle: load() once; the calendar is immutable after. Threading: const methods are
// thread-safe. Errors: load()/parse() throw HolidayError naming the file, line, column and
// field ("holidays.yaml:12:13: holidays[3].lunar: ..."): unknown keys, a missing or second
// rule, a bad date, a duplicate id, a missing name.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/time/civil_time.h"
#include "services/notification/src/calendar/lunar.h"

namespace tierflow::notification::calendar {

class HolidayError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SolarRule {
  int month = 1;
  int day = 1;
};
struct LunarRule {
  int month = 1;
  int day = 1;  // ignored when last_of_month
  bool last_of_month = false;
};
struct SolarTermRule {
  std::string name;  // pinyin, e.g. "qingming"
  int longitude = 0;
};
struct ExplicitDatesRule {
  std::vector<absl::CivilDay> days;
};
using HolidayRule = std::variant<SolarRule, LunarRule, SolarTermRule, ExplicitDatesRule>;

struct Holiday {
  std::string id;
  std::map<std::string, std::string, std::less<>> names;  // language tag -> name
  HolidayRule rule;

  // The name in `language` ("zh-CN", "en"), else the English one.
  const std::string& name(std::string_view language) const;
};

struct HolidayOccurrence {
  absl::CivilDay day;
  const Holiday* holiday;  // points into the calendar that returned it
};

class HolidayCalendar {
 public:
  HolidayCalendar() = default;
  // Validates as load() does (ids unique, names present); throws HolidayError.
  explicit HolidayCalendar(std::vector<Holiday> holidays);

  static HolidayCalendar load(const std::string& path);
  // `source` names the text in errors (a file name).
  static HolidayCalendar parse(std::string_view yaml, const std::string& source);

  // Every holiday falling in the Gregorian `year`, by day then id.
  std::vector<HolidayOccurrence> occurrences(int year) const;
  // The holidays on `day` (usually none or one), by id.
  std::vector<const Holiday*> holidays_on(absl::CivilDay day) const;
  // The civil dates of one holiday in a Gregorian year (none, one, or for explicit dates more).
  std::vector<absl::CivilDay> dates_of(const Holiday& holiday, int year) const;

  const Holiday* find(std::string_view id) const;
  const std::vector<Holiday>& holidays() const { return holidays_; }

 private:
  std::vector<Holiday> holidays_;
};

}  // namespace tierflow::notification::calendar
