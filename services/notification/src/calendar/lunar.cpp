#include "services/notification/src/calendar/lunar.h"

#include <unicode/calendar.h>
#include <unicode/locid.h>
#include <unicode/timezone.h>

#include <charconv>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "fmt/format.h"
#include "services/notification/src/calendar/new_moon.h"

namespace tierflow::notification::calendar {
namespace {

// ICU's extended year of the Chinese calendar counts from 2637 BCE.
constexpr int kExtendedYearOffset = 2637;
constexpr int kFirstYear = 1901;
constexpr int kLastYear = 2099;
constexpr double kMillisPerDay = 86400000.0;
const absl::CivilDay kEpoch(1970, 1, 1);

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status))
    throw std::runtime_error(fmt::format("ICU Chinese calendar: {}: {}", what, u_errorName(status)));
}

// One calendar per thread: ICU calendars are not thread-safe, and building one per call
// costs more than the conversion. Its zone is GMT so that a UTC midnight is that civil day.
icu::Calendar& chinese_calendar() {
  thread_local std::unique_ptr<icu::Calendar> cal = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::Calendar> c(icu::Calendar::createInstance(icu::TimeZone::createTimeZone("Etc/GMT"),
                                                                   icu::Locale("zh_CN@calendar=chinese"), status));
    check(status, "create");
    if (std::string_view(c->getType()) != "chinese") throw std::runtime_error("ICU has no Chinese calendar");
    return c;
  }();
  return *cal;
}

absl::CivilDay from_udate(UDate t) { return kEpoch + static_cast<long>(std::floor(t / kMillisPerDay)); }

void check_date(LunarDate date) {
  if (date.month < 1 || date.month > 12)
    throw std::invalid_argument(fmt::format("lunar month {} not in 1..12", date.month));
  if (date.day < 1 || date.day > 30) throw std::invalid_argument(fmt::format("lunar day {} not in 1..30", date.day));
}

// ICU's first day of a month; nullopt if the year has no such month.
std::optional<absl::CivilDay> icu_month_start(int lunar_year, int month, bool leap) {
  icu::Calendar& cal = chinese_calendar();
  UErrorCode status = U_ZERO_ERROR;
  cal.clear();
  cal.set(UCAL_EXTENDED_YEAR, lunar_year + kExtendedYearOffset);
  cal.set(UCAL_MONTH, month - 1);
  cal.set(UCAL_IS_LEAP_MONTH, leap ? 1 : 0);
  cal.set(UCAL_DATE, 1);
  UDate t = cal.getTime(status);
  check(status, "set date");
  // A leap month the year lacks is normalized by ICU into the next month: read back.
  cal.setTime(t, status);
  const bool same = cal.get(UCAL_EXTENDED_YEAR, status) == lunar_year + kExtendedYearOffset &&
                    cal.get(UCAL_MONTH, status) == month - 1 && (cal.get(UCAL_IS_LEAP_MONTH, status) != 0) == leap &&
                    cal.get(UCAL_DATE, status) == 1;
  check(status, "read date");
  if (!same) return std::nullopt;
  return from_udate(t);
}

// A month starts on the day of its new moon in China: ICU's day, re-timed by the precise
// new moon (new_moon.h) when ICU is a day off.
absl::CivilDay retimed(absl::CivilDay icu_first) {
  const absl::CivilDay precise = new_moon_day_cst(icu_first);
  return std::abs(precise - icu_first) <= 1 ? precise : icu_first;
}

struct Month {
  int number;
  bool leap;
  absl::CivilDay first;
  int length;
};

// One lunar year's months in order (12 or 13), built once and never changed.
struct Year {
  int year;
  absl::CivilDay first;
  absl::CivilDay next;  // the first day of the next year
  std::vector<Month> months;
};

std::unique_ptr<Year> build_year(int lunar_year) {
  auto y = std::make_unique<Year>();
  y->year = lunar_year;
  std::vector<std::pair<int, bool>> order;
  std::vector<absl::CivilDay> starts;
  for (int m = 1; m <= 12; ++m) {
    for (bool leap : {false, true}) {
      auto start = icu_month_start(lunar_year, m, leap);
      if (!start) continue;
      order.emplace_back(m, leap);
      starts.push_back(retimed(*start));
    }
  }
  auto next = icu_month_start(lunar_year + 1, 1, false);
  if (!next || order.size() < 12) throw std::runtime_error(fmt::format("ICU: no lunar year {}", lunar_year));
  y->next = retimed(*next);
  starts.push_back(y->next);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const int length = static_cast<int>(starts[i + 1] - starts[i]);
    if (length != 29 && length != 30) {
      throw std::runtime_error(fmt::format("lunar year {} month {}: {} days", lunar_year, order[i].first, length));
    }
    y->months.push_back(Month{order[i].first, order[i].second, starts[i], length});
  }
  y->first = y->months.front().first;
  return y;
}

