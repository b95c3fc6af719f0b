// Campaigns in process, without network: validation (errors name the field, nothing is
// claimed), the rules at send time (consent withdrawn, quiet hours, the cap deferring the
// lower priority, erasure), retries and the DLQ, cancel, idempotent start, and a crash
// between the in-flight mark and the confirmation resent under the same key.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/kafka/topics.h"
#include "src/campaigns.h"
#include "src/clock.h"
#include "src/grpc_service.h"
#include "src/sender.h"
#include "src/store.h"
#include "src/tier_change.h"
#include "tests/support/fake_kafka.h"
#include "tests/unit/notification/recording_channel.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::notification {
namespace {

// 2026-06-15 04:00 UTC: 12:00 in Shanghai, 05:00 in London (quiet), 00:00 in New York (quiet).
const absl::Time kStart = absl::FromCivil(absl::CivilSecond(2026, 6, 15, 4, 0, 0), absl::UTCTimeZone());

v1::CustomerProfile person(const std::string& id, const std::string& zone, bool marketing = true) {
  v1::CustomerProfile p;
  p.set_customer_id(id);
  p.set_name("Name of " + id);
  p.set_email(id + "@example.com");
  p.set_time_zone(zone);
  p.set_language(zone == "Asia/Shanghai" ? "zh-CN" : "en");
  p.mutable_birthday()->set_month(6);
  p.mutable_birthday()->set_day(15);
  auto* c = p.add_consents();
  c->set_channel(v1::CHANNEL_EMAIL);
  c->set_marketing(marketing);
  c->set_transactional(true);
  return p;
}

class CampaignTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("tf-campaign-" + std::to_string(::getpid()) + "-" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    cfg_.store_path = (dir_ / "n.db").string();
    cfg_.file_channel_path = (dir_ / "messages.jsonl").string();
    cfg_.smtp = channels::SmtpConfig{};  // "configured"; the recording channel stands in for it
    cfg_.smtp->url = "smtp://127.0.0.1:1";
    cfg_.smtp->from = "shop@example.com";
    cfg_.tier_names = default_tier_names();
    cfg_.rules.backoff = absl::Seconds(1);
    holidays_ = calendar::HolidayCalendar::load(TIERFLOW_HOLIDAYS_PATH);
    planner_ = std::make_unique<Planner>(cfg_, holidays_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void directory(const std::vector<v1::CustomerProfile>& profiles, const std::string& tier = "gold") {
    std::vector<Recipient> rs;
    for (const auto& p : profiles) rs.push_back({p, tier, "", "", p.time_zone(), false});
    Store(cfg_.store_path).put_recipients(rs);
  }
  std::unique_ptr<Sender> sender() {
    return std::make_unique<Sender>(cfg_, clock_, producer_, ChannelMap{{v1::CHANNEL_EMAIL, channel_}}, &registry_);
  }
  v1::CampaignRequest birthday(const std::string& id) {
    v1::CampaignRequest r;
    r.set_campaign_id(id);
    r.set_kind(v1::CAMPAIGN_KIND_BIRTHDAY);
    r.add_channels(v1::CHANNEL_EMAIL);
    return r;
  }
  grpc::Status start(const v1::CampaignRequest& r, v1::CampaignProgress* out) {
    CampaignService svc(cfg_, clock_, *planner_);
    grpc::ServerContext ctx;
    return svc.StartCampaign(&ctx, &r, out);
  }
  std::map<std::string, int> received() const {
    std::map<std::string, int> n;
    for (const auto& m : channel_->messages()) ++n[m.customer_id];
    return n;
  }

  std::filesystem::path dir_;
  Config cfg_;
  calendar::HolidayCalendar holidays_;
  std::unique_ptr<Planner> planner_;
  ManualClock clock_{kStart};
  prometheus::Registry registry_;
  tierflow::testing::FakeProducer producer_;
  std::shared_ptr<testing::RecordingChannel> channel_ = std::make_shared<testing::RecordingChannel>();
};

TEST_F(CampaignTest, BadRequestsNameTheFieldAndClaimNothing) {
  directory({person("c-1", "Asia/Shanghai")});
  v1::CampaignProgress out;
  auto r = birthday("b-1");
  auto* t = r.add_templates();
  t->set_body("Dear {{name}}, {{nickname}}");
  auto st = start(r, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("templates[0].body: unknown placeholder {{nickname}}"), std::string::npos);

  r = birthday("b-1");
  r.add_channels(v1::CHANNEL_SMS);
  st = start(r, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("channels[1]: sms has no config"), std::string::npos);

  r = birthday("b-1");
  r.mutable_window()->set_quiet_start_hour(25);
  EXPECT_NE(start(r, &out).error_message().find("window.quiet_start_hour"), std::string::npos);

  r = birthday("b-1");
  r.mutable_audience()->add_lifecycle("sleepy");
  EXPECT_NE(start(r, &out).error_message().find("audience.lifecycle[0]"), std::string::npos);

  r = birthday("b-1");
  r.set_kind(v1::CAMPAIGN_KIND_HOLIDAY);
  r.set_holiday("groundhog_day");
  EXPECT_NE(start(r, &out).error_message().find("holiday: 'groundhog_day'"), std::string::npos);

  r = birthday("b-1");
  r.mutable_audience()->GetReflection()->MutableUnknownFields(r.mutable_audience())->AddVarint(9, 1);
  st = start(r, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("audience.field 9: unknown"), std::string::npos) << st.error_message();

  r = birthday("b-1");
  r.mutable_audience()->add_tiers("silver");  // nobody is silver
  st = start(r, &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(st.error_message().find("audience: matches no customer"), std::string::npos);

  Store store(cfg_.store_path);
  EXPECT_FALSE(store.campaign("b-1").has_value());
  EXPECT_EQ(store.progress("b-1", 0).total, 0);
}

TEST_F(CampaignTest, SameIdTwiceIsOneCampaignAndDryRunClaimsNothing) {
  directory({person("c-1", "Asia/Shanghai"), person("c-2", "Asia/Shanghai")});
  v1::CampaignProgress out;
  auto r = birthday("b-1");
  r.set_dry_run(true);
  ASSERT_TRUE(start(r, &out).ok());
  EXPECT_EQ(out.state(), "dry_run");
  EXPECT_EQ(out.audience(), 2);
  EXPECT_FALSE(Store(cfg_.store_path).campaign("b-1").has_value());
  r.set_dry_run(false);
  ASSERT_TRUE(start(r, &out).ok());
  EXPECT_EQ(out.pending(), 2);
  ASSERT_TRUE(start(r, &out).ok());
  EXPECT_EQ(out.audience(), 2);
  // Another campaign asking for the same occasion claims nothing new: one greeting a year.
  ASSERT_TRUE(start(birthday("b-2"), &out).ok());
  EXPECT_EQ(Store(cfg_.store_path).progress("b-2", 0).total, 0);
  auto s = sender();
  while (s->run_once().handled() > 0) {
  }
  EXPECT_EQ(received(), (std::map<std::string, int>{{"c-1", 1}, {"c-2", 1}}));
  EXPECT_EQ(producer_.stored(topics::kDeliveries).size(), 2u);
  auto msgs = channel_->messages();  // sent in parallel: in no particular order
  std::sort(msgs.begin(), msgs.end(), [](const auto& a, const auto& b) { return a.dedupe_key < b.dedupe_key; });
  EXPECT_EQ(msgs[0].dedupe_key, "b-1:c-1:birthday:2026");
  EXPECT_EQ(msgs[0].subject, "生日快乐，Name of c-1");
  EXPECT_NE(msgs[0].body.find("金牌客户"), std::string::npos);  // the tier's display name, not "gold"
}

TEST_F(CampaignTest, RulesAtSendTime) {
  cfg_.rules.cap_count = 1;
  directory({person("sh-ok", "Asia/Shanghai"), person("sh-withdraws", "Asia/Shanghai"),
             person("sh-no-consent", "Asia/Shanghai", false), person("ldn-night", "Europe/London"),
             person("sh-capped", "Asia/Shanghai"), person("sh-erased", "Asia/Shanghai")});
  v1::CampaignProgress out;
  // An earlier lower-priority custom message to sh-capped takes the cap's one slot.
  {
    v1::CampaignRequest custom;
    custom.set_campaign_id("promo");
    custom.set_kind(v1::CAMPAIGN_KIND_CUSTOM);
    custom.add_channels(v1::CHANNEL_EMAIL);
    custom.mutable_audience()->add_customer_ids("sh-capped");
    custom.add_templates()->set_body("Sale, {{name}}");
    ASSERT_TRUE(start(custom, &out).ok());
    auto s = sender();
    s->run_once();
  }
  ASSERT_TRUE(start(birthday("b-1"), &out).ok());
  EXPECT_EQ(out.audience(), 6);
  EXPECT_EQ(out.pending(), 6);  // consent is decided at send time
  // Withdrawn and erased after the claim, before the send.
  auto withdrawn = person("sh-withdraws", "Asia/Shanghai", false);
  auto erased = person("sh-erased", "Asia/Shanghai");
  erased.set_erased(true);
  Store store(cfg_.store_path);
  Store::Batch b;
  b.profiles = {withdrawn, erased};
  store.apply(b);

  auto s = sender();
  while (s->run_once().handled() > 0) {
  }
  EXPECT_EQ(received(), (std::map<std::string, int>{{"sh-capped", 1}, {"sh-ok", 1}}));  // sh-capped: the promo
  auto p = store.progress("b-1", absl::ToUnixSeconds(clock_.now()));
  EXPECT_EQ(p.sent, 1);
  EXPECT_EQ(p.skipped, 3);   // no consent, withdrawn, erased
  EXPECT_EQ(p.deferred, 2);  // London at night; sh-capped to the next free slot
  {
    // GetCampaign says why: per reason, zone and local due time.
    CampaignService svc(cfg_, clock_, *planner_);
    grpc::ServerContext ctx;
    v1::GetCampaignRequest get;
    get.set_campaign_id("b-1");
    v1::CampaignProgress prog;
    ASSERT_TRUE(svc.GetCampaign(&ctx, &get, &prog).ok());
    const std::vector<std::string> notes(prog.notes().begin(), prog.notes().end());
    const auto has = [&](const std::string& text) { return std::find(notes.begin(), notes.end(), text) != notes.end(); };
    EXPECT_TRUE(has("1 deferred to 08:00 local by quiet hours (Europe/London now 05:00)")) << ::testing::PrintToString(notes);
    EXPECT_TRUE(has("2 skipped: consent withdrawn (Asia/Shanghai)")) << ::testing::PrintToString(notes);
    EXPECT_TRUE(std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
      return n.rfind("1 deferred to ", 0) == 0 && n.find("by the marketing cap (Asia/Shanghai now 12:00)") != std::string::npos;
    })) << ::testing::PrintToString(notes);
  }
  int64_t last = 0;
  for (const auto& d : store.deliveries("sh-erased", 10, INT64_MAX, &last)) {
    EXPECT_EQ(d.body(), "[erased]");
    EXPECT_EQ(d.error(), "erased");
  }
  // Morning in London (08:00 BST = 07:00 UTC): the night's message goes.
  clock_.set(absl::FromCivil(absl::CivilSecond(2026, 6, 15, 7, 0, 1), absl::UTCTimeZone()));
  while (s->run_once().handled() > 0) {
  }
  EXPECT_EQ(received()["ldn-night"], 1);
  EXPECT_EQ(received()["sh-capped"], 1);
  // A week after the promo, the capped birthday greeting has its slot.
  clock_.advance(absl::Hours(24 * 7 + 1));
  while (s->run_once().handled() > 0) {
  }
  EXPECT_EQ(received()["sh-capped"], 2);
  EXPECT_EQ(store.progress("b-1", 0).pending, 0);
}

TEST_F(CampaignTest, TheCapsLastSlotGoesToTheHigherPriorityTheLowerWaits) {
  cfg_.rules.cap_count = 1;
  directory({person("c-1", "Asia/Shanghai")});
  v1::CampaignProgress out;
  v1::CampaignRequest custom;
  custom.set_campaign_id("promo");
  custom.set_kind(v1::CAMPAIGN_KIND_CUSTOM);
  custom.add_channels(v1::CHANNEL_EMAIL);
  custom.add_templates()->set_body("Sale, {{name}}");
  ASSERT_TRUE(start(custom, &out).ok());  // claimed first, lower priority
  ASSERT_TRUE(start(birthday("b-1"), &out).ok());
  auto s = sender();
  while (s->run_once().handled() > 0) {
  }
  auto msgs = channel_->messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].dedupe_key, "b-1:c-1:birthday:2026");
  Store store(cfg_.store_path);
  EXPECT_EQ(store.progress("promo", absl::ToUnixSeconds(clock_.now())).deferred, 1);
  clock_.advance(cfg_.rules.cap_period + absl::Hours(1));
  while (s->run_once().handled() > 0) {
  }
  EXPECT_EQ(channel_->messages().size(), 2u);  // deferred, not dropped
}

