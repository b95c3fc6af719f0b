#include "campaign.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>

#include "call.h"
#include "format.h"

namespace tierflow::tierctl {

namespace {

std::string kind_name(v1::CampaignKind k) {
  switch (k) {
    case v1::CAMPAIGN_KIND_BIRTHDAY:
      return "birthday";
    case v1::CAMPAIGN_KIND_HOLIDAY:
      return "holiday";
    case v1::CAMPAIGN_KIND_TIER_CHANGE:
      return "tier_change";
    case v1::CAMPAIGN_KIND_RETENTION:
      return "retention";
    case v1::CAMPAIGN_KIND_CUSTOM:
      return "custom";
    default:
      return "-";
  }
}

std::string status_name(v1::DeliveryStatus s) {
  switch (s) {
    case v1::DELIVERY_STATUS_CLAIMED:
      return "claimed";
    case v1::DELIVERY_STATUS_SENT:
      return "sent";
    case v1::DELIVERY_STATUS_FAILED:
      return "failed";
    case v1::DELIVERY_STATUS_SKIPPED:
      return "skipped";
    default:
      return "-";
  }
}

std::string channel_text(v1::Channel c) {
  switch (c) {
    case v1::CHANNEL_EMAIL:
      return "email";
    case v1::CHANNEL_SMS:
      return "sms";
    case v1::CHANNEL_WEBHOOK:
      return "webhook";
    case v1::CHANNEL_FILE:
      return "file";
    default:
      return "-";
  }
}

}  // namespace

CampaignCommands add_campaign_commands(CLI::App& app, CampaignArgs& a) {
  if (const char* env = std::getenv("TIERFLOW_NOTIFICATION_ADDR"); env != nullptr && *env != '\0') a.addr = env;
  CampaignCommands c;
  c.campaign = app.add_subcommand("campaign", "campaigns of the notification service (CampaignService)");
  c.campaign->require_subcommand(1);
  c.campaign->add_option("--addr", a.addr, "CampaignService address host:port (env TIERFLOW_NOTIFICATION_ADDR)")
      ->capture_default_str();
  auto request_flags = [&](CLI::App* s) {
    s->add_option("--kind", a.kind, "birthday, holiday, tier_change, retention or custom")->capture_default_str();
    s->add_option("--holiday", a.holiday, "holiday id of the calendar (for --kind holiday), e.g. mid_autumn");
    s->add_option("--tier", a.tiers, "audience: these tiers (repeatable)");
    s->add_option("--segment", a.segments, "audience: these RFM segments (repeatable)");
    s->add_option("--region", a.regions, "audience: these regions (repeatable)");
    s->add_option("--lifecycle", a.lifecycle, "audience: new, active, at_risk, churned (repeatable)");
    s->add_option("--customer", a.customers, "audience: these customer ids (repeatable)");
    s->add_option("--channel", a.channels, "email, sms, webhook or file, in order of preference (repeatable)")
        ->required();
    s->add_option("--subject", a.subject, "template subject; placeholders {{name}} {{tier}} {{holiday}} ...");
    s->add_option("--body", a.body, "template body (default: the service's template for the kind)");
    s->add_option("--language", a.language, "the template's language (default: any)");
    s->add_option("--template-tier", a.template_tier, "the template's tier (default: any)");
    s->add_option("--not-before", a.not_before, "send window start (RFC 3339 or YYYY-MM-DD)");
    s->add_option("--not-after", a.not_after, "send window end (RFC 3339 or YYYY-MM-DD)");
    s->add_option("--quiet", a.quiet, "quiet hours in each customer's zone, START-END, e.g. 21-8");
    s->add_option("--priority", a.priority, "higher wins the cap's last slot (0: the kind's default)");
  };
  c.start = c.campaign->add_subcommand("start", "start a campaign (the same id twice is one campaign)");
  c.start->add_option("id", a.id, "campaign id (its idempotency key)")->required();
  c.start->add_flag("--dry-run", a.dry_run, "count and validate, claim nothing");
  request_flags(c.start);
  c.preview = c.campaign->add_subcommand("preview", "count the audience and render samples, send nothing");
  request_flags(c.preview);
  c.get = c.campaign->add_subcommand("get", "a campaign's progress");
  c.get->add_option("id", a.id, "campaign id")->required();
  c.cancel = c.campaign->add_subcommand("cancel", "stop claiming; sends in flight finish");
  c.cancel->add_option("id", a.id, "campaign id")->required();
  c.deliveries = c.campaign->add_subcommand("deliveries", "deliveries, newest first");
  c.deliveries->add_option("--campaign", a.id, "only this campaign");
  c.deliveries->add_option("--customer", a.customers, "only this customer");
  c.deliveries->add_option("--page-size", a.page_size, "deliveries per page")->check(CLI::NonNegativeNumber);
  c.deliveries->add_option("--page-token", a.page_token, "continue from a previous page");
  for (auto* s : {c.start, c.preview, c.get, c.cancel, c.deliveries}) s->fallthrough();
  c.campaign->fallthrough();
  return c;
}

std::string campaign_request(const CampaignArgs& a, v1::CampaignRequest* req) {
  req->set_campaign_id(a.id);
  v1::CampaignKind kind;
  std::string upper = "CAMPAIGN_KIND_";
  for (char ch : a.kind) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!v1::CampaignKind_Parse(upper, &kind) || kind == v1::CAMPAIGN_KIND_UNSPECIFIED) {
    return fmt::format("--kind '{}' is not birthday, holiday, tier_change, retention or custom", a.kind);
  }
  req->set_kind(kind);
  req->set_holiday(a.holiday);
  auto* au = req->mutable_audience();
  for (const auto& t : a.tiers) au->add_tiers(t);
  for (const auto& s : a.segments) au->add_segments(s);
  for (const auto& r : a.regions) au->add_regions(r);
  for (const auto& l : a.lifecycle) au->add_lifecycle(l);
  for (const auto& c : a.customers) au->add_customer_ids(c);
  for (const auto& ch : a.channels) {
    if (ch == "email")
      req->add_channels(v1::CHANNEL_EMAIL);
    else if (ch == "sms")
      req->add_channels(v1::CHANNEL_SMS);
    else if (ch == "webhook")
      req->add_channels(v1::CHANNEL_WEBHOOK);
    else if (ch == "file")
      req->add_channels(v1::CHANNEL_FILE);
    else
      return fmt::format("--channel '{}' is not email, sms, webhook or file", ch);
  }
  if (!a.body.empty() || !a.subject.empty()) {
    auto* t = req->add_templates();
    t->set_subject(a.subject);
    t->set_body(a.body);
    t->set_language(a.language);
    t->set_tier(a.template_tier);
  }
  auto* w = req->mutable_window();
  if (!a.not_before.empty() && !parse_time(a.not_before, w->mutable_not_before())) {
    return fmt::format("--not-before '{}' is not RFC 3339 or YYYY-MM-DD", a.not_before);
  }
  if (!a.not_after.empty() && !parse_time(a.not_after, w->mutable_not_after())) {
    return fmt::format("--not-after '{}' is not RFC 3339 or YYYY-MM-DD", a.not_after);
  }
  if (!a.quiet.empty()) {
    int start = -1, end = -1;
    if (std::sscanf(a.quiet.c_str(), "%d-%d", &start, &end) != 2 || start < 0 || start > 23 || end < 0 || end > 23) {
      return fmt::format("--quiet '{}' is not START-END in hours 0..23, e.g. 21-8", a.quiet);
    }
    w->set_quiet_start_hour(start);
    w->set_quiet_end_hour(end);
  }
  req->set_priority(a.priority);
  req->set_dry_run(a.dry_run);
  return "";
}

