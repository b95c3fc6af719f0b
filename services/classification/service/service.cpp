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
    c.account = std::move(row.account);
    c.profile = std::move(row.profile);
    c.current = std::move(row.current);
    c.override = std::move(row.override);
    assigned += c.current ? 1 : 0;
    overrides += c.override ? 1 : 0;
  });
  applied_offsets_ = store_->offsets();
  if (auto w = store_->watermark()) watermark_ = stored_watermark_ = *w;
  // Features and population as of the restored clock, so explain, distribution and
  // overrides answer before the first evaluation.
  const absl::Time t = clock_locked();
  std::vector<Features> all;
  all.reserve(customers_.size());
  for (auto& [id, c] : customers_) {
    c.features = compute_features(*standard_, inputs(id, c), t);
    all.push_back(c.features);
  }
  population_ = Population::compute(*standard_, all);
  metrics_->customers.Set(static_cast<double>(customers_.size()));
  spdlog::info("store {}: {} customers ({} assigned, {} overrides), {} partitions with offsets{}", cfg.store_path,
               customers_.size(), assigned, overrides, applied_offsets_.size(),
               watermark_ == absl::InfinitePast() ? std::string() : ", watermark " + timeutil::format(watermark_));
}

Engine::~Engine() { close_watchers(); }

CustomerInputs Engine::inputs(const std::string& id, const Customer& c) const {
  return CustomerInputs{id, c.account ? &*c.account : nullptr, c.profile ? &*c.profile : nullptr};
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
    if (c.account && c.account->version() >= s.version()) {
      metrics_->stale.Increment();
      return;
    }
    if (s.has_as_of()) watermark_ = std::max(watermark_, timeutil::from_proto(s.as_of()));
    pending_accounts_.insert(s.customer_id());
    c.account = std::move(s);
  } else if (r.topic() == topics::kCustomers) {
    v1::CustomerProfile p;
    if (!p.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) || p.customer_id().empty()) {
      dead_letter("not a tierflow.v1.CustomerProfile with a customer_id");
      return;
    }
    pending_profiles_.insert(p.customer_id());
    customers_[p.customer_id()].profile = std::move(p);
  }
}

