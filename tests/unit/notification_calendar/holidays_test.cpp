#include "services/notification/src/calendar/holidays.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/unit/notification_calendar/published_dates.h"

namespace tierflow::notification::calendar {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kPublished;

const std::string kDeployed = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/holidays.yaml";

std::vector<std::string> ids_on(const HolidayCalendar& cal, absl::CivilDay day) {
  std::vector<std::string> out;
  for (const Holiday* h : cal.holidays_on(day)) out.push_back(h->id);
  return out;
}

TEST(Holidays, DeployedCalendarMatchesPublishedDates) {
  const HolidayCalendar cal = HolidayCalendar::load(kDeployed);
  for (const auto& y : kPublished) {
    SCOPED_TRACE(y.year);
    EXPECT_THAT(ids_on(cal, y.chuxi), ElementsAre("new_years_eve"));
    EXPECT_THAT(ids_on(cal, y.chunjie), ElementsAre("spring_festival"));
    EXPECT_THAT(ids_on(cal, y.qingming), ElementsAre("qingming"));
    EXPECT_THAT(ids_on(cal, y.duanwu), ElementsAre("dragon_boat"));
    EXPECT_THAT(ids_on(cal, y.zhongqiu), Contains("mid_autumn"));  // 2031: also 国庆
    EXPECT_THAT(ids_on(cal, absl::CivilDay(y.year, 1, 1)), ElementsAre("new_year"));
    EXPECT_THAT(ids_on(cal, absl::CivilDay(y.year, 5, 1)), ElementsAre("labour_day"));
    // 中秋 2031 and 重阳 2033 fall on 国庆.
    if (y.year == 2031) {
      EXPECT_THAT(ids_on(cal, absl::CivilDay(y.year, 10, 1)), ElementsAre("mid_autumn", "national_day"));
    } else if (y.year == 2033) {
      EXPECT_THAT(ids_on(cal, absl::CivilDay(y.year, 10, 1)), ElementsAre("double_ninth", "national_day"));
    } else {
      EXPECT_THAT(ids_on(cal, absl::CivilDay(y.year, 10, 1)), ElementsAre("national_day"));
    }
    EXPECT_THAT(ids_on(cal, y.chunjie + 14), ElementsAre("lantern_festival"));
    // Each of the 11 holidays once a year, sorted by day.
    const auto occ = cal.occurrences(y.year);
    std::map<std::string, int> count;
    for (std::size_t i = 0; i < occ.size(); ++i) {
      ++count[occ[i].holiday->id];
      EXPECT_EQ(occ[i].day.year(), y.year);
      if (i > 0) {
        EXPECT_LE(occ[i - 1].day, occ[i].day);
      }
    }
    EXPECT_EQ(count.size(), 11u);
    for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << id;
  }
  EXPECT_EQ(cal.find("mid_autumn")->name("zh-CN"), "中秋节");
  EXPECT_EQ(cal.find("mid_autumn")->name("en"), "Mid-Autumn Festival");
  EXPECT_EQ(cal.find("mid_autumn")->name("fr"), "Mid-Autumn Festival");
  EXPECT_THAT(ids_on(cal, absl::CivilDay(2026, 3, 3)), ElementsAre("lantern_festival"));
  EXPECT_TRUE(ids_on(cal, absl::CivilDay(2026, 3, 4)).empty());
}

TEST(Holidays, OtherLunarHolidaysByLunarDate) {
  const HolidayCalendar cal = HolidayCalendar::load(kDeployed);
  for (int year = 2024; year <= 2035; ++year) {
    for (const auto& o : cal.occurrences(year)) {
      const LunarDay l = to_lunar(o.day);
      if (o.holiday->id == "qixi") {
        EXPECT_EQ(l.date, (LunarDate{7, 7}));
      }
      if (o.holiday->id == "double_ninth") {
        EXPECT_EQ(l.date, (LunarDate{9, 9}));
      }
      if (o.holiday->id == "lantern_festival") {
        EXPECT_EQ(l.date, (LunarDate{1, 15}));
      }
    }
  }
}

TEST(Holidays, ExplicitDatesAndLeapDays) {
  const HolidayCalendar cal = HolidayCalendar::parse(R"(
holidays:
  - id: store_anniversary
    names: {zh-CN: 店庆, en: Store anniversary}
    date: [2026-05-02, 2027-05-03]
  - id: one_off
    names: {zh-CN: 特别日, en: Special day}
    date: 2026-07-01
  - id: leap_day
    names: {zh-CN: 闰日, en: Leap day}
    solar: 02-29
  - id: winter_solstice
    names: {zh-CN: 冬至, en: Winter solstice}
    solar_term: dongzhi
)",
                                                     "inline.yaml");
  EXPECT_THAT(ids_on(cal, absl::CivilDay(2026, 5, 2)), ElementsAre("store_anniversary"));
  EXPECT_THAT(ids_on(cal, absl::CivilDay(2027, 5, 3)), ElementsAre("store_anniversary"));
  EXPECT_TRUE(ids_on(cal, absl::CivilDay(2028, 5, 2)).empty());
  EXPECT_THAT(ids_on(cal, absl::CivilDay(2026, 7, 1)), ElementsAre("one_off"));
  EXPECT_THAT(ids_on(cal, absl::CivilDay(2028, 2, 29)), ElementsAre("leap_day"));
  EXPECT_TRUE(cal.dates_of(*cal.find("leap_day"), 2027).empty());
  EXPECT_THAT(ids_on(cal, absl::CivilDay(2024, 12, 21)), ElementsAre("winter_solstice"));
  EXPECT_EQ(cal.occurrences(2026).size(), 3u);
}