TEST_F(CampaignTest, RetryableFailuresBackOffThenFailToTheDlq) {
  cfg_.rules.max_attempts = 3;
  directory({person("c-1", "Asia/Shanghai"), person("c-2", "Asia/Shanghai")});
  v1::CampaignProgress out;
  ASSERT_TRUE(start(birthday("b-1"), &out).ok());
  channel_->fail_next(1, channels::SendStatus::kRetryable);
  auto s = sender();
  auto r = s->run_once();
  EXPECT_EQ(r.sent, 1u);
  EXPECT_EQ(r.retried, 1u);
  EXPECT_EQ(s->run_once().handled(), 0u);  // backing off
  clock_.advance(absl::Seconds(2));
  EXPECT_EQ(s->run_once().sent, 1u);

  ASSERT_TRUE(start(
                  [&] {
                    auto r2 = birthday("b-2");
                    r2.set_kind(v1::CAMPAIGN_KIND_CUSTOM);
                    r2.add_templates()->set_body("hello {{name}}");
                    r2.mutable_audience()->add_customer_ids("c-1");
                    return r2;
                  }(),
                  &out)
                  .ok());
  channel_->fail_next(10, channels::SendStatus::kRetryable);
  for (int i = 0; i < 5; ++i) {
    clock_.advance(absl::Seconds(30));
    s->run_once();
  }
  const auto dlq = producer_.stored(topics::dlq(topics::kDeliveries));
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].header(kafka::kErrorHeader), "injected");
  EXPECT_EQ(Store(cfg_.store_path).progress("b-2", 0).failed, 1);
}

