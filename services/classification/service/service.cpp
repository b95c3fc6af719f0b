#include "service/service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
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
  c.clock = root.get_enum("clock", c.clock, {"wall", "watermark"});
  c.reevaluate_interval = root.get_millis("reevaluate_interval_ms", c.reevaluate_interval);
  c.group_id = root.get_string("group_id", c.group_id);
  c.ready_file = root.get_string("ready_file", "");
  loader.finish();
  return c;
}

struct Engine::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : records(metrics::counter(r, "tierflow_classification_records_total", "Kafka records consumed")),
        stale(metrics::counter(r, "tierflow_classification_stale_snapshots_total",
                               "Account snapshots dropped because a newer version was held")),
        poison(metrics::counter(r, "tierflow_classification_poison_total", "Records that could not be parsed")),
        changes(metrics::counter(r, "tierflow_classification_assignment_changes_total", "Assignments published")),
        customers(metrics::gauge(r, "tierflow_classification_customers", "Customers held by this instance")),
        evaluation_seconds(metrics::histogram(r, "tierflow_classification_evaluation_seconds",
                                              "One full re-evaluation of the population",
                                              {0.001, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10})) {}
  prometheus::Counter& records;
  prometheus::Counter& stale;
  prometheus::Counter& poison;
  prometheus::Counter& changes;
  prometheus::Gauge& customers;
  prometheus::Histogram& evaluation_seconds;
};

// Writes assignments to Redis; remembers nothing it cannot rebuild. Engine thread only.
class RedisWriter {
 public:
  explicit RedisWriter(const config::RedisConfig& cfg) : cfg_(cfg) {}

  void write(const std::vector<const v1::TierAssignment*>& assignments) {
    if (assignments.empty()) return;
    std::vector<std::vector<std::string>> owned;
    owned.reserve(assignments.size());
    for (const auto* a : assignments) {
      owned.push_back({"HSET", redis_key(a->customer_id()), "tier", a->tier(), "previous_tier", a->previous_tier(),
                       "reason", a->reasons_size() > 0 ? a->reasons(0) : "", "version", std::to_string(a->version()),
                       "standard", a->standard_version(), "credit_hold", a->credit_hold() ? "1" : "0", "proto",
                       a->SerializeAsString()});
    }
    std::vector<std::vector<std::string_view>> cmds;
    for (const auto& c : owned) cmds.emplace_back(c.begin(), c.end());
    client().pipeline(cmds);
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

Engine::Engine(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry)
    : cfg_(cfg), producer_(producer), metrics_(std::make_unique<Metrics>(registry)),
      standard_(Standard::load_file(cfg.standard_path)), redis_(std::make_unique<RedisWriter>(cfg.redis)) {
  spdlog::info("standard {} loaded from {}", standard_->version(), cfg.standard_path);
}

Engine::~Engine() = default;

CustomerInputs Engine::inputs(const std::string& id, const Customer& c) const {
  return CustomerInputs{id, c.account ? &*c.account : nullptr, c.profile ? &*c.profile : nullptr};
}

absl::Time Engine::now() const {
  if (cfg_.clock == "watermark" && watermark_ != absl::InfinitePast()) return watermark_;
  return absl::Now();
}

size_t Engine::evaluate_all() {
  const auto started = std::chrono::steady_clock::now();
  const absl::Time t = now();
  std::vector<Features> all;
  all.reserve(customers_.size());
  for (auto& [id, c] : customers_) {
    c.features = compute_features(*standard_, inputs(id, c), t);
    all.push_back(c.features);
  }
  population_ = Population::compute(*standard_, all);
  std::vector<const v1::TierAssignment*> changed;
  for (auto& [id, c] : customers_) {
    const CustomerInputs in = inputs(id, c);
    const Evaluation fresh = evaluate(*standard_, population_, c.features, in);
    bool did_change = false;
    v1::TierAssignment next = decide(*standard_, fresh, c.current ? &*c.current : nullptr,
                                     c.current && c.current->has_override() ? &c.current->override() : nullptr, t,
                                     &did_change);
    if (!did_change) continue;
    c.current = std::move(next);
    changed.push_back(&*c.current);
  }
  publish(changed);
  metrics_->customers.Set(static_cast<double>(customers_.size()));
  metrics_->evaluation_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return changed.size();
}

void Engine::publish(const std::vector<const v1::TierAssignment*>& changed) {
  if (changed.empty()) return;
  redis_->write(changed);
  for (const auto* a : changed) {
    producer_.produce(topics::kAssignments, a->customer_id(), a->SerializeAsString(),
                      {{std::string(kafka::kTypeHeader), "tierflow.v1.TierAssignment"}},
                      [id = a->customer_id()](const kafka::DeliveryReport& r) {
                        if (!r.ok) spdlog::error("assignment of customer {} not published: {}", id, r.error);
                      });
  }
  metrics_->changes.Increment(static_cast<double>(changed.size()));
  spdlog::info("{} assignments changed", changed.size());
}

void Engine::refill_redis_if_lost() {
  if (!redis_->lost()) return;
  std::vector<const v1::TierAssignment*> all;
  for (const auto& [id, c] : customers_) {
    if (c.current) all.push_back(&*c.current);
  }
  redis_->write(all);
  redis_->mark();
  if (!all.empty()) spdlog::warn("redis had lost the tiers: refilled {} customers", all.size());
}

void Engine::run(std::stop_token stop) {
  // State lives in memory and is rebuilt from the topics at every start: each assigned
  // partition is read from the beginning. (A store of its own comes with the
  // classification issue; the mock broker keeps the topics while it runs.)
  kafka::Consumer consumer(
      config::resolve_bootstrap(cfg_.kafka), cfg_.group_id, cfg_.kafka.client_id, cfg_.kafka.session_timeout,
      {std::string(topics::kCustomers), std::string(topics::kAccounts)},
      [](std::string_view, int32_t) -> std::optional<int64_t> { return -2; /* RD_KAFKA_OFFSET_BEGINNING */ }, {},
      {}, cfg_.kafka.properties);
  bool dirty = false;
  auto last_eval = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    auto records = consumer.poll(5000, std::chrono::milliseconds(100));
    if (!records.empty()) {
      std::unique_lock lock(mu_);
      for (const auto& r : records) {
        metrics_->records.Increment();
        if (r.topic() == topics::kAccounts) {
          v1::AccountSnapshot s;
          if (!s.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) || s.customer_id().empty()) {
            metrics_->poison.Increment();
            continue;
          }
          Customer& c = customers_[s.customer_id()];
          if (c.account && c.account->version() >= s.version()) {
            metrics_->stale.Increment();
            continue;
          }
          if (s.has_as_of()) watermark_ = std::max(watermark_, timeutil::from_proto(s.as_of()));
          c.account = std::move(s);
        } else {
          v1::CustomerProfile p;
          if (!p.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) || p.customer_id().empty()) {
            metrics_->poison.Increment();
            continue;
          }
          customers_[p.customer_id()].profile = std::move(p);
        }
        dirty = true;
      }
    }
    const auto since = std::chrono::steady_clock::now() - last_eval;
    // Evaluate when input has settled (an empty poll) or at least every interval, so a
    // long catch-up still shows progress without re-ranking the population per record.
    if ((dirty && (records.empty() || since >= cfg_.reevaluate_interval)) || since >= cfg_.reevaluate_interval * 10) {
      std::unique_lock lock(mu_);
      try {
        refill_redis_if_lost();
        evaluate_all();
        dirty = false;
      } catch (const redis::RedisError& e) {
        spdlog::error("evaluation postponed, redis unavailable: {}", e.what());
      }
      last_eval = std::chrono::steady_clock::now();
    }
  }
  consumer.close();
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
  return classification::what_if(*standard_, candidate, all, now());
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

