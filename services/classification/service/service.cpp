#include "service/service.h"

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "common/config/config.h"
#include "common/kafka/kafka.h"
#include "common/kafka/topics.h"
#include "common/metrics/metrics.h"
#include "common/redis/mux.h"
#include "common/redis/redis.h"
#include "common/time/time.h"

namespace tierflow::classification {

Config load_config(const std::string& path) {
  config::Loader loader(path);
  auto root = loader.root();
  Config c;
  c.kafka = config::read_kafka(root.section("kafka"), "classification");
  c.redis = config::read_redis(root.section("redis"));
  c.grpc = config::read_grpc(root.section("grpc"), "127.0.0.1:7003");
  c.metrics = config::read_metrics(root.section("metrics"), "127.0.0.1:9103");
  c.log = config::read_log(root.section("log"));
  c.access = config::read_access(root);
  c.standard_path = root.get_string("standard_path", c.standard_path);
  c.store_path = root.get_string("store_path", c.store_path);
  c.clock = root.get_enum("clock", c.clock, {"wall", "watermark"});
  c.reevaluate_interval = std::chrono::milliseconds(
      root.get_int("reevaluate_interval_ms", c.reevaluate_interval.count(), 10, int64_t{7} * 24 * 3600 * 1000));
  c.evaluate_delay = std::chrono::milliseconds(
      root.get_int("evaluate_delay_ms", c.evaluate_delay.count(), 1, int64_t{3600} * 1000));
  c.watch_queue_size = static_cast<int>(root.get_int("watch_queue_size", c.watch_queue_size, 1, 1000000));
  c.group_id = root.get_string("group_id", c.group_id);
  c.ready_file = root.get_string("ready_file", "");
  loader.finish();
  for (const auto& [key, value] : {std::pair<std::string_view, const std::string*>{"standard_path", &c.standard_path},
                                   {"store_path", &c.store_path},
                                   {"group_id", &c.group_id}}) {
    if (value->empty()) {
      throw config::ConfigError(fmt::format("{}: {}: must not be empty", path.empty() ? "(environment)" : path, key));
    }
  }
  return c;
}

struct Engine::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : records(metrics::counter(r, "tierflow_classification_records_total", "Kafka records consumed")),
        stale(metrics::counter(r, "tierflow_classification_stale_snapshots_total",
                               "Account snapshots dropped because a newer version was held")),
        poison(metrics::counter(r, "tierflow_classification_poison_total",
                                "Records that could not be parsed (sent to the DLQ)")),
        changes(metrics::counter(r, "tierflow_classification_assignment_changes_total", "Assignments published")),
        republished(metrics::counter(r, "tierflow_classification_republished_total",
                                     "Assignments published again because the broker had not confirmed them")),
        overrides(metrics::counter(r, "tierflow_classification_override_changes_total",
                                   "Overrides set, cleared or expired")),
        watchers_dropped(metrics::counter(r, "tierflow_classification_watchers_dropped_total",
                                          "WatchTierChanges callers dropped for falling behind")),
        customers(metrics::gauge(r, "tierflow_classification_customers", "Customers held by this instance")),
        evaluation_seconds(metrics::histogram(r, "tierflow_classification_evaluation_seconds",
                                              "One full re-evaluation of the population, commit included",
                                              {0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10})) {}
  prometheus::Counter& records;
  prometheus::Counter& stale;
  prometheus::Counter& poison;
  prometheus::Counter& changes;
  prometheus::Counter& republished;
  prometheus::Counter& overrides;
  prometheus::Counter& watchers_dropped;
  prometheus::Gauge& customers;
  prometheus::Histogram& evaluation_seconds;
};

struct Engine::Deliveries {
  std::mutex mu;
  std::vector<std::pair<std::string, int64_t>> confirmed;  // (customer, version)
  bool failed = false;                                     // a delivery failed: publish the outbox again
};

// Writes assignments to Redis; remembers nothing it cannot rebuild. Used under the
// engine's unique lock only (one hiredis connection).
class RedisWriter {
 public:
  explicit RedisWriter(const config::RedisConfig& cfg) : cfg_(cfg) {}

  // Throws RedisError when Redis cannot be reached.
  void write(const std::vector<const v1::TierAssignment*>& assignments) {
    constexpr size_t kChunk = 1000;  // bounded pipelines, so a refill of millions stays small in memory
    for (size_t from = 0; from < assignments.size(); from += kChunk) {
      const size_t to = std::min(assignments.size(), from + kChunk);
      std::vector<std::vector<std::string>> owned;
      owned.reserve(to - from);
      for (size_t i = from; i < to; ++i) {
        const auto* a = assignments[i];
        owned.push_back({"HSET", redis_key(a->customer_id()), "tier", a->tier(), "previous_tier", a->previous_tier(),
                         "reason", a->reasons_size() > 0 ? a->reasons(0) : "", "version", std::to_string(a->version()),
                         "standard", a->standard_version(), "credit_hold", a->credit_hold() ? "1" : "0", "proto",
                         a->SerializeAsString()});
      }
      std::vector<std::vector<std::string_view>> cmds;
      cmds.reserve(owned.size());
      for (const auto& c : owned) cmds.emplace_back(c.begin(), c.end());
      for (const auto& reply : client().pipeline(cmds)) {
        if (reply.is_error()) throw redis::RedisError("HSET of an assignment failed: " + std::string(reply.str()));
      }
    }
  }

  // Redis lost its data (restart without persistence) when our marker key is gone.
  bool lost() { return client().command({"EXISTS", kMarker}).integer() == 0; }
  void mark() { client().command({"SET", kMarker, "1"}); }

 private:
  static constexpr std::string_view kMarker = "tf:tiers:loaded";
  redis::Client& client() {
    if (!client_) client_ = std::make_unique<redis::Client>(cfg_);
    return *client_;
  }
  config::RedisConfig cfg_;
  std::unique_ptr<redis::Client> client_;
};

// --- Watcher ---

