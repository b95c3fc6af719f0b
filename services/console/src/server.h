// ConsoleServer: the console's HTTP side (cpp-httplib): login, sessions and CSRF, the JSON
// endpoints (src/api.h), the pages and their assets. Routes and rules: README.md.
//
// Lifecycle: start() binds (port 0: the kernel picks; port() says which) and serves on a
// thread of its own with httplib's worker pool; stop() (or the destructor) ends the
// listener and waits for the thread. Threading: handlers run on httplib's workers; the
// sessions and the API are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "src/api.h"
#include "src/config.h"
#include "src/sessions.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace tierflow::console {

// "zh-CN" when the Accept-Language header's most preferred language is Chinese, else "en".
std::string language_of(const std::string& accept_language);

class ConsoleServer {
 public:
  // `holidays` may be null. Throws std::runtime_error when the address cannot be bound.
  ConsoleServer(const Config& cfg, grpcx::TokenStore& tokens, const notification::calendar::HolidayCalendar* holidays);
  ~ConsoleServer();
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  void start();
  void stop();
  int port() const { return port_; }
  Sessions& sessions() { return sessions_; }

 private:
  void routes();
  // The session of the request's tf_session cookie, or null.
  std::shared_ptr<const Session> session_of(const httplib::Request& req);
  // web/page.html, the head every page shares, with the page's scripts (/assets names,
  // loaded deferred in this order) and its <body> element; __LANG__ and __ERROR__ are then
  // filled in. 500 when page.html or the body is missing.
  void serve_page(const std::vector<std::string>& scripts, const std::string& body, const httplib::Request& req,
                  httplib::Response& res, int status = 200, const std::string& error = "");
  // The login form (web/login-body.html) in the shared head; `error` goes to its data-error.
  void serve_login(const httplib::Request& req, httplib::Response& res, int status = 200,
                   const std::string& error = "");
  void make_channels(Session& s) const;

  const Config& cfg_;
  Sessions sessions_;
  Api api_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace tierflow::console
