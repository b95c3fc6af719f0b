#include "src/api.h"

#include <absl/time/civil_time.h>
#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <regex>
#include <stdexcept>

#include "common/grpc/client.h"
#include "common/json/json.h"
#include "common/time/time.h"
#include "services/notification/src/calendar/birthday.h"
#include "tierflow/v1/campaign.grpc.pb.h"
#include "tierflow/v1/ledger.grpc.pb.h"
#include "tierflow/v1/tier.grpc.pb.h"
#ifdef TIERFLOW_CONSOLE_REPORT
#include "tierflow/report/report.h"
#endif

namespace tierflow::console {

namespace {

std::string error_json(const grpc::Status& st) {
  std::string code;
  switch (st.error_code()) {
    case grpc::StatusCode::PERMISSION_DENIED:
      code = "PERMISSION_DENIED";
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
      code = "UNAUTHENTICATED";
      break;
    case grpc::StatusCode::NOT_FOUND:
      code = "NOT_FOUND";
      break;
    case grpc::StatusCode::INVALID_ARGUMENT:
      code = "INVALID_ARGUMENT";
      break;
    case grpc::StatusCode::FAILED_PRECONDITION:
      code = "FAILED_PRECONDITION";
      break;
    case grpc::StatusCode::UNAVAILABLE:
      code = "UNAVAILABLE";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      code = "DEADLINE_EXCEEDED";
      break;
    case grpc::StatusCode::UNIMPLEMENTED:
      code = "UNIMPLEMENTED";
      break;
    default:
      code = "INTERNAL";
      break;
  }
  return "{\"error\":{\"code\":" + json_quote(code) + ",\"message\":" + json_quote(st.error_message()) + "}}";
}

// A spreadsheet must not run a cell as a formula; quotes when needed (RFC 4180).
std::string csv_field(std::string_view text) {
  std::string s(text);
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r')) {
    s = "'" + s;
  }
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

template <typename Req>
void set_as_of(Req& req, const std::optional<google::protobuf::Timestamp>& t) {
  if (t) *req.mutable_as_of() = *t;
}

}  // namespace

std::optional<google::protobuf::Timestamp> parse_as_of(const std::string& text) {
  if (text.empty()) return std::nullopt;
  static const std::regex kDate(R"((\d{4})-(\d{2})-(\d{2}))");
  std::smatch m;
  if (!std::regex_match(text, m, kDate)) throw std::invalid_argument("as_of must be YYYY-MM-DD");
  const int y = std::stoi(m[1]), mo = std::stoi(m[2]), d = std::stoi(m[3]);
  const absl::CivilDay day(y, mo, d);
  if (day.year() != y || day.month() != mo || day.day() != d) throw std::invalid_argument("as_of is not a date");
  google::protobuf::Timestamp ts;
  timeutil::to_proto(absl::FromCivil(absl::CivilSecond(y, mo, d, 23, 59, 59), absl::UTCTimeZone()), &ts);
  return ts;
}

std::string to_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(m, &out, o).ok()) return "null";
  return out;
}

int http_status(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    default:
      return 502;
  }
}

Reply error_reply(const grpc::Status& status) {
  return Reply{http_status(status.error_code()), "application/json", error_json(status), ""};
}

Reply error_reply(int http, std::string_view code, std::string_view message) {
  return Reply{http, "application/json",
               "{\"error\":{\"code\":" + json_quote(code) + ",\"message\":" + json_quote(message) + "}}", ""};
}

std::string standard_error_json(const std::string& message) {
  // StandardError: "<file>:<line>: <field>: <problem>" or "<file>:<line>: <problem>".
  static const std::regex kError(R"(^(.*?):(\d+)(?::\d+)?: (?:([A-Za-z0-9_.\[\]-]+): )?([\s\S]*)$)");
  std::smatch m;
  if (std::regex_match(message, m, kError)) {
    return "{\"line\":" + m[2].str() + ",\"field\":" + json_quote(m[3].str()) +
           ",\"message\":" + json_quote(m[4].str()) + "}";
  }
  return "{\"line\":0,\"field\":\"\",\"message\":" + json_quote(message) + "}";
}

