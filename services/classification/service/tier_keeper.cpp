#include "service/tier_keeper.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "common/config/config.h"
#include "common/errors/errors.h"
#include "common/kafka/consumer_loop.h"
#include "common/kafka/kafka.h"
#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "service/tier_consumer.h"

namespace tierflow::classification {

namespace {
// Money in `c` counts under `s` (its own currency, or one listed with a fixed rate).
bool values_currency(const Standard& s, const CompactCurrency& c) {
  if (c.accepts(s.currency())) return true;
  return c.kind == CompactCurrency::Kind::code && s.conversion(c.text()).has_value();
}
}  // namespace

TierKeeper::TierKeeper(const Config& cfg, kafka::Producer& producer, prometheus::Registry& registry)
    : cfg_(cfg),
      producer_(producer),
      probe_(registry),
      events_clock_(cfg.clock == "events" || cfg.clock == "watermark"),
      standard_(Standard::load_file(cfg.standard_path)),
      store_(std::make_unique<Store>(cfg.store_path)),
      watermark_points_(events_clock_ && cfg.evaluation_points == "watermarks"),
      partitions_(cfg.accounts_partitions),
      summaries_sent_(std::make_shared<std::pair<std::mutex, std::set<std::pair<int64_t, int32_t>>>>()),
      publisher_(cfg, producer, *store_, probe_) {
  spdlog::info("standard {} loaded from {}", standard_->version(), cfg.standard_path);
  size_t assigned = 0, overrides = 0;
  store_->load([&](Store::CustomerRow&& row) {
    Customer& c = customers_[row.customer_id];
    if (row.account) {
      c.account = compact(*row.account);
      c.account_version = row.account->version();
      c.backfill = row.account->backfill();
      c.partition = row.account_partition;
    }
    if (row.profile) c.profile = compact(*row.profile, vocabulary_);
    if (row.current) note_current(c, *row.current);
    if (row.override) c.override = std::make_unique<v1::TierOverride>(std::move(*row.override));
    assigned += c.has_current ? 1 : 0;
    overrides += c.override ? 1 : 0;
  });
  applied_offsets_ = store_->offsets();
  if (auto w = store_->watermark()) watermark_ = stored_watermark_ = *w;
  if (watermark_points_) {
    // The last point, the owned partitions' marks and the held snapshots; the cut points of
    // the last point come back from the points topic (frozen_known_).
    if (auto p = store_->point()) {
      last_point_ = *p;
      board_.forget_before(last_point_);
    }
    marks_ = published_marks_ = store_->marks();
    for (auto& h : store_->held()) {
      std::string id = h.snapshot.customer_id();
      held_[id].push_back(std::move(h));
    }
    for (const auto& [p, m] : marks_) board_.set_progress({p, m.watermark, m.first_as_of});
    published_marks_.clear();  // publish them again: the topic may have lost nothing, but it costs little
  }
  // The population as of the restored clock, so explain, distribution and overrides answer
  // before the first evaluation (which decides everyone: no customer has `last` yet).
  const absl::Time t = clock_locked();
  std::vector<Features> all;
  all.reserve(customers_.size());
  if (clock_known_locked()) {
    for (const auto& [id, c] : customers_) {
      all.push_back(compute_features(*standard_, compact_inputs(id, c), t));
      overview_.note_features(*standard_, id, all.back());
    }
  }
  population_ = Population::compute(*standard_, all);
  if (watermark_points_ && last_point_ != absl::InfinitePast()) {
    // The frozen cut points are those of the last point, exactly: provisional decisions and
    // overrides after a restart must not depend on when the points topic is read again.
    if (auto f = store_->frozen(); f && f->first == last_point_) {
      try {
        population_ = Population::from_summary(*standard_, PopulationSummary::decode(f->second));
        frozen_known_ = true;
      } catch (const std::exception& e) {
        spdlog::warn("stored summary of point {} not used ({}): read back from the points topic",
                     timeutil::format(last_point_), e.what());
      }
    }
  }
  probe_.customers.Set(static_cast<double>(customers_.size()));
  spdlog::info("store {}: {} customers ({} assigned, {} overrides), {} partitions with offsets{}", cfg.store_path,
               customers_.size(), assigned, overrides, applied_offsets_.size(),
               watermark_ == absl::InfinitePast() ? std::string() : ", watermark " + timeutil::format(watermark_));
}

TierKeeper::~TierKeeper() = default;

void TierKeeper::note_current(Customer& c, const v1::TierAssignment& a) {
  c.has_current = true;
  c.pending_downgrade = a.has_pending_downgrade();
  overview_.note_assignment(a);
  c.provisional = a.provisional();
}

Evaluation TierKeeper::evaluate_customer(const std::string& id, const Customer& c, const Features& f, bool full) const {
  // evaluate() reads the features and, of the inputs, only the profile's industry and region.
  v1::CustomerProfile profile;
  if (c.profile) profile = expand_for_evaluation(*c.profile, vocabulary_);
  const CustomerInputs in{id, nullptr, c.profile ? &profile : nullptr};
  Evaluation e = full ? evaluate(*standard_, population_, f, in) : evaluate_assignment(*standard_, population_, f, in);
  e.assignment.set_clock(events_clock_ ? "events" : "wall");
  e.assignment.set_backfill(c.backfill);
  if (c.account && !values_currency(*standard_, c.account->currency)) {
    e.explanation.push_back(fmt::format(
        "this customer's money is in {}, which standard {} does not value: none of it is counted (sales, value "
        "and receivables read as zero)",
        c.account->currency.text(), standard_->version()));
  } else if (c.account && !c.account->currency.accepts(standard_->currency())) {
    e.explanation.push_back(fmt::format("this customer's money is in {}, converted to {} at the standard's fixed rate",
                                        c.account->currency.text(), standard_->currency()));
  }
  return e;
}

size_t TierKeeper::customers() const {
  std::shared_lock lock(mu_);
  return customers_.size();
}

double TierKeeper::bytes_per_customer() const {
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

absl::Time TierKeeper::clock_locked() const {
  // The event clock never falls back to the wall clock: one history, one clock.
  if (events_clock_) return watermark_;
  return absl::Now();
}

absl::Time TierKeeper::override_clock_locked(const Customer& c) const {
  if (!watermark_points_ || last_point_ == absl::InfinitePast()) return clock_locked();
  absl::Time t = last_point_;
  if (c.account && c.account->as_of_micros != 0) t = std::max(t, absl::FromUnixMicros(c.account->as_of_micros));
  return t;
}

bool TierKeeper::clock_known_locked() const { return clock_locked() != absl::InfinitePast(); }

absl::Time TierKeeper::now() const {
  std::shared_lock lock(mu_);
  return clock_locked();
}

std::vector<std::string> TierKeeper::tier_names() const {
  std::shared_lock lock(mu_);
  return standard_->tier_names();
}

std::optional<int64_t> TierKeeper::applied_offset(std::string_view topic, int32_t partition) const {
  std::shared_lock lock(mu_);
  auto it = applied_offsets_.find({std::string(topic), partition});
  if (it == applied_offsets_.end()) return std::nullopt;
  return it->second;
}

void TierKeeper::apply(std::span<const kafka::Record> batch, kafka::DeadLetters& dead_letters) {
  // Parsed outside the lock (gRPC readers keep going); poison is confirmed by the broker
  // before any of the batch reaches memory, so no commit can store an offset past it first.
  std::vector<Input> inputs;
  inputs.reserve(batch.size());
  size_t poison = 0;
  for (const auto& r : batch) {
    probe_.records.Increment();
    Input in{Store::TopicPartition{std::string(r.topic()), r.partition()}, r.offset(), {}, {}, {}};
    const char* why = nullptr;
    const auto type = r.header(kafka::kTypeHeader);
    if (r.topic() == topics::kAccounts &&
        ((type && *type == "tierflow.v1.LedgerWatermark") || r.key().starts_with("~watermark/"))) {
      v1::LedgerWatermark m;
      if (m.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) && m.has_watermark()) {
        in.mark = std::move(m);
      } else {
        why = "not a tierflow.v1.LedgerWatermark with a watermark";
      }
    } else if (r.topic() == topics::kAccounts) {
      v1::AccountSnapshot s;
      if (s.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) && !s.customer_id().empty()) {
        in.account = std::move(s);
      } else {
        why = "not a tierflow.v1.AccountSnapshot with a customer_id";
      }
    } else if (r.topic() == topics::kCustomers) {
      v1::CustomerProfile p;
      if (p.ParseFromArray(r.value().data(), static_cast<int>(r.value().size())) && !p.customer_id().empty()) {
        in.profile = std::move(p);
      } else {
        why = "not a tierflow.v1.CustomerProfile with a customer_id";
      }
    }
    if (why != nullptr) {
      probe_.poison.Increment();
      dead_letters.add(r, why);
      ++poison;
    }
    inputs.push_back(std::move(in));
  }
  if (poison > 0) dead_letters.confirm();  // throws when the broker will not take them: nothing applied
  std::unique_lock lock(mu_);
  for (auto& in : inputs) apply_input(in);
}

