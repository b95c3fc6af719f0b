// Sending a workload to ingest (PosIngest): customer upserts in batches and the event
// stream with a bounded window of unacknowledged events. The ack bookkeeping (AckTracker)
// and the summary formatting are pure and tested without a network; the gRPC functions
// take a stub, so tests can hand them an in-process channel.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "tierflow/v1/ingest.grpc.pb.h"

namespace tierflow::pos_sim {

struct AckCounts {
  std::int64_t sent = 0;          // events written, deliberate duplicates included, RETRY resends not
  std::int64_t resent = 0;        // resends after a RETRY ack
  std::int64_t accepted = 0;
  std::int64_t duplicate = 0;
  std::int64_t rejected = 0;
  std::int64_t retry_failed = 0;  // still RETRY after max_retries resends
  std::int64_t unexpected = 0;    // acks naming no outstanding event
};

// Matches acks to outstanding events by event_id. An event may be outstanding more than
// once (a deliberate duplicate): each copy expects its own ack. Not thread-safe.
class AckTracker {
 public:
  static constexpr std::size_t kMaxRejectionsKept = 10;
  explicit AckTracker(int max_retries) : max_retries_(max_retries) {}

  // Call before writing the event, so an ack can never arrive for an unknown event.
  void on_sent(const tierflow::v1::PosEvent& event);
  // Returns the event to send again (RETRY with retries left), or nullptr when this ack
  // settled one copy. The pointer stays valid until the next call on the tracker.
  const tierflow::v1::PosEvent* on_ack(const tierflow::v1::EventAck& ack);
  // Marks a resend written (counted in `resent`).
  void on_resent() { ++counts_.resent; }

  std::int64_t outstanding() const { return outstanding_; }
  const AckCounts& counts() const { return counts_; }
  // (event_id, reason) of the first rejected events.
  const std::vector<std::pair<std::string, std::string>>& rejections() const { return rejections_; }

 private:
  struct Entry {
    std::string event;  // serialized, for a resend: one allocation instead of a message's many
    int expected = 0;
    int retries = 0;
  };
  int max_retries_;
  std::unordered_map<std::string, Entry> entries_;
  std::int64_t outstanding_ = 0;
  AckCounts counts_;
  std::vector<std::pair<std::string, std::string>> rejections_;
  tierflow::v1::PosEvent resend_;
};

// A pull source of events; single-threaded use by stream_events.
class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual bool next(tierflow::v1::PosEvent* out) = 0;
  virtual double progress() const = 0;  // fraction done in [0, 1], for progress lines
};

struct StreamOptions {
  int window = 1000;            // most events written and not yet acked
  // > 1: StreamEventBatches with up to this many events per message (acks come batched
  // too); 1: StreamEvents, one event per message. Ingest takes at most 1,000 per message.
  int events_per_message = 1;
  int max_retries = 3;          // resends of an event answered RETRY
  int duplicates_every = 0;     // > 0: write every K-th event twice (shows dedupe)
  std::chrono::milliseconds retry_backoff{100};      // times the attempt number
  std::chrono::milliseconds stall_timeout{30000};    // no ack for this long: give up
};

struct StreamProgress {
  std::int64_t sent = 0;
  std::int64_t acked = 0;
  double source_progress = 0.0;
  double elapsed_s = 0.0;
};
using ProgressFn = std::function<void(const StreamProgress&)>;

struct StreamResult {
  AckCounts counts;
  std::vector<std::pair<std::string, std::string>> rejections;
};

// Streams every event of `source` over PosIngest.StreamEvents (or StreamEventBatches, see
// StreamOptions::events_per_message) and waits for all acks.
// Blocks; uses one extra thread to read acks. `progress` is called from the calling
// thread about every 200 ms and once at the end. Fails (UNAVAILABLE, DEADLINE_EXCEEDED
// for a stall, or the stream's status) when the stream ends with acks still missing.
absl::StatusOr<StreamResult> stream_events(tierflow::v1::PosIngest::StubInterface& stub,
                                           EventSource& source, const StreamOptions& options,
                                           const ProgressFn& progress);

struct UpsertResult {
  std::int64_t sent = 0;
  std::int64_t accepted = 0;   // ACCEPTED or DUPLICATE
  std::int64_t rejected = 0;   // anything else
  std::vector<std::pair<std::string, std::string>> rejections;  // first 10 (customer_id, reason)
};

// One UpsertCustomers call for `batch`, with `deadline` from now. Adds to *result.
absl::Status upsert_customers(tierflow::v1::PosIngest::StubInterface& stub,
                              const std::vector<tierflow::v1::CustomerProfile>& batch,
                              std::chrono::milliseconds deadline, UpsertResult* result);

struct Summary {
  std::int64_t sent = 0;
  std::int64_t accepted = 0;
  std::int64_t duplicate = 0;
  std::int64_t rejected = 0;
  std::int64_t retry_failed = 0;
  std::int64_t customers = 0;
  double elapsed_s = 0.0;
};
double events_per_s(const Summary& s);
// {"sent":N,"accepted":N,"duplicate":N,"rejected":N,"retry_failed":N,"customers":N,
//  "elapsed_s":X,"events_per_s":X}
std::string summary_json(const Summary& s);
std::string summary_text(const Summary& s);

}  // namespace tierflow::pos_sim