std::string render_progress(const v1::CampaignProgress& p) {
  return fmt::format("campaign {} ({}): {}\n  audience {}, sent {}, skipped {}, failed {}, pending {} (deferred {})\n",
                     p.campaign_id(), kind_name(p.kind()), p.state(), format_int(p.audience()), format_int(p.sent()),
                     format_int(p.skipped()), format_int(p.failed()), format_int(p.pending()),
                     format_int(p.deferred()));
}

std::string render_preview(const v1::PreviewCampaignResponse& r) {
  std::string text = fmt::format("audience {}\n", format_int(r.audience()));
  for (const auto& d : r.samples()) {
    text += fmt::format("\n--- {} [{}] via {}\n{}\n{}\n", d.customer_id(), d.language(), channel_text(d.channel()),
                        d.subject(), d.body());
  }
  return text;
}

std::string render_deliveries(const v1::ListDeliveriesResponse& r) {
  std::string text;
  for (const auto& d : r.deliveries()) {
    text += fmt::format("{}  {}  {}  {}  attempts {}{}\n", d.dedupe_key(), status_name(d.status()),
                        channel_text(d.channel()), d.has_sent_time() ? format_time(d.sent_time()) : "-", d.attempts(),
                        d.error().empty() ? "" : "  (" + d.error() + ")");
  }
  if (r.deliveries().empty()) text = "no deliveries\n";
  if (!r.next_page_token().empty()) text += fmt::format("next page: --page-token {}\n", r.next_page_token());
  return text;
}

