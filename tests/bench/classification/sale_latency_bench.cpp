// One sale to one tier, beside a full evaluation point, at growing populations (issue 10:
// "the cost of one sale must not grow with the customer count").
//
// For each size N (default 10,000, 100,000 and 1,000,000 synthetic customers) the store is
// filled as engine_bench fills it (clock: events, every account as of synthetic::as_of()),
// a TierKeeper loads it and runs two evaluation points (the first decides everyone; the
// second is the steady-state point: features, population cut points, classify everyone).
// Then, between points, one account snapshot at a time (a customer's next version with one
// more sale, same day of event time: no point is due) goes through TierKeeper::apply and
// maintain(): parse, apply, evaluate the changed customer against the frozen cut points,
// commit (SQLite) and publish (an in-memory producer; Redis down). Its latency p50 / p99
// over 1,000 sales is the per-sale figure; the aim is p50 at 1M <= 2x p50 at 10k.
//
// Usage: classification_sale_latency_bench [N ...]
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/kafka/consumer_loop.h"
#include "common/kafka/record.h"
#include "common/kafka/topics.h"
#include "service/store.h"
#include "service/tier_keeper.h"
#include "synthetic_store.h"
#include "tests/support/fake_kafka.h"
#include "tests/support/process.h"

using namespace tierflow;
using namespace tierflow::classification;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Figures {
  size_t n = 0;
  double point_s = 0, p50_us = 0, p99_us = 0, apply_p50_us = 0;
};

Figures run(size_t n) {
  test_support::TempDir dir("tierflow-sale-bench");
  Config cfg;
  cfg.standard_path = std::string(TIERFLOW_SOURCE_DIR) + "/deploy/local/standard.yaml";
  cfg.store_path = dir.file("classification.db");
  cfg.clock = "events";
  cfg.evaluation_points = "newest_event";             // measures the per-snapshot path, no points
  cfg.redis.unix_socket = dir.file("no-redis.sock");  // Redis is down: the keeper tolerates it
  cfg.redis.timeout = std::chrono::milliseconds(100);
  const std::vector<size_t> buyers = synthetic::fill_store(cfg.store_path, n);  // customers with an account
  testing::FakeProducer producer;
  prometheus::Registry registry;
  TierKeeper keeper(cfg, producer, registry);
  keeper.reevaluate();  // first point: everyone's first assignment
  auto t = Clock::now();
  keeper.reevaluate();  // the steady-state point
  Figures f;
  f.n = n;
  f.point_s = seconds_since(t);
  if (std::getenv("BENCH_WAL")) {
    std::error_code ec;
    std::fprintf(stderr, "wal %zu bytes, db %zu bytes\n",
                 (size_t)std::filesystem::file_size(cfg.store_path + "-wal", ec),
                 (size_t)std::filesystem::file_size(cfg.store_path, ec));
  }

  kafka::DeadLetters dead_letters(producer, std::chrono::seconds(1));
  std::vector<double> us, apply_us;
  constexpr int kSales = 1000;
  for (int s = 0; s < kSales; ++s) {
    const size_t i = buyers[(static_cast<size_t>(s) * 7919) % buyers.size()];
    v1::AccountSnapshot a;
    synthetic::account(i, &a);
    a.set_version(a.version() + 1000 + s);
    auto* m = a.mutable_months(a.months_size() - 1);
    m->set_sales_minor(m->sales_minor() + 12'345'00);
    m->set_gross_profit_minor(m->gross_profit_minor() + 3'000'00);
    m->set_orders(m->orders() + 1);
    std::vector<kafka::Record> batch;
    batch.emplace_back(std::string(topics::kAccounts), 0, s, a.customer_id(), a.SerializeAsString());
    t = Clock::now();
    keeper.apply(batch, dead_letters);
    apply_us.push_back(seconds_since(t) * 1e6);
    keeper.maintain(Clock::now(), true);
    us.push_back(seconds_since(t) * 1e6);
  }
  std::sort(us.begin(), us.end());
  f.p50_us = us[us.size() / 2];
  f.p99_us = us[us.size() * 99 / 100];
  std::sort(apply_us.begin(), apply_us.end());
  f.apply_p50_us = apply_us[apply_us.size() / 2];
  return f;
}
}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::critical);
  std::vector<size_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {10000, 100000, 1000000};
  std::vector<Figures> all;
  for (size_t n : sizes) {
    const Figures f = run(n);
    all.push_back(f);
    std::printf(
        "%9zu customers: one sale to its tier p50 %.0f us (apply %.0f us), p99 %.0f us; a full evaluation point "
        "%.3f s\n",
        f.n, f.p50_us, f.apply_p50_us, f.p99_us, f.point_s);
    std::fflush(stdout);
  }
  if (all.size() >= 2) {
    const double ratio = all.back().p50_us / all.front().p50_us;
    std::printf("RESULT per-sale p50 grows %.2fx from %zu to %zu customers (aim <= 2x: %s)\n", ratio, all.front().n,
                all.back().n, ratio <= 2.0 ? "met" : "NOT met");
  }
  return 0;
}
