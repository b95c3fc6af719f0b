#include "common/runtime/stop.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <system_error>

namespace tierflow::runtime {

namespace {
// These calls fail only on an invalid signal number or `how`: a bug here, so fatal.
sigset_t stop_set() {
  sigset_t set;
  if (sigemptyset(&set) != 0 || sigaddset(&set, SIGINT) != 0 || sigaddset(&set, SIGTERM) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot build the stop signal set");
  }
  return set;
}
}  // namespace

StopSignals::StopSignals() {
  const sigset_t set = stop_set();
  if (const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "cannot block SIGINT and SIGTERM");
  }
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
    throw std::system_error(errno, std::generic_category(), "cannot ignore SIGPIPE");
  }
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