int cmd_campaign_start(CampaignStub& stub, const Context& ctx, const CampaignArgs& args) {
  v1::CampaignRequest req;
  if (auto err = campaign_request(args, &req); !err.empty()) return usage_error(ctx, "campaign start", err);
  return call(ctx, "campaign start", stub, &CampaignStub::StartCampaign, req, render_progress);
}

int cmd_campaign_get(CampaignStub& stub, const Context& ctx, const std::string& id) {
  v1::GetCampaignRequest req;
  req.set_campaign_id(id);
  return call(ctx, "campaign get", stub, &CampaignStub::GetCampaign, req, render_progress);
}

int cmd_campaign_cancel(CampaignStub& stub, const Context& ctx, const std::string& id) {
  v1::CancelCampaignRequest req;
  req.set_campaign_id(id);
  return call(ctx, "campaign cancel", stub, &CampaignStub::CancelCampaign, req, render_progress);
}

int cmd_campaign_preview(CampaignStub& stub, const Context& ctx, const CampaignArgs& args) {
  v1::CampaignRequest req;
  if (auto err = campaign_request(args, &req); !err.empty()) return usage_error(ctx, "campaign preview", err);
  return call(ctx, "campaign preview", stub, &CampaignStub::PreviewCampaign, req, render_preview);
}

int cmd_campaign_deliveries(CampaignStub& stub, const Context& ctx, const CampaignArgs& args) {
  v1::ListDeliveriesRequest req;
  req.set_campaign_id(args.id);
  if (!args.customers.empty()) req.set_customer_id(args.customers.front());
  req.mutable_page()->set_page_size(args.page_size);
  req.mutable_page()->set_page_token(args.page_token);
  return call(ctx, "campaign deliveries", stub, &CampaignStub::ListDeliveries, req, render_deliveries);
}

int run_campaign_command(const CampaignCommands& cmds, const CampaignArgs& args, const Context& ctx,
                         const std::shared_ptr<grpc::Channel>& channel) {
  if (cmds.campaign == nullptr || !cmds.campaign->parsed()) return -1;
  auto stub = v1::CampaignService::NewStub(channel);
  if (cmds.start->parsed()) return cmd_campaign_start(*stub, ctx, args);
  if (cmds.get->parsed()) return cmd_campaign_get(*stub, ctx, args.id);
  if (cmds.cancel->parsed()) return cmd_campaign_cancel(*stub, ctx, args.id);
  if (cmds.preview->parsed()) return cmd_campaign_preview(*stub, ctx, args);
  if (cmds.deliveries->parsed()) return cmd_campaign_deliveries(*stub, ctx, args);
  return 2;
}

}  // namespace tierflow::tierctl
