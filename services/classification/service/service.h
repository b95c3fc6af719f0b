// The classification service's adapters: materialises accounts and profiles from Kafka,
// applies the standard (tierflow_classification_core), keeps its state in its own SQLite
// store (service/store.h), publishes changed assignments to tiers.assignments.v1 and
// Redis, and answers TierService over gRPC.
//
// Durability: the state (inputs, assignments, overrides, history, watermark) and the
// applied Kafka offsets are written in one transaction per consumed batch and its
// evaluation. At start the engine loads the store and resumes every partition at its
// stored offset (from the beginning when none is stored). A changed assignment is
// committed first, then written to Redis and produced to Kafka; its history row stays
// marked unpublished until the broker confirmed it, and unpublished rows are published
// again at the next start (at least once, same version: consumers dedupe by version).
//
// Threading: Engine::run consumes and evaluates on one thread. Everything that writes
// the store or Redis (evaluation, reload, overrides) holds the engine's unique lock.
// gRPC calls read Redis (GetTier, BatchGetTiers) through one shared connection, the
// store through a read connection of their own (history, as-of), or the engine's state
// under its shared lock (Explain, List, Distribution, WhatIf).
#pragma once

#include <absl/time/time.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/config/sections.h"
#include "service/store.h"
#include "tierflow/classification/compact.h"
#include "tierflow/classification/engine.h"
#include "tierflow/classification/standard.h"
#include "tierflow/v1/tier.grpc.pb.h"

namespace prometheus {
class Registry;
}
namespace tierflow::redis {
class Mux;
}
namespace tierflow::kafka {
class Producer;
class Record;
}

