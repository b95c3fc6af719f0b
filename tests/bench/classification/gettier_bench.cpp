// TierService.GetTier throughput and latency at 32 concurrent callers, beside
// redis-benchmark on the same Redis in the same run (the baseline).
//
// A real redis-server (tests/support/redis_server.h, TCP on a free port, no persistence)
// is filled with 100,000 assignments in the service's format (HSET tf:tier:<id> tier ...
// proto <TierAssignment bytes>, as TierPublisher writes them; the assignments come from the
// classification core on synthetic customers). Then, one after the other, in-process gRPC
// servers answer GetTier (through the suite's server plumbing, grpcx::Server, unless said),
// each driven by the same client: one channel, async stub, 32 calls always outstanding, a
// fixed number of calls over random customers, a deadline on every call. The machine is
// shared, so each variant runs in 3 rounds, each right after a redis-benchmark run (HGET of
// the same hash field, 32 clients), and the ratio is the median of the rounds'; CPU per
// call (this process + redis-server) is reported beside it as the load-independent figure.
// Variants:
//  - service: the real classification::TierService (services/classification/service/,
//             linked in) on grpcx::Server as main.cpp runs it: GetTier is a callback
//             handler reading Redis through the shared pipelined connection (redis::Mux);
//  - floor:   no Redis at all, the answer built in memory: what gRPC alone costs here.
// Every reply is checked (OK, the customer asked for); any failure fails the run.
//
// Usage: classification_gettier_bench [calls per variant] [redis-benchmark requests per variant]
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "prometheus/registry.h"
#include "common/redis/mux.h"
#include "service/tier_keeper.h"
#include "service/tier_service.h"
#include "spdlog/spdlog.h"
#include "synthetic.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"
#include "tierflow/classification/compact.h"
#include "tierflow/classification/engine.h"
#include "tierflow/v1/tier.grpc.pb.h"

using namespace tierflow;
using namespace tierflow::classification;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kCustomers = 100000;
constexpr int kConcurrency = 32;

