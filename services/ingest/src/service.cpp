#include "src/service.h"

#include <absl/base/thread_annotations.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_map>

#include "common/config/config.h"
#include "common/grpc/status.h"
#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/time/time.h"
#include "src/validate.h"

namespace tierflow::ingest {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  config::read_service(root, "ingest", "127.0.0.1:7001", "127.0.0.1:9101", c);
  c.redis = config::read_redis(root.section("redis"));
  auto dedupe = root.section("dedupe");
  c.dedupe.enabled = dedupe.get_bool("enabled", true);
  c.dedupe.window = absl::Seconds(dedupe.get_int("window_s", 7 * 24 * 3600, 60, 90LL * 24 * 3600));
  c.dedupe.check_timeout = std::chrono::milliseconds(dedupe.get_int("check_timeout_ms", 100, 1, 10000));
  loader.finish();
  return c;
}

struct IngestService::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : accepted(metrics::counter(r, "tierflow_ingest_events_total", "Events answered, by ack status", {{"status", "accepted"}})),
        duplicate(metrics::counter(r, "tierflow_ingest_events_total", "", {{"status", "duplicate"}})),
        rejected(metrics::counter(r, "tierflow_ingest_events_total", "", {{"status", "rejected"}})),
        retry(metrics::counter(r, "tierflow_ingest_events_total", "", {{"status", "retry"}})),
        customers(metrics::counter(r, "tierflow_ingest_customers_total", "Customer profiles written to Kafka")),
        dedupe_errors(metrics::counter(r, "tierflow_ingest_dedupe_errors_total",
                                       "Redis failures in the duplicate check (the ledger still dedupes)")),
        dedupe_degraded(metrics::counter(r, "tierflow_ingest_dedupe_degraded_total",
                                         "Events checked for duplicates in this process only, Redis being slow or "
                                         "down (the ledger still dedupes)")),
        store_latency(metrics::histogram(r, "tierflow_ingest_store_seconds", "From receipt to Kafka's confirmation",
                                         {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0})) {}
  prometheus::Counter& accepted;
  prometheus::Counter& duplicate;
  prometheus::Counter& rejected;
  prometheus::Counter& retry;
  prometheus::Counter& customers;
  prometheus::Counter& dedupe_errors;
  prometheus::Counter& dedupe_degraded;
  prometheus::Histogram& store_latency;
};

// One call's worth of outstanding acks: delivery callbacks complete them, the call's
// thread waits for the last one before it returns.
class IngestService::Call {
 public:
  using Sink = std::function<void(v1::EventAck)>;

  // `caller` (nullopt without access control) limits a pos caller to its own stores.
  Call(IngestService& svc, Sink sink, std::optional<grpcx::Caller> caller)
      : svc_(svc), sink_(std::move(sink)), caller_(std::move(caller)) {}
  // Outstanding delivery callbacks refer to this Call: wait for them, also when the call
  // ends by an exception.
  ~Call() { wait_all(); }

  // Validates, de-duplicates (one Redis round trip for all of `events`) and produces
  // each event; every event is answered through the sink, now or later.
  void handle(std::span<v1::PosEvent> events) {
    const absl::Time now = absl::Now();
    std::vector<v1::PosEvent*> valid;
    valid.reserve(events.size());
    for (auto& event : events) {
      auto reason = validate_event(event, now);
      if (!reason && caller_ && !caller_->may_post_for_store(event.store_id())) {
        reason = "store_id '" + event.store_id() + "' is not a store of token '" + caller_->name + "'";
      }
      if (reason) {
        svc_.metrics_->rejected.Increment();
        v1::EventAck ack;
        ack.set_event_id(event.event_id());
        ack.set_status(v1::ACK_STATUS_REJECTED);
        ack.set_reason(*reason);
        spdlog::debug("rejected event {}: {}", event.event_id(), *reason);
        sink_(std::move(ack));
        continue;
      }
      valid.push_back(&event);
    }
    if (valid.empty()) return;
    {
      std::lock_guard lock(mu_);
      outstanding_ += static_cast<int64_t>(valid.size());  // each is answered once, below or by a callback
    }
    std::vector<std::string> ids;
    std::vector<Deduper::Waiter> on_first;
    ids.reserve(valid.size());
    on_first.reserve(valid.size());
    for (const v1::PosEvent* e : valid) {
      ids.push_back(e->event_id());
      on_first.emplace_back([this, id = e->event_id()](bool stored) { answer_copy(id, stored); });
    }
    const std::vector<Deduper::Seen> seen = svc_.deduper_->begin(ids, on_first);  // does not throw on Redis
    size_t i = 0;
    try {
      for (; i < valid.size(); ++i) {
        switch (seen[i]) {
          case Deduper::Seen::kStored:
            answer_copy(ids[i], true);
            break;
          case Deduper::Seen::kWaiting:
            break;  // answer_copy runs when the first copy's outcome is known
          case Deduper::Seen::kNew:
            produce(*valid[i], now);
            break;
        }
      }
    } catch (...) {
      // produce() threw something other than KafkaError (a bug, out of memory): the events
      // not produced are answered by nobody, so release them before the call fails.
      for (; i < valid.size(); ++i) {
        if (seen[i] != Deduper::Seen::kNew) continue;
        svc_.deduper_->finish(ids[i], false);
        finish_one();
      }
      throw;
    }
  }