void TierKeeper::apply_input(Input& in) {
  applied_offsets_[in.tp] = in.offset + 1;
  pending_offsets_.insert(in.tp);
  if (watermark_points_ && (in.account || in.mark)) {
    apply_points_input(in);
  } else if (in.account) {
    apply_account(std::move(*in.account), in.tp.second);
  } else if (in.profile) {
    v1::CustomerProfile& p = *in.profile;
    customers_[p.customer_id()].profile = compact(p, vocabulary_);
    std::string id = p.customer_id();
    changed_.insert(id);
    pending_profiles_.insert_or_assign(std::move(id), std::move(p));
  }
}

void TierKeeper::apply_account(v1::AccountSnapshot&& s, int32_t partition) {
  {
    Customer& c = customers_[s.customer_id()];
    if (c.account && c.account_version >= s.version()) {
      probe_.stale.Increment();
      return;
    }
    if (s.has_as_of()) watermark_ = std::max(watermark_, timeutil::from_proto(s.as_of()));
    c.account = compact(s);
    c.backfill = s.backfill();
    c.partition = partition;
    if (!c.foreign_warned && !values_currency(*standard_, c.account->currency)) {
      // Once per customer and process: the money is ignored, which must not be silent.
      c.foreign_warned = true;
      probe_.foreign_currency.Add({{"currency", s.currency()}}).Increment();
      spdlog::warn("customer {}: money in {} is not counted (standard {} values {})", s.customer_id(), s.currency(),
                   standard_->version(), standard_->currency());
    }
    c.account_version = s.version();
    std::string id = s.customer_id();
    changed_.insert(id);
    pending_accounts_.insert_or_assign(std::move(id), std::make_pair(std::move(s), partition));
  }
}

