#include "src/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/grpc/client.h"

namespace tierflow::console {

namespace {

constexpr const char* kCookie = "tf_session";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string cookie_value(const httplib::Request& req, std::string_view name) {
  const std::string header = req.get_header_value("Cookie");
  size_t pos = 0;
  while (pos < header.size()) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string_view part(header.data() + pos, end - pos);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    pos = end + 1;
  }
  return {};
}

void send(httplib::Response& res, const Reply& r) {
  res.status = r.status;
  if (!r.filename.empty()) res.set_header("Content-Disposition", "attachment; filename=\"" + r.filename + "\"");
  res.set_content(r.body, r.content_type.c_str());
}

// Every answer: no framing, no sniffing, no referrer, nothing but our own origin.
void security_headers(httplib::Response& res) {
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                 "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
}

const char* mime_of(const std::string& path) {
  auto ends = [&](std::string_view s) {
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  return nullptr;
}

}  // namespace

std::string language_of(const std::string& accept_language) {
  // The highest q wins; ties keep the header's order.
  std::string best;
  double best_q = -1;
  std::stringstream in(accept_language);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::string tag = item.substr(0, item.find(';'));
    tag.erase(0, tag.find_first_not_of(' '));
    tag.erase(tag.find_last_not_of(' ') + 1);
    double q = 1;
    if (const auto p = item.find(";q="); p != std::string::npos) {
      try {
        q = std::stod(item.substr(p + 3));
      } catch (const std::exception&) {
        q = 0;
      }
    }
    if (!tag.empty() && q > best_q) {
      best = tag;
      best_q = q;
    }
  }
  if (best.size() >= 2 && (best[0] == 'z' || best[0] == 'Z') && (best[1] == 'h' || best[1] == 'H')) return "zh-CN";
  return "en";
}

ConsoleServer::ConsoleServer(const Config& cfg, grpcx::TokenStore& tokens,
                             const notification::calendar::HolidayCalendar* holidays)
    : cfg_(cfg), sessions_(tokens, cfg.session_idle), api_(cfg, holidays), http_(std::make_unique<httplib::Server>()) {
  routes();
  const auto colon = cfg.http_listen.rfind(':');
  const std::string host = cfg.http_listen.substr(0, colon);
  const int port = std::stoi(cfg.http_listen.substr(colon + 1));
  if (port == 0) {
    port_ = http_->bind_to_any_port(host);
  } else if (http_->bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ <= 0) throw std::runtime_error("console: cannot listen on " + cfg.http_listen);
}

ConsoleServer::~ConsoleServer() { stop(); }

void ConsoleServer::start() {
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  spdlog::info("console listening on http://{}:{}/", cfg_.http_listen.substr(0, cfg_.http_listen.rfind(':')), port_);
}

void ConsoleServer::stop() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

void ConsoleServer::make_channels(Session& s) const {
  grpcx::ClientOptions o;
  o.token = s.token;
  o.tls_ca_file = cfg_.tls_ca_file;
  s.classification = grpcx::make_channel(cfg_.classification_addr, o);
  s.ledger = grpcx::make_channel(cfg_.ledger_addr, o);
  s.notification = grpcx::make_channel(cfg_.notification_addr, o);
}

std::shared_ptr<const Session> ConsoleServer::session_of(const httplib::Request& req) {
  const std::string id = cookie_value(req, kCookie);
  if (id.empty()) return nullptr;
  return sessions_.find(id);
}

void ConsoleServer::serve_page(const std::vector<std::string>& scripts, const std::string& body,
                               const httplib::Request& req, httplib::Response& res, int status,
                               const std::string& error) {
  std::string html = read_file(cfg_.web_dir + "/page.html");
  if (html.empty() || body.empty()) {
    res.status = 500;
    res.set_content("page missing under " + cfg_.web_dir, "text/plain");
    return;
  }
  std::string tags;
  for (const auto& s : scripts)
    tags += (tags.empty() ? "" : "\n") + ("<script src=\"/assets/" + s + "\" defer></script>");
  auto replace = [&](std::string_view from, const std::string& to) {
    for (size_t p = html.find(from); p != std::string::npos; p = html.find(from, p + to.size())) {
      html.replace(p, from.size(), to);
    }
  };
  // The page's own parts first, so the values below reach placeholders inside them too.
  replace("__SCRIPTS__", tags);
  replace("__BODY__", body);
  replace("__LANG__", language_of(req.get_header_value("Accept-Language")));
  replace("__ERROR__", error);
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(html, "text/html; charset=utf-8");
}

void ConsoleServer::serve_login(const httplib::Request& req, httplib::Response& res, int status,
                                const std::string& error) {
  serve_page({"i18n.js", "login.js"}, read_file(cfg_.web_dir + "/login-body.html"), req, res, status, error);
}

