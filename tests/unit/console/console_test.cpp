// The console's pure parts: the language from Accept-Language, as_of dates, the candidate
// standard's error as line and field, gRPC codes as HTTP statuses, and sessions (login by
// role, CSRF token, logout, a rotated token ending its session).
#include <gtest/gtest.h>

#include <fstream>

#include "common/time/time.h"
#include "src/api.h"
#include "src/server.h"
#include "src/sessions.h"
#include "tests/support/process.h"
#include "tests/support/tokens.h"

namespace tierflow::console {
namespace {

TEST(ConsoleLanguage, ChineseWhenMostPreferred) {
  EXPECT_EQ(language_of("zh-CN,zh;q=0.9,en;q=0.8"), "zh-CN");
  EXPECT_EQ(language_of("zh"), "zh-CN");
  EXPECT_EQ(language_of("zh-TW"), "zh-CN");
  EXPECT_EQ(language_of("en-US,en;q=0.9,zh-CN;q=0.8"), "en");
  EXPECT_EQ(language_of("en;q=0.5,zh-CN;q=0.9"), "zh-CN");  // q decides, not the order
  EXPECT_EQ(language_of(""), "en");
  EXPECT_EQ(language_of("fr-FR"), "en");
}

TEST(ConsoleAsOf, DateMeansTheEndOfThatUtcDay) {
  EXPECT_FALSE(parse_as_of("").has_value());
  const auto t = parse_as_of("2024-02-29");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(timeutil::format(timeutil::from_proto(*t)), "2024-02-29T23:59:59Z");
  for (const char* bad : {"2023-02-29", "2024-13-01", "2024-1-01", "yesterday", "2024-01-01T00:00:00Z"}) {
    EXPECT_THROW(parse_as_of(bad), std::invalid_argument) << bad;
  }
}

TEST(ConsoleWhatIf, StandardErrorGivesLineAndField) {
  EXPECT_EQ(standard_error_json("candidate standard:123: dimensions[1].feature: unknown feature 'salez_12m'"),
            R"({"line":123,"field":"dimensions[1].feature","message":"unknown feature 'salez_12m'"})");
  EXPECT_EQ(standard_error_json("candidate standard:4: not valid YAML: end of map not found"),
            R"({"line":4,"field":"","message":"not valid YAML: end of map not found"})");
  EXPECT_EQ(standard_error_json("something else"), R"({"line":0,"field":"","message":"something else"})");
}

TEST(ConsoleHttp, GrpcCodesMapToHttpStatuses) {
  EXPECT_EQ(http_status(grpc::StatusCode::OK), 200);
  EXPECT_EQ(http_status(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(http_status(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(http_status(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(http_status(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(http_status(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(http_status(grpc::StatusCode::UNKNOWN), 502);
  const Reply r = error_reply(grpc::Status(grpc::StatusCode::NOT_FOUND, "no customer \"c9\""));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":{"code":"NOT_FOUND","message":"no customer \"c9\""}})");
}

TEST(ConsoleSessions, OnlyConsoleRolesGetASessionWithItsOwnCsrfToken) {
  test_support::TempDir dir("tf-console-unit");
  test_support::TestTokens tokens(dir.path().string());
  grpcx::TokenStore store(tokens.file(), std::chrono::milliseconds(0));
  Sessions sessions(store, std::chrono::minutes(5));
  int made = 0;
  auto make = [&](Session&) { ++made; };
  Sessions::Refusal why = Sessions::Refusal::kNone;
  for (const char* role : {"pos", "crm", "campaign"}) {
    EXPECT_EQ(sessions.login(tokens.token(role), &why, make), nullptr) << role;
    EXPECT_EQ(why, Sessions::Refusal::kRole);
  }
  EXPECT_EQ(sessions.login("nope", &why, make), nullptr);
  EXPECT_EQ(why, Sessions::Refusal::kUnknown);
  EXPECT_EQ(made, 0);

  const auto a = sessions.login(tokens.token("finance"), &why, make);
  const auto b = sessions.login(tokens.token("call-center"), &why, make);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(a->caller.name, "test-finance");
  EXPECT_EQ(a->id.size(), 64U);
  EXPECT_EQ(a->csrf.size(), 64U);
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(a->csrf, b->csrf);
  EXPECT_NE(a->id, a->csrf);
  EXPECT_EQ(sessions.find(a->id), a);
  EXPECT_EQ(sessions.find(std::string(64, 'x')), nullptr);  // not hex: never an id

  sessions.logout(a->id);
  EXPECT_EQ(sessions.find(a->id), nullptr);

  // The call-center token is rotated away: its session ends at its next use.
  tokens.rewrite("tokens: []\n");
  ASSERT_TRUE(store.reload_if_changed());
  EXPECT_EQ(sessions.find(b->id), nullptr);
  EXPECT_EQ(sessions.size(), 0U);
}

}  // namespace
}  // namespace tierflow::console
