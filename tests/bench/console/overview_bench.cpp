// The console's overview page load at N synthetic customers (default 1,000,000):
// TierService.GetOverview over gRPC, as the console calls it, beside two baselines on the
// same server in the same run: the gRPC floor (grpc.health.v1.Health/Check, an empty
// answer: what any call costs here) and a bare GetDistribution (the part of the overview
// the classification issue already served; both read the kept aggregates).
//
// The store (SQLite, temp dir) is filled with N accounts and profiles (tests/bench/
// classification/synthetic.h, the customers every classification bench uses) with the
// event-time watermark at synthetic::as_of(); the service's TierKeeper loads them and runs
// its first evaluation (everyone assigned, committed, aggregates kept). Then the real
// TierService on the suite's server plumbing (grpcx::Server, loopback, no auth) answers one
// caller, call after call, as a page load does: kRounds rounds of kCalls health checks,
// kCalls GetDistribution and kCalls GetOverview, so all see the same load on this shared
// machine. Reported: p50 and p99 of each, the overview's p50 as a ratio to the floor's and
// to GetDistribution's (medians of the rounds' ratios), and the aim (p99 < 200 ms).
// Then GetOverview for the day before the clock (from history, cached per date): the first
// call and the p50 of repeats. Every reply is checked (OK, and its customer count is N's assigned
// customers); any failure fails the run. Figures are printed, never asserted.
//
// Usage: console_overview_bench [customers]
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "common/grpc/server.h"
#include "common/kafka/kafka.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "service/store.h"
#include "service/tier_keeper.h"
#include "service/tier_service.h"
#include "synthetic.h"
#include "tests/support/process.h"
#include "tierflow/v1/tier.grpc.pb.h"

using namespace tierflow;
using namespace tierflow::classification;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kRounds = 3;
constexpr int kCalls = 30;
constexpr auto kDeadline = std::chrono::seconds(120);  // a past date at 1M is computed from history

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

struct Failure {
  size_t count = 0;
  std::string first;
  void add(const std::string& what) {
    if (count++ == 0) first = what;
  }
};