TEST_F(CampaignTest, ACrashAfterTheInFlightMarkResendsUnderTheSameKey) {
  directory({person("c-1", "Asia/Shanghai")});
  v1::CampaignProgress out;
  ASSERT_TRUE(start(birthday("b-1"), &out).ok());
  // What the sender writes before sending, then "crash" (no confirmation).
  Store store(cfg_.store_path);
  auto due = store.due(absl::ToUnixSeconds(clock_.now()), 10);
  ASSERT_EQ(due.size(), 1u);
  due[0].record.set_attempts(1);
  DeliveryUpdate mark{due[0].id, due[0].record, true, absl::ToUnixSeconds(clock_.now())};
  mark.inflight = true;
  store.update({mark});
  EXPECT_TRUE(store.due(absl::ToUnixSeconds(clock_.now()), 10).empty());  // in flight: not due twice
  auto s = sender();  // a restart: its sweep makes the in-flight claim due again
  while (s->run_once().handled() > 0) {
  }
  const auto msgs = channel_->messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].dedupe_key, "b-1:c-1:birthday:2026");
  int64_t last = 0;
  auto ds = store.deliveries("c-1", 10, INT64_MAX, &last);
  EXPECT_EQ(ds[0].status(), v1::DELIVERY_STATUS_SENT);
  EXPECT_EQ(ds[0].attempts(), 2);
}

