#include "common/runtime/stop.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>

namespace tierflow::runtime {

namespace {
sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
}  // namespace

StopSignals::StopSignals() {
  const sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  waiter_ = std::jthread([this](std::stop_token own) {
    const sigset_t set = stop_set();
    const timespec tick{0, 200 * 1000 * 1000};
    while (!own.stop_requested()) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig <= 0) continue;
      if (source_.stop_requested()) {
        spdlog::warn("second signal {}: exiting now", sig);
        std::_Exit(130);
      }
      spdlog::info("signal {}: shutting down", sig);
      source_.request_stop();
    }
  });
}

StopSignals::~StopSignals() = default;  // jthread asks the waiter to stop and joins it

bool StopSignals::wait_for(std::chrono::milliseconds timeout) const {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  std::stop_token token = source_.get_token();
  return cv.wait_for(lock, token, timeout, [] { return false; }) || token.stop_requested();
}

}  // namespace tierflow::runtime