namespace tierflow::classification {

struct Config {
  config::KafkaConfig kafka;
  config::RedisConfig redis;
  config::GrpcConfig grpc;
  config::MetricsConfig metrics;
  config::LogConfig log;
  config::AccessConfig access;  // auth.*, tls.*: who may call (common/grpc/auth.h)
  std::string standard_path = "standard.yaml";
  // SQLite file of the service's own state (created when missing).
  std::string store_path = "classification.db";
  // wall: now is the wall clock. watermark: now is the newest event time seen (replays
  // of history classify as of the end of the data); the watermark is stored.
  std::string clock = "wall";
  // Everyone is re-evaluated this often even without input (time decay, percentiles).
  std::chrono::milliseconds reevaluate_interval{60000};
  // During a steady stream of input, an input waits at most this long for its evaluation
  // (otherwise evaluation runs as soon as the input settles: an empty poll).
  std::chrono::milliseconds evaluate_delay{1000};
  // Changes queued per WatchTierChanges caller; a watcher that falls this far behind is
  // dropped with RESOURCE_EXHAUSTED rather than slowing the engine.
  int watch_queue_size = 1024;
  std::string group_id = "classification";
  std::string ready_file;
};

Config load_config(const std::string& path);

// Redis layout: one hash per customer, readable with redis-cli:
//   HGETALL tf:tier:<customer>  -> tier, previous_tier, reason, version, standard, credit_hold, proto
inline std::string redis_key(std::string_view customer_id) { return "tf:tier:" + std::string(customer_id); }

// A request the engine refuses; TierService maps `code` to the gRPC status.
class RequestError : public std::runtime_error {
 public:
  enum class Code { invalid_argument, not_found, failed_precondition, unavailable };
  RequestError(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

// One WatchTierChanges caller's queue. The engine offers changes without ever blocking;
// when the queue is full the watcher is marked overflowed and gets nothing more.
// Thread-safe: offer/close from the engine, next from the gRPC handler thread.
class Watcher {
 public:
  Watcher(std::vector<std::string> tiers, size_t capacity) : tiers_(tiers.begin(), tiers.end()), capacity_(capacity) {}

  // False when this watcher overflowed (the engine then forgets it).
  bool offer(const v1::TierAssignment& a);
  void close();

  enum class Next { item, timeout, overflowed, closed };
  // Waits up to `timeout` for the next change.
  Next next(v1::TierAssignment* out, std::chrono::milliseconds timeout);

 private:
  bool wants(const v1::TierAssignment& a) const;
  const std::set<std::string> tiers_;
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::TierAssignment> queue_;
  bool overflowed_ = false;
  bool closed_ = false;
};

class Engine {
 public:
  // Loads the standard and the store (state, offsets, watermark). Throws StandardError,
  // sql::Error or ConfigError when either cannot be used.
  Engine(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry);
  ~Engine();

  // Consumes and evaluates until stop; then flushes the producer (bounded) and records
  // what was confirmed. Throws when Kafka setup or the store fails.
  void run(std::stop_token stop);

  // Re-evaluates everyone now, as the schedule in run() does (any thread; takes the unique
  // lock). Returns how many assignments changed. Throws what the store's commit throws
  // (then run() stops: memory is ahead of the store).
  size_t reevaluate();

  // For gRPC (any thread).
  std::optional<Evaluation> explain(const std::string& customer_id, v1::TierAssignment* current) const;
  v1::Distribution distribution() const;
  std::vector<v1::TierAssignment> list(const std::string& tier, const std::string& dimension,
                                       const std::string& class_name, const std::string& after, int limit,
                                       std::string* next) const;
  v1::WhatIfResponse what_if(const Standard& candidate) const;
  // Loads the standard file again; a bad file throws StandardError and changes nothing.
  v1::ReloadStandardResponse reload();

  // Overrides: validated (RequestError invalid_argument naming the field, not_found for
  // an unknown customer), stored with an audit row, and applied at once: the customer is
  // re-evaluated and a changed assignment published before the call returns.
  v1::TierOverride set_override(const v1::TierOverride& requested);
  // False when the customer had no override.
  bool clear_override(const std::string& customer_id, const std::string& actor, const std::string& reason_code);

  // History and as-of read the store through a connection of the caller's own.
  bool known(const std::string& customer_id) const;
  std::vector<v1::TierAssignment> history(const std::string& customer_id, int64_t before_version, int limit,
                                          bool* more) const;
  std::optional<v1::TierAssignment> as_of(const std::string& customer_id, absl::Time t) const;

  // Registers a watcher of published changes; unwatch when the call ends.
  std::shared_ptr<Watcher> watch(std::vector<std::string> tiers);
  void unwatch(const std::shared_ptr<Watcher>& w);
  // Ends every watch (shutdown): their calls return UNAVAILABLE.
  void close_watchers();

  // The clock evaluations use (wall, or the stored/seen watermark).
  absl::Time now() const;
  std::vector<std::string> tier_names() const;

  // Memory held per customer by the engine (map node, compact inputs, overrides and what
  // they point to), averaged over the customers held; 0 when none.
  double bytes_per_customer() const;
  size_t customers() const;

  struct Metrics;

 private:
  // What is held per customer (about 0.8 KB): compact inputs, the override (rare, on the
  // heap), and a summary of the current assignment; the assignment itself lives in the
  // store (always committed before memory changes) and in Redis. Features are recomputed
  // when needed.
  struct Customer {
    std::optional<CompactAccount> account;
    std::optional<CompactProfile> profile;
    std::unique_ptr<v1::TierOverride> override;
    int64_t account_version = 0;  // of `account` (older snapshots are dropped)
    // The classification at the last evaluation (under standard_ and population_ then);
    // the current assignment was decided from it. Invalid after a reload or an override.
    Classification last{};
    bool last_valid = false;
    bool has_current = false;        // the store holds a current assignment
    bool pending_downgrade = false;  // ... which announces a downgrade (time-dependent)
  };
  CompactInputs compact_inputs(const std::string& id, const Customer& c) const {
    return CompactInputs{id, c.account ? &*c.account : nullptr, c.profile ? &*c.profile : nullptr};
  }
  // evaluate_assignment() (or evaluate() when `full`) from compact inputs and their features.
  Evaluation evaluate_customer(const std::string& id, const Customer& c, const Features& f, bool full) const;
  static void note_current(Customer& c, const v1::TierAssignment& a);
  // now() for callers that hold the lock.
  absl::Time clock_locked() const;
  // Applies one consumed record to memory and marks it pending. Caller holds the unique lock.
  void apply_record(const kafka::Record& r);
  // Recomputes features and the population, classifies everyone on compact inputs, and
  // runs evaluate_assignment() + decide() only for customers whose classification changed
  // or whose assignment is time-dependent (pending downgrade, override); commits the batch
  // (pending inputs and offsets with it) and publishes what changed. Unique lock held.
  size_t evaluate_all();
  // Moves the pending inputs, offsets, watermark and delivery confirmations into `batch`.
  void fill_pending(Store::Batch& batch);
  void clear_pending();
  // Kafka, Redis and watchers; never throws (failures mark the outbox or Redis for a retry).
  void publish(const std::vector<const v1::TierAssignment*>& changed);
  void produce(const std::vector<const v1::TierAssignment*>& assignments);
  void republish_unconfirmed();
  void refill_redis_if_lost();

  const Config& cfg_;
  kafka::Producer& producer_;
  std::unique_ptr<Metrics> metrics_;
  mutable std::shared_mutex mu_;
  std::shared_ptr<const Standard> standard_;
  Population population_;
  std::unordered_map<std::string, Customer> customers_;
  Vocabulary vocabulary_;  // profile strings (industry, region); grows under the unique lock
  MappingTable mappings_;  // for standard_ and vocabulary_, rebuilt by evaluate_all when stale
  const Standard* mappings_standard_ = nullptr;
  absl::Time watermark_ = absl::InfinitePast();
  absl::Time stored_watermark_ = absl::InfinitePast();
  std::unique_ptr<Store> store_;
  std::unique_ptr<class RedisWriter> redis_;

  // Applied to memory, not yet in the store (engine thread, under the unique lock).
  // The protos as consumed, for the store (memory holds only their compact form).
  std::unordered_map<std::string, v1::AccountSnapshot> pending_accounts_;
  std::unordered_map<std::string, v1::CustomerProfile> pending_profiles_;
  std::map<Store::TopicPartition, int64_t> applied_offsets_;  // next offset per partition
  std::set<Store::TopicPartition> pending_offsets_;
  // Kafka must see the unpublished history rows again (at start; after a failed delivery).
  // Atomic: set under the unique lock, also peeked at by the engine loop without it.
  std::atomic<bool> republish_{true};
  // Redis missed a write: every current assignment is written again when it answers.
  std::atomic<bool> redis_stale_{false};
  // Set (under the unique lock) when a commit failed during evaluation: memory is ahead of
  // the store, so run() stops and the process restarts from the store.
  std::exception_ptr store_failure_;
  std::atomic<bool> store_failed_{false};

  // Broker confirmations, shared with the producer's delivery callbacks (which may run
  // after the engine is gone, while the producer flushes).
  struct Deliveries;
  std::shared_ptr<Deliveries> deliveries_;

  std::mutex watchers_mu_;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  bool watchers_closed_ = false;
};

// A single worker thread for the few blocking calls a callback handler must not make on
// gRPC's threads (GetTier with as_of reads SQLite). Jobs run in order; the destructor runs
// what is queued, then joins. Thread-safe.
class BlockingWorker {
 public:
  BlockingWorker();
  ~BlockingWorker();
  BlockingWorker(const BlockingWorker&) = delete;
  BlockingWorker& operator=(const BlockingWorker&) = delete;
  void post(std::function<void()> job);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

// GetTier and BatchGetTiers use gRPC's callback API and read Redis through one shared,
// pipelined connection (redis::Mux): no thread or connection per call. The other methods
// are sync handlers. Lifecycle: must outlive the grpc::Server it is registered with (the
// server's shutdown waits for the callbacks, which the mux and the worker complete).
// GetTier is a raw method: the stored TierAssignment bytes are the response as they are (no
// parse and re-serialisation of ~1 KB per call); RedisWriter is their only writer.
using TierServiceBase = v1::TierService::WithRawCallbackMethod_GetTier<
    v1::TierService::WithCallbackMethod_BatchGetTiers<v1::TierService::Service>>;

class TierService final : public TierServiceBase {
 public:
  // Does not connect to Redis (the mux connects on first use; while Redis is down the
  // Redis-backed calls answer UNAVAILABLE).
  TierService(const Config& cfg, Engine& engine);
  ~TierService() override;

  // A v1::GetTierRequest in, a v1::TierAssignment out. From Redis (NOT_FOUND naming the
  // customer when it has no tier there; UNAVAILABLE when Redis cannot be reached). With
  // as_of: from the store's history, on the worker thread.
  grpc::ServerUnaryReactor* GetTier(grpc::CallbackServerContext*, const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  // At most 1000 ids; unknown ones are listed in not_found. One pipelined group in Redis.
  grpc::ServerUnaryReactor* BatchGetTiers(grpc::CallbackServerContext*, const v1::BatchGetTiersRequest*,
                                          v1::BatchGetTiersResponse*) override;
  grpc::Status GetTierHistory(grpc::ServerContext*, const v1::GetTierHistoryRequest*,
                              v1::GetTierHistoryResponse*) override;
  grpc::Status ExplainTier(grpc::ServerContext*, const v1::ExplainTierRequest*, v1::Explanation*) override;
  grpc::Status ListCustomers(grpc::ServerContext*, const v1::ListCustomersRequest*, v1::ListCustomersResponse*) override;
  // Streams every published change (filtered by tiers) until the client cancels, the
  // server shuts down (UNAVAILABLE) or the caller falls behind (RESOURCE_EXHAUSTED).
  grpc::Status WatchTierChanges(grpc::ServerContext*, const v1::WatchTierChangesRequest*,
                                grpc::ServerWriter<v1::TierAssignment>*) override;
  grpc::Status SetOverride(grpc::ServerContext*, const v1::SetOverrideRequest*, v1::TierOverride*) override;
  grpc::Status ClearOverride(grpc::ServerContext*, const v1::ClearOverrideRequest*, v1::ClearOverrideResponse*) override;
  grpc::Status GetDistribution(grpc::ServerContext*, const v1::GetDistributionRequest*, v1::Distribution*) override;
  grpc::Status ReloadStandard(grpc::ServerContext*, const v1::ReloadStandardRequest*, v1::ReloadStandardResponse*) override;
  grpc::Status WhatIf(grpc::ServerContext*, const v1::WhatIfRequest*, v1::WhatIfResponse*) override;

  // Pipelines written / commands sent through the shared connection (benchmark report).
  redis::Mux& mux() { return *mux_; }

 private:
  const Config& cfg_;
  Engine& engine_;
  // Destroyed first (reverse order): the worker finishes as_of calls, the mux fails what
  // it still holds; both complete their reactors.
  std::unique_ptr<redis::Mux> mux_;
  BlockingWorker worker_;
};

}  // namespace tierflow::classification