std::unique_ptr<grpc::ClientContext> Api::ctx() const {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + cfg_.deadline);
  return c;
}

Reply Api::overview(const Session& s, const std::string& as_of) const {
  v1::GetOverviewRequest req;
  set_as_of(req, parse_as_of(as_of));
  v1::Overview out;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->GetOverview(c.get(), req, &out);
  if (!st.ok()) return error_reply(st);
  return Reply{200, "application/json", to_json(out), ""};
}

Reply Api::customers(const Session& s, const std::string& query) const {
  if (query.empty()) return error_reply(400, "INVALID_ARGUMENT", "q is required");
  v1::SearchCustomersRequest req;
  req.set_query(query);
  req.set_limit(20);
  v1::SearchCustomersResponse out;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->SearchCustomers(c.get(), req, &out);
  if (!st.ok()) return error_reply(st);
  return Reply{200, "application/json", to_json(out), ""};
}

Reply Api::customer(const Session& s, const std::string& id, const std::string& as_of, const std::string& lang) const {
  if (id.empty()) return error_reply(400, "INVALID_ARGUMENT", "customer id is required");
  const auto when = parse_as_of(as_of);
  auto tiers = v1::TierService::NewStub(s.classification);
  std::string body = "{\"customer_id\":" + json_quote(id);
  auto part = [&](const char* name, const grpc::Status& st, const google::protobuf::Message& m) {
    body += std::string(",\"") + name + "\":" + (st.ok() ? to_json(m) : error_json(st));
  };
  v1::GetTierRequest tier_req;
  tier_req.set_customer_id(id);
  set_as_of(tier_req, when);
  v1::TierAssignment tier;
  auto c1 = ctx();
  const auto tier_st = tiers->GetTier(c1.get(), tier_req, &tier);
  if (tier_st.error_code() == grpc::StatusCode::NOT_FOUND && !when) {
    return error_reply(tier_st);  // no such customer (with as_of: maybe not assigned yet then)
  }
  part("assignment", tier_st, tier);

  v1::ExplainTierRequest explain_req;
  explain_req.set_customer_id(id);
  v1::Explanation explanation;
  auto c2 = ctx();
  part("explanation", tiers->ExplainTier(c2.get(), explain_req, &explanation), explanation);

  v1::GetTierHistoryRequest history_req;
  history_req.set_customer_id(id);
  history_req.mutable_page()->set_page_size(100);
  v1::GetTierHistoryResponse history;
  auto c3 = ctx();
  part("history", tiers->GetTierHistory(c3.get(), history_req, &history), history);

  v1::GetCustomerProfileRequest profile_req;
  profile_req.set_customer_id(id);
  v1::CustomerProfile profile;
  auto c4 = ctx();
  const auto profile_st = tiers->GetCustomerProfile(c4.get(), profile_req, &profile);
  part("profile", profile_st, profile);

  v1::GetAccountRequest account_req;
  account_req.set_customer_id(id);
  v1::AccountSnapshot account;
  auto c5 = ctx();
  part("account", v1::Ledger::NewStub(s.ledger)->GetAccount(c5.get(), account_req, &account), account);

  v1::ListDeliveriesRequest deliveries_req;
  deliveries_req.set_customer_id(id);
  deliveries_req.mutable_page()->set_page_size(50);
  v1::ListDeliveriesResponse deliveries;
  auto c6 = ctx();
  part("deliveries",
       v1::CampaignService::NewStub(s.notification)->ListDeliveries(c6.get(), deliveries_req, &deliveries), deliveries);

  std::string ref = as_of;
  if (ref.empty() && tier_st.ok() && tier.has_evaluated_time()) {
    ref = absl::FormatTime("%Y-%m-%d", timeutil::from_proto(tier.evaluated_time()), absl::UTCTimeZone());
  }
  body += ",\"occasions\":" + occasions_json(profile_st.ok() ? &profile : nullptr, ref, lang);
  body += "}";
  return Reply{200, "application/json", body, ""};
}

