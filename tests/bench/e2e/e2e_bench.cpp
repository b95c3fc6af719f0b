// bench.e2e: sales from tills to tiers in Redis, through the whole stack as processes
// (see CMakeLists.txt for what it prints and why the workload is shaped as it is).
//
// Usage: e2e_bench [customers] [sales_per_customer] [streams] [window] [events_per_message]
//                  [partitions] [probes_per_s] [tills_rate]
// events_per_message: 1 is StreamEvents, more StreamEventBatches (pos-sim's default 100);
// tills_rate: events/s the tills send at in the e2e run, 0 as fast as ingest acks.
#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "common/redis/mux.h"
#include "common/time/time.h"
#include "sender.h"
#include "stack.h"
#include "tierflow/sql/sqlite.h"
#include "tierflow/v1/ledger.pb.h"
#include "tierflow/v1/tier.pb.h"

namespace {

using namespace tierflow;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Event time. The ledger's watermark is the newest event time of a partition minus
// allowed_lateness_s (one day, set by the stack); classification's evaluation points are
// the day ends (evaluation.time_zone UTC in deploy/local/standard.yaml) the watermarks passed. The
// seeds put a sale on day D-2 and one on day D on every partition: the watermarks stand at
// D-1 12:00, the first point (the end of D-2) is evaluated, the next (the end of D-1) never
// is. Every load sale and probe is on D-1 after 12:00: applied at once, decided
// provisionally against the first point's cut points and published to Redis, at its own
// event time (the assignment's evaluated_time), with no full evaluation point inside the
// measured run (those are measured by bench.classification.engine).
const absl::Time kDayBeforeLoad = absl::FromCivil(absl::CivilSecond(2026, 6, 13, 12, 0, 0), absl::UTCTimeZone());
const absl::Time kDayAfterLoad = absl::FromCivil(absl::CivilSecond(2026, 6, 15, 12, 0, 0), absl::UTCTimeZone());
const absl::Time kLoadStart = absl::FromCivil(absl::CivilSecond(2026, 6, 14, 12, 0, 1), absl::UTCTimeZone());
const absl::Time kProbeStart = absl::FromCivil(absl::CivilSecond(2026, 6, 14, 23, 0, 0), absl::UTCTimeZone());
constexpr int64_t kMaxLoadEvents = 10LL * 3600 * 1000;  // one millisecond apart, before kProbeStart

struct Workload {
  int64_t customers = 0;
  int64_t sales_per_customer = 0;
  int streams = 0;
  int window = 0;              // unacked events per stream
  int events_per_message = 0;  // 1: StreamEvents; more: StreamEventBatches
  double rate = 0;             // events/s over all streams; 0: as fast as ingest acks (window-bound)
  int64_t events() const { return customers * sales_per_customer; }
  // Event i is round i / customers of customer i % customers, i milliseconds after kLoadStart.
  static absl::Time time_of(int64_t i) { return kLoadStart + absl::Milliseconds(i); }
  absl::Time last_sale_of(int64_t c) const { return time_of((sales_per_customer - 1) * customers + c); }
};

std::string customer_id(int64_t c) { return fmt::format("c-{:07d}", c); }

v1::PosEvent sale(const std::string& event_id, const std::string& customer, int64_t amount_seed, absl::Time at,
                  int terminal) {
  v1::PosEvent e;
  e.set_event_id(event_id);
  e.set_customer_id(customer);
  e.set_store_id(fmt::format("s-{}", amount_seed % 50));
  e.set_terminal_id(fmt::format("t-{}", terminal));
  timeutil::to_proto(at, e.mutable_event_time());
  const int64_t half = 500 + (amount_seed * 7919) % 250000;  // a spread of customer values
  auto* s = e.mutable_sale();
  s->mutable_total()->set_currency("CNY");
  s->mutable_total()->set_minor_units(2 * half);
  for (int l = 0; l < 2; ++l) {
    auto* line = s->add_lines();
    line->set_sku(fmt::format("sku-{}", (amount_seed + l) % 997));
    line->set_quantity(1);
    line->mutable_amount()->set_currency("CNY");
    line->mutable_amount()->set_minor_units(half);
  }
  auto* t = s->add_tenders();
  t->set_method(v1::TENDER_METHOD_CARD);
  t->mutable_amount()->set_currency("CNY");
  t->mutable_amount()->set_minor_units(2 * half);
  return e;
}

// One till's share of the load: every customer c with c % streams == stream, round by
// round, so each customer's sales go out on one stream in event-time order. Built as it
// is sent (a million events held in memory would cost the client more than building them).
class LoadSource : public pos_sim::EventSource {
 public:
  LoadSource(const Workload& w, const std::string& run, int stream) : w_(w), run_(run), stream_(stream), c_(stream) {}
  bool next(v1::PosEvent* out) override {
    if (w_.rate > 0) {
      if (sent_ == 0) start_ = Clock::now();
      std::this_thread::sleep_until(start_ + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(double(sent_ * w_.streams) / w_.rate)));
    }
    if (c_ >= w_.customers) {
      c_ = stream_;
      ++round_;
    }
    if (round_ >= w_.sales_per_customer || c_ >= w_.customers) return false;
    const int64_t i = round_ * w_.customers + c_;
    *out = sale(fmt::format("{}-{}", run_, i), customer_id(c_), c_, Workload::time_of(i), stream_);
    c_ += w_.streams;
    ++sent_;
    return true;
  }
  double progress() const override { return double(sent_) / double(std::max<int64_t>(1, w_.events() / w_.streams)); }

