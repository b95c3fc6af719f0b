#include "commands.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "call.h"
#include "fmt/format.h"
#include "format.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace tierflow::tierctl {
namespace {

using Align = Table::Align;

std::string yes_no(bool b) { return b ? "yes" : "no"; }
std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string distance_text(const v1::Distance& d) {
  if (!d.text().empty()) return d.text();
  return fmt::format("{} {} to {}", d.missing(), d.feature(), d.target_tier());
}

std::string override_kind(v1::OverrideKind k) {
  switch (k) {
    case v1::OVERRIDE_KIND_PIN:
      return "pin";
    case v1::OVERRIDE_KIND_FLOOR:
      return "floor";
    default:
      return "override";
  }
}

// Known tiers first, best to worst, then any others alphabetically; "" (no tier) last.
int tier_rank(const std::string& t) {
  static const std::vector<std::string> kOrder = {"diamond", "gold", "silver", "bronze", "prospect"};
  const auto it = std::find(kOrder.begin(), kOrder.end(), t);
  if (it != kOrder.end()) return static_cast<int>(it - kOrder.begin());
  return t.empty() ? 1000 : 100;
}
bool tier_less(const std::string& a, const std::string& b) {
  const int ra = tier_rank(a), rb = tier_rank(b);
  return ra != rb ? ra < rb : a < b;
}

}  // namespace

void set_deadline(grpc::ClientContext* c, const Context& ctx) {
  c->set_deadline(std::chrono::system_clock::now() + ctx.deadline);
}

int rpc_error(const Context& ctx, std::string_view verb, const grpc::Status& s) {
  ctx.err << format_rpc_error(verb, static_cast<int>(s.error_code()), s.error_message()) << '\n';
  return 1;
}

int usage_error(const Context& ctx, std::string_view verb, std::string_view message) {
  ctx.err << fmt::format("tierctl: {}: {}", verb, message) << '\n';
  return 2;
}

std::string to_json(const google::protobuf::Message& m, bool one_line) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = !one_line;
  o.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string render_override(const v1::TierOverride& o) {
  std::string s = fmt::format("{} {}", override_kind(o.kind()), o.tier());
  if (!o.actor().empty()) s += fmt::format(" by {}", o.actor());
  if (!o.reason_code().empty()) s += fmt::format(" ({})", o.reason_code());
  if (o.has_expire_time()) s += fmt::format(", expires {}", format_time(o.expire_time()));
  if (o.has_set_time()) s += fmt::format(", set {} (wall clock)", format_time(o.set_time()));
  return s;
}

std::string render_assignment(const v1::TierAssignment& a) {
  Table kv({"field", "value"});
  auto row = [&](std::string k, std::string v) { kv.add_row({std::move(k), std::move(v)}); };
  row("customer", a.customer_id());
  row("tier", a.previous_tier().empty() ? a.tier() : fmt::format("{} (previous: {})", a.tier(), a.previous_tier()));
  row("price level", or_dash(a.price_level()));
  row("service level", or_dash(a.service_level()));
  row("account manager", yes_no(a.account_manager()));
  row("credit hold", yes_no(a.credit_hold()));
  row("matched rule", or_dash(a.matched_rule()));
  row("standard", or_dash(a.standard_version()));
  const std::string clock = a.clock().empty() ? "" : " (" + a.clock() + " clock)";
  row("assigned", format_time(a.assigned_time()) + clock);
  row("evaluated", format_time(a.evaluated_time()) + clock);
  if (a.provisional())
    row("provisional", "yes: decided between evaluation points; the next point's decision is the record");
  if (a.backfill()) row("backfill", "yes: decided from backfilled history only");
  if (a.has_override()) row("override", render_override(a.override()));
  if (a.has_pending_downgrade()) {
    const auto& p = a.pending_downgrade();
    row("pending downgrade", fmt::format("to {} on {}{}", p.to_tier(), format_time(p.effective_time()),
                                         p.reason().empty() ? "" : ": " + p.reason()));
  }
  if (a.has_to_keep()) row("to keep", distance_text(a.to_keep()));
  if (a.has_to_next()) row("to next", distance_text(a.to_next()));
  // The key/value table without its header: the first two lines are header and rule.
  std::string text = kv.render();
  for (int i = 0; i < 2; ++i) text.erase(0, text.find('\n') + 1);
  if (a.reasons_size() > 0) {
    text += "\nreasons:\n";
    for (const auto& r : a.reasons()) text += fmt::format("  - {}\n", r);
  }
  if (a.dimensions_size() > 0) {
    Table dims({"dimension", "class", "detail"});
    for (const auto& d : a.dimensions()) dims.add_row({d.dimension(), d.class_name(), d.detail()});
    text += "\n" + dims.render();
  }
  return text;
}