bool Watcher::wants(const v1::TierAssignment& a) const {
  return tiers_.empty() || tiers_.contains(a.tier()) || tiers_.contains(a.previous_tier());
}

bool Watcher::offer(const v1::TierAssignment& a) {
  std::lock_guard lock(mu_);
  if (overflowed_ || closed_) return !overflowed_;
  if (!wants(a)) return true;
  if (queue_.size() >= capacity_) {
    overflowed_ = true;
    queue_.clear();
    cv_.notify_all();
    return false;
  }
  queue_.push_back(a);
  cv_.notify_one();
  return true;
}

void Watcher::close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

Watcher::Next Watcher::next(v1::TierAssignment* out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return overflowed_ || closed_ || !queue_.empty(); });
  if (overflowed_) return Next::overflowed;
  if (!queue_.empty()) {
    *out = std::move(queue_.front());
    queue_.pop_front();
    return Next::item;
  }
  return closed_ ? Next::closed : Next::timeout;
}

// --- Engine ---

Engine::Engine(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry)
    : cfg_(cfg), producer_(producer), metrics_(std::make_unique<Metrics>(registry)),
      standard_(Standard::load_file(cfg.standard_path)), store_(std::make_unique<Store>(cfg.store_path)),
      redis_(std::make_unique<RedisWriter>(cfg.redis)), deliveries_(std::make_shared<Deliveries>()) {
  spdlog::info("standard {} loaded from {}", standard_->version(), cfg.standard_path);
  size_t assigned = 0, overrides = 0;
  store_->load([&](Store::CustomerRow&& row) {
    Customer& c = customers_[row.customer_id];
    if (row.account) {
      c.account = compact(*row.account);
      c.account_version = row.account->version();
    }
    if (row.profile) c.profile = compact(*row.profile, vocabulary_);
    if (row.current) note_current(c, *row.current);
    if (row.override) c.override = std::make_unique<v1::TierOverride>(std::move(*row.override));
    assigned += c.has_current ? 1 : 0;
    overrides += c.override ? 1 : 0;
  });
  applied_offsets_ = store_->offsets();
  if (auto w = store_->watermark()) watermark_ = stored_watermark_ = *w;
  // The population as of the restored clock, so explain, distribution and overrides answer
  // before the first evaluation (which decides everyone: no customer has `last` yet).
  const absl::Time t = clock_locked();
  std::vector<Features> all;
  all.reserve(customers_.size());
  for (const auto& [id, c] : customers_) all.push_back(compute_features(*standard_, compact_inputs(id, c), t));
  population_ = Population::compute(*standard_, all);
  metrics_->customers.Set(static_cast<double>(customers_.size()));
  spdlog::info("store {}: {} customers ({} assigned, {} overrides), {} partitions with offsets{}", cfg.store_path,
               customers_.size(), assigned, overrides, applied_offsets_.size(),
               watermark_ == absl::InfinitePast() ? std::string() : ", watermark " + timeutil::format(watermark_));
}

Engine::~Engine() { close_watchers(); }

void Engine::note_current(Customer& c, const v1::TierAssignment& a) {
  c.has_current = true;
  c.pending_downgrade = a.has_pending_downgrade();
}

Evaluation Engine::evaluate_customer(const std::string& id, const Customer& c, const Features& f, bool full) const {
  // evaluate() reads the features and, of the inputs, only the profile's industry and region.
  v1::CustomerProfile profile;
  if (c.profile) profile = expand_for_evaluation(*c.profile, vocabulary_);
  const CustomerInputs in{id, nullptr, c.profile ? &profile : nullptr};
  return full ? evaluate(*standard_, population_, f, in) : evaluate_assignment(*standard_, population_, f, in);
}

size_t Engine::customers() const {
  std::shared_lock lock(mu_);
  return customers_.size();
}

double Engine::bytes_per_customer() const {
  std::shared_lock lock(mu_);
  if (customers_.empty()) return 0;
  // libstdc++ unordered_map: a node is {next pointer, value, cached hash}; one bucket
  // pointer per bucket.
  size_t bytes = customers_.bucket_count() * sizeof(void*);
  for (const auto& [id, c] : customers_) {
    bytes += sizeof(void*) + sizeof(std::pair<const std::string, Customer>) + sizeof(size_t);
    if (id.capacity() > 15) bytes += id.capacity() + 1;
    if (c.account && c.account->wide) bytes += sizeof(CompactAccount::Wide);
    if (c.account && c.account->open_invoices) {
      bytes += sizeof(std::vector<CompactAccount::OpenInvoice>) + 16 +
               c.account->open_invoices->capacity() * sizeof(CompactAccount::OpenInvoice);
    }
    if (c.override) bytes += c.override->SpaceUsedLong();
  }
  return static_cast<double>(bytes) / static_cast<double>(customers_.size());
}

absl::Time Engine::clock_locked() const {
  if (cfg_.clock == "watermark" && watermark_ != absl::InfinitePast()) return watermark_;
  return absl::Now();
}

absl::Time Engine::now() const {
  std::shared_lock lock(mu_);
  return clock_locked();
}

std::vector<std::string> Engine::tier_names() const {
  std::shared_lock lock(mu_);
  return standard_->tier_names();
}

