#include "src/deduper.h"

#include <absl/base/thread_annotations.h>
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <unordered_map>

#include "common/redis/mux.h"

namespace tierflow::ingest {

struct Deduper::State {
  struct InFlight {
    bool stored = false;  // Kafka confirmed; the Redis mark is being written
    std::vector<Waiter> waiters;
  };

  State(Counters c, std::chrono::milliseconds b) : counters(c), backoff(b) {}

  // Redis failed: skip it for `backoff`. True when it was not skipped already (log then,
  // once per period, not once per event).
  bool back_off() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const auto now = std::chrono::steady_clock::now();
    const bool first = now >= skip_redis_until;
    skip_redis_until = now + backoff;
    return first;
  }

  mutable std::mutex mu;
  std::condition_variable cv;  // marks == 0
  std::unordered_map<std::string, InFlight> in_flight ABSL_GUARDED_BY(mu);
  size_t waiting ABSL_GUARDED_BY(mu) = 0;
  size_t marks ABSL_GUARDED_BY(mu) = 0;                        // marks pending or submitted, not answered
  std::vector<std::string> pending_marks ABSL_GUARDED_BY(mu);  // confirmed while a group was in flight
  bool marking ABSL_GUARDED_BY(mu) = false;                    // a group of marks is in flight
  // Until then, begin() does not ask Redis (it failed or was slow).
  std::chrono::steady_clock::time_point skip_redis_until ABSL_GUARDED_BY(mu);
  // The Deduper is gone: late mark callbacks touch nothing but this State.
  bool detached ABSL_GUARDED_BY(mu) = false;
  Counters counters;  // valid while !detached
  const std::chrono::milliseconds backoff;

  // Removes `id` and returns its waiters (to be run without the lock).
  std::vector<Waiter> resolve(const std::string& id, bool stored) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = in_flight.find(id);
    if (it == in_flight.end()) return {};
    return resolve(it, stored);
  }
  std::vector<Waiter> resolve(std::unordered_map<std::string, InFlight>::iterator it, bool stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<Waiter> out;
    out.swap(it->second.waiters);
    waiting -= out.size();
    if (stored) {
      it->second.stored = true;
    } else {
      in_flight.erase(it);
    }
    return out;
  }
};

Deduper::Deduper(Options options, redis::Mux& mux, Counters counters)
    : options_(options),
      mux_(mux),
      state_(std::make_shared<State>(counters, options.backoff)),
      timeouts_(std::make_unique<DelayQueue>(options.check_timeout)) {}

Deduper::~Deduper() {
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, options_.drain_timeout, [&] { return state_->marks == 0; })) {
    spdlog::warn("dedupe: {} marks still unanswered by redis at shutdown", state_->marks);
  }
  state_->detached = true;
}

namespace {
// One begin_async in flight: answered once, by Redis or by the timeout.
struct Check {
  std::atomic<bool> over{false};
  std::vector<std::string> ids;
  std::vector<Deduper::Seen> out;
  std::vector<size_t> fresh;  // indexes of the ids Redis is asked about
  Deduper::Done done;
};
}  // namespace