 private:
  const Workload& w_;
  const std::string run_;
  const int stream_;
  int64_t c_ = 0, round_ = 0, sent_ = 0;
  Clock::time_point start_;
};

// Probe sales at a fixed low rate until stopped or `count` sent, each for a new customer
// p-<tag>-<k> (a first assignment is always published, so its effect in Redis is
// unambiguous: the key exists), the k-th at `first` + k ms of event time.
class Probes : public pos_sim::EventSource {
 public:
  Probes(std::string tag, double per_s, absl::Time first, int64_t count)
      : tag_(std::move(tag)),
        period_(std::chrono::duration_cast<Clock::duration>(1s / per_s)),
        first_(first),
        count_(count) {}
  bool next(v1::PosEvent* out) override {
    if (static_cast<int64_t>(sent_.size()) >= count_) return false;
    auto due = start_ + period_ * static_cast<int64_t>(sent_.size());
    while (Clock::now() < due) {
      if (stop_) return false;
      std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), 5ms));
    }
    if (stop_) return false;
    const int64_t k = static_cast<int64_t>(sent_.size());
    *out = sale(fmt::format("probe-{}-{}", tag_, k), customer(k), k, first_ + absl::Milliseconds(k), 0);
    std::lock_guard lock(mu_);
    sent_.push_back(Clock::now());  // stream_events writes it right after next() returns
    return true;
  }
  double progress() const override { return 0; }
  void stop() { stop_ = true; }
  std::string customer(int64_t k) const { return fmt::format("p-{}-{:06d}", tag_, k); }
  // Send times of the probes handed out so far.
  std::vector<Clock::time_point> sent() {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  const std::string tag_;
  const Clock::duration period_;
  const absl::Time first_;
  const int64_t count_;
  const Clock::time_point start_ = Clock::now();
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Clock::time_point> sent_;
};

