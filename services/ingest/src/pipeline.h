// ingest::Pipeline: what happens to an event between its receipt and its ack, shared by
// StreamEvents and SubmitEvents. Admission (validation, the pos store check, the backfill
// mark), the duplicate check (one Redis round trip per batch, through the Deduper), the
// write to Kafka, and exactly one ack per admitted event within `ack_timeout`:
//   ACCEPTED   Kafka's delivery report confirmed the write (only then);
//   DUPLICATE  an earlier copy was stored (Redis knows it, or its in-flight write was
//              confirmed);
//   RETRY      Kafka refused or failed the write, an earlier in-flight copy failed, or
//              Kafka did not confirm within ack_timeout (a later confirmation is harmless:
//              the resend is a DUPLICATE, or the ledger dedupes it).
// Bounded memory: admitted events are counted until answered; callers stop reading new
// events while in_flight() is at `max_in_flight` (has_room / when_room).
// Per-terminal rate limit (rate_limit.h, off by default): throttle() answers the admitted
// events of a terminal over its limit RETRY at once, before they are counted in flight.
//
// Threading: thread-safe. handle() never blocks on I/O. Acks reach the AckSink on the
// producer's delivery thread, the Mux's I/O thread, the timeout thread or the caller's.
// Lifecycle: the producer, the deduper and the metrics outlive the Pipeline; destroying
// it answers what is still waiting RETRY.
#pragma once

#include <absl/time/time.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/arena.h>

#include "common/grpc/auth.h"
#include "src/deduper.h"
#include "src/delay_queue.h"
#include "src/metrics.h"
#include "src/rate_limit.h"
#include "tierflow/v1/ingest.pb.h"

namespace tierflow::kafka {
class Producer;
}

namespace tierflow::ingest {

// The Kafka header that marks an event posted by a backfill caller (value "1"); the
// event's `backfill` field says the same inside the payload.
inline constexpr std::string_view kBackfillHeader = "tierflow-backfill";

// Where the acks of admitted events go. Thread-safe; may be called after the call it
// belonged to ended (then it drops the ack).
class AckSink {
 public:
  virtual ~AckSink() = default;
  virtual void ack(v1::EventAck ack) = 0;
};

class Pipeline {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::chrono::milliseconds ack_timeout{3000};  // every admitted event is answered within it
    int64_t max_in_flight = 65536;                // admitted and unanswered, per process
    TerminalLimits::Options rate_limit;           // events per terminal; off by default
  };

  // Admitted events on their way through the pipeline, owned by their arenas: a stream
  // parses each read straight onto its batch's arena (no allocation or free per field);
  // a read begun before the batch was handed on lives on the previous batch's arena, so a
  // batch may hold two. All the events go at once, when the last holder lets go.
  struct Batch {
    std::vector<std::shared_ptr<google::protobuf::Arena>> arenas;
    std::vector<v1::PosEvent*> events;        // on one of `arenas`
    std::vector<Clock::time_point> received;  // when each event was read
  };

  Pipeline(Options options, kafka::Producer& producer, Deduper& deduper, Metrics& metrics);

  Metrics& metrics() const { return metrics_; }
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // nullopt when `event` may go on (then its backfill field is set from the caller's
  // role), else why not. `caller` is nullopt without access control.
  std::optional<std::string> admit(v1::PosEvent& event, const std::optional<grpcx::Caller>& caller,
                                   absl::Time now) const;
  // The REJECTED ack for an event admit() refused (counted).
  v1::EventAck rejected(const v1::PosEvent& event, const std::string& reason) const;
  // Of `admitted` (events admit() let through, from one message or request of `caller`,
  // received at `received`), those whose terminal is over its rate limit are removed and
  // answered into `answered` at once: RETRY "rate limited: terminal <id> over <n>
  // events/s" (counted under the reason `rate_limited`). The rest keep their order. A
  // no-op when the limit is off; a backfill caller is never limited (bulk history).
  void throttle(std::vector<v1::PosEvent*>& admitted, const std::optional<grpcx::Caller>& caller,
                Clock::time_point received, std::vector<v1::EventAck>& answered);

  // Admitted events (with when each was received): counted in flight, checked for copies
  // in one round trip, the new ones written to Kafka. Each is answered through `sink`
  // exactly once, within ack_timeout. `checked` (may be empty) runs once the duplicate
  // check is done and the new events were handed to the producer, possibly before
  // handle() returns: a stream sends its next batch then.
  void handle(Batch batch, std::shared_ptr<AckSink> sink, std::function<void()> checked);

  int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  bool has_room() const { return in_flight() < options_.max_in_flight; }
  // Runs `resume` once (on an answering thread, or now) when there is room again.
  void when_room(std::function<void()> resume);
  const Options& options() const { return options_; }
  const TerminalLimits& terminal_limits() const { return limits_; }

  struct Slot;

 private:
  // `received_wall`: when the event was received, on the wall clock (its received_time).
  void produce(v1::PosEvent& event, const std::shared_ptr<Slot>& slot, absl::Time received_wall);
  void answer(Slot& slot, v1::AckStatus status, std::string reason, std::string_view kind);

  const Options options_;
  kafka::Producer& producer_;
  Deduper& deduper_;
  Metrics& metrics_;
  std::atomic<int64_t> in_flight_{0};
  std::mutex room_mu_;
  std::vector<std::function<void()>> room_waiters_;  // guarded by room_mu_
  std::atomic<bool> has_room_waiters_{false};
  const std::string timeout_reason_;
  TerminalLimits limits_;
  std::unique_ptr<DelayQueue> bound_;  // ack_timeout; destroyed first (answers what is left)
};

}  // namespace tierflow::ingest
