// decide(): the anti-flapping rules between a fresh evaluation and the current assignment
// (grace periods and announced downgrades, overrides, versions). Pure: no I/O.
#include <string>

#include "common/time/time.h"
#include "fmt/format.h"
#include "tierflow/classification/engine.h"

namespace tierflow::classification {

namespace {
bool same_pending(const v1::TierAssignment& a, const v1::TierAssignment& b) {
  if (a.has_pending_downgrade() != b.has_pending_downgrade()) return false;
  if (!a.has_pending_downgrade()) return true;
  const auto &x = a.pending_downgrade(), &y = b.pending_downgrade();
  return x.to_tier() == y.to_tier() && x.effective_time().seconds() == y.effective_time().seconds() &&
         x.effective_time().nanos() == y.effective_time().nanos();
}
bool same_override(const v1::TierAssignment& a, const v1::TierAssignment& b) {
  if (a.has_override() != b.has_override()) return false;
  if (!a.has_override()) return true;
  const auto &x = a.override(), &y = b.override();
  return x.kind() == y.kind() && x.tier() == y.tier() && x.expire_time().seconds() == y.expire_time().seconds() &&
         x.actor() == y.actor() && x.reason_code() == y.reason_code();
}
bool same_dimensions(const v1::TierAssignment& a, const v1::TierAssignment& b) {
  if (a.dimensions_size() != b.dimensions_size()) return false;
  for (int i = 0; i < a.dimensions_size(); ++i)
    if (a.dimensions(i).dimension() != b.dimensions(i).dimension() ||
        a.dimensions(i).class_name() != b.dimensions(i).class_name())
      return false;
  return true;
}
}  // namespace

namespace {
// `out` starts as fresh.assignment (copied or moved by the caller); fresh.assignment itself
// is not read here.
v1::TierAssignment decide_into(v1::TierAssignment out, const Standard& s, const Evaluation& fresh,
                               const v1::TierAssignment* current, const v1::TierOverride* ovr, absl::Time now,
                               bool* changed) {
  const int fresh_t = fresh.classification.tier;
  const int cur_t = current != nullptr ? s.tier_index(current->tier()) : -1;
  int held = fresh_t;
  std::string note;

  if (cur_t >= 0 && fresh_t > cur_t) {  // the standard says lower than held now
    const Tier& ct = s.tiers()[cur_t];
    if (ct.downgrade == DowngradePolicy::never) {
      held = cur_t;
      note = fmt::format("kept at {}: {} is never downgraded automatically (the standard says {})", ct.name, ct.name,
                         s.tiers()[fresh_t].name);
    } else {
      const int target = ct.downgrade == DowngradePolicy::drop_one ? cur_t + 1 : fresh_t;
      const bool had = current->has_pending_downgrade();
      const absl::Time eff = had ? timeutil::from_proto(current->pending_downgrade().effective_time())
                                 : now + absl::Hours(24 * ct.grace_days);
      if (eff <= now) {
        held = target;
      } else {
        held = cur_t;
        auto* p = out.mutable_pending_downgrade();
        p->set_to_tier(s.tiers()[target].name);
        timeutil::to_proto(eff, p->mutable_effective_time());
        p->set_reason(fmt::format(
            "the standard says {}; {} is kept for a grace period of {} days, then {}", s.tiers()[fresh_t].name, ct.name,
            ct.grace_days, ct.downgrade == DowngradePolicy::drop_one ? "drops one tier" : "takes the evaluated tier"));
        note = fmt::format("kept at {} until {} (grace period): {}", ct.name,
                           absl::FormatTime("%Y-%m-%d", eff, absl::UTCTimeZone()), p->reason());
      }
    }
  }

  if (ovr != nullptr && ovr->kind() != v1::OVERRIDE_KIND_UNSPECIFIED &&
      (!ovr->has_expire_time() || timeutil::from_proto(ovr->expire_time()) > now)) {
    const int ot = s.tier_index(ovr->tier());
    if (ot >= 0) {
      if (ovr->kind() == v1::OVERRIDE_KIND_PIN) {
        held = ot;
        out.clear_pending_downgrade();
        *out.mutable_override() = *ovr;
        note = fmt::format("pinned to {} by {} ({})", ovr->tier(), ovr->actor(), ovr->reason_code());
      } else if (ovr->kind() == v1::OVERRIDE_KIND_FLOOR) {
        if (held > ot) {
          held = ot;
          *out.mutable_override() = *ovr;
          note = fmt::format("raised to the floor {} set by {} ({})", ovr->tier(), ovr->actor(), ovr->reason_code());
        }
        if (out.has_pending_downgrade() && s.tier_index(out.pending_downgrade().to_tier()) > ot) {
          if (ot >= held)
            out.clear_pending_downgrade();
          else
            out.mutable_pending_downgrade()->set_to_tier(ovr->tier());
        }
      }
    }
  }

  const Tier& ht = s.tiers()[held];
  out.set_tier(ht.name);
  out.set_price_level(ht.price_level);
  out.set_service_level(ht.service_level);
  out.set_account_manager(ht.account_manager);
  if (!note.empty()) out.add_reasons(note);
  // Distances relative to the held tier (the fresh evaluation only knows tiers above it).
  if (held < fresh_t && static_cast<size_t>(held) < fresh.distance_to_tier.size())
    *out.mutable_to_keep() = fresh.distance_to_tier[held];
  out.clear_to_next();
  if (held > 0 && held - 1 < fresh_t) *out.mutable_to_next() = fresh.distance_to_tier[held - 1];

  timeutil::to_proto(now, out.mutable_evaluated_time());
  if (current == nullptr) {
    out.clear_previous_tier();
    timeutil::to_proto(now, out.mutable_assigned_time());
    out.set_version(1);
    if (changed) *changed = true;
    return out;
  }
  if (current->tier() != out.tier()) {
    out.set_previous_tier(current->tier());
    timeutil::to_proto(now, out.mutable_assigned_time());
  } else {
    out.set_previous_tier(current->previous_tier());
    *out.mutable_assigned_time() = current->assigned_time();
  }
  const bool same = current->tier() == out.tier() && current->credit_hold() == out.credit_hold() &&
                    current->price_level() == out.price_level() && current->service_level() == out.service_level() &&
                    current->account_manager() == out.account_manager() &&
                    current->matched_rule() == out.matched_rule() &&
                    current->standard_version() == out.standard_version() && same_pending(*current, out) &&
                    same_override(*current, out) && same_dimensions(*current, out);
  out.set_version(same ? current->version() : current->version() + 1);
  if (changed) *changed = !same;
  return out;
}

}  // namespace

v1::TierAssignment decide(const Standard& s, const Evaluation& fresh, const v1::TierAssignment* current,
                          const v1::TierOverride* ovr, absl::Time now, bool* changed) {
  return decide_into(fresh.assignment, s, fresh, current, ovr, now, changed);
}

v1::TierAssignment decide(const Standard& s, Evaluation&& fresh, const v1::TierAssignment* current,
                          const v1::TierOverride* ovr, absl::Time now, bool* changed) {
  v1::TierAssignment out = std::move(fresh.assignment);
  return decide_into(std::move(out), s, fresh, current, ovr, now, changed);
}

}  // namespace tierflow::classification