std::string Api::occasions_json(const google::protobuf::Message* profile_msg, const std::string& ref,
                                const std::string& lang) const {
  namespace cal = notification::calendar;
  absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  if (!ref.empty()) {
    const auto t = parse_as_of(ref);
    today = absl::ToCivilDay(timeutil::from_proto(*t), absl::UTCTimeZone());
  }
  const absl::CivilDay until = today + 60;
  std::vector<std::pair<absl::CivilDay, std::string>> items;  // day, JSON object
  auto item = [&](absl::CivilDay d, std::string_view kind, std::string_view name) {
    items.emplace_back(d, "{\"date\":" + json_quote(absl::FormatCivilTime(d)) + ",\"kind\":" + json_quote(kind) +
                              ",\"name\":" + json_quote(name) + ",\"days\":" + std::to_string(d - today) + "}");
  };
  if (const auto* p = dynamic_cast<const v1::CustomerProfile*>(profile_msg)) {
    if (p->has_birthday() && p->birthday().month() >= 1 && p->birthday().day() >= 1) {
      const cal::SolarBirthday b{p->birthday().month(), p->birthday().day()};
      for (int y : {static_cast<int>(today.year()), static_cast<int>(today.year()) + 1}) {
        const auto d = cal::solar_birthday_in(y, b);
        if (d >= today) {
          item(d, "birthday", lang == "zh-CN" ? "生日" : "birthday");
          break;
        }
      }
    }
    if (p->has_lunar_birthday() && p->lunar_birthday().month() >= 1) {
      const cal::LunarDate b{p->lunar_birthday().month(), p->lunar_birthday().day(), p->lunar_birthday().leap_month()};
      for (int y :
           {static_cast<int>(today.year()) - 1, static_cast<int>(today.year()), static_cast<int>(today.year()) + 1}) {
        const auto d = cal::lunar_birthday_in(y, b);
        if (d >= today) {
          item(d, "lunar_birthday", lang == "zh-CN" ? "农历生日" : "lunar birthday");
          break;
        }
      }
    }
  }
  if (holidays_ != nullptr) {
    for (int y : {static_cast<int>(today.year()), static_cast<int>(today.year()) + 1}) {
      for (const auto& o : holidays_->occurrences(y)) {
        if (o.day >= today && o.day <= until) item(o.day, "holiday", o.holiday->name(lang));
      }
    }
  }
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i].second;
  return out + "]";
}

Reply Api::watchlist(const Session& s, const std::string& as_of, bool csv) const {
  v1::ListWatchRequest req;
  set_as_of(req, parse_as_of(as_of));
  req.set_limit(100000);
  v1::ListWatchResponse out;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->ListWatch(c.get(), req, &out);
  if (!st.ok()) return error_reply(st);
  if (!csv) return Reply{200, "application/json", to_json(out), ""};
  std::string body =
      "\xEF\xBB\xBF"
      "customer_id,tier,kinds,reasons,downgrade_to,downgrade_effective\r\n";
  for (const auto& e : out.entries()) {
    const auto& a = e.assignment();
    std::string kinds, reasons;
    for (const auto& k : e.kinds()) kinds += (kinds.empty() ? "" : ";") + k;
    for (const auto& r : e.reasons()) reasons += (reasons.empty() ? "" : "; ") + r;
    std::string effective;
    if (a.has_pending_downgrade())
      effective = timeutil::format(timeutil::from_proto(a.pending_downgrade().effective_time()));
    body += csv_field(a.customer_id()) + "," + csv_field(a.tier()) + "," + csv_field(kinds) + "," + csv_field(reasons) +
            "," + csv_field(a.pending_downgrade().to_tier()) + "," + csv_field(effective) + "\r\n";
  }
  return Reply{200, "text/csv; charset=utf-8", body, "watchlist" + (as_of.empty() ? "" : "-" + as_of) + ".csv"};
}

Reply Api::whatif(const Session& s, const std::string& yaml) const {
  if (yaml.empty()) return error_reply(400, "INVALID_ARGUMENT", "the candidate standard is empty");
  v1::WhatIfRequest req;
  req.set_standard_yaml(yaml);
  v1::WhatIfResponse out;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->WhatIf(c.get(), req, &out);
  if (st.error_code() == grpc::StatusCode::INVALID_ARGUMENT &&
      st.error_message().rfind("candidate standard:", 0) == 0) {
    return Reply{422, "application/json", "{\"errors\":[" + standard_error_json(st.error_message()) + "]}", ""};
  }
  if (!st.ok()) return error_reply(st);
  return Reply{200, "application/json", to_json(out), ""};
}

