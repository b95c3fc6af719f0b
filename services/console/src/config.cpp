#include "src/config.h"

#include <fmt/format.h>

#include "common/config/config.h"

namespace tierflow::console {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  auto http = root.section("http");
  c.http_listen = http.get_string("listen", c.http_listen);
  auto backends = root.section("backends");
  c.classification_addr = backends.get_string("classification", c.classification_addr);
  c.ledger_addr = backends.get_string("ledger", c.ledger_addr);
  c.notification_addr = backends.get_string("notification", c.notification_addr);
  c.tls_ca_file = backends.get_string("tls_ca_file", c.tls_ca_file);
  c.deadline = std::chrono::milliseconds(backends.get_int("deadline_ms", c.deadline.count(), 100, 600000));
  c.web_dir = root.get_string("web_dir", c.web_dir);
  c.chart_js = root.get_string("chart_js", c.chart_js);
  c.holidays_file = root.get_string("holidays_file", c.holidays_file);
  c.session_idle = std::chrono::minutes(root.get_int("session_idle_minutes", c.session_idle.count(), 1, 7 * 24 * 60));
  c.auth = config::read_access(root).auth;
  c.log = config::read_log(root.section("log"));
  c.ready_file = root.get_string("ready_file", c.ready_file);
  loader.finish();
  const std::string where = path.empty() ? "(environment)" : path;
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"http.listen", &c.http_listen},
                                   {"backends.classification", &c.classification_addr},
                                   {"web_dir", &c.web_dir}}) {
    if (value->empty()) throw config::ConfigError(fmt::format("{}: {}: must not be empty", where, key));
  }
  if (c.http_listen.rfind(':') == std::string::npos) {
    throw config::ConfigError(fmt::format("{}: http.listen: '{}' is not host:port", where, c.http_listen));
  }
  return c;
}

}  // namespace tierflow::console