void Engine::apply_record(const kafka::Record& r) {
  metrics_->records.Increment();
  const Store::TopicPartition tp{std::string(r.topic()), r.partition()};
  applied_offsets_[tp] = r.offset() + 1;
  pending_offsets_.insert(tp);
  auto dead_letter = [&](const char* why) {
    metrics_->poison.Increment();
    spdlog::warn("{}[{}]@{}: {}; sent to {}", r.topic(), r.partition(), r.offset(), why, topics::dlq(r.topic()));
    try {
      std::vector<kafka::Header> headers = {{std::string(kafka::kErrorHeader), why}};
      if (auto type = r.header(kafka::kTypeHeader)) headers.push_back({std::string(kafka::kTypeHeader), std::string(*type)});
      producer_.produce(topics::dlq(r.topic()), r.key(), r.value(), headers, [](const kafka::DeliveryReport& d) {
        if (!d.ok) spdlog::error("dead letter not stored: {}", d.error);
      });
    } catch (const kafka::KafkaError& e) {
      spdlog::error("dead letter not queued: {}", e.what());
    }
  };
  if (r.topic() == topics::kAccounts) {
    v1::AccountSnapshot s;
    if (!s.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) || s.customer_id().empty()) {
      dead_letter("not a tierflow.v1.AccountSnapshot with a customer_id");
      return;
    }
    Customer& c = customers_[s.customer_id()];
    if (c.account && c.account_version >= s.version()) {
      metrics_->stale.Increment();
      return;
    }
    if (s.has_as_of()) watermark_ = std::max(watermark_, timeutil::from_proto(s.as_of()));
    c.account = compact(s);
    c.account_version = s.version();
    pending_accounts_.insert_or_assign(s.customer_id(), std::move(s));
  } else if (r.topic() == topics::kCustomers) {
    v1::CustomerProfile p;
    if (!p.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) || p.customer_id().empty()) {
      dead_letter("not a tierflow.v1.CustomerProfile with a customer_id");
      return;
    }
    customers_[p.customer_id()].profile = compact(p, vocabulary_);
    pending_profiles_.insert_or_assign(p.customer_id(), std::move(p));
  }
}

void Engine::fill_pending(Store::Batch& batch) {
  for (const auto& [id, a] : pending_accounts_) batch.accounts.push_back(&a);
  for (const auto& [id, p] : pending_profiles_) batch.profiles.push_back(&p);
  for (const auto& tp : pending_offsets_) batch.offsets[tp] = applied_offsets_.at(tp);
  if (watermark_ > stored_watermark_) batch.watermark = watermark_;
  std::lock_guard lock(deliveries_->mu);
  batch.published.swap(deliveries_->confirmed);
}

void Engine::clear_pending() {
  pending_accounts_.clear();
  pending_profiles_.clear();
  pending_offsets_.clear();
  stored_watermark_ = std::max(stored_watermark_, watermark_);
}

size_t Engine::reevaluate() {
  std::unique_lock lock(mu_);
  return evaluate_all();
}

size_t Engine::evaluate_all() {
  const auto started = std::chrono::steady_clock::now();
  const absl::Time t = clock_locked();
  // Pass 1: features (held for this evaluation only) and the population.
  std::vector<std::pair<const std::string*, Customer*>> order;
  std::vector<Features> all;
  order.reserve(customers_.size());
  all.reserve(customers_.size());
  for (auto& [id, c] : customers_) {
    order.emplace_back(&id, &c);
    all.push_back(compute_features(*standard_, compact_inputs(id, c), t));
  }
  population_ = Population::compute(*standard_, all);
  if (mappings_standard_ != standard_.get() || mappings_.vocabulary_size() != vocabulary_.size()) {
    mappings_ = MappingTable(*standard_, vocabulary_);
    mappings_standard_ = standard_.get();
  }

  // Pass 2: classify everyone; only customers whose classification moved, or whose
  // assignment depends on time (pending downgrade, override), go through decide().
  std::vector<size_t> need;
  for (size_t i = 0; i < order.size(); ++i) {
    Customer& c = *order[i].second;
    const Classification cls = classify(*standard_, population_, all[i], c.profile ? &*c.profile : nullptr, mappings_);
    if (!c.last_valid || cls != c.last || c.pending_downgrade || c.override) need.push_back(i);
    c.last = cls;
    c.last_valid = true;
  }

  std::vector<std::pair<Customer*, v1::TierAssignment>> next;
  std::vector<Customer*> expired;
  Store::Batch batch;
  auto decide_one = [&](size_t i, const v1::TierAssignment* current) {
    const std::string& id = *order[i].first;
    Customer& c = *order[i].second;
    const v1::TierOverride* ovr = nullptr;
    if (c.override) {
      if (c.override->has_expire_time() && timeutil::from_proto(c.override->expire_time()) <= t) {
        batch.overrides.push_back({id, Store::OverrideAction::expire, *c.override, "system", "expired", absl::Now()});
        expired.push_back(&c);
      } else {
        ovr = c.override.get();
      }
    }
    bool changed = false;
    v1::TierAssignment a = decide(*standard_, evaluate_customer(id, c, all[i], false), current, ovr, t, &changed);
    if (changed) next.emplace_back(&c, std::move(a));
  };
  // The current assignments come from the store: point reads for a few customers, one
  // ordered scan merged with the (sorted) customers for many.
  std::sort(need.begin(), need.end(), [&](size_t a, size_t b) { return *order[a].first < *order[b].first; });
  if (need.size() * 16 < order.size()) {
    for (size_t i : need) {
      auto current = order[i].second->has_current ? store_->current(*order[i].first) : std::nullopt;
      decide_one(i, current ? &*current : nullptr);
    }
  } else {
    size_t k = 0;
    auto decide_until = [&](const std::string* bound) {
      for (; k < need.size() && (bound == nullptr || *order[need[k]].first < *bound); ++k) decide_one(need[k], nullptr);
    };
    store_->currents("", [&](v1::TierAssignment&& current) {
      decide_until(&current.customer_id());
      if (k < need.size() && *order[need[k]].first == current.customer_id()) decide_one(need[k++], &current);
      return k < need.size();
    });
    decide_until(nullptr);
  }
  all = {};

  batch.changes.reserve(next.size());
  for (const auto& [c, a] : next) batch.changes.push_back(&a);
  fill_pending(batch);
  try {
    store_->apply(batch);
  } catch (...) {
    // Memory already holds the inputs the store lacks: stop, restart from the store.
    store_failure_ = std::current_exception();
    store_failed_ = true;
    throw;
  }
  clear_pending();
  for (Customer* c : expired) c->override.reset();
  if (!expired.empty()) spdlog::info("{} overrides expired", expired.size());
  metrics_->overrides.Increment(static_cast<double>(expired.size()));
  std::vector<const v1::TierAssignment*> changed;
  changed.reserve(next.size());
  for (auto& [c, a] : next) {
    note_current(*c, a);
    changed.push_back(&a);
  }
  publish(changed);
  metrics_->customers.Set(static_cast<double>(customers_.size()));
  metrics_->evaluation_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return changed.size();
}