namespace {
std::optional<google::protobuf::Struct> parse_object(const std::string& body) {
  google::protobuf::Struct s;
  if (!google::protobuf::util::JsonStringToMessage(body, &s).ok()) return std::nullopt;
  return s;
}
std::string field(const google::protobuf::Struct& s, const char* key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}
}  // namespace

Reply Api::set_override(const Session& s, const std::string& body) const {
  const auto in = parse_object(body);
  if (!in) return error_reply(400, "INVALID_ARGUMENT", "the body must be a JSON object");
  v1::SetOverrideRequest req;
  auto* o = req.mutable_override();
  o->set_customer_id(field(*in, "customer_id"));
  const std::string kind = field(*in, "kind");
  if (kind == "pin") {
    o->set_kind(v1::OVERRIDE_KIND_PIN);
  } else if (kind == "floor") {
    o->set_kind(v1::OVERRIDE_KIND_FLOOR);
  } else {
    return error_reply(400, "INVALID_ARGUMENT", "kind must be pin or floor");
  }
  o->set_tier(field(*in, "tier"));
  o->set_reason_code(field(*in, "reason"));
  o->set_actor(s.caller.name);  // who is logged in, not what the page says
  const std::string expires = field(*in, "expires");
  if (!expires.empty()) {
    absl::Time t;
    std::string err;
    if (expires.size() == 10) {
      const auto end = parse_as_of(expires);  // a date: through its end (UTC)
      *o->mutable_expire_time() = *end;
    } else if (absl::ParseTime(absl::RFC3339_full, expires, &t, &err)) {
      timeutil::to_proto(t, o->mutable_expire_time());
    } else {
      return error_reply(400, "INVALID_ARGUMENT", "expires must be YYYY-MM-DD or RFC 3339");
    }
  }
  v1::TierOverride out;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->SetOverride(c.get(), req, &out);
  if (!st.ok()) return error_reply(st);
  return Reply{200, "application/json", to_json(out), ""};
}

Reply Api::clear_override(const Session& s, const std::string& body) const {
  const auto in = parse_object(body);
  if (!in) return error_reply(400, "INVALID_ARGUMENT", "the body must be a JSON object");
  v1::ClearOverrideRequest req;
  req.set_customer_id(field(*in, "customer_id"));
  req.set_actor(s.caller.name);
  req.set_reason_code(field(*in, "reason"));
  v1::ClearOverrideResponse out;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->ClearOverride(c.get(), req, &out);
  if (!st.ok()) return error_reply(st);
  return Reply{200, "application/json", to_json(out), ""};
}

Reply Api::report(const Session& s, const std::string& as_of, const std::string& accept_language) const {
#ifdef TIERFLOW_CONSOLE_REPORT
  v1::GetOverviewRequest req;
  set_as_of(req, parse_as_of(as_of));
  v1::Overview o;
  auto c = ctx();
  const auto st = v1::TierService::NewStub(s.classification)->GetOverview(c.get(), req, &o);
  if (!st.ok()) return error_reply(st);
  report::Meta meta;
  meta.lang = report::lang_from(accept_language);
  meta.as_of = as_of;
  meta.generated_at = timeutil::format(absl::Now());
  std::string chart_js;
  try {
    chart_js = report::load_chart_js(cfg_.chart_js);
  } catch (const std::exception&) {
    // Without Chart.js the report still has every table.
  }
  return Reply{200, "text/html; charset=utf-8", report::render_html(o, meta, chart_js),
               "tierflow-report" + (as_of.empty() ? "" : "-" + as_of) + ".html"};
#else
  (void)s;
  (void)as_of;
  (void)accept_language;
  return error_reply(501, "UNIMPLEMENTED", "this console was built without the report library");
#endif
}

}  // namespace tierflow::console
