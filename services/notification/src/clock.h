// The notification service's one clock (DESIGN.md, "Time and determinism"): every
// decision that depends on "now" (quiet hours, the cap, send windows, which day's
// birthdays are due, backoff) reads it through this interface, so tests simulate days.
//
// Threading: now() is thread-safe in every implementation here.
#pragma once

#include <absl/time/clock.h>
#include <absl/time/time.h>

#include <atomic>

namespace tierflow::notification {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time now() const = 0;
};

// Wall time.
class SystemClock final : public Clock {
 public:
  absl::Time now() const override { return absl::Now(); }
};

// Wall time shifted so that it read `start` when constructed (config `clock.start`):
// a process-level test runs a campaign "at" a chosen instant and time still passes.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(absl::Time start) : offset_(start - absl::Now()) {}
  absl::Time now() const override { return absl::Now() + offset_; }

 private:
  absl::Duration offset_;
};

// Moves only when told (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start) : ns_(absl::ToUnixNanos(start)) {}
  absl::Time now() const override { return absl::FromUnixNanos(ns_.load()); }
  void set(absl::Time t) { ns_.store(absl::ToUnixNanos(t)); }
  void advance(absl::Duration d) { ns_.fetch_add(absl::ToInt64Nanoseconds(d)); }

 private:
  std::atomic<int64_t> ns_;
};

}  // namespace tierflow::notification
