// console: the web console (issue 13). Parses config, loads the tokens file and the
// holiday calendar, serves HTTP until SIGTERM.
#include "common/runtime/main.h"
#include "common/grpc/auth.h"
#include "common/runtime/ready_file.h"
#include "src/config.h"
#include "src/server.h"

int main(int argc, char** argv) {
  using namespace tierflow;
  return runtime::service_main(
      argc, argv, "console", "tierflow console: the web page for finance and the call-center", console::load_config,
      [](const console::Config& cfg, runtime::StopSignals& stop) {
        if (cfg.auth.tokens_file.empty()) {
          throw std::runtime_error("auth.tokens_file (TIERFLOW_AUTH_TOKENS_FILE) is required: who may log in");
        }
        grpcx::TokenStore tokens(cfg.auth.tokens_file, cfg.auth.reload_check);
        std::optional<notification::calendar::HolidayCalendar> holidays;
        if (!cfg.holidays_file.empty()) holidays = notification::calendar::HolidayCalendar::load(cfg.holidays_file);
        console::ConsoleServer server(cfg, tokens, holidays ? &*holidays : nullptr);
        server.start();
        runtime::write_ready_file(cfg.ready_file, {{"http", server.port()}});
        while (!stop.wait_for(std::chrono::hours(1))) {
        }
        spdlog::info("console stopping");
        server.stop();
      });
}
