// TierKeeper's overrides: set and clear (validated, audited, applied and published
// before the call returns).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/errors/errors.h"
#include "common/time/time.h"
#include "service/tier_keeper.h"

namespace tierflow::classification {

v1::TierOverride TierKeeper::set_override(const v1::TierOverride& requested) {
  const std::string& id = requested.customer_id();
  if (id.empty()) throw errors::InvalidArgument("override.customer_id is required");
  if (requested.kind() != v1::OVERRIDE_KIND_PIN && requested.kind() != v1::OVERRIDE_KIND_FLOOR) {
    throw errors::InvalidArgument("override.kind must be OVERRIDE_KIND_PIN or OVERRIDE_KIND_FLOOR");
  }
  if (requested.tier().empty()) throw errors::InvalidArgument("override.tier is required");
  if (requested.actor().empty()) throw errors::InvalidArgument("override.actor is required");
  if (requested.reason_code().empty()) throw errors::InvalidArgument("override.reason_code is required");
  if (requested.actor().size() > 200) throw errors::InvalidArgument("override.actor is longer than 200");
  if (requested.reason_code().size() > 200) {
    throw errors::InvalidArgument("override.reason_code is longer than 200");
  }
  if (requested.has_expire_time() && !timeutil::valid(requested.expire_time())) {
    throw errors::InvalidArgument("override.expire_time is not a valid timestamp");
  }

  std::unique_lock lock(mu_);
  if (standard_->tier_index(requested.tier()) < 0) {
    std::string known;
    for (const auto& t : standard_->tier_names()) known += (known.empty() ? "" : ", ") + t;
    throw errors::InvalidArgument(fmt::format("override.tier: the standard {} has no tier '{}' (tiers: {})",
                                              standard_->version(), requested.tier(), known));
  }
  auto it = customers_.find(id);
  if (it == customers_.end()) throw errors::NotFound("no customer " + id);
  const absl::Time t = override_clock_locked(it->second);
  if (!clock_known_locked()) throw errors::Unavailable("no event time seen yet (clock: events): nothing to decide at");
  if (requested.has_expire_time() && timeutil::from_proto(requested.expire_time()) <= t) {
    throw errors::InvalidArgument("override.expire_time " +
                                  timeutil::format(timeutil::from_proto(requested.expire_time())) +
                                  " is not after the service's clock " + timeutil::format(t));
  }
  v1::TierOverride o = requested;
  timeutil::to_proto(absl::Now(), o.mutable_set_time());

  Customer& c = it->second;
  const auto next =
      commit_override(id, c, &o, {id, Store::OverrideAction::set, o, o.actor(), o.reason_code(), absl::Now()}, t,
                      "override not stored: ");
  c.override = std::make_unique<v1::TierOverride>(std::move(o));
  spdlog::info("override {} {} set for customer {}", v1::OverrideKind_Name(c.override->kind()), c.override->tier(), id);
  if (next) publisher_.publish({&*next});
  return *c.override;
}

bool TierKeeper::clear_override(const std::string& id, const std::string& actor, const std::string& reason_code) {
  if (id.empty()) throw errors::InvalidArgument("customer_id is required");
  if (actor.empty()) throw errors::InvalidArgument("actor is required (overrides are audited)");
  if (actor.size() > 200) throw errors::InvalidArgument("actor is longer than 200");
  if (reason_code.size() > 200) throw errors::InvalidArgument("reason_code is longer than 200");
  std::unique_lock lock(mu_);
  auto it = customers_.find(id);
  if (it == customers_.end()) throw errors::NotFound("no customer " + id);
  Customer& c = it->second;
  if (!c.override) return false;
  if (!clock_known_locked()) throw errors::Unavailable("no event time seen yet (clock: events): nothing to decide at");
  const auto next =
      commit_override(id, c, nullptr, {id, Store::OverrideAction::clear, *c.override, actor, reason_code, absl::Now()},
                      override_clock_locked(c), "override not cleared: ");
  c.override.reset();
  spdlog::info("override of customer {} cleared", id);
  if (next) publisher_.publish({&*next});
  return true;
}

std::optional<v1::TierAssignment> TierKeeper::commit_override(const std::string& id, Customer& c,
                                                              const v1::TierOverride* ovr, Store::OverrideChange change,
                                                              absl::Time t, const char* what) {
  // A provisional current is no base (see run_evaluation): the override decides from the record.
  const auto current = !c.has_current ? std::nullopt : c.provisional ? store_->record(id) : store_->current(id);
  bool changed = false;
  Evaluation fresh = evaluate_customer(id, c, compute_features(*standard_, compact_inputs(id, c), t), false);
  v1::TierAssignment next;
  if (ovr == nullptr && current && current->has_override()) {
    // Clearing: the grace policy applies to what the standard did, not to what a person
    // pinned. Decide from the assignment the standard gave before the override (its grace
    // period keeps running), or afresh when there was none; the result follows `current`.
    const auto before = store_->before_override(id, current->version());
    next = decide(*standard_, std::move(fresh), before ? &*before : nullptr, nullptr, t, nullptr);
    next.set_version(current->version() + 1);
    if (next.tier() != current->tier()) {
      next.set_previous_tier(current->tier());
      timeutil::to_proto(t, next.mutable_assigned_time());
    } else {
      next.set_previous_tier(current->previous_tier());
      *next.mutable_assigned_time() = current->assigned_time();
    }
    changed = true;
  } else {
    next = decide(*standard_, std::move(fresh), current ? &*current : nullptr, ovr, t, &changed);
  }
  Store::Batch batch;
  batch.overrides.push_back(std::move(change));
  if (changed) batch.changes.push_back(&next);
  fill_pending(batch);
  try {
    store_->apply(batch);
  } catch (const sql::Error& e) {
    throw errors::Unavailable(what + std::string(e.what()));
  }
  clear_pending();
  c.last_valid = false;  // decided with the override (or without it): the next evaluation decides again
  probe_.overrides.Increment();
  if (!changed) return std::nullopt;
  note_current(c, next);
  return next;
}

}  // namespace tierflow::classification
