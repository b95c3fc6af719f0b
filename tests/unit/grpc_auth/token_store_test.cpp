// The tokens file and the token store: hashing, parsing errors that name file, line and
// field, expiry, rotation by rewriting the file, and a bad file keeping the previous set.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/grpc/auth.h"

namespace tierflow::grpcx {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

std::string entry(const std::string& name, const std::string& role, const std::string& token,
                  const std::string& extra = "") {
  return "  - name: " + name + "\n    role: " + role + "\n    sha256: " + sha256_hex(token) + "\n" + extra;
}

class TokenFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tierflow-tokens-test-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    file_ = (dir_ / "tokens.yaml").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Replaces the file by rename, as an operator's tooling would.
  void write(const std::string& text) {
    const std::string tmp = file_ + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << text;
    std::filesystem::rename(tmp, file_);
  }
  std::filesystem::path dir_;
  std::string file_;
};

TEST(Sha256, MatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ParseTokens, ReadsEveryField) {
  const auto entries = parse_tokens("tokens:\n" + entry("till-1", "pos", "t1", "    stores: [s-1, s-2]\n") +
                                        entry("crm", "crm", "t2", "    expires: 2030-01-31T00:00:00Z\n"),
                                    "tokens.yaml");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].caller.name, "till-1");
  EXPECT_EQ(entries[0].caller.role, Role::kPos);
  EXPECT_EQ(entries[0].caller.stores, (std::vector<std::string>{"s-1", "s-2"}));
  EXPECT_EQ(entries[0].sha256, sha256_hex("t1"));
  EXPECT_FALSE(entries[0].expires);
  EXPECT_EQ(entries[1].caller.role, Role::kCrm);
  ASSERT_TRUE(entries[1].expires);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(entries[1].expires->time_since_epoch()).count(),
            1896048000);
}

void expect_error(const std::string& text, const std::string& expected) {
  try {
    parse_tokens(text, "tokens.yaml");
    FAIL() << "no error for:\n" << text;
  } catch (const TokensError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what() << "\nexpected: " << expected;
  }
}

TEST(ParseTokens, NamesFileLineAndFieldOfEachMistake) {
  expect_error("tokens:\n" + entry("a", "root", "t"), "tokens.yaml:3: tokens[0].role: 'root' is not one of");
  expect_error("tokens:\n  - name: a\n    role: crm\n    sha256: my-secret-token\n",
               "tokens.yaml:4: tokens[0].sha256: expected 64 hex digits");
  expect_error("tokens:\n" + entry("a", "pos", "t"), "tokens[0].stores: missing");
  expect_error("tokens:\n" + entry("a", "crm", "t", "    stores: [s-1]\n"),
               "tokens.yaml:5: tokens[0].stores: only pos");
  expect_error("tokens:\n" + entry("a", "crm", "t", "    expires: tomorrow\n"),
               "tokens.yaml:5: tokens[0].expires: 'tomorrow' is not an RFC 3339 time");
  expect_error("tokens:\n" + entry("a", "crm", "t") + entry("a", "admin", "u"),
               "tokens.yaml:5: tokens[1].name: 'a' appears twice");
  expect_error("tokens:\n" + entry("a", "crm", "t") + entry("b", "admin", "t"), "tokens[1].sha256: the same token");
  expect_error("tokens:\n" + entry("a", "crm", "t", "    token: t\n"), "tokens.yaml:5: tokens[0].token: unknown key");
  expect_error("tokens: [\n", "tokens.yaml:");
  expect_error("users: []\n", "tokens.yaml:1: tokens:");
}

TEST(ParseTokens, ErrorsNeverQuoteTheHash) {
  try {
    parse_tokens("tokens:\n" + entry("a", "root", "t"), "f");
  } catch (const TokensError& e) {
    EXPECT_EQ(std::string(e.what()).find(sha256_hex("t")), std::string::npos);
  }
}

