// The access check without a network: open methods, the refusals and their codes, admin,
// the pos rate limit, the failure counter, what reaches the log (never a token), and every
// service's method table against the methods its proto declares.
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/grpc/auth.h"
#include "services/classification/service/access.h"
#include "services/ingest/src/access.h"
#include "services/ledger/service/access.h"
#include "services/notification/src/access.h"

namespace tierflow::grpcx {
namespace {

using namespace std::chrono_literals;
constexpr int kOk = 0, kUnauthenticated = 16, kPermissionDenied = 7, kResourceExhausted = 8;
const std::string kGetAccount = "/tierflow.v1.Ledger/GetAccount";

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = (std::filesystem::temp_directory_path() / ("tierflow-access-test-" + std::to_string(::getpid()))).string();
    std::ofstream(file_) << "tokens:\n"
                         << "  - {name: desk-1, role: call-center, sha256: " << sha256_hex("cc-token") << "}\n"
                         << "  - {name: root, role: admin, sha256: " << sha256_hex("admin-token") << "}\n"
                         << "  - {name: till-9, role: pos, sha256: " << sha256_hex("pos-token") << ", stores: [s-9]}\n"
                         << "  - {name: gone, role: finance, sha256: " << sha256_hex("old-token")
                         << ", expires: 2001-01-01T00:00:00Z}\n";
    tokens_ = std::make_unique<TokenStore>(file_, 0ms);
    config::AuthConfig cfg;
    cfg.pos_calls_per_s = 1;
    cfg.pos_burst = 3;
    access_ = std::make_unique<Access>(*tokens_, ledger::access_table(), cfg, &registry_);
    auto table = ingest::access_table();
    ingest_ = std::make_unique<Access>(*tokens_, table, cfg, &registry_);
    log_ = std::make_shared<std::ostringstream>();
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_)));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    std::filesystem::remove(file_);
  }
  Access::Decision check(Access& a, const std::string& path, std::optional<std::string> header) {
    return a.check(path, header ? std::optional<std::string_view>(*header) : std::nullopt,
                   std::chrono::system_clock::now());
  }
  std::string metrics() const { return prometheus::TextSerializer().Serialize(registry_.Collect()); }

  std::string file_;
  prometheus::Registry registry_;
  std::unique_ptr<TokenStore> tokens_;
  std::unique_ptr<Access> access_, ingest_;
  std::shared_ptr<std::ostringstream> log_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(AccessTest, HealthAndReflectionNeedNoToken) {
  EXPECT_EQ(check(*access_, "/grpc.health.v1.Health/Check", std::nullopt).code, kOk);
  EXPECT_EQ(check(*access_, "/grpc.health.v1.Health/Watch", std::nullopt).code, kOk);
  EXPECT_EQ(check(*access_, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", std::nullopt).code, kOk);
}

TEST_F(AccessTest, RefusesWithTheRightCodeAndReason) {
  auto d = check(*access_, kGetAccount, std::nullopt);
  EXPECT_EQ(d.code, kUnauthenticated);
  EXPECT_EQ(d.reason, "missing_token");
  EXPECT_EQ(check(*access_, kGetAccount, "Basic abc").reason, "missing_token");
  EXPECT_EQ(check(*access_, kGetAccount, "Bearer ").reason, "missing_token");
  d = check(*access_, kGetAccount, "Bearer not-a-token");
  EXPECT_EQ(d.code, kUnauthenticated);
  EXPECT_EQ(d.reason, "unknown_token");
  d = check(*access_, kGetAccount, "Bearer old-token");
  EXPECT_EQ(d.code, kUnauthenticated);
  EXPECT_EQ(d.reason, "expired_token");
  d = check(*access_, kGetAccount, "Bearer pos-token");
  EXPECT_EQ(d.code, kPermissionDenied);
  EXPECT_EQ(d.reason, "wrong_role");
  EXPECT_EQ(d.message, "role pos (token 'till-9') may not call /tierflow.v1.Ledger/GetAccount");
  EXPECT_EQ(check(*access_, "/tierflow.v1.Ledger/NoSuchMethod", "Bearer cc-token").code, kPermissionDenied);
}

TEST_F(AccessTest, LetsTheRightRolesThrough) {
  auto d = check(*access_, kGetAccount, "Bearer cc-token");
  EXPECT_EQ(d.code, kOk);
  ASSERT_TRUE(d.caller);
  EXPECT_EQ(d.caller->name, "desk-1");
  EXPECT_EQ(check(*access_, kGetAccount, "bearer cc-token").code, kOk) << "the scheme is case-insensitive";
  EXPECT_EQ(check(*access_, kGetAccount, "Bearer admin-token").code, kOk);
  EXPECT_EQ(check(*access_, "/tierflow.v1.Ledger/NoSuchMethod", "Bearer admin-token").code, kOk)
      << "admin may call everything; gRPC answers UNIMPLEMENTED after";
  EXPECT_EQ(check(*ingest_, "/tierflow.v1.PosIngest/SubmitEvents", "Bearer pos-token").code, kOk);
  EXPECT_EQ(check(*ingest_, "/tierflow.v1.PosIngest/UpsertCustomers", "Bearer pos-token").code, kPermissionDenied);
}

TEST_F(AccessTest, RateLimitsPosTokensPerName) {
  const std::string submit = "/tierflow.v1.PosIngest/SubmitEvents";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(check(*ingest_, submit, "Bearer pos-token").code, kOk) << i;
  const auto d = check(*ingest_, submit, "Bearer pos-token");
  EXPECT_EQ(d.code, kResourceExhausted);
  EXPECT_EQ(d.reason, "rate_limited");
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(check(*ingest_, submit, "Bearer admin-token").code, kOk) << "admin is not limited";
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(check(*ingest_, submit, "Bearer pos-token").code, kOk) << "the bucket refills";
}

TEST_F(AccessTest, CountsEveryRefusalAndLogsOncePerMinuteWithoutTheToken) {
  for (int i = 0; i < 5; ++i) check(*access_, kGetAccount, "Bearer not-a-token");
  check(*access_, kGetAccount, "Bearer pos-token");
  check(*access_, kGetAccount, std::nullopt);
  const std::string m = metrics();
  EXPECT_NE(m.find("tierflow_grpc_auth_failures_total{method=\"/tierflow.v1.Ledger/"
                   "GetAccount\",reason=\"unknown_token\",role=\"none\"} 5"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("reason=\"wrong_role\",role=\"pos\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("reason=\"missing_token\",role=\"none\"} 1"), std::string::npos) << m;
  const std::string log = log_->str();
  size_t lines = 0;
  for (size_t at = 0; (at = log.find("unknown_token", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << log;
  for (const char* token : {"not-a-token", "pos-token", "cc-token"}) {
    EXPECT_EQ(log.find(token), std::string::npos) << token << " in the log:\n" << log;
  }
  EXPECT_EQ(log.find(sha256_hex("pos-token")), std::string::npos);
}

// Every method each service's proto declares is in its table, and nothing else: a new RPC
// cannot ship open (or unreachable) by omission.
TEST(MethodTables, CoverEveryMethodOfTheirService) {
  // A message of each file links its descriptor in (the pool holds only linked files).
  const std::tuple<std::string, const google::protobuf::FileDescriptor*, MethodRoles> tables[] = {
      {"PosIngest", v1::SubmitEventsRequest::descriptor()->file(), ingest::access_table()},
      {"Ledger", v1::GetAccountRequest::descriptor()->file(), ledger::access_table()},
      {"TierService", v1::GetTierRequest::descriptor()->file(), classification::access_table()},
      {"CampaignService", v1::ListDeliveriesRequest::descriptor()->file(), notification::access_table()},
  };
  for (const auto& [name, file, table] : tables) {
    const auto* desc = file->FindServiceByName(name);
    const std::string service = "tierflow.v1." + name;
    ASSERT_NE(desc, nullptr) << service;
    EXPECT_EQ(static_cast<int>(table.size()), desc->method_count()) << service;
    for (int i = 0; i < desc->method_count(); ++i) {
      const std::string path = "/" + service + "/" + desc->method(i)->name();
      EXPECT_TRUE(table.contains(path)) << path << " has no roles";
    }
  }
  // The roles the issue gives, spot-checked.
  const auto tiers = classification::access_table();
  EXPECT_EQ(tiers.at("/tierflow.v1.TierService/SetOverride"), std::vector<Role>{}) << "admin only";
  EXPECT_EQ(tiers.at("/tierflow.v1.TierService/WhatIf"), std::vector<Role>{Role::kFinance});
}

}  // namespace
}  // namespace tierflow::grpcx
