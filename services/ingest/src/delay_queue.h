// ingest::DelayQueue: runs callbacks a fixed delay after they were queued, on a thread of
// its own. Every entry has the same delay, so entries expire in the order they were
// queued and a FIFO is the whole schedule (no heap, O(1) per entry): it bounds how long
// a duplicate check or an event's ack may take, whatever Redis and Kafka do.
//
// Threading: push() from any thread, never blocks on I/O. Callbacks run on the queue's
// thread, in push order; they must not block (they answer events, complete checks).
// There is no cancel: a callback whose work was done by someone else finds that out
// itself (an answered flag) and does nothing.
// Lifecycle: the destructor runs every entry still queued (early), then joins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace tierflow::ingest {

class DelayQueue {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DelayQueue(std::chrono::milliseconds delay) : delay_(delay), thread_([this] { run(); }) {}
  ~DelayQueue() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  DelayQueue(const DelayQueue&) = delete;
  DelayQueue& operator=(const DelayQueue&) = delete;

  std::chrono::milliseconds delay() const { return delay_; }

  void push(std::function<void()> fn) {
    bool was_empty = false;
    {
      std::lock_guard lock(mu_);
      was_empty = entries_.empty();
      entries_.push_back({Clock::now() + delay_, std::move(fn)});
    }
    if (was_empty) cv_.notify_one();
  }

 private:
  struct Entry {
    Clock::time_point due;
    std::function<void()> fn;
  };

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (entries_.empty()) {
        if (stopping_) return;
        cv_.wait(lock, [&] { return stopping_ || !entries_.empty(); });
        continue;
      }
      if (!stopping_ && Clock::now() < entries_.front().due) {
        cv_.wait_until(lock, entries_.front().due);
        continue;
      }
      // Everything due now, run without the lock.
      std::deque<Entry> due;
      const auto now = Clock::now();
      while (!entries_.empty() && (stopping_ || entries_.front().due <= now)) {
        due.push_back(std::move(entries_.front()));
        entries_.pop_front();
      }
      lock.unlock();
      for (auto& e : due) e.fn();
      lock.lock();
    }
  }

  const std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> entries_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace tierflow::ingest