void Engine::fill_pending(Store::Batch& batch) {
  for (const auto& id : pending_accounts_) batch.accounts.push_back(&*customers_.at(id).account);
  for (const auto& id : pending_profiles_) batch.profiles.push_back(&*customers_.at(id).profile);
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

std::optional<v1::TierAssignment> Engine::evaluate_one(const std::string& id, const Customer& c, absl::Time t,
                                                       bool* expired) const {
  const v1::TierOverride* ovr = nullptr;
  *expired = false;
  if (c.override) {
    if (c.override->has_expire_time() && timeutil::from_proto(c.override->expire_time()) <= t) {
      *expired = true;
    } else {
      ovr = &*c.override;
    }
  }
  const Evaluation fresh = evaluate(*standard_, population_, c.features, inputs(id, c));
  bool changed = false;
  v1::TierAssignment next = decide(*standard_, fresh, c.current ? &*c.current : nullptr, ovr, t, &changed);
  if (!changed) return std::nullopt;
  return next;
}

size_t Engine::evaluate_all() {
  const auto started = std::chrono::steady_clock::now();
  const absl::Time t = clock_locked();
  std::vector<Features> all;
  all.reserve(customers_.size());
  for (auto& [id, c] : customers_) {
    c.features = compute_features(*standard_, inputs(id, c), t);
    all.push_back(c.features);
  }
  population_ = Population::compute(*standard_, all);

  std::vector<std::pair<Customer*, v1::TierAssignment>> next;
  std::vector<Customer*> expired;
  Store::Batch batch;
  for (auto& [id, c] : customers_) {
    bool override_expired = false;
    auto a = evaluate_one(id, c, t, &override_expired);
    if (override_expired) {
      batch.overrides.push_back({id, Store::OverrideAction::expire, *c.override, "system", "expired", absl::Now()});
      expired.push_back(&c);
    }
    if (a) next.emplace_back(&c, std::move(*a));
  }
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
  for (Customer* c : expired) {
    spdlog::info("override of customer {} expired", c->current ? c->current->customer_id() : std::string());
    c->override.reset();
  }
  metrics_->overrides.Increment(static_cast<double>(expired.size()));
  std::vector<const v1::TierAssignment*> changed;
  changed.reserve(next.size());
  for (auto& [c, a] : next) {
    c->current = std::move(a);
    changed.push_back(&*c->current);
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
  std::vector<const v1::TierAssignment*> all;
  for (const auto& [id, c] : customers_) {
    if (c.current) all.push_back(&*c.current);
  }
  redis_->write(all);
  redis_->mark();
  redis_stale_ = false;
  if (!all.empty()) spdlog::warn("redis had lost or missed tiers: refilled {} customers", all.size());
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
  c.features = compute_features(*standard_, inputs(id, c), t);
  const Evaluation fresh = evaluate(*standard_, population_, c.features, inputs(id, c));
  bool changed = false;
  v1::TierAssignment next = decide(*standard_, fresh, c.current ? &*c.current : nullptr, &o, t, &changed);

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
  c.override = std::move(o);
  metrics_->overrides.Increment();
  spdlog::info("override {} {} set for customer {}", v1::OverrideKind_Name(c.override->kind()), c.override->tier(), id);
  if (changed) {
    c.current = std::move(next);
    publish({&*c.current});
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
  c.features = compute_features(*standard_, inputs(id, c), t);
  const Evaluation fresh = evaluate(*standard_, population_, c.features, inputs(id, c));
  bool changed = false;
  v1::TierAssignment next = decide(*standard_, fresh, c.current ? &*c.current : nullptr, nullptr, t, &changed);
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
  metrics_->overrides.Increment();
  spdlog::info("override of customer {} cleared", id);
  if (changed) {
    c.current = std::move(next);
    publish({&*c.current});
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

std::optional<Evaluation> Engine::explain(const std::string& id, v1::TierAssignment* current) const {
  std::shared_lock lock(mu_);
  auto it = customers_.find(id);
  if (it == customers_.end()) return std::nullopt;
  if (it->second.current) *current = *it->second.current;
  return evaluate(*standard_, population_, it->second.features, inputs(id, it->second));
}

v1::Distribution Engine::distribution() const {
  std::shared_lock lock(mu_);
  std::vector<v1::TierAssignment> assignments;
  std::vector<Features> features;
  for (const auto& [id, c] : customers_) {
    if (!c.current) continue;
    assignments.push_back(*c.current);
    features.push_back(c.features);
  }
  return classification::distribution(*standard_, assignments, features);
}

std::vector<v1::TierAssignment> Engine::list(const std::string& tier, const std::string& dimension,
                                             const std::string& class_name, const std::string& after, int limit,
                                             std::string* next) const {
  std::shared_lock lock(mu_);
  std::map<std::string, const v1::TierAssignment*> sorted;
  for (const auto& [id, c] : customers_) {
    if (!c.current || id <= after) continue;
    if (!tier.empty() && c.current->tier() != tier) continue;
    if (!dimension.empty()) {
      const auto& dims = c.current->dimensions();
      if (std::none_of(dims.begin(), dims.end(), [&](const v1::DimensionClass& d) {
            return d.dimension() == dimension && (class_name.empty() || d.class_name() == class_name);
          })) {
        continue;
      }
    }
    sorted.emplace(id, &*c.current);
  }
  std::vector<v1::TierAssignment> out;
  for (const auto& [id, a] : sorted) {
    if (static_cast<int>(out.size()) == limit) {
      *next = out.back().customer_id();
      break;
    }
    out.push_back(*a);
  }
  return out;
}

v1::WhatIfResponse Engine::what_if(const Standard& candidate) const {
  std::shared_lock lock(mu_);
  std::vector<CustomerInputs> all;
  all.reserve(customers_.size());
  for (const auto& [id, c] : customers_) all.push_back(inputs(id, c));
  return classification::what_if(*standard_, candidate, all, clock_locked());
}

v1::ReloadStandardResponse Engine::reload() {
  auto fresh = Standard::load_file(cfg_.standard_path);  // throws on a bad file: the old one stays
  std::unique_lock lock(mu_);
  standard_ = std::move(fresh);
  v1::ReloadStandardResponse resp;
  resp.set_standard_version(standard_->version());
  evaluate_all();
  resp.set_customers_reevaluated(static_cast<int64_t>(customers_.size()));
  spdlog::info("standard {} reloaded; {} customers re-evaluated", standard_->version(), customers_.size());
  return resp;
}

namespace {
// One Redis connection per gRPC thread: hiredis contexts are not thread-safe.
redis::Client& thread_redis(const config::RedisConfig& cfg) {
  thread_local std::unique_ptr<redis::Client> client;
  if (!client) client = std::make_unique<redis::Client>(cfg);
  return *client;
}

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

grpc::Status TierService::GetTier(grpc::ServerContext*, const v1::GetTierRequest* req, v1::TierAssignment* out) {
  const std::string& id = req->customer_id();
  if (id.empty()) return invalid("customer_id is required");
  try {
    if (req->has_as_of()) {
      // The tier in force at as_of: the newest stored version evaluated at or before it
      // (evaluated_time is on the service's clock: wall, or the event-time watermark).
      if (!valid_timestamp(req->as_of())) return invalid("as_of is not a valid timestamp (years 1-9999)");
      if (!engine_.known(id)) return not_found("no customer " + id);
      const absl::Time t = timeutil::from_proto(req->as_of());
      auto a = engine_.as_of(id, t);
      if (!a) return not_found("customer " + id + " had no tier on " + timeutil::format(t));
      *out = std::move(*a);
      return grpc::Status::OK;
    }
    auto reply = thread_redis(cfg_.redis).command({"HGET", redis_key(id), "proto"});
    if (reply.is_nil()) return not_found("no tier for customer " + id);
    if (!out->ParseFromArray(reply.str().data(), static_cast<int>(reply.str().size()))) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "unreadable tier for customer " + id);
    }
    return grpc::Status::OK;
  } catch (const redis::RedisError& e) {
    return unavailable(e);
  } catch (const sql::Error& e) {
    return unavailable(e);
  }
}

grpc::Status TierService::BatchGetTiers(grpc::ServerContext*, const v1::BatchGetTiersRequest* req,
                                        v1::BatchGetTiersResponse* out) {
  if (req->customer_ids_size() > kMaxBatch) {
    return invalid(fmt::format("customer_ids: {} ids, at most {} per call", req->customer_ids_size(), kMaxBatch));
  }
  try {
    std::vector<std::string> keys;
    for (const auto& id : req->customer_ids()) keys.push_back(redis_key(id));
    std::vector<std::vector<std::string_view>> cmds;
    for (const auto& k : keys) cmds.push_back({"HGET", k, "proto"});
    auto replies = thread_redis(cfg_.redis).pipeline(cmds);
    for (int i = 0; i < req->customer_ids_size(); ++i) {
      if (replies[i].is_nil() || replies[i].is_error()) {
        out->add_not_found(req->customer_ids(i));
      } else {
        out->add_assignments()->ParseFromArray(replies[i].str().data(), static_cast<int>(replies[i].str().size()));
      }
    }
    return grpc::Status::OK;
  } catch (const redis::RedisError& e) {
    return unavailable(e);
  }
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