// One call with kDeadline; its latency in ms, or a recorded failure.
template <typename Call>
double timed(Call call, Failure* failures) {
  grpc::ClientContext c;
  c.set_deadline(std::chrono::system_clock::now() + kDeadline);
  const auto t = Clock::now();
  const std::string error = call(&c);
  const double ms = seconds_since(t) * 1000;
  if (!error.empty()) failures->add(error);
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::critical);  // Kafka and Redis are unreachable on purpose
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  try {
    test_support::TempDir dir("tierflow-overview-bench");
    Config cfg;
    cfg.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
    cfg.store_path = dir.file("classification.db");
    cfg.clock = "watermark";
    cfg.evaluation_points = "newest_event";           // no ledger watermarks here
    cfg.redis.port = test_support::pick_free_port();  // nothing listens: the overview needs no Redis
    cfg.redis.timeout = std::chrono::milliseconds(200);
    std::printf("console overview (TierService.GetOverview) at %zu synthetic customers\n", n);

    auto t = Clock::now();
    {
      Store store(cfg.store_path);
      constexpr size_t kChunk = 20000;
      for (size_t from = 0; from < n; from += kChunk) {
        const size_t to = std::min(n, from + kChunk);
        std::vector<v1::AccountSnapshot> accounts;
        std::vector<v1::CustomerProfile> profiles;
        accounts.reserve(to - from);
        profiles.reserve(to - from);
        for (size_t i = from; i < to; ++i) {
          v1::AccountSnapshot a;
          if (synthetic::account(i, &a)) accounts.push_back(std::move(a));
          profiles.push_back(synthetic::profile(i));
        }
        Store::Batch batch;
        for (const auto& a : accounts) batch.accounts.push_back(&a);
        for (const auto& p : profiles) batch.profiles.push_back(&p);
        if (from == 0) batch.watermark = synthetic::as_of();
        store.apply(batch);
      }
    }
    std::printf("  store filled in %.1f s\n", seconds_since(t));

    // Room for the first evaluation's records in the producer's queue; they expire fast.
    kafka::RdkafkaProducer producer("127.0.0.1:9", "overview-bench",
                                    {{"queue.buffering.max.messages", "10000000"},
                                     {"queue.buffering.max.kbytes", "2097151"},
                                     {"message.timeout.ms", "1000"}});
    prometheus::Registry registry;
    t = Clock::now();
    TierKeeper engine(cfg, producer, registry);
    const size_t assigned = engine.reevaluate();
    std::printf("  engine loaded and evaluated %zu customers (%zu assigned) in %.1f s\n", engine.customers(), assigned,
                seconds_since(t));

    TierService service(cfg, engine);
    grpcx::Server server("127.0.0.1:0", std::vector<grpc::Service*>{&service});
    auto stub = v1::TierService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));

    grpc::GenericStub generic(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));
    Failure failures;
    int64_t customers = -1;
    int64_t past_customers = -1;
    bool past_from_history = false;
    // grpc.health.v1.Health/Check with an empty request (service "": the whole server),
    // through the generic stub: Debian ships no C++ for the health proto.
    auto health = [&](grpc::ClientContext* c) -> std::string {
      grpc::Slice empty("", 0);  // a HealthCheckRequest with no field set
      grpc::ByteBuffer request(&empty, 1), response;
      grpc::Status status;
      bool done = false;
      std::mutex m;
      std::condition_variable cv;
      generic.UnaryCall(c, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                        [&](grpc::Status s) {
                          std::lock_guard lock(m);
                          status = std::move(s);
                          done = true;
                          cv.notify_one();
                        });
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return done; });
      return status.ok() ? "" : "Health/Check: " + status.error_message();
    };
    auto distribution = [&](grpc::ClientContext* c) -> std::string {
      v1::Distribution d;
      const grpc::Status s = stub->GetDistribution(c, v1::GetDistributionRequest(), &d);
      if (!s.ok()) return "GetDistribution: " + s.error_message();
      if (customers < 0) customers = d.customers();
      return d.customers() == customers ? "" : "GetDistribution: customers changed";
    };
    auto overview_at = [&](const google::protobuf::Timestamp* as_of) {
      return [&, as_of](grpc::ClientContext* c) -> std::string {
        v1::GetOverviewRequest req;
        if (as_of != nullptr) *req.mutable_as_of() = *as_of;
        v1::Overview o;
        const grpc::Status s = stub->GetOverview(c, req, &o);
        if (!s.ok()) return "GetOverview: " + std::to_string(s.error_code()) + " " + s.error_message();
        if (as_of == nullptr && o.distribution().customers() != customers) {
          return "GetOverview: " + std::to_string(o.distribution().customers()) + " customers, GetDistribution says " +
                 std::to_string(customers);
        }
        if (as_of != nullptr) {
          past_customers = o.distribution().customers();
          past_from_history = o.from_history();
        }
        return "";
      };
    };
    // Warm-up: connection, first serialisations. GetDistribution first: it sets `customers`.
    const double first_distribution = timed(distribution, &failures);
    const double first_overview = timed(overview_at(nullptr), &failures);
    (void)timed(health, &failures);
    std::printf("  first calls: GetDistribution %.2f ms, GetOverview %.2f ms\n", first_distribution, first_overview);

    std::vector<double> floor_ms, dist_ms, over_ms, ratios, dist_ratios;
    for (int round = 0; round < kRounds; ++round) {
      std::vector<double> f, d, o;
      for (int i = 0; i < kCalls; ++i) f.push_back(timed(health, &failures));
      for (int i = 0; i < kCalls; ++i) d.push_back(timed(distribution, &failures));
      for (int i = 0; i < kCalls; ++i) o.push_back(timed(overview_at(nullptr), &failures));
      ratios.push_back(percentile(o, 0.5) / std::max(percentile(f, 0.5), 1e-6));
      dist_ratios.push_back(percentile(o, 0.5) / std::max(percentile(d, 0.5), 1e-6));
      floor_ms.insert(floor_ms.end(), f.begin(), f.end());
      dist_ms.insert(dist_ms.end(), d.begin(), d.end());
      over_ms.insert(over_ms.end(), o.begin(), o.end());
    }
    std::sort(ratios.begin(), ratios.end());
    std::sort(dist_ratios.begin(), dist_ratios.end());
    std::printf("  gRPC floor (Health/Check):  p50 %.3f ms  p99 %.3f ms  (%zu calls)\n", percentile(floor_ms, 0.5),
                percentile(floor_ms, 0.99), floor_ms.size());
    std::printf("  GetOverview (now):          p50 %.3f ms  p99 %.3f ms  (%zu calls)\n", percentile(over_ms, 0.5),
                percentile(over_ms, 0.99), over_ms.size());
    std::printf("  GetDistribution:            p50 %.3f ms  p99 %.3f ms  (%zu calls)\n", percentile(dist_ms, 0.5),
                percentile(dist_ms, 0.99), dist_ms.size());

    // A past date, before the service's clock: from history (a scan of the stored
    // assignments), then from the per-date cache. Everyone was first assigned at the clock,
    // so the day before has the customers' profiles but no tiers yet.
    google::protobuf::Timestamp past;
    synthetic::set_ts(&past, synthetic::as_of() - absl::Hours(24));
    const double first_past = timed(overview_at(&past), &failures);
    std::vector<double> past_ms;
    for (int i = 0; i < 5; ++i) past_ms.push_back(timed(overview_at(&past), &failures));
    std::printf("  GetOverview (the day before, from_history %s, %lld customers): first %.2f ms, then p50 %.3f ms\n",
                past_from_history ? "true" : "false", static_cast<long long>(past_customers), first_past,
                percentile(past_ms, 0.5));

    const double p99 = percentile(over_ms, 0.99);
    std::printf(
        "\nRESULT overview at %zu customers: GetOverview p50 %.3f ms, p99 %.3f ms (aim p99 < 200 ms: %s); "
        "%.1fx the gRPC floor's p50 %.3f ms (median of %d rounds' ratios: %.1f %.1f %.1f); %.2fx a bare "
        "GetDistribution's p50 %.3f ms\n",
        n, percentile(over_ms, 0.5), p99, p99 < 200 ? "met" : "NOT met", ratios[kRounds / 2], percentile(floor_ms, 0.5),
        kRounds, ratios[0], ratios[1], ratios[2], dist_ratios[kRounds / 2], percentile(dist_ms, 0.5));
    server.shutdown(std::chrono::seconds(2));
    if (failures.count > 0) {
      std::printf("FAIL: %zu calls failed, first: %s\n", failures.count, failures.first.c_str());
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
}