std::string error_of(const std::string& yaml) {
  try {
    HolidayCalendar::parse(yaml, "h.yaml");
  } catch (const HolidayError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Holidays, ErrorsNameFileLineAndField) {
  const std::string head = "holidays:\n  - id: a\n    names: {zh-CN: 甲, en: A}\n";
  EXPECT_EQ(error_of(head + "    lunar: 13-1\n"),
            "h.yaml:4:12: holidays[0].lunar: '13-1' is not a lunar month-day like 8-15 or last-of-12");
  EXPECT_THAT(error_of(head + "    solar: 02-30\n"), HasSubstr("h.yaml:4:12: holidays[0].solar: '02-30'"));
  EXPECT_THAT(error_of(head + "    date: 2026-02-30\n"), HasSubstr("h.yaml:4:11: holidays[0].date: '2026-02-30'"));
  EXPECT_THAT(error_of(head + "    date: [2026-01-02, 2026-13-01]\n"), HasSubstr("h.yaml:4:24: holidays[0].date[1]"));
  EXPECT_THAT(error_of(head + "    solar_term: spring\n"), HasSubstr("h.yaml:4:17: holidays[0].solar_term: unknown"));
  EXPECT_THAT(error_of(head + "    lunar: L5-5\n"), HasSubstr("leap month"));
  EXPECT_THAT(error_of(head + "    lunar: 1-1\n    solar: 01-01\n"),
              HasSubstr("h.yaml:5:5: holidays[0].solar: a second rule"));
  EXPECT_THAT(error_of(head + "    lunar: 1-1\n    colour: red\n"),
              HasSubstr("h.yaml:5:5: holidays[0].colour: unknown key"));
  EXPECT_THAT(error_of(head), HasSubstr("h.yaml:2:5: holidays[0]: no rule"));
  EXPECT_THAT(error_of("holidays:\n  - id: a\n    names: {zh-CN: 甲}\n    lunar: 1-1\n"),
              HasSubstr("h.yaml:3:12: holidays[0].names: missing language en"));
  EXPECT_THAT(error_of(head + "    lunar: 1-1\n" + "  - id: a\n    names: {zh-CN: 乙, en: B}\n    solar: 01-01\n"),
              HasSubstr("h.yaml:5:9: holidays[1].id: duplicate id 'a'"));
  EXPECT_THAT(error_of("holiday:\n  - id: a\n"), HasSubstr("h.yaml:1:1: holiday: unknown key"));
  EXPECT_THAT(error_of("holidays: [\n"), HasSubstr("h.yaml:"));
  EXPECT_THROW(HolidayCalendar::load("/nonexistent/holidays.yaml"), HolidayError);
}

}  // namespace
}  // namespace tierflow::notification::calendar
