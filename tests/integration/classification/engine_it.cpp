// The classification service end to end against real Redis and the devbroker: account
// snapshots and profiles in, tiers in Redis and on tiers.assignments.v1 out; GetTier,
// history, as-of, an override taking effect at once, a watcher seeing changes, Redis
// refilled after it lost its data, and a restart that resumes from the store: versions do
// not jump, nothing is published again, and only new records are consumed.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "absl/time/civil_time.h"
#include "common/kafka/topics.h"
#include "common/redis/mux.h"
#include "common/time/time.h"
#include "service/store.h"
#include "tests/integration/classification/harness.h"
#include "tests/support/accounts.h"

namespace tierflow::classification::it {
namespace {

using test_support::DevBroker;
using test_support::RedisServer;
using test_support::TempDir;

constexpr std::chrono::seconds kRedisWait{10};  // the test's own blocking Redis calls

using test_support::steady_account;
using test_support::utc_day;

void send(kafka::Producer& p, std::string_view topic, const std::string& key, const std::string& value,
          const char* type) {
  const auto r =
      kafka::produce_sync(p, topic, key, value, {{std::string(kafka::kTypeHeader), type}}, std::chrono::seconds(10));
  ASSERT_TRUE(r.ok) << r.error;
}

class ClassificationIT : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.file("redis"));
    std::filesystem::create_directories(dir_.file("broker"));
    redis_ = std::make_unique<RedisServer>(dir_.file("redis"));
    broker_ =
        std::make_unique<DevBroker>(test_support::DevBrokerOptions{TIERFLOW_DEVBROKER, dir_.file("broker"), 4, 1});
    cfg_ = base_config(*broker_, *redis_, dir_.path().string());
    input_ = std::make_unique<kafka::RdkafkaProducer>(broker_->bootstrap(), "it-input");
  }
  void TearDown() override { input_.reset(); }

  std::optional<v1::TierAssignment> get(Instance& svc, const std::string& id, grpc::Status* status = nullptr) {
    v1::GetTierRequest req;
    req.set_customer_id(id);
    v1::TierAssignment out;
    auto ctx = call_ctx();
    const grpc::Status s = svc.stub().GetTier(ctx.get(), req, &out);
    if (status) *status = s;
    if (!s.ok()) return std::nullopt;
    return out;
  }

  std::map<std::string, std::string> redis_hash(const std::string& id) {
    redis::Mux client(redis_->config());
    std::map<std::string, std::string> out;
    for (const char* field : {"tier", "version", "standard"}) {
      auto r = client.call({"HGET", redis_key(id), field}, kRedisWait);
      if (!r.is_nil()) out[field] = r.str;
    }
    return out;
  }

  // Records on tiers.assignments.v1 per (customer, version).
  std::map<std::pair<std::string, int64_t>, int> published() {
    std::map<std::pair<std::string, int64_t>, int> out;
    for (const auto& r : test_support::read_topic(broker_->bootstrap(), std::string(topics::kAssignments))) {
      v1::TierAssignment a;
      EXPECT_TRUE(a.ParseFromString(r.value));
      EXPECT_EQ(r.key, a.customer_id());
      ++out[{a.customer_id(), a.version()}];
    }
    return out;
  }

  TempDir dir_{"tf-cls-it"};
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<DevBroker> broker_;
  std::unique_ptr<kafka::RdkafkaProducer> input_;
  Config cfg_;
};