void Deduper::begin_async(std::vector<std::string> ids, std::vector<Waiter> waiters, Done done) {
  std::vector<Seen> out(ids.size(), Seen::kNew);
  if (!options_.enabled) return done(std::move(out));
  std::vector<size_t> fresh;  // indexes of kNew ids, to ask Redis about
  bool ask_redis = false;
  {
    std::lock_guard lock(state_->mu);
    for (size_t i = 0; i < ids.size(); ++i) {
      auto [it, inserted] = state_->in_flight.try_emplace(ids[i]);
      if (inserted) {
        fresh.push_back(i);
      } else if (it->second.stored) {
        out[i] = Seen::kStored;
      } else {
        it->second.waiters.push_back(std::move(waiters[i]));
        ++state_->waiting;
        out[i] = Seen::kWaiting;
      }
    }
    ask_redis = !fresh.empty() && std::chrono::steady_clock::now() >= state_->skip_redis_until;
  }
  if (fresh.empty()) return done(std::move(out));
  if (!ask_redis) {
    state_->counters.degraded.Increment(static_cast<double>(fresh.size()));
    return done(std::move(out));
  }

  auto check = std::make_shared<Check>();
  check->ids = std::move(ids);
  check->out = std::move(out);
  check->fresh = std::move(fresh);
  check->done = std::move(done);
  // One MGET for the batch (one command for Redis to parse, not one per id).
  redis::Mux::Command mget;
  mget.reserve(check->fresh.size() + 1);
  mget.emplace_back("MGET");
  for (size_t i : check->fresh) mget.push_back(key(check->ids[i]));
  std::vector<redis::Mux::Command> exists;
  exists.push_back(std::move(mget));

  // Redis slow or gone (or anything else failed): the fresh ids stay the caller's (kNew),
  // checked in flight only; the caller already counts on an answer for every id.
  auto degrade = [state = state_, backoff = options_.backoff](Check& c, std::string_view why) {
    bool log = false;
    {
      std::lock_guard lock(state->mu);
      if (!state->detached) {
        state->counters.errors.Increment();
        state->counters.degraded.Increment(static_cast<double>(c.fresh.size()));
      }
      log = state->back_off();
    }
    if (log) {
      spdlog::warn("duplicate check in redis skipped for {} ms (from event {}; the ledger still dedupes): {}",
                   backoff.count(), c.ids[c.fresh.front()], why);
    }
    c.done(std::move(c.out));
  };
  timeouts_->push([check, degrade, ms = options_.check_timeout.count()] {
    if (check->over.exchange(true)) return;
    degrade(*check, "no answer within " + std::to_string(ms) + " ms");
  });
  try {
    mux_.submit(std::move(exists),
                [check, degrade, state = state_](std::span<const redis::Mux::Reply> replies, std::string_view error) {
                  if (check->over.exchange(true)) return;  // timed out: already answered
                  if (!error.empty()) return degrade(*check, error);
                  if (replies.size() != 1 || replies[0].kind != redis::Mux::Reply::Kind::array ||
                      replies[0].elements() != check->fresh.size()) {
                    return degrade(*check, replies.size() == 1 && replies[0].kind == redis::Mux::Reply::Kind::error
                                               ? replies[0].str
                                               : std::string_view("unexpected reply to MGET"));
                  }
                  // Ids Redis already has are duplicates: resolve them now, so copies that queued
                  // behind them in the meantime hear "stored" too.
                  std::vector<Waiter> run;
                  {
                    std::lock_guard lock(state->mu);
                    for (size_t j = 0; j < check->fresh.size(); ++j) {
                      const redis::Mux::Reply r = replies[0].element(j);
                      if (r.kind != redis::Mux::Reply::Kind::string) continue;  // nil: new
                      const size_t i = check->fresh[j];
                      check->out[i] = Seen::kStored;
                      for (auto& w : state->resolve(check->ids[i], true)) run.push_back(std::move(w));
                      state->in_flight.erase(check->ids[i]);
                    }
                  }
                  for (auto& w : run) w(true);
                  check->done(std::move(check->out));
                });
  } catch (const std::exception& e) {
    if (!check->over.exchange(true)) degrade(*check, e.what());
  }
}

std::vector<Deduper::Seen> Deduper::begin(const std::vector<std::string>& ids, std::vector<Waiter>& waiters) {
  // The blocking form: begin_async, waited for (it answers within check_timeout).
  std::promise<std::vector<Seen>> answer;
  auto result = answer.get_future();
  std::vector<Waiter> moved(waiters.size());
  for (size_t i = 0; i < waiters.size(); ++i) moved[i] = std::move(waiters[i]);
  begin_async(ids, std::move(moved), [&answer](std::vector<Seen> seen) { answer.set_value(std::move(seen)); });
  return result.get();
}

