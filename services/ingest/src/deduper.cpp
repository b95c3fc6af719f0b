#include "src/deduper.h"

#include <absl/base/thread_annotations.h>
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
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
  size_t marks ABSL_GUARDED_BY(mu) = 0;  // SETs submitted and not answered
  // Until then, begin() does not ask Redis (it failed or was slow).
  std::chrono::steady_clock::time_point skip_redis_until ABSL_GUARDED_BY(mu);
  // The Deduper is gone: late mark callbacks touch nothing but this State.
  bool detached ABSL_GUARDED_BY(mu) = false;
  Counters counters;  // valid while !detached
  const std::chrono::milliseconds backoff;

  // Removes `id` and returns its waiters (to be run without the lock).
  std::vector<Waiter> resolve(const std::string& id, bool stored) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<Waiter> out;
    auto it = in_flight.find(id);
    if (it == in_flight.end()) return out;
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
    : options_(options), mux_(mux), state_(std::make_shared<State>(counters, options.backoff)) {}

Deduper::~Deduper() {
  std::unique_lock lock(state_->mu);
  if (!state_->cv.wait_for(lock, options_.drain_timeout, [&] { return state_->marks == 0; })) {
    spdlog::warn("dedupe: {} marks still unanswered by redis at shutdown", state_->marks);
  }
  state_->detached = true;
}

std::vector<Deduper::Seen> Deduper::begin(const std::vector<std::string>& ids, std::vector<Waiter>& waiters) {
  std::vector<Seen> out(ids.size(), Seen::kNew);
  if (!options_.enabled) return out;
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
  if (fresh.empty()) return out;
  if (!ask_redis) {
    state_->counters.degraded.Increment(static_cast<double>(fresh.size()));
    return out;
  }

  std::vector<redis::Mux::Command> exists;
  exists.reserve(fresh.size());
  for (size_t i : fresh) exists.push_back({"EXISTS", key(ids[i])});
  std::vector<redis::OwnedReply> replies;
  try {
    replies = mux_.call_all(std::move(exists), options_.check_timeout);
  } catch (const std::exception& e) {
    // RedisError (down, slow), or anything else the check threw (out of memory): the ids
    // stay this caller's (kNew), checked in flight only. Never thrown on: the caller has
    // already counted on an answer for every id.
    state_->counters.errors.Increment();
    state_->counters.degraded.Increment(static_cast<double>(fresh.size()));
    bool log = false;
    {
      std::lock_guard lock(state_->mu);
      log = state_->back_off();
    }
    if (log) {
      spdlog::warn("duplicate check in redis skipped for {} ms (from event {}; the ledger still dedupes): {}",
                   options_.backoff.count(), ids[fresh.front()], e.what());
    }
    return out;
  }

  // Ids Redis already has are duplicates: resolve them now, so copies that queued behind
  // them in the meantime hear "stored" too.
  std::vector<Waiter> run;
  {
    std::lock_guard lock(state_->mu);
    for (size_t j = 0; j < fresh.size(); ++j) {
      const redis::OwnedReply& r = replies[j];
      if (r.kind != redis::OwnedReply::Kind::integer || r.integer <= 0) continue;  // new (or an error reply)
      const size_t i = fresh[j];
      out[i] = Seen::kStored;
      for (auto& w : state_->resolve(ids[i], true)) run.push_back(std::move(w));
      state_->in_flight.erase(ids[i]);
    }
  }
  for (auto& w : run) w(true);
  return out;
}

Deduper::Seen Deduper::begin(const std::string& id, Waiter waiter) {
  std::vector<Waiter> waiters;
  waiters.push_back(std::move(waiter));
  return begin(std::vector<std::string>{id}, waiters).front();
}

void Deduper::finish(const std::string& id, bool stored) {
  if (!options_.enabled) return;
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(state_->mu);
    if (!state_->in_flight.contains(id)) return;
    waiters = state_->resolve(id, stored);
    if (stored) ++state_->marks;
  }
  for (auto& w : waiters) w(stored);
  if (!stored) return;
  const std::string ttl = std::to_string(absl::ToInt64Seconds(options_.window));
  mux_.submit({{"SET", key(id), "1", "EX", ttl}}, [state = state_, id](std::span<const redis::Mux::Reply> replies,
                                                                       std::string_view error) {
    std::lock_guard lock(state->mu);
    const bool failed = !error.empty() || replies.empty() || replies.front().kind == redis::Mux::Reply::Kind::error;
    if (failed && !state->detached) {
      state->counters.errors.Increment();
      if (state->back_off()) {
        spdlog::warn("could not mark event {} as seen in redis (later copies rely on the ledger): {}", id,
                     !error.empty()    ? error
                     : replies.empty() ? "no reply"
                                       : replies.front().str);
      }
    }
    state->in_flight.erase(id);
    if (--state->marks == 0) state->cv.notify_all();
  });
}

size_t Deduper::waiting() const {
  std::lock_guard lock(state_->mu);
  return state_->waiting;
}

size_t Deduper::in_flight() const {
  std::lock_guard lock(state_->mu);
  return state_->in_flight.size();
}

}  // namespace tierflow::ingest
