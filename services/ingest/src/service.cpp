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
#include "src/stream.h"
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
  auto limits = root.section("limits");
  c.limits.ack_timeout = std::chrono::milliseconds(limits.get_int("ack_timeout_ms", 3000, 100, 60000));
  c.limits.max_in_flight = limits.get_int("process_in_flight", 65536, 1, 10'000'000);
  c.stream_in_flight = limits.get_int("stream_in_flight", 4096, 1, 1'000'000);
  auto rate = root.section("rate_limit");
  auto& rl = c.limits.rate_limit;
  rl.events_per_s = rate.get_double("events_per_s", rl.events_per_s, 0, 1e9);
  rl.burst = rate.get_double("burst", rl.burst, 1, 1e9);
  rl.max_terminals = rate.get_int("max_terminals", rl.max_terminals, 1, 10'000'000);
  loader.finish();
  return c;
}

std::map<std::string, std::string> producer_properties(const Config& cfg) {
  auto props = cfg.kafka.properties;
  props.try_emplace("linger.ms", "1");
  return props;
}

IngestService::IngestService(const Config& cfg, kafka::Producer& producer, redis::Mux& mux,
                             prometheus::Registry& registry)
    : cfg_(cfg),
      producer_(producer),
      metrics_(std::make_unique<Metrics>(registry)),
      deduper_(std::make_unique<Deduper>(cfg_.dedupe, mux,
                                         Deduper::Counters{metrics_->dedupe_errors, metrics_->dedupe_degraded})),
      pipeline_(std::make_unique<Pipeline>(cfg_.limits, producer_, *deduper_, *metrics_)) {}

IngestService::~IngestService() { pipeline_.reset(); }

grpc::ServerBidiReactor<v1::PosEvent, v1::EventAck>* IngestService::StreamEvents(grpc::CallbackServerContext* ctx) {
  return StreamCall<SingleEvents>::start(*pipeline_, grpcx::caller(*ctx), cfg_.stream_in_flight);
}

grpc::ServerBidiReactor<v1::PosEventBatch, v1::EventAckBatch>* IngestService::StreamEventBatches(
    grpc::CallbackServerContext* ctx) {
  return StreamCall<EventBatches>::start(*pipeline_, grpcx::caller(*ctx), cfg_.stream_in_flight);
}

grpc::Status IngestService::SubmitEvents(grpc::ServerContext* ctx, const v1::SubmitEventsRequest* req,
                                         v1::SubmitEventsResponse* resp) {
  return grpcx::guarded(
      [&] { return submit_events(*req, *resp, ctx != nullptr ? grpcx::caller(*ctx) : std::nullopt); });
}

namespace {
// SubmitEvents' acks, keyed by event id, arriving on any thread.
class Collected final : public AckSink {
 public:
  void ack(v1::EventAck ack) override {
    {
      std::lock_guard lock(mu_);
      ++count_;
      by_id_.insert_or_assign(ack.event_id(), std::move(ack));
    }
    cv_.notify_all();
  }
  // False when `n` acks did not arrive by `deadline` (a bug: the pipeline bounds them).
  bool wait(size_t n, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return count_ >= n; });
  }
  std::unordered_map<std::string, v1::EventAck> take() {
    std::lock_guard lock(mu_);
    return std::move(by_id_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t count_ = 0;
  std::unordered_map<std::string, v1::EventAck> by_id_;
};
}  // namespace

grpc::Status IngestService::submit_events(const v1::SubmitEventsRequest& request, v1::SubmitEventsResponse& response,
                                          const std::optional<grpcx::Caller>& caller) {
  auto acks = std::make_shared<Collected>();
  const absl::Time now = absl::Now();
  const auto received = Pipeline::Clock::now();
  // Copied onto an arena of the batch's own: the pipeline may still hold the events after
  // this call answered (the ack bound), the request may not.
  Pipeline::Batch admitted;
  auto arena = std::make_shared<google::protobuf::Arena>();
  admitted.arenas.push_back(arena);
  admitted.events.reserve(static_cast<size_t>(request.events_size()));
  for (const auto& e : request.events()) {
    auto* event = google::protobuf::Arena::CreateMessage<v1::PosEvent>(arena.get());
    event->CopyFrom(e);
    if (auto reason = pipeline_->admit(*event, caller, now)) {
      acks->ack(pipeline_->rejected(*event, *reason));
    } else {
      admitted.events.push_back(event);
    }
  }
  std::vector<v1::EventAck> limited;
  pipeline_->throttle(admitted.events, caller, received, limited);
  for (auto& a : limited) acks->ack(std::move(a));
  admitted.received.assign(admitted.events.size(), received);
  pipeline_->handle(std::move(admitted), acks, {});
  if (!acks->wait(static_cast<size_t>(request.events_size()),
                  received + cfg_.limits.ack_timeout + std::chrono::seconds(5))) {
    throw std::logic_error("SubmitEvents: events left unanswered past the ack bound");
  }
  auto by_id = acks->take();
  for (const auto& e : request.events()) {
    auto it = by_id.find(e.event_id());
    if (it != by_id.end()) {
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
  // Bounded like events: what Kafka has not confirmed by then is RETRY (the promise is
  // shared with the callback, so a late report is harmless).
  const auto deadline = std::chrono::steady_clock::now() + cfg_.limits.ack_timeout;
  for (int i = 0; i < request.customers_size(); ++i) {
    if (!pending[i].valid()) continue;
    if (pending[i].wait_until(deadline) != std::future_status::ready) {
      v1::CustomerAck* ack = response.mutable_acks(i);
      ack->set_status(v1::ACK_STATUS_RETRY);
      ack->set_reason("not confirmed by Kafka within " + std::to_string(cfg_.limits.ack_timeout.count()) +
                      " ms; send it again");
      continue;
    }
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
