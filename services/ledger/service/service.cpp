#include "service/service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <future>

#include "common/config/config.h"
#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/time/time.h"

namespace tierflow::ledger {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  c.kafka = config::read_kafka(root.section("kafka"), "ledger");
  c.grpc = config::read_grpc(root.section("grpc"), "127.0.0.1:7002");
  c.metrics = config::read_metrics(root.section("metrics"), "127.0.0.1:9102");
  c.log = config::read_log(root.section("log"));
  c.access = config::read_access(root);
  auto store = root.section("store");
  c.store_backend = store.get_enum("backend", c.store_backend, {"sqlite", "postgres"});
  c.store_path = store.get_string("path", c.store_path);
  c.store_postgres_url = store.get_string("postgres_url", "");
  if (c.store_backend == "postgres" && c.store_postgres_url.empty()) {
    throw config::ConfigError(loader.file() + ": key 'store.postgres_url': required with store.backend postgres "
                              "(env TIERFLOW_STORE_POSTGRES_URL)");
  }
  c.group_id = root.get_string("group_id", c.group_id);
  c.max_batch = static_cast<int>(root.get_int("max_batch", c.max_batch, 1, 1000000));
  c.deferred_max_wait = absl::Seconds(root.get_int("deferred_max_wait_s", 7 * 24 * 3600, 1, 365LL * 24 * 3600));
  c.ready_file = root.get_string("ready_file", "");
  loader.finish();
  return c;
}

std::unique_ptr<Ledger> open_ledger(const Config& cfg) {
  Options options;
  options.dlq_in_outbox = true;
  // Commit batch N on a writer thread while batch N+1 is processed: the second core.
  options.pipeline = true;
  return cfg.store_backend == "postgres" ? Ledger::open_postgres(cfg.store_postgres_url, options)
                                         : Ledger::open_sqlite(cfg.store_path, options);
}

struct Runner::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : applied(metrics::counter(r, "tierflow_ledger_events_total", "Events by outcome", {{"outcome", "applied"}})),
        duplicates(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "duplicate"}})),
        rejected(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "rejected"}})),
        replayed(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "replayed"}})),
        deferred_total(metrics::counter(r, "tierflow_ledger_events_total", "", {{"outcome", "deferred"}})),
        deferred(metrics::gauge(r, "tierflow_ledger_deferred_events", "Events waiting for the sale they name")),
        snapshots(metrics::counter(r, "tierflow_ledger_snapshots_published_total", "Account snapshots relayed")),
        batch_seconds(metrics::histogram(r, "tierflow_ledger_batch_seconds", "apply() of one batch: processing it and waiting for the previous batch's commit",
                                         {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5})) {}
  prometheus::Counter& applied;
  prometheus::Counter& duplicates;
  prometheus::Counter& rejected;
  prometheus::Counter& replayed;
  prometheus::Counter& deferred_total;
  prometheus::Gauge& deferred;
  prometheus::Counter& snapshots;
  prometheus::Histogram& batch_seconds;
};

Runner::Runner(const Config& cfg, SharedLedger& ledger, kafka::Producer& producer, prometheus::Registry& registry)
    : cfg_(cfg), ledger_(ledger), producer_(producer), metrics_(std::make_unique<Metrics>(registry)) {}

Runner::~Runner() = default;

// The rejected records themselves reach the DLQ through the outbox (written in the
// same transaction as the batch); here they are only logged and counted.
void Runner::count_rejections(const std::vector<Rejection>& rejected) {
  for (const auto& r : rejected) {
    metrics_->rejected.Increment();
    spdlog::warn("event {} of customer {} rejected: {}", r.event_id.empty() ? "(unparseable)" : r.event_id,
                 r.customer_id, r.reason);
  }
}

void Runner::relay_outbox() {
  for (;;) {
    auto pending = ledger_.with([](Ledger& l) { return l.pending_outbox(5000); });
    if (pending.empty()) return;
    std::atomic<int64_t> failed{0};
    std::promise<void> all_done;
    auto remaining = std::make_shared<std::atomic<int64_t>>(static_cast<int64_t>(pending.size()));
    for (const auto& m : pending) {
      const bool dlq = m.topic != topics::kAccounts;
      std::vector<kafka::Header> headers{
          {std::string(kafka::kTypeHeader), dlq ? "tierflow.v1.PosEvent" : "tierflow.v1.AccountSnapshot"}};
      if (dlq) headers.push_back({std::string(kafka::kErrorHeader), m.error});
      producer_.produce(m.topic, m.customer_id, m.payload, headers,
                        [&failed, &all_done, remaining](const kafka::DeliveryReport& r) {
                          if (!r.ok) failed++;
                          if (--*remaining == 0) all_done.set_value();
                        });
    }
    all_done.get_future().wait();
    if (failed > 0) {
      spdlog::warn("outbox: {} of {} snapshots not published; retrying later", failed.load(), pending.size());
      return;
    }
    metrics_->snapshots.Increment(static_cast<double>(pending.size()));
    ledger_.with([&](Ledger& l) {
      l.ack_outbox(pending.back().id);
      return 0;
    });
  }
}

