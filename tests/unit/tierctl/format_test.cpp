#include "format.h"

#include <gtest/gtest.h>

#include <climits>

namespace tierflow::tierctl {
namespace {

TEST(Format, Integers) {
  EXPECT_EQ(format_int(0), "0");
  EXPECT_EQ(format_int(999), "999");
  EXPECT_EQ(format_int(1000), "1,000");
  EXPECT_EQ(format_int(1234567), "1,234,567");
  EXPECT_EQ(format_int(-1234), "-1,234");
  EXPECT_EQ(format_int(INT64_MIN), "-9,223,372,036,854,775,808");
}

TEST(Format, Money) {
  EXPECT_EQ(format_money(123456789, "CNY"), "1,234,567.89 CNY");
  EXPECT_EQ(format_money(250031563, "USD"), "2,500,315.63 USD");
  EXPECT_EQ(format_money(5, "USD"), "0.05 USD");
  EXPECT_EQ(format_money(-5, "USD"), "-0.05 USD");
  EXPECT_EQ(format_money(-123400, "CNY"), "-1,234.00 CNY");
  EXPECT_EQ(format_money(0, "CNY"), "0.00 CNY");
  EXPECT_EQ(format_money(1200, "JPY"), "1,200 JPY");
  EXPECT_EQ(format_money(1234567, "KWD"), "1,234.567 KWD");
  EXPECT_EQ(format_money(100, ""), "1.00");
  EXPECT_EQ(format_money(INT64_MAX, "USD"), "92,233,720,368,547,758.07 USD");
  EXPECT_EQ(format_money(INT64_MIN, "USD"), "-92,233,720,368,547,758.08 USD");
}

TEST(Format, SharesAndTimes) {
  EXPECT_EQ(format_share(0.8012), "80.1%");
  EXPECT_EQ(format_share(1.0), "100.0%");
  google::protobuf::Timestamp t;
  EXPECT_EQ(format_time(t), "-");
  ASSERT_TRUE(parse_time("2027-01-01", &t));
  EXPECT_EQ(t.seconds(), 1798761600);
  EXPECT_EQ(format_time(t), "2027-01-01 00:00:00 UTC");
  ASSERT_TRUE(parse_time("2025-01-31T08:00:00+08:00", &t));
  EXPECT_EQ(format_time(t), "2025-01-31 00:00:00 UTC");
  EXPECT_FALSE(parse_time("2027-13-01", &t));
  EXPECT_FALSE(parse_time("tomorrow", &t));
}

TEST(Format, DisplayWidth) {
  EXPECT_EQ(display_width("gold"), 4u);
  EXPECT_EQ(display_width("华东"), 4u);
  EXPECT_EQ(display_width("é"), 1u);
}

TEST(Format, AlignedTable) {
  Table t({"tier", "customers", "value"}, {Table::Align::kLeft, Table::Align::kRight, Table::Align::kRight});
  t.add_row({"gold", "1,200", "80,000.00 CNY"});
  t.add_row({"华东", "7"});
  EXPECT_EQ(t.render(),
            "tier  customers          value\n"
            "----  ---------  -------------\n"
            "gold      1,200  80,000.00 CNY\n"
            "华东          7\n");
}

TEST(Format, RpcErrors) {
  EXPECT_EQ(format_rpc_error("get", 5, "customer c-9 is unknown"), "tierctl: get: NOT_FOUND: customer c-9 is unknown");
  EXPECT_EQ(format_rpc_error("what-if", 12, ""), "tierctl: what-if: UNIMPLEMENTED: not implemented yet by the server");
  EXPECT_EQ(format_rpc_error("reload", 12, "later"),
            "tierctl: reload: UNIMPLEMENTED: not implemented yet by the server (later)");
  EXPECT_EQ(status_code_name(14), "UNAVAILABLE");
  EXPECT_EQ(status_code_name(99), "CODE_99");
}

}  // namespace
}  // namespace tierflow::tierctl