void TierKeeper::check_store() const {
  if (!store_failed_) return;
  std::shared_lock lock(mu_);
  std::rethrow_exception(store_failure_);
}

bool TierKeeper::publisher_attention_due(std::chrono::steady_clock::time_point now) const {
  return publisher_.attention_due(now);
}

void TierKeeper::maintain(std::chrono::steady_clock::time_point now, bool evaluate, bool point) {
  std::unique_lock lock(mu_);
  publisher_.maintain(now);
  if (!evaluate) return;
  if (watermark_points_) {
    advance_points_locked();  // points are day ends only: the schedule just looks for them
  } else if (point || point_due_locked()) {
    evaluate_all();
  } else {
    evaluate_changed();
  }
}

bool TierKeeper::point_due_locked() const {
  // The first evaluation of a process computes the population; with the events clock,
  // so does the first evaluation of each new day of event time in the standard's
  // evaluation.time_zone.
  if (last_point_ == absl::InfinitePast()) return true;
  if (!events_clock_ || !clock_known_locked()) return false;
  const absl::TimeZone& zone = standard_->evaluation_zone();
  return absl::ToCivilDay(watermark_, zone) > absl::ToCivilDay(last_point_, zone);
}

void TierKeeper::drain(bool dirty) {
  // Evaluate what was consumed, wait for the broker's confirmations (bounded), and commit
  // them with everything still pending, so a restart republishes nothing.
  {
    std::unique_lock lock(mu_);
    if (dirty && !store_failed_) {
      if (watermark_points_) {
        advance_points_locked();
      } else if (point_due_locked()) {
        evaluate_all();
      } else {
        evaluate_changed();
      }
    }
  }
  if (!producer_.flush(std::chrono::seconds(10))) spdlog::warn("some assignments were not confirmed by the broker");
  std::unique_lock lock(mu_);
  if (store_failure_) std::rethrow_exception(store_failure_);
  Store::Batch batch;
  fill_pending(batch);
  store_->apply(batch);
  clear_pending();
}

