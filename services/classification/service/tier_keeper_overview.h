// OverviewKeeper: TierKeeper's kept overview (GetOverview, GetDistribution). The keeper
// notes every customer's features as it evaluates them and every assignment as it becomes
// current (load, evaluation, override); the sums are updated per note, and a report is
// built at most once per batch of changes (cached until the next note). Overviews of a
// past instant come from the store's history and are cached per (instant, standard).
//
// Threading: every method may be called from any thread; a mutex of its own guards the
// book, so gRPC readers never wait for the keeper's unique lock, and the keeper's writer
// (which holds that lock while noting) only waits for the short merge of a report.
#pragma once

#include <absl/base/thread_annotations.h>
#include <absl/time/time.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>

#include "tierflow/classification/overview.h"
#include "tierflow/classification/standard.h"
#include "tierflow/v1/tier.pb.h"

namespace tierflow::classification {

class OverviewKeeper {
 public:
  void note_features(const Standard& standard, const std::string& customer_id, const Features& f);
  void note_assignment(const v1::TierAssignment& a);
  // The clock of an evaluation that noted features (Overview.evaluated_time).
  void note_evaluation(absl::Time t);

  // The kept overview under `standard`, as of `now`, built when something was noted since
  // the last one.
  std::shared_ptr<const v1::Overview> current(const std::shared_ptr<const Standard>& standard, absl::Time now,
                                              const std::string& clock);
  // The joined book's distribution when there is one (watermark points), else the kept one.
  v1::Distribution distribution(const Standard& standard, const v1::GetDistributionRequest& request);
  // The kept book's rows of `ids` (OverviewBook::export_rows).
  std::string export_rows(const Standard& standard, std::span<const std::string> ids);
  // Evaluation points on watermarks: the book joined from every partition's rows at
  // `point`, which distribution() answers from from now on.
  void set_joined(absl::Time point, std::unique_ptr<OverviewBook> book);
  // The point of the joined book (InfinitePast: none).
  absl::Time joined_point();

  // The cache of past overviews (bounded: the oldest entry goes first).
  std::shared_ptr<const v1::Overview> past(absl::Time as_of, const std::string& standard_version);
  void remember(absl::Time as_of, const std::string& standard_version, std::shared_ptr<const v1::Overview> o);

 private:
  static constexpr size_t kPastEntries = 32;
  std::mutex mu_;
  OverviewBook book_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<OverviewBook> joined_ ABSL_GUARDED_BY(mu_);
  absl::Time joined_point_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time evaluated_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::shared_ptr<const v1::Overview> cached_ ABSL_GUARDED_BY(mu_);
  uint64_t cached_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const Standard> cached_standard_ ABSL_GUARDED_BY(mu_);
  const OverviewBook* cached_book_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<std::pair<int64_t, std::string>, std::shared_ptr<const v1::Overview>> past_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::pair<int64_t, std::string>> past_order_ ABSL_GUARDED_BY(mu_);
  uint64_t past_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tierflow::classification
