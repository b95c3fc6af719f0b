// The published Chinese calendar for 2024-2035 (国务院/紫金山天文台 calendars as printed):
// 除夕, 春节, 清明, 端午, 中秋 of each Gregorian year. Typed in on purpose: the code
// computes them, the test compares.
#pragma once

#include "absl/time/civil_time.h"

namespace tierflow::notification::calendar::testing {

struct PublishedYear {
  int year;
  absl::CivilDay chuxi;  // 除夕, the last day of the previous lunar year
  absl::CivilDay chunjie;
  absl::CivilDay qingming;
  absl::CivilDay duanwu;
  absl::CivilDay zhongqiu;
};

using D = absl::CivilDay;
inline constexpr PublishedYear kPublished[] = {
    {2024, D(2024, 2, 9), D(2024, 2, 10), D(2024, 4, 4), D(2024, 6, 10), D(2024, 9, 17)},
    {2025, D(2025, 1, 28), D(2025, 1, 29), D(2025, 4, 4), D(2025, 5, 31), D(2025, 10, 6)},
    {2026, D(2026, 2, 16), D(2026, 2, 17), D(2026, 4, 5), D(2026, 6, 19), D(2026, 9, 25)},
    {2027, D(2027, 2, 5), D(2027, 2, 6), D(2027, 4, 5), D(2027, 6, 9), D(2027, 9, 15)},
    {2028, D(2028, 1, 25), D(2028, 1, 26), D(2028, 4, 4), D(2028, 5, 28), D(2028, 10, 3)},
    {2029, D(2029, 2, 12), D(2029, 2, 13), D(2029, 4, 4), D(2029, 6, 16), D(2029, 9, 22)},
    {2030, D(2030, 2, 2), D(2030, 2, 3), D(2030, 4, 5), D(2030, 6, 5), D(2030, 9, 12)},
    {2031, D(2031, 1, 22), D(2031, 1, 23), D(2031, 4, 5), D(2031, 6, 24), D(2031, 10, 1)},
    {2032, D(2032, 2, 10), D(2032, 2, 11), D(2032, 4, 4), D(2032, 6, 12), D(2032, 9, 19)},
    {2033, D(2033, 1, 30), D(2033, 1, 31), D(2033, 4, 4), D(2033, 6, 1), D(2033, 9, 8)},
    {2034, D(2034, 2, 18), D(2034, 2, 19), D(2034, 4, 5), D(2034, 6, 20), D(2034, 9, 27)},
    {2035, D(2035, 2, 7), D(2035, 2, 8), D(2035, 4, 5), D(2035, 6, 10), D(2035, 9, 16)},
};

}  // namespace tierflow::notification::calendar::testing
