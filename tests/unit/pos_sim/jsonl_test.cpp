#include "jsonl.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tierflow::pos_sim {
namespace {

TEST(Jsonl, EventLine) {
  auto item = parse_jsonl_line(
      R"({"eventId":"e-1","customerId":"c-1","eventTime":"2025-01-02T03:04:05Z",)"
      R"("sale":{"total":{"minorUnits":"1177","currency":"CNY"}}})",
      1);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->kind, JsonlItem::Kind::kEvent);
  EXPECT_EQ(item->event.event_id(), "e-1");
  EXPECT_EQ(item->event.sale().total().minor_units(), 1177);
  EXPECT_EQ(item->event.event_time().seconds(), 1735787045);
}

TEST(Jsonl, ProfileLineAndSnakeCaseNames) {
  auto item = parse_jsonl_line(
      R"( { "profile": {"customer_id":"c-9","time_zone":"Asia/Shanghai","birthday":{"month":2,"day":3}}})", 4);
  ASSERT_TRUE(item.ok()) << item.status();
  EXPECT_EQ(item->kind, JsonlItem::Kind::kProfile);
  EXPECT_EQ(item->profile.customer_id(), "c-9");
  EXPECT_EQ(item->profile.time_zone(), "Asia/Shanghai");
  EXPECT_EQ(item->profile.birthday().day(), 3);
}

TEST(Jsonl, RoundTrip) {
  tierflow::v1::PosEvent e;
  e.set_event_id("e-5-1");
  e.mutable_refund()->set_original_event_id("e-5-0");
  e.mutable_refund()->mutable_amount()->set_minor_units(9007199254740993);  // > 2^53: exact
  auto back = parse_jsonl_line(event_to_jsonl(e), 1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->event.SerializeAsString(), e.SerializeAsString());

  tierflow::v1::CustomerProfile p;
  p.set_customer_id("c-1");
  p.set_email("someone@example.com");
  auto pback = parse_jsonl_line(profile_to_jsonl(p), 2);
  ASSERT_TRUE(pback.ok());
  EXPECT_EQ(pback->profile.SerializeAsString(), p.SerializeAsString());
}

TEST(Jsonl, BadLinesNameTheLineNotTheContent) {
  auto unknown = parse_jsonl_line(R"({"eventId":"e-1","bogus":1})", 7);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(std::string(unknown.status().message()).find("line 7"), std::string::npos);
  auto garbage = parse_jsonl_line("not json", 8);
  ASSERT_FALSE(garbage.ok());
  auto bad_profile = parse_jsonl_line(R"({"profile":{"customerId":"c-1","email":"x@example.com","nope":2}})", 9);
  ASSERT_FALSE(bad_profile.ok());
  const std::string msg(bad_profile.status().message());
  EXPECT_NE(msg.find("line 9"), std::string::npos);
  EXPECT_NE(msg.find("profile"), std::string::npos);
  EXPECT_EQ(msg.find("x@example.com"), std::string::npos);
  EXPECT_FALSE(parse_jsonl_line(R"({"customerId":"c-1"})", 10).ok()) << "an event needs an id";
}

TEST(Jsonl, ReaderGoesOnAfterABadLine) {
  const auto path = std::filesystem::temp_directory_path() / "pos_sim_jsonl_test.jsonl";
  {
    std::ofstream out(path);
    out << R"({"profile":{"customerId":"c-1"}})" << "\n"
        << "\n# a comment\n"
        << R"({"eventId":"e-1","customerId":"c-1","feedback":{"score":9}})" << "\r\n"
        << "{broken\n"
        << R"({"eventId":"e-2","customerId":"c-1","feedback":{"score":3}})" << "\n";
  }
  auto reader = JsonlReader::open(path.string());
  ASSERT_TRUE(reader.ok());
  JsonlItem item;
  std::string error;
  std::vector<std::string> seen;
  while (reader->next(&item, &error)) {
    if (!error.empty()) {
      seen.push_back("error: " + error.substr(0, 6));
    } else {
      seen.push_back(item.kind == JsonlItem::Kind::kProfile ? "profile " + item.profile.customer_id()
                                                            : "event " + item.event.event_id());
    }
  }
  std::filesystem::remove(path);
  EXPECT_EQ(seen, (std::vector<std::string>{"profile c-1", "event e-1", "error: line 5", "event e-2"}));
}

}  // namespace
}  // namespace tierflow::pos_sim
