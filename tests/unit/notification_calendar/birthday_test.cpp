#include "services/notification/src/calendar/birthday.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

namespace tierflow::notification::calendar {
namespace {

TEST(SolarBirthday, OrdinaryDate) {
  EXPECT_TRUE(solar_birthday_due({7, 14}, absl::CivilDay(2026, 7, 14)));
  EXPECT_FALSE(solar_birthday_due({7, 14}, absl::CivilDay(2026, 7, 13)));
  EXPECT_FALSE(solar_birthday_due({7, 14}, absl::CivilDay(2026, 7, 15)));
  EXPECT_THROW(solar_birthday_due({4, 31}, absl::CivilDay(2026, 4, 30)), std::invalid_argument);
  EXPECT_THROW(solar_birthday_due({13, 1}, absl::CivilDay(2026, 4, 30)), std::invalid_argument);
}

TEST(SolarBirthday, Feb29) {
  const SolarBirthday leapling{2, 29};
  EXPECT_EQ(solar_birthday_in(2024, leapling), absl::CivilDay(2024, 2, 29));
  EXPECT_EQ(solar_birthday_in(2025, leapling), absl::CivilDay(2025, 2, 28));
  EXPECT_EQ(solar_birthday_in(2025, leapling, Feb29Policy::kMar1), absl::CivilDay(2025, 3, 1));
  EXPECT_EQ(solar_birthday_in(2100, leapling), absl::CivilDay(2100, 2, 28));  // not a leap year
  EXPECT_EQ(solar_birthday_in(2000, leapling), absl::CivilDay(2000, 2, 29));
  EXPECT_TRUE(solar_birthday_due(leapling, absl::CivilDay(2025, 2, 28)));
  EXPECT_FALSE(solar_birthday_due(leapling, absl::CivilDay(2024, 2, 28)));
  EXPECT_FALSE(solar_birthday_due(leapling, absl::CivilDay(2025, 3, 1)));
  EXPECT_TRUE(solar_birthday_due(leapling, absl::CivilDay(2025, 3, 1), Feb29Policy::kMar1));
  EXPECT_FALSE(solar_birthday_due(leapling, absl::CivilDay(2024, 3, 1), Feb29Policy::kMar1));
  EXPECT_EQ(parse_feb29_policy("feb28"), Feb29Policy::kFeb28);
  EXPECT_EQ(parse_feb29_policy("mar1"), Feb29Policy::kMar1);
  EXPECT_EQ(parse_feb29_policy("march"), std::nullopt);
}

TEST(SolarBirthday, OncePerYearEveryBirthday) {
  // Every month-day of a leap year, over 2024-2035, both policies: exactly one day a year.
  for (auto policy : {Feb29Policy::kFeb28, Feb29Policy::kMar1}) {
    for (absl::CivilDay b(2000, 1, 1); b.year() == 2000; ++b) {
      const SolarBirthday birthday{b.month(), b.day()};
      std::map<long, int> per_year;
      for (absl::CivilDay d(2024, 1, 1); d <= absl::CivilDay(2035, 12, 31); ++d) {
        if (solar_birthday_due(birthday, d, policy)) ++per_year[d.year()];
      }
      ASSERT_EQ(per_year.size(), 12u) << b;
      for (const auto& [y, n] : per_year) ASSERT_EQ(n, 1) << b << " " << y;
    }
  }
}

TEST(SolarBirthday, BirthdaysOnADayAgreeWithDue) {
  for (auto policy : {Feb29Policy::kFeb28, Feb29Policy::kMar1}) {
    for (absl::CivilDay d(2024, 1, 1); d <= absl::CivilDay(2028, 12, 31); ++d) {
      const auto on = solar_birthdays_on(d, policy);
      for (const auto& b : on) ASSERT_TRUE(solar_birthday_due(b, d, policy)) << d;
      const bool common_year = d.year() % 4 != 0;  // 2024-2028
      const bool stand_in = common_year && (policy == Feb29Policy::kFeb28 ? d == absl::CivilDay(d.year(), 2, 28)
                                                                          : d == absl::CivilDay(d.year(), 3, 1));
      ASSERT_EQ(on.size(), stand_in ? 2u : 1u) << d;
    }
  }
}

TEST(LunarBirthday, BirthdaysOnADayAgreeWithDue) {
  // Every lunar date there is, against every day of 2024-2035.
  std::vector<LunarDate> all;
  for (int m = 1; m <= 12; ++m) {
    for (int d = 1; d <= 30; ++d) {
      all.push_back({m, d, false});
      all.push_back({m, d, true});
    }
  }
  for (absl::CivilDay day(2024, 3, 1); day <= absl::CivilDay(2035, 12, 31); ++day) {
    const auto on = lunar_birthdays_on(day);
    const LunarDay today = to_lunar(day);
    for (const auto& date : all) {
      if (date.month != today.date.month) continue;  // observed_on needs the same month number
      const bool listed = std::find(on.begin(), on.end(), date) != on.end();
      ASSERT_EQ(listed, lunar_birthday_due(date, day).has_value()) << day << " " << to_string(date);
    }
  }
  // 2025-01-28 is 腊月廿九, the last day of a 29-day month: 12-29 and 12-30 (and their leap twins).
  EXPECT_EQ(lunar_birthdays_on(absl::CivilDay(2025, 1, 28)).size(), 4u);
  // A Gregorian year holds none, one or two greetings of a 腊月 date, each of its own lunar
  // year; over 2024-2035, twelve in all.
  int total = 0;
  for (int y = 2024; y <= 2035; ++y) {
    const auto days = observed_in_gregorian_year(y, {12, 5});
    total += static_cast<int>(days.size());
    for (const auto& d : days) {
      EXPECT_EQ(d.year(), y);
      EXPECT_TRUE(lunar_birthday_due({12, 5}, d).has_value());
    }
    if (days.size() == 2) {
      EXPECT_NE(to_lunar(days[0]).year, to_lunar(days[1]).year);
    }
  }
  EXPECT_EQ(total, 12);
  EXPECT_EQ(observed_in_gregorian_year(2026, {8, 15}), std::vector<absl::CivilDay>{absl::CivilDay(2026, 9, 25)});
}

TEST(LunarBirthday, DueOnLocalDate) {
  // 八月十五 is 中秋: 2026-09-25 (lunar year 2026).
  EXPECT_EQ(lunar_birthday_due({8, 15}, absl::CivilDay(2026, 9, 25)), 2026);
  EXPECT_EQ(lunar_birthday_due({8, 15}, absl::CivilDay(2026, 9, 24)), std::nullopt);
  // 腊月三十 birthday: lunar year 2024 has a 29-day 腊月 -> 2025-01-28; lunar 2023 -> 2024-02-09.
  EXPECT_EQ(lunar_birthday_due({12, 30}, absl::CivilDay(2025, 1, 28)), 2024);
  EXPECT_EQ(lunar_birthday_due({12, 30}, absl::CivilDay(2024, 2, 9)), 2023);
  EXPECT_EQ(lunar_birthday_due({12, 29}, absl::CivilDay(2024, 2, 8)), 2023);
  // Born in 闰六月 (2025): the leap month in 2025, the regular 六月 in 2026.
  EXPECT_EQ(lunar_birthday_in(2025, {6, 10, true}), absl::CivilDay(2025, 8, 3));
  EXPECT_EQ(lunar_birthday_due({6, 10, true}, absl::CivilDay(2025, 8, 3)), 2025);
  EXPECT_EQ(lunar_birthday_due({6, 10, true}, absl::CivilDay(2025, 7, 4)), std::nullopt);
  EXPECT_EQ(lunar_birthday_due({6, 10, true}, lunar_birthday_in(2026, {6, 10})), 2026);
  // Born in the regular 六月: 2025-07-04, not in the leap month after it.
  EXPECT_EQ(lunar_birthday_due({6, 10}, absl::CivilDay(2025, 7, 4)), 2025);
  EXPECT_EQ(lunar_birthday_due({6, 10}, absl::CivilDay(2025, 8, 3)), std::nullopt);
  // A 腊月 birthday is greeted in January or February of the next Gregorian year: some
  // Gregorian years have two (2025: 2025-01-xx for lunar 2024 and none for 2025, which is in
  // 2026), so the occasion is the lunar year.
  EXPECT_EQ(lunar_birthday_in(2024, {12, 5}).year(), 2025);
  EXPECT_EQ(lunar_birthday_in(2025, {12, 5}).year(), 2026);
}

}  // namespace
}  // namespace tierflow::notification::calendar
