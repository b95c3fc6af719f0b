// The console's configuration: one typed struct, parsed once at start by load_config
// (unknown keys rejected, every key with a default and a range). No secrets: the tokens
// file holds hashes, and users bring their own token at login.
#pragma once

#include <chrono>
#include <string>

#include "common/config/sections.h"

namespace tierflow::console {

struct Config {
  std::string http_listen = "127.0.0.1:8088";  // host:port; port 0: the kernel picks (ready file)
  // The backends, called with the logged-in user's token (so their role tables apply).
  std::string classification_addr = "127.0.0.1:7003";
  std::string ledger_addr = "127.0.0.1:7002";
  std::string notification_addr = "127.0.0.1:7004";
  std::string tls_ca_file;                    // set: TLS to the backends, verified against this CA
  std::chrono::milliseconds deadline{10000};  // per backend call
  // Static files: the pages (services/console/web in the source tree) and Chart.js from
  // Debian's libjs-chart.js.
  std::string web_dir = "services/console/web";
  std::string chart_js = "/usr/share/javascript/chart.js/chart.min.js";
  std::string holidays_file = "deploy/local/holidays.yaml";  // "" : no holidays on the customer page
  std::chrono::minutes session_idle{480};                    // a session unused this long ends
  config::AuthConfig auth;                                   // auth.tokens_file: who may log in
  config::LogConfig log;
  std::string ready_file;  // {"http": port}
};

// Reads `path` (empty: the environment alone); TIERFLOW_* variables override its keys.
// Throws config::ConfigError naming the key and what is allowed.
Config load_config(const std::string& path);

}  // namespace tierflow::console
