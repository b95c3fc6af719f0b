// `tierctl campaign`: flags into a CampaignRequest (errors name the flag), the parse of
// the verbs, and the text of progress and deliveries.
#include "campaign.h"

#include <gtest/gtest.h>

namespace tierflow::tierctl {
namespace {

TEST(CampaignFlags, BuildTheRequest) {
  CLI::App app;
  CampaignArgs args;
  const auto cmds = add_campaign_commands(app, args);
  std::vector<std::string> argv = {"tierctl",   "campaign",    "--addr",     "127.0.0.1:9", "start",
                                   "bday-1",    "--kind",      "birthday",   "--tier",      "gold",
                                   "--channel", "email",       "--channel",  "sms",         "--quiet",
                                   "22-7",      "--not-after", "2026-12-31", "--dry-run"};
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  app.parse(static_cast<int>(raw.size()), raw.data());
  ASSERT_TRUE(cmds.start->parsed());
  EXPECT_EQ(args.addr, "127.0.0.1:9");
  v1::CampaignRequest req;
  ASSERT_EQ(campaign_request(args, &req), "");
  EXPECT_EQ(req.campaign_id(), "bday-1");
  EXPECT_EQ(req.kind(), v1::CAMPAIGN_KIND_BIRTHDAY);
  ASSERT_EQ(req.channels_size(), 2);
  EXPECT_EQ(req.channels(1), v1::CHANNEL_SMS);
  EXPECT_EQ(req.audience().tiers(0), "gold");
  EXPECT_EQ(req.window().quiet_start_hour(), 22);
  EXPECT_EQ(req.window().quiet_end_hour(), 7);
  EXPECT_EQ(req.window().not_after().seconds(), 1798675200);
  EXPECT_TRUE(req.dry_run());
}

TEST(CampaignFlags, ErrorsNameTheFlag) {
  CampaignArgs args;
  v1::CampaignRequest req;
  args.kind = "anniversary";
  EXPECT_NE(campaign_request(args, &req).find("--kind 'anniversary'"), std::string::npos);
  args.kind = "custom";
  args.channels = {"pigeon"};
  EXPECT_NE(campaign_request(args, &req).find("--channel 'pigeon'"), std::string::npos);
  args.channels = {"file"};
  args.quiet = "25-3";
  EXPECT_NE(campaign_request(args, &req).find("--quiet '25-3'"), std::string::npos);
}

TEST(CampaignRender, ProgressAndDeliveries) {
  v1::CampaignProgress p;
  p.set_campaign_id("bday-1");
  p.set_kind(v1::CAMPAIGN_KIND_BIRTHDAY);
  p.set_state("running");
  p.set_audience(90000);
  p.set_sent(46288);
  p.set_deferred(38712);
  p.set_pending(38712);
  EXPECT_EQ(render_progress(p),
            "campaign bday-1 (birthday): running\n  audience 90,000, sent 46,288, skipped 0, failed 0, pending 38,712 "
            "(deferred 38,712)\n");
  v1::ListDeliveriesResponse r;
  auto* d = r.add_deliveries();
  d->set_dedupe_key("bday-1:c-1:birthday:2026");
  d->set_status(v1::DELIVERY_STATUS_SKIPPED);
  d->set_channel(v1::CHANNEL_EMAIL);
  d->set_error("consent withdrawn");
  r.set_next_page_token("17");
  EXPECT_EQ(
      render_deliveries(r),
      "bday-1:c-1:birthday:2026  skipped  email  -  attempts 0  (consent withdrawn)\nnext page: --page-token 17\n");
}

}  // namespace
}  // namespace tierflow::tierctl
