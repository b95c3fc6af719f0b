// tierflow-console's HTTP side against a running classification (keeper, TierService with
// access control, real Redis and the devbroker), driven with an httplib client: a login is
// required, a wrong role is refused, changes need the CSRF token, the session cookie is
// HttpOnly and SameSite=Strict, /api/overview is GetOverview, the call-center sees contact
// data masked, an override from the API is audited with the logged-in token's name, and a
// broken candidate standard is answered with its line and field.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/time/civil_time.h"
#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "service/access.h"
#include "service/store.h"
#include "service/tier_keeper.h"
#include "service/tier_service.h"
#include "src/server.h"
#include "tests/support/accounts.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tests/support/tokens.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace tierflow::console {
namespace {

using test_support::DevBroker;
using test_support::RedisServer;
using test_support::TempDir;
using test_support::TestTokens;

const absl::Time kAsOf = absl::FromCivil(absl::CivilDay(2024, 6, 20), absl::UTCTimeZone());

// 30 months (old customers) of `monthly_sales` at a quarter's gross profit, as of kAsOf.
v1::AccountSnapshot snapshot(const std::string& id, int64_t monthly_sales) {
  v1::AccountSnapshot a = test_support::steady_account(id, 1, monthly_sales / 4, kAsOf, "CNY", 30);
  a.set_receivable_minor(12345);
  if (id == "c5") {  // pays very late: credit class C, a credit hold (the watch list)
    a.mutable_payment()->set_max_days_late(120);
    a.mutable_payment()->set_on_time_ratio(0.4);
    a.mutable_payment()->set_invoices_paid(5);
  }
  return a;
}

class ConsoleIT : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.file("redis"));
    std::filesystem::create_directories(dir_.file("broker"));
    redis_ = std::make_unique<RedisServer>(dir_.file("redis"));
    broker_ =
        std::make_unique<DevBroker>(test_support::DevBrokerOptions{TIERFLOW_DEVBROKER, dir_.file("broker"), 4, 1});
    tokens_ = std::make_unique<TestTokens>(dir_.path().string());

    cfg_.kafka.bootstrap_servers = broker_->bootstrap();
    cfg_.kafka.client_id = "console-it";
    cfg_.kafka.partitions = broker_->partitions();
    cfg_.redis = redis_->config();
    cfg_.store_path = dir_.file("classification.db");
    cfg_.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
    cfg_.clock = "events";
    cfg_.evaluation_points = "newest_event";  // no ledger watermarks in these scenarios
    cfg_.reevaluate_interval = std::chrono::milliseconds(500);
    cfg_.evaluate_delay = std::chrono::milliseconds(200);
    cfg_.group_id = "console-it";
    cfg_.access.auth.tokens_file = tokens_->file();

    producer_ =
        std::make_unique<kafka::RdkafkaProducer>(cfg_.kafka.bootstrap_servers, "console-it", cfg_.kafka.properties);
    keeper_ = std::make_unique<classification::TierKeeper>(cfg_, *producer_, registry_);
    service_ = std::make_unique<classification::TierService>(cfg_, *keeper_);
    access_ = std::make_unique<grpcx::ServiceAccess>(cfg_.access, classification::access_table(), registry_);
    grpc_ = std::make_unique<grpcx::Server>("127.0.0.1:0", std::vector<grpc::Service*>{service_.get()}, access_.get());
    keeper_thread_ = std::jthread([this](std::stop_token stop) { keeper_->run(stop); });
    grpc_addr_ = "127.0.0.1:" + std::to_string(grpc_->port());

    feed();

    console_cfg_.http_listen = "127.0.0.1:0";
    console_cfg_.classification_addr = grpc_addr_;
    console_cfg_.ledger_addr = "127.0.0.1:1";  // not running: the customer page shows that part's error
    console_cfg_.notification_addr = "127.0.0.1:1";
    console_cfg_.deadline = std::chrono::milliseconds(3000);
    console_cfg_.web_dir = std::string(TIERFLOW_SOURCE_DIR) + "/services/console/web";
    console_tokens_ = std::make_unique<grpcx::TokenStore>(tokens_->file(), std::chrono::milliseconds(0));
    holidays_ =
        notification::calendar::HolidayCalendar::load(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/holidays.yaml");
    console_ = std::make_unique<ConsoleServer>(console_cfg_, *console_tokens_, &holidays_);
    console_->start();
    http_ = std::make_unique<httplib::Client>("127.0.0.1", console_->port());
    http_->set_read_timeout(15, 0);
  }

  void TearDown() override {
    http_.reset();
    console_.reset();
    keeper_->close_watchers();
    grpc_->shutdown(std::chrono::seconds(2));
    keeper_thread_.request_stop();
    keeper_thread_.join();
    producer_->flush(std::chrono::seconds(5));
  }

  // Five customers with profiles (names and contact data) and accounts; waits until each
  // has a tier.
  void feed() {
    kafka::RdkafkaProducer input(broker_->bootstrap(), "console-it-input");
    const std::vector<std::pair<std::string, int64_t>> customers = {
        {"c1", 9000000}, {"c2", 2000000}, {"c3", 500000}, {"c4", 100000}, {"c5", 20000}};
    for (const auto& [id, sales] : customers) {
      v1::CustomerProfile p;
      p.set_customer_id(id);
      p.set_name(id == "c1" ? "张三" : "Customer " + id);
      p.set_email(id + ".owner@example.com");
      p.set_phone("+86 138 0013 " + std::string(id == "c1" ? "1234" : "5678"));
      p.set_region("CN-31");
      p.set_industry("retail");
      p.mutable_birthday()->set_year(1980);
      p.mutable_birthday()->set_month(7);
      p.mutable_birthday()->set_day(1);
      auto r = kafka::produce_sync(input, topics::kCustomers, id, p.SerializeAsString(),
                                   {{std::string(kafka::kTypeHeader), "tierflow.v1.CustomerProfile"}},
                                   std::chrono::seconds(10));
      ASSERT_TRUE(r.ok) << r.error;
      r = kafka::produce_sync(input, topics::kAccounts, id, snapshot(id, sales).SerializeAsString(),
                              {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}},
                              std::chrono::seconds(10));
      ASSERT_TRUE(r.ok) << r.error;
    }
    auto stub = v1::TierService::NewStub(tokens_->channel(grpc_addr_, "finance"));
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (const auto& [id, sales] : customers) {
      for (;;) {
        v1::GetTierRequest req;
        req.set_customer_id(id);
        v1::TierAssignment out;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        if (stub->GetTier(&ctx, req, &out).ok()) break;
        ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "no tier for " << id;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  // Logs in with the token of `role`; returns the cookie header value ("" when refused).
  std::string login(const std::string& role, int* status = nullptr, std::string* set_cookie = nullptr) {
    httplib::Params form{{"token", tokens_->token(role)}};
    auto res = http_->Post("/login", form);
    EXPECT_TRUE(res) << "no answer from the console";
    if (!res) return "";
    if (status) *status = res->status;
    const std::string cookie = res->get_header_value("Set-Cookie");
    if (set_cookie) *set_cookie = cookie;
    if (cookie.empty()) return "";
    return cookie.substr(0, cookie.find(';'));
  }
  std::string csrf(const std::string& cookie) {
    auto res = http_->Get("/api/session", {{"Cookie", cookie}});
    EXPECT_TRUE(res && res->status == 200);
    google::protobuf::Struct s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(res->body, &s).ok());
    return s.fields().at("csrf").string_value();
  }
  httplib::Result post(const std::string& path, const std::string& cookie, const std::string& body,
                       const std::string& csrf_token, const char* type = "application/json") {
    httplib::Headers h{{"Cookie", cookie}};
    if (!csrf_token.empty()) h.emplace("X-CSRF-Token", csrf_token);
    return http_->Post(path.c_str(), h, body, type);
  }
  std::unique_ptr<v1::TierService::Stub> stub(const std::string& role) {
    return v1::TierService::NewStub(tokens_->channel(grpc_addr_, role));
  }

  TempDir dir_{"tf-console-it"};
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<DevBroker> broker_;
  std::unique_ptr<TestTokens> tokens_;
  classification::Config cfg_;
  prometheus::Registry registry_;
  std::unique_ptr<kafka::RdkafkaProducer> producer_;
  std::unique_ptr<classification::TierKeeper> keeper_;
  std::unique_ptr<classification::TierService> service_;
  std::unique_ptr<grpcx::ServiceAccess> access_;
  std::unique_ptr<grpcx::Server> grpc_;
  std::jthread keeper_thread_;
  std::string grpc_addr_;
  Config console_cfg_;
  std::unique_ptr<grpcx::TokenStore> console_tokens_;
  notification::calendar::HolidayCalendar holidays_;
  std::unique_ptr<ConsoleServer> console_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(ConsoleIT, LoginIsRequiredAndOnlyConsoleRolesMayLogIn) {
  auto api = http_->Get("/api/overview");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 401);
  auto page = http_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 303);
  EXPECT_EQ(page->get_header_value("Location"), "/login");
  auto form = http_->Get("/login");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 200);
  EXPECT_NE(form->body.find("name=\"token\""), std::string::npos);

  int status = 0;
  EXPECT_EQ(login("pos", &status), "");  // a role the console does not serve
  EXPECT_EQ(status, 403);
  EXPECT_EQ(login("campaign", &status), "");
  EXPECT_EQ(status, 403);
  auto unknown = http_->Post("/login", httplib::Params{{"token", "not-a-token"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  EXPECT_TRUE(unknown->get_header_value("Set-Cookie").empty());
  auto bogus = http_->Get("/api/overview", {{"Cookie", "tf_session=0123"}});
  ASSERT_TRUE(bogus);
  EXPECT_EQ(bogus->status, 401);

  for (const char* role : {"call-center", "finance", "admin"}) {
    const std::string cookie = login(role, &status);
    EXPECT_EQ(status, 303) << role;
    ASSERT_FALSE(cookie.empty()) << role;
    auto ok = http_->Get("/api/overview", {{"Cookie", cookie}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << role;
  }
}

TEST_F(ConsoleIT, SessionCookieIsHttpOnlySameSiteStrictAndLogoutEndsIt) {
  int status = 0;
  std::string set_cookie;
  const std::string cookie = login("finance", &status, &set_cookie);
  EXPECT_EQ(status, 303);
  EXPECT_EQ(cookie.rfind("tf_session=", 0), 0U) << set_cookie;
  EXPECT_GT(cookie.size(), std::string("tf_session=").size() + 32);  // 32 random bytes, hex
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("; Path=/"), std::string::npos) << set_cookie;
  // The token itself is never echoed back.
  EXPECT_EQ(set_cookie.find(tokens_->token("finance")), std::string::npos);

  const std::string token = csrf(cookie);
  auto out = post("/logout", cookie, "", token);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
  auto after = http_->Get("/api/overview", {{"Cookie", cookie}});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
}

TEST_F(ConsoleIT, ChangesWithoutTheCsrfTokenAreRefused) {
  const std::string cookie = login("admin");
  ASSERT_FALSE(cookie.empty());
  const std::string body = R"({"customer_id":"c3","kind":"pin","tier":"gold","reason":"csrf-test"})";
  for (const std::string& wrong : {std::string(), std::string("0000"), csrf(login("finance"))}) {
    auto res = post("/api/override", cookie, body, wrong);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403) << "csrf '" << wrong << "'";
    EXPECT_NE(res->body.find("CSRF"), std::string::npos);
  }
  auto whatif = post("/api/whatif", cookie, "version: x", "", "application/yaml");
  ASSERT_TRUE(whatif);
  EXPECT_EQ(whatif->status, 403);
  auto logout = post("/logout", cookie, "", "");
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 403);
  // Nothing was set: no override on c3.
  classification::Store reader(cfg_.store_path, classification::Store::Mode::reader);
  EXPECT_TRUE(reader.override_audit("c3").empty());
}

TEST_F(ConsoleIT, OverviewJsonIsGetOverview) {
  // The clock moves on to 1 August (events clock: c5's next snapshot), so 25 June is in
  // the past: answered from the history.
  const absl::Time august = absl::FromCivil(absl::CivilDay(2024, 8, 1), absl::UTCTimeZone());
  {
    v1::AccountSnapshot next = snapshot("c5", 20000);
    next.set_version(2);
    timeutil::to_proto(august, next.mutable_as_of());
    kafka::RdkafkaProducer input(broker_->bootstrap(), "console-it-input");
    const auto r = kafka::produce_sync(input, topics::kAccounts, "c5", next.SerializeAsString(),
                                       {{std::string(kafka::kTypeHeader), "tierflow.v1.AccountSnapshot"}},
                                       std::chrono::seconds(10));
    ASSERT_TRUE(r.ok) << r.error;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (keeper_->now() < august) {
      ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the clock did not reach 1 August";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const std::string cookie = login("finance");
  for (const std::string as_of : {"", "2024-06-19", "2024-06-25"}) {
    auto res = http_->Get(("/api/overview" + (as_of.empty() ? "" : "?as_of=" + as_of)).c_str(), {{"Cookie", cookie}});
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    v1::Overview page;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(res->body, &page).ok()) << res->body;

    v1::GetOverviewRequest req;
    if (!as_of.empty()) *req.mutable_as_of() = *parse_as_of(as_of);
    v1::Overview direct;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    ASSERT_TRUE(stub("finance")->GetOverview(&ctx, req, &direct).ok());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(page, direct)) << "as_of '" << as_of << "'\npage:\n"
                                                                                  << page.DebugString() << "\ngRPC:\n"
                                                                                  << direct.DebugString();
    if (as_of.empty()) {
      EXPECT_EQ(page.distribution().customers(), 5);
      EXPECT_FALSE(page.from_history());
      EXPECT_EQ(page.quadrants_size(), 4);
    } else if (as_of == "2024-06-19") {
      EXPECT_TRUE(page.from_history());
      EXPECT_EQ(page.distribution().customers(), 0);  // nothing was assigned before the first event day
    } else {
      EXPECT_TRUE(page.from_history());
      EXPECT_EQ(page.distribution().customers(), 5);  // everyone, as assigned on 20 June
      EXPECT_EQ(timeutil::format(timeutil::from_proto(page.as_of())), "2024-06-25T23:59:59Z");
    }
  }
  auto bad = http_->Get("/api/overview?as_of=2024-13-01", {{"Cookie", cookie}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST_F(ConsoleIT, WatchListIsListWatchAndItsCsvHasARowPerEntry) {
  const std::string cookie = login("call-center");
  auto res = http_->Get("/api/watchlist", {{"Cookie", cookie}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  v1::ListWatchResponse page;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(res->body, &page).ok()) << res->body;
  v1::ListWatchRequest req;
  req.set_limit(100000);
  v1::ListWatchResponse direct;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub("call-center")->ListWatch(&ctx, req, &direct).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(page, direct));
  ASSERT_EQ(page.entries_size(), 1) << res->body;
  EXPECT_EQ(page.entries(0).assignment().customer_id(), "c5");
  ASSERT_EQ(page.entries(0).kinds_size(), 1);
  EXPECT_EQ(page.entries(0).kinds(0), "credit_hold");

  auto csv = http_->Get("/api/watchlist.csv", {{"Cookie", cookie}});
  ASSERT_TRUE(csv);
  ASSERT_EQ(csv->status, 200);
  EXPECT_EQ(csv->get_header_value("Content-Type").rfind("text/csv", 0), 0U);
  EXPECT_NE(csv->get_header_value("Content-Disposition").find("attachment"), std::string::npos);
  EXPECT_EQ(csv->body.rfind("\xEF\xBB\xBF"
                            "customer_id,tier,kinds,reasons",
                            0),
            0U);
  EXPECT_EQ(static_cast<int>(std::count(csv->body.begin(), csv->body.end(), '\n')), 1 + direct.entries_size());
  EXPECT_NE(csv->body.find("\r\nc5,"), std::string::npos) << csv->body;

  auto missing = http_->Get("/api/customer/no-such-customer", {{"Cookie", cookie}});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ConsoleIT, CallCenterSeesContactDataMasked) {
  const std::string finance = login("finance");
  const std::string call_center = login("call-center");
  auto full = http_->Get("/api/customer/c1", {{"Cookie", finance}});
  ASSERT_TRUE(full);
  ASSERT_EQ(full->status, 200) << full->body;
  EXPECT_NE(full->body.find("c1.owner@example.com"), std::string::npos);
  EXPECT_NE(full->body.find("张三"), std::string::npos);

  auto masked = http_->Get("/api/customer/c1", {{"Cookie", call_center}});
  ASSERT_TRUE(masked);
  ASSERT_EQ(masked->status, 200) << masked->body;
  EXPECT_EQ(masked->body.find("c1.owner@example.com"), std::string::npos);
  EXPECT_EQ(masked->body.find("0013 1234"), std::string::npos);
  EXPECT_EQ(masked->body.find("张三"), std::string::npos);
  EXPECT_NE(masked->body.find("c***@example.com"), std::string::npos) << masked->body;
  EXPECT_NE(masked->body.find("***1234"), std::string::npos);
  EXPECT_NE(masked->body.find("张**"), std::string::npos);
  // The rest of the page is there: tier, explanation, occasions (the birthday on 1 July).
  EXPECT_NE(masked->body.find("\"assignment\":{"), std::string::npos);
  EXPECT_NE(masked->body.find("\"lines\":["), std::string::npos);
  EXPECT_NE(masked->body.find("\"kind\":\"birthday\""), std::string::npos);

  auto search = http_->Get("/api/customers?q=%E5%BC%A0", {{"Cookie", call_center}});  // "张"
  ASSERT_TRUE(search);
  ASSERT_EQ(search->status, 200) << search->body;
  EXPECT_NE(search->body.find("\"customer_id\":\"c1\""), std::string::npos) << search->body;
  EXPECT_EQ(search->body.find("张三"), std::string::npos);
}

TEST_F(ConsoleIT, OverrideFromTheApiIsAuditedWithTheLoggedInName) {
  const std::string admin = login("admin");
  const std::string token = csrf(admin);
  auto set =
      post("/api/override", admin,
           R"({"customer_id":"c4","kind":"pin","tier":"gold","reason":"key account","expires":"2030-01-01"})", token);
  ASSERT_TRUE(set);
  ASSERT_EQ(set->status, 200) << set->body;
  {
    classification::Store reader(cfg_.store_path, classification::Store::Mode::reader);
    const auto audit = reader.override_audit("c4");
    ASSERT_EQ(audit.size(), 1U);
    EXPECT_EQ(audit[0].action, classification::Store::OverrideAction::set);
    EXPECT_EQ(audit[0].actor, "test-admin");  // the token's name, not anything the page sent
    EXPECT_EQ(audit[0].reason_code, "key account");
    EXPECT_EQ(audit[0].override.tier(), "gold");
    EXPECT_EQ(audit[0].override.kind(), v1::OVERRIDE_KIND_PIN);
  }
  v1::GetTierRequest req;
  req.set_customer_id("c4");
  v1::TierAssignment a;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub("finance")->GetTier(&ctx, req, &a).ok());
  EXPECT_EQ(a.tier(), "gold");

  auto clear = post("/api/override/clear", admin, R"({"customer_id":"c4","reason":"ended"})", token);
  ASSERT_TRUE(clear);
  ASSERT_EQ(clear->status, 200) << clear->body;
  classification::Store reader(cfg_.store_path, classification::Store::Mode::reader);
  const auto audit = reader.override_audit("c4");
  ASSERT_EQ(audit.size(), 2U);
  EXPECT_EQ(audit[1].action, classification::Store::OverrideAction::clear);
  EXPECT_EQ(audit[1].actor, "test-admin");

  // Finance may read but not override: classification's role table says so, the console
  // passes it on.
  const std::string finance = login("finance");
  auto refused = post("/api/override", finance, R"({"customer_id":"c4","kind":"floor","tier":"gold","reason":"x"})",
                      csrf(finance));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("PERMISSION_DENIED"), std::string::npos);
}

TEST_F(ConsoleIT, BrokenCandidateStandardIsAnsweredWithLineAndField) {
  const std::string finance = login("finance");
  std::string yaml;
  {
    std::ifstream in(cfg_.standard_path);
    std::stringstream s;
    s << in.rdbuf();
    yaml = s.str();
  }
  const std::string from = "    feature: sales_12m";  // the volume dimension's (not the comment's)
  const size_t at = yaml.find("\n" + from) + 1;
  ASSERT_NE(at, std::string::npos);
  const int line = 1 + static_cast<int>(std::count(yaml.begin(), yaml.begin() + static_cast<long>(at), '\n'));
  yaml.replace(at, from.size(), "    feature: salez_12m");
  auto res = post("/api/whatif", finance, yaml, csrf(finance), "application/yaml");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 422) << res->body;
  EXPECT_NE(res->body.find("\"line\":" + std::to_string(line)), std::string::npos) << res->body << " line " << line;
  EXPECT_NE(res->body.find("\"field\":\"dimensions["), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("salez_12m"), std::string::npos) << res->body;

  auto good = post("/api/whatif", finance, yaml.replace(yaml.find("salez_12m"), 9, "sales_12m"), csrf(finance),
                   "application/yaml");
  ASSERT_TRUE(good);
  ASSERT_EQ(good->status, 200) << good->body;
  v1::WhatIfResponse w;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(good->body, &w).ok());
  EXPECT_EQ(w.customers(), 5);
}

}  // namespace
}  // namespace tierflow::console