Deduper::Seen Deduper::begin(const std::string& id, Waiter waiter) {
  std::vector<Waiter> waiters;
  waiters.push_back(std::move(waiter));
  return begin(std::vector<std::string>{id}, waiters).front();
}

namespace {
// Writes the marks of `ids` (one SET each, one group), then whatever was confirmed
// meanwhile, one group at a time: the delivery thread hands a mark over without waiting,
// and Redis sees a few large groups instead of a submit per event. An id leaves the
// in-flight map once its mark was answered (or failed).
void submit_marks(redis::Mux& mux, std::shared_ptr<Deduper::State> state, std::string ttl,
                  std::vector<std::string> ids);
}  // namespace

void Deduper::finish(const std::string& id, bool stored) {
  if (!options_.enabled) return;
  std::vector<Waiter> waiters;
  std::vector<std::string> group;  // marks to write now (none: a group is in flight, ours joins the next)
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->in_flight.find(id);
    if (it == state_->in_flight.end()) return;
    waiters = state_->resolve(it, stored);
    if (stored) {
      ++state_->marks;
      state_->pending_marks.push_back(id);
      if (!state_->marking) {
        state_->marking = true;
        group.swap(state_->pending_marks);
      }
    }
  }
  for (auto& w : waiters) w(stored);
  if (!group.empty()) {
    submit_marks(mux_, state_, std::to_string(absl::ToInt64Seconds(options_.window)), std::move(group));
  }
}

namespace {
void submit_marks(redis::Mux& mux, std::shared_ptr<Deduper::State> state, std::string ttl,
                  std::vector<std::string> ids) {
  std::vector<redis::Mux::Command> sets;
  sets.reserve(ids.size());
  for (const auto& id : ids) sets.push_back({"SET", Deduper::key(id), "1", "EX", ttl});
  auto done = [&mux, state, ttl, ids = std::move(ids)](std::span<const redis::Mux::Reply> replies,
                                                       std::string_view error) mutable {
    std::vector<std::string> next;
    {
      std::lock_guard lock(state->mu);
      for (size_t j = 0; j < ids.size(); ++j) {
        const bool failed = !error.empty() || j >= replies.size() || replies[j].kind == redis::Mux::Reply::Kind::error;
        if (failed && !state->detached) {
          state->counters.errors.Increment();
          if (state->back_off()) {
            spdlog::warn("could not mark event {} as seen in redis (later copies rely on the ledger): {}", ids[j],
                         !error.empty()        ? error
                         : j >= replies.size() ? std::string_view("no reply")
                                               : replies[j].str);
          }
        }
        state->in_flight.erase(ids[j]);
      }
      state->marks -= ids.size();
      if (!state->pending_marks.empty() && !state->detached) {
        next.swap(state->pending_marks);
      } else {
        state->marking = false;
      }
      if (state->marks == 0) state->cv.notify_all();
    }
    if (!next.empty()) submit_marks(mux, std::move(state), std::move(ttl), std::move(next));
  };
  try {
    mux.submit(std::move(sets), std::move(done));
  } catch (const std::exception& e) {
    // Not queued (out of memory): the ids leave the map, later copies rely on the ledger.
    std::lock_guard lock(state->mu);
    spdlog::warn("could not mark {} events as seen in redis: {}", ids.size(), e.what());
    for (const auto& id : ids) state->in_flight.erase(id);
    state->marks -= ids.size();
    state->marking = false;
    if (state->marks == 0) state->cv.notify_all();
  }
}
}  // namespace

size_t Deduper::waiting() const {
  std::lock_guard lock(state_->mu);
  return state_->waiting;
}

size_t Deduper::in_flight() const {
  std::lock_guard lock(state_->mu);
  return state_->in_flight.size();
}

}  // namespace tierflow::ingest
