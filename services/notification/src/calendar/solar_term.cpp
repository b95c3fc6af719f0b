#include "services/notification/src/calendar/solar_term.h"

#include <array>
#include <cmath>
#include <utility>

namespace tierflow::notification::calendar {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = kPi / 180.0;
constexpr double kUnixEpochJd = 2440587.5;  // 1970-01-01 00:00 UT
constexpr double kDeltaTSeconds = 69.0;     // TT - UT, close enough for 2000-2040
constexpr double kTropicalYearDays = 365.2422;

constexpr std::array<std::pair<std::string_view, int>, 24> kTerms = {{
    {"chunfen", 0},   {"qingming", 15}, {"guyu", 30},         {"lixia", 45},   {"xiaoman", 60},  {"mangzhong", 75},
    {"xiazhi", 90},   {"xiaoshu", 105}, {"dashu", 120},       {"liqiu", 135},  {"chushu", 150},  {"bailu", 165},
    {"qiufen", 180},  {"hanlu", 195},   {"shuangjiang", 210}, {"lidong", 225}, {"xiaoxue", 240}, {"daxue", 255},
    {"dongzhi", 270}, {"xiaohan", 285}, {"dahan", 300},       {"lichun", 315}, {"yushui", 330},  {"jingzhe", 345},
}};

double normalize(double degrees) {
  double d = std::fmod(degrees, 360.0);
  return d < 0 ? d + 360.0 : d;
}

// Signed difference a - b in (-180, 180].
double difference(double a, double b) {
  double d = normalize(a - b);
  return d > 180.0 ? d - 360.0 : d;
}

}  // namespace

std::optional<int> solar_term_longitude(std::string_view name) {
  for (const auto& [term, longitude] : kTerms) {
    if (term == name) return longitude;
  }
  return std::nullopt;
}

double sun_apparent_longitude(absl::Time t) {
  const double jd_ut = kUnixEpochJd + absl::ToDoubleSeconds(t - absl::UnixEpoch()) / 86400.0;
  const double T = (jd_ut + kDeltaTSeconds / 86400.0 - 2451545.0) / 36525.0;  // Julian centuries TT
  const double L0 = 280.46646 + 36000.76983 * T + 0.0003032 * T * T;          // (25.2)
  const double M = (357.52911 + 35999.05029 * T - 0.0001537 * T * T) * kDeg;  // (25.3)
  const double C = (1.914602 - 0.004817 * T - 0.000014 * T * T) * std::sin(M) +
                   (0.019993 - 0.000101 * T) * std::sin(2 * M) + 0.000289 * std::sin(3 * M);
  const double true_longitude = L0 + C;
  const double omega = (125.04 - 1934.136 * T) * kDeg;
  return normalize(true_longitude - 0.00569 - 0.00478 * std::sin(omega));  // apparent
}

absl::Time solar_term_instant(int year, int longitude) {
  // The March equinox is near 20 March (day 79); the sun moves about a degree a day.
  const double approx_doy = std::fmod(79.0 + normalize(longitude) / 360.0 * kTropicalYearDays, kTropicalYearDays);
  const absl::Time guess =
      absl::FromCivil(absl::CivilDay(year, 1, 1), absl::UTCTimeZone()) + absl::Hours(24 * approx_doy);
  absl::Time lo = guess - absl::Hours(24 * 12);
  absl::Time hi = guess + absl::Hours(24 * 12);
  // difference() rises through zero once in the bracket: bisect to a second.
  while (hi - lo > absl::Seconds(1)) {
    const absl::Time mid = lo + (hi - lo) / 2;
    if (difference(sun_apparent_longitude(mid), longitude) < 0) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return hi;
}

absl::CivilDay solar_term_day(int year, int longitude) {
  static const absl::TimeZone kChinaStandardTime = absl::FixedTimeZone(8 * 3600);
  return absl::ToCivilDay(solar_term_instant(year, longitude), kChinaStandardTime);
}

}  // namespace tierflow::notification::calendar
