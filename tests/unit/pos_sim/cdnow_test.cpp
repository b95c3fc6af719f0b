#include "cdnow.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

namespace tierflow::pos_sim {
namespace {

TEST(Cdnow, DecimalCentsExact) {
  EXPECT_EQ(*parse_decimal_cents("11.77"), 1177);
  EXPECT_EQ(*parse_decimal_cents("0.00"), 0);
  EXPECT_EQ(*parse_decimal_cents("12"), 1200);
  EXPECT_EQ(*parse_decimal_cents("12.5"), 1250);
  EXPECT_EQ(*parse_decimal_cents("1286.01"), 128601);
  EXPECT_EQ(*parse_decimal_cents("0.29"), 29);  // 0.29 * 100 is 28.999... in binary floating point
  for (const char* bad : {"", ".5", "1.", "1.234", "-1.00", "1e3", "12a", "1.2.3"}) {
    EXPECT_FALSE(parse_decimal_cents(bad).ok()) << bad;
  }
}

TEST(Cdnow, LineWithCrlfAndLeadingSpaces) {
  auto row = parse_cdnow_line("   00001 19970101  1   11.77\r", 2);
  ASSERT_TRUE(row.ok()) << row.status();
  EXPECT_EQ(row->customer_id, "00001");
  EXPECT_EQ(row->date, absl::CivilDay(1997, 1, 1));
  EXPECT_EQ(row->cds, 1);
  EXPECT_EQ(row->cents, 1177);

  auto zero = parse_cdnow_line("23570 19970325  2    0.00\r\n", 69660);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->cents, 0);

  const auto e = cdnow_event(*row);
  EXPECT_EQ(e.event_id(), "cdnow-2");
  EXPECT_EQ(e.customer_id(), "cdnow-00001");
  EXPECT_EQ(e.event_time().seconds(), 852076800);  // 1997-01-01T00:00:00Z
  EXPECT_EQ(e.sale().total().minor_units(), 1177);
  EXPECT_EQ(e.sale().total().currency(), "USD");
  ASSERT_EQ(e.sale().tenders_size(), 1);
  EXPECT_EQ(e.sale().tenders(0).method(), tierflow::v1::TENDER_METHOD_CASH);
  EXPECT_EQ(e.sale().tenders(0).amount().minor_units(), 1177);
  EXPECT_EQ(e.sale().lines(0).quantity(), 1);
}

TEST(Cdnow, BadLinesNameTheLine) {
  auto bad_date = parse_cdnow_line("00001 19970231 1 11.77", 9);
  ASSERT_FALSE(bad_date.ok());
  EXPECT_NE(std::string(bad_date.status().message()).find("line 9"), std::string::npos);
  EXPECT_FALSE(parse_cdnow_line("00001 19970101 1", 3).ok());
  EXPECT_FALSE(parse_cdnow_line("00001 19970101 x 1.00", 3).ok());
  EXPECT_FALSE(parse_cdnow_line("00001 19970101 1 1.001", 3).ok());
}

TEST(Cdnow, ProfileIsMinimal) {
  const auto p = cdnow_profile("cdnow-00042");
  EXPECT_EQ(p.customer_id(), "cdnow-00042");
  EXPECT_TRUE(p.email().empty());
  EXPECT_TRUE(p.phone().empty());
}

TEST(Cdnow, FullFileTotals) {
  const std::string path = CDNOW_MASTER_PATH;
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  auto reader = CdnowReader::open(path);
  ASSERT_TRUE(reader.ok());
  CdnowRow row;
  std::string error;
  std::int64_t rows = 0, cents = 0, cds = 0, last_line = 0;
  std::set<std::string> customers;
  while (reader->next(&row, &error)) {
    ASSERT_TRUE(error.empty()) << error;
    ++rows;
    cents += row.cents;
    cds += row.cds;
    customers.insert(row.customer_id);
    last_line = row.line_number;
  }
  EXPECT_EQ(rows, 69659);
  EXPECT_EQ(customers.size(), 23570u);
  EXPECT_EQ(cents, 250031563);
  EXPECT_EQ(cds, 167881);
  EXPECT_EQ(last_line, 69660);  // the header is line 1
  EXPECT_DOUBLE_EQ(reader->progress(), 1.0);
}

}  // namespace
}  // namespace tierflow::pos_sim