TEST_F(TokenFile, FindsTokensByTheirHashAndHonoursExpiry) {
  write("tokens:\n" + entry("till-1", "pos", "secret-1", "    stores: [s-1]\n") +
        entry("old", "finance", "secret-2", "    expires: 2020-01-01T00:00:00Z\n"));
  TokenStore store(file_, 0ms);
  EXPECT_EQ(store.size(), 2u);
  auto ok = store.find("secret-1", Clock::now());
  ASSERT_EQ(ok.verdict, TokenStore::Verdict::kOk);
  EXPECT_EQ(ok.caller->name, "till-1");
  EXPECT_TRUE(ok.caller->may_post_for_store("s-1"));
  EXPECT_FALSE(ok.caller->may_post_for_store("s-2"));
  EXPECT_EQ(store.find("secret-2", Clock::now()).verdict, TokenStore::Verdict::kExpired);
  EXPECT_EQ(store.find("secret-2", Clock::from_time_t(1500000000)).verdict, TokenStore::Verdict::kOk);
  EXPECT_EQ(store.find("secret-3", Clock::now()).verdict, TokenStore::Verdict::kUnknown);
  EXPECT_EQ(store.find(sha256_hex("secret-1"), Clock::now()).verdict, TokenStore::Verdict::kUnknown)
      << "the stored hash is not a token";
  EXPECT_EQ(store.find("", Clock::now()).verdict, TokenStore::Verdict::kUnknown);
}

TEST_F(TokenFile, AMissingOrBadFileStopsTheStart) {
  EXPECT_THROW(TokenStore(file_, 0ms), TokensError);
  write("tokens:\n" + entry("a", "root", "t"));
  EXPECT_THROW(TokenStore(file_, 0ms), TokensError);
}

TEST_F(TokenFile, RotationByRewritingTheFile) {
  write("tokens:\n" + entry("crm", "crm", "old-token"));
  TokenStore store(file_, 0ms);
  EXPECT_FALSE(store.reload_if_changed()) << "unchanged file";
  write("tokens:\n" + entry("crm", "crm", "new-token"));
  EXPECT_TRUE(store.reload_if_changed());
  EXPECT_EQ(store.find("old-token", Clock::now()).verdict, TokenStore::Verdict::kUnknown);
  EXPECT_EQ(store.find("new-token", Clock::now()).verdict, TokenStore::Verdict::kOk);
}

TEST_F(TokenFile, ABadFileKeepsThePreviousTokens) {
  write("tokens:\n" + entry("crm", "crm", "good"));
  TokenStore store(file_, 0ms);
  write("tokens:\n" + entry("crm", "crm", "better", "    expires: soon\n"));
  EXPECT_FALSE(store.reload_if_changed());
  EXPECT_EQ(store.find("good", Clock::now()).verdict, TokenStore::Verdict::kOk);
  EXPECT_EQ(store.find("better", Clock::now()).verdict, TokenStore::Verdict::kUnknown);
  std::filesystem::remove(file_);
  EXPECT_FALSE(store.reload_if_changed()) << "a deleted file keeps the tokens too";
  EXPECT_EQ(store.find("good", Clock::now()).verdict, TokenStore::Verdict::kOk);
  write("tokens:\n" + entry("crm", "crm", "better"));
  EXPECT_TRUE(store.reload_if_changed());
  EXPECT_EQ(store.find("better", Clock::now()).verdict, TokenStore::Verdict::kOk);
}

TEST_F(TokenFile, TheWatcherReloadsWithoutBeingAsked) {
  write("tokens:\n" + entry("crm", "crm", "first"));
  TokenStore store(file_, 50ms);
  write("tokens:\n" + entry("crm", "crm", "second"));
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store.find("second", Clock::now()).verdict != TokenStore::Verdict::kOk &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(store.find("second", Clock::now()).verdict, TokenStore::Verdict::kOk);
  EXPECT_EQ(store.find("first", Clock::now()).verdict, TokenStore::Verdict::kUnknown);
}

}  // namespace
}  // namespace tierflow::grpcx
