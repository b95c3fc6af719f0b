// The 100,000-customer birthday campaign against the real tierflow-notification binary,
// killed with SIGKILL at random points mid-campaign at least 10 times and restarted each
// time (its Kafka is devbroker; its clock starts at workload::now() on every start).
// Checked from what the local SMTP and HTTP servers received: every expected customer's
// key arrived, no other; a key arrives twice only if a kill caught it in flight, and no
// key the store had confirmed (SENT) at a kill was received again afterwards.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "services/notification/src/channels/digest.h"
#include "tests/support/devbroker.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/smtp_server.h"
#include "tests/support/tokens.h"
#include "tierflow/sql/sqlite.h"
#include "tierflow/v1/campaign.grpc.pb.h"
#include "tierflow/v1/campaign.pb.h"
#include "workload.h"

namespace tierflow::notification {
namespace {

using namespace std::chrono_literals;

class NotificationProcess {
 public:
  NotificationProcess(std::string dir, std::string config, const test_support::TestTokens& tokens)
      : dir_(std::move(dir)), config_(std::move(config)), tokens_(tokens) {}
  void start() {
    std::filesystem::remove(dir_ + "/ready");
    test_support::ProcessOptions p;
    p.binary = TIERFLOW_NOTIFICATION_BIN;
    p.args = {"--config", config_};
    p.log_file = dir_ + "/notification.log";
    p.working_dir = dir_;
    p.env = tokens_.env();
    process_.emplace(std::move(p));
    ready_ = test_support::wait_for_ready_file(dir_ + "/ready", *process_, 30s);
    stub_ =
        v1::CampaignService::NewStub(tokens_.channel("127.0.0.1:" + std::to_string(ready_.grpc_port()), "campaign"));
  }
  void kill() { process_->kill_now(); }
  test_support::ExitStatus stop() { return process_->stop(20s); }
  v1::CampaignService::Stub& stub() { return *stub_; }
  std::string log_tail() const { return process_ ? process_->log_tail() : ""; }

 private:
  std::string dir_, config_;
  const test_support::TestTokens& tokens_;
  std::optional<test_support::ChildProcess> process_;
  test_support::ReadyInfo ready_;
  std::unique_ptr<v1::CampaignService::Stub> stub_;
};

struct Received {
  std::map<std::string, int> smtp;  // by Message-ID
  std::map<std::string, int> http;  // by Idempotency-Key
};

Received received(const test_support::SmtpServer& smtp, const test_support::HttpServer& http) {
  Received r;
  for (const auto& m : smtp.messages()) ++r.smtp[m.message_id()];
  for (const auto& q : http.requests()) ++r.http[q.header("Idempotency-Key")];
  return r;
}

// Confirmed keys and claims still due (not deferred past the simulated now), from the store.
std::pair<std::vector<std::string>, int64_t> store_state(const std::string& path, int64_t deferred_after) {
  auto db = sql::sqlite::Db::open(path);
  std::vector<std::string> sent;
  auto q = db.prepare("SELECT dedupe_key FROM deliveries WHERE status = 2");
  while (q.step()) sent.emplace_back(q.column_text(0));
  auto p = db.prepare("SELECT count(*) FROM deliveries WHERE status = 1 AND due_at < ?1");
  p.bind_int64(1, deferred_after);
  p.step();
  return {sent, p.column_int64(0)};
}

TEST(NotificationCrash, KilledTenTimesMidCampaignEveryExpectedCustomerOnce) {
  test_support::TempDir dir("tf-notification-crash");
  test_support::DevBroker broker({TIERFLOW_DEVBROKER_BIN, dir.file("broker"), 4, 1});
  test_support::SmtpServer smtp;
  test_support::HttpServer http;
  const std::string store = dir.file("n.db");
  {
    std::ofstream y(dir.file("notification.yaml"));
    y << "kafka:\n  bootstrap_file: " << broker.addr_file() << "\n  session_timeout_ms: 3000\n"
      << "grpc:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: 127.0.0.1:0\n"
      << "store_path: " << store << "\nready_file: " << dir.file("ready") << "\n"
      << "channels:\n  file:\n    path: " << dir.file("messages.jsonl") << "\n"
      << "  smtp:\n    url: " << smtp.url() << "\n    from: shop@example.com\n    connections: 4\n"
      << "  sms:\n    url: " << http.url() << "/sms\n    connections: 4\n"
      << "rules:\n  cap_count: 1\n  rate_per_s:\n    smtp: 1500\n    sms: 1500\n"
      << "clock:\n  start: \"2026-06-15T06:00:00Z\"\nlog:\n  level: info\n";
  }
  const auto pop = workload::make(100'000, "bday-crash");
  workload::load(pop, store);
  const size_t expected = pop.expected_email_keys.size() + pop.expected_sms_keys.size();
  // Deferred deliveries (quiet hours, the cap) are due hours after the simulated now.
  const int64_t soon = absl::ToUnixSeconds(workload::now() + absl::Hours(1));

  test_support::TestTokens tokens(dir.path().string());
  NotificationProcess service(dir.path().string(), dir.file("notification.yaml"), tokens);
  service.start();
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 120s);
    v1::CampaignRequest req;
    req.set_campaign_id("bday-crash");
    req.set_kind(v1::CAMPAIGN_KIND_BIRTHDAY);
    req.add_channels(v1::CHANNEL_EMAIL);
    req.add_channels(v1::CHANNEL_SMS);
    v1::CampaignProgress progress;
    const grpc::Status st = service.stub().StartCampaign(&ctx, req, &progress);
    ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << service.log_tail();
  }