  void wait_all() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return outstanding_ == 0; });
  }

 private:
  // A later copy of an event: the first copy's outcome decides its ack.
  void answer_copy(const std::string& id, bool stored) {
    v1::EventAck a;
    a.set_event_id(id);
    if (stored) {
      svc_.metrics_->duplicate.Increment();
      a.set_status(v1::ACK_STATUS_DUPLICATE);
      a.set_reason("event already stored");
    } else {
      svc_.metrics_->retry.Increment();
      a.set_status(v1::ACK_STATUS_RETRY);
      a.set_reason("an earlier copy of this event could not be stored; send it again");
    }
    sink_(std::move(a));
    finish_one();
  }

  // Writes a new event to Kafka; its delivery report answers it (ACCEPTED only then).
  void produce(v1::PosEvent& event, absl::Time received) {
    timeutil::to_proto(received, event.mutable_received_time());
    const std::string value = event.SerializeAsString();
    const auto started = std::chrono::steady_clock::now();
    auto done = [this, id = event.event_id(), started](const kafka::DeliveryReport& r) {
      v1::EventAck a;
      a.set_event_id(id);
      if (r.ok) {
        svc_.metrics_->accepted.Increment();
        svc_.metrics_->store_latency.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        svc_.deduper_->finish(id, true);
        a.set_status(v1::ACK_STATUS_ACCEPTED);
      } else {
        svc_.deduper_->finish(id, false);
        svc_.metrics_->retry.Increment();
        a.set_status(v1::ACK_STATUS_RETRY);
        a.set_reason("not stored: " + r.error);
        spdlog::warn("event {} not stored: {}", id, r.error);
      }
      sink_(std::move(a));
      finish_one();
    };
    try {
      svc_.producer_.produce(topics::kPosEvents, event.customer_id(), value,
                             {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}}, std::move(done));
    } catch (const kafka::KafkaError& e) {
      // produce() did not take the record, so the callback will not run.
      svc_.deduper_->finish(event.event_id(), false);
      svc_.metrics_->retry.Increment();
      v1::EventAck a;
      a.set_event_id(event.event_id());
      a.set_status(v1::ACK_STATUS_RETRY);
      a.set_reason(std::string("not stored: ") + e.what());
      spdlog::warn("event {} not stored: {}", event.event_id(), e.what());
      sink_(std::move(a));
      finish_one();
    }
  }

  void finish_one() {
    std::lock_guard lock(mu_);
    if (--outstanding_ == 0) cv_.notify_all();
  }

  IngestService& svc_;
  Sink sink_;
  const std::optional<grpcx::Caller> caller_;
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

IngestService::IngestService(const Config& cfg, kafka::Producer& producer, redis::Mux& mux,
                             prometheus::Registry& registry)
    : cfg_(cfg), producer_(producer), metrics_(std::make_unique<Metrics>(registry)),
      deduper_(std::make_unique<Deduper>(cfg_.dedupe, mux, Deduper::Counters{metrics_->dedupe_errors,
                                                                              metrics_->dedupe_degraded})) {}

IngestService::~IngestService() = default;

