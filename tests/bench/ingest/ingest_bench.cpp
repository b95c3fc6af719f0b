// ingest_bench: see CMakeLists.txt.
// Usage: ingest_bench [events] [streams] [window (250)] [events per message (100; 1: StreamEvents)]
// BENCH_LINGER_MS overrides the producer's linger.ms (ingest's default: 1).
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "common/redis/mux.h"
#include "common/time/time.h"
#include "sender.h"
#include "src/service.h"
#include "tests/support/devbroker.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace {

using namespace tierflow;

// A till's sale: two lines, one card tender, ~150 bytes like pos-sim's.
v1::PosEvent sale(const std::string& run, int64_t i) {
  v1::PosEvent e;
  e.set_event_id(fmt::format("{}-{}", run, i));
  e.set_customer_id(fmt::format("c-{}", i % 100000));
  e.set_store_id(fmt::format("s-{}", i % 50));
  e.set_terminal_id("t-1");
  timeutil::to_proto(absl::Now() - absl::Hours(1), e.mutable_event_time());
  auto* s = e.mutable_sale();
  s->mutable_total()->set_currency("CNY");
  s->mutable_total()->set_minor_units(3000);
  for (int l = 0; l < 2; ++l) {
    auto* line = s->add_lines();
    line->set_sku(fmt::format("sku-{}", (i + l) % 997));
    line->set_quantity(1);
    line->mutable_amount()->set_currency("CNY");
    line->mutable_amount()->set_minor_units(1500);
  }
  auto* t = s->add_tenders();
  t->set_method(v1::TENDER_METHOD_CARD);
  t->mutable_amount()->set_currency("CNY");
  t->mutable_amount()->set_minor_units(3000);
  return e;
}

class VectorSource : public pos_sim::EventSource {
 public:
  explicit VectorSource(std::vector<v1::PosEvent> events) : events_(std::move(events)) {}
  bool next(v1::PosEvent* out) override {
    if (next_ >= events_.size()) return false;
    out->Swap(&events_[next_++]);
    return true;
  }
  double progress() const override { return events_.empty() ? 1.0 : double(next_) / double(events_.size()); }

 private:
  std::vector<v1::PosEvent> events_;
  size_t next_ = 0;
};

// The baseline: the same service definition, every event acked ACCEPTED at once (a
// batch's acks in one message).
class BareService final : public v1::PosIngest::CallbackService {
  // Acks every event of a message ACCEPTED, one message at a time; `In`/`Out` are the
  // RPC's messages (a PosEvent and its EventAck, or a batch and its acks).
  template <class In, class Out>
  class Stream final : public grpc::ServerBidiReactor<In, Out> {
   public:
    Stream() { this->StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (!ok) return this->Finish(grpc::Status::OK);
      accept(in_, out_);
      this->StartWrite(&out_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) return this->Finish(grpc::Status::CANCELLED);
      this->StartRead(&in_);
    }
    void OnDone() override { delete this; }

   private:
    static void accept(const v1::PosEvent& e, v1::EventAck& a) {
      a.set_event_id(e.event_id());
      a.set_status(v1::ACK_STATUS_ACCEPTED);
    }
    static void accept(const v1::PosEventBatch& in, v1::EventAckBatch& out) {
      out.Clear();
      for (const auto& e : in.events()) accept(e, *out.add_acks());
    }
    In in_;
    Out out_;
  };

 public:
  grpc::ServerBidiReactor<v1::PosEvent, v1::EventAck>* StreamEvents(grpc::CallbackServerContext*) override {
    return new Stream<v1::PosEvent, v1::EventAck>();
  }
  grpc::ServerBidiReactor<v1::PosEventBatch, v1::EventAckBatch>* StreamEventBatches(
      grpc::CallbackServerContext*) override {
    return new Stream<v1::PosEventBatch, v1::EventAckBatch>();
  }
};

// CPU seconds this process (client, server, producer) has used so far.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU seconds (user + system) child `pid` has used so far: /proc/<pid>/stat's utime and
// stime, the 14th and 15th fields (the 2nd, the command, is in parentheses).
double cpu_seconds(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / double(::sysconf(_SC_CLK_TCK));
}

// The other processes an event costs CPU in: redis-server (the duplicate check and mark)
// and devbroker (the Kafka side). Both idle while the bare server runs.
struct Peers {
  pid_t redis = 0;
  pid_t broker = 0;
  double cpu() const { return cpu_seconds(redis) + cpu_seconds(broker); }
};

struct RunResult {
  double events_per_s = 0;
  double cpu_us_per_event = 0;   // this process's CPU (client and server) per event
  double peer_us_per_event = 0;  // redis-server's and devbroker's
  int64_t accepted = 0;
  int64_t other = 0;
};