void TierKeeper::fill_pending(Store::Batch& batch) {
  for (const auto& [id, a] : pending_accounts_) {
    batch.accounts.push_back(&a.first);
    batch.account_partitions.push_back(a.second);
  }
  for (int32_t p : pending_marks_) batch.marks[p] = marks_.at(p);
  for (const auto& [key, h] : pending_hold_) batch.hold.push_back(&h);
  batch.unhold = pending_unhold_;
  for (const auto& [id, p] : pending_profiles_) batch.profiles.push_back(&p);
  for (const auto& tp : pending_offsets_) batch.offsets[tp] = applied_offsets_.at(tp);
  if (watermark_ > stored_watermark_) batch.watermark = watermark_;
  publisher_.take_confirmed(batch.published);
}

void TierKeeper::commit_pending(Store::Batch& batch) {
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
}

void TierKeeper::clear_pending() {
  pending_accounts_.clear();
  pending_profiles_.clear();
  pending_offsets_.clear();
  pending_marks_.clear();
  pending_hold_.clear();
  pending_unhold_.clear();
  stored_watermark_ = std::max(stored_watermark_, watermark_);
}

size_t TierKeeper::reevaluate() {
  std::unique_lock lock(mu_);
  return evaluate_all();
}

size_t TierKeeper::evaluate_all() { return watermark_points_ ? advance_points_locked() : run_evaluation(true); }
size_t TierKeeper::evaluate_changed() { return run_evaluation(false); }