void Engine::produce(const std::vector<const v1::TierAssignment*>& assignments) {
  try {
    for (const auto* a : assignments) {
      producer_.produce(topics::kAssignments, a->customer_id(), a->SerializeAsString(),
                        {{std::string(kafka::kTypeHeader), "tierflow.v1.TierAssignment"}},
                        [d = deliveries_, id = a->customer_id(), v = a->version()](const kafka::DeliveryReport& r) {
                          std::lock_guard lock(d->mu);
                          if (r.ok) {
                            d->confirmed.emplace_back(id, v);
                          } else {
                            spdlog::error("assignment v{} of customer {} not published: {}", v, id, r.error);
                            d->failed = true;
                          }
                        });
    }
  } catch (const kafka::KafkaError& e) {
    // Committed but not queued: the outbox publishes it again.
    spdlog::error("assignments not queued for Kafka, will retry: {}", e.what());
    republish_ = true;
  }
}

void Engine::publish(const std::vector<const v1::TierAssignment*>& changed) {
  if (changed.empty()) return;
  produce(changed);
  if (!redis_stale_) {
    try {
      redis_->write(changed);
    } catch (const redis::RedisError& e) {
      spdlog::error("assignments not written to redis, will refill: {}", e.what());
      redis_stale_ = true;
    }
  }
  {
    std::lock_guard lock(watchers_mu_);
    std::erase_if(watchers_, [&](const std::shared_ptr<Watcher>& w) {
      for (const auto* a : changed) {
        if (!w->offer(*a)) {
          metrics_->watchers_dropped.Increment();
          spdlog::warn("a watcher fell {} changes behind and was dropped", cfg_.watch_queue_size);
          return true;
        }
      }
      return false;
    });
  }
  metrics_->changes.Increment(static_cast<double>(changed.size()));
  spdlog::info("{} assignments changed", changed.size());
}

void Engine::republish_unconfirmed() {
  // Confirmations received since the last commit are recorded first, so only what the
  // broker never confirmed goes out again.
  Store::Batch marks;
  {
    std::lock_guard lock(deliveries_->mu);
    deliveries_->failed = false;
    marks.published.swap(deliveries_->confirmed);
  }
  store_->apply(marks);
  republish_ = false;
  const auto rows = store_->unpublished();
  if (rows.empty()) return;
  std::vector<const v1::TierAssignment*> all;
  all.reserve(rows.size());
  for (const auto& a : rows) all.push_back(&a);
  produce(all);
  redis_stale_ = true;  // Redis may have missed them too: the refill writes every current assignment
  metrics_->republished.Increment(static_cast<double>(rows.size()));
  spdlog::warn("{} assignments not confirmed by the broker were published again", rows.size());
}

void Engine::refill_redis_if_lost() {
  if (!redis_stale_ && !redis_->lost()) return;
  // From the store, in bounded chunks (memory holds no assignments).
  size_t refilled = 0;
  std::vector<v1::TierAssignment> chunk;
  auto flush = [&] {
    std::vector<const v1::TierAssignment*> ptrs;
    ptrs.reserve(chunk.size());
    for (const auto& a : chunk) ptrs.push_back(&a);
    redis_->write(ptrs);
    refilled += chunk.size();
    chunk.clear();
  };
  store_->currents("", [&](v1::TierAssignment&& a) {
    chunk.push_back(std::move(a));
    if (chunk.size() == 1000) flush();
    return true;
  });
  flush();
  redis_->mark();
  redis_stale_ = false;
  if (refilled > 0) spdlog::warn("redis had lost or missed tiers: refilled {} customers", refilled);
}

void Engine::run(std::stop_token stop) {
  // Each assigned partition resumes at the offset applied to memory (which the store has
  // or the next commit will have); from the beginning when this instance never read it.
  kafka::Consumer consumer(
      config::resolve_bootstrap(cfg_.kafka), cfg_.group_id, cfg_.kafka.client_id, cfg_.kafka.session_timeout,
      {std::string(topics::kCustomers), std::string(topics::kAccounts)},
      [this](std::string_view topic, int32_t partition) -> std::optional<int64_t> {
        std::shared_lock lock(mu_);
        auto it = applied_offsets_.find({std::string(topic), partition});
        if (it == applied_offsets_.end()) return -2;  // RD_KAFKA_OFFSET_BEGINNING
        return it->second;
      },
      {}, {}, cfg_.kafka.properties);
  using Clock = std::chrono::steady_clock;
  // Evaluate soon after start: inputs stored by a commit without evaluation (an override
  // call, a shutdown) are then classified even when no new input arrives.
  bool dirty = true;
  auto first_pending = Clock::now();
  auto last_eval = Clock::now();
  auto redis_retry_at = Clock::time_point{};
  while (!stop.stop_requested()) {
    if (store_failed_) {
      std::unique_lock lock(mu_);
      std::rethrow_exception(store_failure_);
    }
    auto records = consumer.poll(5000, std::chrono::milliseconds(100));
    if (!records.empty()) {
      std::unique_lock lock(mu_);
      for (const auto& r : records) apply_record(r);
      if (!dirty) first_pending = Clock::now();
      dirty = true;
    }
    const auto now = Clock::now();
    const bool input_due = dirty && (records.empty() || now - first_pending >= cfg_.evaluate_delay);
    const bool schedule_due = now - last_eval >= cfg_.reevaluate_interval;
    bool delivery_failed = false;
    {
      std::lock_guard lock(deliveries_->mu);
      delivery_failed = deliveries_->failed;
    }
    if (!input_due && !schedule_due && !delivery_failed && !(redis_stale_ && now >= redis_retry_at)) continue;
    std::unique_lock lock(mu_);
    if (republish_ || delivery_failed) republish_unconfirmed();
    if (now >= redis_retry_at) {
      try {
        refill_redis_if_lost();
      } catch (const redis::RedisError& e) {
        spdlog::error("redis unavailable (tiers are still evaluated and published to Kafka): {}", e.what());
        redis_stale_ = true;
        redis_retry_at = now + std::chrono::seconds(1);
      }
    }
    if (input_due || schedule_due) {
      evaluate_all();
      dirty = false;
      last_eval = Clock::now();
    }
  }
  // Shutdown: evaluate what was consumed, wait for the broker's confirmations (bounded),
  // and commit them with everything still pending, so a restart republishes nothing.
  {
    std::unique_lock lock(mu_);
    if (dirty && !store_failed_) evaluate_all();
  }
  consumer.close();
  if (!producer_.flush(std::chrono::seconds(10))) spdlog::warn("some assignments were not confirmed by the broker");
  std::unique_lock lock(mu_);
  if (store_failure_) std::rethrow_exception(store_failure_);
  Store::Batch batch;
  fill_pending(batch);
  store_->apply(batch);
  clear_pending();
}