// --- the gRPC floor: the same call answered from memory, no Redis ----------------------------
// Not a candidate (DESIGN.md: lookups read Redis so any replica answers); it measures what
// gRPC alone costs on this machine in this run, the ceiling for any GetTier built on it.
class FloorGetTier final : public v1::TierService::WithRawCallbackMethod_GetTier<v1::TierService::Service> {
 public:
  explicit FloorGetTier(std::string stored) : stored_(std::move(stored)) {}
  grpc::ServerUnaryReactor* GetTier(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override {
    v1::GetTierRequest req;
    grpc::ByteBuffer copy(*request);
    (void)grpc::SerializationTraits<v1::GetTierRequest>::Deserialize(&copy, &req);
    // The stored assignment of c-1 with the asked customer's id, so the client's check holds.
    v1::TierAssignment a;
    a.ParseFromString(stored_);
    a.set_customer_id(req.customer_id());
    const std::string bytes = a.SerializeAsString();
    grpc::Slice slice(bytes.data(), bytes.size());
    *response = grpc::ByteBuffer(&slice, 1);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::string stored_;
};

// --- the client: 32 outstanding async calls on one channel ------------------------------------
// Calls before the measured ones (connection set-up, thread pools, caches).
size_t warmup_calls(size_t calls) { return std::min<size_t>(calls / 10, 5000); }

struct DriveResult {
  double calls_per_s = 0, p50_ms = 0, p99_ms = 0;
  std::vector<double> latency_ms;  // of the measured calls
  size_t failures = 0;
  std::string first_failure;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}
double median3(std::vector<double> v) { return percentile(std::move(v), 0.5); }

DriveResult drive(int port, size_t calls) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = v1::TierService::NewStub(channel);
  grpc::CompletionQueue cq;
  struct Call {
    grpc::ClientContext ctx;
    v1::GetTierRequest req;
    v1::TierAssignment resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::TierAssignment>> rpc;
    Clock::time_point start;
  };
  synthetic::Rng rng(99);
  auto start_call = [&]() {
    auto* c = new Call;
    c->req.set_customer_id(synthetic::customer_id(rng.next() % kCustomers));
    c->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    c->start = Clock::now();
    c->rpc = stub->PrepareAsyncGetTier(&c->ctx, c->req, &cq);
    c->rpc->StartCall();
    c->rpc->Finish(&c->resp, &c->status, c);
  };
  DriveResult r;
  const size_t warmup = warmup_calls(calls);
  std::vector<double> latency;
  latency.reserve(calls);
  size_t started = 0, done = 0;
  Clock::time_point t0;
  for (; started < static_cast<size_t>(kConcurrency); ++started) start_call();
  void* tag = nullptr;
  bool ok = false;
  while (done < warmup + calls && cq.Next(&tag, &ok)) {
    auto* c = static_cast<Call*>(tag);
    const auto end = Clock::now();
    if (done == warmup) t0 = end;
    if (done >= warmup) latency.push_back(std::chrono::duration<double, std::milli>(end - c->start).count());
    if (!ok || !c->status.ok() || c->resp.customer_id() != c->req.customer_id()) {
      if (r.failures++ == 0)
        r.first_failure =
            c->status.ok() ? "reply for another customer: " + c->resp.customer_id() : c->status.error_message();
    }
    delete c;
    ++done;
    if (started < warmup + calls) {
      start_call();
      ++started;
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  // Drain what is still in flight.
  while (done < started && cq.Next(&tag, &ok)) {
    delete static_cast<Call*>(tag);
    ++done;
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  r.calls_per_s = latency.size() / secs;
  r.p50_ms = percentile(latency, 0.5);
  r.p99_ms = percentile(latency, 0.99);
  r.latency_ms = std::move(latency);
  return r;
}

double cpu_seconds(int who) {
  rusage u{};
  ::getrusage(who, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// --- redis-benchmark ---------------------------------------------------------------------------
struct RedisBench {
  double rps = 0, p50_ms = 0, p99_ms = 0;
  double client_cpu_us = 0;  // redis-benchmark's CPU per request
  double redis_cpu_us = 0;   // redis-server's CPU per request
};

// Runs redis-benchmark --csv and parses its one data line:
// "HGET ...","71942.45","0.383","0.088","0.351","0.639","0.903","2.391"
// (rps, avg, min, p50, p95, p99, max).
std::optional<RedisBench> redis_benchmark(int port, size_t requests, const std::string& command, const std::string& dir,
                                          bool print) {
  const std::string out = dir + "/redis-benchmark.csv";
  const double children_before = cpu_seconds(RUSAGE_CHILDREN);
  const std::string cmd = "redis-benchmark -h 127.0.0.1 -p " + std::to_string(port) + " -c " +
                          std::to_string(kConcurrency) + " -n " + std::to_string(requests) + " --csv " + command +
                          " > " + out + " 2>&1";
  if (print) std::printf("  $ %s\n", cmd.c_str());
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  const double client_cpu = cpu_seconds(RUSAGE_CHILDREN) - children_before;
  const std::string text = test_support::read_file(out);
  const size_t line = text.find('\n');
  if (line == std::string::npos) return std::nullopt;
  std::vector<double> v;
  size_t pos = line + 1;
  while (pos < text.size()) {
    const size_t q1 = text.find('"', pos);
    if (q1 == std::string::npos) break;
    const size_t q2 = text.find('"', q1 + 1);
    if (q2 == std::string::npos) break;
    v.push_back(std::atof(text.substr(q1 + 1, q2 - q1 - 1).c_str()));
    pos = q2 + 1;
  }
  if (v.size() < 7) return std::nullopt;  // v[0] is the test name (0)
  return RedisBench{v[1], v[4], v[6], client_cpu * 1e6 / requests, 0};
}

constexpr std::chrono::seconds kRedisWait{30};  // the bench's own blocking calls

// redis-server's own CPU (INFO cpu: used_cpu_sys + used_cpu_user).
double redis_cpu_seconds(redis::Mux& c) {
  const auto reply = c.call({"INFO", "cpu"}, kRedisWait);
  const std::string_view s = reply.str;
  double total = 0;
  for (const char* key : {"used_cpu_sys:", "used_cpu_user:"}) {
    const size_t at = s.find(key);
    if (at != std::string_view::npos) total += std::atof(s.data() + at + std::strlen(key));
  }
  return total;
}

int64_t connections_received(redis::Mux& c) {
  const auto reply = c.call({"INFO", "stats"}, kRedisWait);
  const std::string_view s = reply.str;
  const size_t at = s.find("total_connections_received:");
  return at == std::string_view::npos ? -1 : std::atoll(s.data() + at + 27);
}

}  // namespace

int main(int argc, char** argv) {
  // The service's engine holds a Kafka producer pointed at nothing (GetTier never
  // publishes); keep its connection errors out of the figures.
  spdlog::set_level(spdlog::level::critical);
  const size_t calls = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const size_t bench_requests = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 300000;
  try {
    test_support::TempDir dir("tierflow-gettier-bench");
    test_support::RedisServer server(dir.path().string());
    config::RedisConfig cfg = server.config();
    cfg.unix_socket.clear();  // TCP, like redis-benchmark -p and like a deployment
    std::printf("GetTier benchmark: redis-server on 127.0.0.1:%d, %zu customers, %d concurrent callers\n",
                server.port(), kCustomers, kConcurrency);

    // Fill Redis as the service does (TierPublisher's HSET), from real assignments.
    const auto standard = Standard::load_file(std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml");
    const absl::Time now = synthetic::as_of();
    std::vector<v1::AccountSnapshot> accounts(kCustomers);
    std::vector<v1::CustomerProfile> profiles(kCustomers);
    std::vector<CustomerInputs> inputs(kCustomers);
    std::vector<Features> features(kCustomers);
    for (size_t i = 0; i < kCustomers; ++i) {
      const bool has = synthetic::account(i, &accounts[i]);
      profiles[i] = synthetic::profile(i);
      inputs[i] = {synthetic::customer_id(i), has ? &accounts[i] : nullptr, &profiles[i]};
      features[i] = compute_features(*standard, inputs[i], now);
    }
    const Population pop = Population::compute(*standard, features);
    redis::Mux writer(cfg);
    size_t bytes = 0;
    for (size_t from = 0; from < kCustomers; from += 1000) {
      std::vector<redis::Mux::Command> cmds;
      for (size_t i = from; i < std::min(kCustomers, from + 1000); ++i) {
        bool changed = false;
        const v1::TierAssignment a = decide(*standard, evaluate_assignment(*standard, pop, features[i], inputs[i]),
                                            nullptr, nullptr, now, &changed);
        std::string proto = a.SerializeAsString();
        bytes += proto.size();
        cmds.push_back({"HSET", redis_key(a.customer_id()), "tier", a.tier(), "previous_tier", a.previous_tier(),
                         "reason", a.reasons_size() > 0 ? a.reasons(0) : "", "version", std::to_string(a.version()),
                         "standard", a.standard_version(), "credit_hold", a.credit_hold() ? "1" : "0", "proto",
                         std::move(proto)});
      }
      for (const auto& reply : writer.call_all(std::move(cmds), kRedisWait))
        if (reply.is_error()) throw std::runtime_error("HSET failed: " + reply.str);
    }
    std::printf("  filled: %zu assignments, %.0f bytes of proto each on average\n", kCustomers,
                double(bytes) / kCustomers);

    const size_t sample_size = static_cast<size_t>(writer.call({"HSTRLEN", "tf:tier:c-1", "proto"}, kRedisWait).integer);
    std::printf("  the machine is shared: each variant is paired with a redis-benchmark run just before it\n");
    // Baseline: redis-benchmark on the same Redis, the same command GetTier sends; redis's
    // own CPU per op is measured around it too.
    auto baseline = [&](const std::string& command, size_t requests, bool print) {
      const double redis_before = redis_cpu_seconds(writer);
      auto b = redis_benchmark(server.port(), requests, command, dir.path().string(), print);
      if (!b) throw std::runtime_error("redis-benchmark did not run or its output was not understood");
      b->redis_cpu_us = (redis_cpu_seconds(writer) - redis_before) * 1e6 / requests;
      if (print)
        std::printf("  redis-benchmark %s: %.0f ops/s, p50 %.3f ms, p99 %.3f ms; CPU-us/op: client %.1f, redis %.1f\n",
                    command.c_str(), b->rps, b->p50_ms, b->p99_ms, b->client_cpu_us, b->redis_cpu_us);
      return *b;
    };
    std::printf("  stored value: a %zu-byte TierAssignment (tf:tier:c-1)\n", sample_size);
    baseline("-t get", bench_requests, true);  // for comparison with BASELINES.md (GET, 3-byte values)
    baseline("HGET tf:tier:c-1 proto", bench_requests, true);

    struct Row {
      const char* name = "";
      double rate = 0, base_rate = 0, ratio = 0;  // medians over the rounds
      std::vector<double> latency_ms;
      double cpu_us = 0, base_cpu_us = 0;  // per call: in-process + redis-server; per op
      size_t failures = 0;
      std::string first_failure;
    };
    std::vector<Row> rows;
    bool failed = false;
    // Runs one server variant: `make` builds the service (and whatever it owns) inside the
    // measured window, so connections it opens count; `note` adds a remark afterwards.
    // Runs one server variant in kRounds rounds, each a redis-benchmark HGET run followed
    // at once by GetTier calls, so both see the same load on this shared machine; the
    // ratio reported is the median of the rounds'. `make` builds the service (and whatever
    // it owns) inside the measured window, so connections it opens count.
    constexpr int kRounds = 3;
    auto run = [&](const char* name, auto make) {
      int64_t connections = 0;  // opened while GetTier ran (redis-benchmark's excluded)
      int64_t conns_mark = connections_received(writer);
      double cpu_s = 0, redis_s = 0;
      size_t driven = 0;
      Row row;
      row.name = name;
      std::vector<double> ratios, rates, base_rates;
      std::string n;
      {
        auto holder = make();
        grpcx::Server plumbing("127.0.0.1:0", std::vector<grpc::Service*>{holder->service()});
        const int port = plumbing.port();
        for (int round = 0; round < kRounds; ++round) {
          connections += connections_received(writer) - conns_mark;
          const RedisBench base = baseline("HGET tf:tier:c-1 proto", bench_requests / kRounds, false);
          conns_mark = connections_received(writer);
          const double cpu_before = cpu_seconds(RUSAGE_SELF), redis_before = redis_cpu_seconds(writer);
          DriveResult r = drive(port, calls / kRounds);
          cpu_s += cpu_seconds(RUSAGE_SELF) - cpu_before;
          redis_s += redis_cpu_seconds(writer) - redis_before;
          driven += calls / kRounds + warmup_calls(calls / kRounds);
          ratios.push_back(r.calls_per_s / base.rps);
          rates.push_back(r.calls_per_s);
          base_rates.push_back(base.rps);
          row.latency_ms.insert(row.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
          row.base_cpu_us += (base.client_cpu_us + base.redis_cpu_us) / kRounds;
          row.failures += r.failures;
          if (row.first_failure.empty()) row.first_failure = r.first_failure;
        }
        plumbing.shutdown(std::chrono::seconds(2));
        if (n.empty()) n = holder->note();
      }
      row.ratio = median3(ratios);
      row.rate = median3(rates);
      row.base_rate = median3(base_rates);
      row.cpu_us = (cpu_s + redis_s) * 1e6 / driven;
      connections += connections_received(writer) - conns_mark;
      n += (n.empty() ? "" : "; ") + std::to_string(connections) + " Redis connections opened";
      std::printf(
          "  %-9s %6.0f calls/s (rounds %.0f %.0f %.0f; redis-benchmark %.0f %.0f %.0f)  p50 %.3f ms  "
          "p99 %.3f ms  CPU-us/call: client+server %.1f, redis %.1f  (%s)\n",
          name, row.rate, rates[0], rates[1], rates[2], base_rates[0], base_rates[1], base_rates[2],
          percentile(row.latency_ms, 0.5), percentile(row.latency_ms, 0.99), cpu_s * 1e6 / driven,
          redis_s * 1e6 / driven, n.c_str());
      if (row.failures > 0) {
        std::printf("FAIL: %s: %zu calls failed, first: %s\n", name, row.failures, row.first_failure.c_str());
        failed = true;
      }
      rows.push_back(std::move(row));
    };
    // The real service: its TierKeeper (standard, SQLite store in the temp dir) with a producer
    // that is never used (GetTier does not publish) and Redis pointing at our server.
    classification::Config service_cfg;
    service_cfg.redis = cfg;
    service_cfg.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
    service_cfg.store_path = dir.file("classification.db");
    kafka::RdkafkaProducer producer("127.0.0.1:9", "gettier-bench");
    prometheus::Registry registry;
    classification::TierKeeper engine(service_cfg, producer, registry);
    struct ServiceHolder {
      ServiceHolder(const classification::Config& c, classification::TierKeeper& e) : s(c, e) {}
      classification::TierService s;
      grpc::Service* service() { return &s; }
      std::string note() {
        const auto st = s.mux().stats();
        return fmt::format("{:.1f} commands per pipeline, {} connects", double(st.commands) / std::max<uint64_t>(st.batches, 1),
                           st.connects);
      }
    };
    run("service", [&] { return std::make_unique<ServiceHolder>(service_cfg, engine); });
    struct FloorHolder {
      explicit FloorHolder(std::string stored) : s(std::move(stored)) {}
      FloorGetTier s;
      grpc::Service* service() { return &s; }
      std::string note() { return "no Redis: the gRPC floor"; }
    };
    const std::string stored = writer.call({"HGET", "tf:tier:c-1", "proto"}, kRedisWait).str;
    run("floor", [&] { return std::make_unique<FloorHolder>(stored); });

    std::printf("\n");
    for (const auto& row : rows) {
      const double p50 = percentile(row.latency_ms, 0.5), p99 = percentile(row.latency_ms, 0.99);
      std::printf(
          "RESULT GetTier %-9s %6.0f calls/s = %.2fx redis-benchmark HGET (%.0f/s; median of %d paired rounds; "
          "aim >= 0.5x: %s); p50 %.3f ms, p99 %.3f ms (aim < 2 ms: %s); %.1f CPU-us/call = %.1fx "
          "redis-benchmark's %.1f\n",
          row.name, row.rate, row.ratio, row.base_rate, kRounds, row.ratio >= 0.5 ? "met" : "NOT met", p50, p99,
          p99 < 2.0 ? "met" : "NOT met", row.cpu_us, row.cpu_us / row.base_cpu_us, row.base_cpu_us);
    }
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