// Polls Redis for the probes' keys (one pipelined EXISTS per outstanding probe every 2 ms:
// a few thousand commands a second, against the hundreds of thousands the stack writes).
class ProbeWatch {
 public:
  ProbeWatch(const config::RedisConfig& cfg, Probes& probes) : mux_(cfg), probes_(probes) {
    thread_ = std::thread([this] { run(); });
  }
  ~ProbeWatch() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits until every probe sent is seen, up to `timeout`; the number still missing.
  size_t wait_all(Clock::duration timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const size_t missing = probes_.sent().size() - seen_count();
      if (missing == 0 || Clock::now() > deadline) return missing;
      std::this_thread::sleep_for(20ms);
    }
  }
  std::vector<double> latencies_ms() {
    std::lock_guard lock(mu_);
    std::vector<double> out;
    for (const auto& [k, ms] : seen_) out.push_back(ms);
    return out;
  }

 private:
  size_t seen_count() {
    std::lock_guard lock(mu_);
    return seen_.size();
  }
  void run() {
    while (!stop_) {
      const auto sent = probes_.sent();
      std::vector<int64_t> open;
      {
        std::lock_guard lock(mu_);
        for (int64_t k = 0; k < static_cast<int64_t>(sent.size()); ++k) {
          if (!seen_.contains(k)) open.push_back(k);
        }
      }
      if (!open.empty()) {
        std::vector<redis::Mux::Command> cmds;
        for (int64_t k : open) cmds.push_back({"EXISTS", "tf:tier:" + probes_.customer(k)});
        try {
          const auto replies = mux_.call_all(std::move(cmds), 2s);
          const auto now = Clock::now();
          std::lock_guard lock(mu_);
          for (size_t i = 0; i < open.size(); ++i) {
            if (replies[i].integer == 1) seen_[open[i]] = seconds(now - sent[open[i]]) * 1000;
          }
        } catch (const redis::RedisError& e) {
          fmt::print(stderr, "probe watch: {}\n", e.what());
        }
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  redis::Mux mux_;
  Probes& probes_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<int64_t, double> seen_;
  std::thread thread_;
};

// A probe stream of its own (pos-sim's stream_events on the tills' channel) and its watch.
class ProbePhase {
 public:
  ProbePhase(const std::shared_ptr<grpc::Channel>& channel, const config::RedisConfig& redis, std::string tag,
             double per_s, absl::Time first, int64_t count = INT64_MAX)
      : probes_(std::move(tag), per_s, first, count), watch_(redis, probes_), bounded_(count != INT64_MAX) {
    thread_ = std::thread([this, stub = v1::PosIngest::NewStub(channel)] {
      pos_sim::StreamOptions opts;
      opts.window = 16;
      auto r = pos_sim::stream_events(*stub, probes_, opts, {});
      if (!r.ok() || r->counts.accepted + r->counts.duplicate != r->counts.sent) refused_ = true;
    });
  }
  ~ProbePhase() { stop_sending(); }
  // Stops sending and waits for the stream to end (every probe acked).
  void stop_sending() {
    probes_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // Stops sending (a bounded phase first sends all its probes), then: every probe seen
  // within `timeout`, and every one stored? Returns what failed ("" when nothing did).
  std::string finish(Clock::duration timeout) {
    if (bounded_ && thread_.joinable()) thread_.join();  // all `count` sent
    stop_sending();
    const size_t missing = watch_.wait_all(timeout);
    watch_.stop();
    if (refused_) return "a probe was not accepted";
    if (missing > 0) return fmt::format("{} probes never showed up in Redis", missing);
    return "";
  }
  std::vector<double> latencies_ms() { return watch_.latencies_ms(); }

 private:
  Probes probes_;
  ProbeWatch watch_;
  const bool bounded_;
  std::atomic<bool> refused_{false};
  std::thread thread_;
};

struct Drive {
  double seconds = 0;
  // Stored: ACCEPTED, or DUPLICATE (a resend after RETRY whose first copy Kafka took
  // after all: the ledger gets it once). Failed: REJECTED, still RETRY after the resends,
  // or an ack for no event. The verification afterwards finds any stored event lost.
  int64_t stored = 0, duplicates = 0, resent = 0, failed = 0;
  bool ok(int64_t events) const { return errors.empty() && failed == 0 && stored == events; }
  std::string describe() const {
    return fmt::format("{} stored ({} of them DUPLICATE after a resend), {} resent after RETRY, {} failed", stored,
                       duplicates, resent, failed);
  }
  std::vector<std::string> errors;
};

// The load over `w.streams` streams on one channel (as pos-sim does), with pos-sim's
// stream_events.
Drive drive(const std::shared_ptr<grpc::Channel>& channel, const Workload& w, const std::string& run) {
  auto stub = v1::PosIngest::NewStub(channel);
  std::vector<std::unique_ptr<LoadSource>> sources;
  for (int s = 0; s < w.streams; ++s) sources.push_back(std::make_unique<LoadSource>(w, run, s));
  std::atomic<int64_t> stored{0}, duplicates{0}, resent{0}, failed{0};
  std::mutex mu;
  Drive d;
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int s = 0; s < w.streams; ++s) {
    threads.emplace_back([&, s] {
      pos_sim::StreamOptions opts;
      opts.window = w.window;
      opts.events_per_message = w.events_per_message;
      auto r = pos_sim::stream_events(*stub, *sources[s], opts, {});
      if (!r.ok()) {
        std::lock_guard lock(mu);
        d.errors.push_back(fmt::format("stream {}: {}", s, r.status().ToString()));
        return;
      }
      stored += r->counts.accepted + r->counts.duplicate;
      duplicates += r->counts.duplicate;
      resent += r->counts.resent;
      failed += r->counts.rejected + r->counts.retry_failed + r->counts.unexpected;
      std::lock_guard lock(mu);
      for (const auto& [id, reason] : r->rejections) d.errors.push_back(fmt::format("{} rejected: {}", id, reason));
    });
  }
  for (auto& t : threads) t.join();
  d.seconds = seconds(Clock::now() - started);
  d.stored = stored;
  d.duplicates = duplicates;
  d.resent = resent;
  d.failed = failed;
  return d;
}

// The seeds (see kDayBeforeLoad): customers whose sales cover every partition of
// pos.events.v1, produced directly (the setup, not the measured path), on D-2 then on D.
std::vector<std::string> seed(const test_support::DevBroker& broker) {
  kafka::RdkafkaProducer producer(broker.bootstrap(), "e2e-bench-seed");
  const std::vector<kafka::Header> headers = {{std::string(kafka::kTypeHeader), "tierflow.v1.PosEvent"}};
  std::vector<std::string> customers;
  std::vector<bool> covered(static_cast<size_t>(broker.partitions()), false);
  int left = broker.partitions();
  for (int n = 0; left > 0; ++n) {
    if (n > 100 * broker.partitions()) throw std::runtime_error("seeds: could not reach every partition");
    const std::string id = fmt::format("seed-{:04d}", n);
    const auto r = kafka::produce_sync(producer, topics::kPosEvents, id,
                                       sale(id + "-a", id, n, kDayBeforeLoad, 0).SerializeAsString(), headers, 30s);
    if (!r.ok) throw std::runtime_error("seed not delivered: " + r.error);
    customers.push_back(id);
    if (!covered[static_cast<size_t>(r.partition)]) {
      covered[static_cast<size_t>(r.partition)] = true;
      --left;
    }
  }
  for (const auto& id : customers) {
    const auto r = kafka::produce_sync(producer, topics::kPosEvents, id,
                                       sale(id + "-b", id, 1, kDayAfterLoad, 0).SerializeAsString(), headers, 30s);
    if (!r.ok) throw std::runtime_error("seed not delivered: " + r.error);
  }
  return customers;
}

// Waits until every seed has its first point's assignment in Redis: the first point was
// evaluated, so what follows is decided provisionally at once.
void wait_first_point(e2e_bench::Stack& stack, redis::Mux& mux, const std::vector<std::string>& seeds) {
  const auto deadline = Clock::now() + 120s;
  for (;;) {
    std::vector<redis::Mux::Command> cmds;
    for (const auto& id : seeds) cmds.push_back({"EXISTS", "tf:tier:" + id});
    int64_t n = 0;
    for (const auto& r : mux.call_all(std::move(cmds), 5s)) n += r.integer;
    if (n == static_cast<int64_t>(seeds.size())) return;
    stack.check_running();
    if (Clock::now() > deadline) {
      throw std::runtime_error(fmt::format("the first evaluation point did not come in 120 s ({} of {} seeds)\n{}", n,
                                           seeds.size(), stack.classification().log_tail()));
    }
    std::this_thread::sleep_for(100ms);
  }
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * double(v.size())))];
}