  std::mt19937 rng(std::random_device{}());
  std::vector<std::pair<std::vector<std::string>, Received>> snapshots;
  int kills = 0;
  bool running = true;
  while (kills < 12) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1200)(rng)));
    service.kill();
    running = false;
    ++kills;
    std::this_thread::sleep_for(150ms);  // the servers finish what was on the wire
    auto [sent, due] = store_state(store, soon);
    snapshots.push_back({sent, received(smtp, http)});
    std::printf("kill %d: %zu confirmed, %lld still due\n", kills, sent.size(), static_cast<long long>(due));
    if (due == 0) break;
    service.start();
    running = true;
  }
  EXPECT_GE(kills, 10) << "the campaign finished before ten kills";
  // Running again for the rest of the campaign and for the clean stop that drains the outbox.
  if (!running) service.start();
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::get<1>(store_state(store, soon)) > 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << service.log_tail();
    std::this_thread::sleep_for(200ms);
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(service.stop().ok()) << service.log_tail();

  const Received final_counts = received(smtp, http);
  std::map<std::string, std::string> key_of_message_id;
  for (const auto& k : pop.expected_email_keys) key_of_message_id[channels::message_id_for(k)] = k;
  // Exactly the expected set, by key.
  EXPECT_EQ(final_counts.smtp.size(), pop.expected_email_keys.size());
  for (const auto& [id, n] : final_counts.smtp) EXPECT_TRUE(key_of_message_id.count(id)) << "unexpected " << id;
  EXPECT_EQ(final_counts.http.size(), pop.expected_sms_keys.size());
  for (const auto& [key, n] : final_counts.http) EXPECT_TRUE(pop.expected_sms_keys.count(key)) << "unexpected " << key;
  size_t duplicates = 0;
  for (const auto& [id, n] : final_counts.smtp) duplicates += n - 1;
  for (const auto& [key, n] : final_counts.http) duplicates += n - 1;
  // Nothing confirmed at a kill was received again later.
  for (const auto& [sent, counts] : snapshots) {
    for (const auto& key : sent) {
      if (pop.expected_sms_keys.count(key)) {
        EXPECT_EQ(final_counts.http.at(key), counts.http.at(key)) << key << " received again after it was confirmed";
      } else {
        const std::string id = channels::message_id_for(key);
        EXPECT_EQ(final_counts.smtp.at(id), counts.smtp.at(id)) << key << " received again after it was confirmed";
      }
    }
  }
  auto [sent, due] = store_state(store, soon);
  EXPECT_EQ(sent.size(), expected);

  // Every outcome the store recorded is on notifications.deliveries.v1 (the outbox), kills
  // notwithstanding: each dedupe key's final status, and every key confirmed at a kill.
  std::map<std::string, int> on_topic;  // dedupe key -> status
  for (const auto& r : test_support::read_topic(broker.bootstrap(), "notifications.deliveries.v1")) {
    v1::Delivery d;
    ASSERT_TRUE(d.ParseFromString(r.value));
    on_topic[d.dedupe_key()] = d.status();
  }
  {
    auto db = sql::sqlite::Db::open(store);
    auto q = db.prepare("SELECT dedupe_key, status FROM deliveries WHERE status IN (2, 3, 4)");
    size_t finals = 0;
    while (q.step()) {
      ++finals;
      const std::string key(q.column_text(0));
      auto it = on_topic.find(key);
      if (it == on_topic.end()) {
        ADD_FAILURE() << key << ": outcome not on the topic";
        continue;
      }
      EXPECT_EQ(it->second, q.column_int64(1)) << key;
    }
    auto left = db.prepare("SELECT count(*) FROM outbox");
    left.step();
    EXPECT_EQ(left.column_int64(0), 0) << "outcome records left unpublished after a clean stop";
    std::printf("%zu final outcomes in the store, %zu distinct keys on notifications.deliveries.v1\n", finals,
                on_topic.size());
  }
  for (const auto& [confirmed, counts] : snapshots) {
    for (const auto& key : confirmed) EXPECT_EQ(on_topic.count(key), 1u) << key << " confirmed, no outcome record";
  }
  std::printf("%d kills; %zu expected, %zu received once or more; %zu resends of in-flight claims (same key)\n", kills,
              expected, final_counts.smtp.size() + final_counts.http.size(), duplicates);
}

}  // namespace
}  // namespace tierflow::notification