v1::TierOverride Engine::set_override(const v1::TierOverride& requested) {
  using Code = RequestError::Code;
  const std::string& id = requested.customer_id();
  if (id.empty()) throw RequestError(Code::invalid_argument, "override.customer_id is required");
  if (requested.kind() != v1::OVERRIDE_KIND_PIN && requested.kind() != v1::OVERRIDE_KIND_FLOOR) {
    throw RequestError(Code::invalid_argument, "override.kind must be OVERRIDE_KIND_PIN or OVERRIDE_KIND_FLOOR");
  }
  if (requested.tier().empty()) throw RequestError(Code::invalid_argument, "override.tier is required");
  if (requested.actor().empty()) throw RequestError(Code::invalid_argument, "override.actor is required");
  if (requested.reason_code().empty()) throw RequestError(Code::invalid_argument, "override.reason_code is required");
  if (requested.actor().size() > 200) throw RequestError(Code::invalid_argument, "override.actor is longer than 200");
  if (requested.reason_code().size() > 200) {
    throw RequestError(Code::invalid_argument, "override.reason_code is longer than 200");
  }
  if (requested.has_expire_time() &&
      (requested.expire_time().nanos() < 0 || requested.expire_time().nanos() > 999999999 ||
       requested.expire_time().seconds() < -62135596800 || requested.expire_time().seconds() > 253402300799)) {
    throw RequestError(Code::invalid_argument, "override.expire_time is not a valid timestamp");
  }

  std::unique_lock lock(mu_);
  if (standard_->tier_index(requested.tier()) < 0) {
    std::string known;
    for (const auto& t : standard_->tier_names()) known += (known.empty() ? "" : ", ") + t;
    throw RequestError(Code::invalid_argument, fmt::format("override.tier: the standard {} has no tier '{}' (tiers: {})",
                                                           standard_->version(), requested.tier(), known));
  }
  auto it = customers_.find(id);
  if (it == customers_.end()) throw RequestError(Code::not_found, "no customer " + id);
  const absl::Time t = clock_locked();
  if (requested.has_expire_time() && timeutil::from_proto(requested.expire_time()) <= t) {
    throw RequestError(Code::invalid_argument,
                       "override.expire_time " + timeutil::format(timeutil::from_proto(requested.expire_time())) +
                           " is not after the service's clock " + timeutil::format(t));
  }
  v1::TierOverride o = requested;
  timeutil::to_proto(absl::Now(), o.mutable_set_time());

  Customer& c = it->second;
  const auto current = c.has_current ? store_->current(id) : std::nullopt;
  bool changed = false;
  v1::TierAssignment next =
      decide(*standard_, evaluate_customer(id, c, compute_features(*standard_, compact_inputs(id, c), t), false),
             current ? &*current : nullptr, &o, t, &changed);

  Store::Batch batch;
  batch.overrides.push_back({id, Store::OverrideAction::set, o, o.actor(), o.reason_code(), absl::Now()});
  if (changed) batch.changes.push_back(&next);
  fill_pending(batch);
  try {
    store_->apply(batch);
  } catch (const sql::Error& e) {
    throw RequestError(Code::unavailable, std::string("override not stored: ") + e.what());
  }
  clear_pending();
  c.override = std::make_unique<v1::TierOverride>(std::move(o));
  c.last_valid = false;  // decided with the override: the next evaluation decides again
  metrics_->overrides.Increment();
  spdlog::info("override {} {} set for customer {}", v1::OverrideKind_Name(c.override->kind()), c.override->tier(), id);
  if (changed) {
    note_current(c, next);
    publish({&next});
  }
  return *c.override;
}

bool Engine::clear_override(const std::string& id, const std::string& actor, const std::string& reason_code) {
  using Code = RequestError::Code;
  if (id.empty()) throw RequestError(Code::invalid_argument, "customer_id is required");
  if (actor.empty()) throw RequestError(Code::invalid_argument, "actor is required (overrides are audited)");
  if (actor.size() > 200) throw RequestError(Code::invalid_argument, "actor is longer than 200");
  if (reason_code.size() > 200) throw RequestError(Code::invalid_argument, "reason_code is longer than 200");
  std::unique_lock lock(mu_);
  auto it = customers_.find(id);
  if (it == customers_.end()) throw RequestError(Code::not_found, "no customer " + id);
  Customer& c = it->second;
  if (!c.override) return false;
  const absl::Time t = clock_locked();
  const auto current = c.has_current ? store_->current(id) : std::nullopt;
  bool changed = false;
  v1::TierAssignment next =
      decide(*standard_, evaluate_customer(id, c, compute_features(*standard_, compact_inputs(id, c), t), false),
             current ? &*current : nullptr, nullptr, t, &changed);
  Store::Batch batch;
  batch.overrides.push_back({id, Store::OverrideAction::clear, *c.override, actor, reason_code, absl::Now()});
  if (changed) batch.changes.push_back(&next);
  fill_pending(batch);
  try {
    store_->apply(batch);
  } catch (const sql::Error& e) {
    throw RequestError(Code::unavailable, std::string("override not cleared: ") + e.what());
  }
  clear_pending();
  c.override.reset();
  c.last_valid = false;
  metrics_->overrides.Increment();
  spdlog::info("override of customer {} cleared", id);
  if (changed) {
    note_current(c, next);
    publish({&next});
  }
  return true;
}

