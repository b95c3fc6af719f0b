// TierKeeper with evaluation_points: watermarks (issue 10): marks and held snapshots, the
// points topic, and the order in which points are evaluated. See points.h and the README.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <absl/time/civil_time.h>

#include <algorithm>
#include <set>

#include "common/errors/errors.h"
#include "common/kafka/kafka.h"
#include "common/kafka/producer.h"
#include "common/kafka/topics.h"
#include "common/time/time.h"
#include "service/tier_keeper.h"

namespace tierflow::classification {

void TierKeeper::set_points_feed(std::unique_ptr<points::Feed> feed) {
  std::unique_lock lock(mu_);
  feed_ = std::move(feed);
}

absl::Time TierKeeper::last_point() const {
  std::shared_lock lock(mu_);
  return last_point_;
}

std::optional<absl::Time> TierKeeper::open_point_locked() const {
  const absl::TimeZone& zone = standard_->evaluation_zone();
  if (last_point_ != absl::InfinitePast()) return points::next_point(last_point_, zone);
  return board_.first_point(partitions_, zone);
}

void TierKeeper::apply_points_input(Input& in) {
  const int32_t p = in.tp.second;
  if (in.mark) {
    Store::Mark& m = marks_[p];
    const absl::Time w = timeutil::from_proto(in.mark->watermark());
    if (w > m.watermark) {
      m.watermark = w;
      pending_marks_.insert(p);
      board_.set_progress({p, m.watermark, m.first_as_of});
    }
    return;
  }
  v1::AccountSnapshot& s = *in.account;
  const std::string& id = s.customer_id();
  // Stale: not newer than what is applied or held.
  int64_t newest = 0;
  if (auto it = customers_.find(id); it != customers_.end() && it->second.account) newest = it->second.account_version;
  if (auto it = held_.find(id); it != held_.end() && !it->second.empty()) {
    newest = std::max(newest, it->second.back().snapshot.version());
  }
  if (newest >= s.version()) {
    probe_.stale.Increment();
    return;
  }
  const absl::Time as_of = s.has_as_of() ? timeutil::from_proto(s.as_of()) : absl::InfinitePast();
  Store::Mark& m = marks_[p];
  if (as_of < m.first_as_of) {
    m.first_as_of = as_of;
    pending_marks_.insert(p);
    board_.set_progress({p, m.watermark, m.first_as_of});
  }
  watermark_ = std::max(watermark_, as_of);
  const auto open = open_point_locked();
  if (open && as_of <= *open) {
    if (last_point_ != absl::InfinitePast() && as_of <= last_point_) {
      // The ledger's contract says this cannot happen (a snapshot after a mark is at or
      // after the mark); applied at once, decided provisionally, recorded at the next point.
      spdlog::warn("customer {}: snapshot version {} is as of {}, before the evaluated point {}", id, s.version(),
                   timeutil::format(as_of), timeutil::format(last_point_));
    }
    apply_account(std::move(s), p);
    return;
  }
  Store::Held h{p, std::move(s)};
  auto& list = held_[id];
  list.push_back(h);
  pending_hold_.insert_or_assign({id, h.snapshot.version()}, std::move(h));
}

void TierKeeper::release_held_locked(absl::Time point) {
  for (auto it = held_.begin(); it != held_.end();) {
    auto& list = it->second;
    size_t k = 0;
    for (; k < list.size(); ++k) {
      const auto& snap = list[k].snapshot;
      const absl::Time as_of = snap.has_as_of() ? timeutil::from_proto(snap.as_of()) : absl::InfinitePast();
      if (as_of > point) break;
      pending_unhold_.emplace_back(it->first, snap.version());
      pending_hold_.erase({it->first, snap.version()});
      apply_account(std::move(list[k].snapshot), list[k].partition);
    }
    list.erase(list.begin(), list.begin() + static_cast<ptrdiff_t>(k));
    it = list.empty() ? held_.erase(it) : std::next(it);
  }
}

void TierKeeper::publish_progress_locked() {
  for (const auto& [p, m] : marks_) {
    auto it = published_marks_.find(p);
    if (it != published_marks_.end() && it->second == m) continue;
    const auto [key, value] = points::progress_record({p, m.watermark, m.first_as_of});
    // A progress record lost is sent again with the next change; the partition's summaries
    // carry the completeness that matters.
    producer_.produce(topics::kPoints, key, value,
                      {{std::string(kafka::kTypeHeader), "tierflow.classification.Progress"}},
                      [](const kafka::DeliveryReport&) {});
    published_marks_[p] = m;
  }
}

void TierKeeper::publish_summaries_locked(absl::Time point) {
  const int64_t us = absl::ToUnixMicros(point);
  std::vector<int32_t> ready;
  {
    std::lock_guard g(summaries_sent_->first);
    for (const auto& [p, m] : marks_) {
      if (m.watermark > point && !summaries_sent_->second.contains({us, p})) ready.push_back(p);
    }
  }
  if (ready.empty()) return;
  // One pass over this instance's customers for every partition ready at `point`. A
  // customer takes part once a snapshot of it is applied (as_of <= point: newer ones are
  // held); profiles alone do not (they carry no event time).
  std::map<int32_t, std::vector<Features>> by_partition;
  for (int32_t p : ready) by_partition[p];
  for (const auto& [id, c] : customers_) {
    if (!c.account) continue;
    auto it = by_partition.find(c.partition);
    if (it == by_partition.end()) continue;
    it->second.push_back(compute_features(*standard_, compact_inputs(id, c), point));
  }
  const absl::TimeZone& zone = standard_->evaluation_zone();
  for (auto& [p, fs] : by_partition) {
    PopulationSummary summary = PopulationSummary::of(*standard_, fs);
    {
      std::lock_guard g(summaries_sent_->first);
      summaries_sent_->second.insert({us, p});
    }
    for (const auto& [key, value] :
         points::summary_records(point, p, summary, zone, static_cast<size_t>(cfg_.points_chunk_bytes))) {
      board_.note_key(key, point, p);
      // A record the broker did not take is sent again by the next advance.
      producer_.produce(topics::kPoints, key, value,
                        {{std::string(kafka::kTypeHeader), "tierflow.classification.PopulationSummary"}},
                        [sent = summaries_sent_, us, p](const kafka::DeliveryReport& r) {
                          if (r.ok) return;
                          std::lock_guard g(sent->first);
                          sent->second.erase({us, p});
                        });
    }
    board_.set_summary(point, p, std::move(summary));  // the single-instance shortcut: the same values
  }
}

void TierKeeper::publish_rows_locked(absl::Time point) {
  std::map<int32_t, std::vector<std::string>> ids;
  for (const auto& [p, m] : marks_) ids[p];
  for (const auto& [id, c] : customers_) {
    if (!c.account) continue;
    auto it = ids.find(c.partition);
    if (it != ids.end()) it->second.push_back(id);
  }
  const absl::TimeZone& zone = standard_->evaluation_zone();
  for (auto& [p, list] : ids) {
    std::sort(list.begin(), list.end());
    std::string rows = overview_.export_rows(*standard_, list);
    for (const auto& [key, value] :
         points::rows_records(point, p, rows, zone, static_cast<size_t>(cfg_.points_chunk_bytes))) {
      board_.note_key(key, point, p);
      // Lost, the distribution stays at an earlier point until the next point's rows.
      producer_.produce(topics::kPoints, key, value,
                        {{std::string(kafka::kTypeHeader), "tierflow.classification.OverviewRows"}},
                        [](const kafka::DeliveryReport&) {});
    }
    board_.set_rows(point, p, std::move(rows));
  }
}

void TierKeeper::expire_points_locked(absl::Time point) {
  const absl::TimeZone& zone = standard_->evaluation_zone();
  const absl::Time before = absl::FromCivil(absl::ToCivilDay(point, zone) - cfg_.points_keep_days, zone);
  std::set<int32_t> owned;
  for (const auto& [p, m] : marks_) owned.insert(p);
  // Nothing needs them: every instance has evaluated the points before `point` (a point
  // needs every partition's summary, published only by an instance that reached it), and
  // a restart restores the last point's cut points from the store (table frozen). A
  // tombstone lost is written again after the next restart (the feed reads the key again).
  for (const std::string& key : board_.take_expired(before, owned)) {
    producer_.produce(topics::kPoints, key, kafka::kTombstone, {}, [](const kafka::DeliveryReport&) {});
  }
}

void TierKeeper::join_rows_locked() {
  if (last_point_ == absl::InfinitePast() || overview_.joined_point() >= last_point_) return;
  const auto rows = board_.rows(last_point_, partitions_);
  if (!rows) return;
  auto book = std::make_unique<OverviewBook>();
  try {
    for (size_t p = 0; p < rows->size(); ++p) book->import_rows(*standard_, (*rows)[p], std::to_string(p) + "/");
  } catch (const std::invalid_argument& e) {
    spdlog::warn("overview rows of point {} not used: {}", timeutil::format(last_point_), e.what());
    return;
  }
  overview_.set_joined(last_point_, std::move(book));
}

void TierKeeper::release_partitions(const std::vector<kafka::TopicPartition>& partitions) {
  if (!watermark_points_) return;
  std::unique_lock lock(mu_);
  for (const auto& tp : partitions) {
    if (tp.topic != topics::kAccounts) continue;
    if (pending_marks_.contains(tp.partition)) continue;  // not committed: keep it for the next commit
    marks_.erase(tp.partition);
    published_marks_.erase(tp.partition);
  }
}

bool TierKeeper::poll_points() {
  if (!watermark_points_) return false;
  std::unique_lock lock(mu_);
  const bool any = read_feed_locked();
  if (any) join_rows_locked();
  return any;
}

bool TierKeeper::read_feed_locked() {
  if (!feed_) return false;
  bool any = false;
  for (const auto& [key, value] : feed_->poll()) {
    any = true;
    try {
      board_.add(key, value);
    } catch (const std::exception& e) {
      spdlog::warn("classification.points.v1 record {} not used: {}", key, e.what());
    }
  }
  return any;
}

size_t TierKeeper::advance_points_locked() {
  if (partitions_ <= 0) throw errors::Unavailable("evaluation_points: watermarks needs the accounts partition count");
  read_feed_locked();
  publish_progress_locked();
  size_t changed = 0;
  for (;;) {
    const auto point = open_point_locked();
    if (!point) break;
    if (last_point_ == absl::InfinitePast() || frozen_known_) release_held_locked(*point);
    if (last_point_ != absl::InfinitePast() && !frozen_known_) {
      // After a restart: the cut points of the last point come back from the topic first
      // (this instance's own summaries of it too: its customers have moved on since).
      const auto frozen = board_.merged(last_point_, partitions_);
      if (!frozen) break;
      population_ = Population::from_summary(*standard_, *frozen);
      frozen_known_ = true;
      continue;
    }
    publish_summaries_locked(*point);
    const auto merged = board_.merged(*point, partitions_);
    if (!merged) break;
    changed += run_evaluation(true, *point, &*merged);
    publish_rows_locked(*point);
    board_.forget_before(*point);
    expire_points_locked(*point);
  }
  join_rows_locked();
  if (frozen_known_ && !changed_.empty()) {
    changed += run_evaluation(false);  // provisional, against the frozen cut points
  } else {
    Store::Batch batch;
    commit_pending(batch);  // inputs, marks, held snapshots and offsets
  }
  return changed;
}

}  // namespace tierflow::classification