// Years are built on first use and kept: a few hundred bytes each, and the supported
// range bounds them.
const Year& year_table(int lunar_year) {
  if (lunar_year < kFirstYear || lunar_year > kLastYear) {
    throw std::invalid_argument(fmt::format("lunar year {} outside {}..{}", lunar_year, kFirstYear, kLastYear));
  }
  static std::mutex mu;
  static std::map<int, std::unique_ptr<Year>> years;
  {
    std::lock_guard lock(mu);
    if (auto it = years.find(lunar_year); it != years.end()) return *it->second;
  }
  auto built = build_year(lunar_year);  // outside the lock: ICU work
  std::lock_guard lock(mu);
  auto [it, inserted] = years.emplace(lunar_year, std::move(built));
  return *it->second;
}

const Month* find_month(const Year& y, int month, bool leap) {
  for (const auto& m : y.months) {
    if (m.number == month && m.leap == leap) return &m;
  }
  return nullptr;
}

}  // namespace

LunarDay to_lunar(absl::CivilDay day) {
  const Year* y = &year_table(static_cast<int>(day.year()));
  if (day < y->first) y = &year_table(static_cast<int>(day.year()) - 1);
  for (const auto& m : y->months) {
    if (day < m.first + m.length) return LunarDay{y->year, {m.number, static_cast<int>(day - m.first) + 1, m.leap}};
  }
  throw std::logic_error("lunar year table has a gap");  // next year's first month starts at y->next
}

std::optional<absl::CivilDay> to_gregorian(int lunar_year, LunarDate date) {
  check_date(date);
  const Month* m = find_month(year_table(lunar_year), date.month, date.leap);
  if (m == nullptr || date.day > m->length) return std::nullopt;
  return m->first + (date.day - 1);
}

int month_length(int lunar_year, int month, bool leap) {
  check_date(LunarDate{month, 1, leap});
  const Month* m = find_month(year_table(lunar_year), month, leap);
  return m ? m->length : 0;
}

int leap_month(int lunar_year) {
  for (const auto& m : year_table(lunar_year).months) {
    if (m.leap) return m.number;
  }
  return 0;
}

absl::CivilDay observed_in(int lunar_year, LunarDate date) {
  check_date(date);
  const Year& y = year_table(lunar_year);
  const Month* m = date.leap ? find_month(y, date.month, true) : nullptr;
  if (m == nullptr) m = find_month(y, date.month, false);
  if (m == nullptr) throw std::logic_error(fmt::format("lunar year {} has no month {}", lunar_year, date.month));
  return m->first + (std::min(date.day, m->length) - 1);
}

std::optional<int> observed_on(LunarDate date, absl::CivilDay day) {
  check_date(date);
  // Only the lunar year `day` lies in can greet on it: observed_in() stays in its year.
  const LunarDay today = to_lunar(day);
  if (today.date.month != date.month) return std::nullopt;
  if (observed_in(today.year, date) != day) return std::nullopt;
  return today.year;
}

std::vector<LunarDate> observed_dates_on(absl::CivilDay day) {
  const LunarDay today = to_lunar(day);
  const Year& y = year_table(today.year);
  std::vector<LunarDate> out{today.date};
  if (!today.date.leap && find_month(y, today.date.month, true) == nullptr) {
    out.push_back({today.date.month, today.date.day, true});
  }
  if (today.date.day == 29 && month_length(today.year, today.date.month, today.date.leap) == 29) {
    const std::size_t n = out.size();
    for (std::size_t i = 0; i < n; ++i) out.push_back({out[i].month, 30, out[i].leap});
  }
  return out;
}

std::vector<absl::CivilDay> observed_in_gregorian_year(int year, LunarDate date) {
  std::vector<absl::CivilDay> out;
  for (int lunar_year : {year - 1, year}) {
    const absl::CivilDay d = observed_in(lunar_year, date);
    if (d.year() == year) out.push_back(d);
  }
  return out;
}

std::string to_string(LunarDate date, bool chinese) {
  if (!chinese) return fmt::format("{}{}-{}", date.leap ? "L" : "", date.month, date.day);
  static constexpr const char* kMonths[] = {"正", "二", "三", "四", "五", "六", "七", "八", "九", "十", "冬", "腊"};
  static constexpr const char* kDigits[] = {"", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"};
  std::string day;
  if (date.day <= 10) {
    day = std::string("初") + kDigits[date.day];
  } else if (date.day < 20) {
    day = std::string("十") + kDigits[date.day - 10];
  } else if (date.day == 20) {
    day = "二十";
  } else if (date.day < 30) {
    day = std::string("廿") + kDigits[date.day - 20];
  } else {
    day = "三十";
  }
  const int m = std::clamp(date.month, 1, 12);
  return fmt::format("{}{}月{}", date.leap ? "闰" : "", kMonths[m - 1], day);
}

std::optional<LunarDate> parse_lunar_date(std::string_view text) {
  LunarDate out;
  if (!text.empty() && (text.front() == 'L' || text.front() == 'l')) {
    out.leap = true;
    text.remove_prefix(1);
  }
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view s, int* v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  };
  if (!number(text.substr(0, dash), &out.month) || !number(text.substr(dash + 1), &out.day)) return std::nullopt;
  if (out.month < 1 || out.month > 12 || out.day < 1 || out.day > 30) return std::nullopt;
  return out;
}

}  // namespace tierflow::notification::calendar