TEST_F(ClassificationIT, ClassifiesOverridesWatchesAndResumesAfterRestart) {
  const std::vector<std::string> ids = {"c1", "c2", "c3", "c4", "c5"};
  const absl::Time june = utc_day(2024, 6, 15);
  std::map<std::pair<std::string, int64_t>, int> before_restart;
  std::map<std::string, int64_t> versions;
  {
    Instance svc(cfg_);
    for (size_t i = 0; i < ids.size(); ++i) {
      v1::CustomerProfile p;
      p.set_customer_id(ids[i]);
      p.set_region("CN-31");
      p.set_industry("retail");
      send(*input_, topics::kCustomers, ids[i], p.SerializeAsString(), "tierflow.v1.CustomerProfile");
      // c1 brings the most value: the top 20% of five customers is c1 alone.
      const int64_t profit = (static_cast<int64_t>(ids.size()) - static_cast<int64_t>(i)) * 100'000;
      send(*input_, topics::kAccounts, ids[i], steady_account(ids[i], 1, profit, june).SerializeAsString(),
           "tierflow.v1.AccountSnapshot");
    }
    // Each customer is classified once its inputs arrive (a profile alone: prospect); wait
    // until every account was applied.
    ASSERT_TRUE(eventually([&] {
      for (const auto& id : ids) {
        const auto a = get(svc, id);
        if (!a || a->tier() == "prospect") return false;
      }
      return true;
    })) << svc.failure();

    // Tiers in Redis, as GetTier returns them.
    const auto c1 = *get(svc, "c1");
    EXPECT_EQ(c1.tier(), "gold");
    EXPECT_EQ(c1.standard_version(), "2024.06-local.1");
    EXPECT_EQ(redis_hash("c1")["tier"], "gold");
    EXPECT_EQ(redis_hash("c1")["version"], std::to_string(c1.version()));
    EXPECT_EQ(timeutil::from_proto(c1.evaluated_time()), june) << "watermark clock: as of the newest event";
    for (const auto& id : ids) EXPECT_EQ(redis_hash(id)["tier"], get(svc, id)->tier()) << id;

    grpc::Status status;
    EXPECT_FALSE(get(svc, "nobody", &status));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(status.error_message().find("nobody"), std::string::npos);

    // Watch every change from now on.
    std::mutex seen_mu;
    std::vector<v1::TierAssignment> seen;
    grpc::ClientContext watch_ctx;
    std::thread watcher([&] {
      v1::WatchTierChangesRequest req;
      auto reader = svc.stub().WatchTierChanges(&watch_ctx, req);
      v1::TierAssignment a;
      while (reader->Read(&a)) {
        std::lock_guard lock(seen_mu);
        seen.push_back(a);
      }
      reader->Finish();
    });

    // An override applies at once, is validated, and shows in history.
    const std::string before_pin = get(svc, "c5")->tier();
    const int64_t before_pin_version = get(svc, "c5")->version();
    ASSERT_NE(before_pin, "diamond");
    {
      v1::SetOverrideRequest req;
      auto* o = req.mutable_override();
      o->set_customer_id("c5");
      o->set_kind(v1::OVERRIDE_KIND_PIN);
      o->set_tier("diamond");
      o->set_actor("agent-7");
      o->set_reason_code("STRATEGIC");
      v1::TierOverride resp;
      auto ctx = call_ctx();
      ASSERT_TRUE(svc.stub().SetOverride(ctx.get(), req, &resp).ok());
      EXPECT_TRUE(resp.has_set_time());
      EXPECT_EQ(resp.actor(), "agent-7");
    }
    const auto pinned = *get(svc, "c5");  // no waiting: applied before SetOverride returned
    EXPECT_EQ(pinned.tier(), "diamond");
    EXPECT_EQ(pinned.version(), before_pin_version + 1);
    EXPECT_EQ(pinned.previous_tier(), before_pin);
    EXPECT_EQ(pinned.override().actor(), "agent-7");
    EXPECT_EQ(redis_hash("c5")["tier"], "diamond");
    {
      auto bad = [&](std::function<void(v1::TierOverride*)> edit, grpc::StatusCode code, const std::string& names) {
        v1::SetOverrideRequest req;
        auto* o = req.mutable_override();
        o->set_customer_id("c4");
        o->set_kind(v1::OVERRIDE_KIND_FLOOR);
        o->set_tier("gold");
        o->set_actor("agent-7");
        o->set_reason_code("X");
        edit(o);
        v1::TierOverride resp;
        auto ctx = call_ctx();
        const auto s = svc.stub().SetOverride(ctx.get(), req, &resp);
        EXPECT_EQ(s.error_code(), code) << s.error_message();
        EXPECT_NE(s.error_message().find(names), std::string::npos) << s.error_message();
      };
      bad([](auto* o) { o->clear_actor(); }, grpc::StatusCode::INVALID_ARGUMENT, "override.actor");
      bad([](auto* o) { o->clear_reason_code(); }, grpc::StatusCode::INVALID_ARGUMENT, "override.reason_code");
      bad([](auto* o) { o->set_tier("platinum"); }, grpc::StatusCode::INVALID_ARGUMENT, "override.tier");
      bad([](auto* o) { o->set_kind(v1::OVERRIDE_KIND_UNSPECIFIED); }, grpc::StatusCode::INVALID_ARGUMENT,
          "override.kind");
      bad([](auto* o) { o->set_customer_id("ghost"); }, grpc::StatusCode::NOT_FOUND, "ghost");
      bad([&](auto* o) { timeutil::to_proto(june - absl::Hours(1), o->mutable_expire_time()); },
          grpc::StatusCode::INVALID_ARGUMENT, "override.expire_time");
    }

    // c2's value jumps above c1's: c2 becomes A (gold); c1 keeps gold for its grace period.
    const absl::Time july = utc_day(2024, 7, 15);
    const auto c2_before = *get(svc, "c2");
    ASSERT_NE(c2_before.tier(), "gold");
    send(*input_, topics::kAccounts, "c2", steady_account("c2", 2, 50'000'000, july).SerializeAsString(),
         "tierflow.v1.AccountSnapshot");
    ASSERT_TRUE(eventually([&] { return get(svc, "c2")->version() > c2_before.version(); })) << svc.failure();
    const auto c2 = *get(svc, "c2");
    EXPECT_EQ(c2.tier(), "gold");
    EXPECT_EQ(timeutil::from_proto(c2.evaluated_time()), july);
    ASSERT_TRUE(eventually([&] {
      std::lock_guard lock(seen_mu);
      return std::any_of(seen.begin(), seen.end(),
                         [&](const auto& a) { return a.customer_id() == "c2" && a.version() == c2.version(); });
    }));
    {
      std::lock_guard lock(seen_mu);
      EXPECT_TRUE(std::any_of(seen.begin(), seen.end(),
                              [](const auto& a) { return a.customer_id() == "c5" && a.tier() == "diamond"; }));
    }
    watch_ctx.TryCancel();
    watcher.join();

    // History newest first, paged one change at a time (c5 may have moved on since the
    // pin: c2's jump re-ranked everyone).
    {
      std::vector<v1::TierAssignment> all;
      std::string token;
      do {
        v1::GetTierHistoryRequest req;
        req.set_customer_id("c5");
        req.mutable_page()->set_page_size(1);
        req.mutable_page()->set_page_token(token);
        v1::GetTierHistoryResponse resp;
        auto ctx = call_ctx();
        ASSERT_TRUE(svc.stub().GetTierHistory(ctx.get(), req, &resp).ok());
        ASSERT_LE(resp.changes_size(), 1);
        for (const auto& a : resp.changes()) all.push_back(a);
        token = resp.next_page_token();
      } while (!token.empty() && all.size() < 100);
      // History holds changes only (tier, credit hold, pending downgrade): versions that
      // moved nothing else are not rows, so versions may skip.
      const int64_t current = get(svc, "c5")->version();
      ASSERT_FALSE(all.empty());
      EXPECT_LE(all.front().version(), current);
      EXPECT_EQ(all.back().version(), 1);
      for (size_t i = 1; i < all.size(); ++i) {
        EXPECT_LT(all[i].version(), all[i - 1].version());
        const auto &newer = all[i - 1], &older = all[i];
        EXPECT_FALSE(newer.tier() == older.tier() && newer.credit_hold() == older.credit_hold() &&
                     newer.has_pending_downgrade() == older.has_pending_downgrade() &&
                     newer.pending_downgrade().SerializeAsString() == older.pending_downgrade().SerializeAsString())
            << "a history row that changes nothing: " << newer.ShortDebugString();
      }
      const auto pin =
          std::find_if(all.begin(), all.end(), [&](const auto& a) { return a.version() == before_pin_version + 1; });
      ASSERT_NE(pin, all.end());
      EXPECT_EQ(pin->tier(), "diamond");
      EXPECT_EQ(pin->override().reason_code(), "STRATEGIC");
      ASSERT_NE(pin + 1, all.end());
      EXPECT_EQ((pin + 1)->tier(), before_pin);

      v1::GetTierHistoryRequest bad;
      bad.set_customer_id("c5");
      bad.mutable_page()->set_page_token("zz");
      v1::GetTierHistoryResponse resp;
      auto ctx = call_ctx();
      const auto s = svc.stub().GetTierHistory(ctx.get(), bad, &resp);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_NE(s.error_message().find("page.page_token"), std::string::npos);
      bad.set_customer_id("ghost");
      bad.clear_page();
      auto ctx2 = call_ctx();
      EXPECT_EQ(svc.stub().GetTierHistory(ctx2.get(), bad, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
    }
    {
      auto as_of = [&](const std::string& id, absl::Time t, v1::TierAssignment* out) {
        v1::GetTierRequest req;
        req.set_customer_id(id);
        timeutil::to_proto(t, req.mutable_as_of());
        auto ctx = call_ctx();
        return svc.stub().GetTier(ctx.get(), req, out);
      };
      v1::TierAssignment a;
      ASSERT_TRUE(as_of("c2", utc_day(2024, 7, 1), &a).ok());
      EXPECT_EQ(a.version(), c2_before.version()) << "the version in force before July";
      EXPECT_EQ(a.tier(), c2_before.tier());
      ASSERT_TRUE(as_of("c2", utc_day(2024, 8, 1), &a).ok());
      EXPECT_EQ(a.version(), c2.version());
      EXPECT_EQ(a.tier(), "gold");
      const auto s = as_of("c2", utc_day(2020, 1, 1), &a);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
      EXPECT_NE(s.error_message().find("c2"), std::string::npos);
      EXPECT_EQ(as_of("ghost", utc_day(2024, 8, 1), &a).error_code(), grpc::StatusCode::NOT_FOUND);
    }

    // Redis lost its data: refilled from the service's state.
    {
      redis::Mux client(redis_->config());
      client.call({"FLUSHALL"}, kRedisWait);
    }
    ASSERT_TRUE(eventually([&] { return redis_hash("c1")["tier"] == "gold"; }, std::chrono::seconds(20)));

    for (const auto& id : ids) versions[id] = get(svc, id)->version();
    int64_t total_versions = 0;
    for (const auto& [id, v] : versions) total_versions += v;
    // Every version reached the topic exactly once.
    ASSERT_TRUE(eventually(
        [&] {
          before_restart = published();
          return static_cast<int64_t>(before_restart.size()) == total_versions;
        },
        std::chrono::seconds(20)));
    for (const auto& [key, n] : before_restart) EXPECT_EQ(n, 1) << key.first << " v" << key.second;
    EXPECT_TRUE(svc.failure().empty()) << svc.failure();
  }

  // Restart on the same store: nothing re-published, versions continue, only new input read.
  {
    Instance svc(cfg_);
    EXPECT_EQ(get(svc, "c5")->tier(), "diamond");
    std::this_thread::sleep_for(std::chrono::seconds(3));  // several evaluation rounds
    for (const auto& id : ids) EXPECT_EQ(get(svc, id)->version(), versions[id]) << id;
    EXPECT_EQ(published(), before_restart);
    EXPECT_EQ(svc.metric("tierflow_classification_records_total"), 0);
    EXPECT_EQ(svc.metric("tierflow_classification_republished_total"), 0);

    // The override is durable; clearing it re-evaluates at once.
    v1::ClearOverrideRequest clear;
    clear.set_customer_id("c5");
    clear.set_actor("lead-2");
    clear.set_reason_code("REVIEWED");
    v1::ClearOverrideResponse cleared;
    auto ctx = call_ctx();
    ASSERT_TRUE(svc.stub().ClearOverride(ctx.get(), clear, &cleared).ok());
    EXPECT_TRUE(cleared.cleared());
    const auto c5 = *get(svc, "c5");
    EXPECT_EQ(c5.version(), versions["c5"] + 1);
    EXPECT_FALSE(c5.has_override());

    // New input after the restart: exactly the new record is consumed.
    send(*input_, topics::kAccounts, "c3",
         steady_account("c3", 2, 60'000'000, utc_day(2024, 7, 20)).SerializeAsString(), "tierflow.v1.AccountSnapshot");
    ASSERT_TRUE(eventually([&] { return get(svc, "c3")->version() == versions["c3"] + 1; })) << svc.failure();
    EXPECT_EQ(get(svc, "c3")->tier(), "gold");
    EXPECT_EQ(svc.metric("tierflow_classification_records_total"), 1);
    EXPECT_TRUE(svc.failure().empty()) << svc.failure();
  }

  // The audit trail of c5's override, from the store.
  Store store(cfg_.store_path, Store::Mode::reader);
  const auto audit = store.override_audit("c5");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].action, Store::OverrideAction::set);
  EXPECT_EQ(audit[0].actor, "agent-7");
  EXPECT_EQ(audit[1].action, Store::OverrideAction::clear);
  EXPECT_EQ(audit[1].actor, "lead-2");
  EXPECT_EQ(audit[1].reason_code, "REVIEWED");
}