grpc::Status IngestService::StreamEvents(grpc::ServerContext* ctx,
                                         grpc::ServerReaderWriter<v1::EventAck, v1::PosEvent>* stream) {
  return grpcx::guarded([&] {
    // Acks are written by this call's writer thread; producers of acks only queue them.
    // Destroyed in reverse order, also when something throws: `call` waits for every
    // outstanding ack, `closer` lets the writer drain and stop, `writer` is joined.
    struct AckQueue {
      std::mutex mu;
      std::condition_variable cv;
      std::deque<v1::EventAck> acks ABSL_GUARDED_BY(mu);
      bool reading_done ABSL_GUARDED_BY(mu) = false;
    } q;
    std::jthread writer([&] {
      for (;;) {
        std::deque<v1::EventAck> out;
        {
          std::unique_lock lock(q.mu);
          q.cv.wait(lock, [&] { return q.reading_done || !q.acks.empty(); });
          if (q.acks.empty() && q.reading_done) return;
          out.swap(q.acks);
        }
        for (auto& a : out) {
          if (!stream->Write(a)) return;  // client gone; remaining acks are lost with it
        }
      }
    });
    struct Closer {
      AckQueue& q;
      ~Closer() {
        {
          std::lock_guard lock(q.mu);
          q.reading_done = true;
        }
        q.cv.notify_one();
      }
    } closer{q};
    Call call(*this, [&](v1::EventAck ack) {
      {
        std::lock_guard lock(q.mu);
        q.acks.push_back(std::move(ack));
      }
      q.cv.notify_one();
    }, grpcx::caller(*ctx));
    v1::PosEvent event;
    while (!ctx->IsCancelled() && stream->Read(&event)) call.handle({&event, 1});
    return grpc::Status::OK;
  });
}

grpc::Status IngestService::SubmitEvents(grpc::ServerContext* ctx, const v1::SubmitEventsRequest* req,
                                         v1::SubmitEventsResponse* resp) {
  return grpcx::guarded([&] { return submit_events(*req, *resp, grpcx::caller(*ctx)); });
}

grpc::Status IngestService::submit_events(const v1::SubmitEventsRequest& request, v1::SubmitEventsResponse& response,
                                          const std::optional<grpcx::Caller>& caller) {
  // Acks arrive on this thread and on the producer's; read once every one has arrived.
  struct Acks {
    std::mutex mu;
    std::unordered_map<std::string, v1::EventAck> by_id ABSL_GUARDED_BY(mu);
  } acks;
  Call call(
      *this,
      [&](v1::EventAck ack) {
        std::lock_guard lock(acks.mu);
        acks.by_id.insert_or_assign(ack.event_id(), std::move(ack));
      },
      caller);
  std::vector<v1::PosEvent> events(request.events().begin(), request.events().end());
  call.handle(events);
  call.wait_all();
  std::lock_guard lock(acks.mu);
  for (const auto& e : request.events()) {
    auto it = acks.by_id.find(e.event_id());
    if (it != acks.by_id.end()) {
      *response.add_acks() = it->second;
    } else {  // an event without an id: its REJECTED ack is keyed by ""
      v1::EventAck* a = response.add_acks();
      a->set_status(v1::ACK_STATUS_REJECTED);
      a->set_reason("event_id is missing");
    }
  }
  return grpc::Status::OK;
}

grpc::Status IngestService::UpsertCustomers(grpc::ServerContext*, const v1::UpsertCustomersRequest* req,
                                            v1::UpsertCustomersResponse* resp) {
  return grpcx::guarded([&] { return upsert_customers(*req, *resp); });
}

grpc::Status IngestService::upsert_customers(const v1::UpsertCustomersRequest& request,
                                             v1::UpsertCustomersResponse& response) {
  std::vector<std::future<kafka::DeliveryReport>> pending(request.customers_size());
  for (int i = 0; i < request.customers_size(); ++i) {
    v1::CustomerProfile profile = request.customers(i);
    v1::CustomerAck* ack = response.add_acks();
    ack->set_customer_id(profile.customer_id());
    if (auto reason = validate_profile(profile)) {
      ack->set_status(v1::ACK_STATUS_REJECTED);
      ack->set_reason(*reason);
      continue;
    }
    if (!profile.has_updated_time()) timeutil::to_proto(absl::Now(), profile.mutable_updated_time());
    auto promise = std::make_shared<std::promise<kafka::DeliveryReport>>();
    pending[i] = promise->get_future();
    try {
      producer_.produce(topics::kCustomers, profile.customer_id(), profile.SerializeAsString(),
                        {{std::string(kafka::kTypeHeader), "tierflow.v1.CustomerProfile"}},
                        [promise](const kafka::DeliveryReport& r) { promise->set_value(r); });
    } catch (const kafka::KafkaError& e) {
      promise->set_value({false, e.what(), -1, -1});
    }
  }
  for (int i = 0; i < request.customers_size(); ++i) {
    if (!pending[i].valid()) continue;
    const kafka::DeliveryReport r = pending[i].get();
    v1::CustomerAck* ack = response.mutable_acks(i);
    if (r.ok) {
      metrics_->customers.Increment();
      ack->set_status(v1::ACK_STATUS_ACCEPTED);
    } else {
      ack->set_status(v1::ACK_STATUS_RETRY);
      ack->set_reason("not stored: " + r.error);
    }
  }
  return grpc::Status::OK;
}

}  // namespace tierflow::ingest