TEST_F(CampaignTest, CancelStopsWhatWasNotYetAttempted) {
  directory({person("c-1", "Europe/London"), person("c-2", "Europe/London")});  // quiet now: deferred
  v1::CampaignProgress out;
  ASSERT_TRUE(start(birthday("b-1"), &out).ok());
  sender()->run_once();
  CampaignService svc(cfg_, clock_, *planner_);
  grpc::ServerContext ctx;
  v1::CancelCampaignRequest req;
  req.set_campaign_id("b-1");
  ASSERT_TRUE(svc.CancelCampaign(&ctx, &req, &out).ok());
  EXPECT_EQ(out.state(), "cancelled");
  EXPECT_EQ(out.skipped(), 2);
  clock_.advance(absl::Hours(12));
  EXPECT_EQ(sender()->run_once().handled(), 0u);
  EXPECT_TRUE(channel_->messages().empty());
  v1::GetCampaignRequest get;
  get.set_campaign_id("nope");
  EXPECT_EQ(svc.GetCampaign(&ctx, &get, &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CampaignTest, AHolidayCampaignIsClaimedForItsDateInTheMorningThere) {
  directory({person("c-1", "Asia/Shanghai"), person("c-2", "Europe/London")});
  v1::CampaignProgress out;
  auto r = birthday("mid-autumn");
  r.set_kind(v1::CAMPAIGN_KIND_HOLIDAY);
  r.set_holiday("mid_autumn");
  ASSERT_TRUE(start(r, &out).ok());
  EXPECT_EQ(out.audience(), 2);
  EXPECT_EQ(out.deferred(), 2);  // 中秋 2026 is 25 September
  Store store(cfg_.store_path);
  int64_t last = 0;
  auto ds = store.deliveries("c-1", 10, INT64_MAX, &last);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].occasion(), "holiday:mid_autumn:2026");
  EXPECT_EQ(ds[0].subject(), "中秋节快乐");
  EXPECT_EQ(absl::FromUnixSeconds(ds[0].due_time().seconds()),
            absl::FromCivil(absl::CivilSecond(2026, 9, 25, 0, 0, 0), absl::UTCTimeZone()));   // 08:00 in Shanghai
  clock_.set(absl::FromCivil(absl::CivilSecond(2026, 9, 25, 9, 0, 0), absl::UTCTimeZone()));  // 17:00 / 10:00
  auto s = sender();
  while (s->run_once().handled() > 0) {
  }
  EXPECT_EQ(received(), (std::map<std::string, int>{{"c-1", 1}, {"c-2", 1}}));
  for (const auto& m : channel_->messages()) {  // sent in parallel: in no particular order
    EXPECT_EQ(m.subject, m.customer_id == "c-2" ? "Happy Mid-Autumn Festival" : "中秋节快乐");
  }
}