size_t TierKeeper::run_evaluation(bool point, std::optional<absl::Time> at_point, const PopulationSummary* summary) {
  const auto started = std::chrono::steady_clock::now();
  const absl::Time t = at_point ? *at_point : clock_locked();
  const absl::Time t_point = t;
  if (!clock_known_locked()) {
    // No event time yet (events clock, profiles only): store the inputs, decide nothing
    // (changed_ is kept: they are decided at the first point).
    Store::Batch batch;
    commit_pending(batch);
    return 0;
  }
  // Pass 1: features (held for this evaluation only) and the population.
  // A point: everyone, and the population's cut points from them. Between points: only the
  // customers whose inputs changed, against the frozen cut points (no population pass).
  std::vector<std::pair<const std::string*, Customer*>> order;
  std::vector<Features> all;
  std::vector<absl::Time> own;  // between points: each customer's evaluation time
  if (point) {
    order.reserve(customers_.size());
    all.reserve(customers_.size());
    for (auto& [id, c] : customers_) {
      order.emplace_back(&id, &c);
      all.push_back(compute_features(*standard_, compact_inputs(id, c), t));
    }
    population_ = summary != nullptr ? Population::from_summary(*standard_, *summary)
                                     : Population::compute(*standard_, all);
    last_point_ = t;
    frozen_known_ = true;
  } else {
    order.reserve(changed_.size());
    all.reserve(changed_.size());
    for (const std::string& id : changed_) {
      auto it = customers_.find(id);
      if (it == customers_.end()) continue;
      // clock: events: the customer's own newest event time (never before the last point,
      // so its history never runs backwards); clock: wall: now.
      absl::Time at = t;
      const Customer& c = it->second;
      if (events_clock_ && c.account && c.account->as_of_micros != 0) {
        at = std::min(t, std::max(absl::FromUnixMicros(c.account->as_of_micros), last_point_));
      }
      order.emplace_back(&it->first, &it->second);
      own.push_back(at);
      all.push_back(compute_features(*standard_, compact_inputs(it->first, it->second), at));
    }
  }
  changed_.clear();
  for (size_t i = 0; i < order.size(); ++i) overview_.note_features(*standard_, *order[i].first, all[i]);
  overview_.note_evaluation(t);
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
    if (!c.last_valid || cls != c.last || c.pending_downgrade || c.override || c.provisional) need.push_back(i);
    c.last = cls;
    c.last_valid = true;
  }

  std::vector<std::pair<Customer*, v1::TierAssignment>> next;
  std::vector<Customer*> expired;
  Store::Batch batch;
  if (summary != nullptr) {
    batch.point = t_point;
    batch.point_summary = summary->encode();
  }
  // With watermark points a decision is taken from the last record (the last point's
  // decision, or an override's), never from a provisional one: between points the result
  // is provisional; at a point it is the record, and a provisional assignment the record
  // does not confirm is replaced by the record again.
  std::vector<v1::TierAssignment> records;  // bases read for customers whose current is provisional
  records.reserve(watermark_points_ ? need.size() : 0);
  std::vector<std::pair<std::string, int64_t>> drops;
  auto decide_one = [&](size_t i, const v1::TierAssignment* current) {
    const std::string& id = *order[i].first;
    Customer& c = *order[i].second;
    const absl::Time t = point ? t_point : own[i];
    const v1::TierOverride* ovr = nullptr;
    if (c.override) {
      if (c.override->has_expire_time() && timeutil::from_proto(c.override->expire_time()) <= t) {
        batch.overrides.push_back({id, Store::OverrideAction::expire, *c.override, "system", "expired", absl::Now()});
        expired.push_back(&c);
      } else {
        ovr = c.override.get();
      }
    }
    if (watermark_points_ && c.provisional) {
      auto base = store_->record(id);
      if (!base) {
        current = nullptr;
      } else {
        records.push_back(std::move(*base));
        current = &records.back();
      }
    }
    bool changed = false;
    v1::TierAssignment a = decide(*standard_, evaluate_customer(id, c, all[i], false), current, ovr, t, &changed);
    if (watermark_points_ && !point) a.set_provisional(true);
    if (changed) {
      next.emplace_back(&c, std::move(a));
    } else if (watermark_points_ && c.provisional && current != nullptr) {
      // Back to the record, as it was.
      drops.emplace_back(id, current->version());
      next.emplace_back(&c, *current);
    }
  };
  // The current assignments come from the store: point reads for a few customers, one
  // ordered scan merged with the (sorted) customers for many.
  std::sort(need.begin(), need.end(), [&](size_t a, size_t b) { return *order[a].first < *order[b].first; });
  if (!point || need.size() * 16 < order.size()) {
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
  batch.drop_provisional = std::move(drops);
  commit_pending(batch);
  if (point) store_->checkpoint();  // see Store::checkpoint (cheap when the point wrote little)
  for (Customer* c : expired) c->override.reset();
  if (!expired.empty()) spdlog::info("{} overrides expired", expired.size());
  probe_.overrides.Increment(static_cast<double>(expired.size()));
  std::vector<const v1::TierAssignment*> changed;
  changed.reserve(next.size());
  for (auto& [c, a] : next) {
    note_current(*c, a);
    changed.push_back(&a);
  }
  publisher_.publish(changed);
  probe_.customers.Set(static_cast<double>(customers_.size()));
  probe_.evaluation_seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return changed.size();
}

void TierKeeper::run(std::stop_token stop) {
  if (watermark_points_) {
    std::unique_lock lock(mu_);
    if (partitions_ <= 0) {
      partitions_ = kafka::partition_count(config::resolve_bootstrap(cfg_.kafka), std::string(topics::kAccounts),
                                           cfg_.kafka.properties, std::chrono::seconds(30));
    }
    if (!feed_) feed_ = points::kafka_feed(cfg_);
    spdlog::info("evaluation points: day ends in {}, once {} partitions of {} pass them; last point {}",
                 standard_->evaluation_zone().name(), partitions_, topics::kAccounts,
                 last_point_ == absl::InfinitePast() ? std::string("none") : timeutil::format(last_point_));
  }
  TierConsumer handler(*this, cfg_);
  kafka::ConsumerLoop loop(TierConsumer::options(cfg_), handler, producer_);
  loop.run(stop);
}

}  // namespace tierflow::classification
