#include "services/notification/src/calendar/lunar.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include "services/notification/src/calendar/new_moon.h"
#include "services/notification/src/calendar/solar_term.h"
#include "tests/unit/notification_calendar/published_dates.h"

namespace tierflow::notification::calendar {
namespace {

using testing::kPublished;

TEST(Lunar, PublishedFestivalsConvertBothWays) {
  for (const auto& y : kPublished) {
    SCOPED_TRACE(y.year);
    EXPECT_EQ(to_gregorian(y.year, {1, 1}), y.chunjie);
    EXPECT_EQ(to_gregorian(y.year, {5, 5}), y.duanwu);
    EXPECT_EQ(to_gregorian(y.year, {8, 15}), y.zhongqiu);
    EXPECT_EQ(to_lunar(y.chunjie), (LunarDay{y.year, {1, 1, false}}));
    EXPECT_EQ(to_lunar(y.duanwu), (LunarDay{y.year, {5, 5, false}}));
    EXPECT_EQ(to_lunar(y.zhongqiu), (LunarDay{y.year, {8, 15, false}}));
    // 除夕 is the last day of the 12th month of the previous lunar year, 29 or 30.
    const LunarDay eve = to_lunar(y.chuxi);
    EXPECT_EQ(eve.year, y.year - 1);
    EXPECT_EQ(eve.date.month, 12);
    EXPECT_FALSE(eve.date.leap);
    EXPECT_EQ(eve.date.day, month_length(y.year - 1, 12));
    EXPECT_EQ(observed_in(y.year - 1, {12, 30}), y.chuxi);
  }
}

TEST(Lunar, SpringFestivalsAndLeapMonths2000To2023) {
  // Outside the table's years too: 春节 of 2000-2023 and their leap months.
  using D = absl::CivilDay;
  const absl::CivilDay chunjie[] = {D(2000, 2, 5),  D(2001, 1, 24), D(2002, 2, 12), D(2003, 2, 1),  D(2004, 1, 22),
                                    D(2005, 2, 9),  D(2006, 1, 29), D(2007, 2, 18), D(2008, 2, 7),  D(2009, 1, 26),
                                    D(2010, 2, 14), D(2011, 2, 3),  D(2012, 1, 23), D(2013, 2, 10), D(2014, 1, 31),
                                    D(2015, 2, 19), D(2016, 2, 8),  D(2017, 1, 28), D(2018, 2, 16), D(2019, 2, 5),
                                    D(2020, 1, 25), D(2021, 2, 12), D(2022, 2, 1),  D(2023, 1, 22)};
  for (const auto& d : chunjie) EXPECT_EQ(to_gregorian(static_cast<int>(d.year()), {1, 1}), d) << d;
  const std::map<int, int> leaps = {{2001, 4}, {2004, 2}, {2006, 7}, {2009, 5}, {2012, 4},
                                    {2014, 9}, {2017, 6}, {2020, 4}, {2023, 2}};
  for (int y = 2000; y <= 2023; ++y) {
    const auto it = leaps.find(y);
    EXPECT_EQ(leap_month(y), it == leaps.end() ? 0 : it->second) << y;
  }
  // Months whose new moon falls minutes from midnight in China: 七夕 2012 (new moon
  // 2012-08-17 23:54), 端午 2013 (2013-06-08 23:56), 春节 2007 (2007-02-18 00:14).
  EXPECT_EQ(to_gregorian(2012, {7, 7}), absl::CivilDay(2012, 8, 23));
  EXPECT_EQ(to_gregorian(2013, {5, 5}), absl::CivilDay(2013, 6, 12));
  EXPECT_EQ(to_gregorian(2007, {1, 1}), absl::CivilDay(2007, 2, 18));
}

TEST(Lunar, RoundTripsEveryDay2024To2035) {
  LunarDay previous = to_lunar(absl::CivilDay(2023, 12, 31));
  int days = 0;
  for (absl::CivilDay d(2024, 1, 1); d <= absl::CivilDay(2035, 12, 31); ++d, ++days) {
    const LunarDay l = to_lunar(d);
    ASSERT_EQ(to_gregorian(l.year, l.date), d) << d;
    // Consecutive: the next day of the same month, or day 1 of the next month after a 29th/30th.
    if (l.date.day == 1) {
      ASSERT_TRUE(previous.date.day == 29 || previous.date.day == 30) << d;
      ASSERT_EQ(previous.date.day, month_length(previous.year, previous.date.month, previous.date.leap)) << d;
    } else {
      ASSERT_EQ(l.year, previous.year) << d;
      ASSERT_EQ(l.date.month, previous.date.month) << d;
      ASSERT_EQ(l.date.leap, previous.date.leap) << d;
      ASSERT_EQ(l.date.day, previous.date.day + 1) << d;
    }
    previous = l;
  }
  EXPECT_EQ(days, 4383);
}

TEST(Lunar, LeapMonths) {
  EXPECT_EQ(leap_month(2023), 2);
  EXPECT_EQ(leap_month(2024), 0);
  EXPECT_EQ(leap_month(2025), 6);
  EXPECT_EQ(leap_month(2026), 0);
  EXPECT_EQ(leap_month(2028), 5);
  EXPECT_EQ(leap_month(2031), 3);
  EXPECT_EQ(leap_month(2033), 11);
  // 2025: 六月 from 25 June, 闰六月 from 25 July, 七月 from 23 August.
  EXPECT_EQ(to_gregorian(2025, {6, 1}), absl::CivilDay(2025, 6, 25));
  EXPECT_EQ(to_gregorian(2025, {6, 1, true}), absl::CivilDay(2025, 7, 25));
  EXPECT_EQ(to_gregorian(2025, {7, 1}), absl::CivilDay(2025, 8, 23));
  EXPECT_EQ(to_lunar(absl::CivilDay(2025, 8, 3)), (LunarDay{2025, {6, 10, true}}));
  EXPECT_EQ(to_gregorian(2023, {2, 1, true}), absl::CivilDay(2023, 3, 22));
  // A leap month the year lacks does not exist.
  EXPECT_EQ(to_gregorian(2024, {6, 1, true}), std::nullopt);
  EXPECT_EQ(month_length(2024, 6, true), 0);
  EXPECT_THROW(to_lunar(absl::CivilDay(1850, 1, 1)), std::invalid_argument);
}

TEST(Lunar, MonthsOf29And30Days) {
  // 2024's 腊月 to 2028's have 29 days: no 年三十 on the 除夕 of 2025-2029.
  EXPECT_EQ(month_length(2023, 12), 30);
  for (int y = 2024; y <= 2028; ++y) EXPECT_EQ(month_length(y, 12), 29) << y;
  EXPECT_EQ(to_gregorian(2024, {12, 30}), std::nullopt);
  EXPECT_EQ(to_gregorian(2023, {12, 30}), absl::CivilDay(2024, 2, 9));
  for (int y = 2024; y <= 2035; ++y) {
    int total = 0;
    for (int m = 1; m <= 12; ++m) {
      const int len = month_length(y, m);
      EXPECT_TRUE(len == 29 || len == 30) << y << "-" << m;
      total += len;
    }
    if (leap_month(y) != 0) total += month_length(y, leap_month(y), true);
    const int year_days = static_cast<int>(*to_gregorian(y + 1, {1, 1}) - *to_gregorian(y, {1, 1}));
    EXPECT_EQ(total, year_days) << y;
  }
}

TEST(Lunar, ObservedRules) {
  // Day 30 in a 29-day month: the 29th.
  EXPECT_EQ(observed_in(2024, {12, 30}), absl::CivilDay(2025, 1, 28));
  EXPECT_EQ(observed_in(2023, {12, 30}), absl::CivilDay(2024, 2, 9));
  // Recorded in 闰六月: the leap month in 2025, the regular 六月 in 2026.
  EXPECT_EQ(observed_in(2025, {6, 10, true}), absl::CivilDay(2025, 8, 3));
  EXPECT_EQ(observed_in(2026, {6, 10, true}), *to_gregorian(2026, {6, 10}));
  // Recorded in a regular month: never its leap twin.
  EXPECT_EQ(observed_in(2025, {6, 10}), absl::CivilDay(2025, 7, 4));
  EXPECT_EQ(observed_on({6, 10}, absl::CivilDay(2025, 7, 4)), 2025);
  EXPECT_EQ(observed_on({6, 10}, absl::CivilDay(2025, 8, 3)), std::nullopt);
  EXPECT_EQ(observed_on({6, 10, true}, absl::CivilDay(2025, 8, 3)), 2025);
  EXPECT_EQ(observed_on({6, 10, true}, absl::CivilDay(2025, 7, 4)), std::nullopt);
  // A leap-month day 30 in a 29-day leap month, and a leap-month birthday in a year with
  // a leap month of another number.
  EXPECT_EQ(observed_in(2023, {2, 30, true}), *to_gregorian(2023, {2, month_length(2023, 2, true), true}));
  EXPECT_EQ(observed_in(2028, {6, 10, true}), *to_gregorian(2028, {6, 10}));
  EXPECT_THROW(observed_in(2025, {13, 1}), std::invalid_argument);
  EXPECT_THROW(observed_in(2025, {1, 31}), std::invalid_argument);
}

TEST(Lunar, EachAnniversaryOncePerLunarYear) {
  // Over 2024-2035, every lunar month-day (leap and regular) is observed exactly once per
  // lunar year it was observed in, on the day observed_in() names.
  for (int month = 1; month <= 12; ++month) {
    for (int day : {1, 15, 29, 30}) {
      for (bool leap : {false, true}) {
        const LunarDate date{month, day, leap};
        std::map<int, int> per_year;
        for (absl::CivilDay d(2024, 3, 1); d < absl::CivilDay(2035, 1, 1); ++d) {
          if (auto y = observed_on(date, d)) {
            ++per_year[*y];
            EXPECT_EQ(observed_in(*y, date), d);
          }
        }
        for (int y = 2025; y <= 2033; ++y) EXPECT_EQ(per_year[y], 1) << to_string(date) << " " << y;
      }
    }
  }
}

TEST(Lunar, ThreadSafe) {
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (absl::CivilDay d(2024 + t, 1, 1); d < absl::CivilDay(2026 + t, 1, 1); ++d) {
        const LunarDay l = to_lunar(d);
        if (to_gregorian(l.year, l.date) != d) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Lunar, Text) {
  EXPECT_EQ(to_string({6, 1, true}, true), "闰六月初一");
  EXPECT_EQ(to_string({12, 30}, true), "腊月三十");
  EXPECT_EQ(to_string({1, 15}, true), "正月十五");
  EXPECT_EQ(to_string({8, 21}, true), "八月廿一");
  EXPECT_EQ(to_string({4, 10, true}), "L4-10");
  EXPECT_EQ(parse_lunar_date("L4-10"), (LunarDate{4, 10, true}));
  EXPECT_EQ(parse_lunar_date("8-15"), (LunarDate{8, 15, false}));
  EXPECT_EQ(parse_lunar_date("13-1"), std::nullopt);
  EXPECT_EQ(parse_lunar_date("8-31"), std::nullopt);
  EXPECT_EQ(parse_lunar_date("8/15"), std::nullopt);
}

TEST(NewMoon, NearMidnightInChina) {
  // The two new moons ICU's astronomy puts on the wrong side of midnight (UTC+8).
  const absl::TimeZone utc = absl::UTCTimeZone();
  EXPECT_LT(absl::AbsDuration(nearest_new_moon(absl::FromCivil(absl::CivilDay(2027, 2, 6), utc)) -
                              absl::FromCivil(absl::CivilSecond(2027, 2, 6, 15, 56, 0), utc)),
            absl::Minutes(2));
  EXPECT_LT(absl::AbsDuration(nearest_new_moon(absl::FromCivil(absl::CivilDay(2030, 2, 2), utc)) -
                              absl::FromCivil(absl::CivilSecond(2030, 2, 2, 16, 7, 0), utc)),
            absl::Minutes(2));
  EXPECT_EQ(new_moon_day_cst(absl::CivilDay(2027, 2, 7)), absl::CivilDay(2027, 2, 6));
  EXPECT_EQ(new_moon_day_cst(absl::CivilDay(2030, 2, 2)), absl::CivilDay(2030, 2, 3));
}

TEST(SolarTerm, QingmingPublished) {
  const auto qingming = solar_term_longitude("qingming");
  ASSERT_EQ(qingming, 15);
  for (const auto& y : kPublished) EXPECT_EQ(solar_term_day(y.year, *qingming), y.qingming) << y.year;
}

TEST(SolarTerm, OtherTermsKnownDates) {
  // 冬至 2024-12-21, 夏至 2025-06-21, 立春 2025-02-03, 春分 2025-03-20, 小寒 2025-01-05.
  EXPECT_EQ(solar_term_day(2024, *solar_term_longitude("dongzhi")), absl::CivilDay(2024, 12, 21));
  EXPECT_EQ(solar_term_day(2025, *solar_term_longitude("xiazhi")), absl::CivilDay(2025, 6, 21));
  EXPECT_EQ(solar_term_day(2025, *solar_term_longitude("lichun")), absl::CivilDay(2025, 2, 3));
  EXPECT_EQ(solar_term_day(2025, *solar_term_longitude("chunfen")), absl::CivilDay(2025, 3, 20));
  EXPECT_EQ(solar_term_day(2025, *solar_term_longitude("xiaohan")), absl::CivilDay(2025, 1, 5));
  EXPECT_EQ(solar_term_longitude("spring"), std::nullopt);
  // 2025 March equinox: 09:01 UTC (published); the low-precision formula is within 15 minutes.
  const absl::Time equinox = solar_term_instant(2025, 0);
  const absl::Time published = absl::FromCivil(absl::CivilSecond(2025, 3, 20, 9, 1, 0), absl::UTCTimeZone());
  EXPECT_LT(absl::AbsDuration(equinox - published), absl::Minutes(15));
}

}  // namespace
}  // namespace tierflow::notification::calendar
