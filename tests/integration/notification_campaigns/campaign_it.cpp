// A birthday campaign over 100,000 customers in seven time zones, in process, through
// the real channels to the local SMTP and HTTP servers (tests/support): exactly the
// customers who may receive it (birthday today in their zone, consent, awake, under the
// cap) receive exactly one message each, told apart by the idempotency key the servers
// saw (SMTP Message-ID from the key, the HTTP Idempotency-Key header).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "services/notification/src/channels/digest.h"
#include "src/campaigns.h"
#include "src/clock.h"
#include "src/grpc_service.h"
#include "src/sender.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/http_server.h"
#include "tests/support/process.h"
#include "tests/support/smtp_server.h"
#include "workload.h"

namespace tierflow::notification {
namespace {

TEST(CampaignIntegration, HundredThousandBirthdaysExactlyTheExpectedSetOnceEach) {
  test_support::TempDir dir("tf-campaign-it");
  test_support::SmtpServer smtp;
  test_support::HttpServer gateway;
  Config cfg = workload::local_config(dir, smtp, gateway);
  cfg.rules.cap_count = 1;
  calendar::HolidayCalendar holidays;
  Planner planner(cfg, holidays);
  ManualClock clock(workload::now());

  const int n = 100'000;
  const auto pop = workload::make(n, "bday-100k");
  workload::load(pop, cfg.store_path);

  CampaignService svc(cfg, clock, planner);
  grpc::ServerContext ctx;
  v1::CampaignRequest req;
  req.set_campaign_id("bday-100k");
  req.set_kind(v1::CAMPAIGN_KIND_BIRTHDAY);
  req.add_channels(v1::CHANNEL_EMAIL);
  req.add_channels(v1::CHANNEL_SMS);
  v1::CampaignProgress progress;
  ASSERT_TRUE(svc.StartCampaign(&ctx, &req, &progress).ok());
  EXPECT_EQ(progress.audience(), n - pop.reasons.at("not today"));

  tierflow::testing::FakeProducer producer;
  prometheus::Registry registry;
  Sender sender(cfg, clock, producer, make_channels(cfg), &registry);
  const auto t0 = std::chrono::steady_clock::now();
  size_t sent = 0;
  for (Sender::Round r; (r = sender.run_once()).handled() > 0;) sent += r.sent;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("sent %zu in %.1f s: %.0f messages/s (excluded: %d not today, %d opted out, %d quiet, %d capped)\n", sent,
              seconds, sent / seconds, pop.reasons.at("not today"), pop.reasons.at("opted out"),
              pop.reasons.at("quiet hours"), pop.reasons.at("over the cap"));

  // What the servers received, by idempotency key.
  std::map<std::string, int> by_message_id;
  for (const auto& m : smtp.messages()) ++by_message_id[m.message_id()];
  std::map<std::string, int> by_key;
  for (const auto& r : gateway.requests()) ++by_key[r.header("Idempotency-Key")];
  ASSERT_EQ(by_message_id.size(), pop.expected_email_keys.size());
  for (const auto& key : pop.expected_email_keys) {
    const auto it = by_message_id.find(channels::message_id_for(key));
    ASSERT_NE(it, by_message_id.end()) << key;
    EXPECT_EQ(it->second, 1) << key;
  }
  ASSERT_EQ(by_key.size(), pop.expected_sms_keys.size());
  for (const auto& key : pop.expected_sms_keys) {
    ASSERT_EQ(by_key[key], 1) << key;
  }
  EXPECT_EQ(sent, pop.expected_email_keys.size() + pop.expected_sms_keys.size());

  ASSERT_TRUE(svc.GetCampaign(
                     &ctx,
                     [] {
                       static v1::GetCampaignRequest g;
                       g.set_campaign_id("bday-100k");
                       return &g;
                     }(),
                     &progress)
                  .ok());
  EXPECT_EQ(progress.sent(), static_cast<int64_t>(sent));
  EXPECT_EQ(progress.skipped(), pop.reasons.at("opted out"));
  EXPECT_EQ(progress.deferred(), pop.reasons.at("quiet hours") + pop.reasons.at("over the cap"));
  EXPECT_EQ(producer.stored("notifications.deliveries.v1").size(), sent + pop.reasons.at("opted out"));
}

}  // namespace
}  // namespace tierflow::notification