bool Engine::known(const std::string& customer_id) const {
  std::shared_lock lock(mu_);
  return customers_.contains(customer_id);
}

std::vector<v1::TierAssignment> Engine::history(const std::string& customer_id, int64_t before_version, int limit,
                                                bool* more) const {
  Store reader(cfg_.store_path, Store::Mode::reader);
  return reader.history(customer_id, before_version, limit, more);
}

std::optional<v1::TierAssignment> Engine::as_of(const std::string& customer_id, absl::Time t) const {
  Store reader(cfg_.store_path, Store::Mode::reader);
  return reader.as_of(customer_id, t);
}

std::shared_ptr<Watcher> Engine::watch(std::vector<std::string> tiers) {
  auto w = std::make_shared<Watcher>(std::move(tiers), static_cast<size_t>(cfg_.watch_queue_size));
  std::lock_guard lock(watchers_mu_);
  if (watchers_closed_) {
    w->close();
  } else {
    watchers_.push_back(w);
  }
  return w;
}

void Engine::unwatch(const std::shared_ptr<Watcher>& w) {
  std::lock_guard lock(watchers_mu_);
  std::erase(watchers_, w);
}

void Engine::close_watchers() {
  std::lock_guard lock(watchers_mu_);
  watchers_closed_ = true;
  for (const auto& w : watchers_) w->close();
  watchers_.clear();
}

// The report paths below read the current assignments from the store through a reader
// connection of their own (under the shared lock, so no batch commits meanwhile) and
// recompute features from the compact inputs: correct first, not fast.
std::optional<Evaluation> Engine::explain(const std::string& id, v1::TierAssignment* current) const {
  std::shared_lock lock(mu_);
  auto it = customers_.find(id);
  if (it == customers_.end()) return std::nullopt;
  const Customer& c = it->second;
  if (c.has_current) {
    Store reader(cfg_.store_path, Store::Mode::reader);
    if (auto a = reader.current(id)) *current = std::move(*a);
  }
  return evaluate_customer(id, c, compute_features(*standard_, compact_inputs(id, c), clock_locked()), true);
}

v1::Distribution Engine::distribution() const {
  std::shared_lock lock(mu_);
  const absl::Time t = clock_locked();
  std::vector<v1::TierAssignment> assignments;
  std::vector<Features> features;
  Store reader(cfg_.store_path, Store::Mode::reader);
  reader.currents("", [&](v1::TierAssignment&& a) {
    auto it = customers_.find(a.customer_id());
    if (it == customers_.end()) return true;
    features.push_back(compute_features(*standard_, compact_inputs(it->first, it->second), t));
    assignments.push_back(std::move(a));
    return true;
  });
  return classification::distribution(*standard_, assignments, features);
}

std::vector<v1::TierAssignment> Engine::list(const std::string& tier, const std::string& dimension,
                                             const std::string& class_name, const std::string& after, int limit,
                                             std::string* next) const {
  std::shared_lock lock(mu_);
  std::vector<v1::TierAssignment> out;
  Store reader(cfg_.store_path, Store::Mode::reader);
  reader.currents(after, [&](v1::TierAssignment&& a) {
    if (!customers_.contains(a.customer_id())) return true;
    if (!tier.empty() && a.tier() != tier) return true;
    if (!dimension.empty()) {
      const auto& dims = a.dimensions();
      if (std::none_of(dims.begin(), dims.end(), [&](const v1::DimensionClass& d) {
            return d.dimension() == dimension && (class_name.empty() || d.class_name() == class_name);
          })) {
        return true;
      }
    }
    if (static_cast<int>(out.size()) == limit) {
      *next = out.back().customer_id();
      return false;
    }
    out.push_back(std::move(a));
    return true;
  });
  return out;
}

// classification::what_if() on the compact inputs the engine holds (the same computation:
// fresh tiers under each standard with its own population, no anti-flapping or overrides).
v1::WhatIfResponse Engine::what_if(const Standard& candidate) const {
  std::shared_lock lock(mu_);
  const absl::Time t = clock_locked();
  std::vector<const std::string*> ids;
  std::vector<const CompactProfile*> profiles;
  std::vector<Features> fa, fb;
  ids.reserve(customers_.size());
  fa.reserve(customers_.size());
  fb.reserve(customers_.size());
  for (const auto& [id, c] : customers_) {
    ids.push_back(&id);
    profiles.push_back(c.profile ? &*c.profile : nullptr);
    fa.push_back(compute_features(*standard_, compact_inputs(id, c), t));
    fb.push_back(compute_features(candidate, compact_inputs(id, c), t));
  }
  const Population pa = Population::compute(*standard_, fa);
  const Population pb = Population::compute(candidate, fb);
  const MappingTable ma(*standard_, vocabulary_), mb(candidate, vocabulary_);
  struct Cell {
    int64_t customers = 0;
    std::vector<std::string> examples;
  };
  std::map<std::pair<int, int>, Cell> cells;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int a = classify(*standard_, pa, fa[i], profiles[i], ma).tier;
    const int b = classify(candidate, pb, fb[i], profiles[i], mb).tier;
    Cell& cell = cells[{a, b}];
    ++cell.customers;
    if (cell.examples.size() < 3) cell.examples.push_back(*ids[i]);
  }
  v1::WhatIfResponse out;
  out.set_candidate_version(candidate.version());
  out.set_customers(static_cast<int64_t>(ids.size()));
  for (const auto& [key, cell] : cells) {
    auto* m = out.add_migrations();
    m->set_from_tier(standard_->tiers()[key.first].name);
    m->set_to_tier(candidate.tiers()[key.second].name);
    m->set_customers(cell.customers);
    for (const auto& id : cell.examples) m->add_example_customer_ids(id);
  }
  return out;
}

