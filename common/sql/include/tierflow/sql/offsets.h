// tierflow::sql::sqlite offsets: the table of applied Kafka offsets a store keeps beside
// its data, so a batch's effects and the offsets that caused them commit together (the
// exactly-once effect of DESIGN.md). One row per (topic, partition): the next offset to
// consume. Same threading and error rules as sqlite.h (sql::Error on any failure).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "tierflow/sql/sqlite.h"

namespace tierflow::sql::sqlite {

// Creates `offsets(topic, part, next_offset)` if missing; a table made by an earlier
// version of a store with the same columns is kept as it is.
void create_offsets_table(Db& db);

// Upserts rows in the caller's transaction (open a Transaction first: the point is that
// the offsets commit or roll back with the batch). Prepares once, for many rows.
// Must not outlive its Db.
class OffsetWriter {
 public:
  explicit OffsetWriter(Db& db);
  // The next offset to consume of topic/partition becomes `next` (replacing, not max: a
  // store that rewinds on purpose may store a lower one).
  void put(std::string_view topic, int32_t partition, int64_t next);

 private:
  Statement upsert_;
};

// The stored next offset of topic/partition; nullopt when none was stored.
std::optional<int64_t> read_offset(Db& db, std::string_view topic, int32_t partition);

// Every stored row, keyed by (topic, partition).
std::map<std::pair<std::string, int32_t>, int64_t> read_offsets(Db& db);

}  // namespace tierflow::sql::sqlite