grpc::Status internal(const std::exception& e) { return grpc::Status(grpc::StatusCode::UNAVAILABLE, e.what()); }
}  // namespace

grpc::Status TierService::GetTier(grpc::ServerContext*, const v1::GetTierRequest* req, v1::TierAssignment* out) {
  if (req->customer_id().empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "customer_id is missing");
  if (req->has_as_of()) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "tier as of a past date: not yet");
  try {
    auto reply = thread_redis(cfg_.redis).command({"HGET", redis_key(req->customer_id()), "proto"});
    if (reply.is_nil()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no tier for customer " + req->customer_id());
    if (!out->ParseFromArray(reply.str().data(), static_cast<int>(reply.str().size()))) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "unreadable tier for customer " + req->customer_id());
    }
    return grpc::Status::OK;
  } catch (const redis::RedisError& e) {
    return internal(e);
  }
}

grpc::Status TierService::BatchGetTiers(grpc::ServerContext*, const v1::BatchGetTiersRequest* req,
                                        v1::BatchGetTiersResponse* out) {
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
    return internal(e);
  }
}

grpc::Status TierService::ExplainTier(grpc::ServerContext*, const v1::ExplainTierRequest* req, v1::Explanation* out) {
  v1::TierAssignment current;
  auto eval = engine_.explain(req->customer_id(), &current);
  if (!eval) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no customer " + req->customer_id());
  *out->mutable_assignment() = current.customer_id().empty() ? eval->assignment : current;
  for (auto& f : eval->features) *out->add_features() = f;
  for (auto& line : eval->explanation) out->add_lines(line);
  return grpc::Status::OK;
}

grpc::Status TierService::ListCustomers(grpc::ServerContext*, const v1::ListCustomersRequest* req,
                                        v1::ListCustomersResponse* out) {
  const int limit = req->page().page_size() > 0 ? std::min(req->page().page_size(), 1000) : 100;
  std::string next;
  for (auto& a : engine_.list(req->tier(), req->dimension(), req->class_name(), req->page().page_token(), limit, &next)) {
    *out->add_assignments() = std::move(a);
  }
  out->set_next_page_token(next);
  return grpc::Status::OK;
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
  }
}

grpc::Status TierService::WhatIf(grpc::ServerContext*, const v1::WhatIfRequest* req, v1::WhatIfResponse* out) {
  try {
    auto candidate = Standard::parse(req->standard_yaml(), "candidate standard");
    *out = engine_.what_if(*candidate);
    return grpc::Status::OK;
  } catch (const StandardError& e) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, e.what());
  }
}

}  // namespace tierflow::classification