v1::ReloadStandardResponse Engine::reload() {
  auto fresh = Standard::load_file(cfg_.standard_path);  // throws on a bad file: the old one stays
  std::unique_lock lock(mu_);
  standard_ = std::move(fresh);
  for (auto& [id, c] : customers_) c.last_valid = false;  // classifications of the old standard
  v1::ReloadStandardResponse resp;
  resp.set_standard_version(standard_->version());
  evaluate_all();
  resp.set_customers_reevaluated(static_cast<int64_t>(customers_.size()));
  spdlog::info("standard {} reloaded; {} customers re-evaluated", standard_->version(), customers_.size());
  return resp;
}

namespace {
grpc::Status unavailable(const std::exception& e) { return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.what()); }
grpc::Status invalid(const std::string& m) { return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, m); }
grpc::Status not_found(const std::string& m) { return grpc::Status(grpc::StatusCode::NOT_FOUND, m); }

grpc::Status to_status(const RequestError& e) {
  switch (e.code()) {
    case RequestError::Code::invalid_argument:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
    case RequestError::Code::not_found:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, e.what());
    case RequestError::Code::failed_precondition:
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, e.what());
    case RequestError::Code::unavailable:
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.what());
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
}

// A Timestamp that absl and RFC 3339 can represent (years 1..9999).
bool valid_timestamp(const google::protobuf::Timestamp& ts) {
  return ts.nanos() >= 0 && ts.nanos() <= 999999999 && ts.seconds() >= -62135596800 && ts.seconds() <= 253402300799;
}

constexpr int kMaxBatch = 1000;
constexpr int kDefaultHistoryPage = 50;
constexpr int kMaxHistoryPage = 1000;
}  // namespace

BlockingWorker::BlockingWorker() : thread_([this] {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_ and nothing left
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}) {}

BlockingWorker::~BlockingWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void BlockingWorker::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

TierService::TierService(const Config& cfg, Engine& engine)
    : cfg_(cfg), engine_(engine), mux_(std::make_unique<redis::Mux>(cfg.redis)) {}

TierService::~TierService() = default;

grpc::ServerUnaryReactor* TierService::GetTier(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                               grpc::ByteBuffer* response) {
  auto* reactor = ctx->DefaultReactor();
  auto req = std::make_shared<v1::GetTierRequest>();
  grpc::ByteBuffer copy(*request);  // shares the slices; Deserialize consumes its argument
  if (!grpc::SerializationTraits<v1::GetTierRequest>::Deserialize(&copy, req.get()).ok()) {
    reactor->Finish(invalid("the request is not a tierflow.v1.GetTierRequest"));
    return reactor;
  }
  if (req->customer_id().empty()) {
    reactor->Finish(invalid("customer_id is required"));
    return reactor;
  }
  if (req->has_as_of()) {
    // The tier in force at as_of: the newest stored version evaluated at or before it
    // (evaluated_time is on the service's clock: wall, or the event-time watermark).
    if (!valid_timestamp(req->as_of())) {
      reactor->Finish(invalid("as_of is not a valid timestamp (years 1-9999)"));
      return reactor;
    }
    // SQLite and the engine's lock block: not on gRPC's thread.
    worker_.post([this, reactor, req, response] {
      const std::string& id = req->customer_id();
      try {
        if (!engine_.known(id)) return reactor->Finish(not_found("no customer " + id));
        const absl::Time t = timeutil::from_proto(req->as_of());
        auto a = engine_.as_of(id, t);
        if (!a) return reactor->Finish(not_found("customer " + id + " had no tier on " + timeutil::format(t)));
        bool own = false;
        reactor->Finish(grpc::SerializationTraits<v1::TierAssignment>::Serialize(*a, response, &own));
      } catch (const sql::Error& e) {
        reactor->Finish(unavailable(e));
      }
    });
    return reactor;
  }
  std::string key = redis_key(req->customer_id());
  mux_->submit({{"HGET", std::move(key), "proto"}},
               [reactor, response, req](std::span<const redis::Mux::Reply> replies, std::string_view error) {
                 using Kind = redis::Mux::Reply::Kind;
                 if (!error.empty()) {
                   return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(error)));
                 }
                 const auto& r = replies[0];
                 if (r.kind == Kind::nil) return reactor->Finish(not_found("no tier for customer " + req->customer_id()));
                 if (r.kind != Kind::string) {
                   return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                       "redis answered HGET with an error: " + std::string(r.str)));
                 }
                 grpc::Slice slice(r.str.data(), r.str.size());
                 *response = grpc::ByteBuffer(&slice, 1);
                 reactor->Finish(grpc::Status::OK);
               });
  return reactor;
}