// The exact end state, checked once after the run (not timed): every customer's account
// in classification's store has all its sales (lifetime_orders) and its last one (as_of),
// and every customer's tier in Redis was decided at its last sale (evaluated_time; between
// points a decision is taken at the customer's own newest event time). Returns the
// failures: counts, and the first few customers named.
std::vector<std::string> verify(const e2e_bench::Stack& stack, redis::Mux& mux, const Workload& w) {
  std::vector<std::string> failures;
  int named = 0;
  auto fail = [&](std::string s) {
    if (++named <= 5) failures.push_back(std::move(s));
  };
  int64_t accounts = 0, bad_accounts = 0;
  {
    sql::sqlite::Options o;
    o.create = false;
    auto db = sql::sqlite::Db::open(stack.classification_store(), o);
    auto st = db.prepare("SELECT customer_id, account FROM customers WHERE customer_id LIKE 'c-%'");
    while (st.step()) {
      ++accounts;
      const std::string id(st.column_text(0));
      const int64_t c = std::stoll(id.substr(2));
      v1::AccountSnapshot a;
      const auto blob = st.column_blob(1);
      if (!a.ParseFromArray(blob.data(), static_cast<int>(blob.size())) ||
          a.lifetime_orders() != w.sales_per_customer || timeutil::from_proto(a.as_of()) != w.last_sale_of(c)) {
        ++bad_accounts;
        fail(fmt::format("{}: account has {} of {} sales, as of {} (last sale {})", id, a.lifetime_orders(),
                         w.sales_per_customer, timeutil::format(timeutil::from_proto(a.as_of())),
                         timeutil::format(w.last_sale_of(c))));
      }
    }
  }
  if (accounts != w.customers) {
    failures.push_back(fmt::format("classification holds {} of {} accounts", accounts, w.customers));
  }
  int64_t stale = 0;
  constexpr int64_t kChunk = 5000;
  for (int64_t from = 0; from < w.customers; from += kChunk) {
    const int64_t to = std::min(w.customers, from + kChunk);
    std::vector<redis::Mux::Command> cmds;
    for (int64_t c = from; c < to; ++c) cmds.push_back({"HGET", "tf:tier:" + customer_id(c), "proto"});
    const auto replies = mux.call_all(std::move(cmds), 30s);
    for (int64_t c = from; c < to; ++c) {
      const auto& r = replies[static_cast<size_t>(c - from)];
      v1::TierAssignment a;
      if (!r.is_string() || !a.ParseFromString(r.str) || a.tier().empty()) {
        ++stale;
        fail(fmt::format("{}: no tier in Redis", customer_id(c)));
      } else if (timeutil::from_proto(a.evaluated_time()) != w.last_sale_of(c)) {
        ++stale;
        fail(fmt::format("{}: Redis tier evaluated at {}, last sale {}", customer_id(c),
                         timeutil::format(timeutil::from_proto(a.evaluated_time())),
                         timeutil::format(w.last_sale_of(c))));
      }
    }
  }
  if (bad_accounts > 0) failures.push_back(fmt::format("{} accounts without all their sales", bad_accounts));
  if (stale > 0) failures.push_back(fmt::format("{} of {} tiers in Redis not at their last sale", stale, w.customers));
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  Workload w;
  w.customers = argc > 1 ? std::atoll(argv[1]) : 1000000;
  w.sales_per_customer = argc > 2 ? std::atoll(argv[2]) : 1;
  w.streams = argc > 3 ? std::atoi(argv[3]) : 4;
  w.window = argc > 4 ? std::atoi(argv[4]) : 2000;
  w.events_per_message = argc > 5 ? std::atoi(argv[5]) : 100;
  const int partitions = argc > 6 ? std::atoi(argv[6]) : 96;
  const double probes_per_s = argc > 7 ? std::atof(argv[7]) : 20;
  w.rate = argc > 8 ? std::atof(argv[8]) : 0;
  if (w.customers <= 0 || w.sales_per_customer <= 0 || w.streams <= 0 || w.window <= 0 || w.events_per_message <= 0 ||
      partitions <= 0 || probes_per_s <= 0 || w.events() > kMaxLoadEvents) {
    fmt::print(stderr,
               "usage: e2e_bench [customers] [sales_per_customer] [streams] [window] [events_per_message] "
               "[partitions] [probes_per_s] [tills_rate] (at most {} events)\n",
               kMaxLoadEvents);
    return 2;
  }
  fmt::print(
      "e2e bench: {} customers x {} sales = {} events, {} streams, window {}, {} events per message, {} partitions, "
      "tills {}; load {}\n",
      w.customers, w.sales_per_customer, w.events(), w.streams, w.window, w.events_per_message, partitions,
      w.rate > 0 ? fmt::format("at {:.0f} events/s", w.rate) : std::string("as fast as acked"),
      e2e_bench::load_average());
  std::fflush(stdout);
  try {
    // The baseline: the same events through an ingest of its own into a devbroker of its
    // own (nothing consumes them), driven by the same client.
    Drive base;
    {
      e2e_bench::Stack stack("ingest-only", partitions, 3);
      stack.start_ingest();
      Workload unpaced = w;  // ingest's own rate
      unpaced.rate = 0;
      base = drive(stack.tokens().channel(stack.ingest().grpc_target(), "pos"), unpaced, "base");
    }
    if (!base.ok(w.events())) {
      fmt::print(stderr, "FAILED: ingest-only run: {} of {}: {}\n", base.describe(), w.events(),
                 base.errors.empty() ? "" : base.errors.front());
      return 1;
    }
    fmt::print("  ingest only (pos-sim -> ingest -> devbroker): {:>9.0f} events/s ({:.1f} s)\n",
               double(w.events()) / base.seconds, base.seconds);
    std::fflush(stdout);

    e2e_bench::Stack stack("e2e", partitions, 3);
    stack.start_classification();
    stack.start_ledger();
    stack.start_ingest();
    redis::Mux mux(stack.redis().config());
    const auto seeds = seed(stack.broker());
    wait_first_point(stack, mux, seeds);

    const auto channel = stack.tokens().channel(stack.ingest().grpc_target(), "pos");
    auto under_load = std::make_unique<ProbePhase>(channel, stack.redis().config(), "load", probes_per_s, kProbeStart);
    const auto started = Clock::now();
    const Drive load = drive(channel, w, "e2e");
    const auto acked = Clock::now();
    under_load->stop_sending();
    if (!load.ok(w.events())) {
      fmt::print(stderr, "FAILED: {} of {} events: {}\n", load.describe(), w.events(),
                 load.errors.empty() ? "" : load.errors.front());
      return 1;
    }
    const auto events_end = test_support::end_offsets(stack.broker().bootstrap(), std::string(topics::kPosEvents));
    Clock::time_point done, ledger_done;
    std::string last_behind;
    const auto deadline = acked + std::chrono::minutes(30);
    for (;;) {
      const auto p = stack.progress(events_end);
      if (p.ledger_caught_up && ledger_done == Clock::time_point{}) ledger_done = Clock::now();
      if (p.classification_caught_up) {
        stack.barrier(seeds.front());
        done = Clock::now();
        break;
      }
      last_behind = p.behind;
      stack.check_running();
      if (Clock::now() > deadline) throw std::runtime_error("not caught up in 30 minutes: " + last_behind);
      std::this_thread::sleep_for(20ms);
    }
    std::vector<std::string> failures;
    if (auto f = under_load->finish(60s); !f.empty()) failures.push_back(f + " (under load)");
    const auto lat = under_load->latencies_ms();
    under_load.reset();
    // The same probes into the idle stack: the floor under the figure above (the ledger's
    // batch, classification's evaluate_delay, the round trips), without a backlog.
    ProbePhase at_rest(channel, stack.redis().config(), "rest", 10, kProbeStart + absl::Minutes(30), 20);
    if (auto f = at_rest.finish(60s); !f.empty()) failures.push_back(f + " (at rest)");
    const auto rest = at_rest.latencies_ms();
    const double e2e_rate = double(w.events()) / seconds(done - started);
    const double base_rate = double(w.events()) / base.seconds;
    fmt::print(
        "  e2e (tills -> ingest -> ledger -> classification -> Redis): {:>9.0f} events/s ({:.1f} s; the "
        "tills' last ack at {:.1f} s, {:.0f} events/s)  ratio to ingest only {:.2f}{}\n",
        e2e_rate, seconds(done - started), seconds(acked - started), double(w.events()) / seconds(acked - started),
        e2e_rate / base_rate, w.rate > 0 ? " (tills paced: not a capacity ratio)" : "");
    fmt::print("  of which: the ledger applied the last event and relayed its snapshot at {:.1f} s\n",
               seconds(ledger_done - started));
    fmt::print("  the tills' acks: {}\n", load.describe());
    fmt::print(
        "  sale to tier in Redis, {} probes at {}/s during the load: p50 {:.0f} ms, p99 {:.0f} ms, max {:.0f} ms\n",
        lat.size(), probes_per_s, quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1.0));
    fmt::print("  sale to tier in Redis, {} probes at 10/s into the idle stack after: p50 {:.0f} ms, p99 {:.0f} ms\n",
               rest.size(), quantile(rest, 0.5), quantile(rest, 0.99));
    fmt::print("  load average at the end: {}\n", e2e_bench::load_average());
    std::fflush(stdout);
    for (auto& f : verify(stack, mux, w)) failures.push_back(std::move(f));
    for (const auto& f : failures) fmt::print(stderr, "FAILED: {}\n", f);
    if (failures.empty())
      fmt::print("  verified: every sale in its customer's account, every tier in Redis at its last sale\n");
    return failures.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "FAILED: {}\n", e.what());
    return 1;
  }
}