void ConsoleServer::routes() {
  auto& h = *http_;
  h.set_payload_max_length(2 << 20);  // a candidate standard is a few KB
  h.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    // The path only: a query string can hold a searched name.
    spdlog::debug("{} {} {}", req.method, req.path, res.status);
  });
  h.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) { security_headers(res); });

  // --- Login and logout ---
  h.Get("/login", [this](const httplib::Request& req, httplib::Response& res) { serve_login(req, res); });
  h.Post("/login", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string token = req.get_param_value("token");
    Sessions::Refusal refusal = Sessions::Refusal::kNone;
    auto s = token.empty() ? nullptr : sessions_.login(token, &refusal, [this](Session& x) { make_channels(x); });
    if (!s) {
      const bool role = refusal == Sessions::Refusal::kRole;
      spdlog::info("console login refused: {}", role ? "role may not use the console"
                                                : refusal == Sessions::Refusal::kExpired ? "expired token"
                                                                                         : "unknown token");
      serve_login(req, res, role ? 403 : 401,
                  role                                     ? "role"
                  : refusal == Sessions::Refusal::kExpired ? "expired"
                                                           : "unknown");
      return;
    }
    spdlog::info("console login: {} ({})", s->caller.name, grpcx::role_name(s->caller.role));
    res.set_header("Set-Cookie", std::string(kCookie) + "=" + s->id + "; HttpOnly; SameSite=Strict; Path=/");
    res.set_redirect("/", 303);
  });

  // Everything below needs a session; changes need the CSRF token too.
  auto guarded = [this](bool change, auto handler) {
    return [this, change, handler](const httplib::Request& req, httplib::Response& res) {
      auto s = session_of(req);
      if (!s) {
        send(res, error_reply(401, "UNAUTHENTICATED", "log in first"));
        return;
      }
      if (change && req.get_header_value("X-CSRF-Token") != s->csrf) {
        send(res, error_reply(403, "CSRF", "missing or wrong X-CSRF-Token"));
        return;
      }
      res.set_header("Cache-Control", "no-store");
      try {
        handler(*s, req, res);
      } catch (const std::invalid_argument& e) {
        send(res, error_reply(400, "INVALID_ARGUMENT", e.what()));
      } catch (const std::exception& e) {
        spdlog::error("console: {} {}: {}", req.method, req.path, e.what());
        send(res, error_reply(500, "INTERNAL", "internal error"));
      }
    };
  };
  h.Post("/logout", guarded(true, [this](const Session& s, const httplib::Request&, httplib::Response& res) {
           sessions_.logout(s.id);
           res.set_header("Set-Cookie", std::string(kCookie) + "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
           res.set_content("{}", "application/json");
         }));
  h.Get("/api/session", guarded(false, [](const Session& s, const httplib::Request& req, httplib::Response& res) {
          Reply r;
          r.body = "{\"role\":\"" + std::string(grpcx::role_name(s.caller.role)) + "\",\"name\":\"" + s.caller.name +
                   "\",\"csrf\":\"" + s.csrf + "\",\"lang\":\"" + language_of(req.get_header_value("Accept-Language")) +
                   "\"}";
          send(res, r);
        }));
  h.Get("/api/overview", guarded(false, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
          send(res, api_.overview(s, req.get_param_value("as_of")));
        }));
  h.Get("/api/customers", guarded(false, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
          send(res, api_.customers(s, req.get_param_value("q")));
        }));
  h.Get(R"(/api/customer/([^/]+))",
        guarded(false, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
          send(res, api_.customer(s, req.matches[1], req.get_param_value("as_of"),
                                  language_of(req.get_header_value("Accept-Language"))));
        }));
  h.Get("/api/watchlist", guarded(false, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
          send(res, api_.watchlist(s, req.get_param_value("as_of"), false));
        }));
  h.Get("/api/watchlist.csv",
        guarded(false, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
          send(res, api_.watchlist(s, req.get_param_value("as_of"), true));
        }));
  h.Post("/api/whatif", guarded(true, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
           send(res, api_.whatif(s, req.body));
         }));
  h.Post("/api/override", guarded(true, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
           send(res, api_.set_override(s, req.body));
         }));
  h.Post("/api/override/clear",
         guarded(true, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
           send(res, api_.clear_override(s, req.body));
         }));
  h.Get("/report", guarded(false, [this](const Session& s, const httplib::Request& req, httplib::Response& res) {
          send(res, api_.report(s, req.get_param_value("as_of"), req.get_header_value("Accept-Language")));
        }));

  // --- Pages (a login first) and assets ---
  // Each page is the shared head (web/page.html) with its scripts and an empty <main> that
  // its script fills; the body's data-page names the page for app.js.
  struct Page {
    const char* path;
    const char* name;
    bool chart;  // Chart.js, before the page's own script
  };
  for (const Page& page : {Page{"/", "overview", true}, Page{"/customer", "customer", false},
                           Page{"/watch", "watch", false}, Page{"/whatif", "whatif", false}}) {
    std::vector<std::string> scripts;
    if (page.chart) scripts.emplace_back("chart.min.js");
    scripts.insert(scripts.end(), {"i18n.js", "app.js", std::string(page.name) + ".js"});
    std::string body = std::string("<body data-page=\"") + page.name + "\">\n<main></main>\n</body>";
    h.Get(page.path, [this, scripts = std::move(scripts), body = std::move(body)](const httplib::Request& req,
                                                                                  httplib::Response& res) {
      if (!session_of(req)) {
        res.set_redirect("/login", 303);
        return;
      }
      serve_page(scripts, body, req, res);
    });
  }
  // No icon: an empty answer, not a 404 the browser reports as a failed load.
  h.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  h.Get("/assets/chart.min.js", [this](const httplib::Request&, httplib::Response& res) {
    const std::string js = read_file(cfg_.chart_js);
    if (js.empty()) {
      res.status = 404;
      return;
    }
    res.set_content(js, "text/javascript; charset=utf-8");
  });
  h.Get(R"(/assets/([A-Za-z0-9_-]+\.(js|css|svg|png)))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const std::string body = read_file(cfg_.web_dir + "/" + name);
    if (body.empty()) {
      res.status = 404;
      return;
    }
    res.set_content(body, mime_of(name));
  });
}

}  // namespace tierflow::console
