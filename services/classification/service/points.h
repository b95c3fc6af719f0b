// Evaluation points on the ledger's watermarks (config evaluation_points: watermarks):
// what instances tell each other on `classification.points.v1`, and how it is merged.
//
// Points are the day ends of the standard's evaluation.time_zone: each midnight, which
// ends the day (previous midnight, this midnight] (the ledger's split of snapshots). Two kinds of record, both on the
// compacted topic:
//   "~progress/<p>"           an owned accounts partition's newest watermark and the
//                             earliest as_of read from it, so every instance finds the
//                             same first point (the day end of the earliest as_of of all
//                             partitions, once every partition's watermark has passed it);
//   "<day>/<p>/<k>"           chunk k of partition p's PopulationSummary at the point that
//                             ends <day>, published by the partition's owner once its
//                             watermark passed the point (so the summary is final). Records
//                             stay under 1 MB: a summary is cut into chunks.
//   "<day>/<p>/d<k>"          chunk k of partition p's overview rows at that point.
// Retention: after evaluating a point, the owner of partition p writes tombstones for the
// summary and rows keys of p at points more than points_keep_days before it.
// A point is evaluated by each instance when summaries of every partition of
// ledger.accounts.v1 are in; the merged summary gives exactly the cut points one process
// holding every customer would compute (population.h).
//
// Threading: Board is thread-compatible (the keeper uses it under its unique lock).
#pragma once

#include <absl/time/time.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/config.h"
#include "tierflow/classification/population.h"

namespace tierflow::classification::points {

// The point that ends the day t belongs to: the first midnight at or after t.
absl::Time point_of(absl::Time t, const absl::TimeZone& zone);
// The point after point `t`.
absl::Time next_point(absl::Time t, const absl::TimeZone& zone);

struct Progress {
  int32_t partition = 0;
  absl::Time watermark = absl::InfinitePast();
  absl::Time first_as_of = absl::InfiniteFuture();
  bool operator==(const Progress&) const = default;
};

using KeyValue = std::pair<std::string, std::string>;
KeyValue progress_record(const Progress& p);
// The records of one partition's summary at `point`, each value at most `chunk_bytes`
// plus a small header.
std::vector<KeyValue> summary_records(absl::Time point, int32_t partition, const PopulationSummary& s,
                                      const absl::TimeZone& zone, size_t chunk_bytes);

// "<day>/<p>/d<k>": chunk k of partition p's overview rows at the point that ends <day>
// (OverviewBook::export_rows: each customer's tier, classes and tracked features as the
// point decided them), published by the partition's owner once it evaluated the point.
// Every instance joins the rows of every partition: GetDistribution over all of them.
std::vector<KeyValue> rows_records(absl::Time point, int32_t partition, const std::string& rows,
                                   const absl::TimeZone& zone, size_t chunk_bytes);

class Board {
 public:
  // One record of the topic. False (nothing kept) when it is not one of ours.
  bool add(std::string_view key, std::string_view value);
  // This instance's own progress and summaries (the same values its records carry).
  void set_progress(const Progress& p) { progress_[p.partition] = p; }
  void set_summary(absl::Time point, int32_t partition, PopulationSummary s);
  bool has_summary(absl::Time point, int32_t partition) const;
  // The first point, once every one of `partitions` partitions reported a watermark past
  // the earliest as_of of them all; nullopt before (or when no partition has a snapshot).
  std::optional<absl::Time> first_point(int partitions, const absl::TimeZone& zone) const;
  // The merged summary at `point` once every partition's is in; nullopt before. Throws
  // std::invalid_argument when summaries of different standards meet.
  std::optional<PopulationSummary> merged(absl::Time point, int partitions) const;
  void set_rows(absl::Time point, int32_t partition, std::string rows);
  // The overview rows at `point` of every partition (in partition order) once all are in.
  std::optional<std::vector<std::string>> rows(absl::Time point, int partitions) const;
  // Drops the summaries and rows of points before `point` (kept: `point` and later).
  void forget_before(absl::Time point);
  // Retention: the keys of summary and row records of `partition` at `point` this
  // instance published or read (add() notes them; a tombstone read back forgets its key).
  void note_key(std::string key, absl::Time point, int32_t partition);
  // The noted keys of points before `before` among `partitions`, forgotten as they are
  // returned (the caller writes their tombstones).
  std::vector<std::string> take_expired(absl::Time before, const std::set<int32_t>& partitions);

 private:
  struct Chunks {
    uint32_t count = 0;
    std::map<uint32_t, std::string> parts;
  };
  std::map<int32_t, Progress> progress_;
  std::map<std::pair<int64_t, int32_t>, Chunks> chunks_;  // (point us, partition)
  std::map<std::pair<int64_t, int32_t>, PopulationSummary> summaries_;
  std::map<std::pair<int64_t, int32_t>, Chunks> row_chunks_;
  std::map<std::pair<int64_t, int32_t>, std::string> rows_;
  absl::Time floor_ = absl::InfinitePast();
  std::map<std::string, std::pair<int64_t, int32_t>> keys_;  // record key -> (point us, partition)
};

// The records of classification.points.v1 (every partition, from the beginning) that the
// keeper has not seen yet. Polled on the consumer's thread; never blocks for long.
class Feed {
 public:
  virtual ~Feed() = default;
  virtual std::vector<KeyValue> poll() = 0;
};
// Reads the topic with a consumer group of this instance's own (group_id + ".points." +
// instance id), so every instance reads every partition.
std::unique_ptr<Feed> kafka_feed(const Config& cfg);

}  // namespace tierflow::classification::points
