// A single worker thread for the few blocking calls a callback handler must not make on
// gRPC's threads (GetTier with as_of reads SQLite).
//
// Lifecycle: the constructor starts the thread; the destructor runs what is queued, then
// joins (so every posted job runs exactly once).
// Threading: post() is thread-safe and never blocks on a job; jobs run in order, one at a
// time, on the worker's thread.
#pragma once

#include <absl/base/thread_annotations.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tierflow::classification {

class BlockingWorker {
 public:
  BlockingWorker();
  ~BlockingWorker();
  BlockingWorker(const BlockingWorker&) = delete;
  BlockingWorker& operator=(const BlockingWorker&) = delete;
  void post(std::function<void()> job);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the members it reads are built
};

}  // namespace tierflow::classification
