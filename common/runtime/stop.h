// Turns SIGINT and SIGTERM into a std::stop_token, without global mutable state.
//
// Construct StopSignals first thing in main, before any other thread exists: it blocks
// both signals in the calling thread (so every thread created later inherits the mask)
// and waits for them on a thread of its own. A second signal after the first exits at
// once with status 130: the operator's "stop now".
#pragma once

#include <chrono>
#include <stop_token>
#include <thread>

namespace tierflow::runtime {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  void request_stop() { source_.request_stop(); }
  // Blocks until stop is requested or the timeout passes; true when stop was requested.
  bool wait_for(std::chrono::milliseconds timeout) const;

 private:
  std::stop_source source_;
  std::jthread waiter_;
};

}  // namespace tierflow::runtime
