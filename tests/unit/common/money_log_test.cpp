#include <gtest/gtest.h>

#include <climits>

#include "common/log/log.h"
#include "common/money/money.h"

namespace tierflow {
namespace {

TEST(Money, FormatsWithGroupingAndTheCurrencysDigits) {
  EXPECT_EQ(money::format(123456789, "CNY"), "1,234,567.89 CNY");
  EXPECT_EQ(money::format(5, "USD"), "0.05 USD");
  EXPECT_EQ(money::format(-100000, "CNY"), "-1,000.00 CNY");
  EXPECT_EQ(money::format(1500, "JPY"), "1,500 JPY");
  EXPECT_EQ(money::format(1234, "KWD"), "1.234 KWD");
  EXPECT_EQ(money::format(LLONG_MIN, "USD"), "-92,233,720,368,547,758.08 USD");
}

TEST(Money, KnowsCurrenciesAndOverflow) {
  EXPECT_TRUE(money::is_known_currency("CNY"));
  EXPECT_TRUE(money::is_known_currency("USD"));
  EXPECT_FALSE(money::is_known_currency("XXX"));
  EXPECT_FALSE(money::is_known_currency("cny"));
  EXPECT_FALSE(money::checked_add(LLONG_MAX, 1).has_value());
  EXPECT_EQ(money::checked_add(2, 3), 5);
}

TEST(Log, MasksPersonalData) {
  EXPECT_EQ(log::mask_email("alice@example.com"), "a***@example.com");
  EXPECT_EQ(log::mask_email(""), "");
  EXPECT_EQ(log::mask_phone("+86 138 0013 8000"), "***8000");
  EXPECT_EQ(log::mask_phone("12"), "***12");
}

}  // namespace
}  // namespace tierflow
