// tierctl: the call-center and operator CLI for the classification service (TierService).
// Parses flags, opens the channel and hands the verb to commands.cpp.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "campaign.h"
#include "commands.h"
#include "common/grpc/client.h"
#include "grpcpp/grpcpp.h"
#include "report.h"

int main(int argc, char** argv) {
  using namespace tierflow::tierctl;
  std::string addr = "127.0.0.1:7003";
  if (const char* env = std::getenv("TIERFLOW_TIER_ADDR"); env != nullptr && *env != '\0') addr = env;
  int deadline_ms = 2000;
  bool json = false;

  CLI::App app{"tierctl: look up and manage customer tiers (TierService)"};
  app.require_subcommand(1);
  app.add_option("--addr", addr, "TierService address host:port (env TIERFLOW_TIER_ADDR)")->capture_default_str();
  app.add_option("--deadline-ms", deadline_ms, "deadline of each call")->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  app.add_flag("--json", json, "print the protobuf JSON of the response");
  std::string token_file;
  tierflow::grpcx::ClientOptions client;
  app.add_option("--token-file", token_file,
                 "bearer token (env TIERFLOW_TOKEN_FILE; default from $TIERFLOW_TOKENS_DIR or .run/tokens: "
                 "admin.token for override and reload, finance.token for what-if, call-center.token otherwise)");
  app.add_option("--tls-ca", client.tls_ca_file, "TLS: verify the server against this CA (PEM); plaintext without");
  app.add_option("--tls-cert", client.tls_cert_file, "TLS: client certificate (PEM)");
  app.add_option("--tls-key", client.tls_key_file, "TLS: client key (PEM)");
  app.add_option("--tls-server-name", client.tls_server_name, "TLS: name expected in the server's certificate");

  std::string customer, as_of, page_token, yaml, actor, reason, service;
  int page_size = 0, wait_ms = 0;
  ListArgs list_args;
  OverrideArgs ov;
  std::vector<std::string> watch_tiers;

  auto* get = app.add_subcommand("get", "a customer's tier, levels, credit hold, reasons and distances");
  get->add_option("customer", customer, "customer id")->required();
  get->add_option("--as-of", as_of, "the tier held on this date (YYYY-MM-DD or RFC 3339)");
  auto* explain = app.add_subcommand("explain", "why a customer has its tier: explanation and features");
  explain->add_option("customer", customer, "customer id")->required();
  auto* distribution = app.add_subcommand("distribution", "tier and class distribution, Pareto points");
  auto* overview = app.add_subcommand("overview", "the console's overview: distribution, quadrants, breakdowns");
  overview->add_option("--as-of", as_of, "the state at the end of this UTC day (YYYY-MM-DD) or at an RFC 3339 instant; default now");
  auto* list = app.add_subcommand("list", "customers in a tier, or in a dimension class");
  list->add_option("--tier", list_args.tier, "tier name, e.g. gold");
  list->add_option("--dimension", list_args.dimension, "dimension, e.g. rfm (with --class)");
  list->add_option("--class", list_args.class_name, "class of --dimension, e.g. Champions");
  list->add_option("--page-size", list_args.page_size, "customers per page (0: server default)")
      ->check(CLI::NonNegativeNumber);
  list->add_option("--page-token", list_args.page_token, "continue from a previous page");
  auto* history = app.add_subcommand("history", "a customer's tier changes, newest first");
  history->add_option("customer", customer, "customer id")->required();
  history->add_option("--page-size", page_size, "changes per page")->check(CLI::NonNegativeNumber);
  history->add_option("--page-token", page_token, "continue from a previous page");
  auto* override_cmd = app.add_subcommand("override", "manual tier overrides (pin or floor)");
  override_cmd->require_subcommand(1);
  auto* ov_set = override_cmd->add_subcommand("set", "pin a tier or set a floor");
  ov_set->add_option("customer", ov.customer, "customer id")->required();
  auto* pin = ov_set->add_option("--pin", ov.pin, "exactly this tier");
  auto* floor = ov_set->add_option("--floor", ov.floor, "at least this tier");
  pin->excludes(floor);
  ov_set->add_option("--actor", ov.actor, "who sets it (audited)")->required();
  ov_set->add_option("--reason", ov.reason, "reason code (audited)")->required();
  ov_set->add_option("--expires", ov.expires, "expiry, YYYY-MM-DD (UTC) or RFC 3339");
  auto* ov_clear = override_cmd->add_subcommand("clear", "remove a customer's override");
  ov_clear->add_option("customer", customer, "customer id")->required();
  ov_clear->add_option("--actor", actor, "who clears it (audited)");
  ov_clear->add_option("--reason", reason, "reason code (audited)");
  auto* reload = app.add_subcommand("reload", "reload the classification standard and re-evaluate");
  auto* what_if = app.add_subcommand("what-if", "tier migrations a candidate standard would cause");
  what_if->add_option("file", yaml, "candidate standard YAML")->required()->check(CLI::ExistingFile);
  auto* watch = app.add_subcommand("watch", "stream tier changes until interrupted");
  watch->add_option("--tier", watch_tiers, "only changes into or out of these tiers (repeatable)");
  auto* health = app.add_subcommand("health", "grpc.health.v1 check: exit 0 when SERVING, 1 otherwise");
  health->add_option("--service", service, "service name (default: the whole server)");
  health->add_option("--wait-ms", wait_ms, "keep checking until SERVING for up to this long")
      ->check(CLI::NonNegativeNumber);
  ReportArgs report_args;
  int pdf_timeout_s = 90;
  auto* report = app.add_subcommand("report", "the overview as one offline HTML file, CSV tables and a PDF");
  report->add_option("--as-of", report_args.as_of,
                     "the state at the end of this UTC day (YYYY-MM-DD) or at an RFC 3339 instant; default now");
  report->add_option("--out", report_args.out, "the HTML file to write")->required();
  report->add_option("--csv-dir", report_args.csv_dir, "also write one CSV per table into this directory");
  report->add_option("--pdf", report_args.pdf, "also print the HTML to this PDF with headless Chromium");
  report->add_option("--lang", report_args.lang, "zh-CN or en (default: from LC_ALL / LANG)");
  report->add_option("--chromium", report_args.chromium, "the Chromium binary for --pdf")->capture_default_str();
  report->add_option("--pdf-timeout-s", pdf_timeout_s, "give up printing after this long")
      ->check(CLI::Range(1, 3600))->capture_default_str();
  // Global options may follow the verb: `tierctl health --addr host:port`.
  for (auto* sub : {get, explain, distribution, overview, list, history, override_cmd, ov_set, ov_clear, reload,
                    what_if, watch, health, report}) {
    sub->fallthrough();
  }

  CampaignArgs campaign_args;
  const CampaignCommands campaign = add_campaign_commands(app, campaign_args);

  CLI11_PARSE(app, argc, argv);

  Context ctx{std::cout, std::cerr, json, std::chrono::milliseconds(deadline_ms)};
  // Least privilege by default: each verb reads the token of the role it needs.
  const char* role = "call-center";
  if (override_cmd->parsed() || reload->parsed()) role = "admin";
  if (what_if->parsed() || report->parsed()) role = "finance";
  if (campaign.campaign->parsed()) role = "campaign";
  if (token_file.empty() && !health->parsed()) token_file = tierflow::grpcx::default_token_file(role);
  std::shared_ptr<grpc::Channel> channel;
  try {
    if (!token_file.empty()) client.token = tierflow::grpcx::read_token_file(token_file);
    channel = tierflow::grpcx::make_channel(campaign.campaign->parsed() ? campaign_args.addr : addr, client);
  } catch (const std::exception& e) {
    std::cerr << "tierctl: " << e.what() << "\n";
    return 2;
  }
  if (int rc = run_campaign_command(campaign, campaign_args, ctx, channel); rc >= 0) return rc;
  if (health->parsed()) return cmd_health(channel, ctx, service, std::chrono::milliseconds(wait_ms));
  auto stub = tierflow::v1::TierService::NewStub(channel);
  if (get->parsed()) return cmd_get(*stub, ctx, customer, as_of);
  if (explain->parsed()) return cmd_explain(*stub, ctx, customer);
  if (distribution->parsed()) return cmd_distribution(*stub, ctx);
  if (overview->parsed()) return cmd_overview(*stub, ctx, as_of);
  if (list->parsed()) return cmd_list(*stub, ctx, list_args);
  if (history->parsed()) return cmd_history(*stub, ctx, customer, page_size, page_token);
  if (ov_set->parsed()) return cmd_override_set(*stub, ctx, ov);
  if (ov_clear->parsed()) return cmd_override_clear(*stub, ctx, customer, actor, reason);
  if (reload->parsed()) return cmd_reload(*stub, ctx);
  if (what_if->parsed()) return cmd_what_if(*stub, ctx, yaml);
  if (watch->parsed()) return cmd_watch(*stub, ctx, watch_tiers);
  if (report->parsed()) {
    report_args.pdf_timeout = std::chrono::seconds(pdf_timeout_s);
    return cmd_report(*stub, ctx, report_args);
  }
  return 2;
}