TEST_F(CampaignTest, ARateLimitPerChannelSpreadsTheSends) {
  cfg_.rules.rate_per_s["smtp"] = 50;
  std::vector<v1::CustomerProfile> many;
  for (int i = 0; i < 120; ++i) many.push_back(person("c-" + std::to_string(i), "Asia/Shanghai"));
  directory(many);
  v1::CampaignProgress out;
  ASSERT_TRUE(start(birthday("b-1"), &out).ok());
  auto s = sender();
  const auto first = s->run_once();
  EXPECT_LE(first.sent, 51u);
  EXPECT_GT(first.waiting, 0u);
  const auto t0 = absl::Now();
  while (Store(cfg_.store_path).progress("b-1", 0).pending > 0) s->run_once();
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(1000));  // 120 at 50/s with a burst of 50
  EXPECT_EQ(channel_->messages().size(), 120u);
}

TEST_F(CampaignTest, PreviewRendersWithoutClaiming) {
  directory({person("c-1", "Asia/Shanghai"), person("c-2", "Europe/London")});
  CampaignService svc(cfg_, clock_, *planner_);
  grpc::ServerContext ctx;
  v1::PreviewCampaignResponse resp;
  auto r = birthday("b-1");
  ASSERT_TRUE(svc.PreviewCampaign(&ctx, &r, &resp).ok());
  EXPECT_EQ(resp.audience(), 2);
  ASSERT_EQ(resp.samples_size(), 2);
  EXPECT_FALSE(Store(cfg_.store_path).campaign("b-1").has_value());
}

