// ingest::TerminalLimits: a token bucket per terminal, counting EVENTS (issue 12). The
// per-token limit of common/grpc/auth.h counts calls, and a stream is one call: without
// this one till with a bug could push as many events as the pipeline takes and starve the
// others.
//
// Key: the authenticated caller's name (the token's name; "" without access control) and
// the event's terminal_id, so a terminal id is only ever compared within one token, and
// two tokens that reuse "T-1" do not share a bucket. Events without a terminal_id share
// their caller's bucket for "". terminal_id is not validated (it is optional); only its
// first kMaxTerminalKey bytes key the bucket, so a key's size is bounded.
//
// A bucket starts full (`burst` events) and refills at `events_per_s`; an event takes one
// token or is refused. Refused events are the caller's to answer (RETRY, at once).
//
// Bounded memory: a bucket not used for forget_after() (the time it takes to refill
// completely, at least a minute) is dropped; dropping it changes nothing, as it would be
// full again. Beyond `max_terminals` buckets the least recently used ones are dropped
// early (they start full again when seen next).
//
// Logs: at most one line per terminal per minute while it is refused, naming the caller
// and the terminal id (printable, shortened), never a token or event contents.
//
// Threading: thread-safe (one mutex; take() locks once per call, for all its events).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tierflow/v1/events.pb.h"

namespace tierflow::ingest {

class TerminalLimits {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    double events_per_s = 0;                   // rate_limit.events_per_s; 0: off
    double burst = 1000;                       // rate_limit.burst: events a rested terminal may send at once
    int64_t max_terminals = 100000;            // rate_limit.max_terminals: buckets kept at most
    std::function<Clock::time_point()> clock;  // null: steady_clock (tests inject a fake)
  };
  static constexpr size_t kMaxTerminalKey = 128;

  explicit TerminalLimits(Options options);
  TerminalLimits(const TerminalLimits&) = delete;
  TerminalLimits& operator=(const TerminalLimits&) = delete;

  bool enabled() const { return options_.events_per_s > 0; }
  const Options& options() const { return options_; }

  // For each of `events` (all posted by `caller`), in order: true when it may go on (it
  // took a token of its terminal's bucket), false when its terminal is over its limit.
  // `allowed` is resized to events.size(). All true when the limit is off.
  void take(std::string_view caller, std::span<v1::PosEvent* const> events, std::vector<bool>& allowed);

  // How long an unused bucket is kept: max(burst / events_per_s, 60 s).
  Clock::duration forget_after() const { return forget_after_; }
  size_t terminals() const;  // buckets held now (tests, bounds)

  // The terminal id as a reason or a log line shows it: control characters and spaces
  // as '?', at most 64 characters ("..." after), "(none)" when empty.
  static std::string printable(std::string_view terminal_id);

 private:
  struct Bucket {
    std::string key;  // length-prefixed caller, then the terminal id (kMaxTerminalKey bytes at most)
    double tokens = 0;
    Clock::time_point at;      // when `tokens` was last brought up to date
    Clock::time_point logged;  // when a refusal of this terminal was last logged
    bool ever_logged = false;
    int64_t refused_since_log = 0;
  };
  using Lru = std::list<Bucket>;  // most recently used first

  Clock::time_point now() const { return options_.clock ? options_.clock() : Clock::now(); }
  // Under mu_: the bucket for `key`, made (full) when absent, moved to the front.
  Bucket& bucket(const std::string& key, Clock::time_point now);
  // Under mu_: drops buckets unused for forget_after_, then any beyond max_terminals.
  void forget(Clock::time_point now);

  const Options options_;
  const Clock::duration forget_after_;
  mutable std::mutex mu_;
  Lru lru_;                                                     // guarded by mu_
  std::unordered_map<std::string_view, Lru::iterator> by_key_;  // views of lru_'s keys; mu_
};

}  // namespace tierflow::ingest