std::string render_explanation(const v1::Explanation& e) {
  std::string text;
  const auto& a = e.assignment();
  text += fmt::format("{}: {}", a.customer_id(), a.tier());
  if (!a.matched_rule().empty()) text += fmt::format(" (rule {})", a.matched_rule());
  if (!a.standard_version().empty()) text += fmt::format(", standard {}", a.standard_version());
  text += "\n";
  for (const auto& line : e.lines()) text += fmt::format("  {}\n", line);
  if (e.features_size() > 0) {
    Table t({"feature", "value", "as text"}, {Align::kLeft, Align::kRight, Align::kLeft});
    for (const auto& f : e.features()) {
      // Whole numbers (money in minor units, counts, days) print whole, not as 1.67e+06.
      const double v = f.value();
      const bool whole = v == static_cast<double>(static_cast<int64_t>(v)) && v > -1e15 && v < 1e15;
      t.add_row({f.name(), whole ? fmt::format("{}", static_cast<int64_t>(v)) : fmt::format("{:.4f}", v), f.text()});
    }
    text += "\n" + t.render();
  }
  return text;
}

std::string render_distribution(const v1::Distribution& d) {
  std::string text = fmt::format("{} customers, total value {}{}\n\n", format_int(d.customers()),
                                 format_money(d.total_value_minor(), d.currency()),
                                 d.standard_version().empty() ? "" : ", standard " + d.standard_version());
  Table tiers({"tier", "customers", "value", "value share"},
              {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
  for (const auto& t : d.tiers()) {
    tiers.add_row({t.tier(), format_int(t.customers()), format_money(t.value_minor(), d.currency()),
                   format_share(t.value_share())});
  }
  text += tiers.render();
  if (d.classes_size() > 0) {
    Table classes({"dimension", "class", "customers", "value", "value share"},
                  {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
    for (const auto& c : d.classes()) {
      classes.add_row({c.dimension(), c.class_name(), format_int(c.customers()),
                       format_money(c.value_minor(), d.currency()), format_share(c.value_share())});
    }
    text += "\n" + classes.render();
  }
  if (d.pareto_size() > 0) {
    Table pareto({"top customers", "value share"}, {Align::kRight, Align::kRight});
    for (const auto& p : d.pareto()) {
      pareto.add_row({format_share(p.customer_share()), format_share(p.value_share())});
    }
    text += "\n" + pareto.render();
  }
  // The 80/20 answers. Lines, not tables: scripts read them with awk (tests/e2e/cdnow_e2e.sh).
  if (d.reach_size() > 0 || d.top_size() > 0) text += "\n";
  for (const auto& r : d.reach()) {
    text += fmt::format("customers to reach {} of value: {} ({} of customers)\n", format_share(r.value_share()),
                        format_int(r.customers()), format_share(r.customer_share()));
  }
  for (const auto& t : d.top()) {
    text += fmt::format("top {} customers: {}, {} of value\n", format_int(t.top_n()),
                        format_money(t.value_minor(), d.currency()), format_share(t.value_share()));
  }
  if (d.cut_points_size() > 0) text += "\n";
  for (const auto& c : d.cut_points()) {
    std::string cuts;
    for (int64_t v : c.cuts()) cuts += (cuts.empty() ? "" : " | ") + format_int(v);
    text +=
        fmt::format("{}{} ({}) {}: {}\n", c.dimension().empty() ? "" : c.dimension() + " ", c.component(), c.feature(),
                    c.quantiles() == 4   ? "quartiles"
                    : c.quantiles() == 5 ? "quintiles"
                                         : "quantiles",
                    cuts.empty() ? "-" : cuts);
  }
  if (d.curve_size() > 0) {
    // The full curve, ten points a row: row "11-20%" holds the value shares of the top 11% .. 20%.
    std::vector<std::string> header{"top customers"};
    for (int i = 1; i <= 10; ++i) header.push_back(fmt::format("+{}%", i));
    std::vector<Align> align(header.size(), Align::kRight);
    Table curve(header, align);
    for (int row = 0; row * 10 < d.curve_size(); ++row) {
      std::vector<std::string> cells{fmt::format("{}-{}%", row * 10 + 1, row * 10 + 10)};
      for (int i = row * 10; i < std::min(d.curve_size(), row * 10 + 10); ++i)
        cells.push_back(format_share(d.curve(i).value_share()));
      while (cells.size() < header.size()) cells.emplace_back("");
      curve.add_row(cells);
    }
    text += "\nPareto curve (value share of the top x% of customers)\n" + curve.render();
  }
  return text;
}

std::string render_overview(const v1::Overview& o) {
  std::string text =
      fmt::format("as of {} ({} clock{})\n", o.has_as_of() ? format_time(o.as_of()) : "now", or_dash(o.clock()),
                  o.from_history() ? ", from history: this instance's customers only" : "");
  text += fmt::format("pending downgrades: {}\ncredit holds: {}\nat risk: {}\n\n", format_int(o.pending_downgrades()),
                      format_int(o.credit_holds()), format_int(o.at_risk()));
  text += render_distribution(o.distribution());
  const std::string& cur = o.distribution().currency();
  if (o.quadrants_size() > 0) {
    Table q({"quadrant", "customers", "value", "value share", "strategy"},
            {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kLeft});
    for (const auto& x : o.quadrants()) {
      q.add_row({x.name(), format_int(x.customers()), format_money(x.value_minor(), cur), format_share(x.value_share()),
                 x.strategy()});
    }
    text += "\n" + q.render();
  }
  for (const auto& b : o.breakdowns()) {
    Table t({b.dimension(), "customers", "value", "value share"},
            {Align::kLeft, Align::kRight, Align::kRight, Align::kRight});
    for (const auto& r : b.rows()) {
      t.add_row({or_dash(r.key()), format_int(r.customers()), format_money(r.value_minor(), cur),
                 format_share(r.value_share())});
    }
    text += "\n" + t.render();
  }
  return text;
}

std::string render_list(const v1::ListCustomersResponse& r) {
  Table t({"customer", "tier", "previous", "price level", "service level", "credit hold", "assigned"});
  for (const auto& a : r.assignments()) {
    t.add_row({a.customer_id(), a.tier(), or_dash(a.previous_tier()), or_dash(a.price_level()),
               or_dash(a.service_level()), yes_no(a.credit_hold()), format_time(a.assigned_time())});
  }
  std::string text = t.render();
  if (!r.next_page_token().empty()) text += fmt::format("next page: --page-token {}\n", r.next_page_token());
  return text;
}

std::string render_history(const v1::GetTierHistoryResponse& r) {
  // One row per change (newest first): when it was evaluated and on which clock, the tier
  // it moved from (the next older row's; previous_tier for the oldest row of the page), to,
  // what else changed (credit hold, pending downgrade), and why.
  Table t({"evaluated (clock)", "version", "tier", "change", "standard", "reason"},
          {Align::kLeft, Align::kRight, Align::kLeft, Align::kLeft, Align::kLeft, Align::kLeft});
  const int n = r.changes_size();
  for (int i = 0; i < n; ++i) {
    const auto& a = r.changes(i);
    const v1::TierAssignment* older = i + 1 < n ? &r.changes(i + 1) : nullptr;
    const std::string from = older != nullptr ? older->tier() : or_dash(a.previous_tier());
    std::vector<std::string> what;
    if (older != nullptr && older->credit_hold() != a.credit_hold())
      what.push_back(a.credit_hold() ? "credit hold set" : "credit hold cleared");
    if (older != nullptr && older->has_pending_downgrade() && !a.has_pending_downgrade())
      what.push_back("pending downgrade cleared");
    if (a.has_pending_downgrade()) {
      what.push_back(fmt::format("downgrade to {} on {}", a.pending_downgrade().to_tier(),
                                 format_time(a.pending_downgrade().effective_time())));
    }
    std::string change;
    for (const auto& w : what) change += (change.empty() ? "" : "; ") + w;
    std::string reason = a.reasons_size() > 0 ? a.reasons(0) : a.matched_rule();
    if (a.has_override()) reason = render_override(a.override());
    const std::string clock = a.clock().empty() ? "" : " (" + a.clock() + ")";
    t.add_row({format_time(a.evaluated_time()) + clock, std::to_string(a.version()), from + " -> " + a.tier(),
               or_dash(change), or_dash(a.standard_version()), reason});
  }
  std::string text = t.render();
  if (!r.next_page_token().empty()) text += fmt::format("next page: --page-token {}\n", r.next_page_token());
  return text;
}

std::string render_what_if(const v1::WhatIfResponse& r) {
  std::set<std::string, decltype(&tier_less)> from(&tier_less), to(&tier_less);
  std::map<std::pair<std::string, std::string>, std::int64_t> cells;
  std::int64_t moved = 0;
  for (const auto& m : r.migrations()) {
    from.insert(m.from_tier());
    to.insert(m.to_tier());
    cells[{m.from_tier(), m.to_tier()}] += m.customers();
    if (m.from_tier() != m.to_tier()) moved += m.customers();
  }
  std::string text = fmt::format("candidate standard {}: {} customers, {} would change tier\n\n",
                                 or_dash(r.candidate_version()), format_int(r.customers()), format_int(moved));
  std::vector<std::string> headers = {"from \\ to"};
  std::vector<Align> align = {Align::kLeft};
  for (const auto& t : to) {
    headers.push_back(t.empty() ? "(none)" : t);
    align.push_back(Align::kRight);
  }
  Table matrix(headers, align);
  for (const auto& f : from) {
    std::vector<std::string> row = {f.empty() ? "(none)" : f};
    for (const auto& t : to) {
      auto it = cells.find({f, t});
      row.push_back(it == cells.end() ? "." : format_int(it->second));
    }
    matrix.add_row(std::move(row));
  }
  text += matrix.render();
  bool any_examples = false;
  for (const auto& m : r.migrations()) {
    if (m.from_tier() == m.to_tier() || m.example_customer_ids_size() == 0) continue;
    if (!any_examples) text += "\nexamples:\n";
    any_examples = true;
    std::string ids;
    for (const auto& id : m.example_customer_ids()) ids += (ids.empty() ? "" : ", ") + id;
    text += fmt::format("  {} -> {}: {}\n", or_dash(m.from_tier()), or_dash(m.to_tier()), ids);
  }
  return text;
}

std::string render_change(const v1::TierAssignment& a) {
  std::string line = fmt::format("{}  {}  {} -> {}", format_time(a.assigned_time()), a.customer_id(),
                                 or_dash(a.previous_tier()), a.tier());
  if (a.reasons_size() > 0) line += fmt::format("  ({})", a.reasons(0));
  return line + "\n";
}

int cmd_get(Stub& stub, const Context& ctx, const std::string& customer, const std::string& as_of) {
  v1::GetTierRequest req;
  req.set_customer_id(customer);
  if (!as_of.empty() && !parse_time(as_of, req.mutable_as_of())) {
    return usage_error(ctx, "get", fmt::format("--as-of '{}' is not YYYY-MM-DD or RFC 3339", as_of));
  }
  return call(ctx, "get", stub, &Stub::GetTier, req, render_assignment);
}

int cmd_explain(Stub& stub, const Context& ctx, const std::string& customer) {
  v1::ExplainTierRequest req;
  req.set_customer_id(customer);
  return call(ctx, "explain", stub, &Stub::ExplainTier, req, render_explanation);
}

int cmd_distribution(Stub& stub, const Context& ctx) {
  return call(ctx, "distribution", stub, &Stub::GetDistribution, v1::GetDistributionRequest(), render_distribution);
}

bool parse_as_of_day(std::string_view text, google::protobuf::Timestamp* out) {
  if (!parse_time(text, out)) return false;
  if (text.size() == 10) out->set_seconds(out->seconds() + 86399);  // a bare date: its end, 23:59:59 UTC
  return true;
}

int cmd_overview(Stub& stub, const Context& ctx, const std::string& as_of) {
  v1::GetOverviewRequest req;
  if (!as_of.empty() && !parse_as_of_day(as_of, req.mutable_as_of())) {
    return usage_error(ctx, "overview", fmt::format("--as-of '{}' is not YYYY-MM-DD or RFC 3339", as_of));
  }
  v1::Overview resp;
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() +
                 std::max<std::chrono::milliseconds>(ctx.deadline, std::chrono::seconds(60)));
  return finish(ctx, "overview", stub.GetOverview(&c, req, &resp), resp, render_overview);
}

int cmd_list(Stub& stub, const Context& ctx, const ListArgs& args) {
  if (args.tier.empty() && args.dimension.empty()) {
    return usage_error(ctx, "list", "give --tier, or --dimension with --class");
  }
  if (args.dimension.empty() != args.class_name.empty()) {
    return usage_error(ctx, "list", "--dimension and --class go together");
  }
  v1::ListCustomersRequest req;
  req.set_tier(args.tier);
  req.set_dimension(args.dimension);
  req.set_class_name(args.class_name);
  req.mutable_page()->set_page_size(args.page_size);
  req.mutable_page()->set_page_token(args.page_token);
  return call(ctx, "list", stub, &Stub::ListCustomers, req, render_list);
}

int cmd_history(Stub& stub, const Context& ctx, const std::string& customer, int page_size,
                const std::string& page_token) {
  v1::GetTierHistoryRequest req;
  req.set_customer_id(customer);
  req.mutable_page()->set_page_size(page_size);
  req.mutable_page()->set_page_token(page_token);
  return call(ctx, "history", stub, &Stub::GetTierHistory, req, render_history);
}

int cmd_override_set(Stub& stub, const Context& ctx, const OverrideArgs& args) {
  constexpr std::string_view verb = "override set";
  if (args.pin.empty() == args.floor.empty()) return usage_error(ctx, verb, "give exactly one of --pin or --floor");
  if (args.actor.empty() || args.reason.empty()) return usage_error(ctx, verb, "--actor and --reason are required");
  v1::SetOverrideRequest req;
  auto* o = req.mutable_override();
  o->set_customer_id(args.customer);
  o->set_kind(args.pin.empty() ? v1::OVERRIDE_KIND_FLOOR : v1::OVERRIDE_KIND_PIN);
  o->set_tier(args.pin.empty() ? args.floor : args.pin);
  o->set_actor(args.actor);
  o->set_reason_code(args.reason);
  if (!args.expires.empty() && !parse_time(args.expires, o->mutable_expire_time())) {
    return usage_error(ctx, verb, fmt::format("--expires '{}' is not YYYY-MM-DD or RFC 3339", args.expires));
  }
  return call(ctx, verb, stub, &Stub::SetOverride, req,
              [&](const v1::TierOverride& r) { return fmt::format("{}: {}\n", args.customer, render_override(r)); });
}

int cmd_override_clear(Stub& stub, const Context& ctx, const std::string& customer, const std::string& actor,
                       const std::string& reason) {
  v1::ClearOverrideRequest req;
  req.set_customer_id(customer);
  req.set_actor(actor);
  req.set_reason_code(reason);
  return call(ctx, "override clear", stub, &Stub::ClearOverride, req, [&](const v1::ClearOverrideResponse& r) {
    return fmt::format("{}: {}\n", customer, r.cleared() ? "override cleared" : "no override to clear");
  });
}

int cmd_reload(Stub& stub, const Context& ctx) {
  return call(ctx, "reload", stub, &Stub::ReloadStandard, v1::ReloadStandardRequest(),
              [](const v1::ReloadStandardResponse& r) {
                return fmt::format("standard {} loaded, {} customers re-evaluated\n", r.standard_version(),
                                   format_int(r.customers_reevaluated()));
              });
}

int cmd_what_if(Stub& stub, const Context& ctx, const std::string& yaml_path) {
  std::ifstream in(yaml_path, std::ios::binary);
  if (!in) return usage_error(ctx, "what-if", fmt::format("cannot read {}", yaml_path));
  std::ostringstream text;
  text << in.rdbuf();
  v1::WhatIfRequest req;
  req.set_standard_yaml(text.str());
  return call(ctx, "what-if", stub, &Stub::WhatIf, req, render_what_if);
}

int cmd_watch(Stub& stub, const Context& ctx, const std::vector<std::string>& tiers) {
  v1::WatchTierChangesRequest req;
  for (const auto& t : tiers) req.add_tiers(t);
  grpc::ClientContext c;
  auto reader = stub.WatchTierChanges(&c, req);
  v1::TierAssignment a;
  while (reader->Read(&a)) {
    ctx.out << (ctx.json ? to_json(a, true) + "\n" : render_change(a));
    ctx.out.flush();
  }
  const grpc::Status s = reader->Finish();
  return s.ok() ? 0 : rpc_error(ctx, "watch", s);
}

int cmd_health(const std::shared_ptr<grpc::Channel>& channel, const Context& ctx, const std::string& service,
               std::chrono::milliseconds wait) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  const auto give_up = std::chrono::steady_clock::now() + wait;
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  while (true) {
    grpc::health::v1::HealthCheckResponse resp;
    grpc::ClientContext c;
    set_deadline(&c, ctx);
    const grpc::Status s = stub->Check(&c, req, &resp);
    const bool serving = s.ok() && resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    if (serving || std::chrono::steady_clock::now() >= give_up) {
      if (!s.ok()) return rpc_error(ctx, "health", s);
      const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
      if (ctx.json) {
        ctx.out << to_json(resp) << '\n';
      } else {
        ctx.out << (service.empty() ? name : fmt::format("{}: {}", service, name)) << '\n';
      }
      return serving ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace tierflow::tierctl
