// OverviewKeeper, and TierKeeper::overview (GetOverview): the kept aggregates for now, the
// history for a past instant.
#include "service/tier_keeper_overview.h"

#include <spdlog/spdlog.h>

#include "common/errors/errors.h"
#include "common/time/time.h"
#include "service/tier_keeper.h"

namespace tierflow::classification {

void OverviewKeeper::note_features(const Standard& standard, const std::string& customer_id, const Features& f) {
  std::lock_guard lock(mu_);
  book_.note_features(standard, customer_id, f);
}

void OverviewKeeper::note_assignment(const v1::TierAssignment& a) {
  std::lock_guard lock(mu_);
  book_.note_assignment(a);
}

void OverviewKeeper::note_evaluation(absl::Time t) {
  std::lock_guard lock(mu_);
  evaluated_ = t;
}

std::shared_ptr<const v1::Overview> OverviewKeeper::current(const std::shared_ptr<const Standard>& standard,
                                                            absl::Time now, const std::string& clock) {
  std::lock_guard lock(mu_);
  // With a joined book (watermark points) the overview is that of every partition at its
  // point, the same on every instance, like the distribution.
  OverviewBook& book = joined_ ? *joined_ : book_;
  const absl::Time evaluated = joined_ ? joined_point_ : evaluated_;
  if (!cached_ || cached_generation_ != book.generation() || cached_standard_ != standard || cached_book_ != &book) {
    auto o = std::make_shared<v1::Overview>(book.overview(*standard));
    o->set_clock(clock);
    if (evaluated != absl::InfinitePast()) timeutil::to_proto(evaluated, o->mutable_evaluated_time());
    cached_ = std::move(o);
    cached_generation_ = book.generation();
    cached_standard_ = standard;
    cached_book_ = &book;
  }
  // as_of is the instant asked about (now), not part of the kept figures; with a joined
  // book, its point (the figures are those of every partition then).
  auto out = std::make_shared<v1::Overview>(*cached_);
  if (joined_) now = joined_point_;
  if (now != absl::InfinitePast()) timeutil::to_proto(now, out->mutable_as_of());
  return out;
}

v1::Distribution OverviewKeeper::distribution(const Standard& standard, const v1::GetDistributionRequest& request) {
  std::lock_guard lock(mu_);
  if (joined_) return joined_->distribution(standard, request);
  return book_.distribution(standard, request);
}

std::string OverviewKeeper::export_rows(const Standard& standard, std::span<const std::string> ids) {
  std::lock_guard lock(mu_);
  return book_.export_rows(standard, ids);
}

void OverviewKeeper::set_joined(absl::Time point, std::unique_ptr<OverviewBook> book) {
  std::lock_guard lock(mu_);
  joined_ = std::move(book);
  joined_point_ = point;
  cached_.reset();
}

absl::Time OverviewKeeper::joined_point() {
  std::lock_guard lock(mu_);
  return joined_point_;
}

std::shared_ptr<const v1::Overview> OverviewKeeper::past(absl::Time as_of, const std::string& standard_version) {
  std::lock_guard lock(mu_);
  auto it = past_.find({absl::ToUnixMicros(as_of), standard_version});
  return it == past_.end() ? nullptr : it->second;
}

void OverviewKeeper::remember(absl::Time as_of, const std::string& standard_version,
                              std::shared_ptr<const v1::Overview> o) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(absl::ToUnixMicros(as_of), standard_version);
  if (!past_.insert_or_assign(key, std::move(o)).second) return;
  past_order_.emplace(++past_seq_, key);
  while (past_.size() > kPastEntries) {
    past_.erase(past_order_.begin()->second);
    past_order_.erase(past_order_.begin());
  }
}

std::shared_ptr<const v1::Overview> TierKeeper::overview(const v1::GetOverviewRequest& request) const {
  if (request.has_as_of() && !timeutil::valid(request.as_of())) {
    throw errors::InvalidArgument("as_of is not a valid timestamp");
  }
  std::shared_ptr<const Standard> standard;
  absl::Time now;
  {
    std::shared_lock lock(mu_);
    standard = standard_;
    now = clock_locked();
  }
  const std::string clock = events_clock_ ? "events" : "wall";
  const absl::Time as_of = request.has_as_of() ? timeutil::from_proto(request.as_of()) : absl::InfiniteFuture();
  // Now, or later than the clock (nothing happened after it yet): the kept aggregates.
  if (as_of >= now) return overview_.current(standard, now, clock);
  if (auto hit = overview_.past(as_of, standard->version())) return hit;

  // The assignment each customer held at as_of (history), its value windowed at as_of
  // from the inputs held now. Under the shared lock, so no batch commits meanwhile.
  OverviewBook book;
  {
    std::shared_lock lock(mu_);
    Store reader(cfg_.store_path, Store::Mode::reader);
    reader.as_of_all(as_of, [&](v1::TierAssignment&& a) {
      auto it = customers_.find(a.customer_id());
      if (it == customers_.end()) return;
      book.note_features(*standard, a.customer_id(),
                         compute_features(*standard, compact_inputs(it->first, it->second), as_of));
      book.note_assignment(a);
    });
  }
  auto o = std::make_shared<v1::Overview>(book.overview(*standard));
  o->set_clock(clock);
  o->set_from_history(true);
  timeutil::to_proto(as_of, o->mutable_as_of());
  overview_.remember(as_of, standard->version(), o);
  return o;
}

}  // namespace tierflow::classification
