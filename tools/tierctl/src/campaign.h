// `tierctl campaign start|get|cancel|preview|deliveries`: the notification service's
// CampaignService (its own --addr, env TIERFLOW_NOTIFICATION_ADDR, default 127.0.0.1:7004).
// add_campaign_commands() registers the verbs on the app; run_campaign_command() runs the
// parsed one. Exit codes as commands.h: 0 success, 1 a gRPC error, 2 bad input.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "commands.h"
#include "tierflow/v1/campaign.grpc.pb.h"

namespace tierflow::tierctl {

struct CampaignArgs {
  std::string addr = "127.0.0.1:7004";
  std::string id;
  std::string kind = "birthday";  // birthday, holiday, tier_change, retention, custom
  std::string holiday;
  std::vector<std::string> tiers, segments, regions, lifecycle, customers;
  std::vector<std::string> channels;  // in order of preference: email, sms, webhook, file
  std::string subject, body, language, template_tier;
  std::string not_before, not_after;  // RFC 3339 or YYYY-MM-DD
  std::string quiet;                  // "21-8": quiet hours in each customer's zone
  int priority = 0;
  bool dry_run = false;
  int page_size = 0;
  std::string page_token;
};

struct CampaignCommands {
  CLI::App* campaign = nullptr;
  CLI::App *start = nullptr, *get = nullptr, *cancel = nullptr, *preview = nullptr, *deliveries = nullptr;
};

CampaignCommands add_campaign_commands(CLI::App& app, CampaignArgs& args);
// -1 when no campaign verb was parsed. `channel` is to args.addr (main makes it, with the
// token of the campaign role and the TLS options).
int run_campaign_command(const CampaignCommands& cmds, const CampaignArgs& args, const Context& ctx,
                         const std::shared_ptr<grpc::Channel>& channel);

// Builds the request from the flags; "" or the error naming the flag.
std::string campaign_request(const CampaignArgs& args, v1::CampaignRequest* req);

std::string render_progress(const v1::CampaignProgress& p);
std::string render_preview(const v1::PreviewCampaignResponse& r);
std::string render_deliveries(const v1::ListDeliveriesResponse& r);

using CampaignStub = v1::CampaignService::StubInterface;
int cmd_campaign_start(CampaignStub& stub, const Context& ctx, const CampaignArgs& args);
int cmd_campaign_get(CampaignStub& stub, const Context& ctx, const std::string& id);
int cmd_campaign_cancel(CampaignStub& stub, const Context& ctx, const std::string& id);
int cmd_campaign_preview(CampaignStub& stub, const Context& ctx, const CampaignArgs& args);
int cmd_campaign_deliveries(CampaignStub& stub, const Context& ctx, const CampaignArgs& args);

}  // namespace tierflow::tierctl