void Runner::run(std::stop_token stop) {
  relay_outbox();  // whatever a previous run committed but did not publish
  bool refresh = false;  // touched only on this thread (rebalance callbacks run inside poll)
  kafka::Consumer consumer(
      config::resolve_bootstrap(cfg_.kafka), cfg_.group_id, cfg_.kafka.client_id, cfg_.kafka.session_timeout,
      {std::string(topics::kPosEvents)},
      [this, &refresh](std::string_view topic, int32_t partition) {
        return ledger_.with([&](Ledger& l) {
          // After a rebalance another instance may have posted to these partitions
          // (PostgreSQL shared by several ledgers): reread before resuming.
          if (refresh) {
            l.refresh();
            refresh = false;
          }
          return l.next_offset(topic, partition);
        });
      },
      {},
      [this, &refresh](const std::vector<kafka::TopicPartition>&) {
        refresh = true;
        // The batch still being written belongs to partitions that may now move to another
        // instance: it must be committed before that one reads their offsets.
        ledger_.with([](Ledger& l) {
          l.sync();
          return 0;
        });
      },
      cfg_.kafka.properties);
  auto last_expiry = absl::Now();
  while (!stop.stop_requested()) {
    auto records = consumer.poll(static_cast<size_t>(cfg_.max_batch), std::chrono::milliseconds(100));
    if (!records.empty()) {
      std::vector<ConsumedRecord> batch;
      batch.reserve(records.size());
      for (const auto& r : records) batch.push_back({r.topic(), r.partition(), r.offset(), r.key(), r.value()});
      const auto started = std::chrono::steady_clock::now();
      ApplyResult result = ledger_.with([&](Ledger& l) { return l.apply(batch); });
      metrics_->batch_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      metrics_->applied.Increment(static_cast<double>(result.applied));
      metrics_->duplicates.Increment(static_cast<double>(result.duplicates));
      metrics_->replayed.Increment(static_cast<double>(result.replayed));
      metrics_->deferred_total.Increment(static_cast<double>(result.deferred));
      metrics_->deferred.Set(static_cast<double>(ledger_.with([](Ledger& l) { return l.deferred_count(); })));
      count_rejections(result.rejected);
      spdlog::debug("batch of {}: {} applied, {} duplicates, {} deferred, {} rejected", records.size(), result.applied,
                    result.duplicates, result.deferred, result.rejected.size());
    }
    relay_outbox();
    if (absl::Now() - last_expiry > absl::Minutes(1)) {
      last_expiry = absl::Now();
      count_rejections(ledger_.with([&](Ledger& l) { return l.expire_deferred(absl::Now(), cfg_.deferred_max_wait); }));
    }
  }
  // The last batch may still be being written: commit it and publish its snapshots now
  // rather than at the next start.
  ledger_.with([](Ledger& l) {
    l.sync();
    return 0;
  });
  relay_outbox();
  consumer.close();
}

namespace {
template <typename Fn>
grpc::Status guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const NotFound& e) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, e.what());
  } catch (const InvalidArgument& e) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  } catch (const std::exception& e) {
    spdlog::error("ledger grpc: {}", e.what());
    return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  }
}
}  // namespace

grpc::Status LedgerService::GetAccount(grpc::ServerContext*, const v1::GetAccountRequest* req, v1::AccountSnapshot* out) {
  return guarded([&] {
    auto account = ledger_.with([&](Ledger& l) { return l.account(req->customer_id(), absl::Now()); });
    if (!account) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no account for customer " + req->customer_id());
    *out = std::move(*account);
    return grpc::Status::OK;
  });
}

grpc::Status LedgerService::GetStatement(grpc::ServerContext*, const v1::GetStatementRequest* req,
                                         v1::GetStatementResponse* out) {
  return guarded([&] {
    *out = ledger_.with([&](Ledger& l) { return l.statement(*req); });
    return grpc::Status::OK;
  });
}

grpc::Status LedgerService::GetAgeing(grpc::ServerContext*, const v1::GetAgeingRequest* req, v1::Ageing* out) {
  return guarded([&] {
    const absl::Time as_of = req->has_as_of() ? timeutil::from_proto(req->as_of()) : absl::Now();
    *out = ledger_.with([&](Ledger& l) { return l.ageing(req->customer_id(), as_of); });
    return grpc::Status::OK;
  });
}

grpc::Status LedgerService::GetTrialBalance(grpc::ServerContext*, const v1::GetTrialBalanceRequest*, v1::TrialBalance* out) {
  return guarded([&] {
    *out = ledger_.with([](Ledger& l) { return l.trial_balance(); });
    return grpc::Status::OK;
  });
}

}  // namespace tierflow::ledger