TEST(NotificationConfig, TheLocalStacksConfigLoadsWithItsStandingCampaigns) {
  const Config cfg = load_config(TIERFLOW_NOTIFICATION_YAML);
  ASSERT_EQ(cfg.standing.size(), 2u);
  EXPECT_EQ(cfg.standing[0].id, "standing-birthday");
  EXPECT_EQ(cfg.standing[0].at_hour, 9);
  EXPECT_EQ(cfg.standing[1].tiers_from, (std::vector<std::string>{"gold", "diamond"}));
  EXPECT_EQ(cfg.standing[1].missed, MissedPolicy::kReport);
  EXPECT_EQ(cfg.policy.tier_names.at("gold").at("zh-CN"), "金牌");
  EXPECT_EQ(cfg.rules.quiet_start_hour, 21);
}

TEST(TierChangeMessages, DisplayNamesDowngradeWarningsAndRetention) {
  auto policy = default_policy();
  policy.tier_names = default_tier_names();
  v1::CustomerProfile p;
  p.set_name("王芳");
  p.set_language("zh-CN");
  v1::TierAssignment a;
  a.set_customer_id("c-1");
  a.set_tier("gold");
  a.set_previous_tier("silver");
  a.set_version(3);
  a.mutable_evaluated_time()->set_seconds(absl::ToUnixSeconds(kStart));
  EXPECT_EQ(upgrade_message(policy, a, &p, kStart)->subject, "恭喜您升级为金牌客户");
  a.mutable_pending_downgrade()->set_to_tier("silver");
  a.mutable_pending_downgrade()->mutable_effective_time()->set_seconds(1'790'000'000);
  a.mutable_to_keep()->set_text("再消费3,200.00元即可保持金牌");
  auto warn = downgrade_warning(policy, a, &p, kStart);
  ASSERT_TRUE(warn.has_value());
  EXPECT_EQ(warn->dedupe_key, "tier-downgrade:c-1:silver:1790000000");
  EXPECT_NE(warn->body.find("再消费3,200.00元即可保持金牌"), std::string::npos);
  EXPECT_NE(warn->body.find("银牌"), std::string::npos);
  policy.downgrade_warning_tiers = {"diamond"};  // switched off for gold
  EXPECT_FALSE(downgrade_warning(policy, a, &p, kStart).has_value());

  auto* rfm = a.add_dimensions();
  rfm->set_dimension("rfm");
  rfm->set_class_name("At Risk");
  EXPECT_TRUE(retention_message(policy, a, &p, false, kStart).has_value());
  EXPECT_FALSE(retention_message(policy, a, &p, true, kStart).has_value());  // already at risk: said before
  a.set_tier("silver");
  EXPECT_FALSE(retention_message(policy, a, &p, false, kStart).has_value());  // not a retention tier
}

}  // namespace
}  // namespace tierflow::notification