// GetTier and BatchGetTiers are callback handlers over one shared Redis connection: they
// answer from the service's Redis hashes, NOT_FOUND names the customer, and many calls
// open no connection of their own.
TEST_F(ClassificationIT, GetTierAndBatchGetTiersReadRedisThroughOneConnection) {
  Instance svc(cfg_);
  redis::Mux writer(redis_->config());
  for (const std::string id : {"r1", "r2"}) {
    v1::TierAssignment a;
    a.set_customer_id(id);
    a.set_tier("gold");
    a.set_version(3);
    writer.call({"HSET", redis_key(id), "tier", "gold", "proto", a.SerializeAsString()}, kRedisWait);
  }
  grpc::Status status;
  auto r1 = get(svc, "r1", &status);
  ASSERT_TRUE(r1) << status.error_message();
  EXPECT_EQ(r1->tier(), "gold");
  EXPECT_EQ(r1->version(), 3);
  EXPECT_FALSE(get(svc, "nobody-here", &status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("nobody-here"), std::string::npos) << status.error_message();
  EXPECT_FALSE(get(svc, "", &status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto connections = [&] {
    const std::string text = writer.call({"INFO", "stats"}, kRedisWait).str;
    const auto at = text.find("total_connections_received:");
    return std::stoll(text.substr(at + std::string("total_connections_received:").size()));
  };
  const auto before = connections();
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(get(svc, i % 2 ? "r1" : "r2")) << i;
  EXPECT_LE(connections() - before, 1);  // the engine's own writer may connect meanwhile; GetTier does not

  v1::BatchGetTiersRequest req;
  for (const char* id : {"r2", "missing", "r1"}) req.add_customer_ids(id);
  v1::BatchGetTiersResponse resp;
  auto ctx = call_ctx();
  ASSERT_TRUE(svc.stub().BatchGetTiers(ctx.get(), req, &resp).ok());
  ASSERT_EQ(resp.assignments_size(), 2);
  EXPECT_EQ(resp.assignments(0).customer_id(), "r2");
  EXPECT_EQ(resp.assignments(1).customer_id(), "r1");
  ASSERT_EQ(resp.not_found_size(), 1);
  EXPECT_EQ(resp.not_found(0), "missing");

  v1::BatchGetTiersRequest big;
  for (int i = 0; i < 1001; ++i) big.add_customer_ids("c" + std::to_string(i));
  auto ctx2 = call_ctx();
  EXPECT_EQ(svc.stub().BatchGetTiers(ctx2.get(), big, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Redis down: the Redis-backed calls answer UNAVAILABLE (the service still starts).
TEST_F(ClassificationIT, GetTierIsUnavailableWhileRedisIsDown) {
  cfg_.redis.unix_socket.clear();
  cfg_.redis.port = test_support::pick_free_port();  // nothing listens there
  cfg_.redis.timeout = std::chrono::milliseconds(500);
  Instance svc(cfg_);
  grpc::Status status;
  EXPECT_FALSE(get(svc, "r1", &status));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  v1::BatchGetTiersRequest req;
  req.add_customer_ids("r1");
  v1::BatchGetTiersResponse resp;
  auto ctx = call_ctx();
  EXPECT_EQ(svc.stub().BatchGetTiers(ctx.get(), req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace tierflow::classification::it
