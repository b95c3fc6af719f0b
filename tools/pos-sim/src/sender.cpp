#include "sender.h"

#include <absl/base/thread_annotations.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "fmt/format.h"
#include "grpcpp/grpcpp.h"

namespace tierflow::pos_sim {

namespace v1 = tierflow::v1;
using Clock = std::chrono::steady_clock;

void AckTracker::on_sent(const v1::PosEvent& event) {
  Entry& e = entries_[event.event_id()];
  if (e.expected == 0 && e.retries == 0) event.SerializeToString(&e.event);
  ++e.expected;
  ++outstanding_;
  ++counts_.sent;
}

const v1::PosEvent* AckTracker::on_ack(const v1::EventAck& ack) {
  auto it = entries_.find(ack.event_id());
  if (it == entries_.end()) {
    ++counts_.unexpected;
    return nullptr;
  }
  Entry& e = it->second;
  switch (ack.status()) {
    case v1::ACK_STATUS_ACCEPTED:
      ++counts_.accepted;
      break;
    case v1::ACK_STATUS_DUPLICATE:
      ++counts_.duplicate;
      break;
    case v1::ACK_STATUS_RETRY:
      if (e.retries < max_retries_) {
        ++e.retries;
        resend_.ParseFromString(e.event);  // the copy stays outstanding: its next ack settles it
        return &resend_;
      }
      ++counts_.retry_failed;
      break;
    case v1::ACK_STATUS_REJECTED:
    default:
      ++counts_.rejected;
      if (rejections_.size() < kMaxRejectionsKept) {
        rejections_.emplace_back(ack.event_id(), ack.status() == v1::ACK_STATUS_REJECTED
                                                     ? ack.reason()
                                                     : "ack without a status: " + ack.reason());
      }
      break;
  }
  --outstanding_;
  if (--e.expected == 0) entries_.erase(it);
  return nullptr;
}

namespace {

// The two RPCs' messages: one event (ack) per message, or batches of them.
void write_events(grpc::ClientReaderWriterInterface<v1::PosEvent, v1::EventAck>& stream,
                  std::vector<v1::PosEvent>& events, int /*per_message*/, bool* failed) {
  for (size_t i = 0; i < events.size(); ++i) {
    grpc::WriteOptions options;
    if (i + 1 < events.size()) options.set_buffer_hint();  // more follow at once
    if (!stream.Write(events[i], options)) {
      *failed = true;
      return;
    }
  }
}
// At most `per_message` a message (deliberate duplicates may take a batch beyond it).
void write_events(grpc::ClientReaderWriterInterface<v1::PosEventBatch, v1::EventAckBatch>& stream,
                  std::vector<v1::PosEvent>& events, int per_message, bool* failed) {
  for (size_t from = 0; from < events.size(); from += static_cast<size_t>(per_message)) {
    const size_t to = std::min(events.size(), from + static_cast<size_t>(per_message));
    v1::PosEventBatch batch;
    batch.mutable_events()->Reserve(static_cast<int>(to - from));
    for (size_t i = from; i < to; ++i) *batch.add_events() = std::move(events[i]);
    grpc::WriteOptions options;
    if (to < events.size()) options.set_buffer_hint();  // more follow at once
    if (!stream.Write(batch, options)) {
      *failed = true;
      return;
    }
  }
}
// Calls `on_ack` for each ack of a message read.
template <class F>
void each_ack(const v1::EventAck& ack, const F& on_ack) {
  on_ack(ack);
}
template <class F>
void each_ack(const v1::EventAckBatch& batch, const F& on_ack) {
  for (const auto& ack : batch.acks()) on_ack(ack);
}

template <class In, class Out>
absl::StatusOr<StreamResult> run_stream(grpc::ClientContext& ctx,
                                        grpc::ClientReaderWriterInterface<In, Out>& stream_ref, EventSource& source,
                                        const StreamOptions& options, const ProgressFn& progress) {
  auto* stream = &stream_ref;
  const int per_message = std::max(1, options.events_per_message);

  struct Resend {
    Clock::time_point due;
    v1::PosEvent event;
  };
  // Shared by this thread (the writer) and the reader thread.
  struct Shared {
    explicit Shared(int max_retries) : tracker(max_retries) {}
    std::mutex mu;
    std::condition_variable cv;
    AckTracker tracker ABSL_GUARDED_BY(mu);
    std::deque<Resend> resends ABSL_GUARDED_BY(mu);  // in due order: the backoff only grows per attempt
    bool read_done ABSL_GUARDED_BY(mu) = false;
    Clock::time_point last_ack ABSL_GUARDED_BY(mu) = Clock::now();
  } shared(options.max_retries);

  std::thread reader([&] {
    Out buf;
    while (stream->Read(&buf)) {
      std::lock_guard<std::mutex> lock(shared.mu);
      shared.last_ack = Clock::now();
      each_ack(buf, [&](const v1::EventAck& ack) {
        if (const v1::PosEvent* again = shared.tracker.on_ack(ack)) {
          shared.resends.push_back({Clock::now() + options.retry_backoff, *again});
        }
      });
      shared.cv.notify_all();
    }
    std::lock_guard<std::mutex> lock(shared.mu);
    shared.read_done = true;
    shared.cv.notify_all();
  });

  const auto start = Clock::now();
  auto last_progress = start;
  auto report = [&](bool force) {
    const auto now = Clock::now();
    if (!progress || (!force && now - last_progress < std::chrono::milliseconds(200))) return;
    last_progress = now;
    StreamProgress p;
    {
      std::lock_guard<std::mutex> lock(shared.mu);
      const AckCounts& c = shared.tracker.counts();
      p.sent = c.sent;
      p.acked = c.accepted + c.duplicate + c.rejected + c.retry_failed;
    }
    p.source_progress = source.progress();
    p.elapsed_s = std::chrono::duration<double>(now - start).count();
    progress(p);
  };

  bool source_done = false;
  bool write_failed = false;
  bool stalled = false;
  std::int64_t originals = 0;
  v1::PosEvent event;
  while (true) {
    std::vector<v1::PosEvent> to_write;
    {
      std::unique_lock<std::mutex> lock(shared.mu);
      shared.cv.wait_for(lock, std::chrono::milliseconds(100), [&] {
        return shared.read_done || (!shared.resends.empty() && shared.resends.front().due <= Clock::now()) ||
               (!source_done && shared.tracker.outstanding() < options.window) ||
               (source_done && shared.tracker.outstanding() == 0);
      });
      if (shared.read_done) break;
      const auto now = Clock::now();
      // Due resends first, then new events while the window has room: up to
      // `per_message` events for one message.
      while (!shared.resends.empty() && shared.resends.front().due <= now &&
             static_cast<int>(to_write.size()) < per_message) {
        to_write.push_back(std::move(shared.resends.front().event));
        shared.resends.pop_front();
        shared.tracker.on_resent();
      }
      const std::int64_t room = std::min<std::int64_t>(options.window - shared.tracker.outstanding(),
                                                       per_message - static_cast<std::int64_t>(to_write.size()));
      if (!source_done && room > 0) {
        // The source is read without the lock (the reader goes on meanwhile).
        lock.unlock();
        std::vector<v1::PosEvent> fresh;
        fresh.reserve(static_cast<size_t>(room));
        while (static_cast<std::int64_t>(fresh.size()) < room) {
          if (!source.next(&event)) {
            source_done = true;
            break;
          }
          fresh.push_back(std::move(event));
          event.Clear();
        }
        lock.lock();
        for (auto& e : fresh) {
          ++originals;
          shared.tracker.on_sent(e);
          if (options.duplicates_every > 0 && originals % options.duplicates_every == 0) {
            shared.tracker.on_sent(e);
            to_write.push_back(e);
          }
          to_write.push_back(std::move(e));
        }
      } else if (to_write.empty() && source_done && shared.tracker.outstanding() == 0) {
        break;
      } else if (to_write.empty() && shared.tracker.outstanding() > 0 &&
                 now - shared.last_ack > options.stall_timeout) {
        stalled = true;
        break;
      }
    }
    write_events(*stream, to_write, per_message, &write_failed);
    if (write_failed) break;
    report(false);
  }

  if (stalled || write_failed) {
    ctx.TryCancel();
  } else {
    stream->WritesDone();
  }
  reader.join();
  const grpc::Status status = stream->Finish();
  report(true);

  StreamResult result;
  result.counts = shared.tracker.counts();
  result.rejections = shared.tracker.rejections();
  const std::int64_t missing = shared.tracker.outstanding();
  if (stalled) {
    return absl::DeadlineExceededError(
        fmt::format("no ack for {} ms with {} events outstanding", options.stall_timeout.count(), missing));
  }
  if (missing > 0 || !source_done || write_failed) {
    return absl::UnavailableError(fmt::format("event stream ended early ({}: {}), {} events unacknowledged",
                                              static_cast<int>(status.error_code()), status.error_message(), missing));
  }
  if (!status.ok()) {
    return absl::UnavailableError(fmt::format("event stream finished with {}: {}",
                                              static_cast<int>(status.error_code()), status.error_message()));
  }
  return result;
}

}  // namespace

absl::StatusOr<StreamResult> stream_events(v1::PosIngest::StubInterface& stub, EventSource& source,
                                           const StreamOptions& options, const ProgressFn& progress) {
  grpc::ClientContext ctx;
  if (options.events_per_message > 1) {
    auto stream = stub.StreamEventBatches(&ctx);
    return run_stream(ctx, *stream, source, options, progress);
  }
  auto stream = stub.StreamEvents(&ctx);
  return run_stream(ctx, *stream, source, options, progress);
}

absl::Status upsert_customers(v1::PosIngest::StubInterface& stub,
                              const std::vector<v1::CustomerProfile>& batch,
                              std::chrono::milliseconds deadline, UpsertResult* result) {
  v1::UpsertCustomersRequest req;
  for (const auto& p : batch) *req.add_customers() = p;
  v1::UpsertCustomersResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  const grpc::Status status = stub.UpsertCustomers(&ctx, req, &resp);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        fmt::format("UpsertCustomers: {}", status.error_message()));
  }
  result->sent += static_cast<std::int64_t>(batch.size());
  for (const auto& ack : resp.acks()) {
    if (ack.status() == v1::ACK_STATUS_ACCEPTED || ack.status() == v1::ACK_STATUS_DUPLICATE) {
      ++result->accepted;
    } else {
      ++result->rejected;
      if (result->rejections.size() < AckTracker::kMaxRejectionsKept) {
        result->rejections.emplace_back(ack.customer_id(), ack.reason());
      }
    }
  }
  return absl::OkStatus();
}

double events_per_s(const Summary& s) {
  return s.elapsed_s > 0 ? static_cast<double>(s.sent) / s.elapsed_s : 0.0;
}

std::string summary_json(const Summary& s) {
  return fmt::format(
      "{{\"sent\":{},\"accepted\":{},\"duplicate\":{},\"rejected\":{},\"retry_failed\":{},"
      "\"customers\":{},\"elapsed_s\":{:.3f},\"events_per_s\":{:.1f}}}",
      s.sent, s.accepted, s.duplicate, s.rejected, s.retry_failed, s.customers, s.elapsed_s,
      events_per_s(s));
}

std::string summary_text(const Summary& s) {
  return fmt::format(
      "customers upserted: {}\nevents sent:        {}\naccepted:           {}\nduplicates:         {}\n"
      "rejected:           {}\nretry failed:       {}\nelapsed:            {:.3f} s\n"
      "events/s:           {:.1f}\n",
      s.customers, s.sent, s.accepted, s.duplicate, s.rejected, s.retry_failed, s.elapsed_s,
      events_per_s(s));
}

}  // namespace tierflow::pos_sim