// `streams` tills in parallel, each with pos-sim's stream_events and `window`.
RunResult drive(const std::string& target, const std::string& run, int64_t events, int streams, int window,
                int per_message, const Peers& peers) {
  std::vector<std::unique_ptr<VectorSource>> sources;
  for (int s = 0; s < streams; ++s) {
    std::vector<v1::PosEvent> mine;
    for (int64_t i = s; i < events; i += streams) mine.push_back(sale(run, i));
    sources.push_back(std::make_unique<VectorSource>(std::move(mine)));
  }
  std::atomic<int64_t> accepted{0}, other{0};
  const double cpu_before = cpu_seconds();
  const double peer_before = peers.cpu();
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      grpc::ChannelArguments args;
      args.SetInt("grpc.channel_id", s);  // one connection per till
      auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      auto stub = v1::PosIngest::NewStub(channel);
      pos_sim::StreamOptions opts;
      opts.window = window;
      opts.events_per_message = per_message;
      auto r = pos_sim::stream_events(*stub, *sources[s], opts, [](const pos_sim::StreamProgress&) {});
      if (!r.ok()) {
        fmt::print(stderr, "stream {}: {}\n", s, r.status().ToString());
        other += 1;
        return;
      }
      accepted += r->counts.accepted;
      other += r->counts.duplicate + r->counts.rejected + r->counts.retry_failed + r->counts.unexpected;
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double per_event = 1e6 / double(std::max<int64_t>(1, events));
  return {double(accepted.load() + other.load()) / secs, (cpu_seconds() - cpu_before) * per_event,
          (peers.cpu() - peer_before) * per_event, accepted.load(), other.load()};
}

// The p-quantile of a prometheus histogram (upper bound of the bucket it falls in).
double quantile(prometheus::Registry& registry, const std::string& name, double q) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const auto& h = family.metric.front().histogram;
    const double want = q * double(h.sample_count);
    for (const auto& b : h.bucket) {
      if (double(b.cumulative_count) >= want) return b.upper_bound;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t events = argc > 1 ? std::atoll(argv[1]) : 400000;
  const int streams = argc > 2 ? std::atoi(argv[2]) : 4;
  const int window = argc > 3 ? std::atoi(argv[3]) : 250;
  const int per_message = argc > 4 ? std::atoi(argv[4]) : 100;
  test_support::TempDir dir("ingest-bench");
  test_support::DevBroker broker({TIERFLOW_DEVBROKER, dir.file("broker"), 12, 3});
  test_support::RedisServer redis(dir.path().string());
  const Peers peers{redis.pid(), broker.process().pid()};

  // Bare server first (its own port), then ingest, driven by the same client.
  BareService bare;
  int bare_port = 0;
  grpc::ServerBuilder bb;
  bb.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &bare_port);
  bb.RegisterService(&bare);
  auto bare_server = bb.BuildAndStart();
  const RunResult base = drive(fmt::format("127.0.0.1:{}", bare_port), "bare", events, streams, window, per_message, peers);
  bare_server->Shutdown();

  ingest::Config cfg;
  cfg.redis = redis.config();
  if (const char* linger = std::getenv("BENCH_LINGER_MS")) cfg.kafka.properties["linger.ms"] = linger;
  const auto props = ingest::producer_properties(cfg);  // what the service runs with
  kafka::RdkafkaProducer producer(broker.bootstrap(), "ingest-bench", props);
  // Connected, with its producer id, before the clock starts (as a running ingest is).
  const auto warm = kafka::produce_sync(producer, topics::kPosEvents, "warm-up", sale("warm", 0).SerializeAsString(),
                                        {}, std::chrono::seconds(20));
  if (!warm.ok) fmt::print(stderr, "warm-up produce failed: {}\n", warm.error);
  redis::Mux mux(cfg.redis);
  prometheus::Registry registry;
  int port = 0;
  RunResult real;
  {
    ingest::IngestService service(cfg, producer, mux, registry);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&service);
    auto server = b.BuildAndStart();
    real = drive(fmt::format("127.0.0.1:{}", port), "ingest", events, streams, window, per_message, peers);
    server->Shutdown();
  }
  const double p99 = quantile(registry, "tierflow_ingest_ack_seconds", 0.99);
  const double p50 = quantile(registry, "tierflow_ingest_ack_seconds", 0.50);
  fmt::print(
      "ingest bench: {} events, {} streams, window {} per stream, {} events per message ({}), dedupe on (redis), "
      "devbroker (3 brokers), linger.ms {}\n",
      events, streams, window, per_message, per_message > 1 ? "StreamEventBatches" : "StreamEvents",
      props.at("linger.ms"));
  fmt::print("  CPU per event: this process (client, server, producer) + redis-server and devbroker\n");
  fmt::print("  bare gRPC server (acks without work): {:>9.0f} events/s  {:.1f} + {:.1f} us CPU/event\n",
             base.events_per_s, base.cpu_us_per_event, base.peer_us_per_event);
  fmt::print("  ingest (validate, dedupe, Kafka):     {:>9.0f} events/s  {:.1f} + {:.1f} us CPU/event  ratio {:.2f}\n",
             real.events_per_s, real.cpu_us_per_event, real.peer_us_per_event,
             base.events_per_s > 0 ? real.events_per_s / base.events_per_s : 0.0);
  fmt::print("  ingest receive-to-ack: p50 <= {:.1f} ms, p99 <= {:.1f} ms (histogram bucket bounds)\n", p50 * 1000,
             p99 * 1000);
  fmt::print("  of which receipt-to-Kafka-confirmation: p50 <= {:.1f} ms, p99 <= {:.1f} ms\n",
             quantile(registry, "tierflow_ingest_store_seconds", 0.5) * 1000,
             quantile(registry, "tierflow_ingest_store_seconds", 0.99) * 1000);
  fmt::print("  aim: >= 100000 events/s, ratio >= 0.6, p99 < 20 ms\n");
  if (real.accepted != events || base.accepted != events) {
    fmt::print(stderr, "FAILED: accepted {} of {} (ingest), {} (bare); other answers {}\n", real.accepted, events,
               base.accepted, real.other);
    return 1;
  }
  return 0;
}
