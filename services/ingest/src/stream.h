// ingest::StreamCall: one StreamEvents or StreamEventBatches call on gRPC's callback API
// (no thread per stream). `Wire` is the call's messages: one event per message each way
// (SingleEvents) or several (EventBatches); everything else is shared.
//
// Reads one message at a time; a rejected event is answered at once, an admitted one
// joins the stream's next batch. One duplicate check (one Redis round trip) per stream is
// in flight at a time; events read meanwhile form the next batch, so a busy stream checks
// many ids per round trip and an idle one answers without waiting. One write is in
// flight at a time: SingleEvents writes the acks one per message in the order they were
// given (buffered while more are queued); EventBatches writes every ack queued meanwhile
// in one message (at most kMaxAcksPerMessage), so acks coalesce as reports arrive.
//
// Each read is parsed straight onto a protobuf arena of the batch it joins, and the
// pipeline drops the batch's events at once with the arena: no allocation or free per
// field of a sale.
//
// Back-pressure: no further read while the stream has `max_in_flight` events unanswered
// or the process is at its bound (Pipeline::has_room): a slow Kafka slows the tills
// (HTTP/2 flow control) instead of growing memory. A message read may overshoot either
// bound by its own events (EventBatches: at most kMaxEventsPerMessage are admitted from
// one message; the rest are REJECTED). Answers are bounded too: no further read while
// kMaxQueuedAcks acks wait for a client that does not take them (HTTP/2 flow control
// holds the writes), so a till that floods without reading its acks costs at most that
// queue plus one message, not memory without end.
//
// Threading: gRPC's reactions, the pipeline's ack threads and its room callback all take
// this object's mutex; Start*/Finish are called without it.
// Lifecycle: owned by itself (a shared_ptr kept until OnDone), so late acks (after the
// client left) find a live object that drops them. The call ends (OK) once the client
// closed or cancelled and every admitted event was answered (within ack_timeout).
#pragma once

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/grpc/auth.h"
#include "src/pipeline.h"
#include "tierflow/v1/ingest.pb.h"

namespace tierflow::ingest {

// StreamEvents: one PosEvent in, one EventAck out per message.
struct SingleEvents {
  using In = v1::PosEvent;
  using Out = v1::EventAck;
};
// StreamEventBatches: a PosEventBatch in, an EventAckBatch of whatever acks are ready out.
struct EventBatches {
  using In = v1::PosEventBatch;
  using Out = v1::EventAckBatch;
};

// Events admitted from one PosEventBatch; those beyond are REJECTED (the proto says so).
inline constexpr int kMaxEventsPerMessage = 1000;
// Acks written in one EventAckBatch (and about 1 MiB of ids and reasons): far below
// gRPC's 4 MiB receive limit of a client.
inline constexpr size_t kMaxAcksPerMessage = 4096;
// Acks a stream keeps queued for a client that does not read them before it stops
// reading: more than one message's worth, so a client that reads always gets on.
inline constexpr size_t kMaxQueuedAcks = 16384;

template <class Wire>
class StreamCall final : public grpc::ServerBidiReactor<typename Wire::In, typename Wire::Out>,
                         public AckSink,
                         public std::enable_shared_from_this<StreamCall<Wire>> {
 public:
  // Starts reading; the returned reactor belongs to gRPC until OnDone.
  static StreamCall* start(Pipeline& pipeline, std::optional<grpcx::Caller> caller, int64_t max_in_flight);

  void ack(v1::EventAck ack) override;

  StreamCall(Pipeline& pipeline, std::optional<grpcx::Caller> caller, int64_t max_in_flight);

 private:
  struct Actions {
    bool read = false;
    bool write = false;
    grpc::WriteOptions write_options;
    bool finish = false;
    bool wait_for_room = false;
    Pipeline::Batch batch;  // to hand to the pipeline (empty: none)
  };

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Under mu_: what to start next. act() starts it without the lock.
  Actions decide();
  void act(Actions a);
  void on_checked();
  // Under mu_: moves queued acks into writing_ (one, or a batch).
  void take_acks(Actions& a);

  Pipeline& pipeline_;
  const std::optional<grpcx::Caller> caller_;
  const int64_t max_in_flight_;
  std::shared_ptr<StreamCall> self_;  // until OnDone

  // The read in progress: parsed straight onto read_arena_, the arena of the batch that
  // was gathering when it began (its events join whichever batch gathers when it
  // completes, with its arena). Set in decide() when a read starts; gRPC writes it until
  // OnReadDone.
  typename Wire::In* read_ = nullptr;
  std::shared_ptr<google::protobuf::Arena> read_arena_;
  typename Wire::Out writing_;  // the write in progress

  std::mutex mu_;
  bool reading_ = false;
  bool reads_done_ = false;  // the client closed its side (or the read failed)
  bool cancelled_ = false;
  bool write_failed_ = false;
  bool writing_now_ = false;
  bool checking_ = false;  // a batch is in its duplicate check
  bool waiting_for_room_ = false;
  bool finished_ = false;
  bool done_ = false;
  int64_t outstanding_ = 0;                         // admitted and unanswered
  Pipeline::Batch batch_;                           // gathering: admitted events not yet handed to the pipeline
  std::shared_ptr<google::protobuf::Arena> arena_;  // batch_'s newest arena; null: make one at the next read
  std::deque<v1::EventAck> acks_;
  size_t acks_reported_ = 0;  // acks_.size() as last added to Metrics::unsent_acks
  bool paused_for_acks_ = false;
};

extern template class StreamCall<SingleEvents>;
extern template class StreamCall<EventBatches>;

}  // namespace tierflow::ingest