grpc::ServerUnaryReactor* TierService::BatchGetTiers(grpc::CallbackServerContext* ctx,
                                                     const v1::BatchGetTiersRequest* req,
                                                     v1::BatchGetTiersResponse* out) {
  auto* reactor = ctx->DefaultReactor();
  if (req->customer_ids_size() > kMaxBatch) {
    reactor->Finish(
        invalid(fmt::format("customer_ids: {} ids, at most {} per call", req->customer_ids_size(), kMaxBatch)));
    return reactor;
  }
  if (req->customer_ids_size() == 0) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  std::vector<redis::Mux::Command> cmds;
  cmds.reserve(req->customer_ids_size());
  for (const auto& id : req->customer_ids()) cmds.push_back({"HGET", redis_key(id), "proto"});
  // `req` and `out` live until Finish.
  mux_->submit(std::move(cmds), [reactor, req, out](std::span<const redis::Mux::Reply> replies,
                                                    std::string_view error) {
    using Kind = redis::Mux::Reply::Kind;
    if (!error.empty()) return reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(error)));
    for (int i = 0; i < req->customer_ids_size(); ++i) {
      const auto& r = replies[i];
      if (r.kind == Kind::string) {
        if (out->add_assignments()->ParseFromArray(r.str.data(), static_cast<int>(r.str.size()))) continue;
        out->mutable_assignments()->RemoveLast();
      }
      out->add_not_found(req->customer_ids(i));
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::Status TierService::GetTierHistory(grpc::ServerContext*, const v1::GetTierHistoryRequest* req,
                                         v1::GetTierHistoryResponse* out) {
  const std::string& id = req->customer_id();
  if (id.empty()) return invalid("customer_id is required");
  const int requested = req->page().page_size();
  if (requested < 0) return invalid("page.page_size must not be negative");
  const int limit = requested == 0 ? kDefaultHistoryPage : std::min(requested, kMaxHistoryPage);
  int64_t before = 0;
  if (const std::string& token = req->page().page_token(); !token.empty()) {
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), before);
    if (ec != std::errc() || end != token.data() + token.size() || before <= 0) {
      return invalid("page.page_token '" + token + "' is not a token from a previous page");
    }
  }
  if (!engine_.known(id)) return not_found("no customer " + id);
  try {
    bool more = false;
    for (auto& a : engine_.history(id, before, limit, &more)) *out->add_changes() = std::move(a);
    if (more && out->changes_size() > 0) {
      out->set_next_page_token(std::to_string(out->changes(out->changes_size() - 1).version()));
    }
    return grpc::Status::OK;
  } catch (const sql::Error& e) {
    return unavailable(e);
  }
}

grpc::Status TierService::ExplainTier(grpc::ServerContext*, const v1::ExplainTierRequest* req, v1::Explanation* out) {
  if (req->customer_id().empty()) return invalid("customer_id is required");
  v1::TierAssignment current;
  auto eval = engine_.explain(req->customer_id(), &current);
  if (!eval) return not_found("no customer " + req->customer_id());
  *out->mutable_assignment() = current.customer_id().empty() ? eval->assignment : current;
  for (auto& f : eval->features) *out->add_features() = f;
  for (auto& line : eval->explanation) out->add_lines(line);
  return grpc::Status::OK;
}

grpc::Status TierService::ListCustomers(grpc::ServerContext*, const v1::ListCustomersRequest* req,
                                        v1::ListCustomersResponse* out) {
  if (req->page().page_size() < 0) return invalid("page.page_size must not be negative");
  const int limit = req->page().page_size() > 0 ? std::min(req->page().page_size(), 1000) : 100;
  std::string next;
  for (auto& a : engine_.list(req->tier(), req->dimension(), req->class_name(), req->page().page_token(), limit, &next)) {
    *out->add_assignments() = std::move(a);
  }
  out->set_next_page_token(next);
  return grpc::Status::OK;
}

grpc::Status TierService::WatchTierChanges(grpc::ServerContext* ctx, const v1::WatchTierChangesRequest* req,
                                           grpc::ServerWriter<v1::TierAssignment>* writer) {
  const auto known = engine_.tier_names();
  for (int i = 0; i < req->tiers_size(); ++i) {
    if (std::find(known.begin(), known.end(), req->tiers(i)) == known.end()) {
      return invalid(fmt::format("tiers[{}]: the standard has no tier '{}'", i, req->tiers(i)));
    }
  }
  auto watcher = engine_.watch({req->tiers().begin(), req->tiers().end()});
  grpc::Status status = grpc::Status::OK;
  v1::TierAssignment a;
  for (bool done = false; !done;) {
    if (ctx->IsCancelled()) {
      status = grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled by the client");
      break;
    }
    switch (watcher->next(&a, std::chrono::milliseconds(200))) {
      case Watcher::Next::item:
        if (!writer->Write(a)) {
          status = grpc::Status(grpc::StatusCode::CANCELLED, "the watching client went away");
          done = true;
        }
        break;
      case Watcher::Next::timeout:
        break;
      case Watcher::Next::overflowed:
        status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              fmt::format("this watch fell more than {} changes behind and was dropped; watch again "
                                          "and read current tiers with GetTier",
                                          cfg_.watch_queue_size));
        done = true;
        break;
      case Watcher::Next::closed:
        status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the classification service is shutting down");
        done = true;
        break;
    }
  }
  engine_.unwatch(watcher);
  return status;
}

grpc::Status TierService::SetOverride(grpc::ServerContext*, const v1::SetOverrideRequest* req, v1::TierOverride* out) {
  if (!req->has_override()) return invalid("override is required");
  try {
    *out = engine_.set_override(req->override());
    return grpc::Status::OK;
  } catch (const RequestError& e) {
    return to_status(e);
  }
}

grpc::Status TierService::ClearOverride(grpc::ServerContext*, const v1::ClearOverrideRequest* req,
                                        v1::ClearOverrideResponse* out) {
  try {
    out->set_cleared(engine_.clear_override(req->customer_id(), req->actor(), req->reason_code()));
    return grpc::Status::OK;
  } catch (const RequestError& e) {
    return to_status(e);
  }
}

grpc::Status TierService::GetDistribution(grpc::ServerContext*, const v1::GetDistributionRequest*, v1::Distribution* out) {
  *out = engine_.distribution();
  return grpc::Status::OK;
}

grpc::Status TierService::ReloadStandard(grpc::ServerContext*, const v1::ReloadStandardRequest*,
                                         v1::ReloadStandardResponse* out) {
  try {
    *out = engine_.reload();
    return grpc::Status::OK;
  } catch (const StandardError& e) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, std::string("standard not reloaded: ") + e.what());
  } catch (const sql::Error& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, std::string("re-evaluation not stored: ") + e.what());
  }
}

grpc::Status TierService::WhatIf(grpc::ServerContext*, const v1::WhatIfRequest* req, v1::WhatIfResponse* out) {
  if (req->standard_yaml().empty()) return invalid("standard_yaml is required");
  try {
    auto candidate = Standard::parse(req->standard_yaml(), "candidate standard");
    *out = engine_.what_if(*candidate);
    return grpc::Status::OK;
  } catch (const StandardError& e) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  }
}

}  // namespace tierflow::classification
