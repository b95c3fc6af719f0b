#include "services/notification/src/calendar/birthday.h"

#include <stdexcept>

#include "fmt/format.h"

namespace tierflow::notification::calendar {
namespace {

void check(SolarBirthday b) {
  // 2000 is a leap year: 02-29 is a valid birthday, 02-30 is not.
  const absl::CivilDay d(2000, b.month, b.day);
  if (b.month < 1 || b.month > 12 || b.day < 1 || d.month() != b.month || d.day() != b.day) {
    throw std::invalid_argument(fmt::format("birthday {:02}-{:02} is not a date", b.month, b.day));
  }
}

bool is_leap(long year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

}  // namespace

std::optional<Feb29Policy> parse_feb29_policy(std::string_view text) {
  if (text == "feb28") return Feb29Policy::kFeb28;
  if (text == "mar1") return Feb29Policy::kMar1;
  return std::nullopt;
}

absl::CivilDay solar_birthday_in(int year, SolarBirthday birthday, Feb29Policy policy) {
  check(birthday);
  if (birthday.month == 2 && birthday.day == 29 && !is_leap(year)) {
    return policy == Feb29Policy::kFeb28 ? absl::CivilDay(year, 2, 28) : absl::CivilDay(year, 3, 1);
  }
  return absl::CivilDay(year, birthday.month, birthday.day);
}

bool solar_birthday_due(SolarBirthday birthday, absl::CivilDay local_day, Feb29Policy policy) {
  return solar_birthday_in(static_cast<int>(local_day.year()), birthday, policy) == local_day;
}

std::vector<SolarBirthday> solar_birthdays_on(absl::CivilDay local_day, Feb29Policy policy) {
  std::vector<SolarBirthday> out{{local_day.month(), local_day.day()}};
  if (!is_leap(local_day.year())) {
    const absl::CivilDay stand_in = policy == Feb29Policy::kFeb28 ? absl::CivilDay(local_day.year(), 2, 28)
                                                                  : absl::CivilDay(local_day.year(), 3, 1);
    if (local_day == stand_in) out.push_back({2, 29});
  }
  return out;
}

std::vector<LunarDate> lunar_birthdays_on(absl::CivilDay local_day) { return observed_dates_on(local_day); }

std::optional<int> lunar_birthday_due(LunarDate birthday, absl::CivilDay local_day) {
  return observed_on(birthday, local_day);
}

absl::CivilDay lunar_birthday_in(int lunar_year, LunarDate birthday) { return observed_in(lunar_year, birthday); }

}  // namespace tierflow::notification::calendar
